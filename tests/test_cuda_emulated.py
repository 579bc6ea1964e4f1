"""The CUDA driver (genmetrics.engine.cuda) run on an emulated GPU, against the compiled CPU engine.

tests/_fake_gpu.py installs a fake ``cupy`` (NumPy arrays whose addresses play device pointers) and a fake
``genmetrics._cuda`` (NumPy emulations of the kernels of cuda/, on the memory behind those pointers). The public
API then runs with backend="cuda" (the driver: tile loops, mirroring of symmetric tiles, pointers of slices,
ball-test capacity regrowth, out-of-memory retries) and backend="cupy" (the array fallback on device arrays),
and must give the CPU engine's answers: the same decisions for k-NN, radius queries and the fidelity metrics,
and the same kernel sums and spectra within float32 / float64 rounding. This runs everywhere; tests/test_gpu.py
checks the real kernels where a GPU is present.
"""
from __future__ import annotations

import math
import sys
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import genmetrics as gm
from reference_fidelity import TINY_CLUSTERS, tiny_cluster
from gpu_data import FIDELITY_CASES, KNN_CASES, gaussian, knn_case, lattice, quiet, real_fake, seed_of
from genmetrics import engine as _backend
from _fake_gpu import fake_gpu, installed  # noqa: F401  (fake_gpu is a fixture)
from _fake_gpu import ndarray as FakeArray

if _backend._CORE is None:  # pragma: no cover - the compiled engine is what the GPU engines are held to
    pytest.skip(f"the compiled CPU engine is unavailable: {_backend._CORE_ERROR}", allow_module_level=True)

GPU_BACKENDS = ("cuda", "cupy")
DTYPES = (np.float32, np.float64)
DTYPE_IDS = ("float32", "float64")


def rtol_of(dtype) -> float:
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-10


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def host(a):
    """A NumPy array of a fake device array (or of anything array-like)."""
    return a.get() if isinstance(a, FakeArray) else np.asarray(a)


@contextmanager
def unchanged(*arrays):
    """The caller's arrays hold the same bytes after the block as before it."""
    arrays = [a for a in arrays if a is not None]
    before = [host(a).copy() for a in arrays]
    yield
    for b, a in zip(before, arrays):
        assert np.array_equal(host(a), b), "the caller's array was modified"


def assert_same_knn(got, want):
    (gd, gi), (wd, wi) = (host(got[0]), host(got[1])), (np.asarray(want[0]), np.asarray(want[1]))
    assert gd.dtype == np.float64 and gi.dtype == np.int64, (gd.dtype, gi.dtype)
    assert gd.shape == wd.shape and gi.shape == wi.shape
    bad = np.argwhere((gi != wi) | (gd != wd))
    if bad.size:
        r, c = bad[0]
        raise AssertionError(f"{len(bad)} entries differ; first at query {r}, rank {c}: GPU ({gi[r, c]}, "
                             f"{gd[r, c]!r}) vs CPU ({wi[r, c]}, {wd[r, c]!r})")


def device_knn(gpu, X, Y, k, backend):
    gx, gy = gpu.device(X), gpu.device(Y)
    with unchanged(gx, gy):
        dist, idx = gm.knn(gx, gy, k=k, backend=backend)
    assert isinstance(dist, FakeArray) and isinstance(idx, FakeArray), "k-NN results must stay on the device"
    return dist, idx


def set_small_blocks(gpu, refs: int, rows: int):
    """Free memory such that CudaDistanceOps.block_rows(refs) is `rows` at the default share."""
    per = gpu.engine.CudaDistanceOps.BYTES_PER_ELEMENT
    gpu.cupy.set_free_memory(int(math.ceil(rows * refs * per / gpu.engine.MEMORY_SHARE)))
    assert gpu.engine.CudaDistanceOps().block_rows(refs) == rows


# --------------------------------------------------------------------------------------------
# the emulation itself, and its installation
# --------------------------------------------------------------------------------------------

def test_installing_the_fakes_is_undone_afterwards():
    import genmetrics

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


def test_fake_arrays_behave_like_cupy_arrays(fake_gpu):
    cp = fake_gpu.cupy
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


