"""Drop-in replacement for pytorch-fid's feature-level function (``pytorch_fid.fid_score``, version 0.3.0).

Same function name, argument names, order and defaults, so that::

    from pytorch_fid.fid_score import calculate_frechet_distance              # before
    from genmetrics.compat.pytorch_fid import calculate_frechet_distance      # after

keeps working on the ``mu``/``sigma`` that pytorch-fid computes (``np.mean(act, axis=0)``,
``np.cov(act, rowvar=False)``) or stores in its ``.npz`` statistics files. The other public functions of
``pytorch_fid.fid_score`` (``get_activations``, ``calculate_activation_statistics``,
``compute_statistics_of_path``, ``calculate_fid_given_paths``, ``save_fid_stats``) take image files and run the
Inception network: they have no feature-level form and are not provided. On an activation array ``act`` the
statistics are ``act.mean(axis=0)`` and ``np.cov(act, rowvar=False)``; :func:`genmetrics.fd` takes the two
activation arrays directly (and is more accurate still on singular covariances, see below).

The value is :func:`genmetrics.frechet_from_statistics`'s:

    FD = ||mu1 - mu2||^2 + tr sigma1 + tr sigma2 - 2 sum_i sqrt(lambda_i(sigma1 sigma2))

(Heusel et al., "GANs trained by a two time-scale update rule converge to a local Nash equilibrium",
NeurIPS 2017; Dowson & Landau 1982), computed in float64 with symmetric eigensolvers: the eigenvalues of
sigma1 sigma2 are those of the symmetric positive semi-definite sigma1^(1/2) sigma2 sigma1^(1/2).

Where and why the numbers differ from pytorch-fid's (measured with pytorch-fid 0.3.0, SciPy 1.17, on
scikit-learn's digits and on seeded random features; the exact value is :func:`genmetrics.fd` on the features,
whose QR route is accurate to ~eps):

* pytorch-fid takes ``scipy.linalg.sqrtm`` of the non-symmetric product sigma1 sigma2. On well-conditioned
  covariances both are exact to round-off: 2000 and 1500 random 64-d features, |difference| 4e-11 on an FD of
  2202 (2e-14 relative to ||mu1 - mu2||^2 + tr sigma1 + tr sigma2); the digits without their constant pixels,
  4e-9 on 75.6 (2e-12 relative).
* On singular products (fewer samples than features, constant pixels or features, linearly dependent features:
  the rule for Inception features of fewer than 2,049 images) the eigenvalues that should be 0 come out as
  round-off of size eps |sigma|^2, and their square roots as sqrt(eps) |sigma|, in both codes: each is off by
  up to d sqrt(eps) |sigma| and neither is reliably the closer. Measured against :func:`genmetrics.fd`: digits
  halves (898/899 rows, 64 pixels, some constant) 3.7e-6 here, 1e-10 pytorch-fid; digits 30 vs 40 rows 1.2e-5
  here, 1.9e-5 pytorch-fid; random 50 vs 60 rows of 64-d features 1.8e-5 here, 3.9e-5 pytorch-fid (relative to
  the terms above: 1e-9 to 3e-9). The statistics alone cannot do better without deciding which eigenvalues
  are round-off; when the features are at hand, call :func:`genmetrics.fd` on them (errors ~1e-12 on these
  cases).
* When ``sqrtm`` returns non-finite values, pytorch-fid prints a message and retries with ``eps`` added to both
  diagonals, i.e. it then returns the FD of N(mu1, sigma1 + eps I) and N(mu2, sigma2 + eps I), other Gaussians
  (tr sigma grows by d eps on each side, and tr sqrt(sigma1 sigma2) by up to about sqrt(eps |sigma|) per null
  direction). With SciPy 1.17 ``sqrtm`` did not fail on any of the singular cases above, so the retry was not
  taken. Here no retry is needed (the symmetric eigensolver does not fail on singular matrices): ``eps`` is
  accepted for compatibility, checked (a float >= 0) and unused.
* pytorch-fid raises ``ValueError('Imaginary component ...')`` when ``sqrtm`` leaves imaginary parts above
  1e-3 on the diagonal; the symmetric route has no imaginary parts, so this never happens.
* Bad input is a ``ValueError``/``TypeError`` naming the argument (pytorch-fid: ``AssertionError`` for
  mismatched shapes, and silent garbage for NaN, non-symmetric or indefinite "covariances"). Scalars are
  accepted for one-dimensional Gaussians, as pytorch-fid's ``np.atleast_1d``/``np.atleast_2d`` allow.
"""

from __future__ import annotations

import numpy as np

import genmetrics as gm
from genmetrics.support.validation import check_nonnegative, plain_input

__all__ = ["calculate_frechet_distance"]


def at_least(values, ndim: int, name: str):
    """A 0-d statistic (scalar mean or variance) as a 1-D / 1 x 1 array, as pytorch-fid's np.atleast_1d/2d."""
    values = plain_input(values, name)
    if np.ndim(values) == 0:
        array = values if hasattr(values, "reshape") else np.asarray(values)
        return array.reshape((1,) * ndim)
    return values


def calculate_frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    r"""Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2), pytorch-fid's signature.

    FD = ||mu1 - mu2||^2 + tr sigma1 + tr sigma2 - 2 tr sqrt(sigma1 sigma2)

    (Heusel et al., NeurIPS 2017: FID on Inception-v3 pool features), computed by
    :func:`genmetrics.frechet_from_statistics` in float64.

    Parameters
    ----------
    mu1, mu2 : array (d,) or scalar
        Means of the two feature sets (pytorch-fid: ``np.mean(act, axis=0)``).
    sigma1, sigma2 : array (d, d) or scalar
        Their covariances (``np.cov(act, rowvar=False)``): symmetric positive semi-definite up to round-off.
    eps : float >= 0, default 1e-6
        pytorch-fid adds ``eps`` to both diagonals and retries when ``scipy.linalg.sqrtm`` fails on a singular
        product. Accepted and checked for compatibility; unused, because the symmetric eigensolver used here
        does not fail on singular products (see the module docstring for what that changes).

    Returns
    -------
    float
        >= 0 (a round-off negative is 0.0); a Python float where pytorch-fid returns a NumPy float64.

    Notes
    -----
    Where the value differs from pytorch-fid's (singular products, its ``eps`` retry) and by how much: see the
    module docstring. Errors: mismatched shapes, NaN/inf, non-symmetric or indefinite covariances are
    ``ValueError``s naming the argument (``mu2``, ``sigma1``, ...).

    Examples
    --------
    >>> import numpy as np
    >>> from genmetrics.compat.pytorch_fid import calculate_frechet_distance
    >>> act1 = np.random.default_rng(0).normal(size=(500, 8))
    >>> act2 = np.random.default_rng(1).normal(size=(400, 8)) + 0.5
    >>> mu1, sigma1 = act1.mean(axis=0), np.cov(act1, rowvar=False)
    >>> mu2, sigma2 = act2.mean(axis=0), np.cov(act2, rowvar=False)
    >>> print(f"{calculate_frechet_distance(mu1, sigma1, mu2, sigma2):.4f}")
    2.1770
    """
    check_nonnegative(eps, "eps")
    value = gm.frechet_from_statistics(
        at_least(mu1, 1, "mu1"), at_least(sigma1, 2, "sigma1"), at_least(mu2, 1, "mu2"), at_least(sigma2, 2, "sigma2")
    )
    return float(value)
