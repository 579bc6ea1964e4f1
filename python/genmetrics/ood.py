"""Out-of-distribution evaluation: detector scores and the threshold-free metrics of a detector.

================================  ==========================================================================
:func:`knn_ood_score`             Sun et al. (ICML 2022): minus the squared distance from an L2-normalised query
                                  to its k-th nearest L2-normalised row of an in-distribution memory bank
:func:`memory_bank_similarity`    cosine similarity (or minus the distance) of each query to its k nearest
                                  memory-bank rows: the k-th, their mean, or the nearest's
:func:`similarity_scaled_noise`   a noise scale per input, decreasing in its similarity to the bank
:func:`entropy_controlled_scores` SPEM (Kim & Yoon 2026): a likelihood model's log-likelihood of inputs
                                  perturbed with similarity-scaled noise, which undoes the "OOD inputs get
                                  higher likelihood" failure of flows and other likelihood models
:func:`ood_metrics`               AUROC, AUPR-in, AUPR-out and FPR at 95 % TPR of in- and out-of-distribution
                                  scores
================================  ==========================================================================

Scores follow one convention throughout: **higher means more in-distribution** (as the kNN score is). A
detector whose scores grow with "outlierness" (pytorch-ood's detectors) is evaluated on its negated scores.
Definitions: shared/METRICS.md, section "Out-of-distribution evaluation".
"""

from __future__ import annotations

import contextlib
import math
import numbers

import numpy as np

from .engine import get_backend
from .engine.points import exact_sq_distances
from .support.arrays import array_namespace, is_device_array, to_device, to_host
from .support.results import OODMetrics
from .support.validation import (
    as_real_array,
    check_choice,
    check_int,
    check_neighbor_count,
    check_nonnegative,
    check_pair,
    plain_input,
)

__all__ = [
    "entropy_controlled_scores",
    "knn_ood_score",
    "memory_bank_similarity",
    "ood_metrics",
    "similarity_scaled_noise",
]

#: Rows normalised per chunk: bounds the float64 scratch of the normalisation to CHUNK_ROWS x d.
CHUNK_ROWS = 4096

#: FPR at 95 % TPR: a threshold qualifies when TP / P >= 19 / 20, tested on integers (20 TP >= 19 P).
_TPR_NUM, _TPR_DEN = 19, 20


# ----------------------------------------------------------------------------------------------------------
# the kNN score
# ----------------------------------------------------------------------------------------------------------


def _normalise_rows(X, name: str):
    """Every row of ``X`` divided by its Euclidean norm, computed in float64 and stored in ``X``'s dtype.

    Each row is first divided by its largest absolute entry, so that the sum of squares neither underflows
    (rows of norm ~1e-200) nor overflows (~1e200); a row multiplied by a power of two therefore normalises
    to exactly the same values. A row of zeros has no direction: ValueError naming ``name`` and the row.
    Works on NumPy and CuPy arrays alike, CHUNK_ROWS rows at a time.
    """
    xp = array_namespace(X)
    out = xp.empty(X.shape, dtype=X.dtype)
    for start in range(0, X.shape[0], CHUNK_ROWS):
        stop = min(X.shape[0], start + CHUNK_ROWS)
        block = X[start:stop].astype(xp.float64)
        largest = xp.abs(block).max(axis=1)
        zero = largest == 0
        if bool(zero.any()):
            row = start + int(xp.argmax(zero))
            raise ValueError(
                f"{name}: row {row} has zero norm; it cannot be L2-normalised (the kNN score compares directions)"
            )
        block = block / largest[:, None]
        norm = xp.sqrt((block * block).sum(axis=1))
        out[start:stop] = (block / norm[:, None]).astype(X.dtype)
    return out


def knn_ood_score(memory_bank, queries, *, k=50, backend=None):
    r"""The kNN out-of-distribution score of Sun et al. (ICML 2022): higher means more in-distribution.

    With z = x / |x|_2 for every row of both sets::

        score(q) = -|z(q) - z(b_(k))|^2

    where b_(k) is the k-th nearest row of the memory bank to the query (Euclidean distance between the
    normalised rows). The paper thresholds the distance itself, -|z - z_(k)|_2; the authors' code
    (deeplearning-wisc/knn-ood, ``run_cifar.py``) and OpenOOD's ``KNNPostprocessor`` return ``-D[:, -1]``
    from a FAISS ``IndexFlatL2``, whose distances are *squared*. The squared distance is kept here so that
    the numbers match those implementations; the two are monotone functions of each other (on unit vectors
    |z - z'|^2 = 2 - 2 cos(z, z')), so AUROC, AUPR and FPR@95TPR are the same either way.

    Parameters
    ----------
    memory_bank : array (n, d)
        In-distribution embeddings (the training set's features, typically).
    queries : array (m, d)
        The embeddings to score. A query that equals a row of the bank is at distance 0 from it (the bank
        is not searched without the query, unlike ``gm.knn(X)`` with one set).
    k : int, default 50
        1 <= k <= n. The paper uses k = 50 for CIFAR-10 (and k = 1000 for ImageNet with the full
        training set).
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    float64 array (m,)
        NumPy for ``cpu``/``numpy``, CuPy for ``cuda``/``cupy`` (GPU inputs go there by default), as
        :func:`genmetrics.knn`. Values in [-4, 0] (up to the rounding of the stored unit rows).

    Notes
    -----
    Precision. Rows are normalised in float64 and stored in the inputs' dtype (float32 stays float32): the
    distances are those of the normalised rows *as stored*. The k-th neighbour is found by the exact k-NN
    engine (:func:`genmetrics.knn`: every decision is that of the float64 distance from explicit
    differences), and the score is that float64 squared distance,
    ``np.sum((z_q.astype(float64) - z_b.astype(float64)) ** 2)``, exactly (not the square of a rounded
    square root). FAISS's ``IndexFlatL2`` works in float32 (for batches of queries from
    |q|^2 + |b|^2 - 2 q.b, which loses digits near 0 and can reorder near-ties): its scores can differ from
    these by float32 rounding.

    Zero rows raise ValueError (the authors' code adds 1e-10 to every norm instead, mapping a zero row to the
    origin; for rows of norm >> 1e-10 that epsilon changes nothing visible).
    """
    engine = get_backend(backend, memory_bank, queries)
    bank, queries = check_pair(memory_bank, queries, "memory_bank", "queries", device=engine.device)
    k = check_neighbor_count(k, bank.shape[0], what="memory_bank")
    bank = _normalise_rows(bank, "memory_bank")
    queries = _normalise_rows(queries, "queries")
    refs, points = engine.points(bank, queries, names=("memory_bank", "queries"))
    kth = _smallest_squares(engine, refs, points, bank, queries, k)[:, k - 1]
    return 0.0 - kth  # 0.0 - 0.0 is +0.0, not -0.0