def test_fake_ball_tests_count_past_the_capacity_without_writing_past_it(fake_gpu):
    cp, cuda = fake_gpu.cupy, fake_gpu.cuda
    approx = cp.asarray(np.full((3, 5), 4.0, dtype=np.float32))  # every pair exactly on its sphere: undecided
    sq = cp.zeros(5, dtype=cp.float32)
    radius2 = cp.full(5, 4.0)
    sure = cp.zeros(3, dtype=cp.int64)
    guard = cp.full(8, -7, dtype=cp.int64)  # 4 slots of capacity, then 4 that must stay untouched
    rows, cols = guard[:4], cp.zeros(4, dtype=cp.int64)
    count = cp.zeros(1, dtype=cp.uint64)
    cuda.ball_tests(approx.data.ptr, "float32", 3, 5, 5, sq.data.ptr, sq.data.ptr, 0.0, 1e-9, radius2.data.ptr,
                    True, sure.data.ptr, rows.data.ptr, cols.data.ptr, count.data.ptr, 4, 0)
    assert int(count.get()[0]) == 15 and host(sure).tolist() == [0, 0, 0]
    assert host(guard[4:]).tolist() == [-7] * 4 and np.all(host(rows) >= 0)
    with pytest.raises(AssertionError, match="not inside any live device buffer"):
        cuda.sq_distances(approx.data.ptr, "float32", 3, 5, 6, sq.data.ptr, sq.data.ptr, -1, 0)  # ld too large


def test_gpu_arrays_go_to_the_cuda_engine_by_default(fake_gpu, monkeypatch):
    monkeypatch.delenv("GENMETRICS_BACKEND", raising=False)
    X = fake_gpu.device(gaussian(np.random.default_rng(2), 60, 6, np.float64))
    assert gm.vendi(X).backend == "cuda"
    dist, idx = gm.knn(X, k=3)
    assert isinstance(dist, FakeArray) and isinstance(idx, FakeArray)
    assert fake_gpu.cuda.calls["row_kth_smallest"] >= 1


# --------------------------------------------------------------------------------------------
# k-NN
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", KNN_CASES)
@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_knn_is_identical_to_cpu(fake_gpu, backend, case, dtype):
    X, Y, k = knn_case(case, dtype, small=True)
    got = device_knn(fake_gpu, X, Y, k, backend)
    assert_same_knn(got, gm.knn(X, Y, k=k, backend="cpu"))
    if backend == "cuda":
        assert fake_gpu.cuda.calls["sq_distances"] >= 1 and fake_gpu.cuda.calls["exact_sq_distances"] >= 1
    else:
        assert not fake_gpu.cuda.calls  # the array fallback never touches the kernels


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", ["self k=5", "cross k=5", "lattice self", "offset 1000 lattice"])
def test_knn_in_many_blocks_is_identical_to_cpu(fake_gpu, case, dtype):
    """Little free memory: the queries go through the driver in blocks of 13 rows (sizes not multiples)."""
    X, Y, k = knn_case(case, dtype, small=True)
    set_small_blocks(fake_gpu, X.shape[0], 13)
    got = device_knn(fake_gpu, X, Y, k, "cuda")
    assert_same_knn(got, gm.knn(X, Y, k=k, backend="cpu"))
    queries = (X if Y is None else Y).shape[0]
    blocks = fake_gpu.cuda.calls_of("sq_distances")
    assert len(blocks) == math.ceil(queries / 13) > 1
    assert [b["rows"] for b in blocks] == [min(13, queries - s) for s in range(0, queries, 13)]
    expected_offsets = list(range(0, queries, 13)) if Y is None else [-1] * len(blocks)
    assert [b["self_offset"] for b in blocks] == expected_offsets
    assert fake_gpu.cuda.calls["row_kth_smallest"] == len(blocks)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_knn_on_views_with_offsets_and_strides(fake_gpu, dtype):
    """Inputs that are slices of bigger device buffers: pointers with offsets, and strided views."""
    rng = np.random.default_rng(seed_of("views", np.dtype(dtype).name))
    big = gaussian(rng, 200, 24, dtype)
    g = fake_gpu.device(big)
    rows = g[11:151]  # contiguous rows at an offset: the engine may use it in place
    cols = g[:, 3::2]  # strided: copied to a contiguous array
    reversed_rows = g[::-3]
    set_small_blocks(fake_gpu, 140, 17)
    for gx, hx, gy, hy, k in ((rows, big[11:151], None, None, 4), (cols, big[:, 3::2], cols[:50], big[:50, 3::2], 3),
                              (reversed_rows, big[::-3], rows[5:40], big[16:51], 2)):
        with unchanged(g):
            got = gm.knn(gx, gy, k=k, backend="cuda")
        assert_same_knn(got, gm.knn(np.ascontiguousarray(hx), None if hy is None else np.ascontiguousarray(hy),
                                    k=k, backend="cpu"))


def test_knn_converts_other_dtypes_like_the_cpu(fake_gpu):
    """float16 and integer inputs (converted by the validation), and a float32/float64 pair (computed in float64)."""
    rng = np.random.default_rng(5)
    cases = ((lattice(rng, 90, 3, np.float16), None), (rng.integers(-3, 4, size=(80, 4)), None),
             (gaussian(rng, 70, 6, np.float32), gaussian(rng, 40, 6, np.float64)))
    for X, Y in cases:
        got = gm.knn(fake_gpu.device(X), fake_gpu.device(Y), k=3, backend="cuda")
        assert_same_knn(got, gm.knn(X, Y, k=3, backend="cpu"))
    assert {c["dtype"] for c in fake_gpu.cuda.calls_of("sq_distances")} == {"float32", "float64"}


