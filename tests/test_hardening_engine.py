"""Regression tests of issue 10's engine items, on every backend (cpu, numpy, and the emulated GPU's cuda/cupy):
float32 rows of tiny, denormal or wildly different norms (5), exp underflow without a floor (7), tiny bandwidths
and huge values on the array engine (11), ties of k-NN distances whose squares differ (14)."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import genmetrics as gm
from _fake_gpu import installed
from genmetrics import engine as _backend

BACKENDS = ["cpu", "numpy", "cuda", "cupy"]


@contextlib.contextmanager
def on(backend):
    """(backend name, a function that puts an array where that backend takes it): GPU backends on the emulated GPU."""
    if backend == "cpu" and _backend._CORE is None:
        pytest.skip("the compiled engine is not built")
    if backend in ("cuda", "cupy"):
        with installed() as gpu:
            yield gpu.device
    else:
        yield lambda a: a


def host(a):
    return np.asarray(a.get() if hasattr(a, "get") else a)


def cosine_reference(X, Y=None):
    """Cosines of float64 directions, each row divided by its norm after an exact power-of-two rescaling."""

    def unit(A):
        A = np.asarray(A, dtype=np.float64)
        A = A * np.ldexp(1.0, -np.frexp(np.abs(A).max(axis=1))[1])[:, None]
        return A / np.linalg.norm(A, axis=1)[:, None]

    U = unit(X)
    V = U if Y is None else unit(Y)
    return np.clip(U @ V.T, -1, 1)


# ---------------------------------------------------------------------------------------------------------
# 5. float32 rows of tiny, denormal or wildly different norms
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_cosine_of_identical_tiny_float32_rows_is_one(backend):
    X = np.array([[1, 0], [2e-25, 2e-25], [2e-25, 2e-25]], dtype=np.float32)
    with on(backend) as put:
        K = host(gm.gram(put(X), backend=backend))
        assert K.dtype == np.float32
        assert K[1, 2] == pytest.approx(1.0, abs=1e-6)  # was 0: the float32 dot product underflowed
        np.testing.assert_allclose(K, cosine_reference(X), atol=1e-6)
        assert float(gm.intdiv(put(X), backend=backend)) == pytest.approx(1 - cosine_reference(X).sum() / 9, abs=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("q", [0.5, 1, 2, "inf"])
def test_vendi_of_a_denormal_row_is_finite(backend, q):
    X = np.array([[1], [1e-45]], dtype=np.float32)  # one direction: VS = 1 (was NaN at q = 2)
    with on(backend) as put:
        assert float(gm.vendi(put(X), q=q, backend=backend)) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rke_of_values_below_float32_normals(backend):
    X = np.array([[0], [1e-39], [1e-39]], dtype=np.float32)  # every distance << bandwidth: K = 1, RKE = 1
    with on(backend) as put:
        assert float(gm.rke(put(X), bandwidth=1, backend=backend)) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rbf_of_a_float32_cluster_far_from_the_mean(backend):
    """Two points 1 apart, a million bandwidths from a third: float32 tiles cannot hold their distance (the
    rounding of |x|^2 is ~1e4), so the kernel is computed in float64 and still returned as float32."""
    X = np.array([[0.0], [1e6], [1e6 + 1]], dtype=np.float32)
    with on(backend) as put:
        K = host(gm.gram(put(X), kernel="rbf", bandwidth=1.0, backend=backend))
        assert K.dtype == np.float32
        assert K[1, 2] == pytest.approx(math.exp(-0.5), rel=1e-6)
        assert K[0, 1] == 0.0


@given(
    exponents=st.lists(st.integers(-44, 37), min_size=2, max_size=12),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_cosine_with_row_norms_spanning_many_decades(exponents, seed, dtype):
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((len(exponents), 3))
    X = (directions * (10.0 ** np.array(exponents, dtype=np.float64))[:, None]).astype(dtype)
    X = X[np.any(X != 0, axis=1)]  # float32 flushes 1e-44-ish values of some coordinates: keep non-zero rows
    if X.shape[0] < 2:
        return
    want = cosine_reference(X)
    tol = 2e-6 if dtype == np.float32 else 1e-12
    for backend in ["cpu", "numpy"] if _backend._CORE is not None else ["numpy"]:
        np.testing.assert_allclose(gm.gram(X, backend=backend), want, atol=tol)
        assert gm.kernel_sum(X, backend=backend) == pytest.approx(want.sum(), abs=tol * want.size)


# ---------------------------------------------------------------------------------------------------------
# 7. exp underflows to the true tiny value or 0, never to a floor
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rbf_values_below_the_smallest_normal(backend, dtype):
    distances = np.array([0, 1, 5, 13, 13.2, 13.5, 14, 14.4, 37.6, 38.5, 38.6, 40, 1e3])
    X = np.zeros((1, 1), dtype=dtype)
    Y = distances[:, None].astype(dtype)
    exponent = 0.5 * Y[:, 0].astype(np.float64) ** 2
    want = np.exp(-exponent)
    tiny = np.finfo(dtype).smallest_subnormal
    with on(backend) as put:
        got = host(gm.gram(put(X), put(Y), kernel="rbf", bandwidth=1.0, backend=backend))[0].astype(np.float64)
    # the exponent carries the rounding of the tile (relative eps), e^x that of x; a denormal result an absolute
    # rounding of about one smallest denormal; 0 where the truth rounds to 0
    tolerance = 4 * np.finfo(dtype).eps * (1 + exponent) * want + 2 * tiny
    assert np.all(np.abs(got - want) <= tolerance), (got, want)
    assert np.all(got[want < tiny / 2] == 0)
    assert np.all(got[(want > 4 * tiny)] > 0)  # no flush to 0 above the denormals either


def far_apart_sets(shift):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 4))
    return X, X + np.array([shift, 0, 0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rrke_of_far_apart_sets_agrees_on_every_backend(dtype):
    # kernel values ~e^-96 (float32 denormals), and ~e^-5000 (0 in both precisions): RRKE finite, then inf
    for shift, finite in [(13.86, True), (100.0, False)]:
        X, Y = (A.astype(dtype) for A in far_apart_sets(shift))
        values = {}
        for backend in BACKENDS:
            with on(backend) as put:
                values[backend] = float(gm.rrke(put(X), put(Y), bandwidth=1.0, backend=backend))
        if finite:
            reference = float(gm.rrke(X.astype(np.float64), Y.astype(np.float64), bandwidth=1.0, backend="numpy"))
            assert all(v == pytest.approx(reference, rel=1e-6) for v in values.values()), values
        else:
            assert all(v == math.inf for v in values.values()), values


def rrke_reference(X, Y, bandwidth):
    """-2 log ||K_XY / sqrt(n m)||_* in float64 from the exponents, shifted by their maximum before exp: no
    underflow, whatever the bandwidth."""
    D2 = np.sum((X[:, None, :] - Y[None, :, :]) ** 2, axis=-1)
    E = -0.5 * D2 / bandwidth**2
    top = E.max()
    nuclear = np.linalg.svd(np.exp(E - top) / math.sqrt(X.shape[0] * Y.shape[0]), compute_uv=False).sum()
    return -2.0 * (math.log(nuclear) + top)


def test_rke_score_readme_rrke_example_matches_rke_score():
    """rke-score's README example, at 50 rows a set: bandwidths 0.2-0.4 put every cross-kernel value (~e^-25000)
    at 0 in float64, so RRKE is inf in both packages (genmetrics gave 1416 with its old floor of 3.3e-308). At
    bandwidths 1.18-1.25 the values are ~e^-700, partly denormal: genmetrics matches a float64 computation in the
    log domain, while rke-score squares the nuclear norm first and reports inf."""
    rke_score = pytest.importorskip("rke_score")
    from genmetrics.compat import rke_score as compat

    rng = np.random.default_rng(0)
    real = rng.normal(0.0, 1.0, size=(50, 1000))
    fake = rng.normal(0.0, 1.0, size=(50, 1000))
    with np.errstate(divide="ignore", under="ignore"):
        theirs = rke_score.RKE(kernel_bandwidth=[0.2, 0.3, 0.4]).compute_rrke(real, fake)
    ours = compat.RKE(kernel_bandwidth=[0.2, 0.3, 0.4, 1.18, 1.25]).compute_rrke(real, fake)
    assert [float(theirs[b]) for b in (0.2, 0.3, 0.4)] == [math.inf] * 3
    assert [float(ours[b]) for b in (0.2, 0.3, 0.4)] == [math.inf] * 3
    for bandwidth in (1.18, 1.25):
        assert float(ours[bandwidth]) == pytest.approx(rrke_reference(real, fake, bandwidth), rel=1e-6)


# ---------------------------------------------------------------------------------------------------------
# 11. tiny bandwidths and huge values on the array engine (Python floats used to overflow)
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", ["rbf", "laplacian"])
def test_tiny_bandwidth_gives_the_identity(backend, kernel):
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [3.0, 2.0]])
    want = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=np.float64)
    for dtype in (np.float32, np.float64):
        with on(backend) as put:
            K = host(gm.gram(put(X.astype(dtype)), kernel=kernel, bandwidth=1e-160, backend=backend))
        np.testing.assert_array_equal(K, want)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", ["rbf", "laplacian"])
def test_bandwidth_scaled_below_the_smallest_float64(backend, kernel):
    # values near 1e300 are scaled by ~2^-997: a bandwidth of 1e-30 became 0 there, which the engines read as
    # "no bandwidth" (1 in the scaled units, i.e. ~1e300): the cpu gave 0.33 for points 2e300 apart
    X = np.array([[1e300], [-1e300], [5e299], [5e299]])
    want = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]], dtype=np.float64)
    with on(backend) as put:
        K = host(gm.gram(put(X), kernel=kernel, bandwidth=1e-30, backend=backend))
    np.testing.assert_array_equal(K, want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rbf_of_values_near_1e200(backend):
    X = np.random.default_rng(0).standard_normal((6, 3))
    want = gm.gram(X, kernel="rbf", bandwidth=1.5, backend="numpy")
    with on(backend) as put:
        got = host(gm.gram(put(X * 1e200), kernel="rbf", bandwidth=1.5e200, backend=backend))
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-300)


# ---------------------------------------------------------------------------------------------------------
# 14. k-NN ties are ties of distances
# ---------------------------------------------------------------------------------------------------------

# Two references whose squared distances to the origin differ by one ulp but share the square root: the lower
# index must come first, although its square is the larger one.
TIE_LOWER_INDEX_LARGER_SQUARE = np.array(
    [
        [-1.303157231604361, 0.9053558666731177, 0.44637457236401135],
        [-1.303157231604361, 0.9053558666731177, 0.4463745723640113],
    ]
)


def test_tie_case_is_a_tie_of_distances_only():
    squares = np.sum(TIE_LOWER_INDEX_LARGER_SQUARE**2, axis=1)
    assert squares[0] > squares[1] and np.sqrt(squares[0]) == np.sqrt(squares[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_equal_distances_with_different_squares_go_to_the_lower_index(backend):
    R = TIE_LOWER_INDEX_LARGER_SQUARE
    Q = np.zeros((1, 3))
    with on(backend) as put:
        distances, indices = (host(a) for a in gm.knn(put(R), put(Q), k=2, backend=backend))
        assert indices.tolist() == [[0, 1]]
        assert distances[0, 0] == distances[0, 1] == np.sqrt(np.sum(R[1] ** 2))
        # the nearest reference of a ball query (authenticity's nearest real point) follows the same rule
        nearest_index = host(gm.knn(put(R), put(Q), k=1, backend=backend)[1])
        assert nearest_index.tolist() == [[0]]
