"""Backend dispatch: which engine computes the primitives for the arrays at hand.

``cpu``   the compiled C++ engine (``genmetrics._core``): tiled GEMM with fused kernels, threads, GIL released;
``numpy`` the array-namespace fallback (``genmetrics._fallback``), the same numbers in plain NumPy;
``cuda``  the GPU engine (``genmetrics._cuda`` kernels on CuPy arrays, cuBLAS tile products; ``_cuda_engine``);
``cupy``  the array-namespace fallback run on CuPy arrays: the same code as ``numpy``.

The choice: the ``backend=`` argument, else the ``GENMETRICS_BACKEND`` environment variable, else the fastest
available for the arrays' device (GPU arrays: cuda, else cupy; host arrays: cpu, else numpy). An engine takes
its inputs to its own device: host arrays given to ``cuda`` are copied to the GPU, GPU arrays given to ``cpu``
are copied to the host. Metric modules only call the primitives below: the Gram family (gram,
kernel_row_sums, kernel_matvec, column_gram) and the distance family (points, knn, ball_query).
"""
from __future__ import annotations

import ctypes
import os

import numpy as np

from . import _fallback
from ._array import is_device_array, to_device
from ._kernels import KernelSpec
from ._points import prepare_points

_CORE = None
_CORE_ERROR = "not loaded yet"


def _load_core():
    """Import the compiled engine, after loading the BLAS it links against (the scipy-openblas32 wheel)."""
    global _CORE, _CORE_ERROR
    try:
        import scipy_openblas32

        lib_dir = scipy_openblas32.get_lib_dir()
        lib = next(f for f in os.listdir(lib_dir) if f.startswith("libscipy_openblas"))
        # RTLD_LOCAL: found by soname when _core loads, but its `scipy_*` symbols stay out of the global
        # scope, where they would capture SciPy's own copy of OpenBLAS.
        ctypes.CDLL(os.path.join(lib_dir, lib), mode=ctypes.RTLD_LOCAL)
    except Exception:  # the rpath of _core may still find it
        pass
    try:
        from . import _core

        _CORE, _CORE_ERROR = _core, ""
    except ImportError as exc:
        _CORE, _CORE_ERROR = None, f"genmetrics._core could not be imported ({exc})"


_load_core()


#: The engine never runs more threads than this many per CPU (cpp/parallel.hpp caps alike): beyond it, threads
#: only add stacks, OpenBLAS buffers (of which OpenBLAS has a fixed table) and contention.
MAX_THREADS_PER_CORE = 4


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def num_threads() -> int:
    """Threads for the compiled engine: ``GENMETRICS_NUM_THREADS`` (an integer >= 1) or the CPUs this process may
    use, at most ``MAX_THREADS_PER_CORE`` times the CPUs. A value that is not a positive integer is a ValueError."""
    env = os.environ.get("GENMETRICS_NUM_THREADS")
    cap = MAX_THREADS_PER_CORE * (os.cpu_count() or 1)
    if env is None or not env.strip():
        return min(_cpus(), cap)
    try:
        requested = int(env.strip())
    except ValueError:
        raise ValueError(f"GENMETRICS_NUM_THREADS: expected a positive integer, got {env!r}") from None
    if requested < 1:
        raise ValueError(f"GENMETRICS_NUM_THREADS: expected a positive integer, got {env!r}")
    return min(requested, cap)


class CpuBackend:
    name = "cpu"
    device = "host"

    def gram(self, spec: KernelSpec, X, Y=None):
        return _CORE.gram(X, Y, *spec.engine_args(), num_threads())

    def kernel_row_sums(self, spec: KernelSpec, X, Y=None, power: float = 1.0):
        return _CORE.kernel_row_sums(X, Y, *spec.engine_args(), float(power), num_threads())

    def kernel_matvec(self, spec: KernelSpec, X, Y, V):
        return _CORE.kernel_matvec(X, Y, V.astype(X.dtype, copy=False, order="C"), *spec.engine_args(), num_threads())

    def column_gram(self, X):
        return _CORE.column_gram(X, num_threads())

    def points(self, *arrays, names=None):
        return prepare_points(*arrays, tiles=True, names=names)

    def knn(self, queries, refs, k):
        if refs is None:
            return _CORE.knn(queries.tile, queries.exact, None, None, queries.scale, k, num_threads())
        return _CORE.knn(queries.tile, queries.exact, refs.tile, refs.exact, queries.scale, k, num_threads())

    def ball_query(self, a, b, inclusive, a_radius=None, a_nearest=False, a_weight=None, b_radius=None,
                   b_nearest=False):
        return _CORE.ball_query(a.tile, a.exact, b.tile, b.exact, a.scale, inclusive, a_radius, a_nearest, a_weight,
                                b_radius, b_nearest, num_threads())


