"""vendi, rke, rrke, intdiv: against the float64 reference, analytic cases of METRICS.md, and the
randomized methods (Nystrom, random Fourier features).

Tolerances.  Scores are compared through the spectrum: ``reference.spectrum_delta`` bounds the error
of every eigenvalue of K/trace(K) (Weyl's inequality on the element-wise Gram bound of
``reference.gram_tol`` plus a backward-stable eigensolver), and ``reference.vendi_tol`` turns that
into a bound on VS_q by interval arithmetic.  For float64 and q >= 1 this is ~1e-12 relative (with a
1e-10 floor); for q in (0, 1) the round-off eigenvalues of a rank-deficient K contribute up to
delta^q each, and for float32 delta itself is ~1e-5, so those cases get correspondingly (and
honestly) looser bounds.  q = 0 is an integer and is compared exactly wherever the gap in the
spectrum makes the rank unambiguous.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import genmetrics as gm
import reference as ref
from conftest import FLOAT_DTYPES, LAYOUTS, bandwidths, fix_small_rows, matrices, with_layout

VENDI_KERNELS = ("cosine", "linear", "rbf", "laplacian", "polynomial")
QS = (0, 0.5, 1, 1.5, 2, 3, math.inf, "inf")
NEEDS_BW = ("rbf", "gaussian", "laplacian")


def _eps(dtype):
    return float(np.finfo(dtype).eps)


def check_vendi(got, X, q, kernel, bw, dtype=None, what="vendi"):
    """Compare a computed VS_q of X with the reference, within the spectral error bound."""
    got = float(got)
    assert math.isfinite(got), f"{what}: {got}"
    want, tol = ref.vendi_bound(X, q, kernel=kernel, bandwidth=bw, dtype=dtype)
    if tol is None:  # q = 0: an integer within the interval of ranks compatible with round-off
        lo, hi = want
        assert got == round(got), f"{what}: VS_0 = {got} is not an integer"
        assert lo <= got <= hi, f"{what}: VS_0 = {got} outside [{lo}, {hi}]"
        return
    assert abs(got - want) <= tol, f"{what} q={q}: got {got!r}, want {want!r}, tol {tol:.3e}"


@st.composite
def vendi_inputs(draw, kernels=VENDI_KERNELS, max_n=60):
    kernel = draw(st.sampled_from(kernels))
    X = fix_small_rows(draw(matrices(max_n=max_n)))
    bw = draw(bandwidths) if kernel in NEEDS_BW else None
    X = with_layout(X, draw(st.sampled_from(LAYOUTS)))
    return X, kernel, bw


# --------------------------------------------------------------------------------------------
# vendi against the reference
# --------------------------------------------------------------------------------------------


@given(inp=vendi_inputs(), q=st.sampled_from(QS), method=st.sampled_from(["exact", "auto"]))
def test_vendi_matches_reference(backend, inp, q, method):
    X, kernel, bw = inp
    X0 = X.copy()
    s = gm.vendi(X, q=q, kernel=kernel, bandwidth=bw, method=method, backend=backend)
    assert isinstance(s, float)
    check_vendi(s, X, q, kernel, bw)
    # the bounds of METRICS.md: 1 <= VS <= n (up to the same tolerance)
    _, tol = ref.vendi_bound(X, q, kernel=kernel, bandwidth=bw)
    tol = 1e-12 if tol is None else tol
    assert 1 - tol <= float(s) <= X.shape[0] + tol
    assert np.array_equal(X, X0)


@given(inp=vendi_inputs(kernels=("cosine", "linear")), q=st.sampled_from(QS))
def test_vendi_dual_matches_exact_and_reference(backend, inp, q):
    X, kernel, _ = inp
    dual = gm.vendi(X, q=q, kernel=kernel, method="dual", backend=backend)
    exact = gm.vendi(X, q=q, kernel=kernel, method="exact", backend=backend)
    assert dual.method == "dual" and exact.method == "exact"
    check_vendi(dual, X, q, kernel, None, what="dual")
    check_vendi(exact, X, q, kernel, None, what="exact")
    if q != 0:
        _, tol = ref.vendi_bound(X, q, kernel=kernel)
        assert abs(float(dual) - float(exact)) <= 2 * tol


@given(inp=vendi_inputs())
def test_vendi_is_nonincreasing_in_q(backend, inp):
    X, kernel, bw = inp
    n = X.shape[0]
    qs = [0, 0.25, 0.5, 1, 1.5, 2, 4, math.inf]
    vals = [float(gm.vendi(X, q=q, kernel=kernel, bandwidth=bw, method="exact", backend=backend)) for q in qs]
    # each value may err by its own bound; monotonicity must hold up to the sum of two of them
    tols = [0.0] + [ref.vendi_bound(X, q, kernel=kernel, bandwidth=bw)[1] for q in qs[1:]]
    for (qa, a, ta), (qb, b, tb) in zip(zip(qs, vals, tols), zip(qs[1:], vals[1:], tols[1:])):
        assert a >= b - ta - tb, f"VS_{qa} = {a} < VS_{qb} = {b}"
    assert all(1 - t <= v <= n + t for v, t in zip(vals, tols)), vals


@given(X=matrices(dtype=np.float64, min_n=20), kernel=st.sampled_from(["cosine", "linear", "rbf"]))
def test_vendi_q0_counts_the_numerical_rank(backend, X, kernel):
    """Random (often rank-deficient: d < n) float64 data where the rank is unambiguous: no eigenvalue
    within a factor 10 of the threshold t = n eps lambda_max.  With n >= 20 the round-off
    eigenvalues (~ eps lambda_max) sit well below t / 10, and genuine ones above 10 t must count."""
    X = fix_small_rows(X)
    bw = 3.0 if kernel == "rbf" else None
    lam = ref.ref_spectrum(X, kernel=kernel, bandwidth=bw)
    t = X.shape[0] * _eps(np.float64) * lam.max()
    assume(not np.any((lam > t / 10) & (lam < 10 * t)))
    s = gm.vendi(X, q=0, kernel=kernel, bandwidth=bw, method="exact", backend=backend)
    assert float(s) == np.count_nonzero(lam > t)


LOW_RANK_CASES = [
    # (n, rank, d): the first is the METRICS.md case where the reference package counts 358
    (700, 7, 20),
    (50, 3, 10),
    (10, 1, 4),
    (200, 40, 60),
    (5, 5, 8),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("kernel", ["cosine", "linear"])
@pytest.mark.parametrize("n,r,d", LOW_RANK_CASES)
def test_vendi_q0_of_a_low_rank_set_is_its_rank(backend, n, r, d, kernel, dtype):
    rng = np.random.default_rng(n + r)
    X = (rng.normal(size=(n, r)) @ rng.normal(size=(r, d))).astype(dtype)
    for method in ("exact", "auto", "dual"):
        s = gm.vendi(X, q=0, kernel=kernel, method=method, backend=backend)
        assert float(s) == r, (method, float(s))


@pytest.mark.parametrize("kernel,bw", [("cosine", None), ("rbf", 2.0), ("laplacian", 2.0)])
def test_q_infinity_spellings_agree(backend, kernel, bw):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(40, 6))
    a = gm.vendi(X, q=np.inf, kernel=kernel, bandwidth=bw, backend=backend)
    b = gm.vendi(X, q="inf", kernel=kernel, bandwidth=bw, backend=backend)
    c = gm.vendi(X, q=float("inf"), kernel=kernel, bandwidth=bw, backend=backend)
    assert math.isfinite(float(a))
    assert float(a) == float(b) == float(c)
    check_vendi(a, X, math.inf, kernel, bw)


@pytest.mark.parametrize("q", [0.5, 1, 2, 3])
def test_integer_and_float_q_agree(backend, q):
    X = np.random.default_rng(4).normal(size=(30, 5))
    assert float(gm.vendi(X, q=q, backend=backend)) == pytest.approx(
        float(gm.vendi(X, q=float(q), backend=backend)), rel=1e-14
    )


# --------------------------------------------------------------------------------------------
# analytic cases (METRICS.md)
# --------------------------------------------------------------------------------------------

ANALYTIC_QS = (0, 0.5, 1, 2, 3, math.inf)


def analytic_tol(X, kernel, bw, lam_exact, q):
    """Tolerance around an analytic VS_q whose exact spectrum is ``lam_exact`` (padded with zeros).

    delta is the spectral bound of ``reference.spectrum_delta`` widened for the dual form (8 (n+4) u)
    and for the rounding of the input itself (4 u: rows meant to be orthogonal or parallel are so only
    to within u per entry); the spectrum is padded with n + d zeros (round-off eigenvalues of either
    the n x n or the d x d form).
    """
    n, d = X.shape
    u = _eps(X.dtype)
    delta = ref.spectrum_delta(X, kernel=kernel, bandwidth=bw, dtype=X.dtype) + 8 * (n + 4) * u + 4 * u
    lam = np.concatenate([np.asarray(lam_exact, dtype=np.float64), np.zeros(n + d)])
    return ref.vendi_tol(lam, q, delta)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize(
    "kernel,bw", [("cosine", None), ("linear", None), ("rbf", 1.0), ("laplacian", 1.0), ("polynomial", None)]
)
def test_identical_points_give_one(backend, kernel, bw, dtype):
    row = np.random.default_rng(0).normal(size=(1, 7))
    X = np.repeat(row, 50, axis=0).astype(dtype)
    for q in ANALYTIC_QS:
        s = gm.vendi(X, q=q, kernel=kernel, bandwidth=bw, backend=backend)
        if q == 0:
            # K is (up to round-off far below the rank threshold) a constant matrix: rank 1
            assert float(s) == 1.0, (q, float(s))
        else:
            # K is a constant matrix: spectrum (1, 0, ..., 0)
            assert float(s) == pytest.approx(1.0, abs=analytic_tol(X, kernel, bw, [1.0], q)), (q, float(s))
    # and for intdiv with cosine: 1 - mean(1) = 0, entries err by <= 8 (d + 4) u
    assert float(gm.intdiv(X, kernel="cosine", backend=backend)) == pytest.approx(0.0, abs=8 * (7 + 4) * _eps(dtype))


def _orthogonal_rows(n, d, rng, dtype, rotate):
    """n <= d mutually orthogonal rows with random positive norms."""
    if rotate:
        Q, _ = np.linalg.qr(rng.normal(size=(d, n)))
        B = Q.T
    else:
        B = np.eye(d)[rng.permutation(d)[:n]]
    return (B * rng.uniform(0.5, 3.0, size=(n, 1))).astype(dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("rotate", [False, True])
def test_identity_kernel_gives_n(backend, dtype, rotate):
    rng = np.random.default_rng(3)
    n, d = 25, 40
    X = _orthogonal_rows(n, d, rng, dtype, rotate)
    Xunit = (X / np.linalg.norm(X.astype(np.float64), axis=1, keepdims=True)).astype(dtype)
    uniform = np.full(n, 1.0 / n)
    cases = [
        ("cosine", None, X),
        ("linear", None, Xunit),
        ("rbf", 1.0, (100.0 * Xunit).astype(dtype)),
    ]  # rbf: pairwise distances 141 sigma, k = 0
    for kernel, bw, A in cases:
        for q in ANALYTIC_QS:
            for method in ("exact", "auto") + (("dual",) if kernel != "rbf" else ()):
                s = gm.vendi(A, q=q, kernel=kernel, bandwidth=bw, method=method, backend=backend)
                if q == 0:
                    assert float(s) == n, (kernel, method, float(s))
                else:
                    tol = analytic_tol(A, kernel, bw, uniform, q)
                    assert float(s) == pytest.approx(n, abs=tol), (kernel, q, method, float(s))
    g = 8 * (d + 4) * _eps(dtype) + 4 * _eps(dtype)  # bound on each cosine's error
    assert float(gm.intdiv(X, backend=backend)) == pytest.approx(1 - 1 / n, abs=g)
    assert float(gm.rke(X, kernel="cosine", backend=backend)) == pytest.approx(
        n, abs=analytic_tol(X, "cosine", None, uniform, 2)
    )


@st.composite
def cluster_sets(draw):
    """Clusters of identical (rbf) or parallel (cosine) points with random sizes, rows shuffled."""
    counts = draw(st.lists(st.integers(1, 25), min_size=1, max_size=8))
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    kernel = draw(st.sampled_from(["cosine", "rbf"]))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    m = len(counts)
    d = m + draw(st.integers(0, 3))
    labels = np.repeat(np.arange(m), counts)
    E = np.eye(d)[rng.permutation(d)[:m]]
    if kernel == "rbf":
        X = 4.0 * E[labels]  # bandwidth 0.4: separated by 14 bandwidths, k = exp(-100) across, 1 within
    else:
        X = E[labels] * rng.uniform(0.5, 3.0, size=(labels.size, 1))  # orthogonal cluster directions
    perm = rng.permutation(labels.size)
    return X[perm].astype(dtype), kernel, np.array(counts)


@given(cs=cluster_sets(), q=st.sampled_from(ANALYTIC_QS))
def test_clusters_give_the_hill_number_of_their_proportions(backend, cs, q):
    X, kernel, counts = cs
    bw = 0.4 if kernel == "rbf" else None
    s = gm.vendi(X, q=q, kernel=kernel, bandwidth=bw, method="exact", backend=backend)
    want = ref.hill_number(counts, q)
    if q == 0:
        if kernel == "rbf" and X.dtype == np.float32:
            # float32 distances of duplicates need not be exactly 0 (|x|^2 + |y|^2 - 2 x.y); the
            # resulting entries 1 - O(u |x|^2 / s^2) can lift round-off eigenvalues above the rank
            # threshold, so only the interval allowed by the error bound is required here
            lam = np.zeros(X.shape[0])
            lam[: len(counts)] = np.sort(counts / counts.sum())[::-1]
            delta = ref.spectrum_delta(X, kernel=kernel, bandwidth=bw, dtype=X.dtype)
            lo, hi = ref.rank_bounds(lam, X.shape[0], _eps(X.dtype), delta)
            assert lo <= float(s) <= hi
        else:
            assert float(s) == len(counts)
        return
    # K is block-ones (exactly, up to rounding of the cosines), so its spectrum is p padded with zeros
    tol = analytic_tol(X, kernel, bw, counts / counts.sum(), q)
    assert float(s) == pytest.approx(want, abs=tol), (counts, q)


@pytest.mark.parametrize("kernel", ["rbf", "laplacian"])
def test_duplicate_rows_count_once_at_q0(backend, kernel):
    """Found by hypothesis (float64): exact duplicates must have distance 0, k = 1 exactly; a tiny
    positive d^2 from |x|^2 + |y|^2 - 2 x.y (after any shift of the origin) leaves eigenvalues of
    ~1e-15 that the float64 rank threshold n eps lambda_max = 4.4e-16 counts."""
    X = np.array([[4.0, 0, 0], [0, 4.0, 0], [0, 4.0, 0], [0, 0, 4.0], [0, 0, 4.0]])
    assert float(gm.vendi(X, q=0, kernel=kernel, bandwidth=0.4, backend=backend)) == 3
    K = gm.gram(X, kernel=kernel, bandwidth=0.4, backend=backend)
    assert K[1, 2] == K[3, 4] == 1.0


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_known_proportions(backend, dtype):
    """p = (.5, .25, .125, .125): VS_1 = 3.363586, VS_2 = 2.909091 (METRICS.md, 7 digits)."""
    counts = [4, 2, 1, 1]
    X = np.repeat(np.eye(4), counts, axis=0).astype(dtype)
    assert float(gm.vendi(X, q=1, backend=backend)) == pytest.approx(3.363586, abs=1e-6)
    assert float(gm.vendi(X, q=2, backend=backend)) == pytest.approx(2.909091, abs=1e-6)
    assert float(gm.rke(X, kernel="cosine", backend=backend)) == pytest.approx(2.909091, abs=1e-6)
    assert float(gm.vendi(X, q=0, backend=backend)) == 4
    assert float(gm.vendi(X, q="inf", backend=backend)) == pytest.approx(2.0, abs=1e-6)


def test_balanced_clusters_give_m_at_every_q(backend):
    X = np.repeat(np.eye(6), 9, axis=0)
    for q in (0, 0.3, 0.5, 1, 2, 7.5, math.inf):
        assert float(gm.vendi(X, q=q, backend=backend)) == pytest.approx(6.0, rel=1e-9), q


def test_vendi_readme_examples(backend):
    # points [0, 0, 10, 10, 20, 20] with k = exp(-|a - b|): the README prints 2.9999 (truncated)
    X = np.array([[0.0], [0.0], [10.0], [10.0], [20.0], [20.0]])
    s = float(gm.vendi(X, kernel="laplacian", bandwidth=1.0, backend=backend))
    assert math.floor(s * 1e4) / 1e4 == 2.9999, s
    assert s == pytest.approx(ref.ref_vendi(X, 1, "laplacian", 1.0), rel=1e-10)
    K = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert float(gm.vendi_from_gram(K)) == pytest.approx(2.1573, abs=5e-5)
    assert float(gm.vendi_from_gram(K)) == pytest.approx(ref.ref_vendi_from_gram(K), rel=1e-12)


# --------------------------------------------------------------------------------------------
# vendi_from_gram / vendi_from_eigenvalues
# --------------------------------------------------------------------------------------------


@given(X=matrices(max_d=10), q=st.sampled_from(QS))
def test_vendi_from_gram_matches_reference(X, q):
    X = fix_small_rows(X)
    K = ref.ref_gram(X, kernel="cosine").astype(X.dtype)
    K0 = K.copy()
    s = gm.vendi_from_gram(K, q=q)
    # K is given exactly: only the eigensolver (in K's precision) and the trace err, by ~ n u lambda_max
    lam = ref.ref_spectrum_from_gram(K)
    n = K.shape[0]
    delta = 8.0 * (n + 4) * _eps(K.dtype) * float(lam.max()) + n * _eps(K.dtype)
    if q == 0:
        lo, hi = ref.rank_bounds(lam, n, _eps(K.dtype), delta)
        assert lo <= float(s) <= hi
    else:
        want = ref.entropy_value(lam, q)
        assert abs(float(s) - want) <= ref.vendi_tol(lam, q, delta)
    assert np.array_equal(K, K0)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_vendi_from_gram_q0_uses_the_eps_of_K(dtype):
    """A rank-3 cosine Gram matrix of n = 50 rounded to float32 has 47 'noise' eigenvalues ~1e-8
    (the rounding of K), 300x below the float32 threshold n eps32 lambda_max ~ 2e-6 and ~1e7x above
    the float64 one: the rank tolerance must use eps of K's dtype (METRICS.md), giving 3."""
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(50, 3))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    K = (Z @ Z.T).astype(dtype)
    assert float(gm.vendi_from_gram(K, q=0)) == 3


