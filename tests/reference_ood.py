"""Plain references for the out-of-distribution metrics: brute force, exact where it can be.

Nothing here shares code with ``genmetrics.ood``. The detector metrics count pairs and sweep thresholds
explicitly in exact rational arithmetic (``fractions.Fraction``), in O(n m) or O((n + m)^2); the kNN score
computes every distance of the normalised rows in float64 and sorts them.

Conventions (those of ``genmetrics.ood``): scores are "higher = more in-distribution"; a threshold t accepts
(predicts positive) the samples whose oriented score is >= t; the thresholds are the distinct score values.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

TPR_95 = Fraction(19, 20)


def _exact(values):
    """Scores as exact rationals (ints and floats alike)."""
    out = []
    for v in values:
        if isinstance(v, Fraction):
            out.append(v)
        elif isinstance(v, (int, np.integer)):  # bool and numpy integers too
            out.append(Fraction(int(v)))
        else:
            out.append(Fraction(float(v)))  # exact: every finite float is a rational
    return out


def auroc_pairs(scores_in, scores_out) -> Fraction:
    """P(s_in > s_out) + P(s_in = s_out) / 2, by counting all n m pairs."""
    a, b = _exact(scores_in), _exact(scores_out)
    total = Fraction(0)
    for x in a:
        for y in b:
            total += 1 if x > y else (Fraction(1, 2) if x == y else 0)
    return total / (len(a) * len(b))


def average_precision_sweep(positives, negatives) -> Fraction:
    """sum over the distinct thresholds t, in decreasing order, of (R(t) - R(previous t)) * P(t).

    Samples with a score >= t are predicted positive; ``positives`` rank above ``negatives`` when their
    scores are higher.
    """
    pos, neg = _exact(positives), _exact(negatives)
    ap, previous_recall = Fraction(0), Fraction(0)
    for t in sorted(set(pos) | set(neg), reverse=True):
        tp = sum(1 for s in pos if s >= t)
        fp = sum(1 for s in neg if s >= t)
        recall = Fraction(tp, len(pos))
        if tp + fp:
            ap += (recall - previous_recall) * Fraction(tp, tp + fp)
        previous_recall = recall
    return ap


def fpr_at_tpr_sweep(positives, negatives, tpr=TPR_95) -> Fraction:
    """min over every threshold (each distinct score, and above all of them) with TPR >= tpr of the FPR."""
    pos, neg = _exact(positives), _exact(negatives)
    best = None
    for t in sorted(set(pos) | set(neg)) + [None]:  # None: a threshold above every score
        tp = 0 if t is None else sum(1 for s in pos if s >= t)
        fp = 0 if t is None else sum(1 for s in neg if s >= t)
        if Fraction(tp, len(pos)) >= tpr:
            rate = Fraction(fp, len(neg))
            best = rate if best is None else min(best, rate)
    return best


def ood_reference(scores_in, scores_out, positive="in") -> dict:
    """All four metrics as exact fractions (FPR@95TPR for the given positive class)."""
    scores_in, scores_out = list(scores_in), list(scores_out)
    negated_in = [-s for s in _exact(scores_in)]
    negated_out = [-s for s in _exact(scores_out)]
    if positive == "in":
        fpr = fpr_at_tpr_sweep(scores_in, scores_out)
    else:
        fpr = fpr_at_tpr_sweep(negated_out, negated_in)
    return {
        "auroc": auroc_pairs(scores_in, scores_out),
        "aupr_in": average_precision_sweep(scores_in, scores_out),
        "aupr_out": average_precision_sweep(negated_out, negated_in),
        "fpr_at_95_tpr": fpr,
    }


# ----------------------------------------------------------------------------------------------------------
# the kNN score
# ----------------------------------------------------------------------------------------------------------


def normalise_rows(X):
    """x / |x|_2 in float64 (no safeguards: the tests keep norms in a safe range), stored in X's dtype."""
    X = np.asarray(X)
    x64 = X.astype(np.float64)
    return (x64 / np.sqrt(np.sum(x64 * x64, axis=1, keepdims=True))).astype(X.dtype)


def kth_squared_distance(bank, queries, k):
    """For every query, the k-th smallest float64 squared distance to the rows of ``bank`` as given."""
    b = np.asarray(bank).astype(np.float64)
    q = np.asarray(queries).astype(np.float64)
    out = np.empty(q.shape[0])
    for j in range(q.shape[0]):
        diff = b - q[j]
        out[j] = np.sort(np.sum(diff * diff, axis=-1))[k - 1]
    return out


def knn_score_reference(bank, queries, k):
    """-(k-th smallest squared distance) between the L2-normalised rows (Sun et al. 2022)."""
    return -kth_squared_distance(normalise_rows(bank), normalise_rows(queries), k)


# ----------------------------------------------------------------------------------------------------------
# memory-bank similarity (SPEM's similarity): every bank row, sorted
# ----------------------------------------------------------------------------------------------------------


def bank_similarities(bank, queries, metric):
    """(m, n) similarity of every query to every bank row, each row sorted most similar first.

    cosine: 1 - |z_q - z_b|^2 / 2 of the normalised rows as given (the caller passes the stored rows), floored at
    -1; euclidean: -sqrt(sum((q - b)^2)) of the rows as given. Everything in float64 from explicit differences.
    """
    b = np.asarray(bank).astype(np.float64)
    q = np.asarray(queries).astype(np.float64)
    out = np.empty((q.shape[0], b.shape[0]))
    for j in range(q.shape[0]):
        diff = b - q[j]
        squares = np.sum(diff * diff, axis=-1)
        out[j] = np.maximum(1.0 - 0.5 * squares, -1.0) if metric == "cosine" else -np.sqrt(squares)
        out[j] = -np.sort(-out[j])
    return out


def reduce_similarities(sorted_similarities, k, reduce):
    """The k-th, the mean of the first k (summed one by one, most similar first), or the first, of each row."""
    if reduce == "kth":
        return sorted_similarities[:, k - 1].copy()
    if reduce == "max":
        return sorted_similarities[:, 0].copy()
    out = np.empty(sorted_similarities.shape[0])
    for j, row in enumerate(sorted_similarities):
        total = 0.0
        for value in row[:k]:
            total += float(value)
        out[j] = total / k
    return out
