"""Drop-in replacement for the ``prdc`` package (version 0.2, Naeem et al. 2020), computed by genmetrics.

Same function names, argument names, argument order and defaults as the reference module, so that::

    from prdc import compute_prdc                        # before
    from genmetrics.compat.prdc import compute_prdc      # after

keeps working. :func:`compute_prdc` returns the same dict (keys ``precision``, ``recall``, ``density``,
``coverage``, in that order) with plain Python ``float`` values (the reference returns NumPy scalars).
The definitions are the reference's, unchanged: Euclidean distance, the radius of a point is the
distance to its ``nearest_k``-th nearest *other* point of its own set (the point itself is excluded by
index, exact duplicates count at distance 0), and every ball test is the strict ``d < radius``
(see ``shared/METRICS.md``, "Fidelity and coverage"). The values come from :func:`genmetrics.prdc`.

What changes (deliberately):

* No ``print``: the reference writes ``Num real: ... Num fake: ...`` to stdout on every call.
* Exact decisions. The reference compares distances computed by scikit-learn as
  ``sqrt(|x|^2 + |y|^2 - 2 x.y)`` and, for float32 input, rounded to float32; points within round-off
  of a radius can land on either side, and exact duplicates can get a positive round-off radius
  (about 1e-5 for d = 2048) instead of 0. Here every ``d < radius`` decision is the one
  float64 arithmetic on the given values makes, so the result may differ from the reference's by
  the few points that sit on a ball's boundary (one point changes precision by ``1 / m``, recall and
  coverage by ``1 / n``, density by ``1 / (k m)``), and never otherwise.
* Memory O((n + m) k) plus bounded work buffers, instead of the reference's three full n x n, m x m
  and n x m distance matrices (about 30 GB for n = m = 50,000 in float32).
* Duplicate points warn: when a point has ``nearest_k`` or more exact copies in its own set its radius
  is 0 and, with the strict ``<`` that the reference uses, its ball holds nothing (a set of duplicated
  points scores density = coverage = 0 against itself). The reference returns such numbers silently
  (or, depending on round-off, radii of ~1e-6 instead of 0); here
  :class:`genmetrics.DuplicatePointsWarning` (a ``UserWarning``) is emitted. The numbers keep the
  strict ``<`` for compatibility; ``genmetrics.prdc(..., inclusive=True)`` counts points on the sphere.
* ``nearest_k`` may be anything from 1 to min(N, M) - 1 (the reference fails with NumPy's
  ``kth out of bounds`` already at ``nearest_k = min(N, M) - 1``, and with ``ZeroDivisionError`` at 0);
  bad input raises ``ValueError``/``TypeError`` naming the argument (``real_features``, ``data_x``, ...):
  NaN/inf, complex, string, datetime, structured or object values, and masked arrays with masked entries
  (the reference would read the values under the mask). Lists of lists are accepted (the reference needs
  arrays), and tensors that require grad are detached.

The reference's helpers :func:`compute_pairwise_distance`, :func:`get_kth_value` and
:func:`compute_nearest_neighbour_distances` are provided with the same signatures; they return float64
arrays (the reference returns float32 for float32 input).
"""

import numpy as np

import genmetrics as gm
from genmetrics.support.validation import as_real_array, check_embeddings, check_int, check_pair

__all__ = ["compute_prdc", "compute_pairwise_distance", "get_kth_value", "compute_nearest_neighbour_distances"]

_KEYS = ("precision", "recall", "density", "coverage")


