"""The k-NN and ball-query decisions of the array engine, shared by the NumPy/CuPy engine and the CUDA driver.

Blocks of approximate squared distances from dot products, then exact float64 distances from explicit
differences for every pair that could decide a result: the k-NN candidates within twice the rounding margin of
the k-th value, the pairs within the margin of a radius, the near-nearest. Memory O(block x m). The steps are
methods of :class:`ArrayDistanceOps` (float64 tiles in the array namespace); the CUDA engine
(:mod:`genmetrics.engine.cuda`) overrides the hot ones with fused kernels on float32 tiles and cuBLAS products,
and the decisions, written once here, stay alike. cpp/neighbors.cpp makes the same decisions in C++.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..support.arrays import array_namespace
from .points import Array, exact_sq_distances, margin_coefficient, underflow_margin

#: Bytes of one block of approximate distances (rows x references) held at a time.
BLOCK_BYTES = 64 * 2**20


class DistanceBlock(NamedTuple):
    """Query rows [start, stop) against every reference: approximate squared distances and the tile norms."""

    start: int
    stop: int
    approx: Array  # (stop - start, references), tile units
    q_sq: Array  # |q|^2 of the tile rows, float64
    r_sq: Array  # |r|^2 of the tile rows, float64


class ArrayDistanceOps:
    """The steps of the distance engine, in the array namespace on float64 tiles.

    The decisions are made by the functions below (knn, ball_query) from these steps; the CUDA engine
    (genmetrics.engine.cuda) overrides the hot ones with fused kernels on float32 tiles and cuBLAS products,
    and leaves the decisions, written once, alike.
    """

    #: bytes of one block of approximate distances (rows x references)
    block_bytes = BLOCK_BYTES

    def block_rows(self, references: int) -> int:
        return max(1, self.block_bytes // (max(references, 1) * 8))

    def tile(self, points, start, stop):
        """Rows [start, stop) of the shifted, scaled set, in the tiles' dtype."""
        return points.tile_block(start, stop)

    def sq_distances(self, Q, R, q_sq, r_sq, self_offset):
        """|q|^2 + |r|^2 - 2 q.r for the block; self_offset >= 0 marks (i, i + self_offset) as +inf."""
        xp = array_namespace(Q)
        approx = q_sq[:, None] + r_sq[None, :] - 2.0 * (Q @ R.T)
        if self_offset >= 0:  # a point is not its own neighbour
            rows = xp.arange(Q.shape[0])
            approx[rows, rows + self_offset] = xp.inf
        return approx

    def blocks(self, queries, refs, symmetric: bool):
        """Yield a :class:`DistanceBlock` per block of query rows."""
        xp = array_namespace(queries.exact)
        R = self.tile(refs, 0, refs.rows)
        R64 = R.astype(xp.float64)
        r_sq = (R64 * R64).sum(axis=1)
        step = self.block_rows(refs.rows)
        for start in range(0, queries.rows, step):
            stop = min(start + step, queries.rows)
            Q = self.tile(queries, start, stop)
            Q64 = Q.astype(xp.float64)
            q_sq = (Q64 * Q64).sum(axis=1)
            yield DistanceBlock(
                start, stop, self.sq_distances(Q, R, q_sq, r_sq, start if symmetric else -1), q_sq, r_sq
            )

    def rounding(self, queries):
        """(unit roundoff of the tiles' dot products, smallest normal number of the tiles' dtype): float64 here."""
        return 2.0**-53, 2.0**-1022

    def margin_terms(self, queries):
        """(coefficient, floor): |approximate - float64 formula| <= coefficient (|q|^2 + |r|^2) + floor, pair by
        pair; the rounding of the tiles, and the underflow of the tiles and of the formula (see underflow_margin)."""
        d = queries.exact.shape[1]
        unit_roundoff, smallest_normal = self.rounding(queries)
        return margin_coefficient(d, unit_roundoff), underflow_margin(d, queries.scale, smallest_normal)

    def kth_smallest(self, approx, k: int):
        xp = array_namespace(approx)
        return xp.partition(approx, k - 1, axis=1)[:, k - 1]

    def exact(self, queries, refs, q_index, r_index):
        return exact_sq_distances(queries.exact, refs.exact, q_index, r_index)

    def ball_tests(self, block: DistanceBlock, coefficient, floor, radius2, per_row: bool):
        """(queries' sure hits, (row, column) pairs to decide in float64) for balls of squared radii ``radius2``.

        per_row: each row is a query against the balls of the columns (radius2 per column), else each column
        against the balls of the rows (radius2 per row of the block).
        """
        xp = array_namespace(block.approx)
        margin = coefficient * (block.q_sq[:, None] + block.r_sq[None, :]) + floor
        r2 = radius2[None, :] if per_row else radius2[:, None]
        sure = block.approx + margin < r2
        undecided = xp.nonzero(~sure & ~(block.approx - margin > r2))
        return sure.sum(axis=1 if per_row else 0), undecided


