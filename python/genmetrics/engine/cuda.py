"""The GPU engine: CuPy arrays, cuBLAS tile products, and the fused epilogues of ``genmetrics._cuda``.

Each primitive walks the pair matrix in tiles, as the CPU engine does (FAISS's GPU index works the same way):

1. the tile of dot products is one cuBLAS GEMM (``cupy.matmul`` into a scratch tile, FP32 for float32 inputs,
   no TF32 unless CuPy is told to use it with ``CUPY_TF32=1``, in which case the distance margins widen to
   TF32's rounding and decisions stay exact);
2. an epilogue from ``genmetrics._cuda`` runs on the tile while it is still in L2: the kernel function and
   float64 power sums (Gram family), or squared distances, the k-th value of each row, and the ball tests with
   the tile's rounding margin (distance family);
3. every comparison that the margin cannot decide is re-checked in float64 from explicit differences, summed in
   NumPy's order by ``_cuda.exact_sq_distances``: decisions equal the CPU engine's, ties included.

The decisions themselves (candidates of k-NN, counts of balls, nearest points, realism) are the array engine's
code in ``genmetrics.engine.decisions``, given this module's :class:`CudaDistanceOps` for the hot steps: one
implementation of the logic for NumPy, CuPy and the CUDA engine.

Memory: tiles are sized from the free device memory (a share of it, :data:`MEMORY_SHARE`); when an allocation
fails all the same, the call is repeated with half the share, down to :data:`MIN_SHARE`, then a MemoryError
names the sizes.
"""

from __future__ import annotations

import math
import os

import cupy
import numpy as np

from .. import _cuda  # type: ignore[attr-defined]  # the compiled GPU module, optional
from . import array, decisions
from .decisions import ArrayDistanceOps
from .points import prepare_points
from .protocol import NOTHING, as_side_arguments, results_from, sequential_kernel_sums

#: Share of the free device memory that one call's tiles and temporaries may take.
MEMORY_SHARE = 0.5
#: Smallest share tried after out-of-memory errors before giving up.
MIN_SHARE = 0.5**6
#: Largest side of a Gram tile (float32: 256 MB).
MAX_TILE = 8192
MIN_TILE = 256


def _stream() -> int:
    return cupy.cuda.get_current_stream().ptr


def _dtype(a) -> str:
    return "float32" if a.dtype == cupy.float32 else "float64"


