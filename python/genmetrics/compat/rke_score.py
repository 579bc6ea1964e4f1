"""Drop-in replacement for ``rke_score`` (package rke-score 0.0.7), computed by genmetrics.

Same class, constructor and method names, argument names, order and return shapes as the reference,
so that::

    from rke_score import RKE                        # before
    from genmetrics.compat.rke_score import RKE      # after

keeps working. ``genmetrics.compat.rke_score.rke`` is this module too, for code that imports
``rke_score.rke``.

Kernel and bandwidth. With ``kernel_bandwidth=sigma`` the reference uses the Gaussian kernel
``exp(-||x - y||^2 / (2 sigma^2))``: exactly genmetrics' ``kernel="rbf"`` with ``bandwidth=sigma``, so
the bandwidth passes through unchanged. ``kernel_bandwidth`` may also be a list of bandwidths; then,
as in the reference, every method returns a dict ``{bandwidth: value}`` -- and it does so for a single
number too, because the reference turns a number into a one-element list (``RKE(kernel_bandwidth=1.0)
.compute_rke_mc(X)`` is ``{1.0: value}``). With ``kernel_function=f`` (a Python function of two
sample vectors, assumed symmetric) the methods return a plain value; ``f`` is called once per pair
(once per unordered pair for the symmetric quantities).

All values are plain Python floats and exact. Bugs of the reference fixed here (see METRICS.md,
"Known bugs of the reference packages"):

* ``compute_rke_mc`` is a Monte-Carlo estimate from ``n_samples`` (10^6) random index pairs drawn in
  a Python loop: here it is the exact RKE mode count ``1 / ||K/n||_F^2 = 1 / sum_i lambda_i^2`` (the
  order-2 Vendi score), from the fused sum of k^2 over all pairs; ``n_samples`` is accepted and
  ignored.
* ``compute_rrke`` silently keeps only the first 500 rows of each set (``x_samples=500``): here the
  defaults are ``None``, meaning all rows; an explicit ``x_samples``/``y_samples`` still truncates as
  in the reference.

Kept on purpose: ``compute_rke_mc_frobenius_norm`` returns what the reference returns,
``||K/n||_F^2 = (1/n^2) sum_ij k(x_i, x_j)^2``, which is the *reciprocal* of the mode count (its name
suggests the mode count; it is not). Use ``compute_rke_mc`` for the mode count.
"""

import functools
import math
import sys

import numpy as np

import genmetrics as gm
from genmetrics.support.validation import as_real_array, check_positive, plain_input

from ._callable import gram_from_callable

__all__ = ["RKE", "gaussian_kernel"]


def gaussian_kernel(x, y, sigma):
    """Gaussian similarity ``exp(-||x - y||^2 / (2 sigma^2))`` of two vectors (or scalars).

    ``sigma`` is genmetrics' rbf ``bandwidth``. Like the reference's function of this name, this works
    on one pair at a time; the methods of :class:`RKE` never call it for a numeric bandwidth.
    """
    sigma = check_positive(sigma, "sigma")
    diff = as_real_array(x, "x").astype(np.float64) - as_real_array(y, "y").astype(np.float64)
    # the squared distance over sigma^2 without overflow: each factor scaled by the largest |diff| first
    largest = float(np.abs(diff).max()) if diff.size else 0.0
    if largest == 0.0:
        return 1.0
    ratio = largest / sigma
    unit = diff / largest
    return float(np.exp(-0.5 * float(np.sum(unit * unit)) * ratio * ratio))


def _bandwidth_list(kernel_bandwidth):
    """The bandwidths as a non-empty list of valid numbers (a single number becomes a one-element list)."""
    if isinstance(kernel_bandwidth, np.ndarray) and kernel_bandwidth.ndim == 0:
        kernel_bandwidth = kernel_bandwidth.item()
    if np.ndim(kernel_bandwidth) == 0 and not isinstance(kernel_bandwidth, str):
        bandwidths = [kernel_bandwidth]
    else:
        try:
            bandwidths = list(kernel_bandwidth)
        except TypeError:
            raise TypeError(
                f"kernel_bandwidth must be a number or a list of numbers, got {kernel_bandwidth!r}"
            ) from None
    if not bandwidths:
        raise ValueError("kernel_bandwidth is an empty list")
    out = []
    for b in bandwidths:
        if isinstance(b, np.ndarray) and b.ndim == 0:
            b = b.item()  # 0-d arrays are not hashable, and the bandwidths key the result dicts
        if isinstance(b, (str, bool, np.bool_)) or np.ndim(b) != 0:
            raise TypeError(f"kernel_bandwidth must be a number or a list of numbers, got {b!r}")
        if not (math.isfinite(float(b)) and float(b) > 0):
            raise ValueError(f"kernel_bandwidth must be finite and > 0, got {b!r}")
        out.append(b)
    return out


