"""Helpers of the GPU benchmark (bench/gpu.py): finding CuPy and a device, timing on the device, device memory,
the CuPy ceilings (float32 / TF32 matmul, device-to-device copy) and a CuPy brute-force k-NN.

Nothing here imports CuPy at module level: the benchmark must say "no GPU" and exit 0 on a machine without one.
The brute-force k-NN is written against an array namespace ``xp`` (NumPy or CuPy), so that its logic can be
checked on a CPU with NumPy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

MB = 2**20
GB = 2**30


# ----------------------------------------------------------------------------------------------------
# finding the device


def probe_cupy():
    """(cupy module, "") when CuPy imports and sees at least one CUDA device, else (None, why not)."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken install failing to load its CUDA libraries
        return None, f"CuPy cannot be imported ({type(exc).__name__}: {exc})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # cudaErrorNoDevice, cudaErrorInsufficientDriver, ...
        return None, f"CuPy {cupy.__version__} finds no usable CUDA device ({type(exc).__name__}: {exc})"
    if count < 1:
        return None, f"CuPy {cupy.__version__} finds no CUDA device"
    return cupy, ""


def _cuda_version(v: int) -> str:
    return f"{v // 1000}.{(v % 1000) // 10}"


def device_summary(cupy) -> dict:
    """Name, compute capability, SMs, memory of device 0; CuPy, CUDA runtime and driver versions."""
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props.get("name", b"unknown device")
    if isinstance(name, bytes):
        name = name.decode(errors="replace")
    out = {
        "name": str(name).strip("\x00 "),
        "cc": f"{props.get('major', '?')}.{props.get('minor', '?')}",
        "sms": props.get("multiProcessorCount", "?"),
        "memory_gib": props.get("totalGlobalMem", 0) / GB,
        "cupy": cupy.__version__,
    }
    for key, fn in (("runtime", "runtimeGetVersion"), ("driver", "driverGetVersion")):
        try:
            out[key] = _cuda_version(int(getattr(cupy.cuda.runtime, fn)()))
        except Exception as exc:  # pragma: no cover - informational only
            out[key] = f"unknown ({exc})"
    return out


# ----------------------------------------------------------------------------------------------------
# timing and memory on the device


def sync(cupy):
    """Wait for all work on the current device (every stream: the engine may use its own)."""
    cupy.cuda.Device().synchronize()


def free_pool(cupy):
    sync(cupy)
    cupy.get_default_memory_pool().free_all_blocks()


class DeviceMemorySampler:
    """Samples the device's used memory (cudaMemGetInfo: total - free) from a background thread.

    Sees what the CuPy pool does not: memory that the engine allocates itself. Best effort: it runs only while
    the main thread releases the GIL (CuPy's device synchronisation does); the reading at the end of the call is
    always included.
    """

    def __init__(self, cupy, interval_s: float = 0.002):
        self.cupy, self.interval = cupy, interval_s
        self.base = self.peak = self._used()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _used(self) -> int:
        free, total = self.cupy.cuda.runtime.memGetInfo()
        return int(total) - int(free)

    def _run(self):
        try:
            while not self._stop.wait(self.interval):
                self.peak = max(self.peak, self._used())
        except Exception:  # never let the sampler break a measurement
            pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        try:
            self.peak = max(self.peak, self._used())
        except Exception:
            pass
        return False

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / MB


class Measurement:
    """Best wall time (s) of the timed runs, memory growth (MB) of the CuPy pool and of the device, result."""

    def __init__(self, seconds, pool_mb, device_mb, result, runs):
        self.seconds, self.pool_mb, self.device_mb, self.result, self.runs = seconds, pool_mb, device_mb, result, runs

    def memory(self) -> str:
        return f"{self.device_mb:.0f} MB (pool {self.pool_mb:.0f} MB)"


def gpu_measure(cupy, fn, warmup=None, repeat: int = 2, long_s: float = 60.0) -> Measurement:
    """Time fn() on the device: warmup() once (a small input: kernel loading, JIT, cuBLAS handles), then the best
    of ``repeat`` runs of fn(), each between two device synchronisations; a run longer than ``long_s`` ends the
    repeats. Memory: the CuPy pool is emptied first, so its size afterwards is its high-water mark during the
    runs (rounded to its blocks), and the device's used memory is sampled throughout; both above the start."""
    if warmup is not None:
        warmup()
    free_pool(cupy)
    pool = cupy.get_default_memory_pool()
    pool_base = pool.total_bytes()
    best, result, runs = float("inf"), None, 0
    with DeviceMemorySampler(cupy) as sampler:
        for _ in range(max(1, repeat)):
            result = None  # let the previous result go before the next run
            sync(cupy)
            start = time.perf_counter()
            result = fn()
            sync(cupy)
            elapsed = time.perf_counter() - start
            best, runs = min(best, elapsed), runs + 1
            if elapsed > long_s:
                break
    pool_mb = (pool.total_bytes() - pool_base) / MB
    return Measurement(best, pool_mb, sampler.growth_mb, result, runs)