def test_tf32_margins_keep_the_decisions(fake_gpu, monkeypatch):
    """With CuPy's TF32 switch on, the float32 margins widen to TF32's rounding: more re-checks, same answers."""
    monkeypatch.setenv("CUPY_TF32", "1")
    assert fake_gpu.engine.tf32_matmul()
    X, Y, k = knn_case("offset 1000 lattice", np.float32)
    assert_same_knn(device_knn(fake_gpu, X, Y, k, "cuda"), gm.knn(X, Y, k=k, backend="cpu"))
    X, Y, radii = radius_case("lattice", np.float32)
    assert_same_radius_query(gm.radius_query(fake_gpu.device(X), fake_gpu.device(Y), radii, backend="cuda"),
                             gm.radius_query(X, Y, radii, backend="cpu"))


# --------------------------------------------------------------------------------------------
# radius queries and the ball tests
# --------------------------------------------------------------------------------------------

def radius_case(name, dtype):
    rng = np.random.default_rng(seed_of("radius", name, np.dtype(dtype).name))
    if name == "gaussian":
        X, Y = gaussian(rng, 160, 16, dtype), gaussian(rng, 130, 16, dtype)
    elif name == "lattice":
        X, Y = lattice(rng, 160, 3, dtype), lattice(rng, 130, 3, dtype)
    elif name == "offset 1000":
        X, Y = gaussian(rng, 160, 16, dtype, offset=1000.0), gaussian(rng, 130, 16, dtype, offset=1000.0)
    else:
        X = lattice(rng, 160, 4, dtype, offset=1000.0, step=2.0**-6)
        Y = lattice(rng, 130, 4, dtype, offset=1000.0, step=2.0**-6)
    Y[:20] = X[:20]  # queries at distance 0 of a reference
    radii = np.ascontiguousarray(gm.knn(Y, X, k=3, backend="cpu")[0][:, 2])  # exact distances: on the spheres
    radii[::11] = 0.0
    return X, Y, radii


def assert_same_radius_query(got, want):
    assert isinstance(got, gm.RadiusQuery)
    for name in got._fields:
        assert isinstance(getattr(got, name), FakeArray), f"{name} should stay on the device"
        g, w = host(getattr(got, name)), np.asarray(getattr(want, name))
        assert g.dtype == w.dtype and g.shape == w.shape, (name, g.dtype, g.shape, w.dtype, w.shape)
        bad = np.flatnonzero(g != w)
        assert bad.size == 0, f"{name}: {bad.size} queries differ; first {bad[0]}: GPU {g[bad[0]]!r} vs CPU {w[bad[0]]!r}"


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", ["gaussian", "lattice", "offset 1000", "offset 1000 lattice"])
@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_radius_query_is_identical_to_cpu(fake_gpu, backend, case, dtype):
    X, Y, radii = radius_case(case, dtype)
    gx, gy = fake_gpu.device(X), fake_gpu.device(Y)
    if backend == "cuda":
        set_small_blocks(fake_gpu, X.shape[0], 29)
    counts = {}
    for inclusive in (False, True):
        want = gm.radius_query(X, Y, radii, inclusive=inclusive, backend="cpu")
        with unchanged(gx, gy):  # radii on the host, then on the device
            got = gm.radius_query(gx, gy, radii if inclusive else fake_gpu.device(radii), inclusive=inclusive,
                                  backend=backend)
        assert_same_radius_query(got, want)
        counts[inclusive] = np.asarray(want.counts)
    assert np.any(counts[True] > counts[False]), "the radii were meant to put queries on the spheres"
    if backend == "cuda":
        assert len(fake_gpu.cuda.calls_of("sq_distances")) > 2  # several distance blocks per query
        assert fake_gpu.cuda.calls["ball_tests"] >= 2


def test_ball_test_capacity_regrowth(fake_gpu):
    """Lattice points and unit radii: thousands of pairs lie exactly on the spheres, more than the driver's first
    capacity; the driver must repeat the tile with room for all of them and count each pair once."""
    rng = np.random.default_rng(7)
    X, Y = lattice(rng, 900, 3, np.float32), lattice(rng, 700, 3, np.float32)
    radii = np.ones(X.shape[0])
    for inclusive in (False, True):
        fake_gpu.cuda.reset()
        got = gm.radius_query(fake_gpu.device(X), fake_gpu.device(Y), radii, inclusive=inclusive, backend="cuda")
        assert_same_radius_query(got, gm.radius_query(X, Y, radii, inclusive=inclusive, backend="cpu"))
        calls = fake_gpu.cuda.calls_of("ball_tests")
        overflowed = [i for i, c in enumerate(calls) if c["found"] > c["capacity"]]
        assert overflowed, [(c["capacity"], c["found"]) for c in calls]
        for i in overflowed:  # the repeat of the same tile, with room for every pair
            assert calls[i + 1]["ptr"] == calls[i]["ptr"] and calls[i + 1]["capacity"] >= calls[i]["found"]
            assert calls[i + 1]["found"] == calls[i]["found"] <= calls[i + 1]["capacity"]


