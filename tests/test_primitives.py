"""gm.gram and gm.kernel_sum against the float64 reference, and the two backends against each other.

Tolerances.  Every comparison uses ``reference.gram_tol``, an element-wise first-order error bound
for a Gram matrix computed in the input's precision (see its docstring): it is ~1e-13 relative for
float64 inputs of the sizes drawn here, and for float32 it is (d + 4) * 1.2e-7 * 8 relative to the
scale |x||y| of the dot products (about 1e-4 for d = 40), widened for rbf/laplacian by the
conditioning factor (|x| + |y|)^2 / (2 bandwidth^2) of the fused distance formula.  A bound tighter
than this would fail a correct float32 engine; a looser one would hide real errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import genmetrics as gm
import reference as ref
from conftest import FLOAT_DTYPES, LAYOUTS, bandwidths, fix_small_rows, matrices, with_layout

KERNELS = ("linear", "cosine", "rbf", "gaussian", "laplacian", "polynomial")


def assert_within(got, want, tol, what=""):
    """|got - want| <= tol element-wise, with a readable report of the worst entry."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), want.shape)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert np.all(np.isfinite(got)), f"{what}: non-finite values in the result"
    err = np.abs(got - want)
    excess = err - tol
    if np.any(excess > 0):
        i = np.unravel_index(int(np.argmax(excess)), want.shape) if want.ndim else ()
        raise AssertionError(
            f"{what}: {int(np.sum(excess > 0))} of {want.size} entries out of tolerance; worst at {i}: "
            f"got {got[i]!r}, want {want[i]!r}, |err| {err[i]:.3e} > tol {tol[i]:.3e}"
        )


@st.composite
def kernel_setups(draw, kernels=KERNELS):
    """(kernel, bandwidth, kernel_params) with an explicit bandwidth for rbf/laplacian."""
    kernel = draw(st.sampled_from(kernels))
    bandwidth = draw(bandwidths) if kernel in ("rbf", "gaussian", "laplacian") else None
    params = {}
    if kernel == "polynomial" and draw(st.booleans()):
        params = dict(gamma=draw(st.floats(0.01, 1.0)), coef0=draw(st.floats(0.0, 2.0)), degree=draw(st.integers(1, 3)))
    return kernel, bandwidth, params


@st.composite
def xy_pairs(draw, kernel, allow_y=True, max_n=60):
    """X (n, d) and optionally Y (m, d), each possibly of a different float dtype and layout."""
    X = draw(matrices(max_n=max_n))
    Y = None
    if allow_y and draw(st.booleans()):
        Y = draw(matrices(d=X.shape[1], max_n=max_n))
    if kernel in ("cosine", "linear", "polynomial"):
        # cosine: no zero-norm rows (a validation error, tested elsewhere); linear/polynomial: keeps the
        # same data family, harmless
        X = fix_small_rows(X)
        Y = None if Y is None else fix_small_rows(Y)
    return X, Y


def _result_dtype(X, Y):
    return np.result_type(X.dtype, X.dtype if Y is None else Y.dtype)


# --------------------------------------------------------------------------------------------
# gram
# --------------------------------------------------------------------------------------------


@given(data=st.data())
def test_gram_matches_reference(backend, data):
    kernel, bw, params = data.draw(kernel_setups())
    X, Y = data.draw(xy_pairs(kernel))
    Xl = with_layout(X, data.draw(st.sampled_from(LAYOUTS)))
    Yl = None if Y is None else with_layout(Y, data.draw(st.sampled_from(LAYOUTS)))
    X0, Y0 = X.copy(), None if Y is None else Y.copy()

    K = gm.gram(Xl, Yl, kernel=kernel, bandwidth=bw, backend=backend, **params)

    assert isinstance(K, np.ndarray)
    m = X.shape[0] if Y is None else Y.shape[0]
    assert K.shape == (X.shape[0], m)
    assert K.dtype == _result_dtype(X, Y)
    # inputs are never modified (Xl may be X itself: the reference below uses the copies)
    assert np.array_equal(Xl, X0) and (Y is None or np.array_equal(Yl, Y0))
    want = ref.ref_gram(X0, Y0, kernel=kernel, bandwidth=bw, **params)
    tol = ref.gram_tol(X0, Y0, kernel=kernel, bandwidth=bw, dtype=K.dtype, **params)
    assert_within(K, want, tol, f"gram[{kernel}]")


@given(data=st.data())
def test_gram_self_is_symmetric_with_unit_diagonal(backend, data):
    """Y=None: K is symmetric and, for normalised kernels, k(x, x) = 1 (analytic, not the reference)."""
    kernel, bw, params = data.draw(kernel_setups(("cosine", "rbf", "laplacian", "linear")))
    X, _ = data.draw(xy_pairs(kernel, allow_y=False))
    K = gm.gram(X, kernel=kernel, bandwidth=bw, backend=backend, **params)
    tol = ref.gram_tol(X, kernel=kernel, bandwidth=bw, dtype=X.dtype, **params)
    assert_within(K, K.T, 2 * tol, "symmetry")
    if kernel != "linear":
        assert_within(np.diag(K), np.ones(X.shape[0]), np.diag(tol), "diagonal")


