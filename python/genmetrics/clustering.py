"""k-means on the engine: exact nearest-centroid assignments, k-means++ seeding, float64 centroid updates.

The quantiser of the frontier metrics (:mod:`genmetrics.frontiers`: MAUVE, PRD curves), usable on its own.
Every assignment is an exact k-NN query (k = 1) of the rows against the centroids through the engine seam, so the
labels are those of the float64 distance on every backend (ties to the lower centroid index); the float32 tiles
that make it fast are re-checked in float64 wherever their rounding could change a decision.
"""

from __future__ import annotations

import numpy as np

from .engine import get_backend
from .engine.points import as_numpy, points_in_frame
from .support.arrays import array_namespace
from .support.results import KMeansResult
from .support.validation import check_choice, check_embeddings, check_int, check_nonnegative

INITS = ("k-means++", "k-means||", "random")
#: k-means||: sampling rounds, and the expected rows drawn a round as a multiple of the number of clusters
#: (Bahmani et al. 2012 find a few rounds of 2k as good as k-means++; Spark MLlib runs 2, as here).
PARALLEL_ROUNDS = 2
PARALLEL_OVERSAMPLING = 2.0


def kmeans(X, *, n_clusters, n_init=1, max_iter=300, tol=1e-4, init="k-means++", seed=0, backend=None) -> KMeansResult:
    r"""k-means clustering (Lloyd's algorithm) with k-means++ seeding, exact assignments and float64 updates.

    Minimises the inertia :math:`\sum_i \min_j \lVert x_i - c_j \rVert^2` by alternating

    - assignment: label_i = argmin_j d(x_i, c_j), an exact k-NN query (k = 1) of the rows against the centroids
      (:func:`genmetrics.knn`'s float64 distance, ties to the lower centroid index);
    - update: c_j = (sum of the rows labelled j) / (their count), summed in float64 whatever the input dtype.
      A cluster left empty is re-seeded at the row farthest from its own centroid (the next farthest for a second
      empty cluster, and so on; ties to the lower row index), as scikit-learn does.

    It stops after ``max_iter`` updates, or once an update leaves every label unchanged (a fixed point) or changes
    the inertia by less than ``tol`` times its previous value (``converged``). The labels and the inertia returned
    are those of the centroids returned.

    Seeding, k-means++ (Arthur & Vassilvitskii, SODA 2007): the first centroid is a row drawn uniformly, each next
    one a row drawn with probability D(x)^2 / sum D^2, D(x) the exact distance from x to its nearest centroid so
    far (when every D is 0, as with fewer distinct rows than clusters, uniformly). The draws use
    ``numpy.random.default_rng(seed)``: one uniform per centroid, the row found by bisection of the cumulative sum
    of D^2 in row order, so results are deterministic for a seed and equal across backends.

    float32 input: the centroids are accumulated and returned in float64; the assignments compare the rows with
    the centroids rounded to float32 (as FAISS and scikit-learn compute in the input's precision), exactly.

    Parameters
    ----------
    X : array (n, d)
    n_clusters : int
        1 <= n_clusters <= n.
    n_init : int, default 1
        Independent seedings, run one after the other on one random stream; the lowest inertia is kept (the first
        on ties).
    max_iter : int, default 300
        Most centroid updates per run (>= 1).
    tol : float >= 0, default 1e-4
        Relative change in inertia below which a run stops. 0 runs to a fixed point (or ``max_iter``).
    init : {"k-means++", "k-means||", "random"}, default "k-means++"
        "k-means||" (scalable k-means++, Bahmani, Moseley, Vattani, Kumar & Vassilvitskii, VLDB 2012): from one
        uniform row, ``PARALLEL_ROUNDS`` rounds each draw every row independently with probability
        min(1, ``PARALLEL_OVERSAMPLING`` k D(x)^2 / sum D^2) (one exact distance pass against the round's rows,
        not one a centroid), each candidate is weighted by the rows nearest to it, and k-means++ on the weighted
        candidates picks the k seeds: k-means++'s quality at a few passes, for large k (MAUVE's hundreds of
        buckets). "random" draws ``n_clusters`` distinct rows uniformly (FAISS's seeding: cheaper, usually worse).
    seed : int, default 0
        Seeds ``numpy.random.default_rng``.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    KMeansResult
        ``centroids`` (n_clusters, d) float64, ``labels`` (n,) int64, ``inertia`` (float), ``n_iter`` (updates of
        the kept run), ``converged`` and the parameters; NumPy arrays on every backend.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + 10.0])
    >>> result = gm.kmeans(X, n_clusters=2, seed=0)
    >>> np.bincount(result.labels)
    array([50, 50])
    >>> bool(result.converged), np.abs(np.sort(result.centroids[:, 0])).round(1)
    (True, array([0. , 9.9]))
    """
    engine = get_backend(backend, X)
    X = check_embeddings(X, "X", device=engine.device)
    n = int(X.shape[0])
    n_clusters = check_int(n_clusters, "n_clusters", low=1, high=n)
    n_init = check_int(n_init, "n_init", low=1)
    max_iter = check_int(max_iter, "max_iter", low=1)
    tol = check_nonnegative(tol, "tol")
    init = check_choice(init, "init", INITS)
    seed = check_int(seed, "seed", low=0)
    rng = np.random.default_rng(seed)
    (frame,) = engine.points(X, names=("X",))
    best = None
    for _ in range(n_init):
        run = _lloyd(engine, frame, _seed_centroids(engine, frame, n_clusters, init, rng), max_iter, tol)
        if best is None or run[2] < best[2]:
            best = run
    assert best is not None
    centroids, labels, inertia, n_iter, converged = best
    return KMeansResult(
        centroids=centroids,
        labels=labels,
        inertia=inertia,
        n_iter=n_iter,
        converged=converged,
        n_clusters=n_clusters,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        init=init,
        seed=seed,
        backend=engine.name,
    )