def _smallest_squares(engine, refs, points, bank, queries, k: int):
    """Per query, the k smallest float64 squared distances to the bank, exactly, in ascending order: (m, k).

    The engine orders neighbours by distance (ties to the lower index), and two squares an ulp apart can share
    their square root: the k nearest neighbours' squares are then not always the k smallest squares. Every bank
    row at most the k-th distance away is taken, found by asking for more neighbours until the last one is
    farther (almost always at once: k + 1 neighbours), and the k smallest of their squares kept. Rows nearer than
    the k-th distance have smaller squares than those at it, rows farther larger ones, so nothing else can be
    among the k smallest."""
    xp = array_namespace(queries)
    n = bank.shape[0]
    wanted = min(n, k + 1)
    while True:
        distance, index = engine.knn(points, refs, wanted)
        kth = distance[:, k - 1]
        if wanted == n or bool(xp.all(distance[:, wanted - 1] > kth)):
            break
        wanted = min(n, 2 * wanted)
    q_index, slot = xp.nonzero(distance <= kth[:, None])  # at least k per query, in query order
    squares = exact_sq_distances(queries, bank, q_index, xp.asarray(index[q_index, slot], dtype=xp.int64))
    order = xp.lexsort(xp.stack([squares, q_index]))
    first = xp.searchsorted(q_index[order], xp.arange(queries.shape[0]))
    return squares[order][first[:, None] + xp.arange(k)[None, :]]


# ----------------------------------------------------------------------------------------------------------
# metrics of a detector
# ----------------------------------------------------------------------------------------------------------


def _check_scores(scores, name: str):
    """A 1-D, non-empty, finite NumPy array of real scores: floats as float64 (exact), integers as integers.

    Through ``as_real_array``: GPU arrays are copied to the host, tensors that require grad detached; complex,
    string, datetime, structured and object scores, and masked arrays with masked entries, are TypeErrors.
    """
    scores = as_real_array(scores, name)
    kind = scores.dtype.kind
    if scores.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of scores, got {scores.ndim}-D shape {scores.shape}")
    if scores.shape[0] == 0:
        raise ValueError(f"{name}: needs at least one score, got none")
    if kind == "b":
        return scores.astype(np.int64)
    if kind == "f":
        scores = scores.astype(np.float64)
        if not np.all(np.isfinite(scores)):
            raise ValueError(f"{name}: contains NaN or infinite values")
    return scores


def _tie_groups(scores_in, scores_out):
    """The distinct score values in ascending order, with how many in- and out-samples take each one."""
    if scores_in.dtype != scores_out.dtype and (scores_in.dtype.kind in "iu" or scores_out.dtype.kind in "iu"):
        # integers beside floats (or other integers): a common float64 would merge integers above 2^53
        scores_in, scores_out = scores_in.astype(object), scores_out.astype(object)
    values = np.concatenate([scores_in, scores_out])
    _, group = np.unique(values, return_inverse=True)
    group = group.reshape(-1)
    count = int(group.max()) + 1
    n = scores_in.shape[0]
    c_in = np.bincount(group[:n], minlength=count).astype(np.int64)
    c_out = np.bincount(group[n:], minlength=count).astype(np.int64)
    return c_in, c_out


def _auroc(c_in, c_out) -> float:
    """P(s_in > s_out) + P(s_in = s_out) / 2, exactly (Mann-Whitney U with mid-ranks), rounded once."""
    n, m = int(c_in.sum()), int(c_out.sum())
    if 2 * n * m >= 2**63:  # keep the pair count exact beyond int64
        c_in, c_out = c_in.astype(object), c_out.astype(object)
    out_below = np.cumsum(c_out) - c_out  # out-samples with a strictly lower score than the group
    twice_u = int((c_in * (2 * out_below + c_out)).sum())
    return twice_u / (2 * n * m)  # Python integers: the correctly rounded quotient


def _average_precision(c_pos, c_neg) -> float:
    """sklearn's ``average_precision_score``: sum over thresholds of (R_t - R_prev) P_t, no interpolation.

    ``c_pos``/``c_neg``: the tie groups in *decreasing* order of the ranking (the first group is the most
    positive). A threshold is a group: all its samples are predicted positive together.
    """
    tp = np.cumsum(c_pos)
    predicted = np.cumsum(c_pos + c_neg)
    hit = c_pos > 0
    precision = tp[hit] / predicted[hit]
    return float(np.sum(c_pos[hit] * precision) / tp[-1])


def _fpr_at_tpr(c_pos, c_neg) -> float:
    """The FPR of the first threshold (groups in decreasing order of the ranking) whose TPR is >= 95 %."""
    tp = np.cumsum(c_pos)
    fp = np.cumsum(c_neg)
    first = int(np.argmax(_TPR_DEN * tp >= _TPR_NUM * tp[-1]))  # exists: the last group has TPR = 1
    return int(fp[first]) / int(fp[-1])