@given(w=st.lists(st.floats(0.0, 100.0, allow_subnormal=False), min_size=1, max_size=50), q=st.sampled_from(QS))
def test_vendi_from_eigenvalues_is_the_hill_number(w, q):
    w = np.array(w)
    assume(w.max() > 1e-3)
    # exact zeros and clearly positive values only: the q = 0 tolerance is then irrelevant
    w = np.where(w < 1e-6, 0.0, w)
    got = gm.vendi_from_eigenvalues(w, q=q)
    assert isinstance(got, float)
    assert got == pytest.approx(ref.hill_number(w, q), rel=1e-12)


def test_vendi_from_eigenvalues_clips_round_off_negatives():
    lam = np.array([0.5, 0.5, -1e-17, 0.0])
    for q in (0, 0.5, 1, 2, "inf"):
        assert gm.vendi_from_eigenvalues(lam, q=q) == pytest.approx(2.0, rel=1e-12)


# --------------------------------------------------------------------------------------------
# rke, rrke, intdiv
# --------------------------------------------------------------------------------------------


@given(inp=vendi_inputs(kernels=("rbf", "laplacian", "cosine", "linear", "polynomial")))
def test_rke_matches_reference_and_vendi_q2(backend, inp):
    X, kernel, bw = inp
    s = gm.rke(X, kernel=kernel, bandwidth=bw, backend=backend)
    want = ref.ref_rke(X, kernel=kernel, bandwidth=bw)
    rtol = ref.rke_rtol(X, kernel=kernel, bandwidth=bw, dtype=X.dtype)
    assert float(s) == pytest.approx(want, rel=rtol)
    v2 = gm.vendi(X, q=2, kernel=kernel, bandwidth=bw, method="exact", backend=backend)
    _, vtol = ref.vendi_bound(X, 2, kernel=kernel, bandwidth=bw)
    assert float(s) == pytest.approx(float(v2), abs=want * rtol + vtol)
    if kernel in NEEDS_BW:
        assert s.bandwidth == bw
    else:
        assert s.bandwidth is None


