"""RRKE's nuclear norm without the n x m matrix (genmetrics.engine.nuclear): exact against a float64 NumPy SVD,
the stochastic method's interval over seeds, determinism, backends, the emulated GPU."""

from __future__ import annotations

import math

import numpy as np
import pytest

import genmetrics as gm
from genmetrics.engine import nuclear

KERNELS = ["rbf", "laplacian", "cosine", "linear", "polynomial"]


def svd_rrke(X, Y, kernel, **kw):
    """-2 log ||K_XY / sqrt(n m)||_* from a float64 NumPy SVD of the held matrix (the old gm.rrke)."""
    K = np.asarray(gm.gram(X, Y, kernel=kernel, **kw), dtype=np.float64) / math.sqrt(len(X) * len(Y))
    total = float(np.linalg.svd(K, compute_uv=False).sum())
    return -2.0 * math.log(total) if total > 0 else math.inf


def pair(n, m, d, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(dtype), (rng.standard_normal((m, d)) + 0.3).astype(dtype)


def kernel_args(kernel):
    return {"bandwidth": 1.7} if kernel in ("rbf", "laplacian") else {}


SHAPES = [(1, 1, 3), (1, 7, 3), (7, 1, 3), (40, 90, 5), (90, 40, 5), (60, 60, 1), (120, 80, 16), (150, 150, 2)]


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exact_matches_svd(backend, kernel, dtype):
    """Small and awkward shapes (n = 1, m = 1, n != m, d = 1, low rank): the float64 SVD's value to 1e-10."""
    for n, m, d in SHAPES:
        X, Y = pair(n, m, d, seed=n + m, dtype=dtype)
        want = svd_rrke(X, Y, kernel, backend=backend, **kernel_args(kernel))
        got = gm.rrke(X, Y, kernel=kernel, method="exact", backend=backend, **kernel_args(kernel))
        assert got.method == "exact" and got.n == n and got.m == m
        assert float(got) == pytest.approx(want, rel=1e-10, abs=1e-10), (n, m, d)


def test_exact_duplicates_blocks_and_refinement():
    """Duplicated rows (rank-deficient K), many column blocks (the running rescale of G), and the orthogonal pass:
    the squared route alone is 1e-7 off on a rank-10 cosine matrix; refined, it is the SVD's value."""
    X, Y = pair(200, 300, 10, seed=3)
    X = np.concatenate([X, X[:50]])
    Y = np.concatenate([Y, Y[:30], Y[:30]])
    for kernel in KERNELS:
        spec_args = kernel_args(kernel)
        want = svd_rrke(X, Y, kernel, **spec_args)
        engine = gm.engine.get_backend("cpu", X, Y)
        spec, engine_spec, Xp, Yp = gm.engine.kernels.kernel_inputs(X, Y, kernel, spec_args.get("bandwidth"), {})
        out = nuclear.exact_nuclear_norm(engine, engine_spec, Xp, Yp, block_bytes=8 * 250 * 7)  # 7 columns a block
        assert -2 * out.log_value == pytest.approx(want, rel=1e-10, abs=1e-10), kernel
        if kernel in ("cosine", "linear"):
            assert out.refined >= 240  # rank 10 of 250: the rest are refined, not square-rooted round-off


def test_exact_squared_route_alone_would_fail(monkeypatch):
    """The refinement is what makes the low-rank case exact (so the test above can fail)."""
    X, Y = pair(200, 300, 10, seed=3)
    want = svd_rrke(X, Y, "cosine")
    monkeypatch.setattr(nuclear, "SMALL_EIGENVALUE", 0.0)
    assert abs(float(gm.rrke(X, Y, kernel="cosine")) - want) > 1e-9


@pytest.mark.parametrize("kernel", ["rbf", "laplacian", "cosine"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rrke_of_a_set_with_itself_is_zero(kernel, dtype):
    X, _ = pair(120, 1, 6, seed=5, dtype=dtype)
    # float32: K(X, X) as a cross matrix rounds its diagonal to 1 +- 1e-7 (the symmetric pass pins it to 1)
    tol = 1e-10 if dtype == np.float64 else 1e-6
    assert float(gm.rrke(X, X, kernel=kernel, **kernel_args(kernel))) == pytest.approx(0.0, abs=tol)


def test_underflow_gives_inf_without_an_eigensolve():
    """Every K_XY value underflows to 0 (rke-score's README regime): +inf, as the SVD gives, and no G is solved."""
    X, Y = pair(300, 200, 50, seed=1)
    assert float(np.max(gm.gram(X, Y, kernel="rbf", bandwidth=0.05))) == 0.0
    assert svd_rrke(X, Y, "rbf", bandwidth=0.05) == math.inf
    assert gm.rrke(X, Y, bandwidth=0.05) == math.inf


def test_zero_rows_and_columns_are_dropped():
    """Some rows of K_XY underflow and some do not: the same value as the SVD of the held matrix."""
    X, Y = pair(80, 60, 4, seed=2)
    X[:30] += 100.0  # far from every y: those rows of K are 0
    Y[:10] -= 100.0
    want = svd_rrke(X, Y, "rbf", bandwidth=1.0)
    assert math.isfinite(want)
    assert float(gm.rrke(X, Y, bandwidth=1.0)) == pytest.approx(want, rel=1e-10)


def test_auto_chooses_by_the_smaller_side(monkeypatch):
    X, Y = pair(30, 50, 4)
    assert gm.rrke(X, Y).method == "exact"
    monkeypatch.setattr(nuclear, "EXACT_MAX", 29)
    s = gm.rrke(X, Y)
    assert s.method == "stochastic"
    # probes are added until the norm's interval is within DEFAULT_RTOL (rrke = -2 log norm: twice that, absolute)
    half_width = (s.details["ci_high"] - s.details["ci_low"]) / 2
    assert half_width <= 2.0 * nuclear.DEFAULT_RTOL * 1.05 or s.details["probes"] >= 256, s.details


def test_stochastic_interval_coverage_over_seeds():
    """The 95 % interval holds the exact value in about 95 % of 40 seeds (>= 33: binomial 0.95, 40, p = 0.008),
    with few deflated vectors and fewer Lanczos steps than n, so the probes and quadrature both matter."""
    X, Y = pair(150, 200, 3, seed=11)
    exact = float(gm.rrke(X, Y, bandwidth=1.0))
    inside, values = 0, []
    for seed in range(40):
        s = gm.rrke(X, Y, bandwidth=1.0, method="stochastic", seed=seed, rank=4, probes=10)
        inside += s.details["ci_low"] <= exact <= s.details["ci_high"]
        values.append(float(s))
        assert s.details["steps"] <= nuclear.DEFAULT_STEPS and s.details["matvecs"] > 0
    assert inside >= 33, inside
    assert abs(np.mean(values) - exact) < 3 * np.std(values) / math.sqrt(40) + 1e-3
    assert np.std(values) > 0  # the estimate is random, so the coverage check above can fail


def test_stochastic_deflation_is_accurate():
    X, Y = pair(300, 250, 8, seed=4)
    exact = float(gm.rrke(X, Y, bandwidth=2.0))
    s = gm.rrke(X, Y, bandwidth=2.0, method="stochastic", seed=0)
    undeflated = gm.rrke(X, Y, bandwidth=2.0, method="stochastic", seed=0, rank=0)
    assert float(s) == pytest.approx(exact, rel=0.03)  # the quadrature's bias (sqrt at 0) is most of it
    assert abs(float(s) - exact) < abs(float(undeflated) - exact)
    assert s.details["ci_high"] - s.details["ci_low"] < undeflated.details["ci_high"] - undeflated.details["ci_low"]


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_stochastic_is_deterministic_for_a_seed(backend):
    X, Y = pair(100, 120, 5, seed=8)
    a = gm.rrke(X, Y, method="stochastic", seed=3, backend=backend)
    b = gm.rrke(X, Y, method="stochastic", seed=3, backend=backend)
    c = gm.rrke(X, Y, method="stochastic", seed=4, backend=backend)
    assert float(a) == float(b) and a.details == b.details
    assert float(a) != float(c)


def test_bad_arguments_are_named():
    X, Y = pair(10, 12, 3)
    with pytest.raises(ValueError, match="^method"):
        gm.rrke(X, Y, method="svd")
    with pytest.raises(ValueError, match="^probes"):
        gm.rrke(X, Y, method="stochastic", probes=1)
    with pytest.raises(TypeError, match="^seed"):
        gm.rrke(X, Y, seed=1.5)


def test_on_the_emulated_gpu(fake_gpu):
    """backend="cuda" and "cupy" (tests/_fake_gpu.py): the exact value, and the stochastic one of the cpu engine."""
    import cupy  # the fake one, installed by the fixture

    X, Y = pair(40, 70, 4, seed=9)
    want = svd_rrke(X, Y, "rbf", bandwidth=1.5)
    for backend in ("cuda", "cupy"):
        for inputs in ((X, Y), (cupy.asarray(X), cupy.asarray(Y))):
            got = gm.rrke(*inputs, bandwidth=1.5, backend=backend)
            assert float(got) == pytest.approx(want, rel=1e-10), backend
            est = gm.rrke(*inputs, bandwidth=1.5, backend=backend, method="stochastic", seed=2)
            ref = gm.rrke(X, Y, bandwidth=1.5, backend="numpy", method="stochastic", seed=2)
            assert float(est) == pytest.approx(float(ref), rel=1e-8), backend