def ood_metrics(scores_in, scores_out, *, positive="in") -> OODMetrics:
    r"""AUROC, AUPR-in, AUPR-out and FPR at 95 % TPR of an out-of-distribution detector.

    Convention: **higher scores mean more in-distribution** (``knn_ood_score``, maximum softmax
    probability, energy as -E). Negate the scores of a detector that returns outlier scores.

    A *threshold* is a score value t: a sample is accepted as in-distribution when its score is >= t, so
    samples with equal scores always fall on the same side. Every distinct score value is a threshold (and
    "accept nothing", above all scores).

    ``auroc``
        P(s_in > s_out) + P(s_in = s_out) / 2 over all n_in x n_out pairs: the Mann-Whitney U statistic
        with mid-ranks for ties, divided by n_in n_out; counted exactly in integers and rounded once. Equal
        to sklearn's ``roc_auc_score`` (the trapezoidal area of the ROC through the distinct thresholds).
        It does not depend on ``positive``. 1: every in-sample scores above every OOD sample; 0.5: no
        separation (for instance all scores equal); 0: reversed.
    ``aupr_in``
        Average precision with the in-distribution samples as the positive class, ranked by score:
        sum over thresholds of (R_t - R_prev) P_t (precision P_t, recall R_t of "score >= t"), the
        step-wise, non-interpolated definition of sklearn's ``average_precision_score``, ties included.
    ``aupr_out``
        Average precision with the OOD samples as the positive class, ranked by -score (thresholds
        "score <= t").
    ``fpr_at_95_tpr``
        With positives and negatives per ``positive``: the smallest false-positive rate among the thresholds
        whose true-positive rate is >= 95 % (TP >= 0.95 P, tested exactly on integers). As both rates only
        grow as the threshold is lowered, it is the FPR of the first threshold, going down, that reaches
        TPR >= 0.95: ``fpr[np.argmax(tpr >= 0.95)]`` of sklearn's ``roc_curve(y, s,
        drop_intermediate=False)``. With the default ``drop_intermediate=True`` sklearn can drop that
        threshold when its ROC point is collinear with its neighbours and report a larger FPR.

    ``positive``
        ``"in"``: the in-distribution samples are the positives; FPR@95TPR is the share of OOD samples
        accepted when 95 % of the in-distribution samples are (the convention of ODIN, of Sun et al.'s kNN
        code and of OpenOOD v1's ``fpr_recall``). ``"out"``: the OOD samples are the positives (pytorch-ood's
        ``OODMetrics``, and OpenOOD v1.5's ``auc_and_fpr_recall``); FPR@95TPR is the share of
        in-distribution samples rejected when 95 % of the OOD samples are. Only FPR@95TPR depends on it:
        AUROC is symmetric and AUPR-in/AUPR-out keep their names' meaning either way.

    Parameters
    ----------
    scores_in : array (n_in,)
        Scores of in-distribution samples: a list, NumPy or CuPy array (moved to the host), real and finite
        (complex, string, datetime, structured and object values, and masked arrays with masked entries, are
        TypeErrors naming the argument).
    scores_out : array (n_out,)
        Scores of out-of-distribution samples.
    positive : {"in", "out"}, default "in"

    Returns
    -------
    OODMetrics
        ``auroc``, ``aupr_in``, ``aupr_out``, ``fpr_at_95_tpr`` (Python floats in [0, 1]), ``positive``,
        ``n_in``, ``n_out``.

    Notes
    -----
    O((n_in + n_out) log(n_in + n_out)): one sort to group equal scores, then cumulative counts per group.
    Floats are compared in float64 (float32 and float16 scores convert exactly); integer scores as integers.
    -0.0 and 0.0 are one score.

    Other codes differ from these definitions as follows. OpenOOD (v1 and v1.5) and pytorch-ood report the
    *trapezoidal* area under the precision-recall curve (``auc(recall, precision)``), which interpolates
    linearly between its points and is not the average precision used here (Davis & Goadrich, ICML 2006,
    on why linear interpolation in PR space is optimistic); the numbers differ slightly. OpenOOD v1's
    ``fpr_recall`` takes the threshold at the floor(0.95 n_in)-th highest in-distribution score and counts
    OOD samples strictly above it, so it can sit below 95 % TPR when 0.95 n_in is not an integer and
    does not count OOD samples tied with the threshold; for distinct scores and 20 | n_in it equals
    ``positive="in"`` here.
    """
    scores_in = _check_scores(scores_in, "scores_in")
    scores_out = _check_scores(scores_out, "scores_out")
    positive = check_choice(positive, "positive", ("in", "out"))
    c_in, c_out = _tie_groups(scores_in, scores_out)
    descending_in, descending_out = c_in[::-1], c_out[::-1]  # most in-distribution first
    if positive == "in":
        fpr95 = _fpr_at_tpr(descending_in, descending_out)
    else:
        fpr95 = _fpr_at_tpr(c_out, c_in)  # lowest scores first: most OOD first
    return OODMetrics(
        auroc=_auroc(c_in, c_out),
        aupr_in=_average_precision(descending_in, descending_out),
        aupr_out=_average_precision(c_out, c_in),
        fpr_at_95_tpr=fpr95,
        positive=positive,
        n_in=int(scores_in.shape[0]),
        n_out=int(scores_out.shape[0]),
    )


# ----------------------------------------------------------------------------------------------------------
# entropy-controlled scoring of likelihood models (SPEM, Kim & Yoon 2026)
# ----------------------------------------------------------------------------------------------------------

#: The similarity measures of :func:`memory_bank_similarity` and the reductions over the k nearest bank rows.
SIMILARITY_METRICS = ("cosine", "euclidean")
REDUCTIONS = ("kth", "mean", "max")
MAPPINGS = ("linear", "exp")

#: The quantiles of the calibration similarities that become the ends of the noise map (see similarity_scaled_noise).
CALIBRATION_QUANTILES = (0.01, 0.5)