def compute_pairwise_distance(data_x, data_y=None):
    """The full matrix of Euclidean distances ``D[i, j] = |x_i - y_j|`` (``data_y`` defaults to
    ``data_x``; then the diagonal is exactly 0), as a float64 array of shape (N, M).

    This needs the whole N x M matrix, as in the reference; :func:`compute_prdc` never forms it.
    Computed in float64 from :func:`genmetrics.gram` (linear kernel) on copies centered at the mean of
    ``data_x``, which keeps the cancellation in ``|x|^2 + |y|^2 - 2 x.y`` small when the features
    share a large offset; negative round-off is clipped to 0.
    """
    same = data_y is None or data_y is data_x
    # the genmetrics contract: finite real 2-D arrays, errors naming data_x / data_y
    x = check_embeddings(data_x, "data_x", device="host").astype(np.float64)
    y = x if same else check_embeddings(data_y, "data_y", device="host").astype(np.float64)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"data_y: has {y.shape[1]} features but data_x has {x.shape[1]}; both must have the same number of features"
        )
    center = x.mean(axis=0)
    x = x - center
    y = x if same else y - center
    dots = np.asarray(gm.gram(x, None if same else y, kernel="linear"), dtype=np.float64)
    x_sq = np.einsum("ij,ij->i", x, x)
    y_sq = x_sq if same else np.einsum("ij,ij->i", y, y)
    d2 = x_sq[:, None] + y_sq[None, :] - 2.0 * dots
    np.maximum(d2, 0.0, out=d2)
    if same:
        np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2, out=d2)


def get_kth_value(unsorted, k, axis=-1):
    """The k-th smallest value (1-based: ``k = 1`` is the minimum) along ``axis`` of an array of any
    dimensionality, i.e. the maximum of the ``k`` smallest values, as the reference computes it.

    Fixed here: the reference is only correct for the last axis (it slices ``[..., :k]`` whatever
    ``axis`` is, and returns unrelated numbers otherwise); this works along any axis. ``k`` may also
    equal the length of the axis (the reference's ``np.argpartition(..., k)`` raises there).
    """
    a = as_real_array(unsorted, "unsorted")
    axis = check_int(axis, "axis")
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"axis: {axis} is out of range for an array of {a.ndim} dimension(s)")
    k = check_int(k, "k")
    if not 1 <= k <= a.shape[axis]:
        raise ValueError(f"k must be between 1 and {a.shape[axis]} (the length of axis {axis}), got {k}")
    part = np.partition(a, k - 1, axis=axis)
    return np.take(part, k - 1, axis=axis)


def compute_nearest_neighbour_distances(input_features, nearest_k):
    """Distance from each row of ``input_features`` to its ``nearest_k``-th nearest other row (the row
    itself excluded; exact duplicates count at distance 0): the prdc radii, a float64 vector.

    Computed by ``genmetrics.knn(input_features, k=nearest_k)`` in O(N k) memory; the reference takes
    the (k + 1)-th smallest entry of each row of the full N x N distance matrix, which is the same
    quantity up to its round-off.
    """
    input_features = check_embeddings(input_features, "input_features")  # errors name this argument
    distances, _ = gm.knn(input_features, k=nearest_k)
    return np.ascontiguousarray(np.asarray(distances, dtype=np.float64)[:, -1])


def compute_prdc(real_features, fake_features, nearest_k):
    """Precision, recall, density and coverage (Naeem et al. 2020) of ``fake_features`` (M x D) against
    ``real_features`` (N x D) with k-NN balls of ``nearest_k`` neighbours.

    Returns ``dict(precision=..., recall=..., density=..., coverage=...)`` of Python floats, as the
    reference does (without its ``print``). Computed by :func:`genmetrics.prdc` with the reference's
    strict ``<``: decisions are exact in float64, memory is O((N + M) k). Warns
    (:class:`genmetrics.DuplicatePointsWarning`) when a point has ``nearest_k`` or more exact duplicates
    in its own set (radius 0, an empty ball). See the module docstring for how the result may differ
    from the reference's (points on a ball's boundary only).
    """
    real_features, fake_features = check_pair(real_features, fake_features, "real_features", "fake_features")
    result = gm.prdc(real_features, fake_features, k=nearest_k)
    values = result.as_dict()
    return {key: float(values[key]) for key in _KEYS}