def assign(engine, frame, centroids):
    """(labels int64 (n,), squared distances float64 (n,)) of the rows of ``frame`` to their nearest centroid (a
    float64 (k, d) host array, rounded to the rows' dtype), exactly, ties to the lower centroid index."""
    xp = array_namespace(frame.exact)
    C = xp.ascontiguousarray(xp.asarray(centroids.astype(frame.exact.dtype)))
    distances, indices = engine.knn(frame, points_in_frame(frame, C), 1)
    d = as_numpy(distances)[:, 0]
    return as_numpy(indices)[:, 0].astype(np.int64), d * d


def _seed_centroids(engine, frame, k: int, init: str, rng) -> np.ndarray:
    """k rows of the set, in float64 on the host: k-means++ (D^2 sampling) or ``k`` distinct uniform rows."""
    X = frame.exact
    n = frame.rows
    if init == "random":
        return _rows(X, rng.choice(n, size=k, replace=False))
    if init == "k-means||":
        return _parallel_seeds(engine, frame, k, rng)
    first = int(rng.integers(n))
    chosen = [first]
    nearest_sq = None
    for _ in range(1, k):
        _, d2 = assign(engine, frame, _rows(X, chosen[-1:]))
        nearest_sq = d2 if nearest_sq is None else np.minimum(nearest_sq, d2)
        u = rng.random()
        row = _draw(np.cumsum(nearest_sq), u)
        if row is None:  # every row sits on a centroid already
            row = min(int(u * n), n - 1)
        chosen.append(row)
    return _rows(X, chosen)