ARRAY_OPS = ArrayDistanceOps()


def _select_smallest(xp, q_local, r_index, e, rows: int, k: int):
    """Per query row, the k smallest (e, index) pairs among the candidates (each row has at least k); ``e`` are
    distances, not squares, so that equal distances go to the lower index."""
    order = xp.lexsort(xp.stack([r_index, e, q_local]))
    q_sorted = q_local[order]
    first = xp.searchsorted(q_sorted, xp.arange(rows))
    # NaN in a tile drops candidates: refuse rather than read another row's (prepare_points keeps tiles finite)
    if bool(xp.any(xp.diff(xp.append(first, q_sorted.shape[0])) < k)):
        raise ValueError("points: the distance tiles hold non-finite values (magnitudes beyond float64?)")
    take = order[first[:, None] + xp.arange(k)[None, :]]
    return e[take], r_index[take]


def knn(queries, refs=None, k: int = 1, ops: ArrayDistanceOps = ARRAY_OPS):
    """(distances (m, k) float64, indices (m, k) int64); refs=None: queries against themselves, self excluded."""
    xp = array_namespace(queries.exact)
    symmetric = refs is None
    refs = queries if symmetric else refs
    distance = xp.empty((queries.rows, k), dtype=xp.float64)
    index = xp.empty((queries.rows, k), dtype=xp.int64)
    coefficient, floor = ops.margin_terms(queries)
    for block in ops.blocks(queries, refs, symmetric):
        start, stop = block.start, block.stop
        # every reference whose float64 distance can reach the k-th one: within twice the largest margin of the row
        bound = ops.kth_smallest(block.approx, k) + 2.0 * (coefficient * (block.q_sq + block.r_sq.max()) + floor)
        q_local, r_index = xp.nonzero(block.approx <= bound[:, None])
        # ordered by (distance, index): squares an ulp apart can share their square root, a tie of distances
        e = xp.sqrt(ops.exact(queries, refs, q_local + start, r_index))
        distance[start:stop], index[start:stop] = _select_smallest(xp, q_local, r_index, e, stop - start, k)
    return distance, index