def _bank_similarity(engine, bank, queries, k: int, reduce: str, metric: str, names):
    """The similarity of each query to its k nearest bank rows, reduced: validated arrays on ``engine``'s side."""
    xp = array_namespace(queries)
    if metric == "cosine":
        bank = _normalise_rows(bank, names[0])
        queries = _normalise_rows(queries, names[1])
        refs, points = engine.points(bank, queries, names=names)
        wanted = 1 if reduce == "max" else k  # the nearest row is the most similar one, whatever k
        squares = _smallest_squares(engine, refs, points, bank, queries, wanted)
        # 1 - |z - z'|^2 / 2 = cos(z, z') for unit vectors; an ulp past -1 for stored rows of norm 1 + ulp
        similarity = xp.maximum(1.0 - 0.5 * squares, -1.0)
    else:
        refs, points = engine.points(bank, queries, names=names)
        distance, _ = engine.knn(points, refs, 1 if reduce == "max" else k)
        similarity = 0.0 - distance  # +0.0 for a query on a bank row, not -0.0
    if reduce == "mean":
        total = xp.zeros(queries.shape[0], dtype=xp.float64)
        for column in range(k):  # nearest first: one summation order on every backend (see the Notes)
            total += similarity[:, column]
        return total / k
    return xp.ascontiguousarray(similarity[:, -1])


def _check_similarity_options(k, reduce, metric, available: int, what: str):
    k = check_neighbor_count(k, available, what=what)
    return k, check_choice(reduce, "reduce", REDUCTIONS), check_choice(metric, "metric", SIMILARITY_METRICS)


def memory_bank_similarity(memory_bank, queries, *, k=1, reduce="kth", metric="cosine", backend=None):
    r"""How similar each query is to its k nearest rows of an in-distribution memory bank: higher = more similar.

    Per query q, with b_(1), ..., b_(k) its k nearest bank rows (most similar first)::

        metric="cosine":     s_j = 1 - |z(q) - z(b_(j))|^2 / 2 = cos(q, b_(j)),  z(x) = x / |x|_2     in [-1, 1]
        metric="euclidean":  s_j = -|q - b_(j)|_2                                                       in (-inf, 0]

        reduce="kth": s_k      reduce="mean": (s_1 + ... + s_k) / k      reduce="max": s_1

    The similarity of an input to the in-distribution memory of SPEM (Kim & Yoon 2026, "entropy-controlled"
    OOD scoring of likelihood models, arXiv 2602.09581), which sets the strength of the noise of
    :func:`similarity_scaled_noise`; ``reduce="kth"`` with the cosine is a monotone function of
    :func:`knn_ood_score` (Sun et al., ICML 2022): s = 1 + score / 2. ``reduce="max"`` is the nearest row's
    similarity whatever k. The Euclidean similarity is the *negative distance* (not its square): it keeps the
    units of the features, so that a mean over neighbours is a mean distance; it has no fixed range, and the noise
    map needs calibration data for it (``calibrate_on`` of :func:`similarity_scaled_noise`).

    Parameters
    ----------
    memory_bank : array (n, d)
        In-distribution embeddings (the training set's features, typically). Zero rows are refused for the
        cosine.
    queries : array (m, d)
        The embeddings to compare with the bank, one row per input, embedded as the bank was. A query is not
        excluded from the bank: a query equal to a bank row has similarity 1 (cosine) or 0 (Euclidean) to it.
    k : int, default 1
        1 <= k <= n: how many nearest bank rows.
    reduce : {"kth", "mean", "max"}, default "kth"
        The k-th nearest row's similarity, the mean over the k nearest, or the nearest's.
    metric : {"cosine", "euclidean"}, default "cosine"
        Cosine similarity, or minus the Euclidean distance.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    float64 array (m,)
        NumPy for ``cpu``/``numpy``, CuPy for ``cuda``/``cupy`` (GPU inputs go there by default), as
        :func:`genmetrics.knn`.

    Notes
    -----
    Exact, through the k-NN engine (:func:`genmetrics.knn`), and equal bit for bit on every backend to a float64
    brute force over every bank row. Cosine: the rows are L2-normalised in float64 and stored in their dtype (as
    :func:`knn_ood_score` does); each s_j is ``1 - 0.5 * sq`` of the float64 squared distance
    ``np.sum((z_q.astype(float64) - z_b.astype(float64)) ** 2)`` of the stored unit rows, the k smallest of them
    exactly, raised to -1 where the rounding of the stored rows takes it an ulp below (1 - sq/2 equals the dot
    product of exact unit vectors, and orders the bank rows exactly as the engine's distances do, which a
    rounded dot product need not).
    Euclidean: s_j is minus ``sqrt`` of the same float64 sum on the rows as given. The mean sums s_1, ..., s_k in
    that order (nearest first) in float64 and divides by k.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> bank = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    >>> queries = np.array([[2.0, 0.0], [1.0, 1.0]])
    >>> gm.memory_bank_similarity(bank, queries).round(4).tolist()
    [1.0, 0.7071]
    >>> gm.memory_bank_similarity(bank, queries, k=2, reduce="mean").round(4).tolist()
    [0.5, 0.7071]
    >>> gm.memory_bank_similarity(bank, queries, metric="euclidean").tolist()
    [-1.0, -1.0]
    """
    engine = get_backend(backend, memory_bank, queries)
    bank, queries = check_pair(memory_bank, queries, "memory_bank", "queries", device=engine.device)
    k, reduce, metric = _check_similarity_options(k, reduce, metric, bank.shape[0], "memory_bank")
    return _bank_similarity(engine, bank, queries, k, reduce, metric, ("memory_bank", "queries"))


def _check_similarities(values, name: str):
    """A 1-D, non-empty, finite float64 NumPy array (GPU arrays are copied to the host)."""
    return _check_scores(values, name).astype(np.float64)