# --------------------------------------------------------------------------------------------
# fidelity, coverage and memorisation metrics
# --------------------------------------------------------------------------------------------

def assert_same_fields(got, want, names):
    for name in names:
        g, w = getattr(got, name), getattr(want, name)
        assert g == w, f"{name}: GPU {g!r} != CPU {w!r}"
        if isinstance(w, float):
            assert type(g) is float, f"{name}: expected a Python float, got {type(g).__name__}"


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", FIDELITY_CASES)
@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_prdc_is_identical_to_cpu(fake_gpu, backend, case, dtype):
    real, fake = real_fake(case, dtype, small=True)
    greal, gfake = fake_gpu.device(real), fake_gpu.device(fake)
    for k in (1, 5):
        for inclusive in (False, True):
            want = quiet(gm.prdc, real, fake, k=k, inclusive=inclusive, backend="cpu")
            with unchanged(greal, gfake):
                got = quiet(gm.prdc, greal, gfake, k=k, inclusive=inclusive, backend=backend)
            assert isinstance(got, gm.PRDC)
            assert_same_fields(got, want, ("precision", "recall", "density", "coverage", "k", "n_real", "n_fake",
                                           "inclusive"))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", FIDELITY_CASES)
@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_precision_recall_is_identical_to_cpu(fake_gpu, backend, case, dtype):
    real, fake = real_fake(case, dtype, small=True)
    greal, gfake = fake_gpu.device(real), fake_gpu.device(fake)
    for k in (1, 3):
        want = gm.precision_recall(real, fake, k=k, backend="cpu")
        with unchanged(greal, gfake):
            got = gm.precision_recall(greal, gfake, k=k, backend=backend)
        assert_same_fields(got, want, ("precision", "recall", "k", "n_real", "n_fake"))
        g, w = np.asarray(host(got.realism), dtype=np.float64), np.asarray(want.realism, dtype=np.float64)
        assert g.shape == w.shape
        assert np.array_equal(np.isinf(g), np.isinf(w)), "realism is inf for different samples"
        np.testing.assert_allclose(g[np.isfinite(w)], w[np.isfinite(w)], rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", FIDELITY_CASES)
@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_alpha_precision_and_authenticity_are_identical_to_cpu(fake_gpu, backend, case, dtype):
    real, fake = real_fake(case, dtype, small=True)
    greal, gfake = fake_gpu.device(real), fake_gpu.device(fake)
    want = gm.alpha_precision(real, fake, backend="cpu")
    with unchanged(greal, gfake):
        got = gm.alpha_precision(greal, gfake, backend=backend)
    assert_same_fields(got, want, ("authenticity", "integration", "n_real", "n_fake"))
    for name in ("delta_precision_alpha", "delta_coverage_beta"):
        assert type(getattr(got, name)) is float
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=0, abs=1e-12), name
    for name in ("alphas", "alpha_precision_curve", "beta_coverage_curve"):
        np.testing.assert_allclose(host(getattr(got, name)), getattr(want, name), rtol=0, atol=1e-12, err_msg=name)
    centre = real.astype(np.float64)[: len(real) // 2].mean(axis=0)
    want_c = gm.alpha_precision(real, fake, center=centre, backend="cpu")
    for centre_given in (centre, fake_gpu.device(centre)):  # on the host, then on the device
        got_c = gm.alpha_precision(greal, gfake, center=centre_given, backend=backend)
        assert got_c.delta_precision_alpha == pytest.approx(want_c.delta_precision_alpha, rel=0, abs=1e-12)
    with unchanged(greal, gfake):
        got_auth = gm.authenticity(greal, gfake, backend=backend)
    assert type(got_auth) is gm.Score and got_auth == gm.authenticity(real, fake, backend="cpu")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_fidelity_metrics_in_many_blocks(fake_gpu, dtype):
    """The fidelity metrics with the driver's distance blocks forced small (several per pass)."""
    real, fake = real_fake("lattice", dtype)
    greal, gfake = fake_gpu.device(real), fake_gpu.device(fake)
    set_small_blocks(fake_gpu, 200, 23)
    want = quiet(gm.prdc, real, fake, k=3, backend="cpu")
    got = quiet(gm.prdc, greal, gfake, k=3, backend="cuda")
    assert_same_fields(got, want, ("precision", "recall", "density", "coverage"))
    want_pr, got_pr = gm.precision_recall(real, fake, backend="cpu"), gm.precision_recall(greal, gfake, backend="cuda")
    assert_same_fields(got_pr, want_pr, ("precision", "recall"))
    np.testing.assert_allclose(host(got_pr.realism), want_pr.realism, rtol=1e-12)
    assert gm.authenticity(greal, gfake, backend="cuda") == gm.authenticity(real, fake, backend="cpu")
    assert len(fake_gpu.cuda.calls_of("sq_distances")) > 20


# --------------------------------------------------------------------------------------------
# the Gram family
# --------------------------------------------------------------------------------------------

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


def assert_close_arrays(got, want, dtype, what=""):
    got, want = np.asarray(host(got), dtype=np.float64), np.asarray(want, dtype=np.float64)
    tol = rtol_of(dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.abs(want).max())), err_msg=what)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_gram_matches_cpu(fake_gpu, backend, kernel, dtype):
    X, Y = gram_data(dtype)
    gx, gy = fake_gpu.device(X), fake_gpu.device(Y)
    for A, B, ga, gb in ((X, None, gx, None), (X, Y, gx, gy)):
        want = gm.gram(A, B, kernel=kernel, backend="cpu", **KERNELS[kernel])
        with unchanged(ga, gb):
            got = gm.gram(ga, gb, kernel=kernel, backend=backend, **KERNELS[kernel])
        assert isinstance(got, FakeArray) and got.dtype == dtype and got.shape == want.shape
        assert_close_arrays(got, want, dtype, f"{kernel}, Y={'None' if B is None else 'Y'}")
        if B is None and kernel in ("cosine", "rbf", "laplacian"):
            assert np.all(np.diag(host(got)) == 1)
    if backend == "cuda":
        assert {c["kernel"] for c in fake_gpu.cuda.calls_of("apply_kernel")} == {kernel}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_kernel_sum_matches_cpu(fake_gpu, backend, kernel, dtype):
    X, Y = gram_data(dtype)
    gx, gy = fake_gpu.device(X), fake_gpu.device(Y)
    powers = (1, 2, 0.5) if kernel in ("rbf", "laplacian") else (1, 2, 3)
    for power in powers:
        for A, B, ga, gb in ((X, None, gx, None), (X, Y, gx, gy)):
            want = gm.kernel_sum(A, B, kernel=kernel, power=power, backend="cpu", **KERNELS[kernel])
            scale = float(np.sum(np.abs(np.asarray(gm.gram(A, B, kernel=kernel, backend="cpu", **KERNELS[kernel]),
                                                   dtype=np.float64)) ** power))
            with unchanged(ga, gb):
                got = gm.kernel_sum(ga, gb, kernel=kernel, power=power, backend=backend, **KERNELS[kernel])
            assert type(got) is gm.Score
            assert abs(got - want) <= rtol_of(dtype) * scale, (power, B is None, got, want)