def event_time(cupy, fn, repeat: int) -> float:
    """Best time in s of fn() between two CUDA events on the current stream (for work issued on that stream)."""
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    best = float("inf")
    for _ in range(repeat):
        start.record()
        fn()
        end.record()
        end.synchronize()
        best = min(best, cupy.cuda.get_elapsed_time(start, end) / 1e3)  # ms -> s
    return best


# ----------------------------------------------------------------------------------------------------
# ceilings


def matmul_stats(cupy, n: int = 8192, repeat: int = 5) -> dict:
    """float32 cupy.matmul (n x n) @ (n x n) with the compute type CuPy uses in this process: GFLOP/s (best of
    ``repeat``, CUDA events), and the relative error of a 1024^3 product against float64 (about 1e-6 in FP32,
    about 1e-4..1e-3 with TF32: tells which one ran)."""
    rs = cupy.random.RandomState(0)
    a = rs.standard_normal((n, n), dtype=cupy.float32)
    b = rs.standard_normal((n, n), dtype=cupy.float32)
    c = cupy.empty((n, n), dtype=cupy.float32)
    cupy.matmul(a, b, out=c)  # warm-up: cuBLAS handle, heuristics
    sync(cupy)
    seconds = event_time(cupy, lambda: cupy.matmul(a, b, out=c), repeat)
    a = b = c = None
    m = 1024
    x = rs.standard_normal((m, m), dtype=cupy.float32)
    y = rs.standard_normal((m, m), dtype=cupy.float32)
    exact = x.astype(cupy.float64) @ y.astype(cupy.float64)
    err = float(cupy.abs((x @ y).astype(cupy.float64) - exact).max() / cupy.abs(exact).max())
    out = {"n": n, "seconds": seconds, "gflops": 2.0 * n**3 / seconds / 1e9, "rel_err": err}
    try:
        from cupy._core import _routines_linalg

        out["compute_type"] = str(_routines_linalg.compute_type_to_str(_routines_linalg.get_compute_type(cupy.float32)))
    except Exception:  # private API: informational only
        out["compute_type"] = "unknown"
    free_pool(cupy)
    return out


_TF32_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
import _gpu_common as g
cupy, why = g.probe_cupy()
if cupy is None:
    raise SystemExit(why)
