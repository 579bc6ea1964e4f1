"""Squared Euclidean distances between two sets, a block of rows at a time, from the engine's Gram tiles.

For metrics whose per-pair function is not one of the engine's fused kernels (a compact cosine kernel, a Gaussian
with one bandwidth per centre, a product over the balls that hold a point): each block is
|a|^2 + |b|^2 - 2 a.b in float64, the products from ``engine.gram`` with the linear kernel on float64 copies of the
sets shifted by a common centre (which keeps |a|^2 + |b|^2 near the size of the distances). The absolute error of an
entry is below :func:`sq_distance_error` of its rows; functions that are continuous in the distance (everything here
but the ball decisions of ``rarity_score``) need nothing more, and decisions near a threshold are re-checked with
:func:`exact_sq_distances`. Memory: one block of ``rows x m`` float64 values (``BLOCK_CELLS``), never n x m.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..support.arrays import array_namespace
from .kernels import resolve_kernel

#: float64 cells of one block of distances (32 MiB).
BLOCK_CELLS = 2**22

EPS = 2.0**-52


def centered_float64(A, B, center=None):
    """float64 copies of ``A`` and ``B`` shifted by ``center`` (default: the mean of ``A``)."""
    xp = array_namespace(A)
    if center is None:
        center = A.mean(axis=0, dtype=xp.float64)
    return xp.ascontiguousarray(A.astype(xp.float64) - center), xp.ascontiguousarray(B.astype(xp.float64) - center)


def sq_norms(A):
    xp = array_namespace(A)
    return xp.einsum("ij,ij->i", A, A)


def sq_distance_blocks(engine, A, B, *, block_cells: int = BLOCK_CELLS) -> Iterator[tuple[int, int, Any]]:
    """(start, stop, D2) for consecutive blocks of rows of ``A`` (float64, already centred): D2[i, j] is the
    squared distance from A[start + i] to B[j], float64, clipped at 0."""
    xp = array_namespace(A)
    spec = resolve_kernel("linear", A)
    b_sq = sq_norms(B)
    rows = max(1, block_cells // max(1, B.shape[0]))
    for start in range(0, A.shape[0], rows):
        block = A[start : start + rows]
        dots = engine.gram(spec, block, B)
        D2 = sq_norms(block)[:, None] + b_sq[None, :] - 2.0 * dots
        yield start, start + block.shape[0], xp.maximum(D2, 0.0)


def sq_distance_error(a_sq, b_sq, d: int):
    """A bound on the absolute error of the squared distances of :func:`sq_distance_blocks` (outer form)."""
    return (4.0 * d + 8.0) * EPS * (a_sq[:, None] + b_sq[None, :])


def exact_sq_distances(A, B, rows, cols):
    """sum_k (A[rows, k] - B[cols, k])^2 from explicit differences, float64, for index arrays ``rows``, ``cols``."""
    diff = A[rows] - B[cols]
    return (diff * diff).sum(axis=1)
