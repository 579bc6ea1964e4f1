"""The GPU engines ("cuda": the compiled genmetrics._cuda driven by genmetrics.engine.cuda; "cupy": the array
engine run on CuPy) against the compiled CPU engine (backend="cpu") on the same data, on two devices.

Every test that takes the ``gpu`` fixture runs on each device:

* ``real``: CuPy and an NVIDIA GPU. Skipped, with the reason, without CuPy or without a device
  (``cupy.cuda.runtime.getDeviceCount()`` raising or returning 0). These carry the ``gpu`` marker
  (``pytest -m gpu`` selects them, ``-m "not gpu"`` leaves them out). bench/gpu_check.sh runs this file.
* ``emulated``: tests/_fake_gpu.py installs a fake ``cupy`` (NumPy arrays whose addresses play device pointers)
  and a fake ``genmetrics._cuda`` (NumPy emulations of the kernels of cuda/, on the memory behind those
  pointers). The driver's tile loops, mirroring of symmetric tiles, pointers of slices, ball-test capacity
  regrowth and out-of-memory retries run on any machine. The data is smaller there (``gpu.small``).

Tests that only make sense on one device say so: ``@emulated_only`` (the emulator's internals, the kernels'
call log, forced block and tile sizes, injected out-of-memory failures, CuPy's TF32 switch set through the
environment) and ``@real_only`` (sizes too big for the emulation, torch CUDA tensors).

What is checked:

* k-NN and radius queries: identical indices, counts and float64 distances, bit for bit (every decision is
  made on the float64 distance sqrt(np.sum((x - y)**2, -1)) in both engines), for float32 and float64,
  self and cross queries, k = 1, 5, n - 1, 1024; exact ties (integer lattices, duplicated rows), points far
  from the origin (offset 1000), non-contiguous input, n = 1, d = 1, radii equal to exact distances, and
  sizes (5000 x 7000 x 300, real device) whose tiles do not divide them.
* prdc, precision_recall, alpha_precision, authenticity: the same numbers as the CPU engine.
* gram (rtol 1e-5 float32 / 1e-12 float64, atol scaled by the largest entry), kernel_sum (1e-6 / 1e-10
  of sum |k|^power), vendi (exact and dual: 1e-5 / 1e-9 relative; nystrom and rff with the same seed:
  1e-4), rke and intdiv (1e-6), rrke (1e-5 / 1e-9).
* inputs: CuPy arrays, non-contiguous CuPy views and torch CUDA tensors give the same answer, results
  stay on the device, the caller's arrays are not modified; NaN/inf and mismatched widths raise a
  ValueError naming the argument; results report the backend that computed them.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import genmetrics as gm
from _fake_gpu import installed
from _fake_gpu import ndarray as FakeArray
from genmetrics import engine as _backend
from gpu_data import FIDELITY_CASES, KNN_CASES, gaussian, knn_case, lattice, quiet, real_fake, seed_of
from reference_fidelity import TINY_CLUSTERS, tiny_cluster

try:
    import cupy as _cupy
except Exception as exc:  # not installed, or installed without a working CUDA library
    _cupy, _NO_CUPY = None, f"CuPy is not importable: {type(exc).__name__}: {exc}"
else:
    _NO_CUPY = ""

GPU_BACKENDS = ("cuda", "cupy")
DTYPES = (np.float32, np.float64)
DTYPE_IDS = ("float32", "float64")
X_ = r"\bX\b"
REAL_ = r"\breal\b"


def rtol_of(dtype) -> float:
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-10


# --------------------------------------------------------------------------------------------
# the two devices
# --------------------------------------------------------------------------------------------


@functools.cache
def _real_device_missing() -> str:
    """Why the real device cannot be used ("" when it can)."""
    if _cupy is None:
        return _NO_CUPY
    try:
        count = int(_cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # no driver, no device, CUDA runtime errors
        return f"no CUDA device visible to CuPy ({type(exc).__name__}: {exc})"
    return "" if count > 0 else "no CUDA device visible to CuPy (0 devices)"


class Device:
    """What the ``gpu`` fixture gives: ``kind`` ("real" or "emulated"), ``cupy`` (the module, real or fake),
    ``ndarray`` (its array type), ``small`` (smaller data for the emulation), and on the emulated device the
    fakes of tests/_fake_gpu.py: ``cuda`` (the kernels and their call log), ``engine`` (genmetrics.engine.cuda
    bound to the fakes), ``memory``."""

    def __init__(self, kind, cupy, fake=None):
        self.kind, self.cupy, self.ndarray = kind, cupy, cupy.ndarray
        self.emulated = kind == "emulated"
        self.small = self.emulated
        self.cuda = getattr(fake, "cuda", None)
        self.engine = getattr(fake, "engine", None)
        self.memory = getattr(fake, "memory", None)

    def device(self, a):
        """A device copy of a host array (None stays None)."""
        return None if a is None else self.cupy.asarray(a)

    def host(self, a):
        """A NumPy array of a device array (CuPy, fake, or anything with __cuda_array_interface__), a NumPy
        array or a scalar."""
        if self.emulated:
            return a.get() if isinstance(a, FakeArray) else np.asarray(a)
        if not isinstance(a, self.ndarray) and hasattr(a, "__cuda_array_interface__"):
            a = self.cupy.asarray(a)
        return self.cupy.asnumpy(a) if isinstance(a, self.ndarray) else np.asarray(a)


_REAL = pytest.param("real", marks=pytest.mark.gpu)


@pytest.fixture(params=[_REAL, "emulated"])
def gpu(request):
    """The real GPU (skipped without one) and the emulated one (installed for the test, undone afterwards)."""
    if _backend._CORE is None:  # the compiled engine is what the GPU engines are held to
        pytest.skip(f"the compiled CPU engine is unavailable: {_backend._CORE_ERROR}")
    if request.param == "real":
        missing = _real_device_missing()
        if missing:
            pytest.skip(missing)
        yield Device("real", _cupy)
    else:
        with installed() as fake:
            yield Device("emulated", fake.cupy, fake)


#: the test runs on the emulated device only (it reads the emulator's call log, forces its memory, ...)
emulated_only = pytest.mark.parametrize("gpu", ["emulated"], indirect=True)
#: the test runs on the real device only
real_only = pytest.mark.parametrize("gpu", [_REAL], indirect=True)


@pytest.fixture(params=GPU_BACKENDS)
def gpu_backend(request, gpu):
    """Each GPU backend in turn, skipped with its reason when gm.backends() says it is unavailable."""
    available, reason = gm.backends().get(request.param, (False, "not listed by gm.backends()"))
    if not available:
        pytest.skip(f"backend {request.param!r} unavailable on the {gpu.kind} device: {reason}")
    return request.param


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


@contextmanager
def unchanged(gpu, *arrays):
    """The caller's arrays hold the same values after the block as before it."""
    arrays = [a for a in arrays if a is not None]
    before = [gpu.host(a).copy() for a in arrays]
    yield
    for b, a in zip(before, arrays):
        assert np.array_equal(gpu.host(a), b), "the caller's array was modified"


def assert_same_knn(gpu, got, want):
    (gd, gi), (wd, wi) = (gpu.host(got[0]), gpu.host(got[1])), (gpu.host(want[0]), gpu.host(want[1]))
    assert gd.dtype == np.float64 and gi.dtype == np.int64, (gd.dtype, gi.dtype)
    assert gd.shape == wd.shape and gi.shape == wi.shape, (gd.shape, wd.shape)
    bad = np.argwhere((gi != wi) | (gd != wd))
    if bad.size:
        r, c = bad[0]
        raise AssertionError(
            f"{len(bad)} entries differ; first at query {r}, rank {c}: GPU ({gi[r, c]}, "
            f"{gd[r, c]!r}) vs CPU ({wi[r, c]}, {wd[r, c]!r})"
        )


def device_knn(gpu, gx, gy, k, backend):
    """gm.knn on device arrays: checks the result's type, device, dtypes, shapes and order; returns it."""
    with unchanged(gpu, gx, gy):
        dist, idx = gm.knn(gx, gy, k=k, backend=backend)
    m = gx.shape[0] if gy is None else gy.shape[0]
    for a in (dist, idx):
        assert isinstance(a, gpu.ndarray), f"knn on GPU input returned {type(a).__name__}, not a device array"
        assert a.device == gx.device
        assert a.shape == (m, k), a.shape
    assert dist.dtype == np.float64 and idx.dtype == np.int64, (dist.dtype, idx.dtype)
    assert np.all(np.diff(gpu.host(dist), axis=1) >= 0), "distances are not ascending"
    return dist, idx