def _check_noise_options(sigma_min, sigma_max, mapping, quantiles):
    """(sigma_min, sigma_max, mapping, quantiles) checked; ``mapping`` a name of MAPPINGS or a callable."""
    sigma_min = check_nonnegative(sigma_min, "sigma_min")
    sigma_max = check_nonnegative(sigma_max, "sigma_max")
    if sigma_min > sigma_max:
        raise ValueError(f"sigma_min: must be <= sigma_max, got sigma_min={sigma_min} > sigma_max={sigma_max}")
    if not callable(mapping):
        if not isinstance(mapping, str):
            raise TypeError(f"mapping: expected 'linear', 'exp' or a callable, got {type(mapping).__name__}")
        mapping = check_choice(mapping, "mapping", MAPPINGS)
        if mapping == "exp" and sigma_min == 0:
            raise ValueError("sigma_min: mapping='exp' interpolates log(sigma) and needs sigma_min > 0, got 0.0")
    if not isinstance(quantiles, (tuple, list)) or len(quantiles) != 2:
        raise TypeError(f"quantiles: expected a pair (low, high) of numbers in [0, 1], got {quantiles!r}")
    for value in quantiles:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"quantiles: expected numbers in [0, 1], got {type(value).__name__}")
    low, high = float(quantiles[0]), float(quantiles[1])
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"quantiles: expected 0 <= low < high <= 1, got ({low}, {high})")
    return sigma_min, sigma_max, mapping, (low, high)


def _calibration_ends(calibrate_on, quantiles):
    """(s_low, s_high): the quantiles of the calibration similarities, or the cosine's range (-1, 1)."""
    if calibrate_on is None:
        return None
    values = _check_similarities(calibrate_on, "calibrate_on")
    low, high = np.quantile(values, quantiles)
    return float(low), float(high)


def _noise_scale(similarity, sigma_min: float, sigma_max: float, mapping, ends):
    """sigma per similarity (float64 NumPy arrays, checked): see similarity_scaled_noise."""
    if ends is None:
        outside = (similarity < -1.0) | (similarity > 1.0)
        if bool(outside.any()):
            first = int(np.argmax(outside))
            raise ValueError(
                f"similarity: value {float(similarity[first])!r} (entry {first}) lies outside [-1, 1], the range of "
                "the cosine used as the map's ends without calibrate_on; pass calibrate_on (the similarities of "
                "held-out in-distribution inputs), as metric='euclidean' needs"
            )
        low, high = -1.0, 1.0
    else:
        low, high = ends
    if high > low:
        u = np.clip((similarity - low) / (high - low), 0.0, 1.0)
    else:  # every calibration similarity at the same quantile: a step at that level
        u = (similarity >= high).astype(np.float64)
    if mapping == "linear":
        sigma = sigma_min + (sigma_max - sigma_min) * (1.0 - u)
    elif mapping == "exp":
        sigma = sigma_min * np.exp((1.0 - u) * math.log(sigma_max / sigma_min))
    else:
        strength = _call_mapping(mapping, u)
        sigma = sigma_min + (sigma_max - sigma_min) * strength
    return np.clip(sigma, sigma_min, sigma_max)


def _call_mapping(mapping, u):
    """A user's map of the normalised similarity u to a noise strength in [0, 1], non-increasing; checked."""
    try:
        strength = mapping(u.copy())
    except Exception as exc:
        raise ValueError(f"mapping: the callable raised {type(exc).__name__}: {exc}") from exc
    try:
        strength = np.asarray(strength, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"mapping: the callable returned something that is not an array of numbers ({exc})") from None
    if strength.shape != u.shape:
        raise ValueError(
            f"mapping: the callable returned shape {strength.shape} for {u.shape[0]} similarities; expected {u.shape}"
        )
    if not np.all(np.isfinite(strength)) or np.any(strength < 0) or np.any(strength > 1):
        raise ValueError("mapping: the callable must return values in [0, 1] (the noise strength); got others")
    order = np.argsort(u, kind="stable")
    if np.any(np.diff(strength[order]) > 0):
        raise ValueError(
            "mapping: the callable must be non-increasing in the normalised similarity (more similar, less noise)"
        )
    return strength


