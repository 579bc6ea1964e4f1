"""Drop-in replacement for ``vendi_score.vendi`` (package vendi-score 0.0.3), computed by genmetrics.

Same function names, argument names, argument order and defaults as the reference module, so that::

    from vendi_score import vendi                       # before
    from genmetrics.compat.vendi_score import vendi     # after

keeps working. Every function returns a plain Python ``float`` (the reference returns NumPy scalars),
and every value is exact: eigenvalues of the full (weighted) kernel matrix, or of the equivalent d x d
covariance matrix for dot-product kernels. Nothing is sampled or truncated.

Kernels. The reference package has no bandwidth anywhere: ``score``/``intdiv`` take a Python similarity
function ``k(a, b)``, ``score_K``/``intdiv_K`` a precomputed matrix, and the ``*_X``/``score_dual``
functions use dot products of the rows of ``X``, which are first scaled to unit length when
``normalize=True``. In genmetrics terms ``normalize=True`` is ``kernel="cosine"`` and
``normalize=False`` is ``kernel="linear"``.

Spectrum convention. The Vendi score of a kernel matrix K is computed from ``eig(K) / trace(K)``
(``eig(W) / trace(W)`` with ``W = diag(sqrt p) K diag(sqrt p)`` when weights ``p`` are given). When
k(x, x) = 1 and the weights sum to 1, which is the case the reference package is documented for, this
is exactly the reference's ``eig(K / n)`` (resp. ``eig(W)``). When the diagonal is not 1 (``normalize=
False`` on rows that are not unit vectors, or a matrix whose diagonal is not 1), the reference feeds
eigenvalues that do not sum to 1 into the entropy, so its number is not a Vendi score (it changes
when X is scaled by a constant); here the spectrum is normalised by the trace, so the result is scale
invariant and lies in [1, n]. This is a deliberate difference.

Bugs of the reference that are fixed here (see METRICS.md, "Known bugs of the reference packages"):

* ``score_X`` ignores ``q`` (it always computes q = 1): here it honours ``q``.
* ``q=np.inf`` gives ``nan`` (only the string ``"inf"`` is recognised): here both mean
  ``1 / lambda_max``.
* ``q=0`` counts every positive eigenvalue, round-off included, and every ``0 < q < 1`` weighs them
  up (``lambda^q >> lambda``): here, for every q < 1, eigenvalues below the rank tolerance
  ``n * eps * lambda_max`` count as zero (the rest renormalised to sum 1), so the order-0 score is the
  numerical rank of K and the score is non-increasing in q.
* a ``scipy.sparse`` CSR matrix given to ``score_K`` is scored from only 6 eigenvalues
  (``eigsh``'s default) and other sparse formats fail: here any ``scipy.sparse`` matrix or array is
  converted to a dense matrix and scored from its full spectrum (this needs O(n^2) memory, like any
  exact Vendi score).
* ``intdiv_X`` raises ``TypeError`` and ``intdiv`` raises ``NameError``: both work here.

Similarity matrices that are not kernels. ``score_K``/``score`` accept, as the reference does, a K
that is slightly asymmetric or not positive semi-definite (1 - normalised edit distance is a common
such similarity): K is symmetrised to ``(K + K^T) / 2`` and its negative eigenvalues are clipped to 0
before the spectrum is normalised to sum 1, with a ``UserWarning`` when that changes K beyond
round-off (:func:`genmetrics.vendi_from_gram` with ``not_psd="clip"``). The reference reads the lower
triangle only and drops the negative eigenvalues without renormalising, so the two numbers differ by
about the clipped mass.

Differences in error handling: bad input raises ``ValueError``/``TypeError`` naming the argument
(rows of zero norm with ``normalize=True``, ``q < 0``, weights ``p`` of the wrong length or negative,
non-finite values, a fractional ``q`` in ``intdiv*`` where some similarity is negative, ``K ** q``
beyond float64's range) where the reference returns ``nan``, ``-inf`` or a meaningless number.
"""

import math
import sys

import numpy as np

import genmetrics as gm
from genmetrics.support.arrays import array_namespace

from ._callable import gram_from_callable

__all__ = [
    "weight_K",
    "normalize_K",
    "entropy_q",
    "score_K",
    "score_X",
    "score_dual",
    "score",
    "intdiv_K",
    "intdiv_X",
    "intdiv",
]