def assert_same_fields(got, want, names):
    for name in names:
        g, w = getattr(got, name), getattr(want, name)
        assert g == w, f"{name}: GPU {g!r} != CPU {w!r}"
        if isinstance(w, float):
            assert type(g) is float, f"{name}: expected a Python float, got {type(g).__name__}"


def needs_cuda(gpu):
    """Skips a test that drives backend="cuda" where it is unavailable (the real device without genmetrics._cuda)."""
    available, reason = gm.backends()["cuda"]
    if not available:
        pytest.skip(f"backend 'cuda' unavailable on the {gpu.kind} device: {reason}")


def set_small_blocks(gpu, refs: int, rows: int):
    """Emulated device: free memory such that CudaDistanceOps.block_rows(refs) is `rows` at the default share."""
    per = gpu.engine.CudaDistanceOps.BYTES_PER_ELEMENT
    gpu.cupy.set_free_memory(int(math.ceil(rows * refs * per / gpu.engine.MEMORY_SHARE)))
    assert gpu.engine.CudaDistanceOps().block_rows(refs) == rows


# --------------------------------------------------------------------------------------------
# the emulation itself, and its installation
# --------------------------------------------------------------------------------------------


def test_installing_the_fakes_is_undone_afterwards():
    import genmetrics

    if _backend._CORE is None:
        pytest.skip(f"the compiled CPU engine is unavailable: {_backend._CORE_ERROR}")
    before_modules = {name: sys.modules.get(name) for name in ("cupy", "genmetrics._cuda", "genmetrics.engine.cuda")}
    before_status, before_backends = _backend._GPU_STATUS, dict(_backend._BACKENDS)
    before_cuda_attr = getattr(genmetrics, "_cuda", None)
    with installed() as gpu:
        assert sys.modules["cupy"] is gpu.cupy and genmetrics._cuda is gpu.cuda
        assert gm.backends()["cuda"][0] and gm.backends()["cupy"][0], gm.backends()
        assert "cuda" not in _backend._BACKENDS or isinstance(_backend._BACKENDS["cuda"], gpu.engine.CudaBackend)
        X = gpu.device(np.random.default_rng(0).standard_normal((20, 3)))
        assert gm.vendi(X, backend="cuda").backend == "cuda"
        assert isinstance(_backend._BACKENDS["cuda"], gpu.engine.CudaBackend)
    assert {name: sys.modules.get(name) for name in before_modules} == before_modules
    assert getattr(genmetrics, "_cuda", None) is before_cuda_attr
    assert _backend._GPU_STATUS is before_status and _backend._BACKENDS == before_backends


@emulated_only
def test_fake_arrays_behave_like_cupy_arrays(gpu):
    cp = gpu.cupy
    A = cp.asarray(np.arange(24, dtype=np.float32).reshape(6, 4))
    assert hasattr(A, "__cuda_array_interface__") and gm.support.arrays.is_device_array(A)
    assert A[2:].data.ptr == A.data.ptr + 2 * 4 * 4
    assert A[1:, 1:].data.ptr == A.data.ptr + (4 + 1) * 4
    assert A.T.data.ptr == A.data.ptr
    for value in (A + 1, A.T @ A, A.astype(np.float64), A.sum(axis=0), cp.sqrt(A), A[A > 3], A.sum()):
        assert isinstance(value, FakeArray), type(value)
    assert A.sum().shape == () and A[0, 0].shape == ()  # 0-d arrays, as CuPy returns
    host_array = np.ones(4, dtype=np.float32)
    with pytest.raises(TypeError):
        A + host_array  # noqa: B018
    with pytest.raises(TypeError):
        cp.concatenate([A[0], host_array])
    with pytest.raises(TypeError):
        cp.ascontiguousarray(host_array)
    copy = cp.asarray(host_array)  # host -> device is a copy
    copy[0] = 5
    assert host_array[0] == 1


@emulated_only
def test_fake_ball_tests_count_past_the_capacity_without_writing_past_it(gpu):
    cp, cuda = gpu.cupy, gpu.cuda
    approx = cp.asarray(np.full((3, 5), 4.0, dtype=np.float32))  # every pair exactly on its sphere: undecided
    sq = cp.zeros(5, dtype=cp.float32)
    radius2 = cp.full(5, 4.0)
    sure = cp.zeros(3, dtype=cp.int64)
    guard = cp.full(8, -7, dtype=cp.int64)  # 4 slots of capacity, then 4 that must stay untouched
    rows, cols = guard[:4], cp.zeros(4, dtype=cp.int64)
    count = cp.zeros(1, dtype=cp.uint64)
    cuda.ball_tests(
        approx.data.ptr,
        "float32",
        3,
        5,
        5,
        sq.data.ptr,
        sq.data.ptr,
        0.0,
        1e-9,
        radius2.data.ptr,
        True,
        sure.data.ptr,
        rows.data.ptr,
        cols.data.ptr,
        count.data.ptr,
        4,
        0,
    )
    assert int(count.get()[0]) == 15 and gpu.host(sure).tolist() == [0, 0, 0]
    assert gpu.host(guard[4:]).tolist() == [-7] * 4 and np.all(gpu.host(rows) >= 0)
    with pytest.raises(AssertionError, match="not inside any live device buffer"):
        cuda.sq_distances(approx.data.ptr, "float32", 3, 5, 6, sq.data.ptr, sq.data.ptr, -1, 0)  # ld too large


# --------------------------------------------------------------------------------------------
# backends listing and dispatch
# --------------------------------------------------------------------------------------------


def test_backends_lists_the_gpu_backends(gpu):
    info = gm.backends()
    for name in ("cpu", "numpy", "cuda", "cupy"):
        assert name in info, f"gm.backends() does not list {name!r}"
        available, reason = info[name]
        assert isinstance(available, bool) and isinstance(reason, str)


def test_results_report_their_backend(gpu, gpu_backend):
    X = gpu.device(gaussian(np.random.default_rng(1), 200, 16, np.float32))
    for kernel, method in (("cosine", "exact"), ("cosine", "dual"), ("rbf", "exact")):
        assert gm.vendi(X, kernel=kernel, method=method, backend=gpu_backend).backend == gpu_backend
    assert gm.rke(X, backend=gpu_backend).backend == gpu_backend
    assert gm.intdiv(X, backend=gpu_backend).backend == gpu_backend


def test_gpu_arrays_run_on_the_gpu_by_default(gpu, monkeypatch):
    """The CUDA engine where it is available (always on the emulated device), else the CuPy one."""
    monkeypatch.delenv("GENMETRICS_BACKEND", raising=False)
    info = gm.backends()
    if info["cuda"][0]:
        expected = "cuda"
    elif info["cupy"][0]:
        expected = "cupy"
    else:
        pytest.skip(f"no GPU backend available: cuda: {info['cuda'][1]}; cupy: {info['cupy'][1]}")
    if gpu.emulated:
        assert expected == "cuda"
    X = gpu.device(
        gaussian(np.random.default_rng(2), 150 if not gpu.small else 60, 8 if not gpu.small else 6, np.float64)
    )
    assert gm.vendi(X).backend == expected
    dist, idx = gm.knn(X, k=3)
    assert isinstance(dist, gpu.ndarray) and isinstance(idx, gpu.ndarray)
    if gpu.emulated:
        assert gpu.cuda.calls["row_kth_smallest"] >= 1


# --------------------------------------------------------------------------------------------
# k-NN
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", KNN_CASES)
def test_knn_is_identical_to_cpu(gpu, gpu_backend, case, dtype):
    X, Y, k = knn_case(case, dtype, small=gpu.small)
    got = device_knn(gpu, gpu.device(X), gpu.device(Y), k, gpu_backend)
    assert_same_knn(gpu, got, gm.knn(X, Y, k=k, backend="cpu"))
    if gpu.emulated and gpu_backend == "cuda":
        assert gpu.cuda.calls["sq_distances"] >= 1 and gpu.cuda.calls["exact_sq_distances"] >= 1
    elif gpu.emulated:
        assert not gpu.cuda.calls  # the array engine never touches the kernels