@given(data=st.data())
def test_rrke_matches_reference(backend, data):
    kernel = data.draw(st.sampled_from(["rbf", "laplacian"]))
    X = data.draw(matrices(max_n=40))
    Y = data.draw(matrices(d=X.shape[1], max_n=40, dtype=X.dtype))
    bw = data.draw(bandwidths)
    want = ref.ref_rrke(X, Y, kernel=kernel, bandwidth=bw)
    # kernel values below ~1e-38 (float32) / 1e-308 (float64) underflow: rrke is then not representable
    assume(want < (60.0 if X.dtype == np.float32 else 600.0))
    s = gm.rrke(with_layout(X, data.draw(st.sampled_from(LAYOUTS))), Y, kernel=kernel, bandwidth=bw, backend=backend)
    assert float(s) == pytest.approx(want, abs=ref.rrke_tol(X, Y, kernel=kernel, bandwidth=bw, dtype=X.dtype))
    # ||K_XY||_* <= sqrt(n m) for a kernel with k(x, x) = 1 (Cauchy-Schwarz in feature space)
    assert float(s) >= -ref.rrke_tol(X, Y, kernel=kernel, bandwidth=bw, dtype=X.dtype)


def test_rrke_uses_all_rows_and_heuristic_on_X(backend):
    """n, m > 500 (the reference package truncates to 500 rows); bandwidth=None: median on X."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(700, 5))
    Y = np.vstack([rng.normal(size=(300, 5)), rng.normal(loc=3.0, size=(400, 5))])
    s = gm.rrke(X, Y, backend=backend)
    sigma = ref.ref_median_bandwidth(X)
    assert s.bandwidth == pytest.approx(sigma, rel=1e-10)
    assert float(s) == pytest.approx(ref.ref_rrke(X, Y, bandwidth=sigma), rel=1e-8, abs=1e-10)
    # the first 500 rows of Y are drawn differently from the rest: a truncating implementation differs
    assert abs(ref.ref_rrke(X, Y, bandwidth=sigma) - ref.ref_rrke(X[:500], Y[:500], bandwidth=sigma)) > 1e-3


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("kernel,bw", [("rbf", 1.5), ("rbf", None), ("laplacian", 2.0)])
def test_rrke_of_a_set_with_itself_is_zero(backend, kernel, bw, dtype):
    X = np.random.default_rng(9).normal(size=(120, 6)).astype(dtype)
    s = gm.rrke(X, X, kernel=kernel, bandwidth=bw, backend=backend)
    # ||K/n||_* = trace(K)/n = 1 for a PSD K with unit diagonal
    assert float(s) == pytest.approx(0.0, abs=ref.rrke_tol(X, X, kernel=kernel, bandwidth=bw, dtype=dtype))


@given(data=st.data())
def test_intdiv_matches_reference(backend, data):
    kernel = data.draw(st.sampled_from(["cosine", "rbf", "laplacian"]))
    X = fix_small_rows(data.draw(matrices()))
    bw = data.draw(bandwidths) if kernel != "cosine" else None
    # cosine similarities can be negative: only integer q is defined there
    q = data.draw(st.sampled_from([1, 2, 3] if kernel == "cosine" else [0.5, 1, 2, 3.5]))
    s = gm.intdiv(
        with_layout(X, data.draw(st.sampled_from(LAYOUTS))), q=q, kernel=kernel, bandwidth=bw, backend=backend
    )
    K = ref.ref_gram(X, kernel=kernel, bandwidth=bw)
    T = ref.gram_tol(X, kernel=kernel, bandwidth=bw, dtype=X.dtype)
    tol = float(np.mean(ref.power_tol(K, T, q))) + 1e-12
    assert float(s) == pytest.approx(ref.ref_intdiv(X, q=q, kernel=kernel, bandwidth=bw), abs=tol)
    assert s.q == q


def test_intdiv_analytic(backend):
    # two orthogonal directions, 3 and 1 points: mean cosine = (9 + 1) / 16
    X = np.array([[1.0, 0], [2.0, 0], [0.5, 0], [0, 3.0]])
    assert float(gm.intdiv(X, backend=backend)) == pytest.approx(1 - 10 / 16, rel=1e-12)
    assert float(gm.intdiv(X, q=2, backend=backend)) == pytest.approx(1 - 10 / 16, rel=1e-12)
    # opposite directions: cosine -1 off the diagonal; q = 1 gives 1 - (2 - 2)/4 = 1
    Z = np.array([[1.0, 1.0], [-2.0, -2.0]])
    assert float(gm.intdiv(Z, backend=backend)) == pytest.approx(1.0, rel=1e-12)
    assert float(gm.intdiv(Z, q=2, backend=backend)) == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------------------------
# result objects
# --------------------------------------------------------------------------------------------


def test_score_objects_report_how_they_were_computed(backend):
    rng = np.random.default_rng(10)
    X = rng.normal(size=(80, 5))
    s = gm.vendi(X, q=2, kernel="rbf", method="exact", backend=backend)
    assert isinstance(s, float)
    assert s.kernel == "rbf" and s.q == 2 and s.method == "exact" and s.backend == backend
    assert s.residual_mass is None
    assert s.bandwidth == pytest.approx(ref.ref_median_bandwidth(X), rel=1e-10)
    d = s.as_dict()
    for key in ("q", "kernel", "bandwidth", "method", "backend", "residual_mass"):
        assert key in d
    assert d["bandwidth"] == s.bandwidth
    c = gm.vendi(X, kernel="cosine", backend=backend)
    assert c.bandwidth is None and c.kernel == "cosine"
    assert gm.vendi(X, kernel="gaussian", bandwidth=2.0, backend=backend).bandwidth == 2.0
    for f in (gm.rke(X, backend=backend), gm.intdiv(X, backend=backend), gm.rrke(X, X[:40], backend=backend)):
        assert isinstance(f, float)
        assert f.residual_mass is None
        assert isinstance(f.as_dict(), dict)


# --------------------------------------------------------------------------------------------
# backends agree on larger data
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize(
    "n,d,kernel,bw",
    [(700, 10, "rbf", 4.0), (900, 30, "cosine", None), (450, 5, "laplacian", 2.0), (600, 12, "linear", None)],
)
def test_backends_agree_on_scores(both_backends, n, d, kernel, bw, dtype):
    rng = np.random.default_rng(n)
    centers = rng.normal(scale=4.0, size=(6, d))
    X = (centers[rng.integers(0, 6, size=n)] + rng.normal(size=(n, d))).astype(dtype)
    for q in (0, 1, 2, math.inf):
        a = gm.vendi(X, q=q, kernel=kernel, bandwidth=bw, method="exact", backend="cpu")
        b = gm.vendi(X, q=q, kernel=kernel, bandwidth=bw, method="exact", backend="numpy")
        want, tol = ref.vendi_bound(X, q, kernel=kernel, bandwidth=bw)
        if tol is None:
            assert float(a) == float(b) and want[0] <= float(a) <= want[1], (float(a), float(b), want)
            continue
        assert abs(float(a) - float(b)) <= 2 * tol, (q, float(a), float(b))
        assert abs(float(a) - want) <= tol, (q, float(a), want)
    rt = ref.rke_rtol(X, kernel=kernel, bandwidth=bw, dtype=dtype)
    assert float(gm.rke(X, kernel=kernel, bandwidth=bw, backend="cpu")) == pytest.approx(
        float(gm.rke(X, kernel=kernel, bandwidth=bw, backend="numpy")), rel=2 * rt
    )
    if kernel in ("rbf", "laplacian"):
        Y = X[: n // 3] + 0.5
        a = gm.rrke(X, Y, kernel=kernel, bandwidth=bw, backend="cpu")
        b = gm.rrke(X, Y, kernel=kernel, bandwidth=bw, backend="numpy")
        assert float(a) == pytest.approx(float(b), abs=2 * ref.rrke_tol(X, Y, kernel=kernel, bandwidth=bw, dtype=dtype))


# --------------------------------------------------------------------------------------------
# randomized methods
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel,bw", [("rbf", None), ("laplacian", 3.0), ("cosine", None)])
def test_nystrom_with_full_rank_is_exact(backend, kernel, bw):
    rng = np.random.default_rng(12)
    X = rng.normal(size=(120, 5))
    for q in (1, 2, math.inf):
        ny = gm.vendi(X, q=q, kernel=kernel, bandwidth=bw, method="nystrom", rank=120, backend=backend)
        assert ny.method == "nystrom"
        want = ref.ref_vendi(X, q=q, kernel=kernel, bandwidth=bw)
        assert float(ny) == pytest.approx(want, rel=1e-6), q
        assert ny.residual_mass is not None and 0 <= ny.residual_mass <= 1e-6


def _tight_clusters(n, k, d, spread, gap, seed):
    rng = np.random.default_rng(seed)
    centers = gap * np.eye(k, d)
    labels = rng.integers(0, k, size=n)
    return centers[labels] + spread * rng.normal(size=(n, d))


@pytest.fixture(scope="module")
def low_rank_problem():
    """rbf on 5 tight, well separated clusters: ~5 large eigenvalues, then a fast-decaying tail."""
    X = _tight_clusters(2000, 5, 3, 0.05, 20.0, seed=13)
    lam = ref.ref_spectrum(X, kernel="rbf", bandwidth=1.0)
    return X, lam


def test_nystrom_on_a_low_rank_spectrum(backend, low_rank_problem):
    X, lam = low_rank_problem
    for q in (1, 2, math.inf):
        s = gm.vendi(X, q=q, kernel="rbf", bandwidth=1.0, method="nystrom", rank=50, backend=backend)
        want = ref.entropy_value(lam, q)
        assert float(s) == pytest.approx(want, rel=1e-3), (q, float(s), want)
        r = s.residual_mass
        assert r is not None and 0 <= r < 1e-3
        # residual_mass is at least the exact mass beyond the rank (Nystrom eigenvalues interlace)
        assert r >= lam[50:].sum() - 1e-9
        if q == math.inf:
            # an upper bound on the error of the top eigenvalue (approximations under-estimate)
            assert lam[0] - 1.0 / float(s) <= r + 1e-9


def test_nystrom_residual_bound_holds_when_the_rank_is_too_small(backend, low_rank_problem):
    X, lam = low_rank_problem
    s = gm.vendi(X, q=math.inf, kernel="rbf", bandwidth=1.0, method="nystrom", rank=3, backend=backend)
    # 3 landmarks for 5 clusters: at least 2 clusters (~40 % of the mass) are missed
    assert s.residual_mass >= lam[3:].sum() - 1e-9
    assert s.residual_mass > 0.2
    assert lam[0] - 1.0 / float(s) <= s.residual_mass + 1e-9


def test_nystrom_is_seeded(backend, low_rank_problem):
    X, _ = low_rank_problem
    X = X[:600]
    kw = dict(q=1, kernel="rbf", bandwidth=1.0, method="nystrom", rank=20, backend=backend)
    a, b = gm.vendi(X, seed=3, **kw), gm.vendi(X, seed=3, **kw)
    assert float(a) == float(b) and a.residual_mass == b.residual_mass


# (kernel, orders q, tolerance on the mean of 4 seeds, tolerance on each seed); see the docstring
RFF_TOLERANCES = [("rbf", (1, 2), 0.06, 0.15), ("laplacian", (2,), 0.22, 0.40)]


@pytest.mark.parametrize("kernel,qs,mean_rtol,each_rtol", RFF_TOLERANCES)
def test_rff_approximates_the_exact_score(backend, kernel, qs, mean_rtol, each_rtol):
    """FKEA: with r frequencies each kernel entry errs by O(1/sqrt(r)).  Calibrated on an independent
    NumPy implementation (phi = [cos, sin] / sqrt(r); omega ~ N(0, I / s^2) for rbf, the multivariate
    Cauchy for the Euclidean laplacian) over 48 seeds, r = 400, this data; relative error of VS_q:
        rbf        q=1: mean -1.3 %, sd 1.7 %, sd of a 4-seed mean 0.95 %
                   q=2: mean -0.7 %, sd 1.8 %, sd of a 4-seed mean 0.96 %
        laplacian  q=2: mean -2.1 %, sd 7.3 %, sd of a 4-seed mean 4.0 %
        (laplacian q=1 is biased by -14 %: its heavy spectral tail is cut off at 2r, not tested)
    The tolerances keep the 4-seed mean ~5 sd, and each seed > 5 sd, from failing.  Wrong conventions
    are far outside: rbf with exp(-d^2 / s^2) gives +71 % / +47 %; laplacian with per-coordinate Cauchy
    frequencies (the L1 laplacian) +188 %."""
    X = _tight_clusters(300, 4, 6, 1.0, 8.0, seed=14)
    bw = 6.0
    lam = ref.ref_spectrum(X, kernel=kernel, bandwidth=bw)
    for q in qs:
        want = ref.entropy_value(lam, q)
        vals = []
        for seed in range(4):
            s = gm.vendi(X, q=q, kernel=kernel, bandwidth=bw, method="rff", rank=400, seed=seed, backend=backend)
            assert s.method == "rff"
            assert float(s) == pytest.approx(want, rel=each_rtol), (q, seed)
            vals.append(float(s))
        assert np.mean(vals) == pytest.approx(want, rel=mean_rtol), (q, vals, want)


def test_rff_is_seeded(backend):
    X = _tight_clusters(300, 3, 4, 1.0, 6.0, seed=15)
    kw = dict(q=1, kernel="rbf", bandwidth=2.0, method="rff", rank=256, backend=backend)
    a, b, c = gm.vendi(X, seed=1, **kw), gm.vendi(X, seed=1, **kw), gm.vendi(X, seed=2, **kw)
    assert float(a) == float(b)
    assert float(a) != float(c)
    # and the default seed is fixed too
    kw.pop("rank")
    assert float(gm.vendi(X, rank=256, **kw)) == float(gm.vendi(X, rank=256, **kw))


# --------------------------------------------------------------------------------------------
# issue 10: the rank tolerance at every q < 1 (item 6)
# --------------------------------------------------------------------------------------------

#: The grid of issue 10, item 6: orders below 1 (where round-off eigenvalues would count), 1, and above.
Q_GRID = (0, 1e-3, 0.1, 0.5, 1, 2, math.inf)


def _low_rank(n, r, d, seed, dtype):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, r)) @ rng.normal(size=(r, d))).astype(dtype)


def test_small_orders_of_the_issue_case_agree_with_the_dual(backend):
    """Issue 10, item 6: a 700 x 7 rank-7 set scored 15.4 at q = 0.1 and 344 at q = 0.001 by the exact
    method (its 693 round-off eigenvalues, ~1e-17 each, counted), 6.998 by the dual."""
    X = np.random.default_rng(0).standard_normal((700, 7))
    for q in (1e-3, 0.1, 0.5):
        exact = float(gm.vendi(X, q=q, kernel="cosine", method="exact", backend=backend))
        dual = float(gm.vendi(X, q=q, kernel="cosine", method="dual", backend=backend))
        want = ref.ref_vendi(X, q=q, kernel="cosine")
        assert exact == pytest.approx(dual, rel=1e-9), q
        assert exact == pytest.approx(want, rel=1e-9), q
        assert exact <= 7.0


@st.composite
def low_rank_sets(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    r = draw(st.integers(1, 6))
    d = r + draw(st.integers(0, 6))
    n = d + draw(st.integers(2, 80))
    kernel = draw(st.sampled_from(["cosine", "linear"]))
    return _low_rank(n, r, d, draw(st.integers(0, 2**31)), dtype), r, kernel


@given(case=low_rank_sets())
def test_low_rank_sets_are_monotone_in_q_and_exact_agrees_with_dual(backend, case):
    """Non-increasing in q over Q_GRID (0 and 1e-3 included) for every exact method, and the n x n exact
    spectrum agrees with the d x d dual at every order: before the fix q = 1e-3 counted the n - r round-off
    eigenvalues of the exact spectrum (~n^(1 - q)) while q = 0 gave r."""
    X, r, kernel = case
    n = X.shape[0]
    # the two spectra differ by round-off of their precision: ~1e-13 in float64, ~1e-5 in float32 (relative)
    rtol = 1e-8 if X.dtype == np.float64 else 1e-3
    # Orders >= 1 keep the round-off eigenvalues (total mass <= n * n eps lambda_max) that orders < 1 drop:
    # across q = 1 the score may rise by that mass times log(1 / eps) (~4e-7 for float32, n = 3), and q = 2
    # (trace^2 / sum k^2, no spectrum) differs from the spectral orders by as much; nothing more
    slack = n * n * _eps(X.dtype) * 40
    values = {}
    for method in ("exact", "dual"):
        values[method] = [float(gm.vendi(X, q=q, kernel=kernel, method=method, backend=backend)) for q in Q_GRID]
        got = values[method]
        assert got[0] == r, (method, got)
        for q, a, b in zip(Q_GRID, got, got[1:]):
            assert a >= b * (1 - slack), (method, q, got)
        assert got[1] <= r * (1 + 1e-9), (method, got)  # VS_q <= VS_0 = rank
    assert values["exact"] == pytest.approx(values["dual"], rel=rtol)


def test_approximate_methods_are_monotone_in_q_on_duplicated_points(backend):
    """m clusters of identical points: K has rank m exactly and VS_q is the Hill number of the cluster
    proportions at every q (METRICS.md). Nystrom with every row a landmark, and the rff spectrum (2 rank
    dimensions, rank >> m), have round-off eigenvalues that orders below 1 must not count."""
    counts = np.array([30, 20, 10, 5])
    X = np.repeat(4.0 * np.eye(4, 5), counts, axis=0)
    for method, rank in (("nystrom", X.shape[0]), ("exact", None)):
        got = [
            float(gm.vendi(X, q=q, kernel="rbf", bandwidth=0.4, method=method, rank=rank, backend=backend))
            for q in Q_GRID
        ]
        want = [ref.hill_number(counts, q) for q in Q_GRID]
        assert got == pytest.approx(want, rel=1e-9), method
    got = [
        float(gm.vendi(X, q=q, kernel="rbf", bandwidth=0.4, method="rff", rank=300, backend=backend)) for q in Q_GRID
    ]
    assert all(a >= b * (1 - 1e-12) for a, b in zip(got, got[1:])), got
    # rff's spectrum is random, but rank([phi(x)]) <= 4 distinct rows: never more than 4 modes
    assert got[0] == 4 and got[1] <= 4.0 * (1 + 1e-9), got


def test_vendi_from_gram_and_eigenvalues_use_the_rank_tolerance_below_q1():
    X = _low_rank(300, 5, 12, 3, np.float64)
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    K = Z @ Z.T
    lam = np.linalg.eigvalsh(K)  # 295 round-off eigenvalues, some negative
    for q in Q_GRID[:4]:
        want = float(gm.vendi(X, q=q, kernel="cosine", method="dual"))
        assert float(gm.vendi_from_gram(K, q=q)) == pytest.approx(want, rel=1e-9), q
        assert gm.vendi_from_eigenvalues(lam, q=q) == pytest.approx(want, rel=1e-9), q
        assert want == pytest.approx(ref.ref_vendi_from_gram(K, q=q), rel=1e-9)


# --------------------------------------------------------------------------------------------
# issue 10: extremes (items 8 and 11)
# --------------------------------------------------------------------------------------------

HUGE_QS = (2, 10, 1e3, 1e15, 1e100, 1e300, 1e308, math.inf)


@given(w=st.lists(st.floats(0.0, 1.0, allow_subnormal=False), min_size=1, max_size=40))
def test_huge_orders_tend_to_q_infinity_without_overflow(w):
    """vendi(q=1e308) returned n (q log lambda_max overflowed): every order must give at most what a smaller
    order gives, and the values tend to VS_inf = 1 / lambda_max."""
    w = np.array(w)
    assume(w.max() > 1e-3)
    got = [gm.vendi_from_eigenvalues(w, q=q) for q in HUGE_QS]
    for q, a, b in zip(HUGE_QS, got, got[1:]):
        assert a >= b * (1 - 1e-12), (q, got)
    assert got[-2] == pytest.approx(ref.hill_number(w, math.inf), rel=1e-12)
    assert got[-1] == pytest.approx(ref.hill_number(w, math.inf), rel=1e-12)


def test_vendi_of_a_huge_order_is_at_most_a_smaller_one(backend):
    X = np.random.default_rng(5).standard_normal((60, 8))
    values = [float(gm.vendi(X, q=q, backend=backend)) for q in HUGE_QS]
    assert all(a >= b * (1 - 1e-12) for a, b in zip(values, values[1:])), values
    assert values[-2] == pytest.approx(ref.ref_vendi(X, q=math.inf), rel=1e-9)


@given(
    w=st.lists(st.floats(0.0, 1.0, allow_subnormal=False), min_size=1, max_size=40),
    q=st.sampled_from(QS),
    top=st.sampled_from([1e308, 1.7e308, 1e-300, 5e-310]),
)
def test_vendi_from_eigenvalues_is_scale_invariant_to_the_float64_limits(w, q, top):
    """[1e308, 1e308] gave 1 (the sum overflowed to inf): eigenvalues are normalised by the largest first."""
    w = np.array(w)
    assume(w.max() > 1e-3)
    w = np.where(w < 1e-6, 0.0, w)
    if top < 1e-300:  # denormal tops: keep only entries that stay exact (above 2^-1022 after scaling)
        w = np.where(w < 1e-3, 0.0, w)
    scaled = w / w.max() * top
    assert gm.vendi_from_eigenvalues(scaled, q=q) == pytest.approx(ref.hill_number(w, q), rel=1e-9)


def test_vendi_from_eigenvalues_at_the_float64_limit():
    assert gm.vendi_from_eigenvalues([1e308, 1e308]) == pytest.approx(2.0, rel=1e-15)
    assert gm.vendi_from_eigenvalues([1.7e308, 1.7e308, 1.7e308], q=2) == pytest.approx(3.0, rel=1e-15)


@pytest.mark.parametrize("factor", [1e300, 2.0**1000, 1e-300, 1e-310])
def test_vendi_from_gram_is_scale_invariant_to_the_float64_limits(factor):
    X = np.random.default_rng(6).standard_normal((40, 5))
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    K = Z @ Z.T
    for q in (0, 0.5, 1, 2, math.inf):
        assert float(gm.vendi_from_gram(K * factor, q=q)) == pytest.approx(ref.ref_vendi_from_gram(K, q=q), rel=1e-6)


@pytest.mark.parametrize("kernel,bw", [("linear", None), ("rbf", 1.5), ("laplacian", 3.0), ("cosine", None)])
def test_vendi_of_denormal_embeddings(backend, kernel, bw):
    """vendi(X * 1e-310) raised OverflowError (math.ldexp(1, 1030) in the power-of-two rescaling). Scaling
    by powers of two is exact on the denormals (44 of their bits are left), so the score is that of
    X = tiny * 2^1030 (bandwidth scaled alike)."""
    tiny = np.random.default_rng(7).standard_normal((50, 6)) * 2.0**-1030
    X = tiny * 2.0**1000 * 2.0**30  # 2^1030 itself is beyond float64
    for q in (0.5, 1, 2):
        got = gm.vendi(
            tiny, q=q, kernel=kernel, bandwidth=None if bw is None else bw * 2.0**-1030, method="exact", backend=backend
        )
        assert float(got) == pytest.approx(ref.ref_vendi(X, q=q, kernel=kernel, bandwidth=bw), rel=1e-9), q


def test_power_of_two_scale_stays_finite_for_denormals():
    from genmetrics.engine.kernels import power_of_two_scale

    for top in (5e-324, 1e-320, 1e-310, 2.0**-1023, 1e-300, 1e-20, 1e20, 1e300, 1.7e308):
        scale = power_of_two_scale(np.array([top, -top / 3]))
        assert math.isfinite(scale) and scale == 2.0 ** round(math.log2(scale)), top
        assert 2.0**-51 <= top * scale < 1.0, top


# --------------------------------------------------------------------------------------------
# issue 10: named errors (items 11 and 13)
# --------------------------------------------------------------------------------------------


def test_nystrom_with_landmarks_of_zero_kernel_raises_a_named_error(backend):
    """Linear kernel, one non-zero row: a landmark set without it has W = 0 (no positive eigenvalue), which
    raised IndexError."""
    X = np.zeros((20, 3))
    X[0] = [1.0, 2.0, 3.0]
    seed = next(s for s in range(100) if np.random.default_rng(s).choice(20, size=2, replace=False).min() > 0)
    with pytest.raises(ValueError, match="rank: .*no positive eigenvalue"):
        gm.vendi(X, kernel="linear", method="nystrom", rank=2, seed=seed, backend=backend)
    with pytest.raises(ValueError, match="rank: "):
        gm.vendi(X, kernel="linear", method="nystrom", rank=2, seed=seed, n_iter=2, backend=backend)
    with pytest.raises(ValueError, match="^X: .*no positive eigenvalue"):  # no landmark could help
        gm.vendi(np.zeros((20, 3)), kernel="linear", method="nystrom", rank=20, backend=backend)


def test_rrke_without_Y_names_Y(backend):
    X = np.random.default_rng(8).standard_normal((10, 3))
    with pytest.raises(TypeError, match="^Y: "):
        gm.rrke(X, None, backend=backend)


def _no_convergence(*args, **kwargs):
    raise np.linalg.LinAlgError("Eigenvalues did not converge")


@pytest.mark.parametrize("solver", ["eigvalsh", "eigh", "svd", "qr"])
def test_eigensolver_failure_is_a_named_value_error(backend, monkeypatch, solver):
    """LAPACK's non-convergence (numpy.linalg.LinAlgError) reached the user; it must name the argument."""
    X = np.random.default_rng(9).standard_normal((30, 4))
    monkeypatch.setattr(np.linalg, solver, _no_convergence)
    calls = {
        "eigvalsh": [
            lambda: gm.vendi(X, method="exact", backend=backend),
            lambda: gm.vendi(X, method="dual", backend=backend),
            lambda: gm.vendi(X, kernel="rbf", bandwidth=1.0, method="rff", rank=8, backend=backend),
            lambda: gm.vendi(X, kernel="rbf", bandwidth=1.0, method="nystrom", rank=8, backend=backend),
        ],
        "eigh": [
            lambda: gm.vendi(X, kernel="rbf", bandwidth=1.0, method="nystrom", rank=8, backend=backend),
            lambda: gm.rrke(X, X[:5] + 1, kernel="linear", backend=backend),
        ],
        # rrke's exact path: eigh and svd in the refinement of the small singular values (rank 4 of 5 here)
        "svd": [lambda: gm.rrke(X, X[:5] + 1, kernel="linear", backend=backend)],
        "qr": [lambda: gm.vendi(X, kernel="rbf", bandwidth=1.0, method="nystrom", rank=8, n_iter=1, backend=backend)],
    }[solver]
    for call in calls:
        with pytest.raises(ValueError, match=r"^X(, Y)?: the eigensolver did not converge"):
            call()
    if solver == "eigvalsh":
        with pytest.raises(ValueError, match="^K: the eigensolver did not converge"):
            gm.vendi_from_gram(np.eye(3), backend=backend)


