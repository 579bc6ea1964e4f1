"""Drop-in replacement for clean-fid's feature-level functions (``cleanfid.fid``, version 0.1.35).

Same function names, argument names, order and defaults, so that::

    from cleanfid.fid import frechet_distance, kernel_distance, fid_from_feats             # before
    from genmetrics.compat.cleanfid import frechet_distance, kernel_distance, fid_from_feats  # after

keeps working on features (N x D arrays, e.g. the ``np_feats`` clean-fid computes) and on their statistics.
The functions of ``cleanfid.fid`` that take image folders, generators or dataset names (``compute_fid``,
``compute_kid``, ``make_custom_stats``, ...) run the Inception or CLIP networks and are not provided.

* :func:`frechet_distance` is clean-fid's copy of pytorch-fid's ``calculate_frechet_distance`` (the same
  ``scipy.linalg.sqrtm`` with an ``eps`` retry): here :func:`genmetrics.frechet_from_statistics`, with the
  differences measured in :mod:`genmetrics.compat.pytorch_fid`'s docstring.
* :func:`fid_from_feats` is the FD of the two feature sets' Gaussian fits, here :func:`genmetrics.fd` on the
  features, which is accurate to ~eps also when the covariances are singular (clean-fid forms ``np.cov`` and
  takes ``sqrtm`` of the product: off by up to D sqrt(eps) |sigma| then, see above).
* :func:`kernel_distance` is KID (Binkowski et al., "Demystifying MMD GANs", ICLR 2018) as clean-fid defines
  it, on the same random subsets as clean-fid (see its docstring), with every subset's value computed in
  float64 by :func:`genmetrics.mmd`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import genmetrics as gm
from genmetrics.distances import MAX_KID_SUBSETS
from genmetrics.support.validation import check_int

from ._features import host_features, kid_values
from .pytorch_fid import calculate_frechet_distance

__all__ = ["frechet_distance", "kernel_distance", "fid_from_feats"]


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    r"""Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), clean-fid's signature.

    FD = ||mu1 - mu2||^2 + tr sigma1 + tr sigma2 - 2 tr sqrt(sigma1 sigma2)

    (Heusel et al., NeurIPS 2017), computed by :func:`genmetrics.frechet_from_statistics` in float64.

    Parameters
    ----------
    mu1, mu2 : array (d,) or scalar
        Means (clean-fid: ``np.mean(np_feats, axis=0)``).
    sigma1, sigma2 : array (d, d) or scalar
        Covariances (``np.cov(np_feats, rowvar=False)``).
    eps : float >= 0, default 1e-6
        clean-fid's ``sqrtm`` retry offset; accepted, checked and unused (no retry is needed here).

    Returns
    -------
    float
        >= 0. See :func:`genmetrics.compat.pytorch_fid.calculate_frechet_distance` (the same computation) for
        where and by how much the value differs from clean-fid's.
    """
    return calculate_frechet_distance(mu1, sigma1, mu2, sigma2, eps=eps)


def fid_from_feats(feats1, feats2):
    r"""FD between the Gaussian fits of two feature sets, clean-fid's ``fid_from_feats``.

    FD = ||mu1 - mu2||^2 + tr sigma1 + tr sigma2 - 2 tr sqrt(sigma1 sigma2) with mu, sigma the sample mean and the
    unbiased covariance (``np.cov``) of each set (Heusel et al., NeurIPS 2017), computed by :func:`genmetrics.fd`.

    Parameters
    ----------
    feats1 : array (N1, D)
        N1 >= 2.
    feats2 : array (N2, D)
        N2 >= 2.

    Returns
    -------
    float
        >= 0. Equal to clean-fid's to round-off when the covariances are well conditioned; on singular ones
        (N <= D, constant features) :func:`genmetrics.fd`'s QR route keeps ~eps accuracy where clean-fid's
        ``sqrtm`` of the product is off by up to D sqrt(eps) |sigma|.
    """
    feats1 = host_features(feats1, "feats1")
    feats2 = host_features(feats2, "feats2")
    try:
        return float(gm.fd(feats1, feats2))
    except ValueError as exc:  # gm.fd names its arguments real / fake: rename them
        message = str(exc)
        for ours, theirs in (("real", "feats1"), ("fake", "feats2")):
            if message.startswith(ours + ":"):
                raise ValueError(theirs + message[len(ours) :]) from None
        raise


def kernel_distance(feats1, feats2, num_subsets=100, max_subset_size=1000, *, seed=None):
    r"""KID between two feature sets: clean-fid's ``kernel_distance``, on clean-fid's subsets, in float64.

    With D features, s = min(N1, N2, ``max_subset_size``) and the polynomial kernel k(a, b) = (a.b / D + 1)^3,
    each of ``num_subsets`` subsets draws s rows x_1..x_s of ``feats2`` and s rows y_1..y_s of ``feats1`` (without
    replacement within a subset) and scores the unbiased MMD^2

        KID_t = (1/(s(s-1))) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] - (2/s^2) sum_ij k(x_i, y_j);

    the result is the mean of the KID_t (Binkowski et al., "Demystifying MMD GANs", ICLR 2018). This is clean-fid's
    definition: its loop sums (sum_{i != j} [..]) / (s - 1) - 2 sum_ij k(x_i, y_j) / s over the subsets and divides
    by ``num_subsets`` s at the end, the same number.

    Parameters
    ----------
    feats1 : array (N1, D)
    feats2 : array (N2, D)
    num_subsets : int >= 1, default 100
    max_subset_size : int >= 2, default 1000
        The subset size is min(N1, N2, max_subset_size): clamped to the smaller set, as clean-fid does (where
        :func:`genmetrics.kid` and torchmetrics raise instead). A resulting size below 2 is a ValueError.
    seed : int >= 0 or None, default None (keyword-only; clean-fid has no seed)
        How the subsets are drawn. clean-fid calls ``np.random.choice(N2, s, replace=False)`` (the rows of
        ``feats2``) then ``np.random.choice(N1, s, replace=False)`` (``feats1``) for each subset, on NumPy's global
        generator, which it never seeds. ``None`` does exactly that, on the same global generator: after the same
        ``np.random.seed(...)`` clean-fid and this function score the same subsets (and both advance the global
        state alike). An int draws the same way from a private ``np.random.RandomState(seed)``, leaving the
        global state alone: ``kernel_distance(f1, f2, seed=s)`` equals clean-fid's value after
        ``np.random.seed(s)``, and is reproducible without touching global state.

    Returns
    -------
    float
        The mean KID over the subsets (clean-fid returns no standard deviation; :func:`genmetrics.kid` gives both).

    Notes
    -----
    Each subset is scored by :func:`genmetrics.mmd` (polynomial kernel, unbiased) on the subsets converted to
    float64, from fused kernel sums without the s x s matrices. clean-fid computes in the features' dtype: on
    float64 features the two agree to round-off (measured: 1e-15 relative on the digits and on random
    features); on float32 features (clean-fid's own) its float32 products and sums differ from the float64 value
    by 3e-8 (random 32-d features) to 7e-7 (the digits) relative: clean-fid's round-off. Bad input is a
    ValueError/TypeError naming the argument (clean-fid: NaN results or ZeroDivisionError).
    """
    num_subsets = check_int(num_subsets, "num_subsets", low=1, high=MAX_KID_SUBSETS)
    max_subset_size = check_int(max_subset_size, "max_subset_size", low=2)
    if seed is not None:
        seed = check_int(seed, "seed", low=0, high=2**32 - 1)
    feats1 = host_features(feats1, "feats1")
    feats2 = host_features(feats2, "feats2")
    n1, d = feats1.shape
    n2 = feats2.shape[0]
    if feats2.shape[1] != d:
        raise ValueError(f"feats2: has {feats2.shape[1]} features but feats1 has {d}; both must be embedded alike")
    s = min(n1, n2, max_subset_size)
    if s < 2:
        which = "feats1" if n1 < 2 else "feats2"
        raise ValueError(f"{which}: needs at least 2 rows for KID's unbiased estimator, got {min(n1, n2)}")
    rng: Any = np.random if seed is None else np.random.RandomState(seed)  # None: the global generator
    draws = []
    for _ in range(num_subsets):
        rows2 = rng.choice(n2, s, replace=False)
        rows1 = rng.choice(n1, s, replace=False)
        draws.append((rows1, rows2))
    values = kid_values(feats1, feats2, draws, degree=3, gamma=1.0 / d, coef0=1.0)
    return float(values.mean())