def _tile(a):
    """(pointer, dtype, rows, cols, leading dimension) of a 2-D array with contiguous rows."""
    rows, cols = a.shape
    if a.strides[1] != a.itemsize and cols > 1:
        raise ValueError("internal: tile rows must be contiguous")
    ld = max(a.strides[0] // a.itemsize, cols)
    return a.data.ptr, _dtype(a), rows, cols, ld


def _ptr(a) -> int:
    return 0 if a is None else a.data.ptr


def free_device_bytes() -> int:
    """Free device memory, counting the blocks CuPy's pool holds but does not use."""
    free, _ = cupy.cuda.runtime.memGetInfo()
    return int(free + cupy.get_default_memory_pool().free_bytes())


def tf32_matmul() -> bool:
    """Whether CuPy's float32 matmul runs on TF32 tensor cores: CuPy's own answer where it gives one, else its
    rule for the ``CUPY_TF32`` switch (on for any integer > 0)."""
    try:
        from cupy._core import _routines_linalg as linalg  # noqa: PLC0415 (private, present in CuPy 13 and 14)

        return linalg.get_compute_type(np.float32) == linalg.COMPUTE_TYPE_TF32
    except Exception:
        try:
            return int(os.environ.get("CUPY_TF32", "0") or 0) > 0
        except ValueError:
            return True  # unreadable: assume the wider rounding (only more re-checks)


def _sq_norms(A, chunk_rows: int = 8192):
    """|a|^2 of every row in float64 (in chunks: no float64 copy of the whole set)."""
    out = cupy.empty(A.shape[0], dtype=cupy.float64)
    for start in range(0, A.shape[0], chunk_rows):
        block = A[start : start + chunk_rows].astype(cupy.float64)
        out[start : start + chunk_rows] = (block * block).sum(axis=1)
    return out


class CudaDistanceOps(ArrayDistanceOps):
    """The distance engine's hot steps on the GPU: float32/float64 tiles of the prepared points, cuBLAS products,
    and the _cuda kernels for squared distances, k-th values, ball tests and float64 re-checks."""

    #: bytes per tile element budgeted for the block of approximate distances and the temporaries of the
    #: decisions on it (masks, index scans, float64 promotions)
    BYTES_PER_ELEMENT = 48

    def __init__(self, share: float = MEMORY_SHARE):
        self.share = share

    def block_rows(self, references: int) -> int:
        rows = int(self.share * free_device_bytes() // (max(references, 1) * self.BYTES_PER_ELEMENT))
        return max(1, min(rows, 1 << 20))

    def rounding(self, queries):
        if queries.tile.dtype == cupy.float32:
            return (2.0**-11 if tf32_matmul() else 2.0**-24), 2.0**-126
        return 2.0**-53, 2.0**-1022

    def tile(self, points, start, stop):
        return points.tile[start:stop]

    def blocks(self, queries, refs, symmetric: bool):
        R = refs.tile
        r_sq = _sq_norms(R)
        r_sq_tile = r_sq.astype(R.dtype)
        step = self.block_rows(refs.rows)
        for start in range(0, queries.rows, step):
            stop = min(start + step, queries.rows)
            Q = queries.tile[start:stop]
            q_sq = _sq_norms(Q)
            q_sq_tile = q_sq.astype(Q.dtype)  # held until the launch is queued (any allocator, not only the pool's)
            approx = cupy.matmul(Q, R.T)
            _cuda.sq_distances(*_tile(approx), _ptr(q_sq_tile), _ptr(r_sq_tile), start if symmetric else -1, _stream())
            yield decisions.DistanceBlock(start, stop, approx, q_sq, r_sq)

    def kth_smallest(self, approx, k: int):
        out = cupy.empty(approx.shape[0], dtype=approx.dtype)
        _cuda.row_kth_smallest(*_tile(approx), k, _ptr(out), _stream())
        return out

    def exact(self, queries, refs, q_index, r_index):
        q_index = cupy.ascontiguousarray(q_index, dtype=cupy.int64)
        r_index = cupy.ascontiguousarray(r_index, dtype=cupy.int64)
        out = cupy.empty(q_index.shape[0], dtype=cupy.float64)
        Q, R = queries.exact, refs.exact
        _cuda.exact_sq_distances(
            _ptr(Q),
            _ptr(R),
            _dtype(Q),
            Q.shape[1],
            _ptr(q_index),
            _ptr(r_index),
            q_index.shape[0],
            _ptr(out),
            _stream(),
        )
        return out

    def ball_tests(self, block, coefficient, floor, radius2, per_row: bool):
        approx = block.approx
        rows, cols = approx.shape
        radius2 = cupy.ascontiguousarray(radius2, dtype=cupy.float64)
        q_sq, r_sq = block.q_sq.astype(approx.dtype), block.r_sq.astype(approx.dtype)
        capacity = max(4096, 4 * (rows if per_row else cols))
        while True:
            sure = cupy.zeros(rows if per_row else cols, dtype=cupy.int64)
            pair_rows = cupy.empty(capacity, dtype=cupy.int64)
            pair_cols = cupy.empty(capacity, dtype=cupy.int64)
            count = cupy.zeros(1, dtype=cupy.uint64)
            _cuda.ball_tests(
                *_tile(approx),
                _ptr(q_sq),
                _ptr(r_sq),
                float(coefficient),
                float(floor),
                _ptr(radius2),
                bool(per_row),
                _ptr(sure),
                _ptr(pair_rows),
                _ptr(pair_cols),
                _ptr(count),
                capacity,
                _stream(),
            )
            found = int(count.get()[0])
            if found <= capacity:
                return sure, (pair_rows[:found], pair_cols[:found])
            capacity = found  # the lists were too short: repeat the tile with room for every pair


def _factor(spec, X):
    """What the kernel needs of each row (inverse norms for cosine, squared norms for rbf/laplacian), in X's dtype."""
    if spec.name == "cosine":
        return (1.0 / cupy.sqrt(_sq_norms(X))).astype(X.dtype)
    if spec.name in ("rbf", "laplacian"):
        return _sq_norms(X).astype(X.dtype)
    return None


class CudaBackend:
    """The ``cuda`` backend: the primitives of :mod:`genmetrics.engine` on CuPy arrays."""

    name = "cuda"
    device = "gpu"

    def __init__(self):
        self.share = MEMORY_SHARE

    # -- memory ----------------------------------------------------------------------------------------------

    def _shrinking(self, work):
        """Run work(share); on a device out-of-memory error free the pool's cache and retry with half the share."""
        share = self.share
        while True:
            try:
                return work(share)
            except cupy.cuda.memory.OutOfMemoryError as exc:
                cupy.get_default_memory_pool().free_all_blocks()
                share /= 2
                if share < MIN_SHARE:
                    raise MemoryError(
                        f"GPU memory: this call does not fit even in tiles of {MIN_SHARE:.1%} of the free memory "
                        f"({free_device_bytes() / 2**30:.2f} GiB free): {exc}"
                    ) from None

    def _tile_side(self, share: float, X, Y=None, per_element: int = 3) -> int:
        """Side of square Gram tiles: MAX_TILE, or the problem's size if smaller, and smaller still only when the
        tile, the power-sum scratch and a product do not fit in ``share`` of the free memory. The float64 sums
        are then summed in the same order on every run that is not short of memory."""
        size = max(X.shape[0], (X if Y is None else Y).shape[0])
        side = min(MAX_TILE, -(-size // 128) * 128)
        fits = int(math.sqrt(share * free_device_bytes() / (per_element * 8)))
        if fits < side:
            side = max(MIN_TILE, fits - fits % 128)  # below MIN_TILE an out-of-memory error ends the retries
        return side

    # -- the Gram family -------------------------------------------------------------------------------------

    def _kernel_tile(self, spec, out, x_factor, y_factor, diagonal: int):
        _cuda.apply_kernel(*_tile(out), *spec.engine_args(), _ptr(x_factor), _ptr(y_factor), diagonal, _stream())

    def _tiles(self, X, Y, side):
        """(row slice, column slice, diagonal offset or -1) over the tiles: the upper triangle when Y is None."""
        symmetric = Y is None
        n, m = X.shape[0], (X if symmetric else Y).shape[0]
        for i0 in range(0, n, side):
            for j0 in range(i0 if symmetric else 0, m, side):
                yield slice(i0, min(i0 + side, n)), slice(j0, min(j0 + side, m)), (0 if symmetric and i0 == j0 else -1)

    def _kernel_tiles(self, spec, X, Y, side):
        """Yield (rows, cols, diagonal, tile of k(x_i, y_j)) with the tile in a reused scratch buffer."""
        Yv = X if Y is None else Y
        fx = _factor(spec, X)
        fy = fx if Y is None else _factor(spec, Y)
        buffer = cupy.empty(side * side, dtype=X.dtype)
        for rows, cols, diagonal in self._tiles(X, Y, side):
            r, c = rows.stop - rows.start, cols.stop - cols.start
            tile = buffer[: r * c].reshape(r, c)
            cupy.matmul(X[rows], Yv[cols].T, out=tile)
            self._kernel_tile(spec, tile, None if fx is None else fx[rows], None if fy is None else fy[cols], diagonal)
            yield rows, cols, diagonal, tile

    def gram(self, spec, X, Y=None):
        """The whole matrix, asked for by the caller: one GEMM into it and the kernel in place. Its size is fixed,
        so an out-of-memory error is not retried with smaller tiles but becomes a MemoryError at once."""
        n, m = X.shape[0], (X if Y is None else Y).shape[0]
        try:
            out = cupy.matmul(X, (X if Y is None else Y).T)
            fx = _factor(spec, X)
            fy = fx if Y is None else _factor(spec, Y)
            self._kernel_tile(spec, out, fx, fy, 0 if Y is None else -1)
            if Y is None:  # one GEMM is not exactly symmetric: mirror the upper triangle, block by block
                step = 2048
                for i0 in range(0, n, step):
                    for j0 in range(i0 + step, n, step):
                        out[j0 : j0 + step, i0 : i0 + step] = out[i0 : i0 + step, j0 : j0 + step].T
                    block = out[i0 : i0 + step, i0 : i0 + step]
                    block[...] = cupy.triu(block) + cupy.triu(block, 1).T
            return out
        except cupy.cuda.memory.OutOfMemoryError:
            cupy.get_default_memory_pool().free_all_blocks()
            raise MemoryError(
                f"GPU memory: the {n} x {m} kernel matrix ({n * m * X.itemsize / 2**30:.2f} GiB) does not fit "
                f"({free_device_bytes() / 2**30:.2f} GiB free); the reductions (kernel_sum, vendi, rke) never hold it"
            ) from None

    def kernel_sums(self, spec, tasks):
        return sequential_kernel_sums(self, spec, tasks)

    def kernel_row_sums(self, spec, X, Y=None, power=1.0):
        def work(share):
            side = self._tile_side(share, X, Y)
            sums = cupy.zeros(X.shape[0], dtype=cupy.float64)
            negative = cupy.zeros(1, dtype=cupy.int32)
            scratch = cupy.empty(_cuda.power_sums_scratch(side, side), dtype=cupy.float64)
            for rows, cols, diagonal, tile in self._kernel_tiles(spec, X, Y, side):
                mirrored = Y is None and diagonal < 0  # an off-diagonal tile stands for its transpose too
                _cuda.power_sums(
                    *_tile(tile),
                    float(power),
                    _ptr(sums[rows]),
                    _ptr(sums[cols]) if mirrored else 0,
                    _ptr(negative),
                    _ptr(scratch),
                    _stream(),
                )
            return sums, int(negative.get()[0]) == 0

        return self._shrinking(work)

    def kernel_matvec(self, spec, X, Y, V):
        V = cupy.ascontiguousarray(V, dtype=X.dtype)

        def work(share):
            side = self._tile_side(share, X, Y)
            out = cupy.zeros((X.shape[0], V.shape[1]), dtype=cupy.float64)
            for rows, cols, diagonal, tile in self._kernel_tiles(spec, X, Y, side):
                out[rows] += tile @ V[cols]
                if Y is None and diagonal < 0:
                    out[cols] += tile.T @ V[rows]
            return out

        return self._shrinking(work)

    def column_gram(self, X):
        return self._shrinking(lambda share: array.column_gram(X))

    # -- the distance family ---------------------------------------------------------------------------------

    def points(self, *arrays, names=None):
        return prepare_points(*arrays, tiles=True, names=names)

    def knn(self, queries, refs, k):
        return self._shrinking(lambda share: decisions.knn(queries, refs, k, ops=CudaDistanceOps(share)))

    def ball_query(self, a, b, *, inclusive, a_queries=NOTHING, b_queries=NOTHING):
        sides = as_side_arguments(a_queries, b_queries)
        sides = {key: cupy.asarray(value) if isinstance(value, np.ndarray) else value for key, value in sides.items()}
        return results_from(
            self._shrinking(lambda share: decisions.ball_query(a, b, inclusive, ops=CudaDistanceOps(share), **sides))
        )
