"""The array-namespace engine: the same primitives as the compiled ones, in NumPy (or CuPy).

One implementation written against ``xp``. It walks the pair matrix in blocks of rows so that memory stays
O(block x m), never n x m unless the caller asks for the matrix itself. Products run in the input's dtype;
sums are accumulated in float64, as in the compiled engine.
"""

from __future__ import annotations

import numpy as np

from ..support.arrays import array_namespace, to_device
from . import decisions
from .kernels import KernelSpec, apply_kernel
from .points import prepare_points
from .protocol import NOTHING, as_side_arguments, results_from, sequential_kernel_sums

#: Bytes of one block of kernel values (rows x m) held at a time.
BLOCK_BYTES = 64 * 2**20


def _row_factors(spec: KernelSpec, X):
    xp = array_namespace(X)
    if spec.name in ("rbf", "laplacian", "cosine"):
        sq = (X.astype(xp.float64) ** 2).sum(axis=1)
        if spec.name == "cosine":
            return None, (1.0 / xp.sqrt(sq)).astype(X.dtype)
        return sq.astype(X.dtype), None
    return None, None


def kernel_blocks(spec: KernelSpec, X, Y=None):
    """Yield (row_start, block of k(x_i, y_j) for the rows of the block and every y_j).

    Overflow of linear/polynomial values is left to the caller's finiteness check (a named ValueError),
    so NumPy's overflow warnings are silenced around the block's computation rather than printed before it.
    """
    xp = array_namespace(X)
    symmetric = Y is None
    Y = X if symmetric else Y
    x_sq, x_inv = _row_factors(spec, X)
    y_sq, y_inv = (x_sq, x_inv) if symmetric else _row_factors(spec, Y)
    step = max(1, BLOCK_BYTES // (max(Y.shape[0], 1) * X.dtype.itemsize))
    for start in range(0, X.shape[0], step):
        stop = min(start + step, X.shape[0])
        with np.errstate(over="ignore", invalid="ignore"):
            block = apply_kernel(
                spec,
                X[start:stop] @ Y.T,
                None if x_sq is None else x_sq[start:stop],
                y_sq,
                None if x_inv is None else x_inv[start:stop],
                y_inv,
            )
        if symmetric and spec.unit_diagonal:  # k(x, x) = 1 exactly, whatever the rounding of |x|^2 - x.x
            rows = xp.arange(stop - start)
            block[rows, rows + start] = 1
        yield start, block


def gram(spec: KernelSpec, X, Y=None):
    xp = array_namespace(X)
    out = xp.empty((X.shape[0], (X if Y is None else Y).shape[0]), dtype=X.dtype)
    for start, block in kernel_blocks(spec, X, Y):
        out[start : start + block.shape[0]] = block
    return out


def kernel_row_sums(spec: KernelSpec, X, Y=None, power: float = 1.0):
    """(row sums of k^power in float64, ok); ok is False when a negative value met a non-integer power."""
    xp = array_namespace(X)
    out = xp.empty(X.shape[0], dtype=xp.float64)
    ok = True
    integer_power = float(power).is_integer()
    for start, block in kernel_blocks(spec, X, Y):
        if not integer_power:
            if bool(xp.any(block < 0)):
                ok = False
            block = xp.maximum(block, 0)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow: the caller's named error
            if power != 1:
                block = block ** block.dtype.type(power)
            out[start : start + block.shape[0]] = block.sum(axis=1, dtype=xp.float64)
    return out, ok


def kernel_matvec(spec: KernelSpec, X, Y, V):
    """K(X, Y) V in float64; V has X's dtype."""
    xp = array_namespace(X)
    out = xp.empty((X.shape[0], V.shape[1]), dtype=xp.float64)
    for start, block in kernel_blocks(spec, X, Y):
        out[start : start + block.shape[0]] = block @ V
    return out


#: Rows per block of the column Gram: products within a block run in the input's dtype, blocks are summed in
#: float64, so rounding grows with the block, not with n (the compiled engine does the same).
COLUMN_GRAM_BLOCK_ROWS = 1024


def column_gram(X):
    """X^T X = sum_i x_i x_i^T, d x d in float64."""
    xp = array_namespace(X)
    n, d = X.shape
    out = xp.zeros((d, d), dtype=xp.float64)
    for start in range(0, n, COLUMN_GRAM_BLOCK_ROWS):
        Z = X[start : start + COLUMN_GRAM_BLOCK_ROWS]
        out += Z.T @ Z
    return out


class ArrayBackend:
    """The NumPy fallback (and, on GPU arrays, the same code on CuPy)."""

    def __init__(self, name: str, device: str):
        self.name = name
        self.device = device

    def gram(self, spec, X, Y=None):
        return gram(spec, X, Y)

    def kernel_row_sums(self, spec, X, Y=None, power=1.0):
        return kernel_row_sums(spec, X, Y, power)

    def kernel_sums(self, spec, tasks):
        return sequential_kernel_sums(self, spec, tasks)

    def kernel_matvec(self, spec, X, Y, V):
        return kernel_matvec(spec, X, Y, V.astype(X.dtype, copy=False))

    def column_gram(self, X):
        return column_gram(X)

    def points(self, *arrays, names=None):
        return prepare_points(*arrays, tiles=False, names=names)

    def knn(self, queries, refs, k):
        return decisions.knn(queries, refs, k)

    def ball_query(self, a, b, *, inclusive, a_queries=NOTHING, b_queries=NOTHING):
        sides = as_side_arguments(a_queries, b_queries)
        return results_from(decisions.ball_query(a, b, inclusive, **{k: self._local(v) for k, v in sides.items()}))

    def _local(self, value):
        """Per-point arrays (radii, weights) on this engine's device."""
        if self.device == "gpu" and isinstance(value, np.ndarray):
            return to_device(value)
        return value
