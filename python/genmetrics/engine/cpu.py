"""The compiled CPU engine (``genmetrics._core``, cpp/): the BLAS it links against is loaded first, then the module.

:class:`CpuBackend` adapts the engine protocol to the bindings: the Gram family runs the C++ tile loop with its
fused epilogues, the distance family takes the prepared point sets (tiles and exact values) of
:mod:`genmetrics.engine.points`.
"""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .kernels import KernelSpec
from .points import prepare_points
from .protocol import NOTHING, as_side_arguments, results_from, sequential_kernel_sums
from .threads import num_threads

_CORE: Any = None  # the module genmetrics._core once loaded
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
        from .. import _core

        _CORE, _CORE_ERROR = _core, ""
    except ImportError as exc:
        _CORE, _CORE_ERROR = None, f"genmetrics._core could not be imported ({exc})"


_load_core()


class CpuBackend:
    name = "cpu"
    device = "host"

    def gram(self, spec: KernelSpec, X, Y=None):
        return _CORE.gram(X, Y, *spec.engine_args(), num_threads())

    def kernel_row_sums(self, spec: KernelSpec, X, Y=None, power: float = 1.0):
        return _CORE.kernel_row_sums(X, Y, *spec.engine_args(), float(power), num_threads())

    def kernel_sums(self, spec: KernelSpec, tasks):
        """The tasks side by side, one thread each, when there are at least two threads and two tasks: KID's
        subsets of 1,000 rows are too small for the tile loop to keep two threads busy. The sums are those of
        :meth:`kernel_row_sums` (each row's sum does not depend on the number of threads)."""
        threads = num_threads()
        if threads < 2 or len(tasks) < 2:
            return sequential_kernel_sums(self, spec, tasks)
        args = spec.engine_args()

        def one(task):
            X, Y = task
            sums, _ = _CORE.kernel_row_sums(X, Y, *args, 1.0, 1)
            return float(sums.sum())

        pool = ThreadPoolExecutor(max_workers=min(threads, len(tasks)))
        futures = [pool.submit(one, task) for task in tasks]
        try:
            return np.array([future.result() for future in futures], dtype=np.float64)
        finally:  # Ctrl-C (or an error) in the main thread: the queued tasks are dropped, not run
            pool.shutdown(wait=True, cancel_futures=True)

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

    def ball_query(self, a, b, *, inclusive, a_queries=NOTHING, b_queries=NOTHING):
        sides = as_side_arguments(a_queries, b_queries)
        return results_from(
            _CORE.ball_query(
                a.tile,
                a.exact,
                b.tile,
                b.exact,
                a.scale,
                inclusive,
                sides["a_radius"],
                sides["a_nearest"],
                sides["a_weight"],
                sides["b_radius"],
                sides["b_nearest"],
                num_threads(),
            )
        )
