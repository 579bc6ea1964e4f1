"""Backend dispatch: which engine computes the primitives for the arrays at hand.

``cpu``   the compiled C++ engine (``genmetrics._core``): tiled GEMM with fused kernels, threads, GIL released;
``numpy`` the array-namespace fallback (``genmetrics._fallback``), the same numbers in plain NumPy.
(``cuda``/``cupy`` join the same table when the GPU engine lands.)

The choice: the ``backend=`` argument, else the ``GENMETRICS_BACKEND`` environment variable, else the fastest
available for the arrays' device. Metric modules only call the primitives below: the Gram family (gram,
kernel_row_sums, kernel_matvec, column_gram) and the distance family (points, knn, ball_query).
"""
from __future__ import annotations

import ctypes
import os

from . import _fallback
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


def num_threads() -> int:
    """Threads for the compiled engine: ``GENMETRICS_NUM_THREADS`` or the CPUs this process may use."""
    env = os.environ.get("GENMETRICS_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"GENMETRICS_NUM_THREADS: expected an integer, got {env!r}") from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class CpuBackend:
    name = "cpu"

    def gram(self, spec: KernelSpec, X, Y=None):
        return _CORE.gram(X, Y, *spec.engine_args(), num_threads())

    def kernel_row_sums(self, spec: KernelSpec, X, Y=None, power: float = 1.0):
        return _CORE.kernel_row_sums(X, Y, *spec.engine_args(), float(power), num_threads())

    def kernel_matvec(self, spec: KernelSpec, X, Y, V):
        return _CORE.kernel_matvec(X, Y, V.astype(X.dtype, copy=False, order="C"), *spec.engine_args(), num_threads())

    def column_gram(self, X):
        return _CORE.column_gram(X, num_threads())

    def points(self, *arrays):
        return prepare_points(*arrays, tiles=True)

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

    def __init__(self, name: str):
        self.name = name

    def gram(self, spec, X, Y=None):
        return _fallback.gram(spec, X, Y)

    def kernel_row_sums(self, spec, X, Y=None, power=1.0):
        return _fallback.kernel_row_sums(spec, X, Y, power)

    def kernel_matvec(self, spec, X, Y, V):
        return _fallback.kernel_matvec(spec, X, Y, V.astype(X.dtype, copy=False))

    def column_gram(self, X):
        return _fallback.column_gram(X)

    def points(self, *arrays):
        return prepare_points(*arrays, tiles=False)

    def knn(self, queries, refs, k):
        return _fallback.knn(queries, refs, k)

    def ball_query(self, a, b, inclusive, **sides):
        return _fallback.ball_query(a, b, inclusive, **sides)


_BACKENDS = {"cpu": CpuBackend(), "numpy": ArrayBackend("numpy")}


def backends() -> dict:
    """Which backends can run here: ``{name: (available, reason)}``."""
    return {
        "cpu": (_CORE is not None, "compiled C++ engine" if _CORE is not None else _CORE_ERROR),
        "numpy": (True, "pure NumPy fallback"),
        "cuda": (False, "the CUDA engine is not part of this build yet"),
        "cupy": (False, "the CuPy fallback is not part of this build yet"),
    }


def get_backend(backend=None):
    """The backend object for ``backend`` (a name or None for the default)."""
    if backend is None:
        backend = os.environ.get("GENMETRICS_BACKEND") or None
    if backend is None:
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
    return _BACKENDS[name]
