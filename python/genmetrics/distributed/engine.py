"""The Dask engine: the engine protocol (:mod:`genmetrics.engine.protocol`) run as block-pair tasks on a cluster.

Every method splits the rows of its sets into blocks of ``block_rows`` rows and submits one task per block pair;
each task calls the compiled cpu engine (``genmetrics._core``, one thread) on its blocks, and the partial results
merge exactly:

- kernel row sums, K V products and column Grams add (float64 partials, summed in block order: the floats differ
  from the single-process engine by the summation order only, ~1e-16 relative);
- per-query top-k lists merge by (float64 distance, global index): the k smallest, ties to the lower global index,
  as the cpu engine decides;
- ball counts add, the nearest reference takes the minimum (ties to the lower global index), the realism ratio
  takes the maximum.

Decisions are those of the single process: the point sets are prepared on the client in the frame of the whole
sets (:func:`genmetrics.engine.points.prepare_points`: the same shift and scale), then cut into blocks, and every
decision is the float64 distance's. Row indices are global (no padding, no duplicates), so results do not depend
on the number of workers or on the blocks.

Data moves to the workers once per array (a task that holds the block; cached for the arrays the metric code
passes again, e.g. the point sets of one prdc call or X of the randomized eigensolvers) and the tasks are pure
functions of their inputs: a worker lost mid-run is replaced and its tasks rerun by Dask with the same result.
A worker that runs out of memory ends the call with a MemoryError that names the block size.
"""

from __future__ import annotations

import contextlib
import contextvars
import weakref
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine.kernels import KernelSpec
from ..engine.points import Points, prepare_points
from ..engine.protocol import NOTHING, BallQuery, BallQueryResult

#: Share of a worker's memory limit that the blocks of one task may take (inputs, tiles, norms, outputs).
MEMORY_SHARE = 1 / 8

#: Arrays kept on the workers between calls (least recently used dropped first).
CACHE_ARRAYS = 8


@dataclass(frozen=True)
class _Settings:
    client: Any = None
    block_rows: int | None = None


_DEFAULT = _Settings()
_SETTINGS: contextvars.ContextVar[_Settings | None] = contextvars.ContextVar("genmetrics_dask", default=None)


@contextlib.contextmanager
def options(*, client=None, block_rows=None):
    """Within the ``with`` block, ``backend="dask"`` runs on ``client`` with blocks of ``block_rows`` rows.

    Parameters
    ----------
    client : distributed.Client, optional
        The cluster to run on; None: the client in scope (``distributed.get_client()``).
    block_rows : int, optional
        Rows per block; None: derived from the workers' memory limits (:func:`auto_block_rows`).
    """
    if block_rows is not None:
        if isinstance(block_rows, bool) or not isinstance(block_rows, (int, np.integer)):
            raise TypeError(f"block_rows: expected an int, got {type(block_rows).__name__}")
        if block_rows < 1:
            raise ValueError(f"block_rows: must be >= 1, got {block_rows}")
        block_rows = int(block_rows)
    token = _SETTINGS.set(_Settings(client, block_rows))
    try:
        yield
    finally:
        _SETTINGS.reset(token)


def current_client():
    """The client of :func:`options`, else the one in scope; a ValueError naming ``backend`` when there is none."""
    settings = _SETTINGS.get() or _DEFAULT
    if settings.client is not None:
        return settings.client
    from distributed import get_client  # noqa: PLC0415 (optional: the `dask` extra)

    try:
        return get_client()
    except ValueError:
        raise ValueError(
            "backend: 'dask' needs a Dask client: start one (distributed.Client(address) or "
            "genmetrics.distributed.Cluster(n_workers)) or pass one to genmetrics.distributed.options(client=...)"
        ) from None


def auto_block_rows(client, d: int, itemsize: int) -> int:
    """Rows per block from the smallest worker memory limit: a task holds two blocks, each as caller's values and
    tiles, within :data:`MEMORY_SHARE` of the limit (at most 2^16 rows: more buys nothing)."""
    workers = client.scheduler_info().get("workers", {})
    limits = [w.get("memory_limit") or 0 for w in workers.values()]
    limit = min((x for x in limits if x > 0), default=4 * 2**30)
    rows = int(limit * MEMORY_SHARE) // max(1, 4 * d * itemsize + 64)
    return max(1, min(rows, 2**16))


def _bounds(n: int, block: int) -> list[tuple[int, int]]:
    return [(start, min(n, start + block)) for start in range(0, n, block)]


# ---------------------------------------------------------------------------------------------------------------
# Tasks: pure functions of their inputs, run on the workers
# ---------------------------------------------------------------------------------------------------------------


def _core():
    from ..engine.cpu import _CORE  # noqa: PLC0415 (loads the compiled engine in the worker)

    if _CORE is None:
        raise RuntimeError("genmetrics._core cannot be imported on this Dask worker")
    return _CORE


