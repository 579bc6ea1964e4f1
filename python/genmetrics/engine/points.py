"""Point sets prepared for the distance engines (k-NN and radius queries).

Distances are computed twice over, the way FAISS cannot: fast from tiles of dot products,
|q|^2 + |r|^2 - 2 q.r, and in float64 from explicit differences wherever the fast value lies within its
rounding margin of a decision. The fast value loses digits when the points sit far from the origin, so the
tiles are computed on the points shifted by a common center (the mean of the first set) and multiplied by a
power of two (exact) that keeps squared norms far from overflow and underflow. The float64 re-checks always
use the caller's values: the shift never changes a decision, it only makes re-checks rarer.

The definition every decision follows (tests/reference_fidelity.py holds the same in plain NumPy)::

    d(x, y) = sqrt(np.sum((x.astype(float64) - y.astype(float64)) ** 2, axis=-1))

with NumPy's own summation order, so that exact ties (duplicates, integer data) are ties here too.
Where coordinates differ by less than ~1e-154 the squares of this formula underflow; the rounding margin
includes that underflow, so the re-check follows the formula there too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..support.arrays import array_namespace, to_float, to_host
from .pairwise import exact_sq_distances_pairwise

Array = Any  # a NumPy array (host engines) or a CuPy array (GPU engines), as in engine/protocol.py

#: Rows per chunk when the float64 center, extent and shifted copies are computed (bounds the float64 scratch).
CHUNK_ROWS = 4096

#: Shifted magnitudes in [2^-32, 2^32] keep |x|^2 summed over any realistic d far inside float32's range.
SAFE_MAGNITUDE = 2.0**32


@dataclass(frozen=True)
class Points:
    """One set of points in a common frame: ``tile = (exact - center) * scale`` in ``exact``'s dtype."""

    exact: Array  # the caller's values, validated and C-contiguous
    center: Array  # float64 (d,)
    scale: float  # a power of two
    tile: Array | None = None  # materialised for the compiled engine; the array engine makes float64 blocks itself

    @property
    def rows(self) -> int:
        return int(self.exact.shape[0])

    def tile_block(self, start: int, stop: int):
        """Rows [start, stop) of the shifted, scaled set in float64 (the array engine's tiles)."""
        xp = array_namespace(self.exact)
        return (self.exact[start:stop].astype(xp.float64) - self.center) * self.scale


def _chunks(n: int):
    for start in range(0, n, CHUNK_ROWS):
        yield start, min(n, start + CHUNK_ROWS)


#: The shift is skipped (no copies) when the center's squared norm is below this share of the mean squared
#: norm: centering would then shrink the norms, and with them the rounding margin, by less than a quarter.
CENTER_WORTH_SHIFTING = 0.25


def distance_limit(d: int) -> float:
    """The largest |coordinate| for which the float64 formula sum((x - y)^2) cannot overflow: (2 L)^2 d < 2^1024."""
    return 0.5 * math.sqrt(np.finfo(np.float64).max / d)


def _largest(arrays, center=None) -> float:
    """max |a - center| over the sets, chunk by chunk (no full-size float64 temporary)."""
    return max(
        to_float(abs(a[start:stop] - center).max() if center is not None else abs(a[start:stop]).max())
        for a in arrays
        for start, stop in _chunks(a.shape[0])
    )