def ball_query(
    a,
    b,
    inclusive: bool,
    a_radius=None,
    a_nearest=False,
    a_weight=None,
    b_radius=None,
    b_nearest=False,
    ops: ArrayDistanceOps = ARRAY_OPS,
):
    """One pass over the (a, b) pairs, both directions; returns a dict like the compiled engine's."""
    xp = array_namespace(a.exact)
    coefficient, floor = ops.margin_terms(a)
    out = {}
    inside = (lambda d, r: d <= r) if inclusive else (lambda d, r: d < r)
    if a_radius is not None:
        out["a_counts"] = xp.zeros(a.rows, dtype=xp.int64)
        a_r2 = (a_radius * a.scale) * (a_radius * a.scale)  # exact squares on every backend
    if b_radius is not None:
        out["b_counts"] = xp.zeros(b.rows, dtype=xp.int64)
        b_r2 = (b_radius * a.scale) * (b_radius * a.scale)
    if a_nearest:
        out["a_nearest_distance"] = xp.empty(a.rows, dtype=xp.float64)
        out["a_nearest_index"] = xp.empty(a.rows, dtype=xp.int64)
    if b_nearest:
        best_e = xp.full(b.rows, xp.inf)
        best_i = xp.full(b.rows, -1, dtype=xp.int64)
    if a_weight is not None:
        out["a_max_ratio"] = xp.zeros(a.rows, dtype=xp.float64)
        w2 = (a_weight * a.scale) * (a_weight * a.scale)
    for block in ops.blocks(a, b, False):
        start, stop, approx = block.start, block.stop, block.approx
        rows = stop - start
        if a_radius is not None:  # queries a against the balls of b: per row
            sure, (qi, ri) = ops.ball_tests(block, coefficient, floor, a_r2, per_row=True)
            hit = inside(xp.sqrt(ops.exact(a, b, qi + start, ri)), a_radius[ri])
            out["a_counts"][start:stop] += sure + xp.bincount(
                qi, weights=hit.astype(xp.float64), minlength=rows
            ).astype(xp.int64)
        if b_radius is not None:  # queries b against the balls of a: per column
            sure, (qi, ri) = ops.ball_tests(block, coefficient, floor, b_r2[start:stop], per_row=False)
            hit = inside(xp.sqrt(ops.exact(a, b, qi + start, ri)), b_radius[qi + start])
            out["b_counts"] += sure + xp.bincount(ri, weights=hit.astype(xp.float64), minlength=b.rows).astype(xp.int64)
        if a_nearest:
            bound = approx.min(axis=1) + 2.0 * (coefficient * (block.q_sq + block.r_sq.max()) + floor)
            qi, ri = xp.nonzero(approx <= bound[:, None])
            e, i = _select_smallest(xp, qi, ri, xp.sqrt(ops.exact(a, b, qi + start, ri)), rows, 1)
            out["a_nearest_distance"][start:stop] = e[:, 0]
            out["a_nearest_index"][start:stop] = i[:, 0]
        if b_nearest:  # per column, merged with the best of the earlier blocks by (distance, index)
            bound = approx.min(axis=0) + 2.0 * (coefficient * (block.q_sq.max() + block.r_sq) + floor)
            qi, ri = xp.nonzero(approx <= bound[None, :])
            e, i = _select_smallest(xp, ri, qi + start, xp.sqrt(ops.exact(a, b, qi + start, ri)), b.rows, 1)
            e, i = e[:, 0], i[:, 0]
            better = (e < best_e) | ((e == best_e) & (i < best_i))
            best_e = xp.where(better, e, best_e)
            best_i = xp.where(better, i, best_i)
        if a_weight is not None:  # max weight / distance, exact: float64 for every ball that can reach the bar
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # x / 0 or tiny: inf
                weighted = a_weight[None, :] >= 0  # negative: not a candidate
                margin = coefficient * (block.q_sq[:, None] + block.r_sq[None, :]) + floor
                upper_d2, lower_d2 = approx + margin, approx - margin
                lower_ratio2 = xp.where(upper_d2 > 0, w2[None, :] / upper_d2, xp.inf)
                bar2 = xp.where(weighted, lower_ratio2, -1.0).max(axis=1)
                reach = weighted & ((lower_d2 <= 0) | (w2[None, :] >= bar2[:, None] * lower_d2))
                qi, ri = xp.nonzero(reach)
                d = xp.sqrt(ops.exact(a, b, qi + start, ri))
                ratio = xp.where(d > 0, a_weight[ri] / d, xp.inf)
            best = xp.zeros(rows)  # per row, the largest ratio (rows without a weighted ball: 0)
            if qi.shape[0]:
                order = xp.lexsort(xp.stack([-ratio, qi]))
                q_sorted = qi[order]
                first = xp.concatenate([xp.ones(1, dtype=bool), q_sorted[1:] != q_sorted[:-1]])
                best[q_sorted[first]] = ratio[order][first]
            out["a_max_ratio"][start:stop] = best
    if b_nearest:
        out["b_nearest_distance"] = best_e
        out["b_nearest_index"] = best_i
    return out