@pytest.mark.parametrize("kernel", ["cosine", "linear"])
@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_fractional_power_of_negative_kernel_values_is_a_named_error(fake_gpu, backend, kernel):
    X, Y = gram_data(np.float32)
    for B in (None, fake_gpu.device(Y)):
        with pytest.raises(ValueError, match="fractional power of a negative number"):
            gm.kernel_sum(fake_gpu.device(X), B, kernel=kernel, power=0.5, backend=backend)
    with pytest.raises(ValueError, match=r"^q: .*fractional power"):
        gm.intdiv(fake_gpu.device(X), q=0.5, kernel=kernel, backend=backend)


def _score_cases():
    yield "vendi exact q=1 cosine", lambda X, b: gm.vendi(X, q=1, kernel="cosine", method="exact", backend=b)
    yield "vendi exact q=2 rbf", lambda X, b: gm.vendi(X, q=2, kernel="rbf", bandwidth=3.0, method="exact", backend=b)
    yield "vendi exact q=1 laplacian", lambda X, b: gm.vendi(X, q=1, kernel="laplacian", method="exact", backend=b)
    yield "vendi exact q=2 polynomial", lambda X, b: gm.vendi(X, q=2, kernel="polynomial", method="exact", backend=b)
    yield "vendi dual q=1 cosine", lambda X, b: gm.vendi(X, q=1, kernel="cosine", method="dual", backend=b)
    yield "vendi dual q=2 linear", lambda X, b: gm.vendi(X, q=2, kernel="linear", method="dual", backend=b)
    yield "vendi nystrom q=1", lambda X, b: gm.vendi(X, q=1, kernel="rbf", bandwidth=3.0, method="nystrom", rank=25,
                                                     n_iter=1, seed=3, backend=b)
    yield "vendi nystrom q=2", lambda X, b: gm.vendi(X, q=2, kernel="cosine", method="nystrom", rank=20, n_iter=1,
                                                     backend=b)
    yield "vendi rff q=1", lambda X, b: gm.vendi(X, q=1, kernel="rbf", bandwidth=3.0, method="rff", rank=40, backend=b)
    yield "vendi rff q=2", lambda X, b: gm.vendi(X, q=2, kernel="laplacian", bandwidth=4.0, method="rff", rank=40,
                                                 backend=b)
    yield "rke", lambda X, b: gm.rke(X, bandwidth=3.0, backend=b)
    yield "rke median bandwidth", lambda X, b: gm.rke(X, backend=b)
    yield "intdiv q=1 cosine", lambda X, b: gm.intdiv(X, q=1, backend=b)
    yield "intdiv q=2 rbf", lambda X, b: gm.intdiv(X, q=2, kernel="rbf", bandwidth=3.0, backend=b)
    yield "intdiv q=0.5 rbf", lambda X, b: gm.intdiv(X, q=0.5, kernel="rbf", bandwidth=3.0, backend=b)


