"""The GPU backends ("cuda": the compiled genmetrics._cuda engine; "cupy": the array-namespace fallback run
on CuPy) against the compiled CPU engine (backend="cpu") on the same data.

Skipped as a whole without CuPy or without a CUDA device (``cupy.cuda.runtime.getDeviceCount()`` raising
or returning 0); each test runs once per GPU backend that ``gm.backends()`` reports available, and is
skipped, with the backend's reason, for the others. Every test carries the ``gpu`` marker
(``pytest -m gpu`` selects them, ``-m "not gpu"`` leaves them out).

What is checked:

* k-NN and radius queries: identical indices, counts and float64 distances, bit for bit (every decision is
  made on the float64 distance sqrt(np.sum((x - y)**2, -1)) in both engines), for float32 and float64,
  self and cross queries, k = 1, 5, n - 1, 1024; exact ties (integer lattices, duplicated rows), points far
  from the origin (offset 1000), non-contiguous input, n = 1, d = 1, radii equal to exact distances, and
  sizes (5000 x 7000 x 300) whose tiles do not divide them.
* prdc, precision_recall, alpha_precision, authenticity: the same numbers as the CPU engine.
* gram (rtol 1e-5 float32 / 1e-12 float64, atol scaled by the largest entry), kernel_sum (1e-6 / 1e-10
  of sum |k|^power), vendi (exact and dual: 1e-5 / 1e-9 relative; nystrom and rff with the same seed:
  1e-4), rke and intdiv (1e-6), rrke (1e-5 / 1e-9).
* inputs: CuPy arrays, non-contiguous CuPy views and torch CUDA tensors give the same answer, results
  stay on the device, the caller's arrays are not modified; NaN/inf and mismatched widths raise a
  ValueError naming the argument; results report the backend that computed them.
"""
from __future__ import annotations

import functools
import math
from contextlib import contextmanager

import numpy as np
import pytest

try:
    import cupy
except Exception as exc:  # not installed, or installed without a working CUDA library
    pytest.skip(f"CuPy is not importable: {exc}", allow_module_level=True)


def _device_count():
    try:
        return int(cupy.cuda.runtime.getDeviceCount()), "0 devices"
    except Exception as exc:  # no driver, no device, CUDA runtime errors
        return 0, f"{type(exc).__name__}: {exc}"


_N_DEVICES, _NO_DEVICE = _device_count()
if _N_DEVICES == 0:
    pytest.skip(f"no CUDA device visible to CuPy ({_NO_DEVICE})", allow_module_level=True)

import genmetrics as gm
from gpu_data import FIDELITY_CASES, KNN_CASES, gaussian, knn_case, lattice, quiet, real_fake, seed_of  # noqa: E402

pytestmark = pytest.mark.gpu

GPU_BACKENDS = ("cuda", "cupy")
DTYPES = (np.float32, np.float64)
X_ = r"\bX\b"
REAL_ = r"\breal\b"


# --------------------------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------------------------

def _availability(name):
    available, reason = gm.backends().get(name, (False, "not listed by gm.backends()"))
    return bool(available), str(reason)


@pytest.fixture(params=GPU_BACKENDS)
def gpu_backend(request):
    """Each GPU backend in turn, skipped with its reason when gm.backends() says it is unavailable."""
    available, reason = _availability(request.param)
    if not available:
        pytest.skip(f"backend {request.param!r} unavailable: {reason}")
    if not _availability("cpu")[0]:
        pytest.skip(f"the CPU engine to compare with is unavailable: {_availability('cpu')[1]}")
    return request.param


def to_host(a):
    """A NumPy array from a CuPy array (or another device array), a NumPy array or a scalar."""
    if not isinstance(a, cupy.ndarray) and hasattr(a, "__cuda_array_interface__"):
        a = cupy.asarray(a)
    if isinstance(a, cupy.ndarray):
        return cupy.asnumpy(a)
    return np.asarray(a)


def on_gpu(*arrays):
    """Device copies of NumPy arrays (None stays None)."""
    out = tuple(None if a is None else cupy.asarray(a) for a in arrays)
    return out if len(out) > 1 else out[0]