@emulated_only
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", ["self k=5", "cross k=5", "lattice self", "offset 1000 lattice"])
def test_knn_in_many_blocks_is_identical_to_cpu(gpu, case, dtype):
    """Little free memory: the queries go through the driver in blocks of 13 rows (sizes not multiples)."""
    X, Y, k = knn_case(case, dtype, small=True)
    set_small_blocks(gpu, X.shape[0], 13)
    got = device_knn(gpu, gpu.device(X), gpu.device(Y), k, "cuda")
    assert_same_knn(gpu, got, gm.knn(X, Y, k=k, backend="cpu"))
    queries = (X if Y is None else Y).shape[0]
    blocks = gpu.cuda.calls_of("sq_distances")
    assert len(blocks) == math.ceil(queries / 13) > 1
    assert [b["rows"] for b in blocks] == [min(13, queries - s) for s in range(0, queries, 13)]
    expected_offsets = list(range(0, queries, 13)) if Y is None else [-1] * len(blocks)
    assert [b["self_offset"] for b in blocks] == expected_offsets
    assert gpu.cuda.calls["row_kth_smallest"] == len(blocks)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_knn_noncontiguous_input(gpu, gpu_backend, dtype):
    """X[:, ::2] of a bigger array: the NumPy view for the CPU, the device view for the GPU."""
    rng = np.random.default_rng(seed_of("noncontiguous", np.dtype(dtype).name))
    big_x, big_y = gaussian(rng, 350, 30, dtype), gaussian(rng, 280, 30, dtype)
    X, Y = big_x[:, ::2], big_y[:, ::2]
    gx, gy = gpu.device(big_x), gpu.device(big_y)
    gx, gy = gx[:, ::2], gy[:, ::2]
    assert not gx.flags.c_contiguous
    assert_same_knn(gpu, device_knn(gpu, gx, gy, 5, gpu_backend), gm.knn(X, Y, k=5, backend="cpu"))
    assert_same_knn(gpu, device_knn(gpu, gx, None, 5, gpu_backend), gm.knn(X, None, k=5, backend="cpu"))
    rows = gx[::-2]  # negative row stride
    assert_same_knn(gpu, device_knn(gpu, rows, None, 3, gpu_backend), gm.knn(X[::-2], None, k=3, backend="cpu"))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_knn_on_views_with_offsets_and_strides(gpu, gpu_backend, dtype):
    """Inputs that are slices of bigger device buffers: pointers with offsets, and strided views (on the
    emulated device in blocks of 17 rows)."""
    rng = np.random.default_rng(seed_of("views", np.dtype(dtype).name))
    big = gaussian(rng, 200, 24, dtype)
    g = gpu.device(big)
    rows = g[11:151]  # contiguous rows at an offset: the engine may use it in place
    cols = g[:, 3::2]  # strided: copied to a contiguous array
    reversed_rows = g[::-3]
    if gpu.emulated:
        set_small_blocks(gpu, 140, 17)
    for gx, hx, gy, hy, k in (
        (rows, big[11:151], None, None, 4),
        (cols, big[:, 3::2], cols[:50], big[:50, 3::2], 3),
        (reversed_rows, big[::-3], rows[5:40], big[16:51], 2),
    ):
        with unchanged(gpu, g):
            got = gm.knn(gx, gy, k=k, backend=gpu_backend)
        assert_same_knn(
            gpu,
            got,
            gm.knn(np.ascontiguousarray(hx), None if hy is None else np.ascontiguousarray(hy), k=k, backend="cpu"),
        )


def test_knn_converts_other_dtypes_like_the_cpu(gpu):
    """float16 and integer inputs (converted by the validation), and a float32/float64 pair (computed in float64)."""
    needs_cuda(gpu)
    rng = np.random.default_rng(5)
    cases = (
        (lattice(rng, 90, 3, np.float16), None),
        (rng.integers(-3, 4, size=(80, 4)), None),
        (gaussian(rng, 70, 6, np.float32), gaussian(rng, 40, 6, np.float64)),
    )
    for X, Y in cases:
        got = gm.knn(gpu.device(X), gpu.device(Y), k=3, backend="cuda")
        assert_same_knn(gpu, got, gm.knn(X, Y, k=3, backend="cpu"))
    if gpu.emulated:
        assert {c["dtype"] for c in gpu.cuda.calls_of("sq_distances")} == {"float32", "float64"}


@emulated_only
def test_tf32_margins_keep_the_decisions(gpu, monkeypatch):
    """With CuPy's TF32 switch on, the float32 margins widen to TF32's rounding: more re-checks, same answers."""
    monkeypatch.setenv("CUPY_TF32", "1")
    assert gpu.engine.tf32_matmul()
    X, Y, k = knn_case("offset 1000 lattice", np.float32)
    assert_same_knn(gpu, device_knn(gpu, gpu.device(X), gpu.device(Y), k, "cuda"), gm.knn(X, Y, k=k, backend="cpu"))
    X, Y, radii = radius_case("lattice", np.float32, small=True)
    assert_same_radius_query(
        gpu,
        gm.radius_query(gpu.device(X), gpu.device(Y), radii, backend="cuda"),
        gm.radius_query(X, Y, radii, backend="cpu"),
    )


# --------------------------------------------------------------------------------------------
# radius queries and the ball tests
# --------------------------------------------------------------------------------------------


def radius_case(name, dtype, small):
    """Radii equal to exact distances (each reference's 3rd nearest query): every ball has queries on its
    sphere, so < and <= give different counts and both must match."""
    rng = np.random.default_rng(seed_of("radius", name, np.dtype(dtype).name))
    n, m = (160, 130) if small else (450, 380)
    if name == "gaussian":
        X, Y = gaussian(rng, n, 16, dtype), gaussian(rng, m, 16, dtype)
    elif name == "lattice":
        X, Y = lattice(rng, n, 3, dtype), lattice(rng, m, 3, dtype)
    elif name == "offset 1000":
        X, Y = gaussian(rng, n, 16, dtype, offset=1000.0), gaussian(rng, m, 16, dtype, offset=1000.0)
    else:
        X = lattice(rng, n, 4, dtype, offset=1000.0, step=2.0**-6)
        Y = lattice(rng, m, 4, dtype, offset=1000.0, step=2.0**-6)
    copies = 20 if small else 40
    Y[:copies] = X[:copies]  # queries at distance 0 of a reference
    radii = np.ascontiguousarray(gm.knn(Y, X, k=3, backend="cpu")[0][:, 2])  # exact distances: on the spheres
    radii[::11] = 0.0  # zero-radius balls: hold only exact copies, and only when inclusive
    return X, Y, radii


def assert_same_radius_query(gpu, got, want):
    assert isinstance(got, gm.RadiusQuery)
    for name in (field.name for field in dataclasses.fields(got)):
        assert isinstance(getattr(got, name), gpu.ndarray), f"{name} should stay on the device"
        g, w = gpu.host(getattr(got, name)), gpu.host(getattr(want, name))
        assert g.dtype == w.dtype and g.shape == w.shape, (name, g.dtype, g.shape, w.dtype, w.shape)
        bad = np.flatnonzero(g != w)
        assert bad.size == 0, (
            f"{name}: {bad.size} queries differ; first {bad[0]}: GPU {g[bad[0]]!r} vs CPU {w[bad[0]]!r}"
        )


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", ["gaussian", "lattice", "offset 1000", "offset 1000 lattice"])
def test_radius_query_is_identical_to_cpu(gpu, gpu_backend, case, dtype):
    X, Y, radii = radius_case(case, dtype, small=gpu.small)
    gx, gy = gpu.device(X), gpu.device(Y)
    if gpu.emulated and gpu_backend == "cuda":
        set_small_blocks(gpu, X.shape[0], 29)
    counts = {}
    for inclusive in (False, True):
        want = gm.radius_query(X, Y, radii, inclusive=inclusive, backend="cpu")
        for radii_given in (radii, gpu.device(radii)):  # radii on the host, then on the device
            with unchanged(gpu, gx, gy):
                got = gm.radius_query(gx, gy, radii_given, inclusive=inclusive, backend=gpu_backend)
            assert_same_radius_query(gpu, got, want)
        counts[inclusive] = np.asarray(want.counts)
    assert np.any(counts[True] > counts[False]), "the radii were meant to put queries on the spheres"
    if gpu.emulated and gpu_backend == "cuda":
        assert len(gpu.cuda.calls_of("sq_distances")) > 2  # several distance blocks per query
        assert gpu.cuda.calls["ball_tests"] >= 2