def _samples(X, name):
    """X as an array whose rows are the samples (lists become NumPy arrays of their own dtype).

    Numeric checks (real, finite) are genmetrics' own, naming ``name``, when a bandwidth is used; a
    ``kernel_function`` sees the samples as given (they may be strings, for an edit-distance kernel).
    Masked arrays with masked entries are refused and tensors that require grad detached (``plain_input``).
    """
    X = plain_input(X, name)
    if not hasattr(X, "shape"):
        try:
            X = np.asarray(X)
        except ValueError as exc:  # ragged lists
            raise TypeError(f"{name}: cannot be converted to an array ({exc})") from None
    if X.ndim == 0 or X.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty array of samples (rows), got shape {tuple(X.shape)}")
    return X


def _features(X):
    """Samples as a 2-D matrix for genmetrics: a 1-D array is n scalar samples, as in the reference."""
    if X.ndim == 1:
        return X.reshape(-1, 1)
    if X.ndim != 2:
        raise ValueError(f"the samples must be a 1-D or 2-D array, got shape {tuple(X.shape)}")
    return X


def _nuclear_rrke(K_xy):
    """-log of the squared nuclear norm of an already scaled relative kernel matrix, in float64."""
    singular_values = np.linalg.svd(np.asarray(K_xy, dtype=np.float64), compute_uv=False)
    return float(-np.log(float(np.sum(singular_values)) ** 2))