@contextmanager
def unchanged(*arrays):
    """Asserts that the (device) arrays hold the same values after the block as before it."""
    arrays = [a for a in arrays if a is not None]
    before = [a.copy() for a in arrays]
    yield
    for b, a in zip(before, arrays):
        assert bool(cupy.array_equal(a, b)), "the caller's array was modified"


def gpu_knn(X, Y, k, backend):
    """gm.knn on device arrays: checks the result's type, device, dtypes, shapes and order; host copies."""
    with unchanged(X, Y):
        dist, idx = gm.knn(X, Y, k=k, backend=backend)
    m = X.shape[0] if Y is None else Y.shape[0]
    for a in (dist, idx):
        assert isinstance(a, cupy.ndarray), f"knn on GPU input returned {type(a).__name__}, not a CuPy array"
        assert a.device == X.device
        assert a.shape == (m, k), a.shape
    assert dist.dtype == np.float64 and idx.dtype == np.int64, (dist.dtype, idx.dtype)
    dist, idx = to_host(dist), to_host(idx)
    assert np.all(np.diff(dist, axis=1) >= 0), "distances are not ascending"
    return dist, idx


def assert_same_knn(got, want):
    (gd, gi), (wd, wi) = got, (to_host(want[0]), to_host(want[1]))
    bad = np.argwhere((gi != wi) | (gd != wd))
    if bad.size:
        r, c = bad[0]
        raise AssertionError(
            f"{len(bad)} entries differ; first at query {r}, rank {c}: GPU ({gi[r, c]}, {gd[r, c]!r}) "
            f"vs CPU ({wi[r, c]}, {wd[r, c]!r})"
        )


def assert_same_fields(got, want, names):
    for name in names:
        g, w = getattr(got, name), getattr(want, name)
        assert g == w, f"{name}: GPU {g!r} != CPU {w!r}"


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# backends listing and dispatch
# --------------------------------------------------------------------------------------------

def test_backends_lists_the_gpu_backends():
    info = gm.backends()
    for name in ("cpu", "numpy", "cuda", "cupy"):
        assert name in info, f"gm.backends() does not list {name!r}"
        available, reason = info[name]
        assert isinstance(available, bool) and isinstance(reason, str)


def test_results_report_their_backend(gpu_backend):
    X = on_gpu(gaussian(np.random.default_rng(1), 200, 16, np.float32))
    for kernel, method in (("cosine", "exact"), ("cosine", "dual"), ("rbf", "exact")):
        assert gm.vendi(X, kernel=kernel, method=method, backend=gpu_backend).backend == gpu_backend
    assert gm.rke(X, backend=gpu_backend).backend == gpu_backend
    assert gm.intdiv(X, backend=gpu_backend).backend == gpu_backend


def test_cupy_input_runs_on_the_gpu_by_default(monkeypatch):
    monkeypatch.delenv("GENMETRICS_BACKEND", raising=False)
    if _availability("cuda")[0]:
        expected = "cuda"
    elif _availability("cupy")[0]:
        expected = "cupy"
    else:
        pytest.skip(f"no GPU backend available: cuda: {_availability('cuda')[1]}; cupy: {_availability('cupy')[1]}")
    X = on_gpu(gaussian(np.random.default_rng(2), 150, 8, np.float64))
    assert gm.vendi(X).backend == expected
    dist, idx = gm.knn(X, k=3)
    assert isinstance(dist, cupy.ndarray) and isinstance(idx, cupy.ndarray)