def test_unbounded_work_is_refused_by_name(backend):
    from genmetrics.diversity import MAX_N_ITER, MAX_RFF_RANK

    X = np.random.default_rng(10).standard_normal((30, 4))
    with pytest.raises(ValueError, match="^n_iter: must be <= 100"):
        gm.vendi(X, kernel="rbf", method="nystrom", rank=5, n_iter=10**30, backend=backend)
    with pytest.raises(ValueError, match="^rank: must be <= 100000"):
        gm.vendi(X, kernel="rbf", method="rff", rank=10**30, backend=backend)
    with pytest.raises(ValueError, match="^rank: "):
        gm.rke(X, method="rff", rank=MAX_RFF_RANK + 1, backend=backend)
    # the caps themselves are accepted
    gm.vendi(X, kernel="rbf", bandwidth=1.0, method="nystrom", rank=5, n_iter=MAX_N_ITER, backend=backend)


def test_vendi_from_gram_not_psd_option():
    K = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.9], [0.1, 0.9, 1.0]])  # eigenvalue 1 - sqrt(1.62 + ...) < 0
    w = np.linalg.eigvalsh(K)
    assert w.min() < -0.1
    with pytest.raises(ValueError, match="^K: has a negative eigenvalue"):
        gm.vendi_from_gram(K)
    with pytest.raises(ValueError, match="^not_psd: "):
        gm.vendi_from_gram(K, not_psd="ignore")
    with pytest.warns(UserWarning, match="^K: is not positive semi-definite"):
        got = gm.vendi_from_gram(K, q=1, not_psd="clip")
    want = np.clip(w, 0, None)
    assert float(got) == pytest.approx(ref.hill_number(want, 1), rel=1e-12)
    asymmetric = K + np.triu(np.full((3, 3), 0.01), 1)
    with pytest.raises(ValueError, match="^K: must be symmetric"):
        gm.vendi_from_gram(asymmetric)
    with (
        pytest.warns(UserWarning, match="^K: is not symmetric"),
        pytest.warns(UserWarning, match="^K: is not positive"),
    ):
        got = gm.vendi_from_gram(asymmetric, q=2, not_psd="clip")
    w = np.clip(np.linalg.eigvalsh((asymmetric + asymmetric.T) / 2), 0, None)
    assert float(got) == pytest.approx(ref.hill_number(w, 2), rel=1e-12)