# ----------------------------------------------------------------------------------------------------
# helpers (private)


def _is_scipy_sparse(a):
    # scipy is not a dependency of genmetrics: if scipy.sparse was never imported, ``a`` cannot be one.
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(a)


def _square_matrix(K, name="K"):
    """K as a dense floating square matrix (NumPy or CuPy); scipy.sparse input is densified."""
    if _is_scipy_sparse(K):
        K = K.toarray()
    elif not hasattr(K, "shape"):
        K = np.asarray(K)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"{name} must be a square 2-D matrix, got shape {tuple(K.shape)}")
    if K.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not np.issubdtype(K.dtype, np.floating):
        K = K.astype(np.float64)
    return K


def _features(X, name="X"):
    """X as a 2-D array (NumPy or CuPy, left on its device); lists are converted to NumPy."""
    if _is_scipy_sparse(X):
        X = X.toarray()
    elif not hasattr(X, "shape"):
        X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (samples x features), got shape {tuple(X.shape)}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return X


def _weights(p, n, xp):
    """Validated sample weights as a float64 vector of length n."""
    p = xp.asarray(p, dtype=np.float64)
    if p.ndim != 1 or p.shape[0] != n:
        raise ValueError(f"p must be a vector of length {n} (one weight per sample), got shape {tuple(p.shape)}")
    if not bool(xp.all(xp.isfinite(p))) or bool(xp.any(p < 0)):
        raise ValueError("p must contain finite, non-negative weights")
    if not float(p.sum()) > 0:
        raise ValueError("p must have a positive sum")
    return p


def _dual_or_exact(X):
    # Both are exact for dot-product kernels; the d x d covariance is the cheaper one when d < n.
    n, d = X.shape
    return "dual" if d < n else "exact"


def _unit_rows(X):
    xp = array_namespace(X)
    X = X if np.issubdtype(X.dtype, np.floating) else X.astype(np.float64)
    norms = xp.linalg.norm(X, axis=1)
    if bool(xp.any(norms == 0)):
        raise ValueError("X has rows of zero norm, which cannot be normalised (normalize=True)")
    return X / norms[:, None]


def _elementwise_power(K, q):
    """K ** q elementwise, refusing the cases that would produce NaN silently."""
    if isinstance(q, (str, bool)) or np.ndim(q) != 0:
        raise TypeError(f"q must be a real number, got {q!r}")
    q = float(q)
    if not np.isfinite(q) or q < 0:
        raise ValueError(f"q must be a finite number >= 0, got {q!r}")
    xp = array_namespace(K)
    K = K.astype(np.float64)
    if not bool(xp.all(xp.isfinite(K))):
        raise ValueError("K contains NaN or inf")
    if q != int(q) and bool(xp.any(K < 0)):
        raise ValueError(f"K has negative similarities, for which k ** q with non-integer q={q!r} is undefined")
    with np.errstate(over="ignore"):  # overflow is reported below, by name
        Kq = K**q
    if not bool(xp.all(xp.isfinite(Kq))):
        raise ValueError(f"K ** q overflows float64 (largest |K| = {float(xp.abs(K).max()):.3g}, q = {q!r}); rescale K")
    return Kq


# ----------------------------------------------------------------------------------------------------
# the reference's public functions


def weight_K(K, p=None):
    """The weighted kernel matrix whose eigenvalues the Vendi score uses: ``K / n`` without weights,
    ``diag(sqrt p) K diag(sqrt p)`` with sample weights ``p``.

    Same meaning as the reference's helper of this name; ``scipy.sparse`` input is returned dense.
    """
    K = _square_matrix(K)
    if p is None:
        return K / K.shape[0]
    xp = array_namespace(K)
    s = xp.sqrt(_weights(p, K.shape[0], xp))
    return K * s[:, None] * s[None, :]


def normalize_K(K):
    """Rescale a kernel matrix to unit diagonal: ``K_ij / sqrt(K_ii K_jj)``.

    Same meaning as the reference's helper of this name. Fixed here: a non-positive diagonal entry
    raises ``ValueError`` (the reference divides by zero and returns NaN/inf); ``scipy.sparse`` input
    is returned dense.
    """
    K = _square_matrix(K)
    xp = array_namespace(K)
    diag = xp.diagonal(K)
    if not bool(xp.all(diag > 0)):
        raise ValueError("K must have a positive diagonal to be normalised (normalize=True)")
    s = xp.sqrt(diag)
    return K / s[:, None] / s[None, :]