def test_radius_query_takes_radii_on_the_device(gpu, gpu_backend):
    """Radii straight from a GPU k-NN give the answer of the same radii on the host."""
    rng = np.random.default_rng(seed_of("device radii"))
    X, Y = gaussian(rng, 300, 8, np.float32), gaussian(rng, 200, 8, np.float32)
    gx, gy = gpu.device(X), gpu.device(Y)
    device_radii = gm.knn(gx, k=4, backend=gpu_backend)[0][:, 3]
    got = gm.radius_query(gx, gy, device_radii, backend=gpu_backend)
    want = gm.radius_query(X, Y, gpu.host(device_radii), backend="cpu")
    assert np.array_equal(gpu.host(got.counts), gpu.host(want.counts))


@emulated_only
def test_ball_test_capacity_regrowth(gpu):
    """Lattice points and unit radii: thousands of pairs lie exactly on the spheres, more than the driver's first
    capacity; the driver must repeat the tile with room for all of them and count each pair once."""
    rng = np.random.default_rng(7)
    X, Y = lattice(rng, 900, 3, np.float32), lattice(rng, 700, 3, np.float32)
    radii = np.ones(X.shape[0])
    for inclusive in (False, True):
        gpu.cuda.reset()
        got = gm.radius_query(gpu.device(X), gpu.device(Y), radii, inclusive=inclusive, backend="cuda")
        assert_same_radius_query(gpu, got, gm.radius_query(X, Y, radii, inclusive=inclusive, backend="cpu"))
        calls = gpu.cuda.calls_of("ball_tests")
        overflowed = [i for i, c in enumerate(calls) if c["found"] > c["capacity"]]
        assert overflowed, [(c["capacity"], c["found"]) for c in calls]
        for i in overflowed:  # the repeat of the same tile, with room for every pair
            assert calls[i + 1]["ptr"] == calls[i]["ptr"] and calls[i + 1]["capacity"] >= calls[i]["found"]
            assert calls[i + 1]["found"] == calls[i]["found"] <= calls[i + 1]["capacity"]


# --------------------------------------------------------------------------------------------
# fidelity, coverage and memorisation metrics
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", FIDELITY_CASES)
def test_prdc_is_identical_to_cpu(gpu, gpu_backend, case, dtype):
    real, fake = real_fake(case, dtype, small=gpu.small)
    greal, gfake = gpu.device(real), gpu.device(fake)
    for k in (1, 5):
        for inclusive in (False, True):
            want = quiet(gm.prdc, real, fake, k=k, inclusive=inclusive, backend="cpu")
            with unchanged(gpu, greal, gfake):
                got = quiet(gm.prdc, greal, gfake, k=k, inclusive=inclusive, backend=gpu_backend)
            assert isinstance(got, gm.PRDC)
            assert_same_fields(
                got, want, ("precision", "recall", "density", "coverage", "k", "n_real", "n_fake", "inclusive")
            )
            for name in ("precision", "recall", "density", "coverage"):
                assert isinstance(getattr(got, name), float), name