def similarity_scaled_noise(
    similarity, *, sigma_min, sigma_max, mapping="linear", calibrate_on=None, quantiles=CALIBRATION_QUANTILES
):
    r"""A noise scale per input, from sigma_max for inputs unlike the memory bank down to sigma_min for typical ones.

    The noise schedule of SPEM (Kim & Yoon 2026, arXiv 2602.09581): the less similar an input is to the
    in-distribution memory bank (:func:`memory_bank_similarity`), the stronger the noise it is perturbed with
    before a likelihood model scores it (:func:`entropy_controlled_scores`). The similarity is first normalised
    to u in [0, 1] between two fixed ends s_low < s_high::

        u = clip((s - s_low) / (s_high - s_low), 0, 1)       (1: as similar as a typical ID input, or more)

    then mapped to sigma, non-increasing in u, with sigma(1) = sigma_min and sigma(0) = sigma_max::

        mapping="linear":   sigma = sigma_min + (sigma_max - sigma_min) (1 - u)
        mapping="exp":      sigma = sigma_min (sigma_max / sigma_min)^(1 - u)   (log sigma linear in u)
        mapping=f:          sigma = sigma_min + (sigma_max - sigma_min) f(u),   f(u) in [0, 1], non-increasing

    **The paper's exact schedule is not public in what we have read**: the map is pluggable, and these are
    choices of ours, not the paper's. The linear map is the default because it is the simplest map with the
    required ends and monotonicity. The exponential one spends a larger share of the range on the least similar
    inputs and keeps the noise of typical inputs nearer sigma_min; it needs sigma_min > 0. A callable receives u
    (a float64 array) and returns the noise *strength* f(u) in [0, 1] (0: sigma_min, 1: sigma_max), e.g.
    ``lambda u: (1 - u) ** 2``; its values are checked (shape, [0, 1], non-increasing on the given u). The result is
    clipped to [sigma_min, sigma_max], so the ends hold exactly whatever the rounding.

    The ends. With ``calibrate_on`` (the similarities of held-out in-distribution inputs to the same bank, as
    returned by :func:`memory_bank_similarity` with the same k, reduce and metric): s_low and s_high are its
    ``quantiles``, by default the 1 % and 50 % quantiles (``numpy.quantile``, linear interpolation). Half of the
    in-distribution inputs then get sigma_min exactly, the least similar 1 % and everything below get sigma_max:
    the noise grows across the lower tail of the in-distribution similarities, where out-of-distribution inputs
    begin. (On the demo of :mod:`genmetrics.report.ood_demo`, ends at the 5 % and 95 % quantiles, which give
    sigma_max to 5 % of the ID inputs and more than sigma_min to half of them, gave lower AUROCs.) Without it the
    ends are the cosine's range, s_low = -1 and s_high = 1; similarities outside [-1, 1] (Euclidean ones) are then a
    ValueError. Calibration data are fixed: an input's sigma depends on its similarity only, never on the other
    inputs given with it (no normalisation per batch).

    Parameters
    ----------
    similarity : array (m,)
        Similarities to the memory bank, higher = more similar (:func:`memory_bank_similarity`); real, finite.
    sigma_min : float
        >= 0: the noise scale of inputs at least as similar as s_high.
    sigma_max : float
        >= sigma_min: the noise scale of inputs at most as similar as s_low.
    mapping : {"linear", "exp"} or callable, default "linear"
        The map from the normalised similarity to sigma (above).
    calibrate_on : array, optional, default None
        Similarities of in-distribution inputs (not those being scored) that set the ends; None: (-1, 1).
    quantiles : (float, float), default (0.01, 0.5)
        The quantiles of ``calibrate_on`` taken as (s_low, s_high); 0 <= low < high <= 1. When both are equal (a
        constant calibration set), the map is a step: sigma_min at or above that value, sigma_max below.

    Returns
    -------
    float64 NumPy array (m,)
        In [sigma_min, sigma_max], non-increasing in the similarity.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> s = np.array([1.0, 0.5, 0.0, -1.0])
    >>> gm.similarity_scaled_noise(s, sigma_min=0.1, sigma_max=1.0).round(3).tolist()
    [0.1, 0.325, 0.55, 1.0]
    >>> gm.similarity_scaled_noise(s, sigma_min=0.1, sigma_max=1.0, mapping="exp").round(3).tolist()
    [0.1, 0.178, 0.316, 1.0]
    >>> calibration = np.linspace(0.6, 1.0, 101)  # similarities of held-out ID inputs
    >>> gm.similarity_scaled_noise(s, sigma_min=0.1, sigma_max=1.0, calibrate_on=calibration).round(3).tolist()
    [0.1, 1.0, 1.0, 1.0]
    """
    sigma_min, sigma_max, mapping, quantiles = _check_noise_options(sigma_min, sigma_max, mapping, quantiles)
    similarity = _check_similarities(similarity, "similarity")
    ends = _calibration_ends(calibrate_on, quantiles)
    return _noise_scale(similarity, sigma_min, sigma_max, mapping, ends)


def _is_torch_tensor(x) -> bool:
    """A PyTorch tensor, recognised without importing torch (an optional extra)."""
    return type(x).__module__.split(".")[0] == "torch" and callable(getattr(x, "detach", None))


def _check_inputs(inputs):
    """The model's inputs: (array, n), a floating-point array or tensor of shape (n, ...), finite, n >= 1.

    PyTorch tensors stay tensors (detached, on their device); GPU arrays become CuPy arrays; anything else a
    NumPy array. The noise makes real values of them: integer inputs (uint8 images) are a TypeError, since their
    scaling to the model's input range is the model's business.
    """
    if _is_torch_tensor(inputs):
        x = inputs.detach()
        floating = bool(x.is_floating_point())
    else:
        x = plain_input(inputs, "inputs")
        try:
            x = to_device(x, "inputs") if is_device_array(x) else np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"inputs: cannot be converted to an array ({exc})") from None
        floating = x.dtype.kind == "f"
    shape, dtype = tuple(x.shape), str(x.dtype)
    if not floating:
        raise TypeError(
            f"inputs: expected floating-point values (Gaussian noise is added to them), got dtype {dtype}; convert "
            "them as the model expects them, e.g. images.astype(np.float32) / 255"
        )
    if len(shape) == 0:
        raise ValueError("inputs: expected an array of inputs along its first axis, got a 0-D value")
    if shape[0] == 0:
        raise ValueError("inputs: needs at least one input, got none")
    finite = bool(x.isfinite().all()) if _is_torch_tensor(x) else bool(array_namespace(x).isfinite(x).all())
    if not finite:
        raise ValueError("inputs: contains NaN or infinite values")
    return x, shape[0]


def _perturbed(batch, sigma, noise):
    """batch + sigma * noise, computed in float64 and stored in the batch's dtype (NumPy, CuPy or torch)."""
    shape = (-1,) + (1,) * (noise.ndim - 1)
    if _is_torch_tensor(batch):
        import torch  # noqa: PLC0415 (optional: only reached with torch inputs)

        noise_t = torch.from_numpy(noise).to(device=batch.device)
        sigma_t = torch.from_numpy(sigma).to(device=batch.device).reshape(shape)
        return (batch.to(torch.float64) + sigma_t * noise_t).to(batch.dtype)
    xp = array_namespace(batch)
    return (batch.astype(xp.float64) + xp.asarray(sigma).reshape(shape) * xp.asarray(noise)).astype(batch.dtype)