SCORE_CASES = dict(_score_cases())


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(SCORE_CASES))
@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_diversity_scores_match_cpu(fake_gpu, backend, case, dtype):
    X, _ = gram_data(dtype, n=90, d=12)
    gx = fake_gpu.device(X)
    want = SCORE_CASES[case](X, "cpu")
    with unchanged(gx):
        got = SCORE_CASES[case](gx, backend)
    assert isinstance(got, float) and type(float(got)) is float
    assert got.backend == backend
    assert float(got) == pytest.approx(float(want), rel=rtol_of(dtype)), (float(got), float(want))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("kernel", ["rbf", "cosine", "linear"])
@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_rrke_matches_cpu(fake_gpu, backend, kernel, dtype):
    X, Y = gram_data(dtype)
    gx, gy = fake_gpu.device(X), fake_gpu.device(Y)
    want = gm.rrke(X, Y, kernel=kernel, backend="cpu")
    with unchanged(gx, gy):
        got = gm.rrke(gx, gy, kernel=kernel, backend=backend)
    assert float(got) == pytest.approx(float(want), rel=rtol_of(dtype), abs=rtol_of(dtype))


# --------------------------------------------------------------------------------------------
# tiles of the Gram family: several tiles, uneven sizes, symmetric off-diagonal tiles mirrored
# --------------------------------------------------------------------------------------------

@pytest.fixture(params=["MAX_TILE=64", "free memory"])
def small_tiles(request, fake_gpu, monkeypatch):
    """Gram tiles forced small: MAX_TILE patched to 64, or a free memory that fits tiles of only 48 (with
    MIN_TILE lowered to 48). The tests read the side actually used from the kernels' call log."""
    if request.param == "MAX_TILE=64":
        monkeypatch.setattr(fake_gpu.engine, "MAX_TILE", 64)
    else:
        monkeypatch.setattr(fake_gpu.engine, "MIN_TILE", 48)
        fake_gpu.cupy.set_free_memory(int(48 * 48 * 3 * 8 / fake_gpu.engine.MEMORY_SHARE))
    return request.param


