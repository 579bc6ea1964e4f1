"""The engine's internal primitives that the public functions build on: K.V, the column Gram, the
eigensolver, and the subspace iterations of the Nystrom method. Each against a float64 NumPy reference.

Shapes are chosen to cross the compiled engine's tile edges (512 x 512 symmetric tiles, 256 x 1024
otherwise, 512-column blocks of the column Gram, 1024/4096-row blocks) so that mirrored tiles, ragged
edges and several threads are all exercised.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import genmetrics as gm
import reference as ref
from genmetrics.engine import get_backend
from genmetrics.engine.kernels import prepare_inputs, resolve_kernel

RNG = np.random.default_rng(7)


def _tol(dtype):
    # float32 products of d <= 64 terms of size <= ~10: relative rounding ~1e-6; float64 ~1e-14
    return dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", ["rbf", "cosine", "polynomial", "laplacian", "linear"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 3, 2), (600, 5, 3), (1100, 9, 4)])
def test_kernel_matvec_symmetric_matches_reference(backend, dtype, kernel, shape):
    n, d, b = shape
    X = (RNG.normal(size=(n, d)) + 0.3).astype(dtype)
    V = RNG.normal(size=(n, b)).astype(dtype)
    spec = resolve_kernel(kernel, X, bandwidth=2.0 if kernel in ("rbf", "laplacian") else None)
    engine_spec, Xp, _ = prepare_inputs(spec, X)
    got = get_backend(backend).kernel_matvec(engine_spec, Xp, None, V)
    K = ref.ref_gram(X, kernel=kernel, bandwidth=spec.bandwidth)
    want = K @ V.astype(np.float64)
    scale = np.abs(K).max() * np.abs(V).max() * n
    assert got.dtype == np.float64 and got.shape == (n, b)
    np.testing.assert_allclose(got, want, rtol=0, atol=_tol(dtype)["atol"] * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [1, 300, 1500])
def test_kernel_matvec_rectangular_matches_reference(backend, dtype, m):
    n, d, b = 700, 6, 3
    X = RNG.normal(size=(n, d)).astype(dtype)
    Y = RNG.normal(size=(m, d)).astype(dtype)
    V = RNG.normal(size=(m, b)).astype(dtype)
    spec = resolve_kernel("rbf", X, bandwidth=1.5)
    engine_spec, Xp, Yp = prepare_inputs(spec, X, Y)
    got = get_backend(backend).kernel_matvec(engine_spec, Xp, Yp, V)
    want = ref.ref_gram(X, Y, kernel="rbf", bandwidth=1.5) @ V.astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=0, atol=_tol(dtype)["atol"] * m)


@given(n=st.integers(1, 2100), d=st.integers(1, 700), dtype=st.sampled_from([np.float32, np.float64]))
def test_column_gram_matches_reference(backend, n, d, dtype):
    X = np.random.default_rng(n * 1000 + d).normal(size=(n, d)).astype(dtype)
    got = get_backend(backend).column_gram(X)
    X64 = X.astype(np.float64)
    want = X64.T @ X64
    # blocks of <= 4096 rows are summed in the input's precision: error <= ~sqrt(block) u per unit of |x||x|
    bound = (np.abs(X64).T @ np.abs(X64)) * (1e-5 if dtype == np.float32 else 1e-13)
    assert got.dtype == np.float64 and got.shape == (d, d)
    assert np.all(np.abs(got - want) <= bound + 1e-300)
    assert np.array_equal(got, got.T)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 50, 300])
def test_float32_spectra_are_solved_in_float64(backend, dtype, n):
    """Round-off eigenvalues of a float32 solve (~n eps32 lambda_max) would count at q < 1."""
    from genmetrics.engine import spectral as _spectral

    A = RNG.normal(size=(n, 2))
    A = (A @ A.T).astype(dtype)  # rank <= 2
    w = _spectral._eigenvalues(A)
    assert w.dtype == np.float64
    want = np.linalg.eigvalsh(A.astype(np.float64))
    np.testing.assert_allclose(w, want, rtol=0, atol=1e-12 * max(want.max(), 1))


def test_subspace_iterations_sharpen_nystrom_and_keep_the_bound(backend):
    """n_iter > 0 goes through the fused K.V product; Rayleigh-Ritz eigenvalues interlace the exact ones,
    so each is below its exact counterpart by at most the residual mass."""
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(12, 8)) * 3
    X = centres[rng.integers(0, 12, 900)] + 0.6 * rng.normal(size=(900, 8))
    exact = ref.ref_spectrum(X, kernel="rbf", bandwidth=2.0)
    errors = []
    for n_iter in (0, 2):
        s = gm.vendi(X, q=2, kernel="rbf", bandwidth=2.0, method="nystrom", rank=40, n_iter=n_iter, backend=backend)
        errors.append(abs(float(s) - ref.ref_vendi(X, q=2, kernel="rbf", bandwidth=2.0)))
        assert s.residual_mass >= 0
    assert errors[1] < errors[0]
    from genmetrics.engine import spectral as _spectral

    spec = resolve_kernel("rbf", X, bandwidth=2.0)
    engine_spec, Xp, _ = prepare_inputs(spec, X)
    spectrum = _spectral.nystrom_spectrum(get_backend(backend), engine_spec, Xp, rank=40, seed=0, n_iter=2)
    k = spectrum.eigenvalues.size
    gap = exact[:k] - spectrum.eigenvalues
    assert np.all(gap >= -1e-10)
    assert np.all(gap <= spectrum.tail_mass + 1e-10)