class RKE:
    """Renyi Kernel Entropy scores (RKE mode count and relative RKE) of sets of samples.

    ``RKE(kernel_bandwidth=...)`` (a number or a list of numbers: genmetrics rbf bandwidths, see the
    module docstring) or ``RKE(kernel_function=f)``, exactly one of the two, else ``ValueError``.
    With bandwidths, every method returns ``{bandwidth: float}``; with a kernel function, a float.
    """

    def __init__(self, kernel_bandwidth=None, kernel_function=None):
        if kernel_function is None and kernel_bandwidth is None:
            raise ValueError("RKE needs either kernel_bandwidth (Gaussian kernel) or kernel_function")
        if kernel_function is not None and kernel_bandwidth is not None:
            raise ValueError("give only one of kernel_bandwidth and kernel_function, not both")
        if kernel_function is None:
            self.kernel_bandwidth = _bandwidth_list(kernel_bandwidth)
            # The per-pair Gaussian of the first bandwidth, as the reference exposes it; the methods
            # below use genmetrics' fused rbf kernel instead.
            self.kernel_function = functools.partial(gaussian_kernel, sigma=self.kernel_bandwidth[0])
        else:
            if not callable(kernel_function):
                raise TypeError("kernel_function must be callable as kernel_function(x, y)")
            self.kernel_bandwidth = None
            self.kernel_function = kernel_function
        self._k_xy = None
        self._last_rrke = None

    # -- dispatch over bandwidths ---------------------------------------------------------------------

    def _over_bandwidths(self, with_bandwidth, with_function):
        if self.kernel_bandwidth is None:
            return with_function(self.kernel_function)
        return {b: with_bandwidth(float(b)) for b in _bandwidth_list(self.kernel_bandwidth)}

    # -- RKE mode count ------------------------------------------------------------------------------

    def compute_rke_mc_frobenius_norm(self, X):
        """``||K/n||_F^2 = (1/n^2) sum_ij k(x_i, x_j)^2`` of the rows of ``X``: the same quantity the
        reference returns, which is the **reciprocal** of the RKE mode count (kept for drop-in
        compatibility; ``compute_rke_mc`` gives the mode count). Computed with
        ``genmetrics.kernel_sum(X, kernel="rbf", bandwidth=b, power=2)``, never storing K.
        """
        X = _samples(X, "X")
        n = float(X.shape[0])

        def with_bandwidth(b):
            return float(gm.kernel_sum(_features(X), kernel="rbf", bandwidth=b, power=2)) / n**2

        def with_function(f):
            K = gram_from_callable(f, X, name="kernel_function")
            return float(np.sum(K * K)) / n**2

        return self._over_bandwidths(with_bandwidth, with_function)

    def compute_rke_mc(self, X, n_samples=1_000_000):
        """RKE mode count ``1 / ||K/n||_F^2 = 1 / sum_i lambda_i^2`` (lambda: eigenvalues of K/n) of the
        rows of ``X``, exact.

        Fixed here: the reference estimates it from ``n_samples`` random pairs; this is the exact value
        (``genmetrics.rke(X, kernel="rbf", bandwidth=b, method="exact")``, the fused sum of k^2 over
        all n^2 pairs). ``n_samples`` is accepted for signature compatibility and ignored.
        """
        X = _samples(X, "X")
        n = float(X.shape[0])

        def with_bandwidth(b):
            return float(gm.rke(_features(X), kernel="rbf", bandwidth=b, method="exact"))

        def with_function(f):
            K = gram_from_callable(f, X, name="kernel_function")
            return n**2 / float(np.sum(K * K))

        return self._over_bandwidths(with_bandwidth, with_function)

    # -- relative RKE --------------------------------------------------------------------------------

    def compute_rrke(self, X, Y, x_samples=None, y_samples=None):
        """Relative RKE ``-log ||K_XY||_nuc^2`` with ``K_XY = [k(x_i, y_j)] / sqrt(n m)``.

        Fixed here: the reference's default ``x_samples=500`` silently drops every row past the 500th
        of ``X`` and ``Y``; here ``x_samples=None`` (the default) uses all rows. As in the reference,
        ``y_samples=None`` means the same as ``x_samples``, and an explicit number keeps only that many
        leading rows. Computed by ``genmetrics.rrke(X, Y, kernel="rbf", bandwidth=b)``. After the call,
        ``self.k_xy`` is the scaled matrix ``K_XY`` of the last bandwidth, as in the reference (built
        on first access).
        """
        X = _samples(X, "X")
        Y = _samples(Y, "Y")
        if y_samples is None:
            y_samples = x_samples
        if x_samples is not None:
            X = X[: int(x_samples)]
        if y_samples is not None:
            Y = Y[: int(y_samples)]
        X = _samples(X, "X")
        Y = _samples(Y, "Y")
        self._k_xy = None
        self._last_rrke = None

        def with_bandwidth(b):
            value = float(gm.rrke(_features(X), _features(Y), kernel="rbf", bandwidth=b))
            self._k_xy = None
            self._last_rrke = (X, Y, b)
            return value

        def with_function(f):
            K = gram_from_callable(f, X, Y, name="kernel_function") / math.sqrt(X.shape[0] * Y.shape[0])
            self._k_xy = K
            return _nuclear_rrke(K)

        return self._over_bandwidths(with_bandwidth, with_function)

    @property
    def k_xy(self):
        """The scaled relative kernel matrix ``[k(x_i, y_j)] / sqrt(n m)`` of the last ``compute_rrke``
        call (last bandwidth). Raises ``AttributeError`` before any call, like the reference."""
        if self._k_xy is None and self._last_rrke is not None:
            X, Y, b = self._last_rrke
            K = gm.gram(_features(X), _features(Y), kernel="rbf", bandwidth=b)
            self._k_xy = K / math.sqrt(X.shape[0] * Y.shape[0])
        if self._k_xy is None:
            raise AttributeError("k_xy is only set by compute_rrke")
        return self._k_xy

    @k_xy.setter
    def k_xy(self, value):
        self._k_xy = value
        self._last_rrke = None


# ``import rke_score.rke`` becomes ``import genmetrics.compat.rke_score`` (also reachable as ``.rke``).
rke = sys.modules[__name__]