def _c(a):
    """``a`` with NumPy's own dtype object (the compiled engine checks the dtype by identity; arrays sent between
    processes may come with an equal copy of it)."""
    if a is None:
        return None
    canonical = {np.dtype(np.float32): np.float32, np.dtype(np.float64): np.float64}.get(a.dtype)
    return a if canonical is None else np.ascontiguousarray(a).view(canonical)


def _hold(block):
    """The task that holds a block on a worker (the scheduler keeps its input: a lost worker's blocks are rerun)."""
    return block


def _gram_task(X, Y, args):
    return _core().gram(_c(X), _c(Y), *args, 1)


def _row_sums_task(X, Y, args, power):
    return _core().kernel_row_sums(_c(X), _c(Y), *args, float(power), 1)


def _kernel_sum_task(X, Y, args):
    sums, _ = _core().kernel_row_sums(_c(X), _c(Y), *args, 1.0, 1)
    return float(sums.sum())


def _matvec_task(X, Y, V, args):
    X = _c(X)
    return _core().kernel_matvec(X, _c(Y), _c(V.astype(X.dtype, copy=False, order="C")), *args, 1)


def _column_gram_task(X):
    return _core().column_gram(_c(X), 1)


def _sum_task(parts):
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def _knn_task(q_tile, q_exact, r_tile, r_exact, scale, k, r_start):
    """Top-k of the queries among the refs, indices made global (refs None: a diagonal block, self excluded)."""
    core = _core()
    q_tile, q_exact, r_tile, r_exact = _c(q_tile), _c(q_exact), _c(r_tile), _c(r_exact)
    if r_tile is None:
        d, i = core.knn(q_tile, q_exact, None, None, scale, k, 1)
        return d, i + r_start
    d, i = core.knn(q_tile, q_exact, r_tile, r_exact, scale, k, 1)
    return d, i + r_start


def _merge_knn_task(parts, k):
    """The k smallest (distance, global index) of each row among the partial lists."""
    parts = [p for p in parts if p is not None and p[0].shape[1] > 0]
    distance = np.concatenate([p[0] for p in parts], axis=1)
    index = np.concatenate([p[1] for p in parts], axis=1)
    order = np.lexsort((index, distance), axis=-1)[:, :k]
    return np.take_along_axis(distance, order, axis=1), np.take_along_axis(index, order, axis=1)


def _ball_task(a_tile, a_exact, b_tile, b_exact, scale, inclusive, a_radius, a_nearest, a_weight, b_radius, b_nearest):
    return _core().ball_query(
        _c(a_tile),
        _c(a_exact),
        _c(b_tile),
        _c(b_exact),
        scale,
        inclusive,
        a_radius,
        a_nearest,
        a_weight,
        b_radius,
        b_nearest,
        1,
    )


def _merge_ball_task(parts, prefix, offsets):
    """One side's answers from the block pairs, in order of the reference blocks (offsets: their first rows)."""
    counts = nearest_distance = nearest_index = max_ratio = None
    for part, offset in zip(parts, offsets):
        c = part.get(prefix + "counts")
        if c is not None:
            counts = c.copy() if counts is None else counts + c
        r = part.get(prefix + "max_ratio")
        if r is not None:
            max_ratio = r.copy() if max_ratio is None else np.maximum(max_ratio, r)
        d = part.get(prefix + "nearest_distance")
        if d is not None:
            i = part[prefix + "nearest_index"] + offset
            if nearest_distance is None:
                nearest_distance, nearest_index = d.copy(), i.copy()
            else:  # reference blocks come in increasing order: a tie keeps the lower global index
                better = d < nearest_distance
                nearest_distance[better] = d[better]
                nearest_index[better] = i[better]
    return BallQueryResult(counts, nearest_distance, nearest_index, max_ratio)


# ---------------------------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------------------------


def _fingerprint(a: np.ndarray) -> tuple:
    """What identifies an array's blocks on the workers: identity, memory, shape, dtype and a checksum of the values
    (a changed array is sent again)."""
    data = np.ascontiguousarray(a)
    return (
        id(a),
        a.__array_interface__["data"][0],
        a.shape,
        a.dtype.str,
        zlib.adler32(data.view(np.uint8).reshape(-1).data),
    )