def prepare_points(*arrays, tiles: bool, names=None):
    """The sets ``arrays`` (validated, same width and dtype) in one frame: a list of :class:`Points`.

    One float64 pass over the sets measures the center (the mean of the first set), the mean squared norm
    and the extent. Sets already near the origin, at a safe scale, are used as they are (no copies);
    otherwise shifted (and, outside the safe range, power-of-two scaled) copies are written.

    Values beyond :func:`distance_limit` (|x| ~ 1e154 and up) are a ValueError naming the set (``names``,
    default X, Y, ...): the float64 distance every decision is made on would overflow there.
    """
    names = names or ("X", "Y", "Z")[: len(arrays)]
    first = arrays[0]
    xp = array_namespace(first)
    n, d = first.shape
    largest = _largest(arrays)
    limit = distance_limit(d)
    if largest > limit:
        name = next(name for name, a in zip(names, arrays) if _largest([a]) > limit)
        raise ValueError(
            f"{name}: values up to {largest:.3g} are too large for Euclidean distances in float64 (with {d} "
            f"feature(s), |x| must stay below {limit:.3g}); rescale the embeddings (distances scale with them)"
        )
    # The moments are summed on the values times a power of two (exact) that brings the largest near 1, so that
    # neither n |x|^2 near the limit overflows nor denormal values underflow.
    unit = 1.0 if largest == 0 else math.ldexp(1.0, max(-1000, min(1000, -math.frexp(largest)[1])))
    center = xp.zeros(d, dtype=xp.float64)
    mean_sq = 0.0
    for start, stop in _chunks(n):
        block = first[start:stop].astype(xp.float64) * unit
        center += block.sum(axis=0)
        mean_sq += to_float((block * block).sum())
    center /= n
    mean_sq /= n
    safe = largest == 0 or 1.0 / SAFE_MAGNITUDE <= largest <= SAFE_MAGNITUDE
    if safe and to_float((center * center).sum()) <= CENTER_WORTH_SHIFTING * mean_sq:
        zero = xp.zeros(d, dtype=xp.float64)
        return [Points(a, zero, 1.0, a if tiles else None) for a in arrays]
    center /= unit

    largest = _largest(arrays, center)
    scale = 1.0
    if largest > 0 and not 1.0 / SAFE_MAGNITUDE <= largest <= SAFE_MAGNITUDE:
        # clamped so that scale^2 stays finite; 2^500 still brings 1e-300 to 1e-150, whose squares are normal
        scale = math.ldexp(1.0, max(-500, min(500, -math.frexp(largest)[1])))
    out = []
    for a in arrays:
        tile = None
        if tiles:
            tile = xp.empty(a.shape, dtype=a.dtype)
            for start, stop in _chunks(a.shape[0]):
                tile[start:stop] = (a[start:stop] - center) * scale
        out.append(Points(a, center, scale, tile))
    return out


def points_in_frame(frame: Points, array) -> Points:
    """``array`` (same width and dtype as ``frame.exact``) as :class:`Points` in ``frame``'s frame (its center and
    scale), without measuring it: for sets that stay inside the frame set's extent, such as the centroids of
    k-means (means of its rows), which change every iteration while the frame set does not. The caller vouches
    for the extent; decisions are unchanged by the frame (only the number of float64 re-checks depends on it)."""
    xp = array_namespace(frame.exact)
    if frame.tile is None:
        return Points(array, frame.center, frame.scale, None)
    if frame.tile is frame.exact:  # the frame is the identity (no shift, scale 1): tiles are the values
        return Points(array, frame.center, frame.scale, array)
    tile = ((array.astype(xp.float64) - frame.center) * frame.scale).astype(array.dtype)
    return Points(array, frame.center, frame.scale, xp.ascontiguousarray(tile))


def margin_coefficient(d: int, unit_roundoff: float = 2.0**-53) -> float:
    """|fast - float64| <= coefficient * (|q|^2 + |r|^2) (tile norms) for the array engine's float64 tiles.

    The dot product's error (at most d u |q||r|), the rounding of norms, sum and difference, and the float64
    sum of squares of the re-check ((d + 1) u over at most 2 (|q|^2 + |r|^2)), with 25 % to spare; the same
    bound as cpp/neighbors.cpp with tiles in float64.
    """
    return 1.25 * ((d + 16) * unit_roundoff + 2 * (d + 2) * 2.0**-53)


def underflow_margin(d: int, scale: float, smallest_normal: float) -> float:
    """The absolute part of the margin, in tile units: the float64 formula's underflow (d squares below 2^-1074,
    in the caller's units, hence scale^2) and the tiles' own (products, norms, sums and differences below the tile
    dtype's smallest normal: absolute rounding, denormal or flushed). The relative term does not cover these when a
    cluster spread ~1e-20 around the frame's origin sits next to points near 1 (no rescaling then)."""
    return (d + 1) * 2.0**-1074 * scale**2 + (4 * d + 16) * smallest_normal


def exact_sq_distances(Q, R, q_index, r_index):
    """sum((q - r)^2) in float64 for the pairs (Q[q_index], R[r_index]), in NumPy's summation order.

    NumPy sums in that order itself; other namespaces (CuPy) reproduce it column by column
    (:mod:`genmetrics.engine.pairwise`), so that ties are decided alike on every backend.
    """
    xp = array_namespace(Q)
    if xp is not np:
        return exact_sq_distances_pairwise(xp, Q, R, q_index, r_index)
    diff = Q[q_index].astype(xp.float64) - R[r_index].astype(xp.float64)
    return xp.sum(diff * diff, axis=-1)


def as_numpy(a):
    """A NumPy array of a result (copied from the GPU for device arrays)."""
    return to_host(a)