def test_issue_10_items_on_the_emulated_gpu():
    """The same rules on backend="cuda" (the GPU driver) and "cupy" (the array fallback on device arrays), run on
    the emulated GPU of tests/_fake_gpu.py: every q < 1 ignores round-off eigenvalues, q = 1e308 is VS_inf,
    denormal embeddings work, and the named errors are the same."""
    from _fake_gpu import installed

    X = np.random.default_rng(0).standard_normal((300, 7))
    tiny = X * 2.0**-1030
    zeros = np.zeros((20, 3))
    zeros[0] = [1.0, 2.0, 3.0]
    seed = next(s for s in range(100) if np.random.default_rng(s).choice(20, size=2, replace=False).min() > 0)
    with installed():
        for backend in ("cuda", "cupy"):
            for q in (1e-3, 0.1):
                exact = float(gm.vendi(X, q=q, method="exact", backend=backend))
                assert exact == pytest.approx(ref.ref_vendi(X, q=q), rel=1e-9), (backend, q)
                assert exact == pytest.approx(float(gm.vendi(X, q=q, method="dual", backend=backend)), rel=1e-9)
            assert float(gm.vendi(X, q=1e308, backend=backend)) == pytest.approx(ref.ref_vendi(X, q=math.inf), rel=1e-9)
            got = gm.vendi(tiny, q=1, kernel="rbf", bandwidth=1.5 * 2.0**-1030, method="exact", backend=backend)
            assert float(got) == pytest.approx(
                ref.ref_vendi(tiny * 2.0**1000 * 2.0**30, q=1, kernel="rbf", bandwidth=1.5), rel=1e-9
            )
            with pytest.raises(ValueError, match="rank: .*no positive eigenvalue"):
                gm.vendi(zeros, kernel="linear", method="nystrom", rank=2, seed=seed, backend=backend)
            with pytest.raises(TypeError, match="^Y: "):
                gm.rrke(X, None, backend=backend)
            with pytest.raises(ValueError, match="^n_iter: "):
                gm.vendi(X, kernel="rbf", method="nystrom", rank=5, n_iter=10**30, backend=backend)


