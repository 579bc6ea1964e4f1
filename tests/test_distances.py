"""fd, frechet_from_statistics, gaussian_kl, mmd, kid: against the float64 references of
tests/reference_distances.py, the closed forms of Gaussians, and the argument contract.

Tolerances.  The Gaussian fits are computed in float64 whatever the input dtype (float32 values are exact in
float64), so float32 and float64 inputs get the same bounds: ~1e-9 relative to the terms of the formula
(||mu||^2 and the traces), from the float64 sums and eigensolvers.  Where Sigma_1 Sigma_2 is singular (n <= d)
the square roots of round-off eigenvalues (~eps ||Sigma||^2) would add up to d sqrt(eps) ||Sigma||: fd takes its QR
route there (exact to ~eps, tested against closed forms and mpmath), frechet_from_statistics cannot, and the
bound says so.  MMD and KID are compared within ``reference_distances.ref_mmd_tol``:
the element-wise Gram bounds of reference.gram_tol (input precision: the kernel values are computed in the
input's dtype) carried through the three sums.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference as ref
import reference_distances as rd
from conftest import LAYOUTS, bandwidths, fix_small_rows, matrices, with_layout
from genmetrics import Score
from genmetrics.distances import MAX_KID_SUBSETS, MMD_PRESETS, fd, frechet_from_statistics, gaussian_kl, kid, mmd

EPS = float(np.finfo(np.float64).eps)
MMD_KERNELS = ("rbf", "gaussian", "laplacian", "polynomial", "cosine", "linear")
REAL_, FAKE_ = r"\breal\b", r"\bfake\b"


def gaussian_sets(n=200, m=150, d=6, shift=0.5, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, d)) / math.sqrt(d)
    X = rng.standard_normal((n, d)) @ A
    Y = rng.standard_normal((m, d)) @ (A + 0.3 * np.eye(d)) + shift
    return X.astype(dtype), Y.astype(dtype)


def fd_tol(X, Y):
    """Bound on |fd - reference|: 1e-9 of the formula's terms, plus d sqrt(eps) ||Sigma|| when singular
    (computed on the sets normalised by a power of two c, then divided by c^2, as rd.ref_fd does)."""
    c = rd.power_of_two_normaliser(X, Y)
    mu1, S1 = rd.ref_mean_cov(rd.f64(X) * c)
    mu2, S2 = rd.ref_mean_cov(rd.f64(Y) * c)
    d = S1.shape[0]
    terms = float(mu1 @ mu1 + mu2 @ mu2 + np.trace(S1) + np.trace(S2))
    tol = 1e-9 * terms + 1e-300
    if min(X.shape[0], Y.shape[0]) <= d or min(
        np.linalg.eigvalsh(S1).min(), np.linalg.eigvalsh(S2).min()
    ) <= 1e-8 * max(np.abs(S1).max(), np.abs(S2).max(), 1e-300):
        tol += 8 * d * math.sqrt(EPS) * (np.linalg.norm(S1, 2) + np.linalg.norm(S2, 2))
    return tol / (c * c)


@st.composite
def pairs(draw, min_n=2, max_n=40, max_d=8, bound=10.0):
    """(real, fake) of one width, each in its own dtype and memory layout."""
    d = draw(st.integers(1, max_d))
    X = draw(matrices(d=d, min_n=min_n, max_n=max_n, bound=bound))
    Y = draw(matrices(d=d, min_n=min_n, max_n=max_n, bound=bound))
    return with_layout(X, draw(st.sampled_from(LAYOUTS))), with_layout(Y, draw(st.sampled_from(LAYOUTS)))


# --------------------------------------------------------------------------------------------
# Fréchet distance
# --------------------------------------------------------------------------------------------


@given(xy=pairs())
def test_fd_matches_reference(backend, xy):
    X, Y = xy
    X0, Y0 = X.copy(), Y.copy()
    got = fd(X, Y, backend=backend)
    assert type(got) is Score and got >= 0
    want = rd.ref_fd(X, Y)
    assert abs(got - max(want, 0.0)) <= fd_tol(X, Y), (got, want)
    assert np.array_equal(X, X0) and np.array_equal(Y, Y0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fd_matches_torchmetrics_manner(backend, dtype):
    """sum sqrt(eigvals(S1 S2)).real with a general eigensolver (torchmetrics' way), rtol 1e-6."""
    for seed in range(3):
        X, Y = gaussian_sets(n=300, m=250, d=12, seed=seed, dtype=dtype)
        want = rd.ref_fd(X, Y, method="eigvals")
        assert fd(X, Y, backend=backend) == pytest.approx(want, rel=1e-6)
        assert rd.ref_fd(X, Y, method="symmetric") == pytest.approx(want, rel=1e-9)


def test_fd_identical_sets_is_zero(backend):
    X, _ = gaussian_sets(n=100, d=5)
    mu, S = rd.ref_mean_cov(X)
    assert 0.0 <= fd(X, X, backend=backend) <= 1e-9 * (mu @ mu + np.trace(S))
    # singular covariances (n <= d): the sqrt(eps) floor, clipped at 0, never negative or NaN
    Z = np.random.default_rng(1).standard_normal((5, 12))
    assert 0.0 <= fd(Z, Z, backend=backend) <= 8 * 12 * math.sqrt(EPS) * 2 * np.linalg.norm(np.cov(Z.T), 2)


def test_fd_is_symmetric_and_scales_quadratically(backend):
    X, Y = gaussian_sets()
    base = fd(X, Y, backend=backend)
    assert fd(Y, X, backend=backend) == pytest.approx(base, rel=1e-10)
    for c in (2.0**-500, 2.0**-40, 2.0**40, 2.0**300):  # exact powers of two: FD(cX, cY) = c^2 FD(X, Y)
        assert fd(X * c, Y * c, backend=backend) == pytest.approx(base * c * c, rel=1e-10)
    # a common shift changes nothing (the moments are centred), even far from the origin
    assert fd(X + 1e6, Y + 1e6, backend=backend) == pytest.approx(base, rel=1e-6)


def test_fd_of_gaussians_with_known_moments(backend):
    """Sample statistics fixed exactly (data_with_moments): FD equals the closed form of those moments."""
    d = 5
    rng = np.random.default_rng(3)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    L = rng.standard_normal((d, d))
    c = 2.25  # Sigma_2 = c Sigma_1: tr sqrt(Sigma_1 Sigma_2) = sqrt(c) tr Sigma_1
    X = rd.data_with_moments(mu1, L, 400, seed=1)
    Y = rd.data_with_moments(mu2, math.sqrt(c) * L, 300, seed=2)
    S = L @ L.T
    closed = float((mu1 - mu2) @ (mu1 - mu2) + (1 - math.sqrt(c)) ** 2 * np.trace(S))
    assert fd(X, Y, backend=backend) == pytest.approx(closed, rel=1e-9)


def test_fd_of_large_gaussian_samples(backend):
    """Samples of N(mu_1, diag a), N(mu_2, diag b): FD = the closed form of the sample statistics (deterministic),
    and near the population value ||mu_1 - mu_2||^2 + sum (sqrt a - sqrt b)^2."""
    rng = np.random.default_rng(7)
    d, n = 4, 20000
    mu1, mu2 = np.zeros(d), np.array([1.0, -0.5, 0.0, 2.0])
    a, b = np.array([1.0, 2.0, 0.5, 1.0]), np.array([4.0, 0.5, 0.5, 1.0])
    X = mu1 + rng.standard_normal((n, d)) * np.sqrt(a)
    Y = mu2 + rng.standard_normal((n, d)) * np.sqrt(b)
    got = fd(X, Y, backend=backend)
    assert got == pytest.approx(rd.ref_fd(X, Y), rel=1e-10)
    population = float((mu1 - mu2) @ (mu1 - mu2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    assert got == pytest.approx(population, abs=0.1)


def _hadamard(d):
    """Sylvester's Hadamard matrix divided by sqrt(d) (d a power of 4): orthogonal, entries +-2^-k, so products
    with small integers are exact in float64."""
    H = np.ones((1, 1))
    while H.shape[0] < d:
        H = np.block([[H, H], [H, -H]])
    return H / math.sqrt(d)


@st.composite
def singular_commuting_sets(draw):
    """(X, Y, closed form): rows mu +- a_i e_i Q (axes with a_i != 0, each pair ``reps`` times), Q a Hadamard
    rotation. Everything is exact in float64: the means are mu, the covariances Q^T diag(s) Q with
    s_i = 2 reps a_i^2 / (n - 1), zero on the other axes (rank < d, and n <= d when few axes are used), so
    FD = ||mu_1 - mu_2||^2 + sum_i (sqrt(s1_i) - sqrt(s2_i))^2."""
    d = draw(st.sampled_from([4, 16]))
    Q = _hadamard(d)
    out = []
    for _ in range(2):
        a = np.array(draw(st.lists(st.integers(0, 8), min_size=d, max_size=d)), dtype=np.float64)
        if not a.any():
            a[draw(st.integers(0, d - 1))] = 1.0
        a[draw(st.integers(0, d - 1))] = 0.0  # singular, at least one axis
        if not a.any():
            a[0] = 3.0
            a[1] = 0.0
        reps = draw(st.integers(1, 3))
        mu = np.array(draw(st.lists(st.integers(-8, 8), min_size=d, max_size=d)), dtype=np.float64) / 4
        axes = np.flatnonzero(a)
        Z = np.zeros((2 * reps * axes.size, d))
        for j, i in enumerate(np.repeat(axes, reps)):
            Z[2 * j, i], Z[2 * j + 1, i] = a[i], -a[i]
        n = Z.shape[0]
        out.append((mu + Z @ Q, mu, 2 * reps * a * a / (n - 1)))
    (X, mu1, s1), (Y, mu2, s2) = out
    closed = float((mu1 - mu2) @ (mu1 - mu2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2))
    terms = float((mu1 - mu2) @ (mu1 - mu2) + s1.sum() + s2.sum())
    return X, Y, closed, terms


@given(case=singular_commuting_sets())
def test_fd_of_singular_covariances_is_accurate(backend, case):
    """Singular Sigma_1 Sigma_2 (n <= d, or n > d with null directions): FD to ~eps of the formula's terms, not the
    sqrt(eps) |Sigma| of square roots of round-off eigenvalues (issue 10, item 18: ~5e-8 here before)."""
    X, Y, closed, terms = case
    assert fd(X, Y, backend=backend) == pytest.approx(closed, rel=0, abs=1e-13 * terms)
    assert fd(Y, X, backend=backend) == pytest.approx(closed, rel=0, abs=1e-13 * terms)


DIGITS_CASES = {  # (rows of the first set, rows of the second, columns): all singular covariances
    "30 vs 30 rows, 64 features (n < d)": (slice(0, 30), slice(30, 60), slice(None)),
    "60 vs 60 rows, first 16 pixels (n > d, constant pixels)": (slice(0, 60), slice(60, 120), slice(0, 16)),
    "class 3 vs class 8, first 24 pixels": ("3", "8", slice(0, 24)),
}


@functools.cache
def _digits_case(case):
    """(X, Y, the mpmath FD, ||mu_1 - mu_2||^2 + tr S1 + tr S2): the reference takes seconds, once per case."""
    datasets = pytest.importorskip("sklearn.datasets")
    data, target = datasets.load_digits(return_X_y=True)
    first, second, columns = DIGITS_CASES[case]

    def pick(rows):
        return data[target == int(rows)] if isinstance(rows, str) else data[rows]

    X, Y = pick(first)[:, columns], pick(second)[:, columns]
    mu1, S1 = rd.ref_mean_cov(X)
    mu2, S2 = rd.ref_mean_cov(Y)
    terms = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(S1) + np.trace(S2))
    return X, Y, float(rd.ref_fd_exact_mpmath(X, Y)), terms


@pytest.mark.parametrize("case", list(DIGITS_CASES))
def test_fd_on_digits_against_mpmath(backend, case):
    """scikit-learn's digits (integer pixels, exactly singular covariances) against a 30-digit mpmath evaluation
    of the formula from the exact moments: within 1e-13 of the terms (issue 10, item 18: the eigenvalue route of
    genmetrics 0.1 was off by 1e-7 to 1e-9 of them here, pytorch-fid's sqrtm by up to 1e-8)."""
    pytest.importorskip("mpmath")
    X, Y, want, terms = _digits_case(case)
    for A, B in ((X, Y), (X.astype(np.float32), Y.astype(np.float32))):
        assert fd(A, B, backend=backend) == pytest.approx(want, rel=0, abs=1e-13 * terms)


def test_frechet_from_statistics_closed_forms():
    rng = np.random.default_rng(0)
    d = 6
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    a, b = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    for singular in (False, True):
        if singular:
            b[0] = 0.0
        closed = float((mu1 - mu2) @ (mu1 - mu2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
        assert frechet_from_statistics(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(closed, rel=1e-12)
        # commuting covariances in any basis: the same value; when one is singular, within the sqrt(eps) floor
        # of the documented round-off (an eigenvalue that should be 0 comes out ~eps ||S||^2)
        S1, S2 = Q @ np.diag(a) @ Q.T, Q @ np.diag(b) @ Q.T
        floor = 2 * d * math.sqrt(EPS) * (a.max() + b.max()) if singular else 0.0
        got = frechet_from_statistics(mu1, S1, mu2, S2)
        assert got == pytest.approx(closed, rel=1e-9, abs=floor)
        assert got == pytest.approx(rd.ref_frechet_stats(mu1, S1, mu2, S2), rel=1e-9, abs=floor)
    assert frechet_from_statistics(mu1, S1, mu1, S1) == pytest.approx(0.0, abs=1e-7)
    # d = 1: (mu1 - mu2)^2 + (s1 - s2)^2
    assert frechet_from_statistics([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0, rel=1e-14)


def test_frechet_from_statistics_checks_its_arguments():
    eye = np.eye(3)
    with pytest.raises(ValueError, match="mu1"):
        frechet_from_statistics(np.zeros((3, 1)), eye, np.zeros(3), eye)
    with pytest.raises(ValueError, match="sigma2"):
        frechet_from_statistics(np.zeros(3), eye, np.zeros(3), np.eye(4))
    with pytest.raises(ValueError, match="mu2"):
        frechet_from_statistics(np.zeros(3), eye, np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="sigma1"):
        frechet_from_statistics(np.zeros(3), np.full((3, 3), np.nan), np.zeros(3), eye)
    with pytest.raises(ValueError, match="sigma1.*symmetric"):
        frechet_from_statistics(np.zeros(3), np.triu(np.ones((3, 3))), np.zeros(3), eye)
    with pytest.raises(ValueError, match="sigma2.*positive semi-definite"):
        frechet_from_statistics(np.zeros(3), eye, np.zeros(3), -eye)


# --------------------------------------------------------------------------------------------
# Gaussian KL
# --------------------------------------------------------------------------------------------


def test_gaussian_kl_matches_reference(backend):
    for seed, dtype in ((0, np.float64), (1, np.float32), (2, np.float64)):
        P, Q = gaussian_sets(n=120, m=90, d=7, seed=seed, dtype=dtype)
        for p, q in ((P, Q), (Q, P)):
            p0, q0 = p.copy(), q.copy()
            got = gaussian_kl(q, p, backend=backend)
            assert type(got) is Score
            assert got == pytest.approx(rd.ref_gaussian_kl(p, q), rel=1e-9)
            assert np.array_equal(p, p0) and np.array_equal(q, q0)
        assert gaussian_kl(with_layout(Q, "reversed"), with_layout(P, "cols"), backend=backend) == pytest.approx(
            rd.ref_gaussian_kl(P, Q), rel=1e-9
        )


def test_gaussian_kl_closed_forms(backend):
    """Data with exactly known sample moments: 1-D and diagonal closed forms."""
    # 1-D: log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2
    m1, s1, m2, s2 = 0.5, 1.5, -1.0, 2.0
    P = rd.data_with_moments([m1], [[s1]], 50, seed=1)
    Q = rd.data_with_moments([m2], [[s2]], 80, seed=2)
    closed = math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    assert gaussian_kl(Q, P, backend=backend) == pytest.approx(closed, rel=1e-10)
    # diagonal: the sum of the 1-D terms
    rng = np.random.default_rng(4)
    d = 5
    mp, mq = rng.standard_normal(d), rng.standard_normal(d)
    sp, sq = rng.uniform(0.5, 2.0, d), rng.uniform(0.5, 2.0, d)
    P = rd.data_with_moments(mp, np.diag(sp), 60, seed=5)
    Q = rd.data_with_moments(mq, np.diag(sq), 70, seed=6)
    closed = float(np.sum(np.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5))
    assert gaussian_kl(Q, P, backend=backend) == pytest.approx(closed, rel=1e-10)
    # the VAE regulariser: KL(N(mu, diag s^2) || N(0, I)) = 1/2 sum (s^2 + mu^2 - 1 - ln s^2)
    I = rd.data_with_moments(np.zeros(d), np.eye(d), 70, seed=7)
    vae = 0.5 * float(np.sum(sp**2 + mp**2 - 1 - np.log(sp**2)))
    assert gaussian_kl(I, P, backend=backend) == pytest.approx(vae, rel=1e-10)


def test_gaussian_kl_identical_and_scale_invariant(backend):
    P, Q = gaussian_sets(n=80, m=60, d=4)
    assert 0.0 <= gaussian_kl(P, P, backend=backend) <= 1e-12
    base = gaussian_kl(Q, P, backend=backend)
    assert base > 0
    for c in (2.0**-600, 2.0**-30, 2.0**30, 2.0**600):  # beyond float64's range of products without rescaling
        assert gaussian_kl(Q * c, P * c, backend=backend) == pytest.approx(base, rel=1e-9)


def test_gaussian_kl_singular_covariances_need_ridge(backend):
    rng = np.random.default_rng(0)
    wide = rng.standard_normal((5, 8))  # n <= d
    ok = rng.standard_normal((40, 8))
    with pytest.raises(ValueError, match=r"\bfake\b.*rank.*ridge"):
        gaussian_kl(ok, wide, backend=backend)
    with pytest.raises(ValueError, match=r"\breal\b.*rank.*ridge"):
        gaussian_kl(wide, ok, backend=backend)
    dup = np.column_stack([ok, ok[:, :1]])  # a duplicated column
    ok9 = rng.standard_normal((50, 9))
    with pytest.raises(ValueError, match=r"\breal\b.*singular.*ridge"):
        gaussian_kl(dup, ok9, backend=backend)
    const = ok9.copy()
    const[:, 3] = 7.0  # a constant column
    with pytest.raises(ValueError, match=r"\bfake\b.*singular.*ridge"):
        gaussian_kl(ok9, const, backend=backend)
    # ridge makes them invertible: the reference with Sigma + ridge I
    for p, q in ((wide, ok), (ok9, dup), (const, ok9)):
        got = gaussian_kl(q, p, ridge=0.1, backend=backend)
        assert math.isfinite(got) and got == pytest.approx(rd.ref_gaussian_kl(p, q, ridge=0.1), rel=1e-8)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="ridge"):
            gaussian_kl(ok, ok, ridge=bad, backend=backend)
    with pytest.raises(TypeError, match="ridge"):
        gaussian_kl(ok, ok, ridge="0.1", backend=backend)


# --------------------------------------------------------------------------------------------
# MMD
# --------------------------------------------------------------------------------------------


@st.composite
def mmd_setups(draw):
    kernel = draw(st.sampled_from(MMD_KERNELS))
    X, Y = draw(pairs(min_n=2, max_n=30, bound=5.0))
    if kernel == "cosine":
        X, Y = fix_small_rows(X), fix_small_rows(Y)
    bw = draw(bandwidths) if kernel in ("rbf", "gaussian", "laplacian") else None
    params = {}
    if kernel == "polynomial" and draw(st.booleans()):
        params = dict(gamma=draw(st.floats(0.01, 1.0)), coef0=draw(st.floats(0.0, 2.0)), degree=draw(st.integers(1, 4)))
    return X, Y, kernel, bw, params


@given(setup=mmd_setups(), unbiased=st.booleans())
def test_mmd_matches_reference(backend, setup, unbiased):
    X, Y, kernel, bw, params = setup
    # all-tiny sets (max |x| < 2^-500) hit the shared engine's bandwidth rescaling bug on the numpy backend:
    X0, Y0 = X.copy(), Y.copy()
    got = mmd(X, Y, kernel=kernel, bandwidth=bw, unbiased=unbiased, backend=backend, **params)
    assert isinstance(got, float) and math.isfinite(got)
    assert got.method == ("unbiased" if unbiased else "biased") and got.backend == backend
    want = rd.ref_mmd(X, Y, kernel=kernel, bandwidth=bw, unbiased=unbiased, **params)
    tol = rd.ref_mmd_tol(X, Y, kernel=kernel, bandwidth=bw, unbiased=unbiased, **params)
    assert abs(float(got) - want) <= tol, (float(got), want, tol)
    assert np.array_equal(X, X0) and np.array_equal(Y, Y0)


@pytest.mark.parametrize("kernel", MMD_KERNELS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mmd_biased_unbiased_and_identical_sets(backend, kernel, dtype):
    X, Y = gaussian_sets(n=60, m=45, d=5, dtype=dtype)
    bw = 2.0 if kernel in ("rbf", "gaussian", "laplacian") else None
    for unbiased in (False, True):
        got = mmd(X, Y, kernel=kernel, bandwidth=bw, unbiased=unbiased, backend=backend)
        want = rd.ref_mmd(X, Y, kernel=kernel, bandwidth=bw, unbiased=unbiased)
        assert abs(float(got) - want) <= rd.ref_mmd_tol(X, Y, kernel=kernel, bandwidth=bw, unbiased=unbiased)
    # identical sets: the biased estimate is 0 up to rounding (the unbiased one is compared above and in KID)
    same = mmd(X, X, kernel=kernel, bandwidth=bw, backend=backend)
    assert abs(float(same)) <= rd.ref_mmd_tol(X, X, kernel=kernel, bandwidth=bw)


def test_mmd_tiny_embeddings_rbf():
    """The fallback once squared the rescaled bandwidth (up to 2^650) and overflowed."""
    X, Y = np.zeros((2, 1)), np.full((2, 1), 3e-196)  # k = exp(-(3e-196)^2 / 2) = 1 for every pair: MMD^2 = 0
    assert float(mmd(X, Y, bandwidth=1.0, backend="cpu")) == 0.0
    assert float(mmd(X, Y, bandwidth=1.0, backend="numpy")) == 0.0


def test_mmd_bandwidth_heuristic_on_real(backend):
    X, Y = gaussian_sets(n=50, m=40, d=3)
    got = mmd(X, Y, backend=backend)
    assert got.kernel == "rbf" and got.bandwidth == pytest.approx(ref.ref_median_bandwidth(X), rel=1e-12)
    assert got.bandwidth != pytest.approx(ref.ref_median_bandwidth(Y), rel=1e-6)
    assert abs(float(got) - rd.ref_mmd(X, Y)) <= rd.ref_mmd_tol(X, Y)


def test_mmd_cmmd_preset(backend):
    assert dict(MMD_PRESETS["cmmd"]) == {"kernel": "rbf", "bandwidth": 10.0, "unbiased": False, "scale": 1000.0}
    X, Y = gaussian_sets(n=70, m=50, d=8, shift=2.0)
    got = mmd(X, Y, preset="cmmd", backend=backend)
    plain = mmd(X, Y, kernel="rbf", bandwidth=10, unbiased=False, backend=backend)
    assert float(got) == pytest.approx(1000.0 * float(plain), rel=1e-14)
    assert got.bandwidth == 10.0 and got.method == "biased"
    assert abs(float(got) - rd.ref_mmd(X, Y, bandwidth=10.0, scale=1000.0)) <= rd.ref_mmd_tol(
        X, Y, bandwidth=10.0, scale=1000.0
    )
    # arguments that agree with the preset are accepted
    assert float(
        mmd(X, Y, preset="cmmd", kernel="gaussian", bandwidth=10, scale=1000, unbiased=False, backend=backend)
    ) == float(got)
    assert float(mmd(X, Y, scale=3.0, backend=backend, bandwidth=10)) == pytest.approx(3 * float(plain), rel=1e-14)


def test_mmd_preset_conflicts_and_bad_arguments():
    X, Y = gaussian_sets(n=20, m=20, d=3)
    for kw, name in (
        (dict(bandwidth=5.0), "bandwidth"),
        (dict(scale=1.0), "scale"),
        (dict(kernel="linear"), "kernel"),
        (dict(unbiased=True), "unbiased"),
    ):
        with pytest.raises(ValueError, match=rf"\b{name}\b.*cmmd"):
            mmd(X, Y, preset="cmmd", **kw)
    with pytest.raises(ValueError, match="preset"):
        mmd(X, Y, preset="fid")
    with pytest.raises(TypeError, match="gamma"):
        mmd(X, Y, preset="cmmd", gamma=0.1)
    with pytest.raises(ValueError, match="kernel"):
        mmd(X, Y, kernel="sigmoid")
    with pytest.raises(TypeError, match="kernel"):
        mmd(X, Y, kernel=3)
    with pytest.raises(ValueError, match="bandwidth"):
        mmd(X, Y, bandwidth=-1.0)
    with pytest.raises(ValueError, match="scale"):
        mmd(X, Y, scale=0.0)
    with pytest.raises(TypeError, match="unbiased"):
        mmd(X, Y, unbiased="yes")
    with pytest.raises(TypeError, match="degreee"):
        mmd(X, Y, kernel="polynomial", degreee=2)
    with pytest.raises(ValueError, match=REAL_):
        mmd(X[:1], Y, unbiased=True, bandwidth=1.0)
    with pytest.raises(ValueError, match=FAKE_):
        mmd(X, Y[:1], unbiased=True, bandwidth=1.0)
    assert math.isfinite(mmd(X[:1], Y[:1], bandwidth=1.0))  # the biased estimator takes single rows
    Z = X.copy()
    Z[3] = 0
    with pytest.raises(ValueError, match=FAKE_):
        mmd(X, Z, kernel="cosine")
    with pytest.raises(ValueError, match=r"\b(real|fake)\b.*overflow"):
        mmd(np.full((4, 3), 1e30, np.float32), np.ones((4, 3), np.float32), kernel="polynomial")


# --------------------------------------------------------------------------------------------
# KID
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kid_matches_reference_on_the_same_subsets(backend, dtype):
    X, Y = gaussian_sets(n=80, m=70, d=6, dtype=dtype)
    X, Y = with_layout(X, "rows"), with_layout(Y, "F")
    X0, Y0 = X.copy(), Y.copy()
    got = kid(X, Y, subsets=7, subset_size=30, seed=3, backend=backend)
    mean, std, values = rd.ref_kid(X, Y, subsets=7, subset_size=30, seed=3)
    draws = rd.ref_kid_subsets(80, 70, 7, 30, 3)
    tols = np.array([rd.ref_mmd_tol(X[a], Y[b], kernel="polynomial", unbiased=True) for a, b in draws])
    assert got.values.shape == (7,) and np.all(np.abs(got.values - values) <= tols), (got.values, values, tols)
    assert got.mean == pytest.approx(mean, abs=tols.max())
    assert got.std == pytest.approx(np.std(got.values), rel=1e-12)  # population std, ddof = 0
    assert got.std == pytest.approx(std, abs=2 * tols.max())
    assert (got.subsets, got.subset_size, got.degree, got.gamma, got.coef0, got.seed) == (7, 30, 3, 1 / 6, 1.0, 3)
    assert np.array_equal(X, X0) and np.array_equal(Y, Y0)


def test_kid_kernel_parameters_and_reproducibility(backend):
    X, Y = gaussian_sets(n=50, m=60, d=4)
    kw = dict(subsets=5, subset_size=20, degree=2, gamma=0.5, coef0=0.5)
    a = kid(X, Y, seed=11, backend=backend, **kw)
    b = kid(X, Y, seed=11, backend=backend, **kw)
    assert np.array_equal(a.values, b.values) and a.mean == b.mean and a.std == b.std
    assert not np.array_equal(kid(X, Y, seed=12, backend=backend, **kw).values, a.values)
    _, _, want = rd.ref_kid(X, Y, seed=11, **kw)
    np.testing.assert_allclose(a.values, want, rtol=1e-9, atol=1e-12)
    # the whole sets as one subset: every draw is a permutation, so every value is the full unbiased MMD^2
    Y50 = Y[:50]
    full = kid(X, Y50, subsets=3, subset_size=50, backend=backend)
    np.testing.assert_allclose(full.values, rd.ref_mmd(X, Y50, kernel="polynomial", unbiased=True), rtol=1e-9)
    assert full.std <= 1e-12 * max(1.0, abs(full.mean))
    # identical sets: the unbiased estimate has expectation 0 over the draws, and each value is the reference's
    same = kid(X, X, subsets=4, subset_size=25, backend=backend)
    _, _, want = rd.ref_kid(X, X, subsets=4, subset_size=25)
    np.testing.assert_allclose(same.values, want, rtol=1e-9, atol=1e-12)


def test_kid_default_subsets_follow_torchmetrics():
    X, Y = gaussian_sets(n=1000, m=1000, d=3)
    got = kid(X, Y, subsets=2)  # subset_size=1000 by default: whole sets
    assert got.subset_size == 1000 and got.subsets == 2 and got.values.shape == (2,)
    with pytest.raises(ValueError, match="subset_size"):
        kid(X[:999], Y, subsets=2)  # torchmetrics raises too; never clamped


def test_kid_errors():
    X, Y = gaussian_sets(n=30, m=20, d=3)
    with pytest.raises(ValueError, match=r"subset_size.*\bfake\b"):
        kid(X, Y, subset_size=25)
    with pytest.raises(ValueError, match=r"subset_size.*\breal\b"):
        kid(X[:10], Y, subset_size=15)
    with pytest.raises(ValueError, match="subset_size"):
        kid(X, Y, subset_size=1)
    with pytest.raises(ValueError, match=REAL_):
        kid(X[:1], Y, subset_size=2)
    with pytest.raises(ValueError, match=FAKE_):
        kid(X, Y[:1], subset_size=2)
    with pytest.raises(ValueError, match="subsets"):
        kid(X, Y, subsets=0, subset_size=10)
    with pytest.raises(TypeError, match="subsets"):
        kid(X, Y, subsets=2.5, subset_size=10)
    with pytest.raises(ValueError, match="seed"):
        kid(X, Y, subset_size=10, seed=-1)
    with pytest.raises(ValueError, match="gamma"):
        kid(X, Y, subset_size=10, gamma=0.0)
    with pytest.raises(ValueError, match="degree"):
        kid(X, Y, subset_size=10, degree=0)
    with pytest.raises(ValueError, match="coef0"):
        kid(X, Y, subset_size=10, coef0=math.nan)
    with pytest.raises(ValueError, match=r"\b(real|fake)\b.*overflow"):
        kid(np.full((4, 3), 1e30, np.float32), np.ones((4, 3), np.float32), subset_size=3)


def test_kid_subsets_are_capped():
    """Bounded work (issue 10, item 13): subsets above MAX_KID_SUBSETS is a ValueError before any work."""
    X, Y = gaussian_sets(n=30, m=20, d=3)
    with pytest.raises(ValueError, match=r"subsets.*<= 100000"):
        kid(X, Y, subsets=10**30, subset_size=10)
    with pytest.raises(ValueError, match="subsets"):
        kid(X, Y, subsets=MAX_KID_SUBSETS + 1, subset_size=10)


@pytest.mark.parametrize("e", [0, 90, 150])
def test_kid_std_of_huge_values_is_finite_and_exact(backend, e):
    """With coef0 = 0 the polynomial kernel is homogeneous: KID(2^e X, 2^e Y) = 2^(6e) KID(X, Y) exactly (powers of
    two). At e = 90 the subset values are ~1e162, whose squares overflow: the std was inf (issue 10, item 8)."""
    X, Y = gaussian_sets(n=30, m=25, d=3)
    c = 2.0**e
    got = kid(X * c, Y * c, subsets=7, subset_size=12, coef0=0.0, backend=backend)
    mean, std, values = rd.ref_kid(X, Y, subsets=7, subset_size=12, coef0=0.0)
    assert math.isfinite(got.mean) and math.isfinite(got.std)
    assert got.mean == pytest.approx(mean * 2.0 ** (6 * e), rel=1e-9)
    assert got.std == pytest.approx(std * 2.0 ** (6 * e), rel=1e-9)


EXTREMES = {  # (multiplier, dtype)
    "1e200": (1e200, np.float64),
    "1e-300": (1e-300, np.float64),
    "2^-1000": (2.0**-1000, np.float64),
    "float32 3e38": (3e38, np.float32),
    "float32 1e-38": (1e-38, np.float32),
}


@pytest.mark.parametrize("extreme", EXTREMES)
def test_extreme_magnitudes_give_the_answer_or_a_named_error(backend, extreme):
    """FD, Gaussian KL, MMD, KID at the edges of float64/float32 (issue 10, item 8): the value of the unscaled sets
    carried over exactly (FD ~ c^2, KL and rbf MMD scale-free) or a ValueError naming the set, never inf, NaN or an
    OverflowError."""
    c, dtype = EXTREMES[extreme]
    X, Y = gaussian_sets(n=40, m=35, d=3)
    top = max(np.abs(X).max(), np.abs(Y).max())
    A, B = (X / top * c).astype(dtype), (Y / top * c).astype(dtype)  # max |value| = c (rounded to dtype)
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    # the same sets brought near 1 by a power of two (exact): the references are computed there
    k = 2.0 ** -math.frexp(max(np.abs(A64).max(), np.abs(B64).max()))[1]
    An, Bn = A64 * k, B64 * k
    checks = {
        "fd": (lambda: fd(A, B, backend=backend), lambda: rd.ref_fd(An, Bn) / k / k),
        "gaussian_kl": (lambda: gaussian_kl(B, A, backend=backend), lambda: rd.ref_gaussian_kl(An, Bn)),
        "mmd rbf": (lambda: float(mmd(A, B, backend=backend)), lambda: rd.ref_mmd(An, Bn, kernel="rbf")),
        "mmd linear": (
            lambda: float(mmd(A, B, kernel="linear", backend=backend)),
            lambda: rd.ref_mmd(An, Bn, kernel="linear") / k / k,
        ),
        "kid": (lambda: kid(A, B, subsets=3, subset_size=20, backend=backend).std, None),
    }
    for name, (call, reference) in checks.items():
        try:
            got = call()
        except ValueError as exc:
            assert re.search(r"\b(real|fake|p|q)\b", str(exc)), (name, str(exc))
            continue
        assert math.isfinite(got), name
        if reference is not None:
            with np.errstate(over="ignore", under="ignore"):
                want = reference()
            assert got == pytest.approx(want, rel=1e-6, abs=1e-300), name


def test_solver_failures_are_named_value_errors(monkeypatch):
    """LAPACK's LinAlgError (non-convergence) becomes a ValueError naming the argument (issue 10, item 11)."""

    def fail(*args, **kwargs):
        raise np.linalg.LinAlgError("Eigenvalues did not converge")

    X, Y = gaussian_sets(n=40, m=35, d=3)
    mu, S = rd.ref_mean_cov(X)
    calls = {  # which solver each call needs, and the argument its error names
        "eigh": [
            (lambda: gaussian_kl(X, Y, backend="numpy"), "real"),
            (lambda: fd(X, Y, backend="numpy"), "real"),
            (lambda: frechet_from_statistics(mu, S, mu, S), "sigma1"),
        ],
        "eigvalsh": [
            (lambda: gaussian_kl(X, Y, backend="numpy"), "fake"),
            (lambda: fd(X, Y, backend="numpy"), "fake"),
            (lambda: frechet_from_statistics(mu, S, mu, S), "sigma2"),
        ],
        "svd": [(lambda: fd(X[:3], Y[:3], backend="numpy"), "real")],  # n <= d: the QR route's SVD
    }
    for attribute, cases in calls.items():
        with monkeypatch.context() as patch:
            patch.setattr(np.linalg, attribute, fail)
            for call, name in cases:
                with pytest.raises(ValueError, match=rf"\b{name}\b.*did not converge"):
                    call()


# --------------------------------------------------------------------------------------------
# the shared contract: validation, layouts, backends
# --------------------------------------------------------------------------------------------

FUNCTIONS = {
    "fd": lambda X, Y, **kw: fd(X, Y, **kw),
    "gaussian_kl": lambda X, Y, **kw: gaussian_kl(X, Y, ridge=0.1, **kw),
    "mmd": lambda X, Y, **kw: mmd(X, Y, bandwidth=1.0, unbiased=True, **kw),
    "kid": lambda X, Y, **kw: kid(X, Y, subsets=2, subset_size=2, **kw),
}
NAMES: dict = {}  # every function names its data arguments real and fake


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_bad_inputs_are_named(backend, fn):
    f = FUNCTIONS[fn]
    first, second = NAMES.get(fn, (REAL_, FAKE_))
    X, Y = gaussian_sets(n=10, m=8, d=3)
    with pytest.raises(ValueError, match=second):  # mismatched widths
        f(X, Y[:, :2], backend=backend)
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=first):
        f(bad, Y, backend=backend)
    bad = Y.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match=second):
        f(X, bad, backend=backend)
    with pytest.raises(ValueError, match=first):  # a single row: no covariance, no unbiased estimate
        f(X[:1], Y, backend=backend)
    with pytest.raises(ValueError, match=second):
        f(X, Y[:1], backend=backend)
    with pytest.raises(ValueError, match=first):
        f(X[:0], Y, backend=backend)
    with pytest.raises(ValueError, match=first):
        f(X[:, 0], Y, backend=backend)
    with pytest.raises(TypeError, match=first):
        f(np.array([["a"] * 3] * 4), Y, backend=backend)
    with pytest.raises(ValueError, match="backend"):
        f(X, Y, backend="tpu")


@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts_dtypes_and_backends_agree(both_backends, fn, layout):
    f = FUNCTIONS[fn]
    X, Y = gaussian_sets(n=30, m=25, d=4, dtype=np.float32)
    want = f(X.astype(np.float64), Y.astype(np.float64), backend="numpy")
    rel = 1e-9 if fn in ("fd", "gaussian_kl") else 1e-5  # moments in float64; kernels in the input's dtype
    for backend in both_backends:
        Xl, Yl = with_layout(X, layout), with_layout(Y, layout)
        X0, Y0 = Xl.copy(), Yl.copy()
        got = f(Xl, Yl, backend=backend)
        got = got.mean if fn == "kid" else float(got)
        want_ = want.mean if fn == "kid" else float(want)
        assert got == pytest.approx(want_, rel=rel, abs=1e-12)
        assert np.array_equal(Xl, X0) and np.array_equal(Yl, Y0)
    # mixed dtypes are computed in the wider one
    mixed = f(X, Y.astype(np.float64), backend="numpy")
    assert (mixed.mean if fn == "kid" else float(mixed)) == pytest.approx(
        want.mean if fn == "kid" else float(want), rel=1e-12, abs=1e-12
    )


def test_on_an_emulated_gpu(fake_gpu):
    """The CuPy path (array namespace, device arrays) on the emulated GPU of tests/_fake_gpu.py."""
    X, Y = gaussian_sets(n=40, m=30, d=5)
    gx, gy = fake_gpu.device(X), fake_gpu.device(Y)
    for backend in ("cupy", "cuda"):
        assert fd(gx, gy, backend=backend) == pytest.approx(fd(X, Y, backend="numpy"), rel=1e-10)
        # n <= d: the QR route (cupy.linalg.qr, svd)
        assert fd(gx[:4], gy[:3], backend=backend) == pytest.approx(fd(X[:4], Y[:3], backend="numpy"), rel=1e-10)
        linear = mmd(gx * 1e-30, gy * 1e-30, kernel="linear", backend=backend)  # rescaled: c^2 MMD(X, Y)
        assert float(linear) == pytest.approx(1e-60 * rd.ref_mmd(X, Y, kernel="linear"), rel=1e-9)
        assert gaussian_kl(gx, gy, backend=backend) == pytest.approx(gaussian_kl(X, Y, backend="numpy"), rel=1e-10)
        for kernel in ("rbf", "polynomial", "cosine"):
            assert float(mmd(gx, gy, kernel=kernel, unbiased=True, backend=backend)) == pytest.approx(
                float(mmd(X, Y, kernel=kernel, unbiased=True, backend="numpy")), rel=1e-9
            )
        k = kid(gx, gy, subsets=3, subset_size=20, backend=backend)
        np.testing.assert_allclose(k.values, kid(X, Y, subsets=3, subset_size=20, backend="numpy").values, rtol=1e-9)
        assert isinstance(k.values, np.ndarray)
    mu1, mu2 = fake_gpu.device(np.zeros(3)), fake_gpu.device(np.ones(3))
    eye = fake_gpu.device(np.eye(3))
    assert frechet_from_statistics(mu1, eye, mu2, eye * 4) == pytest.approx(3.0 + 3.0, rel=1e-12)
    assert np.array_equal(gx.get(), X) and np.array_equal(gy.get(), Y)


def test_frechet_from_statistics_of_huge_statistics():
    """Covariances of 1e200: the square-root form is computed on a rescaled copy (no overflow, same value)."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((50, 4)), rng.standard_normal((60, 4)) + 0.5
    args = (A.mean(0), np.cov(A.T), B.mean(0), np.cov(B.T))
    base = frechet_from_statistics(*args)
    huge = frechet_from_statistics(args[0] * 1e100, args[1] * 1e200, args[2] * 1e100, args[3] * 1e200)
    assert huge / 1e200 == pytest.approx(base, rel=1e-12)


@pytest.mark.parametrize("e, rel", [(500, 1e-12), (-500, 1e-12), (510, 1e-12), (-520, 1e-9)])
def test_frechet_from_statistics_at_the_edges_of_float64(e, rel):
    """FD(c mu, c^2 Sigma) = c^2 FD(mu, Sigma) for c = 2^e: covariances up to ~1.7e308 (whose eigenvalues and
    (S + S^T) / 2 overflowed) and down to subnormals (scale^2 overflowed), issue 10, item 8. At 2^-520 the
    covariances are subnormal and keep only ~40 bits: rel 1e-9."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 5))
    S, mu = A @ A.T, rng.standard_normal(5)
    S = S / np.abs(S).max() * 4  # 2 S c^2 <= 8 * 2^1020 < float64's max
    want = rd.ref_frechet_stats(mu, S, -mu, 2 * S)
    c = 2.0**e
    got = frechet_from_statistics(mu * c, S * c * c, -mu * c, 2 * S * c * c)
    assert got / c / c == pytest.approx(want, rel=rel)


def test_frechet_from_statistics_names_non_numeric_arguments():
    one = [[1.0]]
    with pytest.raises(TypeError, match=r"\bmu1\b"):
        frechet_from_statistics("abc", one, [0.0], one)
    with pytest.raises(TypeError, match=r"\bsigma2\b"):
        frechet_from_statistics([0.0], one, [0.0], [[1 + 1j]])
    with pytest.raises(TypeError, match=r"\bmu2\b"):
        frechet_from_statistics([0.0], one, None, one)
    with pytest.raises(ValueError, match=r"\bmu1\b.*overflows"):
        frechet_from_statistics([1e308, -1e308], np.eye(2), [-1e308, 1e308], np.eye(2))


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_kernel_sums_batched_equal_one_by_one(threads, monkeypatch):
    """engine.kernel_sums (KID's subsets side by side, one thread each on the cpu engine) gives the sums of the
    rows sums of each task, bit for bit, whatever the number of threads; more subsets than one batch."""
    from genmetrics.engine import get_backend
    from genmetrics.engine.kernels import prepare_inputs, resolve_kernel

    monkeypatch.setenv("GENMETRICS_NUM_THREADS", threads)
    rng = np.random.default_rng(11)
    X, Y = rng.normal(size=(70, 9)).astype(np.float32), rng.normal(size=(50, 9)).astype(np.float32)
    spec, X, Y = prepare_inputs(resolve_kernel("polynomial", X), X, Y)
    tasks = [(X, None), (Y, None), (X, Y), (X[:7], Y[3:9]), (Y[:1], None)]
    for name in ("cpu", "numpy"):
        engine = get_backend(name)
        expected = [float(engine.kernel_row_sums(spec, A, B, 1.0)[0].sum()) for A, B in tasks]
        np.testing.assert_array_equal(engine.kernel_sums(spec, tasks), expected)
        reference = [
            float((((A @ (A if B is None else B).T) / 9.0 + 1.0) ** 3).astype(np.float64).sum()) for A, B in tasks
        ]
        np.testing.assert_allclose(engine.kernel_sums(spec, tasks), reference, rtol=1e-5)
    many = kid(X, Y, subsets=70, subset_size=20, backend="cpu").values  # more subsets than KID_BATCH
    np.testing.assert_array_equal(many[:5], kid(X, Y, subsets=5, subset_size=20, backend="cpu").values)


@pytest.mark.parametrize("case", ["n < d", "n < d, two sizes", "constant features"])
def test_frechet_from_statistics_of_singular_covariances_is_accurate(case):
    """Singular products: the factor route of frechet_from_statistics agrees with fd (which has the samples, and
    takes its QR route) to ~1e-12 relative; square roots of the product's eigenvalues were off by ~1e-6."""
    rng = np.random.default_rng(5)
    if case == "n < d":
        X, Y = rng.normal(size=(50, 80)), rng.normal(size=(60, 80)) + 0.1
    elif case == "n < d, two sizes":
        X, Y = rng.normal(size=(30, 64)), 1.5 * rng.normal(size=(40, 64))
    else:
        X, Y = rng.normal(size=(400, 40)), rng.normal(size=(300, 40)) * 1.2
        X[:, :10] = 3.0  # constant features: both covariances singular
        Y[:, :10] = 3.0
    stats = [(A.mean(axis=0), np.cov(A, rowvar=False)) for A in (X, Y)]
    got = float(frechet_from_statistics(*stats[0], *stats[1]))
    assert got == pytest.approx(float(fd(X, Y)), rel=1e-10)