# --------------------------------------------------------------------------------------------
# k-NN
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", KNN_CASES)
def test_knn_is_identical_to_cpu(gpu_backend, case, dtype):
    X, Y, k = knn_case(case, dtype)
    want = gm.knn(X, Y, k=k, backend="cpu")
    gx, gy = on_gpu(X, Y)
    assert_same_knn(gpu_knn(gx, gy, k, gpu_backend), want)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_knn_noncontiguous_input(gpu_backend, dtype):
    """X[:, ::2] of a bigger array: the NumPy view for the CPU, the CuPy view for the GPU."""
    rng = np.random.default_rng(seed_of("noncontiguous", np.dtype(dtype).name))
    big_x, big_y = gaussian(rng, 350, 30, dtype), gaussian(rng, 280, 30, dtype)
    X, Y = big_x[:, ::2], big_y[:, ::2]
    gx, gy = on_gpu(big_x, big_y)
    gx, gy = gx[:, ::2], gy[:, ::2]
    assert not gx.flags.c_contiguous
    assert_same_knn(gpu_knn(gx, gy, 5, gpu_backend), gm.knn(X, Y, k=5, backend="cpu"))
    assert_same_knn(gpu_knn(gx, None, 5, gpu_backend), gm.knn(X, None, k=5, backend="cpu"))
    rows = gx[::-2]  # negative row stride
    assert_same_knn(gpu_knn(rows, None, 3, gpu_backend), gm.knn(X[::-2], None, k=3, backend="cpu"))


# --------------------------------------------------------------------------------------------
# radius queries
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", ["gaussian", "lattice", "offset 1000", "offset 1000 lattice"])
def test_radius_query_is_identical_to_cpu(gpu_backend, case, dtype):
    """Radii equal to exact distances (each reference's 3rd nearest query): every ball has queries on its
    sphere, so < and <= give different counts and both must match."""
    rng = np.random.default_rng(seed_of("radius", case, np.dtype(dtype).name))
    if case == "gaussian":
        X, Y = gaussian(rng, 450, 16, dtype), gaussian(rng, 380, 16, dtype)
    elif case == "lattice":
        X, Y = lattice(rng, 450, 3, dtype), lattice(rng, 380, 3, dtype)
    elif case == "offset 1000":
        X, Y = gaussian(rng, 450, 16, dtype, offset=1000.0), gaussian(rng, 380, 16, dtype, offset=1000.0)
    else:
        X = lattice(rng, 450, 4, dtype, offset=1000.0, step=2.0**-6)
        Y = lattice(rng, 380, 4, dtype, offset=1000.0, step=2.0**-6)
    Y[:40] = X[:40]  # queries at distance 0 of a reference
    radii = np.ascontiguousarray(gm.knn(Y, X, k=3, backend="cpu")[0][:, 2])
    radii[::11] = 0.0  # zero-radius balls: hold only exact copies, and only when inclusive
    gx, gy = on_gpu(X, Y)
    counts = {}
    for inclusive in (False, True):
        want = gm.radius_query(X, Y, radii, inclusive=inclusive, backend="cpu")
        with unchanged(gx, gy):
            got = gm.radius_query(gx, gy, radii, inclusive=inclusive, backend=gpu_backend)
        assert isinstance(got, gm.RadiusQuery)
        for name in got._fields:
            g, w = to_host(getattr(got, name)), to_host(getattr(want, name))
            assert g.dtype == w.dtype and g.shape == w.shape, (name, g.dtype, g.shape)
            bad = np.flatnonzero(g != w)
            assert bad.size == 0, (
                f"inclusive={inclusive} {name}: {bad.size} queries differ; first {bad[0]}: GPU {g[bad[0]]!r} "
                f"vs CPU {w[bad[0]]!r}"
            )
        counts[inclusive] = to_host(want.counts)
    assert np.any(counts[True] > counts[False]), "the radii were meant to put queries on the spheres"


def test_radius_query_takes_radii_on_the_device(gpu_backend):
    """Radii straight from a GPU k-NN (CuPy) give the answer of the same radii on the host."""
    rng = np.random.default_rng(seed_of("device radii"))
    X, Y = gaussian(rng, 300, 8, np.float32), gaussian(rng, 200, 8, np.float32)
    gx, gy = on_gpu(X, Y)
    device_radii = gm.knn(gx, k=4, backend=gpu_backend)[0][:, 3]
    got = gm.radius_query(gx, gy, device_radii, backend=gpu_backend)
    want = gm.radius_query(X, Y, to_host(device_radii), backend="cpu")
    assert np.array_equal(to_host(got.counts), to_host(want.counts))