# --------------------------------------------------------------------------------------------
# issue 12: the unbiased RKE (the U-statistic of k^2)
# --------------------------------------------------------------------------------------------


def _offdiagonal_mean_k2(X, kernel, bandwidth):
    """mean_{i != j} k(x_i, x_j)^2 and mean_i k(x_i, x_i), in float64 from explicit differences / products."""
    Z = np.asarray(X, dtype=np.float64)
    if kernel == "rbf":
        K = np.exp(-np.sum((Z[:, None, :] - Z[None, :, :]) ** 2, axis=-1) / (2 * bandwidth**2))
    else:  # linear
        K = Z @ Z.T
    n = Z.shape[0]
    off = ~np.eye(n, dtype=bool)
    return float((K[off] ** 2).mean()), float(np.diag(K).mean())


@pytest.mark.parametrize("kernel,bandwidth", [("rbf", 1.5), ("linear", None)])
def test_unbiased_rke_is_the_u_statistic(backend, kernel, bandwidth):
    X = np.random.default_rng(21).normal(size=(40, 3))
    got = gm.rke(X, kernel=kernel, bandwidth=bandwidth, estimator="unbiased", backend=backend)
    mean_k2, mean_diagonal = _offdiagonal_mean_k2(X, kernel, bandwidth)
    assert float(got) == pytest.approx(mean_diagonal**2 / mean_k2, rel=1e-10)
    assert got.details["mean_k2"] == pytest.approx(mean_k2 / (mean_diagonal**2 if kernel == "linear" else 1), rel=1e-9)
    assert got.details["estimator"] == "unbiased" and got.details["standard_error"] > 0
    # the plug-in counts the diagonal too
    plugin = float(gm.rke(X, kernel=kernel, bandwidth=bandwidth, backend=backend))
    n = X.shape[0]
    if kernel == "rbf":
        assert plugin == pytest.approx(n * n / (n + n * (n - 1) * mean_k2), rel=1e-10)