def assert_same_realism(gpu, got, want):
    g, w = np.asarray(gpu.host(got), dtype=np.float64), np.asarray(gpu.host(want), dtype=np.float64)
    assert g.shape == w.shape
    assert np.array_equal(np.isinf(g), np.isinf(w)), "realism is inf for different samples"
    finite = np.isfinite(w)
    np.testing.assert_allclose(g[finite], w[finite], rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", FIDELITY_CASES)
def test_precision_recall_is_identical_to_cpu(gpu, gpu_backend, case, dtype):
    real, fake = real_fake(case, dtype, small=gpu.small)
    greal, gfake = gpu.device(real), gpu.device(fake)
    for k in (1, 3):
        want = gm.precision_recall(real, fake, k=k, backend="cpu")
        with unchanged(gpu, greal, gfake):
            got = gm.precision_recall(greal, gfake, k=k, backend=gpu_backend)
        assert_same_fields(got, want, ("precision", "recall", "k", "n_real", "n_fake"))
        assert_same_realism(gpu, got.realism, want.realism)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", FIDELITY_CASES)
def test_alpha_precision_is_identical_to_cpu(gpu, gpu_backend, case, dtype):
    real, fake = real_fake(case, dtype, small=gpu.small)
    greal, gfake = gpu.device(real), gpu.device(fake)
    for integration in ("trapezoid", "original"):
        want = gm.alpha_precision(real, fake, integration=integration, backend="cpu")
        with unchanged(gpu, greal, gfake):
            got = gm.alpha_precision(greal, gfake, integration=integration, backend=gpu_backend)
        assert_same_fields(got, want, ("authenticity", "integration", "n_real", "n_fake"))
        for name in ("delta_precision_alpha", "delta_coverage_beta"):
            assert type(getattr(got, name)) is float
            assert getattr(got, name) == pytest.approx(getattr(want, name), rel=0, abs=1e-12), name
        for name in ("alphas", "alpha_precision_curve", "beta_coverage_curve"):
            np.testing.assert_allclose(
                gpu.host(getattr(got, name)), gpu.host(getattr(want, name)), rtol=0, atol=1e-12, err_msg=name
            )
    centre = real.astype(np.float64)[: len(real) // 2].mean(axis=0)
    want_c = gm.alpha_precision(real, fake, center=centre, backend="cpu")
    for centre_given in (centre, gpu.device(centre)):  # on the host, then on the device
        got_c = gm.alpha_precision(greal, gfake, center=centre_given, backend=gpu_backend)
        assert got_c.delta_precision_alpha == pytest.approx(want_c.delta_precision_alpha, rel=0, abs=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", FIDELITY_CASES)
def test_authenticity_is_identical_to_cpu(gpu, gpu_backend, case, dtype):
    train, fake = real_fake(case, dtype, small=gpu.small)
    gtrain, gfake = gpu.device(train), gpu.device(fake)
    want = gm.authenticity(train, fake, backend="cpu")
    with unchanged(gpu, gtrain, gfake):
        got = gm.authenticity(gtrain, gfake, backend=gpu_backend)
    assert type(got) is gm.Score
    assert got == want


@emulated_only
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_fidelity_metrics_in_many_blocks(gpu, dtype):
    """The fidelity metrics with the driver's distance blocks forced small (several per pass)."""
    real, fake = real_fake("lattice", dtype)
    greal, gfake = gpu.device(real), gpu.device(fake)
    set_small_blocks(gpu, 200, 23)
    want = quiet(gm.prdc, real, fake, k=3, backend="cpu")
    got = quiet(gm.prdc, greal, gfake, k=3, backend="cuda")
    assert_same_fields(got, want, ("precision", "recall", "density", "coverage"))
    want_pr, got_pr = gm.precision_recall(real, fake, backend="cpu"), gm.precision_recall(greal, gfake, backend="cuda")
    assert_same_fields(got_pr, want_pr, ("precision", "recall"))
    np.testing.assert_allclose(gpu.host(got_pr.realism), want_pr.realism, rtol=1e-12)
    assert gm.authenticity(greal, gfake, backend="cuda") == gm.authenticity(real, fake, backend="cpu")
    assert len(gpu.cuda.calls_of("sq_distances")) > 20


# --------------------------------------------------------------------------------------------
# larger sizes: tiles that do not divide the sizes
# --------------------------------------------------------------------------------------------

LARGE = dict(n=5000, m=7000, d=300)


@functools.cache
def large_data(dtype_name):
    rng = np.random.default_rng(seed_of("large", dtype_name))
    real = gaussian(rng, LARGE["n"], LARGE["d"], dtype_name)
    fake = gaussian(rng, LARGE["m"], LARGE["d"], dtype_name, offset=0.02, scale=1.05)
    return real, fake


@functools.cache
def large_cpu_results(dtype_name):
    """The CPU answers, computed once for both GPU backends."""
    real, fake = large_data(dtype_name)
    return gm.knn(real, fake, k=5, backend="cpu"), gm.prdc(real, fake, k=5, backend="cpu")


@real_only
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_large_knn_and_prdc_are_identical_to_cpu(gpu, gpu_backend, dtype):
    name = np.dtype(dtype).name
    real, fake = large_data(name)
    want_knn, want_prdc = large_cpu_results(name)
    greal, gfake = gpu.device(real), gpu.device(fake)
    assert_same_knn(gpu, device_knn(gpu, greal, gfake, 5, gpu_backend), want_knn)
    got = gm.prdc(greal, gfake, k=5, backend=gpu_backend)
    assert_same_fields(got, want_prdc, ("precision", "recall", "density", "coverage"))


# --------------------------------------------------------------------------------------------
# the Gram family
# --------------------------------------------------------------------------------------------

#: (kernel, parameters): the median-heuristic bandwidth and given ones, default and given polynomial parameters
KERNEL_CASES = [
    ("cosine", {}),
    ("linear", {}),
    ("rbf", {}),
    ("rbf", {"bandwidth": 3.0}),
    ("rbf", {"bandwidth": 4.0}),
    ("laplacian", {"bandwidth": 4.0}),
    ("laplacian", {"bandwidth": 6.0}),
    ("polynomial", {}),
    ("polynomial", {"degree": 3, "coef0": 0.5}),
]
KERNEL_IDS = [kernel + "".join(f"-{k}={v}" for k, v in params.items()) for kernel, params in KERNEL_CASES]
#: the emulated kernels' parameters where a test picks one per kernel
KERNELS = {
    "linear": {},
    "cosine": {},
    "rbf": {"bandwidth": 3.0},
    "laplacian": {"bandwidth": 4.0},
    "polynomial": {"degree": 3, "coef0": 0.5},
}


def gram_data(dtype, n=70, m=45, d=9, seed=0):
    rng = np.random.default_rng(seed_of("gram", np.dtype(dtype).name, n, m, d, seed))
    X = gaussian(rng, n, d, dtype, offset=0.3)
    Y = gaussian(rng, m, d, dtype, offset=-0.2)
    X[5] = X[2]  # an exact duplicate: k = 1 off the diagonal too (the exact-zero distance rule)
    return X, Y


def gram_data_of(gpu, dtype):
    return gram_data(dtype) if gpu.small else gram_data(dtype, n=700, m=530, d=40)


def assert_close_arrays(gpu, got, want, dtype, what=""):
    got, want = np.asarray(gpu.host(got), dtype=np.float64), np.asarray(gpu.host(want), dtype=np.float64)
    tol = rtol_of(dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.abs(want).max())), err_msg=what)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kernel,params", KERNEL_CASES, ids=KERNEL_IDS)
def test_gram_matches_cpu(gpu, gpu_backend, kernel, params, dtype):
    X, Y = gram_data_of(gpu, dtype)
    gx, gy = gpu.device(X), gpu.device(Y)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for A, B, ga, gb in ((X, None, gx, None), (X, Y, gx, gy)):
        want = gm.gram(A, B, kernel=kernel, backend="cpu", **params)
        with unchanged(gpu, ga, gb):
            got = gm.gram(ga, gb, kernel=kernel, backend=gpu_backend, **params)
        assert isinstance(got, gpu.ndarray) and got.device == gx.device
        assert got.dtype == want.dtype == dtype and got.shape == want.shape
        scale = float(np.abs(want.astype(np.float64)).max())
        np.testing.assert_allclose(
            gpu.host(got), want, rtol=rtol, atol=rtol * scale, err_msg=f"{kernel}, Y={'None' if B is None else 'Y'}"
        )
        if B is None and kernel in ("cosine", "rbf", "laplacian"):
            assert np.all(np.diag(gpu.host(got)) == 1)
    if gpu.emulated and gpu_backend == "cuda":
        assert {c["kernel"] for c in gpu.cuda.calls_of("apply_kernel")} == {kernel}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kernel,params", KERNEL_CASES, ids=KERNEL_IDS)
def test_kernel_sum_matches_cpu(gpu, gpu_backend, kernel, params, dtype):
    """Relative to sum |k|^power (the sums of cosine and linear kernels can cancel to near 0)."""
    X, Y = gram_data_of(gpu, dtype)
    gx, gy = gpu.device(X), gpu.device(Y)
    rtol = 1e-6 if dtype == np.float32 else 1e-10
    powers = (1, 2, 0.5) if kernel in ("rbf", "laplacian") else (1, 2, 3)
    for A, B, ga, gb in ((X, None, gx, None), (X, Y, gx, gy)):
        K = np.abs(np.asarray(gm.gram(A, B, kernel=kernel, backend="cpu", **params), dtype=np.float64))
        for power in powers:
            want = gm.kernel_sum(A, B, kernel=kernel, power=power, backend="cpu", **params)
            with unchanged(gpu, ga, gb):
                got = gm.kernel_sum(ga, gb, kernel=kernel, power=power, backend=gpu_backend, **params)
            assert type(got) is gm.Score
            assert abs(got - want) <= rtol * float(np.sum(K**power)), (power, B is None, got, want)


@pytest.mark.parametrize("kernel", ["cosine", "linear"])
def test_fractional_power_of_negative_kernel_values_is_a_named_error(gpu, gpu_backend, kernel):
    X, Y = gram_data(np.float32)
    for B in (None, gpu.device(Y)):
        with pytest.raises(ValueError, match="fractional power of a negative number"):
            gm.kernel_sum(gpu.device(X), B, kernel=kernel, power=0.5, backend=gpu_backend)
    with pytest.raises(ValueError, match=r"^q: .*fractional power"):
        gm.intdiv(gpu.device(X), q=0.5, kernel=kernel, backend=gpu_backend)


def test_gram_of_many_rows_is_symmetric(gpu):
    """The symmetric Gram matrix is mirrored in blocks of 2048 rows: n = 4200 takes the off-diagonal branch."""
    needs_cuda(gpu)
    rng = np.random.default_rng(11)
    X = gaussian(rng, 4200, 3, np.float32)
    got = gpu.host(gm.gram(gpu.device(X), kernel="rbf", bandwidth=1.5, backend="cuda"))
    assert np.array_equal(got, got.T)
    assert np.all(np.diag(got) == 1)
    want = gm.gram(X, kernel="rbf", bandwidth=1.5, backend="cpu")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@emulated_only
def test_kernel_arguments_are_alive_during_the_launch(gpu):
    X, Y = gram_data(np.float32)
    gx, gy = gpu.device(X), gpu.device(Y)
    gpu.memory.dangling.clear()
    gm.knn(gx, gy, k=3, backend="cuda")
    gm.prdc(gx, gy, k=3, backend="cuda")
    gm.kernel_sum(gx, kernel="rbf", bandwidth=2.0, backend="cuda")
    gm.gram(gx, gy, kernel="cosine", backend="cuda")
    assert not gpu.memory.dangling, sorted(set(gpu.memory.dangling))


# --------------------------------------------------------------------------------------------
# the diversity scores
# --------------------------------------------------------------------------------------------


def _score_cases():
    yield "vendi exact q=1 cosine", lambda X, b: gm.vendi(X, q=1, kernel="cosine", method="exact", backend=b)
    yield "vendi exact q=2 rbf", lambda X, b: gm.vendi(X, q=2, kernel="rbf", bandwidth=3.0, method="exact", backend=b)
    yield "vendi exact q=1 laplacian", lambda X, b: gm.vendi(X, q=1, kernel="laplacian", method="exact", backend=b)
    yield "vendi exact q=2 polynomial", lambda X, b: gm.vendi(X, q=2, kernel="polynomial", method="exact", backend=b)
    yield "vendi dual q=1 cosine", lambda X, b: gm.vendi(X, q=1, kernel="cosine", method="dual", backend=b)
    yield "vendi dual q=2 linear", lambda X, b: gm.vendi(X, q=2, kernel="linear", method="dual", backend=b)
    yield (
        "vendi nystrom q=1",
        lambda X, b: gm.vendi(
            X, q=1, kernel="rbf", bandwidth=3.0, method="nystrom", rank=25, n_iter=1, seed=3, backend=b
        ),
    )
    yield (
        "vendi nystrom q=2",
        lambda X, b: gm.vendi(X, q=2, kernel="cosine", method="nystrom", rank=20, n_iter=1, backend=b),
    )
    yield "vendi rff q=1", lambda X, b: gm.vendi(X, q=1, kernel="rbf", bandwidth=3.0, method="rff", rank=40, backend=b)
    yield (
        "vendi rff q=2",
        lambda X, b: gm.vendi(X, q=2, kernel="laplacian", bandwidth=4.0, method="rff", rank=40, backend=b),
    )
    yield "rke", lambda X, b: gm.rke(X, bandwidth=3.0, backend=b)
    yield "rke median bandwidth", lambda X, b: gm.rke(X, backend=b)
    yield "intdiv q=1 cosine", lambda X, b: gm.intdiv(X, q=1, backend=b)
    yield "intdiv q=2 rbf", lambda X, b: gm.intdiv(X, q=2, kernel="rbf", bandwidth=3.0, backend=b)
    yield "intdiv q=0.5 rbf", lambda X, b: gm.intdiv(X, q=0.5, kernel="rbf", bandwidth=3.0, backend=b)


SCORE_CASES = dict(_score_cases())


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(SCORE_CASES))
def test_diversity_scores_match_cpu(gpu, gpu_backend, case, dtype):
    X, _ = gram_data(dtype, n=90, d=12)
    gx = gpu.device(X)
    want = SCORE_CASES[case](X, "cpu")
    with unchanged(gpu, gx):
        got = SCORE_CASES[case](gx, gpu_backend)
    assert isinstance(got, float) and type(float(got)) is float
    assert got.backend == gpu_backend
    assert float(got) == pytest.approx(float(want), rel=rtol_of(dtype)), (float(got), float(want))


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