class ArrayBackend:
    """The NumPy fallback (and, on GPU arrays, the same code on CuPy)."""

    def __init__(self, name: str, device: str):
        self.name = name
        self.device = device

    def gram(self, spec, X, Y=None):
        return _fallback.gram(spec, X, Y)

    def kernel_row_sums(self, spec, X, Y=None, power=1.0):
        return _fallback.kernel_row_sums(spec, X, Y, power)

    def kernel_matvec(self, spec, X, Y, V):
        return _fallback.kernel_matvec(spec, X, Y, V.astype(X.dtype, copy=False))

    def column_gram(self, X):
        return _fallback.column_gram(X)

    def points(self, *arrays, names=None):
        return prepare_points(*arrays, tiles=False, names=names)

    def knn(self, queries, refs, k):
        return _fallback.knn(queries, refs, k)

    def ball_query(self, a, b, inclusive, **sides):
        return _fallback.ball_query(a, b, inclusive, **{k: self._local(v) for k, v in sides.items()})

    def _local(self, value):
        """Per-point arrays (radii, weights) on this engine's device."""
        if self.device == "gpu" and isinstance(value, np.ndarray):
            return to_device(value)
        return value


def _gpu_status():
    """(CuPy usable with a device, why not) and (the CUDA engine usable, why not), probed once."""
    global _GPU_STATUS
    if _GPU_STATUS is None:
        try:
            import cupy  # noqa: PLC0415 (optional: the `cuda` extra)

            count = cupy.cuda.runtime.getDeviceCount()
            cupy_status = (count > 0, f"CuPy {cupy.__version__} on {count} GPU(s)" if count else "no CUDA device")
        except Exception as exc:  # ImportError, or CUDARuntimeError without a driver
            cupy_status = (False, f"CuPy with a CUDA device is needed ({type(exc).__name__}: {exc})")
        try:
            from . import _cuda  # noqa: PLC0415

            count, reason = _cuda.device_count()
            if count == 0:
                built = getattr(_cuda, "built_runtime_version", lambda: 0)()
                hint = ""
                if "insufficient" in reason:
                    hint = (f": no NVIDIA driver, or one older than the CUDA {built // 1000}.{built % 1000 // 10} this "
                            "module was built with; update the driver, or rebuild genmetrics with the driver's toolkit")
                cuda_status = (False, f"genmetrics._cuda is built but finds no GPU ({reason}{hint})")
            elif not cupy_status[0]:
                cuda_status = (False, f"genmetrics._cuda is built; {cupy_status[1]}")
            else:
                cuda_status = (True, f"compiled CUDA engine, {cupy_status[1]}")
        except ImportError as exc:
            cuda_status = (False, f"genmetrics._cuda is not built ({exc})")
        except Exception as exc:  # a stale or broken build must not take the other backends down with it
            cuda_status = (False, f"genmetrics._cuda could not be probed ({type(exc).__name__}: {exc})")
        _GPU_STATUS = (cupy_status, cuda_status)
    return _GPU_STATUS


_GPU_STATUS = None
_BACKENDS = {"cpu": CpuBackend(), "numpy": ArrayBackend("numpy", "host"), "cupy": ArrayBackend("cupy", "gpu")}


def backends() -> dict:
    """Which backends can run here: ``{name: (available, reason)}``."""
    cupy_status, cuda_status = _gpu_status()
    return {
        "cpu": (_CORE is not None, "compiled C++ engine" if _CORE is not None else _CORE_ERROR),
        "numpy": (True, "pure NumPy fallback"),
        "cuda": cuda_status,
        "cupy": (cupy_status[0], "the NumPy fallback's code on CuPy arrays; " + cupy_status[1]),
    }


def _engine(name: str):
    if name == "cuda" and name not in _BACKENDS:
        from ._cuda_engine import CudaBackend  # noqa: PLC0415 (imports CuPy)

        _BACKENDS[name] = CudaBackend()
    return _BACKENDS[name]


def get_backend(backend=None, *arrays):
    """The backend object for ``backend`` (a name, or None for the default for ``arrays``' device)."""
    if backend is None:
        backend = os.environ.get("GENMETRICS_BACKEND") or None
    if backend is None:
        if any(is_device_array(a) for a in arrays if a is not None):
            status = backends()
            if status["cuda"][0]:
                return _engine("cuda")
            if status["cupy"][0]:
                return _engine("cupy")
            raise ValueError(f"backend: GPU arrays were given but no GPU backend can run here: {status['cupy'][1]}")
        return _BACKENDS["cpu" if _CORE is not None else "numpy"]
    if not isinstance(backend, str):
        raise TypeError(f"backend: expected a name such as 'cpu' or 'numpy', got {type(backend).__name__}")
    status = backends()
    name = backend.lower()
    if name not in status:
        raise ValueError(f"backend: unknown backend {backend!r}; choose one of {', '.join(status)}")
    available, reason = status[name]
    if not available:
        raise ValueError(f"backend: {name!r} is not available here: {reason}")
    return _engine(name)