def test_unbiased_rke_is_unbiased_on_separated_clusters():
    """m = 5 balanced clusters N(mu_j, s^2 I_2) far apart, rbf sigma = 2: E k(x, x')^2 = (1 + 4 s^2 / sigma^2)^(-d/2)
    / m exactly (METRICS.md), RKE = 6.25. Over 300 draws of n = 12 the U-statistic's mean equals 1 / 6.25 within 4
    standard errors of the mean, the plug-in's sum k^2 / n^2 is off by more than 10, and the reported standard error
    matches the spread of the draws."""
    m, d, s, sigma, n, draws = 5, 2, 0.5, 2.0, 12, 300
    population = m * (1 + 4 * s**2 / sigma**2) ** (d / 2)
    rng = np.random.default_rng(5)
    centres = np.arange(m)[:, None] * 100.0 * np.ones((1, d))
    u, plug, reported = [], [], []
    for _ in range(draws):
        X = centres[rng.integers(0, m, size=n)] + s * rng.standard_normal((n, d))
        score = gm.rke(X, bandwidth=sigma, estimator="unbiased")
        u.append(score.details["mean_k2"])
        reported.append(score.details["mean_k2_standard_error"])
        plug.append(1.0 / float(gm.rke(X, bandwidth=sigma)))
    u, plug = np.array(u), np.array(plug)
    se_of_mean = u.std(ddof=1) / np.sqrt(draws)
    assert abs(u.mean() - 1 / population) < 4 * se_of_mean
    assert abs(plug.mean() - 1 / population) > 10 * se_of_mean
    assert 0.5 < np.mean(reported) / u.std(ddof=1) < 2.0


def test_unbiased_rke_errors_name_the_argument():
    X = np.random.default_rng(2).normal(size=(10, 2))
    with pytest.raises(ValueError, match="^estimator: "):
        gm.rke(X, estimator="jackknife")
    with pytest.raises(ValueError, match="^estimator: 'unbiased' needs method='exact'"):
        gm.rke(X, estimator="unbiased", method="nystrom")
    with pytest.raises(ValueError, match="^X: the unbiased RKE needs at least 3 rows"):
        gm.rke(X[:2], estimator="unbiased", bandwidth=1.0)