print("RESULT " + json.dumps(g.matmul_stats(cupy, int(sys.argv[2]), int(sys.argv[3]))))
"""


def tf32_matmul_stats(n: int = 8192, repeat: int = 5, timeout_s: float = 300.0) -> dict:
    """matmul_stats in a fresh interpreter started with CUPY_TF32=1.

    Why a subprocess: CuPy reads CUPY_TF32 once per process, at its first float32 matmul (it then keeps the
    compute type), so a process that has multiplied float32 matrices cannot switch to TF32 through the
    documented variable; the child is a fresh process where the variable is honoured as documented. The child
    also reports the compute type CuPy chose and the error of a product against float64, which shows whether
    TF32 really ran. NVIDIA_TF32_OVERRIDE is removed from the child's environment (0 there would disable TF32).
    """
    env = dict(os.environ, CUPY_TF32="1")
    env.pop("NVIDIA_TF32_OVERRIDE", None)
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run(
        [sys.executable, "-c", _TF32_CHILD, here, str(n), str(repeat)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    raise RuntimeError(f"the CUPY_TF32=1 child exited with {proc.returncode}: {' | '.join(tail)}")


def copy_bandwidth(cupy, nbytes: int, repeat: int = 5) -> dict:
    """Device-to-device copy of a float32 array of ``nbytes``: GB/s counting bytes read + bytes written (2 x nbytes)
    per copy, best of ``repeat`` (CUDA events), for cudaMemcpyAsync (MemoryPointer.copy_from_device_async) and
    for a streaming elementwise kernel (cupy.negative(a, out=b), one read and one write per element)."""
    count = nbytes // 4
    a = cupy.empty(count, dtype=cupy.float32)
    a.fill(1.0)
    b = cupy.empty_like(a)
    size = a.nbytes

    def memcpy():
        b.data.copy_from_device_async(a.data, size)

    def kernel():
        cupy.negative(a, out=b)

    out = {"bytes": size}
    for name, fn in (("memcpy", memcpy), ("kernel", kernel)):
        fn()
        sync(cupy)
        seconds = event_time(cupy, fn, repeat)
        out[name] = {"seconds": seconds, "gbs": 2.0 * size / seconds / 1e9}
    a = b = None
    free_pool(cupy)
    return out


# ----------------------------------------------------------------------------------------------------
# brute-force k-NN (xp = cupy on the device; numpy to check the logic on a CPU)


def _select_argpartition(xp, D, k):
    """Column indices of the k smallest of each row of D, unordered: xp.argpartition(D, k - 1). Note: older CuPy
    versions implement argpartition as a full (radix) argsort of every row; newer ones have a selection kernel."""
    return xp.argpartition(D, k - 1, axis=1)[:, :k]


def _select_threshold(xp, D, k):
    """Column indices of the k smallest of each row of D, unordered, without sorting rows: the k-th smallest
    value t of each row by xp.partition (CuPy has a real selection kernel for values), then the entries <= t;
    rows with ties at t (more than k such entries) fall back to an argsort of the row (the lower index first)."""
    t = xp.partition(D, k - 1, axis=1)[:, k - 1 : k]
    mask = D <= t
    counts = mask.sum(axis=1)
    rows, cols = xp.nonzero(mask)  # row-major order
    b = D.shape[0]
    if bool((counts == k).all()):
        return cols.reshape(b, k)
    ok = counts == k
    idx = xp.empty((b, k), dtype=cols.dtype)
    good = xp.nonzero(ok)[0]
    idx[good] = cols[ok[rows]].reshape(-1, k)
    bad = xp.nonzero(~ok)[0]
    idx[bad] = xp.argsort(D[bad], axis=1, kind="stable")[:, :k].astype(cols.dtype)  # CuPy: always stable
    return idx


SELECTORS = {"argpartition": _select_argpartition, "threshold": _select_threshold}


def brute_force_knn(xp, X, k: int, select: str = "argpartition", tile_elems: int = 2**28):
    """Self k-NN of the rows of X (self excluded by index), float32 throughout: for each tile of queries Q the
    squared distances D = |q|^2 + |r|^2 - 2 Q X^T (one matmul, in place), the own column set to inf, then the k
    smallest of each row (``select``), then those k sorted. Returns (distances (n, k), indices (n, k))."""
    n = X.shape[0]
    pick = SELECTORS[select]
    sq = xp.sum(X * X, axis=1)
    rows = max(1, min(n, tile_elems // max(n, 1)))
    if rows >= 256:
        rows -= rows % 256
    dist = xp.empty((n, k), dtype=X.dtype)
    ind = xp.empty((n, k), dtype=xp.int64)
    for a in range(0, n, rows):
        b = min(a + rows, n)
        D = X[a:b] @ X.T
        D *= -2
        D += sq[a:b, None]
        D += sq[None, :]
        local = xp.arange(b - a)
        D[local, a + local] = xp.inf
        idx = pick(xp, D, k)
        dk = xp.take_along_axis(D, idx, axis=1)
        order = xp.argsort(dk, axis=1)
        ind[a:b] = xp.take_along_axis(idx, order, axis=1)
        dist[a:b] = xp.sqrt(xp.maximum(xp.take_along_axis(dk, order, axis=1), 0))
        del D, idx, dk, order
    return dist, ind


def same_sets(a, b) -> float:
    """Share of rows whose index sets are equal (host arrays (m, k))."""
    a, b = np.sort(np.asarray(a), axis=1), np.sort(np.asarray(b), axis=1)
    return float(np.mean(np.all(a == b, axis=1)))


def kth_rel_diff(d_ref, d_other) -> float:
    """Largest relative difference of the k-th (last) neighbour distance (host arrays (m, k))."""
    ref = np.asarray(d_ref, dtype=np.float64)[:, -1]
    other = np.asarray(d_other, dtype=np.float64)[:, -1]
    return float(np.max(np.abs(other - ref) / np.maximum(ref, np.finfo(np.float64).tiny)))