def _host_values(values):
    """The model's output as a float64 NumPy array, or a ValueError naming log_likelihood."""
    if _is_torch_tensor(values):
        import torch  # noqa: PLC0415 (optional: the model returned a tensor, so torch is there)

        values = values.detach().cpu()
        if values.dtype.is_complex or values.dtype == torch.bool:
            raise ValueError(f"log_likelihood: returned a tensor of dtype {values.dtype}; expected real numbers")
        return values.to(torch.float64).numpy()
    try:
        values = as_real_array(values, "log_likelihood")
    except TypeError as exc:
        raise ValueError(f"log_likelihood: returned values that are not real numbers ({exc})") from None
    return values.astype(np.float64)


def _score_batch(log_likelihood, batch, sigma, generators, item_shape, n_draws: int, start: int):
    """The mean over draws of log p(x + sigma eps) for one batch of inputs (float64 NumPy)."""
    size = sigma.shape[0]
    total = np.zeros(size, dtype=np.float64)
    for draw in range(n_draws):
        noise = np.stack([g.standard_normal(item_shape) for g in generators]).reshape((size,) + item_shape)
        perturbed = _perturbed(batch, sigma, noise)
        where = f"inputs {start}..{start + size - 1}, draw {draw}"
        try:
            values = log_likelihood(perturbed)
        except Exception as exc:
            raise ValueError(f"log_likelihood: raised {type(exc).__name__} on {where}: {exc}") from exc
        values = _host_values(values)
        if values.shape != (size,):
            raise ValueError(
                f"log_likelihood: returned shape {values.shape} for a batch of {size} inputs ({where}); expected "
                f"({size},), one log-likelihood per input"
            )
        bad = ~np.isfinite(values)
        if bool(bad.any()):
            raise ValueError(
                f"log_likelihood: returned NaN or infinite values for {int(bad.sum())} of {size} perturbed inputs "
                f"(first: input {start + int(np.argmax(bad))}, draw {draw}); a model with bounded support can give "
                "-inf to noisy inputs: clamp them inside log_likelihood, or lower sigma_max"
            )
        total += values
    return total / n_draws