class DaskBackend:
    """The engine protocol on a Dask cluster (``backend="dask"``); see the module's docstring."""

    name = "dask"
    device = "host"

    def __init__(self):
        self._cache: OrderedDict = OrderedDict()  # fingerprint -> (client id, block rows, [futures]), LRU

    # -- placement --------------------------------------------------------------------------------------------

    def _client(self):
        return current_client()

    def block_rows(self, client, a) -> int:
        rows = (_SETTINGS.get() or _DEFAULT).block_rows
        return rows if rows is not None else auto_block_rows(client, a.shape[1], a.dtype.itemsize)

    def _blocks(self, client, a, block: int) -> list:
        """Futures of a's blocks of ``block`` rows on the workers (sent once, then cached)."""
        a = np.asarray(a)
        key = _fingerprint(a)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == id(client) and hit[1] == block:
            self._cache.move_to_end(key)
            return hit[2]
        futures = [client.submit(_hold, a[start:stop], pure=False) for start, stop in _bounds(a.shape[0], block)]
        self._cache[key] = (id(client), block, futures)
        with contextlib.suppress(TypeError):  # drop the entry with the array (ndarrays take weak references)
            weakref.finalize(a, self._cache.pop, key, None)
        while len(self._cache) > CACHE_ARRAYS:
            self._cache.popitem(last=False)
        return futures

    def _point_blocks(self, client, p: Points, block: int):
        tiles = self._blocks(client, p.tile, block)
        exact = tiles if p.tile is p.exact else self._blocks(client, p.exact, block)
        return _bounds(p.rows, block), tiles, exact

    def _gather(self, client, futures, block: int):
        from distributed import KilledWorker  # noqa: PLC0415

        try:
            return client.gather(futures)
        except (MemoryError, KilledWorker) as exc:
            raise MemoryError(
                f"block_rows: a Dask worker ran out of memory or died repeatedly on blocks of {block} rows "
                f"({type(exc).__name__}: {exc}); pass a smaller block size: "
                "genmetrics.distributed.options(block_rows=...)"
            ) from exc

    # -- the Gram family ----------------------------------------------------------------------------------------

    def gram(self, spec: KernelSpec, X, Y=None):
        client = self._client()
        block = self.block_rows(client, X)
        args = spec.engine_args()
        xb = self._blocks(client, X, block)
        xr = _bounds(X.shape[0], block)
        if Y is None:
            pairs = [(i, j) for i in range(len(xb)) for j in range(i, len(xb))]
            futures = [client.submit(_gram_task, xb[i], None if i == j else xb[j], args) for i, j in pairs]
            out = np.empty((X.shape[0], X.shape[0]), dtype=X.dtype)
            for (i, j), part in zip(pairs, self._gather(client, futures, block)):
                out[slice(*xr[i]), slice(*xr[j])] = part
                if i != j:
                    out[slice(*xr[j]), slice(*xr[i])] = part.T
            return out
        yb, yr = self._blocks(client, Y, block), _bounds(Y.shape[0], block)
        pairs = [(i, j) for i in range(len(xb)) for j in range(len(yb))]
        futures = [client.submit(_gram_task, xb[i], yb[j], args) for i, j in pairs]
        out = np.empty((X.shape[0], Y.shape[0]), dtype=X.dtype)
        for (i, j), part in zip(pairs, self._gather(client, futures, block)):
            out[slice(*xr[i]), slice(*yr[j])] = part
        return out

    def _pairs(self, client, X, Y, block):
        """(X's blocks, X's bounds, [(i, j, X_i future, Y_j future or None)]): Y None: X against itself, every
        ordered pair, the diagonal blocks as the engine's own symmetric case."""
        xb, xr = self._blocks(client, X, block), _bounds(X.shape[0], block)
        if Y is None:
            return xb, xr, [(i, j, xb[i], None if i == j else xb[j]) for i in range(len(xb)) for j in range(len(xb))]
        yb = self._blocks(client, Y, block)
        return xb, xr, [(i, j, xb[i], yb[j]) for i in range(len(xb)) for j in range(len(yb))]

    def kernel_row_sums(self, spec: KernelSpec, X, Y=None, power: float = 1.0):
        client = self._client()
        block = self.block_rows(client, X)
        args = spec.engine_args()
        xb, xr, pairs = self._pairs(client, X, Y, block)
        futures = [client.submit(_row_sums_task, x, y, args, power) for _, _, x, y in pairs]
        parts = self._gather(client, futures, block)
        sums = np.zeros(X.shape[0], dtype=np.float64)
        ok = True
        for (i, _, _, _), (part, part_ok) in zip(pairs, parts):
            sums[slice(*xr[i])] += part
            ok = ok and bool(part_ok)
        return sums, ok

    def kernel_sums(self, spec: KernelSpec, tasks):
        """One Dask task per (X, Y), each summed as the cpu engine sums it (its row sums, then their sum)."""
        client = self._client()
        args = spec.engine_args()
        futures = [client.submit(_kernel_sum_task, X, Y, args, pure=False) for X, Y in tasks]
        return np.array(self._gather(client, futures, 0), dtype=np.float64)

    def kernel_matvec(self, spec: KernelSpec, X, Y, V):
        client = self._client()
        block = self.block_rows(client, X)
        args = spec.engine_args()
        V = np.asarray(V)
        columns = X.shape[0] if Y is None else Y.shape[0]
        vb = [client.submit(_hold, V[start:stop], pure=False) for start, stop in _bounds(columns, block)]
        xb, xr, pairs = self._pairs(client, X, Y, block)
        partial: dict[int, list] = {i: [] for i in range(len(xb))}
        for i, j, x, y in pairs:
            partial[i].append(client.submit(_matvec_task, x, y, vb[j], args))
        futures = [client.submit(_sum_task, partial[i]) for i in range(len(xb))]
        return np.concatenate(self._gather(client, futures, block), axis=0)

    def column_gram(self, X):
        client = self._client()
        block = self.block_rows(client, X)
        xb = self._blocks(client, X, block)
        futures = [client.submit(_column_gram_task, x) for x in xb]
        return _sum_task(self._gather(client, futures, block))

    # -- the distance family ------------------------------------------------------------------------------------

    def points(self, *arrays, names=None):
        """The sets prepared on the client in the frame of the whole sets, as the cpu engine prepares them."""
        return prepare_points(*arrays, tiles=True, names=names)

    def knn(self, queries: Points, refs: Points | None, k: int):
        client = self._client()
        k = int(k)
        available = queries.rows - 1 if refs is None else refs.rows
        if k < 1 or k > available:
            raise ValueError("k: must be in [1, number of candidate neighbours]")
        block = self.block_rows(client, queries.exact)
        qr, qt, qe = self._point_blocks(client, queries, block)
        if refs is None:
            rr, rt, re = qr, qt, qe
        else:
            rr, rt, re = self._point_blocks(client, refs, block)
        scale = queries.scale
        merged = []
        for i in range(len(qr)):
            parts = []
            for j, (r_start, r_stop) in enumerate(rr):
                diagonal = refs is None and i == j
                width = min(k, (r_stop - r_start) - (1 if diagonal else 0))
                if width < 1:
                    continue
                if diagonal:
                    parts.append(client.submit(_knn_task, qt[i], qe[i], None, None, scale, width, r_start))
                else:
                    parts.append(client.submit(_knn_task, qt[i], qe[i], rt[j], re[j], scale, width, r_start))
            merged.append(client.submit(_merge_knn_task, parts, k))
        results = self._gather(client, merged, block)
        return (
            np.concatenate([r[0] for r in results], axis=0),
            np.concatenate([r[1] for r in results], axis=0),
        )

    def ball_query(self, a, b, *, inclusive, a_queries: BallQuery = NOTHING, b_queries: BallQuery = NOTHING):
        if b_queries.ball_weight is not None:
            raise NotImplementedError("ball_weight is served for the queries of the first set (a) only")
        client = self._client()
        block = self.block_rows(client, a.exact)
        ar, at, ae = self._point_blocks(client, a, block)
        br, bt, be = self._point_blocks(client, b, block)

        def part(values, bounds):
            return (
                None if values is None else np.ascontiguousarray(np.asarray(values, dtype=np.float64)[slice(*bounds)])
            )

        grid = {}
        for i, a_bounds in enumerate(ar):
            for j, b_bounds in enumerate(br):
                grid[i, j] = client.submit(
                    _ball_task,
                    at[i],
                    ae[i],
                    bt[j],
                    be[j],
                    a.scale,
                    bool(inclusive),
                    part(a_queries.ball_radius, b_bounds),
                    bool(a_queries.nearest),
                    part(a_queries.ball_weight, b_bounds),
                    part(b_queries.ball_radius, a_bounds),
                    bool(b_queries.nearest),
                )
        a_offsets = [start for start, _ in ar]
        b_offsets = [start for start, _ in br]
        a_side = b_side = None
        if a_queries.wanted:
            a_side = [
                client.submit(_merge_ball_task, [grid[i, j] for j in range(len(br))], "a_", b_offsets)
                for i in range(len(ar))
            ]
        if b_queries.wanted:
            b_side = [
                client.submit(_merge_ball_task, [grid[i, j] for i in range(len(ar))], "b_", a_offsets)
                for j in range(len(br))
            ]
        gathered = self._gather(client, (a_side or []) + (b_side or []), block)
        a_parts, b_parts = gathered[: len(a_side or [])], gathered[len(a_side or []) :]
        return _concat(a_parts), _concat(b_parts)


def _concat(parts) -> BallQueryResult:
    if not parts:
        return BallQueryResult()

    def field(name):
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else np.concatenate(values)

    return BallQueryResult(field("counts"), field("nearest_distance"), field("nearest_index"), field("max_ratio"))


def model_block_bytes(block: int, d: int, itemsize: int) -> int:
    """Bytes a block pair task holds: two blocks as values and tiles."""
    return 4 * block * d * itemsize


__all__ = ["DaskBackend", "auto_block_rows", "current_client", "model_block_bytes", "options"]