@pytest.mark.parametrize("kernel", ["linear", "cosine", "rbf", "polynomial"])
def test_gram_integer_input_gives_float64(backend, kernel):
    X = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 10], [-1, 0, 2]], dtype=np.int64)
    Y = np.array([[0, 1, 0], [2, 2, 2]], dtype=np.int32)
    bw = 3.0 if kernel == "rbf" else None
    for A, B in ((X, None), (X, Y)):
        K = gm.gram(A, B, kernel=kernel, bandwidth=bw, backend=backend)
        assert K.dtype == np.float64
        want = ref.ref_gram(A, B, kernel=kernel, bandwidth=bw)
        np.testing.assert_allclose(K, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dx,dy", [(np.float32, np.float64), (np.float64, np.float32)])
def test_gram_mixed_dtypes_promote(backend, dx, dy):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(9, 4)).astype(dx)
    Y = rng.normal(size=(5, 4)).astype(dy)
    K = gm.gram(X, Y, kernel="cosine", backend=backend)
    assert K.dtype == np.float64
    # the result is float64 but a float32 operand limits the accuracy: tolerance in float32 terms
    tol = ref.gram_tol(X, Y, kernel="cosine", dtype=np.float32)
    assert_within(K, ref.ref_gram(X, Y, kernel="cosine"), tol, "mixed")


def test_gaussian_is_an_alias_of_rbf(backend):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20, 3))
    np.testing.assert_array_equal(
        gm.gram(X, kernel="gaussian", bandwidth=1.3, backend=backend),
        gm.gram(X, kernel="rbf", bandwidth=1.3, backend=backend),
    )


def test_gram_hand_computed_values(backend):
    """A few entries worked out by hand, independent of the reference module."""
    X = np.array([[3.0, 4.0], [0.0, 1.0]])
    Y = np.array([[1.0, 0.0]])
    np.testing.assert_allclose(gm.gram(X, Y, kernel="linear", backend=backend), [[3.0], [0.0]])
    np.testing.assert_allclose(gm.gram(X, Y, kernel="cosine", backend=backend), [[0.6], [0.0]], atol=1e-15)
    # |x1 - y|^2 = 4 + 16 = 20, |x2 - y|^2 = 2
    np.testing.assert_allclose(
        gm.gram(X, Y, kernel="rbf", bandwidth=2.0, backend=backend),
        [[math.exp(-20 / 8)], [math.exp(-2 / 8)]],
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        gm.gram(X, Y, kernel="laplacian", bandwidth=2.0, backend=backend),
        [[math.exp(-math.sqrt(20) / 2)], [math.exp(-math.sqrt(2) / 2)]],
        rtol=1e-12,
    )
    # polynomial defaults: gamma = 1/d = 1/2, coef0 = 1, degree = 3
    np.testing.assert_allclose(
        gm.gram(X, Y, kernel="polynomial", backend=backend), [[(1.5 + 1) ** 3], [1.0]], rtol=1e-12
    )
    np.testing.assert_allclose(
        gm.gram(X, Y, kernel="polynomial", gamma=2.0, coef0=0.5, degree=2, backend=backend),
        [[(6.5) ** 2], [0.25]],
        rtol=1e-12,
    )


# --------------------------------------------------------------------------------------------
# bandwidth heuristic
# --------------------------------------------------------------------------------------------


def _median_tol(X, dtype):
    """Bound on the error of a computed median distance: the median is 1-Lipschitz in the sup norm
    of the distances, each of which errs by at most min(sqrt(e), e / D) (see reference.gram_tol)."""
    Xf = np.asarray(X, dtype=np.float64)
    u = float(np.finfo(dtype).eps)
    g = 8 * (Xf.shape[1] + 4) * u
    nx = np.sqrt(np.sum(Xf * Xf, axis=1))
    e2 = g * (np.add.outer(nx, nx) + 2 * nx.max()) ** 2  # allows for a shift of the origin
    D = ref.ref_pairwise_distances(Xf)
    with np.errstate(divide="ignore", invalid="ignore"):
        ed = np.minimum(np.sqrt(e2), np.where(D > 0, e2 / D, np.inf))
    return float(np.max(ed)) + 8 * u * float(np.max(D))