@real_only  # sizes for a real device: the emulated one runs each method in test_diversity_scores_match_cpu
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize(
    "kernel,bw,method,n,d,extra",
    VENDI_CASES,
    ids=[f"{c[0]}-{c[2]}" + ("-iter" if "n_iter" in c[5] else "") for c in VENDI_CASES],
)
def test_vendi_matches_cpu(gpu, gpu_backend, kernel, bw, method, n, d, extra, dtype):
    X = gaussian(
        np.random.default_rng(seed_of("vendi", kernel, method, n, d, np.dtype(dtype).name)), n, d, dtype, offset=0.2
    )
    gx = gpu.device(X)
    rtol = vendi_rtol(method, dtype)
    for q in (0.5, 1, 2, math.inf):
        want = gm.vendi(X, q=q, kernel=kernel, bandwidth=bw, method=method, backend="cpu", **extra)
        with unchanged(gpu, gx):
            got = gm.vendi(gx, q=q, kernel=kernel, bandwidth=bw, method=method, backend=gpu_backend, **extra)
        assert isinstance(got, float) and got.backend == gpu_backend and got.method == method
        assert float(got) == pytest.approx(float(want), rel=rtol), (q, float(got), float(want))
        if want.bandwidth is not None:
            assert got.bandwidth == pytest.approx(want.bandwidth, rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_rke_intdiv_rrke_match_cpu(gpu, gpu_backend, dtype):
    rng = np.random.default_rng(seed_of("rke", np.dtype(dtype).name))
    centres = 3.0 * rng.standard_normal((5, 24))
    X = (centres[rng.integers(0, 5, size=900)] + rng.standard_normal((900, 24))).astype(dtype)
    Y = (X[:400] + 0.3 * rng.standard_normal((400, 24))).astype(dtype)
    gx, gy = gpu.device(X), gpu.device(Y)
    with unchanged(gpu, gx, gy):
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


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kernel", ["rbf", "cosine", "linear"])
def test_rrke_matches_cpu(gpu, gpu_backend, kernel, dtype):
    X, Y = gram_data(dtype)
    gx, gy = gpu.device(X), gpu.device(Y)
    want = gm.rrke(X, Y, kernel=kernel, backend="cpu")
    with unchanged(gpu, gx, gy):
        got = gm.rrke(gx, gy, kernel=kernel, backend=gpu_backend)
    assert float(got) == pytest.approx(float(want), rel=rtol_of(dtype), abs=rtol_of(dtype))


# --------------------------------------------------------------------------------------------
# tiles of the Gram family: several tiles, uneven sizes, symmetric off-diagonal tiles mirrored
# --------------------------------------------------------------------------------------------


@pytest.fixture(params=["MAX_TILE=64", "free memory"])
def small_tiles(request, gpu, monkeypatch):
    """Gram tiles forced small: MAX_TILE patched to 64, or a free memory that fits tiles of only 48 (with
    MIN_TILE lowered to 48). The tests read the side actually used from the kernels' call log."""
    if request.param == "MAX_TILE=64":
        monkeypatch.setattr(gpu.engine, "MAX_TILE", 64)
    else:
        monkeypatch.setattr(gpu.engine, "MIN_TILE", 48)
        gpu.cupy.set_free_memory(int(48 * 48 * 3 * 8 / gpu.engine.MEMORY_SHARE))
    return request.param


def _tiles_used(cuda, function):
    return [(c["rows"], c["cols"], c.get("diagonal"), c.get("col_out")) for c in cuda.calls_of(function)]


@emulated_only
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_kernel_sums_over_many_tiles(gpu, small_tiles, dtype):
    X, Y = gram_data(dtype, n=150, m=100, d=10)
    gx, gy = gpu.device(X), gpu.device(Y)
    cuda = gpu.cuda
    for kernel, power in (("rbf", 0.5), ("cosine", 2), ("polynomial", 1), ("laplacian", 3)):
        params = KERNELS[kernel]
        cuda.reset()
        got = gm.kernel_sum(gx, None, kernel=kernel, power=power, backend="cuda", **params)
        want = gm.kernel_sum(X, None, kernel=kernel, power=power, backend="cpu", **params)
        assert got == pytest.approx(want, rel=rtol_of(dtype))
        tiles = _tiles_used(cuda, "power_sums")
        side = max(t[0] for t in tiles)
        assert side == {"MAX_TILE=64": 64, "free memory": 48}[small_tiles]
        n_blocks, m_blocks = math.ceil(150 / side), math.ceil(100 / side)
        assert len(tiles) == n_blocks * (n_blocks + 1) // 2 > 1  # the upper triangle
        assert sum(1 for t in tiles if t[3]) == n_blocks * (n_blocks - 1) // 2  # off-diagonal: mirrored
        assert {t[0] for t in tiles} == {side, 150 - side * (n_blocks - 1)}  # uneven last tiles
        kernel_tiles = _tiles_used(cuda, "apply_kernel")
        assert sum(1 for t in kernel_tiles if t[2] == 0) == n_blocks and all(t[2] in (0, -1) for t in kernel_tiles)
        cuda.reset()
        got = gm.kernel_sum(gx, gy, kernel=kernel, power=power, backend="cuda", **params)
        want = gm.kernel_sum(X, Y, kernel=kernel, power=power, backend="cpu", **params)
        assert got == pytest.approx(want, rel=rtol_of(dtype))
        tiles = _tiles_used(cuda, "power_sums")
        assert len(tiles) == n_blocks * m_blocks and not any(t[3] for t in tiles)


@emulated_only
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_diversity_over_many_tiles(gpu, small_tiles, dtype):
    X, _ = gram_data(dtype, n=130, d=10)
    gx = gpu.device(X)
    cuda = gpu.cuda
    for name in ("vendi nystrom q=1", "vendi nystrom q=2", "vendi exact q=2 rbf", "intdiv q=0.5 rbf", "rke"):
        cuda.reset()
        got, want = SCORE_CASES[name](gx, "cuda"), SCORE_CASES[name](X, "cpu")
        assert float(got) == pytest.approx(float(want), rel=rtol_of(dtype)), name
        symmetric_tiles = [c for c in cuda.calls_of("apply_kernel") if c["rows"] < 130 or c["cols"] < 130]
        assert len(symmetric_tiles) > 1, name
        assert any(c["diagonal"] == -1 for c in symmetric_tiles), name


@emulated_only
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_kernel_matvec_mirrors_off_diagonal_tiles(gpu, small_tiles, dtype):
    """K V over symmetric tiles (each off-diagonal tile used twice) against the dense product."""
    from genmetrics.engine.kernels import KernelSpec

    X, _ = gram_data(dtype, n=140, d=7)
    V = np.random.default_rng(1).standard_normal((140, 3))
    backend = gpu.engine.CudaBackend()
    spec = KernelSpec("rbf", bandwidth=2.5)
    got = backend.kernel_matvec(spec, gpu.device(X), None, gpu.device(V))
    assert isinstance(got, FakeArray) and got.dtype == np.float64
    K = np.asarray(gm.gram(X, kernel="rbf", bandwidth=2.5, backend="cpu"), dtype=np.float64)
    assert_close_arrays(gpu, got, K @ V.astype(dtype).astype(np.float64), dtype)
    cross = backend.kernel_matvec(spec, gpu.device(X), gpu.device(X[:50]), gpu.device(V[:50]))
    assert_close_arrays(gpu, cross, K[:, :50] @ V[:50].astype(dtype).astype(np.float64), dtype)


@emulated_only
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_kernel_row_sums_per_row_over_many_tiles(gpu, small_tiles, dtype):
    """Each row's sum, not only the total: the row and (mirrored) column sums land on the right rows."""
    from genmetrics.engine.kernels import KernelSpec

    X, Y = gram_data(dtype, n=150, m=100, d=10)
    cpu, cuda_backend = _backend._BACKENDS["cpu"], gpu.engine.CudaBackend()
    for spec, power in (
        (KernelSpec("rbf", bandwidth=2.0), 1.0),
        (KernelSpec("cosine"), 2.0),
        (KernelSpec("laplacian", bandwidth=3.0), 0.5),
    ):
        for B in (None, Y):
            want, want_ok = cpu.kernel_row_sums(spec, X, B, power)
            got, ok = cuda_backend.kernel_row_sums(spec, gpu.device(X), gpu.device(B), power)
            assert ok is True and want_ok
            assert isinstance(got, FakeArray) and got.dtype == np.float64 and got.shape == (150,)
            np.testing.assert_allclose(
                gpu.host(got), want, rtol=rtol_of(dtype), err_msg=f"{spec.name}, Y={B is not None}"
            )
    assert any(c["col_out"] for c in gpu.cuda.calls_of("power_sums"))


@given(st.data())
def test_random_shapes_tiles_and_blocks(data):
    """Random sizes, tile sides and distance blocks (lattice data: exact ties): k-NN identical to the CPU's, kernel
    sums within rounding. The fakes are installed inside the test (hypothesis runs it many times)."""
    dtype = data.draw(st.sampled_from(DTYPES))
    n, m, d = data.draw(st.integers(2, 40)), data.draw(st.integers(1, 30)), data.draw(st.integers(1, 6))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    # half-integers: no zero rows for cosine, exact ties for the distances
    X, Y = lattice(rng, n, d, dtype, levels=3, offset=0.5), lattice(rng, m, d, dtype, levels=3, offset=0.5)
    side, rows = data.draw(st.integers(1, 40)), data.draw(st.integers(1, 40))
    if _backend._CORE is None:
        pytest.skip(f"the compiled CPU engine is unavailable: {_backend._CORE_ERROR}")
    with installed() as fake:
        gpu = Device("emulated", fake.cupy, fake)
        gpu.engine.MAX_TILE, gpu.engine.MIN_TILE = side, 1
        set_small_blocks(gpu, max(n, 1), rows)
        gx, gy = gpu.device(X), gpu.device(Y)
        k_self = data.draw(st.integers(1, n - 1))
        assert_same_knn(gpu, gm.knn(gx, None, k=k_self, backend="cuda"), gm.knn(X, None, k=k_self, backend="cpu"))
        set_small_blocks(gpu, n, rows)
        k = data.draw(st.integers(1, n))
        assert_same_knn(gpu, gm.knn(gx, gy, k=k, backend="cuda"), gm.knn(X, Y, k=k, backend="cpu"))
        radii = np.sqrt(rng.integers(0, 7, size=n).astype(np.float64))  # squared distances here are integers
        for inclusive in (False, True):
            assert_same_radius_query(
                gpu,
                gm.radius_query(gx, gy, radii, inclusive=inclusive, backend="cuda"),
                gm.radius_query(X, Y, radii, inclusive=inclusive, backend="cpu"),
            )
        if m >= 2:
            got, want = quiet(gm.prdc, gx, gy, k=1, backend="cuda"), quiet(gm.prdc, X, Y, k=1, backend="cpu")
            assert_same_fields(got, want, ("precision", "recall", "density", "coverage"))
        for kernel, B, gb in (("cosine", None, None), ("rbf", Y, gy), ("linear", None, None)):
            want = gm.kernel_sum(
                X, B, kernel=kernel, power=2, bandwidth=1.5 if kernel == "rbf" else None, backend="cpu"
            )
            got = gm.kernel_sum(
                gx, gb, kernel=kernel, power=2, bandwidth=1.5 if kernel == "rbf" else None, backend="cuda"
            )
            assert got == pytest.approx(want, rel=rtol_of(dtype), abs=rtol_of(dtype)), kernel


# --------------------------------------------------------------------------------------------
# out of device memory
# --------------------------------------------------------------------------------------------


@emulated_only
def test_out_of_memory_is_retried_with_a_smaller_share(gpu, monkeypatch):
    engine, cp = gpu.engine, gpu.cupy
    shares = []
    original_side = engine.CudaBackend._tile_side
    monkeypatch.setattr(
        engine.CudaBackend,
        "_tile_side",
        lambda self, share, *a, **k: shares.append(share) or original_side(self, share, *a, **k),
    )
    X, Y = gram_data(np.float64)
    gx = gpu.device(X)
    want = gm.kernel_sum(X, kernel="rbf", bandwidth=2.0, backend="cpu")
    cp.fail_allocations(3, names=("zeros", "empty"))
    assert gm.kernel_sum(gx, kernel="rbf", bandwidth=2.0, backend="cuda") == pytest.approx(want, rel=1e-12)
    assert shares == [0.5, 0.25, 0.125, 0.0625]
    assert cp.allocation_failures == 3 and cp.get_default_memory_pool().free_all_blocks_calls == 3

    # k-NN: the retry builds new distance operations with the smaller share
    ops_shares = []
    original_init = engine.CudaDistanceOps.__init__
    monkeypatch.setattr(
        engine.CudaDistanceOps,
        "__init__",
        lambda self, share=engine.MEMORY_SHARE: ops_shares.append(share) or original_init(self, share),
    )
    cp.fail_allocations(2, names=("matmul",))
    assert_same_knn(gpu, gm.knn(gx, k=4, backend="cuda"), gm.knn(X, k=4, backend="cpu"))
    assert ops_shares == [0.5, 0.25, 0.125]

    # gram: the matrix asked for has one size, so no retry: a named MemoryError at the first failure
    failures_before = cp.allocation_failures
    cp.fail_allocations(1, names=("matmul",))
    with pytest.raises(MemoryError, match="GPU memory: the 70 x 70 kernel matrix"):
        gm.gram(gx, backend="cuda")
    assert cp.allocation_failures == failures_before + 1
    assert_close_arrays(gpu, gm.gram(gx, backend="cuda"), gm.gram(X, backend="cpu"), np.float64)


@emulated_only
@pytest.mark.parametrize("call", ["gram", "kernel_sum", "knn", "prdc", "vendi nystrom"])
def test_out_of_memory_every_time_is_a_named_memory_error(gpu, call):
    cp = gpu.cupy
    X, Y = gram_data(np.float32)
    gx, gy = gpu.device(X), gpu.device(Y)
    names = ("matmul",) if call in ("gram", "knn", "prdc") else ("matmul", "zeros", "empty")
    run = {
        "gram": lambda: gm.gram(gx, backend="cuda"),
        "kernel_sum": lambda: gm.kernel_sum(gx, gy, backend="cuda"),
        "knn": lambda: gm.knn(gx, gy, k=3, backend="cuda"),
        "prdc": lambda: gm.prdc(gx, gy, k=3, backend="cuda"),
        "vendi nystrom": lambda: gm.vendi(gx, method="nystrom", rank=10, backend="cuda"),
    }[call]
    cp.fail_allocations(math.inf, names=names)
    with pytest.raises(MemoryError, match="GPU memory") as info:
        run()
    assert not isinstance(info.value, cp.cuda.memory.OutOfMemoryError)
    # tiled work tries shares 1/2, 1/4, .., 1/64 = MIN_SHARE, then errs; the whole matrix (gram, and nystrom's
    # landmark columns) errs at once
    assert cp.allocation_failures == (1 if call in ("gram", "vendi nystrom") else 6)
    cp.fail_allocations(0)
    run()  # and the engine works again afterwards


# --------------------------------------------------------------------------------------------
# results: types and devices
# --------------------------------------------------------------------------------------------


def test_results_stay_on_the_device_and_metrics_are_floats(gpu):
    needs_cuda(gpu)
    X, Y = gram_data(np.float32)
    gx, gy = gpu.device(X), gpu.device(Y)
    with unchanged(gpu, gx, gy):
        K = gm.gram(gx, gy, backend="cuda")
        dist, idx = gm.knn(gx, gy, k=2, backend="cuda")
        rq = gm.radius_query(gx, gy, np.full(X.shape[0], 1.5), backend="cuda")
        scores = [
            gm.kernel_sum(gx, backend="cuda"),
            gm.vendi(gx, backend="cuda"),
            gm.rke(gx, backend="cuda"),
            gm.intdiv(gx, backend="cuda"),
            gm.rrke(gx, gy, backend="cuda"),
            gm.authenticity(gx, gy, backend="cuda"),
        ]
        prdc = gm.prdc(gx, gy, backend="cuda")
    from_gram = gm.vendi_from_gram(gm.gram(gx, backend="cuda").astype(np.float64), backend="cuda")
    assert float(from_gram) == pytest.approx(float(gm.vendi(X, method="exact", backend="cpu")), rel=1e-5)
    assert isinstance(K, gpu.ndarray) and K.dtype == np.float32
    assert isinstance(dist, gpu.ndarray) and dist.dtype == np.float64 and isinstance(idx, gpu.ndarray)
    assert all(isinstance(getattr(rq, f), gpu.ndarray) for f in ("counts", "any", "nearest_index", "nearest_distance"))
    for value in scores:
        assert isinstance(value, float) and math.isfinite(value)
    for name in ("precision", "recall", "density", "coverage"):
        assert type(getattr(prdc, name)) is float


@pytest.mark.parametrize("dtype,far,magnitude", TINY_CLUSTERS)
def test_tiny_cluster_next_to_far_points(gpu, dtype, far, magnitude):
    """The margin's absolute floor on the GPU's float32 tiles (tests/test_neighbors.py has the same on the CPU)."""
    needs_cuda(gpu)
    for seed in range(3):
        X, Y = tiny_cluster(dtype, far, magnitude, seed)
        radii = np.full(X.shape[0], magnitude * 4.0)
        got = gm.radius_query(gpu.device(X), gpu.device(Y), radii, backend="cuda")
        np.testing.assert_array_equal(gpu.host(got.counts), gm.radius_query(X, Y, radii, backend="cpu").counts)


# --------------------------------------------------------------------------------------------
# inputs: device views, torch tensors; bad input
# --------------------------------------------------------------------------------------------


def layout_data():
    rng = np.random.default_rng(seed_of("layouts"))
    big_real, big_fake = gaussian(rng, 400, 24, np.float32), gaussian(rng, 350, 24, np.float32, offset=0.1)
    return big_real, big_fake


def test_device_views_give_the_same_answer(gpu, gpu_backend):
    big_real, big_fake = layout_data()
    greal, gfake = gpu.device(big_real[:, ::2]), gpu.device(big_fake[:, ::2])  # contiguous device copies
    vreal, vfake = (gpu.device(a)[:, ::2] for a in (big_real, big_fake))  # strided device views
    assert not vreal.flags.c_contiguous
    assert_same_knn(gpu, device_knn(gpu, vreal, vfake, 5, gpu_backend), device_knn(gpu, greal, gfake, 5, gpu_backend))
    with unchanged(gpu, vreal, vfake):
        view_prdc = gm.prdc(vreal, vfake, k=5, backend=gpu_backend)
        view_vendi = gm.vendi(vreal, kernel="rbf", bandwidth=3.0, method="exact", backend=gpu_backend)
    assert view_prdc == gm.prdc(greal, gfake, k=5, backend=gpu_backend)
    assert float(view_vendi) == pytest.approx(
        float(gm.vendi(greal, kernel="rbf", bandwidth=3.0, method="exact", backend=gpu_backend)), rel=1e-12
    )


@real_only
def test_torch_cuda_tensors_give_the_same_answer(gpu, gpu_backend):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA device")
    big_real, big_fake = layout_data()
    greal, gfake = gpu.device(big_real), gpu.device(big_fake)
    treal, tfake = (torch.from_numpy(a).to("cuda") for a in (big_real, big_fake))
    before = [t.clone() for t in (treal, tfake)]
    want_knn = device_knn(gpu, greal, gfake, 5, gpu_backend)
    assert_same_knn(gpu, gm.knn(treal, tfake, k=5, backend=gpu_backend), want_knn)
    assert gm.prdc(treal, tfake, k=5, backend=gpu_backend) == gm.prdc(greal, gfake, k=5, backend=gpu_backend)
    assert float(gm.vendi(treal, kernel="cosine", method="exact", backend=gpu_backend)) == pytest.approx(
        float(gm.vendi(greal, kernel="cosine", method="exact", backend=gpu_backend)), rel=1e-12
    )
    # a non-contiguous tensor view
    vreal, vfake = treal[:, ::2], tfake[:, ::2]
    assert not vreal.is_contiguous()
    assert_same_knn(
        gpu,
        gm.knn(vreal, vfake, k=5, backend=gpu_backend),
        device_knn(gpu, greal[:, ::2], gfake[:, ::2], 5, gpu_backend),
    )
    for b, t in zip(before, (treal, tfake)):
        assert torch.equal(b, t), "the caller's tensor was modified"


@pytest.mark.parametrize("bad", [math.nan, math.inf], ids=["nan", "inf"])
def test_non_finite_device_arrays_are_rejected_by_name(gpu, gpu_backend, bad):
    rng = np.random.default_rng(seed_of("bad", bad))
    X, Y = gpu.device(gaussian(rng, 60, 6, np.float32)), gpu.device(gaussian(rng, 50, 6, np.float32))
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


def test_mismatched_widths_are_rejected(gpu, gpu_backend):
    rng = np.random.default_rng(seed_of("widths"))
    X, Y = gpu.device(gaussian(rng, 40, 6, np.float64)), gpu.device(gaussian(rng, 30, 5, np.float64))
    with pytest.raises(ValueError):
        gm.knn(X, Y, k=3, backend=gpu_backend)
    with pytest.raises(ValueError):
        gm.gram(X, Y, backend=gpu_backend)
    with pytest.raises(ValueError):
        gm.prdc(X, Y, k=3, backend=gpu_backend)
    with pytest.raises(ValueError):
        gm.radius_query(X, Y, np.ones(40), backend=gpu_backend)


# ----------------------------------------------------------------------------------------------------------
# genmetrics.torch on CUDA tensors (issue 12): same values and gradients as on the CPU, results on the device


def _torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA device here")
    return torch


@pytest.mark.gpu
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_torch_scores_on_cuda_tensors(dtype_name):
    torch = _torch_cuda()
    from genmetrics import torch as gmt

    dtype = getattr(torch, dtype_name)
    generator = torch.Generator().manual_seed(5)
    X, bank = (
        torch.randn(64, 256, generator=generator, dtype=dtype),
        torch.randn(2000, 256, generator=generator, dtype=dtype),
    )
    tolerance = 1e-4 if dtype_name == "float32" else 1e-10
    cases = [
        (lambda A, B: gmt.vendi(A, memory_bank=B), "vendi cosine dual"),
        (lambda A, B: gmt.vendi(A, kernel="rbf", bandwidth=20.0, memory_bank=B[:300]), "vendi rbf"),
        (lambda A, B: gmt.rke(A, bandwidth=20.0, memory_bank=B), "rke"),
        (lambda A, B: gmt.conditional_rke(A, A[:, :8], bandwidth=20.0, memory_bank=(B, B[:, :8])), "conditional"),
    ]
    for function, label in cases:
        grads = []
        for device in ("cpu", "cuda"):
            leaf = X.to(device).requires_grad_()
            value = function(leaf, bank.to(device))
            assert value.device.type == device and value.dtype == dtype, label
            value.backward()
            grads.append((value.item(), leaf.grad.cpu()))
        assert grads[1][0] == pytest.approx(grads[0][0], rel=tolerance), label
        torch.testing.assert_close(
            grads[1][1], grads[0][1], rtol=100 * tolerance, atol=100 * tolerance * float(grads[0][1].abs().max())
        )
    guidance = gmt.DiversityGuidance(score="rke", bandwidth=20.0, memory_bank=bank.cuda())
    step = guidance.gradient(X.cuda(), rescale="sample")
    assert step.device.type == "cuda" and bool(torch.isfinite(step).all())
    guidance.append(X.cuda())
    assert len(guidance) == 2064