def entropy_q(p, q=1):
    """Order-q Renyi entropy (natural log) of a probability vector ``p`` (for the Vendi score: the
    eigenvalues of ``K / n``); ``log`` of :func:`genmetrics.vendi_from_eigenvalues`.

    q = 1 is the Shannon entropy, q = ``"inf"`` or ``np.inf`` the min-entropy ``-log max p``, q = 0 the
    log of the numerical rank. Fixed here: ``q=np.inf`` (the reference gives NaN) and every q < 1 (the
    reference counts round-off entries; here entries <= ``len(p) * eps * max p`` are 0 and the rest are
    renormalised). Tiny negative entries from round-off are clipped to 0, and a vector that does not
    sum to 1 is rescaled to sum 1 (the reference uses it as given).
    """
    return float(np.log(float(gm.vendi_from_eigenvalues(p, q=q))))


def score_K(K, q=1, p=None, normalize=False):
    """Vendi score of order ``q`` of a precomputed n x n kernel (similarity) matrix ``K``.

    ``K`` should be symmetric positive semi-definite with unit diagonal (``normalize=True`` rescales
    it to unit diagonal first); ``p`` optionally weights the samples (default: uniform 1/n).
    ``q`` is any number >= 0, ``np.inf`` or ``"inf"``. Returns a float in [1, n].

    Computed by :func:`genmetrics.vendi_from_gram` on K (or on ``diag(sqrt p) K diag(sqrt p)``), i.e.
    from the full spectrum normalised by its trace; see the module docstring for when that differs
    from the reference (diagonal not 1). Fixes: ``q=np.inf``; every q < 1 uses a rank tolerance
    (eigenvalues below ``n * eps * lambda_max`` are 0); sparse input uses the full spectrum (the
    reference keeps 6 eigenvalues of a CSR matrix and fails on other sparse formats).
    A K that is not symmetric or not positive semi-definite is accepted as the reference does, with a
    warning: it is symmetrised and its negative eigenvalues are clipped to 0 (then renormalised).
    """
    K = _square_matrix(K)
    if normalize:
        K = normalize_K(K)
    if p is not None:
        K = weight_K(K, p)
    return float(gm.vendi_from_gram(K, q=q, not_psd="clip"))


def score_X(X, q=1, p=None, normalize=True):
    """Vendi score of order ``q`` of the rows of ``X`` (n x d) under the dot-product kernel.

    ``normalize=True`` scales rows to unit length first (genmetrics ``kernel="cosine"``);
    ``normalize=False`` uses raw dot products (``kernel="linear"``, spectrum normalised by the trace:
    see the module docstring). ``p`` optionally weights the samples.

    Fixed here: the reference ignores ``q`` and always returns the q = 1 score; this one honours ``q``
    (any number >= 0, ``np.inf`` or ``"inf"``). Computed exactly by :func:`genmetrics.vendi`, through
    the d x d covariance when d < n (same non-zero eigenvalues as the n x n kernel matrix). With
    weights, the rows are scaled by ``sqrt(p)``, whose linear kernel is ``diag(sqrt p) K diag(sqrt p)``.
    Rows of zero norm with ``normalize=True`` raise ``ValueError``.
    """
    X = _features(X)
    if p is None:
        kernel = "cosine" if normalize else "linear"
        return float(gm.vendi(X, q=q, kernel=kernel, method=_dual_or_exact(X)))
    xp = array_namespace(X)
    w = _weights(p, X.shape[0], xp)
    Xw = _unit_rows(X) if normalize else X.astype(np.float64)
    Xw = Xw * xp.sqrt(w)[:, None]
    return float(gm.vendi(Xw, q=q, kernel="linear", method=_dual_or_exact(Xw)))


def score_dual(X, q=1, normalize=True):
    """Vendi score of order ``q`` of the rows of ``X`` from the d x d matrix ``X^T X / n``.

    Same value as :func:`score_X` with uniform weights (the non-zero eigenvalues of ``X^T X`` and
    ``X X^T`` coincide), at O(n d^2 + d^3) cost. ``normalize=True``: genmetrics ``kernel="cosine"``;
    ``normalize=False``: ``kernel="linear"`` with the spectrum normalised by its trace (the reference
    does not normalise, see the module docstring). Computed by ``genmetrics.vendi(...,
    method="dual")``. Fixed here: ``q=np.inf``; every q < 1 (q = 0 included) with a rank tolerance
    (eigenvalues below ``max(n, d) * eps * lambda_max`` are 0).
    """
    X = _features(X)
    kernel = "cosine" if normalize else "linear"
    return float(gm.vendi(X, q=q, kernel=kernel, method="dual"))