# --------------------------------------------------------------------------------------------
# fidelity, coverage and memorisation metrics
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", FIDELITY_CASES)
def test_prdc_is_identical_to_cpu(gpu_backend, case, dtype):
    real, fake = real_fake(case, dtype)
    greal, gfake = on_gpu(real, fake)
    for k in (1, 5):
        for inclusive in (False, True):
            want = quiet(gm.prdc, real, fake, k=k, inclusive=inclusive, backend="cpu")
            with unchanged(greal, gfake):
                got = quiet(gm.prdc, greal, gfake, k=k, inclusive=inclusive, backend=gpu_backend)
            assert isinstance(got, gm.PRDC)
            assert_same_fields(got, want, ("precision", "recall", "density", "coverage", "k", "n_real",
                                           "n_fake", "inclusive"))
            for name in ("precision", "recall", "density", "coverage"):
                assert isinstance(getattr(got, name), float), name


def assert_same_realism(got, want):
    g, w = np.asarray(to_host(got), dtype=np.float64), np.asarray(to_host(want), dtype=np.float64)
    assert g.shape == w.shape
    assert np.array_equal(np.isinf(g), np.isinf(w)), "realism is inf for different samples"
    finite = np.isfinite(w)
    np.testing.assert_allclose(g[finite], w[finite], rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", FIDELITY_CASES)
def test_precision_recall_is_identical_to_cpu(gpu_backend, case, dtype):
    real, fake = real_fake(case, dtype)
    greal, gfake = on_gpu(real, fake)
    for k in (1, 3):
        want = gm.precision_recall(real, fake, k=k, backend="cpu")
        with unchanged(greal, gfake):
            got = gm.precision_recall(greal, gfake, k=k, backend=gpu_backend)
        assert_same_fields(got, want, ("precision", "recall", "k", "n_real", "n_fake"))
        assert_same_realism(got.realism, want.realism)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", FIDELITY_CASES)
def test_alpha_precision_is_identical_to_cpu(gpu_backend, case, dtype):
    real, fake = real_fake(case, dtype)
    greal, gfake = on_gpu(real, fake)
    for integration in ("trapezoid", "original"):
        want = gm.alpha_precision(real, fake, integration=integration, backend="cpu")
        with unchanged(greal, gfake):
            got = gm.alpha_precision(greal, gfake, integration=integration, backend=gpu_backend)
        assert_same_fields(got, want, ("authenticity", "integration", "n_real", "n_fake"))
        for name in ("delta_precision_alpha", "delta_coverage_beta"):
            assert getattr(got, name) == pytest.approx(getattr(want, name), rel=0, abs=1e-12), name
        for name in ("alphas", "alpha_precision_curve", "beta_coverage_curve"):
            np.testing.assert_allclose(to_host(getattr(got, name)), to_host(getattr(want, name)),
                                       rtol=0, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", FIDELITY_CASES)
def test_authenticity_is_identical_to_cpu(gpu_backend, case, dtype):
    train, fake = real_fake(case, dtype)
    gtrain, gfake = on_gpu(train, fake)
    want = gm.authenticity(train, fake, backend="cpu")
    with unchanged(gtrain, gfake):
        got = gm.authenticity(gtrain, gfake, backend=gpu_backend)
    assert isinstance(got, float)
    assert got == want


# --------------------------------------------------------------------------------------------
# larger sizes: tiles that do not divide the sizes
# --------------------------------------------------------------------------------------------

LARGE = dict(n=5000, m=7000, d=300)


@functools.lru_cache(maxsize=None)
def large_data(dtype_name):
    rng = np.random.default_rng(seed_of("large", dtype_name))
    real = gaussian(rng, LARGE["n"], LARGE["d"], dtype_name)
    fake = gaussian(rng, LARGE["m"], LARGE["d"], dtype_name, offset=0.02, scale=1.05)
    return real, fake


@functools.lru_cache(maxsize=None)
def large_cpu_results(dtype_name):
    """The CPU answers, computed once for both GPU backends."""
    real, fake = large_data(dtype_name)
    return gm.knn(real, fake, k=5, backend="cpu"), gm.prdc(real, fake, k=5, backend="cpu")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_large_knn_and_prdc_are_identical_to_cpu(gpu_backend, dtype):
    name = np.dtype(dtype).name
    real, fake = large_data(name)
    want_knn, want_prdc = large_cpu_results(name)
    greal, gfake = on_gpu(real, fake)
    assert_same_knn(gpu_knn(greal, gfake, 5, gpu_backend), want_knn)
    got = gm.prdc(greal, gfake, k=5, backend=gpu_backend)
    assert_same_fields(got, want_prdc, ("precision", "recall", "density", "coverage"))


# --------------------------------------------------------------------------------------------
# the Gram family and the diversity scores
# --------------------------------------------------------------------------------------------

KERNELS = [("cosine", None), ("rbf", None), ("rbf", 4.0), ("laplacian", 6.0), ("linear", None), ("polynomial", None)]


def gram_data(dtype, cross):
    rng = np.random.default_rng(seed_of("gram", np.dtype(dtype).name, cross))
    X = gaussian(rng, 700, 40, dtype, offset=0.3)
    Y = gaussian(rng, 530, 40, dtype, offset=-0.1) if cross else None
    return X, Y


def gram_rtol(dtype):
    return 1e-5 if dtype == np.float32 else 1e-12


@pytest.mark.parametrize("cross", [False, True], ids=["self", "cross"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("kernel,bw", KERNELS)
def test_gram_matches_cpu(gpu_backend, kernel, bw, dtype, cross):
    X, Y = gram_data(dtype, cross)
    want = gm.gram(X, Y, kernel=kernel, bandwidth=bw, backend="cpu")
    gx, gy = on_gpu(X, Y)
    with unchanged(gx, gy):
        got = gm.gram(gx, gy, kernel=kernel, bandwidth=bw, backend=gpu_backend)
    assert isinstance(got, cupy.ndarray) and got.device == gx.device
    assert got.dtype == want.dtype == dtype and got.shape == want.shape
    rtol = gram_rtol(dtype)
    scale = float(np.abs(want.astype(np.float64)).max())
    np.testing.assert_allclose(to_host(got), want, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("cross", [False, True], ids=["self", "cross"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("kernel,bw", KERNELS)
def test_kernel_sum_matches_cpu(gpu_backend, kernel, bw, dtype, cross):
    """Relative to sum |k|^power (the sums of cosine and linear kernels can cancel to near 0)."""
    X, Y = gram_data(dtype, cross)
    K = np.abs(gm.gram(X, Y, kernel=kernel, bandwidth=bw, backend="cpu").astype(np.float64))
    rtol = 1e-6 if dtype == np.float32 else 1e-10
    gx, gy = on_gpu(X, Y)
    for power in (1, 2):
        want = gm.kernel_sum(X, Y, kernel=kernel, bandwidth=bw, power=power, backend="cpu")
        with unchanged(gx, gy):
            got = gm.kernel_sum(gx, gy, kernel=kernel, bandwidth=bw, power=power, backend=gpu_backend)
        assert isinstance(got, float)
        assert abs(got - want) <= rtol * float(np.sum(K**power)), (power, got, want)


# Each case: data on which the method's spectrum has no eigenvalues at the round-off floor (those would
# make q = 0.5 depend on round-off): n < d for the exact cosine kernel, d < n for its dual, and rbf /
# laplacian matrices that are well conditioned.
VENDI_CASES = [
    # kernel, bandwidth, method, n, d, extra
    ("cosine", None, "exact", 300, 512, {}),
    ("cosine", None, "dual", 800, 48, {}),
    ("rbf", None, "exact", 300, 64, {}),
    ("laplacian", 8.0, "exact", 300, 64, {}),
    ("rbf", None, "nystrom", 1500, 64, dict(rank=200, seed=3)),
    ("rbf", None, "nystrom", 1500, 64, dict(rank=150, seed=4, n_iter=2)),
    ("rbf", None, "rff", 1500, 64, dict(rank=256, seed=5)),
    ("laplacian", 8.0, "rff", 1500, 64, dict(rank=256, seed=6)),
]


def vendi_rtol(method, dtype):
    if method in ("nystrom", "rff"):
        return 1e-4
    return 1e-5 if dtype == np.float32 else 1e-9


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("kernel,bw,method,n,d,extra", VENDI_CASES,
                         ids=[f"{c[0]}-{c[2]}" + ("-iter" if "n_iter" in c[5] else "") for c in VENDI_CASES])
def test_vendi_matches_cpu(gpu_backend, kernel, bw, method, n, d, extra, dtype):
    X = gaussian(np.random.default_rng(seed_of("vendi", kernel, method, n, d, np.dtype(dtype).name)), n, d, dtype,
                 offset=0.2)
    gx = on_gpu(X)
    rtol = vendi_rtol(method, dtype)
    for q in (0.5, 1, 2, math.inf):
        want = gm.vendi(X, q=q, kernel=kernel, bandwidth=bw, method=method, backend="cpu", **extra)
        with unchanged(gx):
            got = gm.vendi(gx, q=q, kernel=kernel, bandwidth=bw, method=method, backend=gpu_backend, **extra)
        assert isinstance(got, float) and got.backend == gpu_backend and got.method == method
        assert float(got) == pytest.approx(float(want), rel=rtol), (q, float(got), float(want))
        if want.bandwidth is not None:
            assert got.bandwidth == pytest.approx(want.bandwidth, rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_rke_intdiv_rrke_match_cpu(gpu_backend, dtype):
    rng = np.random.default_rng(seed_of("rke", np.dtype(dtype).name))
    centres = 3.0 * rng.standard_normal((5, 24))
    X = (centres[rng.integers(0, 5, size=900)] + rng.standard_normal((900, 24))).astype(dtype)
    Y = (X[:400] + 0.3 * rng.standard_normal((400, 24))).astype(dtype)
    gx, gy = on_gpu(X, Y)
    with unchanged(gx, gy):
        for bw in (None, 5.0):
            want = gm.rke(X, kernel="rbf", bandwidth=bw, backend="cpu")
            got = gm.rke(gx, kernel="rbf", bandwidth=bw, backend=gpu_backend)
            assert float(got) == pytest.approx(float(want), rel=1e-6), ("rke", bw)
            assert got.backend == gpu_backend
        for kernel, bw, q in (("cosine", None, 1), ("cosine", None, 2), ("rbf", 5.0, 1), ("rbf", 5.0, 0.5)):
            want = gm.intdiv(X, q=q, kernel=kernel, bandwidth=bw, backend="cpu")
            got = gm.intdiv(gx, q=q, kernel=kernel, bandwidth=bw, backend=gpu_backend)
            assert float(got) == pytest.approx(float(want), rel=1e-6, abs=1e-6), ("intdiv", kernel, q)
        want = gm.rrke(X, Y, kernel="rbf", bandwidth=5.0, backend="cpu")
        got = gm.rrke(gx, gy, kernel="rbf", bandwidth=5.0, backend=gpu_backend)
        tol = 1e-5 if dtype == np.float32 else 1e-9
        assert float(got) == pytest.approx(float(want), rel=tol, abs=tol), "rrke"


# --------------------------------------------------------------------------------------------
# inputs: CuPy views, torch tensors; bad input
# --------------------------------------------------------------------------------------------

def layout_data():
    rng = np.random.default_rng(seed_of("layouts"))
    big_real, big_fake = gaussian(rng, 400, 24, np.float32), gaussian(rng, 350, 24, np.float32, offset=0.1)
    return big_real, big_fake


def test_cupy_views_give_the_same_answer(gpu_backend):
    big_real, big_fake = layout_data()
    greal, gfake = on_gpu(big_real[:, ::2], big_fake[:, ::2])  # contiguous device copies
    vreal, vfake = (cupy.asarray(a)[:, ::2] for a in (big_real, big_fake))  # strided device views
    assert not vreal.flags.c_contiguous
    assert_same_knn(gpu_knn(vreal, vfake, 5, gpu_backend), gpu_knn(greal, gfake, 5, gpu_backend))
    with unchanged(vreal, vfake):
        view_prdc = gm.prdc(vreal, vfake, k=5, backend=gpu_backend)
        view_vendi = gm.vendi(vreal, kernel="rbf", bandwidth=3.0, method="exact", backend=gpu_backend)
    assert view_prdc == gm.prdc(greal, gfake, k=5, backend=gpu_backend)
    assert float(view_vendi) == pytest.approx(
        float(gm.vendi(greal, kernel="rbf", bandwidth=3.0, method="exact", backend=gpu_backend)), rel=1e-12)


def test_torch_cuda_tensors_give_the_same_answer(gpu_backend):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA device")
    big_real, big_fake = layout_data()
    greal, gfake = on_gpu(big_real, big_fake)
    treal, tfake = (torch.from_numpy(a).to("cuda") for a in (big_real, big_fake))
    before = [t.clone() for t in (treal, tfake)]
    want_knn = gpu_knn(greal, gfake, 5, gpu_backend)
    dist, idx = gm.knn(treal, tfake, k=5, backend=gpu_backend)
    assert_same_knn((to_host(dist), to_host(idx)), want_knn)
    assert gm.prdc(treal, tfake, k=5, backend=gpu_backend) == gm.prdc(greal, gfake, k=5, backend=gpu_backend)
    assert float(gm.vendi(treal, kernel="cosine", method="exact", backend=gpu_backend)) == pytest.approx(
        float(gm.vendi(greal, kernel="cosine", method="exact", backend=gpu_backend)), rel=1e-12)
    # a non-contiguous tensor view
    vreal, vfake = treal[:, ::2], tfake[:, ::2]
    assert not vreal.is_contiguous()
    dist, idx = gm.knn(vreal, vfake, k=5, backend=gpu_backend)
    assert_same_knn((to_host(dist), to_host(idx)), gpu_knn(greal[:, ::2], gfake[:, ::2], 5, gpu_backend))
    for b, t in zip(before, (treal, tfake)):
        assert torch.equal(b, t), "the caller's tensor was modified"


@pytest.mark.parametrize("bad", [math.nan, math.inf], ids=["nan", "inf"])
def test_non_finite_device_arrays_are_rejected_by_name(gpu_backend, bad):
    rng = np.random.default_rng(seed_of("bad", bad))
    X, Y = on_gpu(gaussian(rng, 60, 6, np.float32), gaussian(rng, 50, 6, np.float32))
    X[7, 3] = bad
    with pytest.raises(ValueError, match=X_):
        gm.knn(X, k=3, backend=gpu_backend)
    with pytest.raises(ValueError, match=X_):
        gm.knn(X, Y, k=3, backend=gpu_backend)
    with pytest.raises(ValueError, match=X_):
        gm.vendi(X, backend=gpu_backend)
    with pytest.raises(ValueError, match=X_):
        gm.gram(X, backend=gpu_backend)
    with pytest.raises(ValueError, match=REAL_):
        gm.prdc(X, Y, k=3, backend=gpu_backend)
    with pytest.raises(ValueError, match=REAL_):
        gm.precision_recall(X, Y, k=3, backend=gpu_backend)


def test_mismatched_widths_are_rejected(gpu_backend):
    rng = np.random.default_rng(seed_of("widths"))
    X, Y = on_gpu(gaussian(rng, 40, 6, np.float64), gaussian(rng, 30, 5, np.float64))
    with pytest.raises(ValueError):
        gm.knn(X, Y, k=3, backend=gpu_backend)
    with pytest.raises(ValueError):
        gm.gram(X, Y, backend=gpu_backend)
    with pytest.raises(ValueError):
        gm.prdc(X, Y, k=3, backend=gpu_backend)
    with pytest.raises(ValueError):
        gm.radius_query(X, Y, np.ones(40), backend=gpu_backend)
