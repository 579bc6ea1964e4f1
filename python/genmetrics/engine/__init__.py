"""Backend dispatch: which engine computes the primitives for the arrays at hand.

``cpu``   the compiled C++ engine (``genmetrics._core``): tiled GEMM with fused kernels, threads, GIL released;
``numpy`` the array-namespace fallback (``genmetrics.engine.array``), the same numbers in plain NumPy;
``cuda``  the GPU engine (``genmetrics._cuda`` kernels on CuPy arrays, cuBLAS tiles; ``genmetrics.engine.cuda``);
``cupy``  the array-namespace fallback run on CuPy arrays: the same code as ``numpy``;
``dask``  the cpu engine run as block-pair tasks on a Dask cluster (``genmetrics.distributed``; the `dask` extra).

The choice: the ``backend=`` argument, else the ``GENMETRICS_BACKEND`` environment variable, else the fastest
available for the arrays' device (GPU arrays: cuda, else cupy; host arrays: cpu, else numpy). An engine takes
its inputs to its own device: host arrays given to ``cuda`` are copied to the GPU, GPU arrays given to ``cpu``
are copied to the host. Metric modules only call the primitives below: the Gram family (gram,
kernel_row_sums, kernel_matvec, column_gram) and the distance family (points, knn, ball_query).
"""

from __future__ import annotations

import importlib.util
import os

from ..support.arrays import is_device_array
from .array import ArrayBackend
from .cpu import _CORE, _CORE_ERROR, CpuBackend
from .threads import MAX_THREADS_PER_CORE, num_threads

__all__ = ["ArrayBackend", "CpuBackend", "MAX_THREADS_PER_CORE", "backends", "get_backend", "num_threads"]


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
            from .. import _cuda  # noqa: PLC0415

            count, reason = _cuda.device_count()
            if count == 0:
                built = getattr(_cuda, "built_runtime_version", lambda: 0)()
                cuda_status = (False, "genmetrics._cuda is built but finds no GPU: " + _no_gpu_reason(reason, built))
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


def _cuda_version(v: int) -> str:
    """13000 -> "13.0"."""
    return f"{v // 1000}.{v % 1000 // 10}"


#: The oldest driver of each CUDA major (minor-version compatibility: any driver of the major runs its runtimes).
_DRIVER_FOR_CUDA = {12: " (>= 525)", 13: " (>= 580)"}


def _driver_cuda_version() -> int | None:
    """The CUDA version the NVIDIA driver supports (e.g. 13000 for 13.0; the driver API's cuDriverGetVersion, which
    needs no GPU), or None when no driver library can be loaded."""
    import ctypes  # noqa: PLC0415

    for name in ("nvcuda.dll",) if os.name == "nt" else ("libcuda.so.1", "libcuda.dylib"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        version = ctypes.c_int(0)
        try:
            return version.value if lib.cuDriverGetVersion(ctypes.byref(version)) == 0 else 0
        except AttributeError:
            return 0
    return None


def _no_gpu_reason(reason: str, built: int) -> str:
    """Why genmetrics._cuda sees no GPU (its runtime's error, ``reason``), told apart: no driver at all, a driver older
    than the CUDA major this module was built with, or a driver that is fine but has no device to show."""
    built_text = f"CUDA {_cuda_version(built)}" if built else "its CUDA toolkit"
    needs = _DRIVER_FOR_CUDA.get(built // 1000, "")
    driver = _driver_cuda_version()
    if driver is None:
        return (
            f"no NVIDIA driver is installed (libcuda.so.1 cannot be loaded; the CUDA runtime says: {reason}); "
            f"genmetrics._cuda, built with {built_text}, needs an NVIDIA driver{needs}"
        )
    if built and driver and driver // 1000 < built // 1000:
        other = f"genmetrics-cu{driver // 1000}" if driver // 1000 in (12, 13) else "a build for the driver's CUDA"
        return (
            f"the NVIDIA driver supports CUDA {_cuda_version(driver)}, older than the {built_text} genmetrics._cuda "
            f"was built with ({reason}): update the driver{needs}, or install {other}"
        )
    driver_text = _cuda_version(driver) if driver else "?"
    return f"{reason} (NVIDIA driver for CUDA {driver_text}, module built with {built_text})"


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
        "dask": _dask_status(),
    }


def _dask_status():
    """(dask.distributed importable with the compiled engine, why not); dask itself is imported only when used."""
    if importlib.util.find_spec("distributed") is None or importlib.util.find_spec("dask") is None:
        return False, "Dask is not installed: pip install 'genmetrics[dask]' (dask[distributed])"
    if _CORE is None:
        return False, "its tasks run the cpu engine: " + _CORE_ERROR
    return True, "the cpu engine as block-pair tasks on a Dask cluster (the client in scope)"


def _engine(name: str):
    if name == "cuda" and name not in _BACKENDS:
        from .cuda import CudaBackend  # noqa: PLC0415 (imports CuPy)

        _BACKENDS[name] = CudaBackend()
    if name == "dask" and name not in _BACKENDS:
        from ..distributed.engine import DaskBackend  # noqa: PLC0415 (imports Dask)

        _BACKENDS[name] = DaskBackend()
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