def score(samples, k, q=1, p=None, normalize=False):
    """Vendi score of order ``q`` of a sequence of arbitrary ``samples`` under a Python similarity
    function ``k(a, b)`` (symmetric, with ``k(a, a) = 1`` unless ``normalize=True``).

    ``k`` is called once per unordered pair (n (n + 1) / 2 calls), then the matrix is scored by
    :func:`score_K`; same fixes as there (a ``k`` that is not a kernel, such as 1 - normalised edit
    distance, is accepted with a warning: negative eigenvalues clipped to 0).
    """
    return score_K(gram_from_callable(k, samples), q=q, p=p, normalize=normalize)


def intdiv_K(K, q=1, p=None):
    """Internal diversity ``1 - sum_ij p_i p_j K_ij ** q`` of a precomputed kernel matrix (uniform
    ``p = 1/n`` by default), accumulated in float64.

    Same value as the reference for dense matrices. Fixed here: ``scipy.sparse`` input is densified
    (the reference's ``K ** q`` is a matrix power for sparse matrices); negative similarities with a
    non-integer ``q``, NaN/inf and q < 0 raise ``ValueError`` instead of returning NaN. The sum is taken
    of ``K ** q / max |K ** q|`` and multiplied back, so entries near the float64 limit give the right
    value (the reference's sum overflows to ``-inf``); ``K ** q`` itself beyond float64 (1e200 ** 2) and
    a weighted sum beyond it are a ``ValueError``.
    """
    K = _square_matrix(K)
    Kq = _elementwise_power(K, q)
    xp = array_namespace(Kq)
    largest = float(xp.abs(Kq).max())
    if largest == 0:
        return 1.0
    largest = math.ldexp(1.0, math.frexp(largest)[1] - 1)  # a power of two: the division is exact
    Kq = Kq / largest  # in (-2, 2): the sums below cannot overflow
    if p is None:
        return 1.0 - float(Kq.mean()) * largest
    w = _weights(p, Kq.shape[0], xp)
    total = float(w.sum())
    w = w / total
    value = float(w @ Kq @ w) * largest * total * total
    if not math.isfinite(value):
        raise ValueError("p: the weighted sum of K ** q overflows float64; rescale K or the weights p")
    return 1.0 - value


def intdiv_X(X, q=1, p=None, normalize=True):
    """Internal diversity ``1 - mean_ij k(x_i, x_j) ** q`` of the rows of ``X`` under the dot-product
    kernel (``normalize=True``: genmetrics ``kernel="cosine"``; ``False``: ``kernel="linear"``, raw
    dot products, as in the reference). ``p`` optionally weights the samples as in :func:`intdiv_K`.

    Fixed here: the reference raises ``TypeError`` (it calls ``intdiv`` with the wrong arguments).
    Without weights this is ``1 - genmetrics.kernel_sum(X, power=q) / n**2``, which never stores the
    n x n matrix; with weights the matrix comes from :func:`genmetrics.gram`.
    """
    X = _features(X)
    kernel = "cosine" if normalize else "linear"
    if p is None:
        n = X.shape[0]
        return 1.0 - float(gm.kernel_sum(X, kernel=kernel, power=q)) / float(n) ** 2
    return intdiv_K(gm.gram(X, kernel=kernel), q=q, p=p)


def intdiv(elems, k, q=1, p=None):
    """Internal diversity of a sequence of arbitrary samples ``elems`` under a Python similarity
    function ``k(a, b)``: the kernel matrix (n (n + 1) / 2 calls of ``k``) scored by :func:`intdiv_K`.

    Fixed here: the reference raises ``NameError`` (it refers to an undefined variable).
    """
    return intdiv_K(gram_from_callable(k, elems), q=q, p=p)


# ``from vendi_score import vendi`` becomes ``from genmetrics.compat.vendi_score import vendi``.
vendi = sys.modules[__name__]