def _tiles_used(cuda, function):
    return [(c["rows"], c["cols"], c.get("diagonal"), c.get("col_out")) for c in cuda.calls_of(function)]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_kernel_sums_over_many_tiles(fake_gpu, small_tiles, dtype):
    X, Y = gram_data(dtype, n=150, m=100, d=10)
    gx, gy = fake_gpu.device(X), fake_gpu.device(Y)
    cuda = fake_gpu.cuda
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


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_diversity_over_many_tiles(fake_gpu, small_tiles, dtype):
    X, _ = gram_data(dtype, n=130, d=10)
    gx = fake_gpu.device(X)
    cuda = fake_gpu.cuda
    for name in ("vendi nystrom q=1", "vendi nystrom q=2", "vendi exact q=2 rbf", "intdiv q=0.5 rbf", "rke"):
        cuda.reset()
        got, want = SCORE_CASES[name](gx, "cuda"), SCORE_CASES[name](X, "cpu")
        assert float(got) == pytest.approx(float(want), rel=rtol_of(dtype)), name
        symmetric_tiles = [c for c in cuda.calls_of("apply_kernel") if c["rows"] < 130 or c["cols"] < 130]
        assert len(symmetric_tiles) > 1, name
        assert any(c["diagonal"] == -1 for c in symmetric_tiles), name


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_kernel_matvec_mirrors_off_diagonal_tiles(fake_gpu, small_tiles, dtype):
    """K V over symmetric tiles (each off-diagonal tile used twice) against the dense product."""
    from genmetrics.engine.kernels import KernelSpec

    X, _ = gram_data(dtype, n=140, d=7)
    V = np.random.default_rng(1).standard_normal((140, 3))
    backend = fake_gpu.engine.CudaBackend()
    spec = KernelSpec("rbf", bandwidth=2.5)
    got = backend.kernel_matvec(spec, fake_gpu.device(X), None, fake_gpu.device(V))
    assert isinstance(got, FakeArray) and got.dtype == np.float64
    K = np.asarray(gm.gram(X, kernel="rbf", bandwidth=2.5, backend="cpu"), dtype=np.float64)
    assert_close_arrays(got, K @ V.astype(dtype).astype(np.float64), dtype)
    cross = backend.kernel_matvec(spec, fake_gpu.device(X), fake_gpu.device(X[:50]), fake_gpu.device(V[:50]))
    assert_close_arrays(cross, K[:, :50] @ V[:50].astype(dtype).astype(np.float64), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_kernel_row_sums_per_row_over_many_tiles(fake_gpu, small_tiles, dtype):
    """Each row's sum, not only the total: the row and (mirrored) column sums land on the right rows."""
    from genmetrics.engine.kernels import KernelSpec

    X, Y = gram_data(dtype, n=150, m=100, d=10)
    cpu, cuda_backend = _backend._BACKENDS["cpu"], fake_gpu.engine.CudaBackend()
    for spec, power in ((KernelSpec("rbf", bandwidth=2.0), 1.0), (KernelSpec("cosine"), 2.0),
                        (KernelSpec("laplacian", bandwidth=3.0), 0.5)):
        for B in (None, Y):
            want, want_ok = cpu.kernel_row_sums(spec, X, B, power)
            got, ok = cuda_backend.kernel_row_sums(spec, fake_gpu.device(X), fake_gpu.device(B), power)
            assert ok is True and want_ok
            assert isinstance(got, FakeArray) and got.dtype == np.float64 and got.shape == (150,)
            np.testing.assert_allclose(host(got), want, rtol=rtol_of(dtype), err_msg=f"{spec.name}, Y={B is not None}")
    assert any(c["col_out"] for c in fake_gpu.cuda.calls_of("power_sums"))


def test_gram_of_many_rows_is_symmetric(fake_gpu):
    """The symmetric Gram matrix is mirrored in blocks of 2048 rows: n = 4200 takes the off-diagonal branch."""
    rng = np.random.default_rng(11)
    X = gaussian(rng, 4200, 3, np.float32)
    got = host(gm.gram(fake_gpu.device(X), kernel="rbf", bandwidth=1.5, backend="cuda"))
    assert np.array_equal(got, got.T)
    assert np.all(np.diag(got) == 1)
    want = gm.gram(X, kernel="rbf", bandwidth=1.5, backend="cpu")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_kernel_arguments_are_alive_during_the_launch(fake_gpu):
    X, Y = gram_data(np.float32)
    gx, gy = fake_gpu.device(X), fake_gpu.device(Y)
    fake_gpu.memory.dangling.clear()
    gm.knn(gx, gy, k=3, backend="cuda")
    gm.prdc(gx, gy, k=3, backend="cuda")
    gm.kernel_sum(gx, kernel="rbf", bandwidth=2.0, backend="cuda")
    gm.gram(gx, gy, kernel="cosine", backend="cuda")
    assert not fake_gpu.memory.dangling, sorted(set(fake_gpu.memory.dangling))


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
    with installed() as gpu:
        gpu.engine.MAX_TILE, gpu.engine.MIN_TILE = side, 1
        set_small_blocks(gpu, max(n, 1), rows)
        gx, gy = gpu.device(X), gpu.device(Y)
        k_self = data.draw(st.integers(1, n - 1))
        assert_same_knn(gm.knn(gx, None, k=k_self, backend="cuda"), gm.knn(X, None, k=k_self, backend="cpu"))
        set_small_blocks(gpu, n, rows)
        k = data.draw(st.integers(1, n))
        assert_same_knn(gm.knn(gx, gy, k=k, backend="cuda"), gm.knn(X, Y, k=k, backend="cpu"))
        radii = np.sqrt(rng.integers(0, 7, size=n).astype(np.float64))  # squared distances here are integers
        for inclusive in (False, True):
            assert_same_radius_query(gm.radius_query(gx, gy, radii, inclusive=inclusive, backend="cuda"),
                                     gm.radius_query(X, Y, radii, inclusive=inclusive, backend="cpu"))
        if m >= 2:
            got, want = quiet(gm.prdc, gx, gy, k=1, backend="cuda"), quiet(gm.prdc, X, Y, k=1, backend="cpu")
            assert_same_fields(got, want, ("precision", "recall", "density", "coverage"))
        for kernel, B, gb in (("cosine", None, None), ("rbf", Y, gy), ("linear", None, None)):
            want = gm.kernel_sum(X, B, kernel=kernel, power=2, bandwidth=1.5 if kernel == "rbf" else None,
                                 backend="cpu")
            got = gm.kernel_sum(gx, gb, kernel=kernel, power=2, bandwidth=1.5 if kernel == "rbf" else None,
                                backend="cuda")
            assert got == pytest.approx(want, rel=rtol_of(dtype), abs=rtol_of(dtype)), kernel


# --------------------------------------------------------------------------------------------
# out of device memory
# --------------------------------------------------------------------------------------------

def test_out_of_memory_is_retried_with_a_smaller_share(fake_gpu, monkeypatch):
    engine, cp = fake_gpu.engine, fake_gpu.cupy
    shares = []
    original_side = engine.CudaBackend._tile_side
    monkeypatch.setattr(engine.CudaBackend, "_tile_side",
                        lambda self, share, *a, **k: shares.append(share) or original_side(self, share, *a, **k))
    X, Y = gram_data(np.float64)
    gx = fake_gpu.device(X)
    want = gm.kernel_sum(X, kernel="rbf", bandwidth=2.0, backend="cpu")
    cp.fail_allocations(3, names=("zeros", "empty"))
    assert gm.kernel_sum(gx, kernel="rbf", bandwidth=2.0, backend="cuda") == pytest.approx(want, rel=1e-12)
    assert shares == [0.5, 0.25, 0.125, 0.0625]
    assert cp.allocation_failures == 3 and cp.get_default_memory_pool().free_all_blocks_calls == 3

    # k-NN: the retry builds new distance operations with the smaller share
    ops_shares = []
    original_init = engine.CudaDistanceOps.__init__
    monkeypatch.setattr(engine.CudaDistanceOps, "__init__",
                        lambda self, share=engine.MEMORY_SHARE: ops_shares.append(share) or original_init(self, share))
    cp.fail_allocations(2, names=("matmul",))
    assert_same_knn(gm.knn(gx, k=4, backend="cuda"), gm.knn(X, k=4, backend="cpu"))
    assert ops_shares == [0.5, 0.25, 0.125]

    # gram: the matrix asked for has one size, so no retry: a named MemoryError at the first failure
    failures_before = cp.allocation_failures
    cp.fail_allocations(1, names=("matmul",))
    with pytest.raises(MemoryError, match="GPU memory: the 70 x 70 kernel matrix"):
        gm.gram(gx, backend="cuda")
    assert cp.allocation_failures == failures_before + 1
    assert_close_arrays(gm.gram(gx, backend="cuda"), gm.gram(X, backend="cpu"), np.float64)


@pytest.mark.parametrize("call", ["gram", "kernel_sum", "knn", "prdc", "vendi nystrom"])
def test_out_of_memory_every_time_is_a_named_memory_error(fake_gpu, call):
    cp = fake_gpu.cupy
    X, Y = gram_data(np.float32)
    gx, gy = fake_gpu.device(X), fake_gpu.device(Y)
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

def test_results_stay_on_the_device_and_metrics_are_floats(fake_gpu):
    X, Y = gram_data(np.float32)
    gx, gy = fake_gpu.device(X), fake_gpu.device(Y)
    with unchanged(gx, gy):
        K = gm.gram(gx, gy, backend="cuda")
        dist, idx = gm.knn(gx, gy, k=2, backend="cuda")
        rq = gm.radius_query(gx, gy, np.full(X.shape[0], 1.5), backend="cuda")
        scores = [gm.kernel_sum(gx, backend="cuda"), gm.vendi(gx, backend="cuda"), gm.rke(gx, backend="cuda"),
                  gm.intdiv(gx, backend="cuda"), gm.rrke(gx, gy, backend="cuda"), gm.authenticity(gx, gy, backend="cuda")]
        prdc = gm.prdc(gx, gy, backend="cuda")
    from_gram = gm.vendi_from_gram(gm.gram(gx, backend="cuda").astype(np.float64), backend="cuda")
    assert float(from_gram) == pytest.approx(float(gm.vendi(X, method="exact", backend="cpu")), rel=1e-5)
    assert isinstance(K, FakeArray) and K.dtype == np.float32
    assert isinstance(dist, FakeArray) and dist.dtype == np.float64 and isinstance(idx, FakeArray)
    assert all(isinstance(getattr(rq, f), FakeArray) for f in rq._fields)
    for value in scores:
        assert isinstance(value, float) and math.isfinite(value)
    for name in ("precision", "recall", "density", "coverage"):
        assert type(getattr(prdc, name)) is float


@pytest.mark.parametrize("dtype,far,magnitude", TINY_CLUSTERS)
def test_tiny_cluster_next_to_far_points(fake_gpu, dtype, far, magnitude):
    """The margin's absolute floor on the GPU's float32 tiles (tests/test_neighbors.py has the same on the CPU)."""
    for seed in range(3):
        X, Y = tiny_cluster(dtype, far, magnitude, seed)
        radii = np.full(X.shape[0], magnitude * 4.0)
        got = gm.radius_query(fake_gpu.device(X), fake_gpu.device(Y), radii, backend="cuda")
        np.testing.assert_array_equal(host(got.counts), gm.radius_query(X, Y, radii, backend="cpu").counts)