@st.composite
def mostly_duplicates(draw):
    """A few arbitrary rows plus r copies of one row, shuffled, with r large enough that more than
    half of the pairs are exact duplicates (then both middle distances, so the median, are 0)."""
    others = draw(matrices(max_n=6))
    dtype, d = others.dtype, others.shape[1]
    base = draw(matrices(n=1, d=d, dtype=dtype))
    k = others.shape[0]
    r_min = next(r for r in range(2, 100) if r * (r - 1) > (r + k) * (r + k - 1) / 2)
    r = draw(st.integers(r_min, r_min + 10))
    X = np.vstack([others, np.repeat(base, r, axis=0)])
    perm = draw(st.permutations(range(X.shape[0])))
    return X[list(perm)]


@given(X=mostly_duplicates(), kernel=st.sampled_from(["rbf", "laplacian"]))
def test_default_bandwidth_of_mostly_duplicate_rows_is_an_error(backend, X, kernel):
    with pytest.raises(ValueError):
        ref.ref_median_bandwidth(X)  # the premise: the exact median is 0
    with pytest.raises(ValueError, match="bandwidth"):
        gm.gram(X, kernel=kernel, backend=backend)


@settings(suppress_health_check=[HealthCheck.filter_too_much])  # median-0 and round-off draws are skipped
@given(X=matrices(min_n=2), kernel=st.sampled_from(["rbf", "laplacian"]))
def test_gram_default_bandwidth_is_median_distance(backend, X, kernel):
    try:
        sigma = ref.ref_median_bandwidth(X)
    except ValueError:
        assume(False)  # median 0: the test above
    dsig = _median_tol(X, X.dtype)
    # ambiguous cases (the median is at round-off level) are excluded: there a correct engine may
    # legitimately find 0 or a tiny positive value
    assume(sigma > 100 * dsig)
    K = gm.gram(X, kernel=kernel, backend=backend)
    want = ref.ref_gram(X, kernel=kernel, bandwidth=sigma)
    D = ref.ref_pairwise_distances(X)
    # the bandwidth error propagates: d k / d sigma = k D^2 / sigma^3 (rbf), k D / sigma^2 (laplacian)
    dk = want * (D**2 / sigma**3 if kernel == "rbf" else D / sigma**2) * dsig
    tol = ref.gram_tol(X, kernel=kernel, bandwidth=sigma, dtype=X.dtype) + 2 * dk
    assert_within(K, want, tol, f"gram[{kernel}, heuristic bandwidth]")
    # the value chosen is reported back by the scores
    s = gm.rke(X, kernel=kernel, backend=backend)
    assert s.bandwidth == pytest.approx(sigma, rel=0, abs=dsig)


def test_default_bandwidth_on_more_than_1000_rows(backend):
    """n > 1000: a subsample is used; for a regular simplex every pair is at distance c sqrt(2), so the
    median is the same for every subsample, and the RKE of the resulting rbf matrix is analytic."""
    n, c = 1100, 3.0
    X = c * np.eye(n)
    s = gm.rke(X, kernel="rbf", backend=backend)
    sigma = c * math.sqrt(2)
    assert s.bandwidth == pytest.approx(sigma, rel=1e-12)
    off = math.exp(-0.5)  # |x - y|^2 / (2 sigma^2) = 2 c^2 / (4 c^2)
    assert float(s) == pytest.approx(n**2 / (n + n * (n - 1) * off**2), rel=1e-10)


def test_default_bandwidth_subsample_is_seeded_and_representative(backend):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 20))
    a = gm.rke(X, kernel="rbf", backend=backend).bandwidth
    b = gm.rke(X, kernel="rbf", backend=backend).bandwidth
    assert a == b  # seed fixed at 0: deterministic
    # the median of 20-d Gaussian pairwise distances is concentrated: a 1000-row subsample's median is
    # within a fraction of a percent of the full one (2 % allowed)
    full = float(np.median(ref.ref_pairwise_distances(X)[np.triu_indices(1500, 1)]))
    assert a == pytest.approx(full, rel=0.02)


# --------------------------------------------------------------------------------------------
# kernel_sum
# --------------------------------------------------------------------------------------------


