"""The engine seam: what every engine (cpu, numpy/cupy, cuda; later dask) implements, typed.

Metric modules call only these methods. Two families:

- the Gram family, on inputs prepared by :func:`genmetrics.engine.kernels.kernel_inputs` with a resolved
  :class:`~genmetrics.engine.kernels.KernelSpec`: ``gram`` (the matrix), ``kernel_row_sums`` (row sums of k^p,
  float64), ``kernel_matvec`` (K V, float64), ``column_gram`` (X^T X, float64);
- the distance family, on point sets prepared by ``points`` (:class:`~genmetrics.engine.points.Points`): ``knn``
  and ``ball_query``, whose decisions are those of the float64 distance (see :mod:`genmetrics.engine.points`).

A ball query serves both directions of one pass over the pairs of two sets ``a`` and ``b``: :class:`BallQuery`
says what the rows of one set, as queries, want of the balls around the rows of the other, and
:class:`BallQueryResult` holds the answers, one value per query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..support.arrays import to_float
from .kernels import KernelSpec
from .points import Points

Array = Any  # a NumPy array (host engines) or a CuPy array (GPU engines)


@dataclass(frozen=True)
class BallQuery:
    """What the rows of one set, as queries, ask of the balls around the rows of the other set (the references).

    ``ball_radius``: one float64 radius per *reference*; each query counts the balls that hold it
    (d(q, r) < radius_r, or <= when the query is inclusive). ``nearest``: each query's nearest reference (ties to the
    lower index). ``ball_weight``: one float64 weight per reference; each query gets max_r weight_r / d(q, r) over
    the references with weight >= 0 (the realism score; inf at d = 0, 0 when no weight is >= 0).
    """

    ball_radius: Array | None = None
    nearest: bool = False
    ball_weight: Array | None = None

    @property
    def wanted(self) -> bool:
        return self.ball_radius is not None or self.nearest or self.ball_weight is not None


@dataclass(frozen=True)
class BallQueryResult:
    """The answers of one direction of a ball query, one value per query (None where not asked for)."""

    counts: Array | None = None  # int64: how many reference balls hold the query
    nearest_distance: Array | None = None  # float64
    nearest_index: Array | None = None  # int64: a row of the reference set
    max_ratio: Array | None = None  # float64


NOTHING = BallQuery()


def as_side_arguments(a_queries: BallQuery, b_queries: BallQuery) -> dict:
    """The keyword arguments of the engines' internal ball-query functions (cpp ``_core.ball_query`` and
    :func:`genmetrics.engine.decisions.ball_query`): ``a_*`` for the rows of ``a`` as queries, ``b_*`` for ``b``'s.
    The C++ engine serves a ball weight for ``a``'s queries only."""
    if b_queries.ball_weight is not None:
        raise NotImplementedError("ball_weight is served for the queries of the first set (a) only")
    return dict(
        a_radius=a_queries.ball_radius,
        a_nearest=a_queries.nearest,
        a_weight=a_queries.ball_weight,
        b_radius=b_queries.ball_radius,
        b_nearest=b_queries.nearest,
    )


def results_from(out: dict) -> tuple[BallQueryResult, BallQueryResult]:
    """(a's results, b's results) from the internal functions' dict keyed ``a_counts``, ``b_nearest_distance``..."""

    def side(prefix: str) -> BallQueryResult:
        return BallQueryResult(
            counts=out.get(prefix + "counts"),
            nearest_distance=out.get(prefix + "nearest_distance"),
            nearest_index=out.get(prefix + "nearest_index"),
            max_ratio=out.get(prefix + "max_ratio"),
        )

    return side("a_"), side("b_")


def sequential_kernel_sums(engine: Engine, spec: KernelSpec, tasks: Sequence[tuple[Array, Array | None]]) -> np.ndarray:
    """:meth:`Engine.kernel_sums` one task after the other, each with all of the engine's parallelism."""
    return np.array([to_float(engine.kernel_row_sums(spec, X, Y, 1.0)[0].sum()) for X, Y in tasks], dtype=np.float64)


class Engine(Protocol):
    """The primitives every engine computes. ``name`` is the backend's name, ``device`` "host" or "gpu"."""

    name: str
    device: str

    def gram(self, spec: KernelSpec, X: Array, Y: Array | None = None) -> Array:
        """K(X, Y), n x m, in X's dtype."""

    def kernel_row_sums(
        self, spec: KernelSpec, X: Array, Y: Array | None = None, power: float = 1.0
    ) -> tuple[Array, bool]:
        """(row sums of k^power in float64, ok): ok is False when a negative value met a non-integer power."""

    def kernel_sums(self, spec: KernelSpec, tasks: Sequence[tuple[Array, Array | None]]) -> np.ndarray:
        """sum_ij k(x_i, y_j) of each task (X, Y) (Y None: X against itself), float64 on the host: many small
        reductions (KID's subsets) in one call, which an engine may run side by side."""

    def kernel_matvec(self, spec: KernelSpec, X: Array, Y: Array | None, V: Array) -> Array:
        """K(X, Y) V in float64."""

    def column_gram(self, X: Array) -> Array:
        """X^T X, d x d in float64."""

    def points(self, *arrays: Array, names: tuple[str, ...] | None = None) -> list[Points]:
        """The sets in one frame for the distance family; ``names`` name them in errors."""

    def knn(self, queries: Points, refs: Points | None, k: int) -> tuple[Array, Array]:
        """(distances (m, k) float64, indices (m, k) int64); refs None: the queries against themselves."""

    def ball_query(
        self, a: Points, b: Points, *, inclusive: bool, a_queries: BallQuery = NOTHING, b_queries: BallQuery = NOTHING
    ) -> tuple[BallQueryResult, BallQueryResult]:
        """One pass over the (a, b) pairs: a's rows as queries against b's balls, and b's against a's."""
