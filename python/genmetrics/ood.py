"""Out-of-distribution evaluation: the kNN detector score and the threshold-free metrics of a detector.

===========================  ===============================================================================
:func:`knn_ood_score`        Sun et al. (ICML 2022): minus the squared distance from an L2-normalised query to
                             its k-th nearest L2-normalised row of an in-distribution memory bank
:func:`ood_metrics`          AUROC, AUPR-in, AUPR-out and FPR at 95 % TPR of in- and out-of-distribution scores
===========================  ===============================================================================

Scores follow one convention throughout: **higher means more in-distribution** (as the kNN score is). A
detector whose scores grow with "outlierness" (pytorch-ood's detectors) is evaluated on its negated scores.
Definitions: shared/METRICS.md, section "Out-of-distribution evaluation".
"""

from __future__ import annotations

import numpy as np

from .engine import get_backend
from .engine.points import exact_sq_distances
from .support.arrays import array_namespace
from .support.results import OODMetrics
from .support.validation import as_real_array, check_choice, check_neighbor_count, check_pair

__all__ = ["knn_ood_score", "ood_metrics"]

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
    return 0.0 - _kth_smallest_square(engine, refs, points, bank, queries, k)  # 0.0 - 0.0 is +0.0, not -0.0


def _kth_smallest_square(engine, refs, points, bank, queries, k: int):
    """Per query, the k-th smallest float64 squared distance to the bank, exactly.

    The engine orders neighbours by distance (ties to the lower index), and two squares an ulp apart can share
    their square root: the k-th neighbour's square is then not always the k-th smallest square. It is taken
    from the whole group of bank rows at the k-th distance, which is found by asking for more neighbours until
    the last one is farther (almost always at once: k + 1 neighbours)."""
    xp = array_namespace(queries)
    n = bank.shape[0]
    wanted = min(n, k + 1)
    while True:
        distance, index = engine.knn(points, refs, wanted)
        kth = distance[:, k - 1]
        if wanted == n or bool(xp.all(distance[:, wanted - 1] > kth)):
            break
        wanted = min(n, 2 * wanted)
    # Rows nearer than the k-th distance have smaller squares than the group's, rows farther larger ones: the
    # answer is the (k - nearer)-th smallest square of the group (almost always a group of one).
    nearer = (distance < kth[:, None]).sum(axis=1)
    q_index, slot = xp.nonzero(distance == kth[:, None])
    squares = exact_sq_distances(queries, bank, q_index, xp.asarray(index[q_index, slot], dtype=xp.int64))
    order = xp.lexsort(xp.stack([squares, q_index]))
    first = xp.searchsorted(q_index[order], xp.arange(queries.shape[0]))
    return squares[order][first + (k - 1 - nearer)]


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