@given(data=st.data())
def test_kernel_sum_matches_reference(backend, data):
    kernel, bw, params = data.draw(kernel_setups())
    X, Y = data.draw(xy_pairs(kernel))
    positive = kernel in ("rbf", "gaussian", "laplacian")
    power = data.draw(st.sampled_from([1, 2, 3, 0.5, 1.5] if positive else [1, 2, 3]))
    Xl = with_layout(X, data.draw(st.sampled_from(LAYOUTS)))
    got = gm.kernel_sum(Xl, Y, kernel=kernel, bandwidth=bw, power=power, backend=backend, **params)
    assert isinstance(got, float)
    want = ref.ref_kernel_sum(X, Y, kernel=kernel, bandwidth=bw, power=power, **params)
    tol = ref.kernel_sum_tol(X, Y, kernel=kernel, bandwidth=bw, power=power, dtype=_result_dtype(X, Y), **params)
    assert abs(got - want) <= tol, (got, want, tol)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_kernel_sum_accumulates_in_float64(backend, dtype):
    """n = 4000 (1.6e7 terms ~ 1 each): a float32 accumulator would lose ~1e-3 of the sum.

    Analytic values: sum_ij x_i.x_j = |sum_i x_i|^2 and sum_ij (x_i.x_j)^2 = ||X^T X||_F^2.  Each
    term has relative error <= (d + 4) u (positive data, no cancellation), float64 accumulation adds
    ~1e-12, so the bound is 8 (d + 4) u relative (u of the input dtype) plus 1e-9.
    """
    rng = np.random.default_rng(1)
    n, d = 4000, 3
    X = (1.0 + 0.1 * rng.random((n, d))).astype(dtype)
    Xf = X.astype(np.float64)
    u = float(np.finfo(dtype).eps)
    rtol = 8 * (d + 4) * u + 1e-9
    s = Xf.sum(axis=0)
    assert gm.kernel_sum(X, kernel="linear", backend=backend) == pytest.approx(float(s @ s), rel=rtol)
    C = Xf.T @ Xf
    assert gm.kernel_sum(X, kernel="linear", power=2, backend=backend) == pytest.approx(
        float(np.sum(C * C)), rel=2 * rtol
    )
    Z = Xf / np.linalg.norm(Xf, axis=1, keepdims=True)
    t = Z.sum(axis=0)
    assert gm.kernel_sum(X, kernel="cosine", backend=backend) == pytest.approx(float(t @ t), rel=rtol)


# --------------------------------------------------------------------------------------------
# backends against each other, on sizes that span several tiles of the C++ engine
# --------------------------------------------------------------------------------------------

BIG_CASES = [
    # (n, m, d, kernel, bandwidth)
    (300, None, 17, "cosine", None),
    (777, 513, 33, "rbf", 6.0),
    (1100, None, 8, "laplacian", 3.0),
    (640, 1201, 20, "linear", None),
    (500, 300, 12, "polynomial", None),
    (1500, None, 64, "rbf", 10.0),
]


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("n,m,d,kernel,bw", BIG_CASES)
def test_backends_agree_on_gram_and_kernel_sum(both_backends, n, m, d, kernel, bw, dtype):
    rng = np.random.default_rng(n + d)
    X = rng.normal(size=(n, d)).astype(dtype)
    Y = None if m is None else rng.normal(size=(m, d)).astype(dtype)
    Kc = gm.gram(X, Y, kernel=kernel, bandwidth=bw, backend="cpu")
    Kn = gm.gram(X, Y, kernel=kernel, bandwidth=bw, backend="numpy")
    assert Kc.dtype == Kn.dtype == dtype
    tol = ref.gram_tol(X, Y, kernel=kernel, bandwidth=bw, dtype=dtype)
    want = ref.ref_gram(X, Y, kernel=kernel, bandwidth=bw)
    assert_within(Kc, want, tol, "cpu")
    assert_within(Kn, want, tol, "numpy")
    assert_within(Kc, Kn, 2 * tol, "cpu vs numpy")
    for power in (1, 2):
        sc = gm.kernel_sum(X, Y, kernel=kernel, bandwidth=bw, power=power, backend="cpu")
        sn = gm.kernel_sum(X, Y, kernel=kernel, bandwidth=bw, power=power, backend="numpy")
        bound = 2 * float(np.sum(ref.power_tol(want, tol, power))) + 1e-12 * float(np.sum(np.abs(want) ** power))
        assert abs(sc - sn) <= bound, (power, sc, sn, bound)


def test_backends_agree_on_default_bandwidth(both_backends):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(900, 10))
    sc = gm.rke(X, backend="cpu")
    sn = gm.rke(X, backend="numpy")
    assert sc.bandwidth == pytest.approx(sn.bandwidth, rel=1e-10)
    assert sc.bandwidth == pytest.approx(ref.ref_median_bandwidth(X), rel=1e-10)
    assert float(sc) == pytest.approx(float(sn), rel=1e-9)


# --------------------------------------------------------------------------------------------
# backend selection
# --------------------------------------------------------------------------------------------


def test_backends_listing():
    info = gm.backends()
    assert {"cpu", "numpy"} <= set(info)
    for name, (available, reason) in info.items():
        assert isinstance(available, bool), name
        assert isinstance(reason, str), name
    assert info["numpy"][0] is True  # the pure NumPy fallback is always there


def test_backend_argument_and_environment_select_the_backend(backend, monkeypatch):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 4))
    assert gm.vendi(X, backend=backend).backend == backend
    monkeypatch.setenv("GENMETRICS_BACKEND", backend)
    s = gm.vendi(X)
    assert s.backend == backend
    assert float(s) == pytest.approx(ref.ref_vendi(X), rel=1e-10)