def _parallel_seeds(engine, frame, k: int, rng) -> np.ndarray:
    """k-means|| (see :func:`kmeans`): candidates by independent D^2 sampling in rounds, then k-means++ on them,
    weighted by the rows nearest to each."""
    X = frame.exact
    n = frame.rows
    candidates = [int(rng.integers(n))]
    _, nearest_sq = assign(engine, frame, _rows(X, candidates))
    for _ in range(PARALLEL_ROUNDS):
        total = float(nearest_sq.sum())
        if total <= 0:  # every row sits on a candidate
            break
        draws = rng.random(n) < PARALLEL_OVERSAMPLING * k * nearest_sq / total
        new = np.flatnonzero(draws & (nearest_sq > 0))
        if new.size:
            candidates.extend(new.tolist())
            _, d2 = assign(engine, frame, _rows(X, new))
            nearest_sq = np.minimum(nearest_sq, d2)
    C = _rows(X, candidates)
    if len(candidates) <= k:  # too few distinct rows were drawn: the rest uniformly among the others
        others = np.setdiff1d(np.arange(n), candidates)
        extra = rng.choice(others, size=min(k - len(candidates), others.size), replace=False)
        return np.concatenate([C, _rows(X, extra)])[:k] if extra.size else C
    labels, _ = assign(engine, frame, C)
    weights = np.bincount(labels, minlength=len(candidates)).astype(np.float64)
    return C[_weighted_kmeans_plus_plus(C, weights, k, rng)]


def _weighted_kmeans_plus_plus(C, weights, k: int, rng) -> list[int]:
    """k rows of C by k-means++ with each row's D^2 multiplied by its weight (float64, on the host; C is small)."""
    sq = np.einsum("ij,ij->i", C, C)
    chosen = [_draw(np.cumsum(weights), rng.random())]  # every candidate has a row nearest to it: weight > 0
    nearest_sq = np.full(C.shape[0], np.inf)
    for _ in range(1, k):
        c = C[chosen[-1]]
        nearest_sq = np.minimum(nearest_sq, np.maximum(sq + sq[chosen[-1]] - 2.0 * (C @ c), 0.0))
        nearest_sq[chosen[-1]] = 0.0
        row = _draw(np.cumsum(weights * nearest_sq), rng.random())
        if row is None:  # every candidate is chosen or coincides with one: the first unchosen one
            taken = set(chosen)
            row = next(i for i in range(C.shape[0]) if i not in taken)
        chosen.append(row)
    return chosen


def _draw(cumulative, u: float):
    """The first index whose cumulative weight exceeds u times the total (so one of positive weight), or None when
    every weight is 0: D^2 sampling by bisection, in index order."""
    total = float(cumulative[-1])
    if not total > 0:
        return None
    return min(int(np.searchsorted(cumulative, u * total, side="right")), cumulative.size - 1)


def _rows(X, rows) -> np.ndarray:
    """The rows ``rows`` (host integers) of ``X`` (host or device), as a float64 host array."""
    xp = array_namespace(X)
    return as_numpy(X[xp.asarray(np.asarray(rows, dtype=np.int64))]).astype(np.float64)


def cluster_means(X, labels: np.ndarray, k: int):
    """(sums / counts in float64 (k, d) host array, counts (k,)): the rows of each cluster summed in row order."""
    counts = np.bincount(labels, minlength=k)
    order = np.argsort(labels, kind="stable")
    ends = np.cumsum(counts)
    xp = array_namespace(X)
    on_device = xp is not np
    order_x = xp.asarray(order) if on_device else order
    means = np.zeros((k, X.shape[1]), dtype=np.float64)
    for j in np.flatnonzero(counts):
        rows = order_x[ends[j] - counts[j] : ends[j]]
        means[j] = as_numpy(X[rows].sum(axis=0, dtype=xp.float64)) / counts[j]
    return means, counts


def _lloyd(engine, frame, centroids: np.ndarray, max_iter: int, tol: float):
    X = frame.exact
    k = centroids.shape[0]
    labels, d2 = assign(engine, frame, centroids)
    inertia = float(d2.sum())
    converged = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        means, counts = cluster_means(X, labels, k)
        empty = np.flatnonzero(counts == 0)
        if empty.size:  # re-seed each at the farthest rows from their centroids (ties to the lower row)
            farthest = np.lexsort((np.arange(d2.size), -d2))[: empty.size]
            means[empty] = _rows(X, farthest)
        new_labels, new_d2 = assign(engine, frame, means)
        new_inertia = float(new_d2.sum())
        unchanged = bool(np.array_equal(new_labels, labels))
        converged = unchanged or abs(inertia - new_inertia) < tol * inertia
        centroids, labels, d2, inertia = means, new_labels, new_d2, new_inertia
        if converged:
            break
    return centroids, labels, inertia, n_iter, converged