def entropy_controlled_scores(
    log_likelihood,
    inputs,
    features,
    memory_bank,
    *,
    sigma_min,
    sigma_max,
    k=1,
    reduce="kth",
    metric="cosine",
    mapping="linear",
    calibrate_on=None,
    quantiles=CALIBRATION_QUANTILES,
    n_draws=1,
    seed=0,
    first_index=0,
    batch_size=None,
    backend=None,
):
    r"""Entropy-controlled OOD scores of a likelihood model (SPEM, Kim & Yoon 2026): higher = more in-distribution.

    Flows, autoregressive models and VAEs give some out-of-distribution inputs *higher* likelihood than their own
    data: inputs of low entropy, near the model's mode (SVHN under a CIFAR-10 model; Nalisnick et al., ICLR 2019).
    SPEM (arXiv 2602.09581) perturbs each input with Gaussian noise whose scale grows as the input is less similar
    to an in-distribution memory bank, and scores the perturbed input by the model's log-likelihood, with no
    retraining::

        s(x)     = memory_bank_similarity(memory_bank, features(x))        (k, reduce, metric)
        sigma(x) = similarity_scaled_noise(s(x))                            (sigma_min, sigma_max, mapping, ...)
        score(x) = (1 / n_draws) sum_j log p(x + sigma(x) eps_j),   eps_j ~ N(0, I) of x's shape

    Why it works: for a smooth density, noise of scale sigma lowers log p by about (sigma^2 / 2) tr(-Hessian of
    log p) on average (for a Gaussian N(mu, Sigma), exactly (sigma^2 / 2) tr(Sigma^-1) in expectation), and the
    curvature is largest at the mode. Inputs unlike the bank get the larger sigma, so their likelihood drops more
    than that of in-distribution inputs, which keep sigma near sigma_min. How far it helps depends on the
    features: OOD inputs must be *dissimilar to the bank in feature space* even where the model's density is high.

    genmetrics does not run the model: ``log_likelihood`` is the user's callable. It receives a batch of perturbed
    inputs of the type of ``inputs`` (a NumPy or CuPy array, or a torch tensor on the inputs' device, called under
    ``torch.no_grad()``; torch is imported only then) and returns one log-likelihood per input, shape (batch,), as
    an array, tensor or list. Put the model in evaluation mode: a model whose output for an input depends on the
    rest of its batch (batch norm in training mode) breaks the guarantee below.

    Parameters
    ----------
    log_likelihood : callable
        ``log_likelihood(batch) -> (len(batch),)`` values of log p (any monotone transform such as bits per
        dimension with its sign flipped works for AUROC; the noise argument above is about log p itself).
    inputs : array or tensor (n, ...)
        The inputs to score, in the model's input space; floating point, finite. The noise has each input's shape
        and is scaled by that input's sigma (broadcast over all but the first axis).
    features : array (n, d)
        The inputs' embeddings, one row per input, embedded as the memory bank was (the features can come from
        another network than the likelihood model, or be the inputs themselves, flattened).
    memory_bank : array (N, d)
        In-distribution embeddings (the training set's, typically).
    sigma_min : float
        >= 0: the noise scale of inputs as similar to the bank as a typical in-distribution input.
    sigma_max : float
        >= sigma_min: the noise scale of inputs unlike the bank. In units of the inputs: comparable to the spread
        of the data along the model's narrowest directions.
    k : int, default 1
        Nearest bank rows (:func:`memory_bank_similarity`).
    reduce : {"kth", "mean", "max"}, default "kth"
        Reduction over the k nearest rows (:func:`memory_bank_similarity`).
    metric : {"cosine", "euclidean"}, default "cosine"
        Similarity measure (:func:`memory_bank_similarity`); "euclidean" needs ``calibrate_on``.
    mapping : {"linear", "exp"} or callable, default "linear"
        Similarity-to-noise map (:func:`similarity_scaled_noise`).
    calibrate_on : array, optional, default None
        Similarities of held-out in-distribution features to the same bank, with the same k, reduce and metric
        (``gm.memory_bank_similarity(memory_bank, held_out_features, ...)``); they set the map's ends
        (:func:`similarity_scaled_noise`). Recommended: without it the ends are the cosine's range (-1, 1).
    quantiles : (float, float), default (0.01, 0.5)
        The quantiles of ``calibrate_on`` that become the map's ends.
    n_draws : int, default 1
        Noise draws per input; the score is the mean of their log-likelihoods (log p averaged, not p).
    seed : int, default 0
        >= 0. The noise of input i (its position in ``inputs``) is drawn from
        ``numpy.random.default_rng(numpy.random.SeedSequence(seed, spawn_key=(first_index + i,)))``, draw after
        draw: it does not depend on the other inputs, on ``batch_size`` or on the backend.
    first_index : int, default 0
        >= 0: the index of ``inputs[0]`` in a larger set scored in pieces; scoring ``X[a:b]`` with
        ``first_index=a`` gives the same scores as entries a..b-1 of scoring ``X`` at once.
    batch_size : int, optional, default None
        Inputs per call of ``log_likelihood``; None: all of them at once (one call per draw).
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
        The engine of the similarity search.

    Returns
    -------
    float64 NumPy array (n,)
        Higher = more in-distribution; ready for :func:`ood_metrics`.

    Raises
    ------
    ValueError
        ``log_likelihood`` raised (the message names the inputs and draw, the original exception is chained), or
        returned a wrong shape or NaN/inf; ``features`` has another number of rows than ``inputs``; sigma_min >
        sigma_max; metric="euclidean" without ``calibrate_on``; the argument checks of
        :func:`memory_bank_similarity` and :func:`similarity_scaled_noise` (named ``features`` for the queries).
    TypeError
        ``log_likelihood`` not callable; integer or non-numeric ``inputs``.

    Notes
    -----
    An input's score depends on that input, the memory bank, the calibration data, the options and its index
    only: never on the other inputs scored with it. The perturbed input is ``x + sigma * eps`` computed in float64
    and stored in the inputs' dtype; NumPy and torch inputs with equal values get equal perturbed inputs.

    Examples
    --------
    The demo of :mod:`genmetrics.report.ood_demo`: ten classes in d = 32, an exact Gaussian density fitted to
    them, and out-of-distribution inputs of low entropy at the density's mode (``python -m
    genmetrics.report.ood_demo`` prints the table):

    >>> import genmetrics as gm
    >>> from genmetrics.report.ood_demo import make_ood_demo
    >>> demo = make_ood_demo(seed=0)
    >>> raw = gm.ood_metrics(demo.log_likelihood(demo.inputs_in), demo.log_likelihood(demo.inputs_out))
    >>> print(f"raw log-likelihood AUROC: {raw.auroc:.3f}")
    raw log-likelihood AUROC: 0.000
    >>> calibration = gm.memory_bank_similarity(demo.memory_bank, demo.calibration)
    >>> def score(x):
    ...     return gm.entropy_controlled_scores(
    ...         demo.log_likelihood, x, x, demo.memory_bank, sigma_min=0.1, sigma_max=3.0,
    ...         calibrate_on=calibration, n_draws=4, seed=0)
    >>> controlled = gm.ood_metrics(score(demo.inputs_in), score(demo.inputs_out))
    >>> print(f"entropy-controlled AUROC: {controlled.auroc:.3f}")
    entropy-controlled AUROC: 0.970
    """
    if not callable(log_likelihood):
        raise TypeError(f"log_likelihood: expected a callable (batch -> log-likelihoods), got {type(log_likelihood)}")
    sigma_min, sigma_max, mapping, quantiles = _check_noise_options(sigma_min, sigma_max, mapping, quantiles)
    n_draws = check_int(n_draws, "n_draws", low=1)
    seed = check_int(seed, "seed", low=0)
    first_index = check_int(first_index, "first_index", low=0)
    batch_size = None if batch_size is None else check_int(batch_size, "batch_size", low=1)
    x, n = _check_inputs(inputs)
    engine = get_backend(backend, memory_bank, features)
    bank, queries = check_pair(memory_bank, features, "memory_bank", "features", device=engine.device)
    if queries.shape[0] != n:
        raise ValueError(f"features: has {queries.shape[0]} rows but inputs has {n}; one row per input")
    k, reduce, metric = _check_similarity_options(k, reduce, metric, bank.shape[0], "memory_bank")
    if metric == "euclidean" and calibrate_on is None:
        raise ValueError(
            "calibrate_on: needed with metric='euclidean' (minus distances have no fixed range); pass "
            "gm.memory_bank_similarity(memory_bank, held_out_features, metric='euclidean', ...)"
        )
    ends = _calibration_ends(calibrate_on, quantiles)
    similarity = to_host(_bank_similarity(engine, bank, queries, k, reduce, metric, ("memory_bank", "features")))
    sigma = _noise_scale(similarity.astype(np.float64), sigma_min, sigma_max, mapping, ends)

    item_shape = tuple(x.shape[1:])
    step = n if batch_size is None else batch_size
    scores = np.empty(n, dtype=np.float64)
    with _no_grad(x):
        for start in range(0, n, step):
            stop = min(n, start + step)
            generators = [
                np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(first_index + i,)))
                for i in range(start, stop)
            ]
            scores[start:stop] = _score_batch(
                log_likelihood, x[start:stop], sigma[start:stop], generators, item_shape, n_draws, start
            )
    return scores


def _no_grad(x):
    """torch.no_grad() for tensor inputs, else a context that does nothing."""
    if _is_torch_tensor(x):
        import torch  # noqa: PLC0415 (optional: only reached with torch inputs)

        return torch.no_grad()
    return contextlib.nullcontext()
