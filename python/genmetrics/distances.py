"""Distances between the distributions of two embedding sets: Fréchet distance, KID, MMD, Gaussian KL.

===========================  ===============================================================================
:func:`fd`                   Fréchet distance between Gaussian fits (the FID formula on any embedding)
:func:`frechet_from_statistics`  the same from precomputed means and covariances
:func:`gaussian_kl`          KL divergence between Gaussian fits, full covariances
:func:`mmd`                  squared maximum mean discrepancy, biased or unbiased, any kernel; CMMD preset
:func:`kid`                  kernel inception distance: unbiased polynomial MMD^2 over random subsets
:func:`fd_infinity`          FD extrapolated to infinitely many generated samples (Chong & Forsyth 2020)
:func:`sliced_wasserstein`   sliced Wasserstein distance over random 1-D projections (Deshpande et al. 2018)
:func:`fls`                  feature likelihood divergence: a MoG on the generated set (Jiralerspong et al. 2023)
===========================  ===============================================================================

Definitions: shared/METRICS.md, "Distances between distributions". The Gaussian fits use the sample mean and
the unbiased sample covariance (divided by n - 1), as pytorch-fid (``np.cov``) and torchmetrics do; they are
accumulated in float64 whatever the input dtype. The kernel metrics never hold an n x m matrix: they are sums
of fused kernel reductions (:func:`genmetrics.primitives.kernel_sum`'s engine path).
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np

from .engine import get_backend
from .engine.kernels import kernel_diagonal, kernel_inputs, power_of_two_scale, prepare_inputs, resolve_kernel
from .engine.spectral import linalg_call
from .engine.tiles import sq_distance_blocks
from .primitives import check_finite_result, row_sums_checked
from .reference import as_reference
from .support.arrays import array_namespace, to_float
from .support.results import KID, Score
from .support.validation import (
    as_real_array,
    check_bool,
    check_choice,
    check_int,
    check_kernel,
    check_nonnegative,
    check_nonzero_rows,
    check_pair,
    check_positive,
)

__all__ = [
    "fd",
    "frechet_from_statistics",
    "gaussian_kl",
    "mmd",
    "kid",
    "MMD_PRESETS",
    "fd_infinity",
    "sliced_wasserstein",
    "fls",
]

#: Bytes of one float64 chunk of rows in the streaming mean / covariance passes.
CHUNK_BYTES = 64 * 2**20

#: :func:`fd` keeps the fast eigenvalue route when its round-off estimate is at most this fraction of
#: ||mu_1 - mu_2||^2 + tr Sigma_1 + tr Sigma_2; above it (singular or nearly singular Sigma_1 Sigma_2) it takes
#: the QR route, accurate to ~eps.
FD_EIGEN_RTOL = 1e-10

#: The most subsets :func:`kid` draws (a ValueError above: bounded work).
MAX_KID_SUBSETS = 100_000

#: MMD settings published with a metric. ``mmd(real, fake, preset=name)`` uses them.
#: cmmd: Jayasumana et al., "Rethinking FID: Towards a Better Evaluation Metric for Image Generation" (CVPR 2024):
#: rbf kernel exp(-|x - y|^2 / (2 sigma^2)) with sigma = 10, the biased (all pairs) estimator, times 1000.
MMD_PRESETS = MappingProxyType(
    {
        "cmmd": MappingProxyType({"kernel": "rbf", "bandwidth": 10.0, "unbiased": False, "scale": 1000.0}),
    }
)


# ----------------------------------------------------------------------------------------------------------
# Gaussian fits
# ----------------------------------------------------------------------------------------------------------


def _chunk_rows(d: int) -> int:
    return max(1, CHUNK_BYTES // (8 * d))


def _check_min_rows(X, name: str, minimum: int, why: str):
    if X.shape[0] < minimum:
        raise ValueError(f"{name}: needs at least {minimum} rows {why}, got {X.shape[0]}")


def _float64_chunks(X, scale: float = 1.0, min_rows: int = 1):
    """Consecutive blocks of rows of ``X * scale`` as new float64 arrays (CHUNK_BYTES each, >= ``min_rows`` rows)."""
    xp = array_namespace(X)
    n, d = X.shape
    rows = max(_chunk_rows(d), min_rows)
    for start in range(0, n, rows):
        C = X[start : start + rows].astype(xp.float64)
        if scale != 1.0:
            C *= scale
        yield C


def _kernel_diagonal_chunked(spec, X):
    """k(x_i, x_i) of every row in float64, a chunk of rows at a time (no float64 copy of the whole of X)."""
    return array_namespace(X).concatenate([kernel_diagonal(spec, C) for C in _float64_chunks(X)])


def _mean(X, scale: float = 1.0):
    """The mean of the rows of ``X * scale``, accumulated in float64 over chunks."""
    xp = array_namespace(X)
    total = xp.zeros(X.shape[1], dtype=xp.float64)
    for C in _float64_chunks(X, scale):
        total += C.sum(axis=0)
    return total / X.shape[0]


def fd_moments(engine, X, scale: float = 1.0):
    """(mean, covariance) of the rows of ``X * scale`` in float64; the covariance divided by n - 1.

    Two passes over chunks of rows, each chunk copied to float64 (memory O(chunk x d + d^2), never a float64 copy
    of X): the mean, then X^T X of the rows centered by that mean (``engine.column_gram``, float64 products, so
    float32 inputs lose nothing). Centring first avoids the cancellation of sum x x^T - n mu mu^T; the rounding
    left in the centered rows (their mean delta, ~eps |mu|) is removed exactly by the corrected two-pass formula
    sum z z^T - n delta delta^T (Chan, Golub & LeVeque 1983). ``scale`` (a power of two, exact) keeps the products
    of huge or tiny embeddings inside float64's range.
    """
    xp = array_namespace(X)
    n, d = X.shape
    mean = _mean(X, scale)
    gram = xp.zeros((d, d), dtype=xp.float64)
    residual = xp.zeros(d, dtype=xp.float64)
    for C in _float64_chunks(X, scale):
        C -= mean
        residual += C.sum(axis=0)
        gram += engine.column_gram(xp.ascontiguousarray(C))
    residual /= n
    cov = (gram - n * xp.outer(residual, residual)) / (n - 1)
    return mean + residual, (cov + cov.T) / 2


def _centered_factor(X, scale: float = 1.0):
    """(mean, R) of the rows of ``X * scale`` in float64: R upper triangular, min(n, d) x d, R^T R = Z^T Z.

    Z are the rows centered by the mean, so the unbiased covariance is R^T R / (n - 1), but it is never formed:
    R comes from QR factorisations of chunks of Z stacked under the R so far (a streaming "tall and skinny" QR;
    memory O(chunk x d + d^2)). A QR is backward stable: R is the exact factor of Z + E with |E| ~ eps |Z|, so
    quantities taken from R (the singular values in :func:`fd`) carry errors ~ eps |Z|, where the eigenvalues of
    a formed Z^T Z would carry eps |Z|^2 and their square roots sqrt(eps) |Z|. The rounding of the mean is
    removed by a second centering (the mean delta of the centered rows, ~eps |mu|), as in :func:`_moments`.
    """
    xp = array_namespace(X)
    n, d = X.shape
    mean = _mean(X, scale)
    residual = xp.zeros(d, dtype=xp.float64)
    for C in _float64_chunks(X, scale):
        residual += (C - mean).sum(axis=0)
    mean = mean + residual / n
    R = xp.zeros((0, d), dtype=xp.float64)
    # every QR also carries the d rows of R so far: chunks of >= d rows keep that overhead <= 2x
    for C in _float64_chunks(X, scale, min_rows=d):
        C -= mean
        R = xp.linalg.qr(xp.concatenate([R, C]), mode="r")
    return mean, R


def _eigh(A, name: str, vectors: bool = True):
    xp = array_namespace(A)
    return linalg_call(xp.linalg.eigh if vectors else xp.linalg.eigvalsh, A, name)


def _trace_sqrt_product(sigma1, sigma2, names=("sigma1", "sigma2")):
    """tr sqrt(sigma1 sigma2) = sum_i sqrt(lambda_i(sigma1 sigma2)) for symmetric PSD sigma1, sigma2 (float64).

    The eigenvalues of sigma1 sigma2 are those of the symmetric PSD matrix sigma1^(1/2) sigma2 sigma1^(1/2)
    (similar matrices when sigma1 is invertible, and the same non-zero eigenvalues always). With
    sigma1 = V diag(w) V^T that matrix is V D (V^T sigma2 V) D V^T, D = diag(sqrt(w)), whose eigenvalues are those of
    D (V^T sigma2 V) D: one eigh, one eigvalsh, no general (non-symmetric) eigensolver and no complex round-off.
    Round-off negatives of w and lambda are clipped to 0. ``names``: the arguments that solver failures name.

    Returns (trace, eigenvalues of sigma1, error estimate). Each lambda carries a round-off eta of a few eps
    max(lambda) (from the matrices and the eigensolvers), or of what the most negative lambda shows, so the
    estimate is sum_i sqrt(lambda_i + eta) - sqrt(lambda_i): eta / (2 sqrt(lambda_i)) for large lambda_i, and
    sqrt(eta) for each lambda_i that should be 0 (singular products).
    """
    xp = array_namespace(sigma1)
    w, V = _eigh(sigma1, names[0])
    root = xp.sqrt(xp.clip(w, 0.0, None))
    B = V.T @ sigma2 @ V
    B = root[:, None] * ((B + B.T) / 2) * root[None, :]
    lam = _eigh(B, names[1], vectors=False)
    # round-off of each lambda: a few eps |B|, or what the round-off negatives (which should be >= 0) show
    eta = max(8 * float(np.finfo(np.float64).eps) * to_float(lam.max()), -2.0 * to_float(lam.min()), 0.0)
    lam = xp.clip(lam, 0.0, None)
    roots = xp.sqrt(lam)
    error = to_float((xp.sqrt(lam + eta) - roots).sum())
    return to_float(roots.sum()), w, error


def _frechet(mu1, sigma1, mu2, sigma2, names=("sigma1", "sigma2")):
    """(||mu1 - mu2||^2 + tr sigma1 + tr sigma2 - 2 tr sqrt(sigma1 sigma2), eigenvalues of sigma1, error estimate of
    the trace term, ||mu1 - mu2||^2 + tr sigma1 + tr sigma2), float64."""
    xp = array_namespace(sigma1)
    trace_sqrt, w1, error = _trace_sqrt_product(sigma1, sigma2, names)
    diff = mu1 - mu2
    terms = to_float(diff @ diff) + to_float(xp.trace(sigma1)) + to_float(xp.trace(sigma2))
    return terms - 2.0 * trace_sqrt, w1, 2.0 * error, terms


def _finite_result(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{what}: the result overflows float64 (|embeddings| too large?); rescale the embeddings")
    return value


def fd(real, fake, *, backend=None) -> Score:
    r"""Fréchet distance between Gaussian fits of two embedding sets (the FID formula; Heusel et al. 2017).

    FD = ||mu_1 - mu_2||^2 + tr Sigma_1 + tr Sigma_2 - 2 sum_i sqrt(lambda_i(Sigma_1 Sigma_2)),

    the squared 2-Wasserstein distance between N(mu_1, Sigma_1) and N(mu_2, Sigma_2) (Dowson & Landau 1982), with
    mu, Sigma the sample mean and covariance of ``real`` and ``fake``. On Inception-v3 pool features this is FID;
    any embedding (CLIP, DINOv2, ...) works alike. Symmetric in its arguments.

    Parameters
    ----------
    real : array (n, d) or Reference
        n >= 2. A :class:`genmetrics.Reference` reuses its mean and covariance (same numbers).
    fake : array (m, d)
        m >= 2.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    float
        >= 0 (a round-off negative is returned as 0.0).

    Notes
    -----
    Conventions, as pytorch-fid (``np.cov``) and torchmetrics' ``FrechetInceptionDistance``: the unbiased
    covariance (divided by n - 1), everything in float64 (float32 inputs are converted exactly).

    Two routes to tr sqrt(Sigma_1 Sigma_2), chosen by accuracy:

    - Eigenvalues (fast; when n, m > d): the covariances are accumulated over chunks of rows, centered first (see
      ``_moments``: no sum x x^T - n mu mu^T cancellation, memory O(chunk x d + d^2)); the eigenvalues of
      Sigma_1 Sigma_2 are those of the symmetric positive semi-definite Sigma_1^(1/2) Sigma_2 Sigma_1^(1/2)
      (``eigh``, round-off negatives clipped to 0). Each eigenvalue carries a round-off eta ~ eps |Sigma|^2, which
      its square root turns into eta / (2 sqrt(lambda)), but into sqrt(eta) ~ sqrt(eps) |Sigma| for an eigenvalue
      that should be 0. That estimate, summed, is computed; the route is kept when it is at most
      ``FD_EIGEN_RTOL`` (1e-10) times ||mu_1 - mu_2||^2 + tr Sigma_1 + tr Sigma_2.
    - QR (otherwise: n <= d or m <= d, constant or linearly dependent features, nearly singular products): the
      covariances are never formed. With Z_1, Z_2 the centered rows and their QR factors Z_1 = Q_1 R_1,
      Z_2 = Q_2 R_2, Sigma_1 = R_1^T R_1 / (n - 1) and Sigma_2 = R_2^T R_2 / (m - 1), and the non-zero eigenvalues
      of Sigma_1 Sigma_2 are the squared singular values of R_1 R_2^T / sqrt((n - 1)(m - 1)), so

          tr sqrt(Sigma_1 Sigma_2) = ||R_1 R_2^T||_* / sqrt((n - 1)(m - 1))   (nuclear norm: sum of singular values),
          tr Sigma_1 = ||R_1||_F^2 / (n - 1),   tr Sigma_2 = ||R_2||_F^2 / (m - 1).

      QR and SVD are backward stable, so the singular values carry an absolute error ~ eps |Sigma|, with no square
      root of a round-off. R is accumulated over chunks of rows (a streaming QR, memory O(chunk x d + d^2)); the
      cost is 2 min(n, d)^2 max(n, d) flops per set at LAPACK's QR speed (several times a covariance when n > d).

    pytorch-fid (``scipy.linalg.sqrtm`` of Sigma_1 Sigma_2, 1e-6 added to the diagonals when that fails),
    torchmetrics (``eigvals`` of Sigma_1 Sigma_2) and genmetrics 0.1 (``eigh`` always) take square roots of the
    eigenvalues of formed covariance products, with errors up to d sqrt(eps) |Sigma| on singular products.
    Measured on scikit-learn's digits (64 features; two halves, two classes, 30 or 40 rows each) against a 50-digit
    mpmath evaluation of the same formula: absolute errors 2e-14 to 9e-13 here, 3e-10 to 1.6e-5 with ``eigh``,
    1e-11 to 2e-5 with pytorch-fid's ``sqrtm`` (tests/test_distances.py checks 1e-11 relative to the terms).
    :func:`frechet_from_statistics` has only the covariances and keeps the eigenvalue route, with its
    sqrt(eps) |Sigma| error on singular products.

    Magnitudes: the sets are multiplied by a power of two (exact) that brings them near 1 and the result is
    scaled back, so embeddings from ~1e-300 to ~1e300 work; a result beyond float64's range (|x| ~ 1e160 and
    more apart) is a ValueError naming ``real``.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> real = np.random.default_rng(0).normal(size=(200, 16))
    >>> fake = np.random.default_rng(1).normal(size=(150, 16)) + 0.5
    >>> print(f"{gm.fd(real, fake):.3f}")
    5.201
    >>> print(f"{gm.fd(real, real):.3f}")
    0.000
    """
    reference = as_reference(real)
    engine = get_backend(backend, real, fake)
    real, fake = check_pair(real, fake, "real", "fake", device=engine.device)
    _check_min_rows(real, "real", 2, "for a covariance")
    _check_min_rows(fake, "fake", 2, "for a covariance")
    n, m = real.shape[0], fake.shape[0]
    info = dict(metric="fd", backend=engine.name, n=n, m=m)
    scale = power_of_two_scale(real, fake)
    if min(n, m) > real.shape[1]:  # the covariances may be invertible: try the fast route first
        mu1, sigma1 = _real_moments(engine, real, scale, reference)
        mu2, sigma2 = fd_moments(engine, fake, scale)
        value, _, error, terms = _frechet(mu1, sigma1, mu2, sigma2, ("real", "fake"))
        if error <= FD_EIGEN_RTOL * terms:
            return Score(_scaled_back(value, scale), **info)
    # (nearly) singular Sigma_1 Sigma_2: from QR factors of the centered rows (see the Notes)
    mu1, R1 = _centered_factor(real, scale)
    mu2, R2 = _centered_factor(fake, scale)
    xp = array_namespace(R1)
    singular_values = linalg_call(xp.linalg.svd, R1 @ R2.T, "real", compute_uv=False)
    trace_sqrt = to_float(singular_values.sum()) / math.sqrt((n - 1) * (m - 1))
    diff = mu1 - mu2
    value = (
        to_float(diff @ diff)
        + to_float((R1 * R1).sum()) / (n - 1)
        + to_float((R2 * R2).sum()) / (m - 1)
        - 2.0 * trace_sqrt
    )
    return Score(_scaled_back(value, scale), **info)


def _real_moments(engine, real, scale: float, reference):
    """The real set's moments: a Reference's (computed once per engine and scale), else computed now."""
    if reference is not None:
        return reference.moments(engine, scale, fd_moments)
    return fd_moments(engine, real, scale)


def _scaled_back(value: float, scale: float) -> float:
    """An FD of sets multiplied by ``scale``, in the units of the sets; >= 0, finite or a ValueError."""
    value = value / scale / scale  # scale * scale itself could under- or overflow
    return max(_finite_result(value, "real"), 0.0)


def _statistics(mu, sigma, mu_name, sigma_name, xp):
    device = None if xp is np else "gpu"
    mu = as_real_array(mu, mu_name, device=device).astype(xp.float64)
    sigma = as_real_array(sigma, sigma_name, device=device).astype(xp.float64)
    if mu.ndim != 1 or mu.shape[0] == 0:
        raise ValueError(f"{mu_name}: expected a non-empty 1-D mean vector, got shape {tuple(mu.shape)}")
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise ValueError(f"{sigma_name}: expected a ({d}, {d}) covariance matching {mu_name}, got {tuple(sigma.shape)}")
    if not bool(xp.all(xp.isfinite(mu))):
        raise ValueError(f"{mu_name}: contains NaN or infinite values")
    if not bool(xp.all(xp.isfinite(sigma))):
        raise ValueError(f"{sigma_name}: contains NaN or infinite values")
    largest = to_float(xp.abs(sigma).max())
    if to_float(xp.abs(sigma - sigma.T).max()) > 1e-6 * largest:
        raise ValueError(f"{sigma_name}: a covariance must be symmetric")
    return mu, sigma + (sigma.T - sigma) / 2  # symmetric; (sigma + sigma.T) / 2 could overflow near 1e308


def _check_psd(w, name, d, xp):
    largest = to_float(xp.abs(w).max())
    smallest = to_float(w.min())
    if smallest < -max(1e-6, 100 * d * float(np.finfo(np.float64).eps)) * largest:
        raise ValueError(
            f"{name}: has a negative eigenvalue {smallest:.3g} (largest {largest:.3g}); "
            "a covariance must be positive semi-definite"
        )


def _covariance_factor(sigma, name: str, d: int):
    """L (d x r) with L L^T = sigma, from its eigenpairs, the eigenvalues at or below d eps max (round-off of a
    singular covariance) dropped."""
    xp = array_namespace(sigma)
    w, V = _eigh(sigma, name)
    keep = w > d * float(np.finfo(np.float64).eps) * to_float(w.max())
    return V[:, keep] * xp.sqrt(w[keep])[None, :]


def _trace_sqrt_from_factors(sigma1, sigma2, d: int) -> float:
    """tr sqrt(sigma1 sigma2) = ||L1^T L2||_* (nuclear norm) for sigma_i = L_i L_i^T: singular values carry an
    error ~ eps |sigma|, where square roots of the product's eigenvalues carry sqrt(eps) |sigma| on singular
    products (the samples' QR route of :func:`fd`, here on factors of the statistics)."""
    xp = array_namespace(sigma1)
    L1, L2 = _covariance_factor(sigma1, "sigma1", d), _covariance_factor(sigma2, "sigma2", d)
    if L1.shape[1] == 0 or L2.shape[1] == 0:
        return 0.0
    return to_float(linalg_call(xp.linalg.svd, L1.T @ L2, "sigma1", compute_uv=False).sum())


def frechet_from_statistics(mu1, sigma1, mu2, sigma2) -> Score:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), from the statistics themselves.

    ||mu1 - mu2||^2 + tr sigma1 + tr sigma2 - 2 sum sqrt(eig(sigma1 sigma2)), computed as in :func:`fd` (float64,
    symmetric eigensolver, round-off negatives clipped to 0; a round-off negative result is returned as 0.0).
    For precomputed statistics, e.g. the ``mu``/``sigma`` of pytorch-fid's ``.npz`` files.

    Parameters
    ----------
    mu1, mu2 : array (d,)
    sigma1, sigma2 : array (d, d)
        Symmetric (to 1e-6 of the largest entry) positive semi-definite (up to round-off: an eigenvalue below
        -max(1e-6, 100 d eps) times the largest is an error). NumPy or CuPy arrays of real numbers: complex,
        string, datetime, structured and object arrays, and masked arrays with masked entries, are TypeErrors
        (``genmetrics.support.validation.as_real_array``); NaN/inf are ValueErrors.

    Notes
    -----
    Accuracy: the eigenvalues of sigma1 sigma2 carry a round-off eta ~ eps |sigma|^2, and the square root of one
    that should be 0 is sqrt(eta) ~ sqrt(eps) |sigma| ~ 1e-8 |sigma|. When that error estimate is above
    ``FD_EIGEN_RTOL`` of the result's terms (singular products: statistics of n <= d samples, constant features),
    the trace term is taken instead as the nuclear norm of L1^T L2, sigma_i = L_i L_i^T from the eigenpairs with
    the eigenvalues at or below d eps max dropped (round-off of a singular covariance): errors ~ eps |sigma|.
    Measured on scikit-learn's digits and random n <= d sets: within 2e-12 of :func:`fd` (which has the samples),
    where the square roots of eigenvalues were off by 4e-6 to 2e-5 and pytorch-fid's sqrtm by 1e-10 to 4e-5.
    A solver that does not converge is a ValueError naming the argument.
    """
    xp = array_namespace(mu1, sigma1, mu2, sigma2)
    mu1, sigma1 = _statistics(mu1, sigma1, "mu1", "sigma1", xp)
    mu2, sigma2 = _statistics(mu2, sigma2, "mu2", "sigma2", xp)
    if mu2.shape != mu1.shape:
        raise ValueError(f"mu2: has {mu2.shape[0]} features but mu1 has {mu1.shape[0]}")
    d = mu1.shape[0]
    # a power of two (exact) keeps the products of the square-root form in range for huge or tiny statistics
    scale = power_of_two_scale(mu1, mu2, xp.sqrt(xp.abs(sigma1)), xp.sqrt(xp.abs(sigma2)))
    # sigma * scale * scale, not sigma * scale^2: scale^2 alone can overflow (subnormal sigmas need 2^1000+)
    sigma1, sigma2 = sigma1 * scale * scale, sigma2 * scale * scale
    value, w1, error, terms = _frechet(mu1 * scale, sigma1, mu2 * scale, sigma2)
    if error > FD_EIGEN_RTOL * terms:  # a (nearly) singular product: its square roots from factors instead
        value = terms - 2.0 * _trace_sqrt_from_factors(sigma1, sigma2, d)
    value = value / scale / scale
    # on the scaled matrices: eigenvalues of a covariance near 1e308 can exceed float64
    _check_psd(w1, "sigma1", d, xp)
    _check_psd(_eigh(sigma2, "sigma2", vectors=False), "sigma2", d, xp)
    return Score(max(_finite_result(value, "mu1, sigma1"), 0.0), metric="fd", method="statistics")


# ----------------------------------------------------------------------------------------------------------
# KL divergence between Gaussian fits
# ----------------------------------------------------------------------------------------------------------


def _singular_rtol(d: int) -> float:
    """Eigenvalues of a float64 covariance below this fraction of the largest are round-off: the matrix is singular."""
    return max(1e-12, 4 * d * float(np.finfo(np.float64).eps))


def singular_error(name, n: int, d: int, w, ridge, scale):
    """The ValueError for a singular covariance of ``n`` samples in ``d`` features; ``w`` its eigenvalues in the
    units of the scaled sets (or None)."""
    why = (
        f"it has {n} samples for {d} features, so its covariance has rank <= n - 1 < d"
        if n <= d
        else "its covariance is singular to float64 precision (constant, duplicated or linearly dependent features)"
    )
    largest = to_float(w.max()) / scale / scale if w is not None else 0.0
    example = f", e.g. ridge={1e-6 * largest:.3g}" if 1e-6 * largest > 0 else ""
    remedy = (
        f"pass a ridge larger than {ridge:g}{example}"
        if ridge > 0
        else f"pass ridge > 0 (added to both covariance diagonals{example})"
    )
    return ValueError(f"{name}: {why}; the Gaussian KL divergence needs invertible covariances: {remedy}")


def gaussian_kl_from_moments(mu_p, sigma_p, mu_q, sigma_q, *, ridge: float, scale: float, n_p: int, n_q: int) -> float:
    """KL(N(mu_p, sigma_p) || N(mu_q, sigma_q)) as :func:`gaussian_kl` evaluates it, from float64 moments of sets
    multiplied by ``scale`` (a power of two; errors quote the ridge in the caller's units) of ``n_p`` (fake, P) and
    ``n_q`` (real, Q) samples: 1/2 [sum (lambda - 1 - ln lambda) + |V^T (mu_q - mu_p)|^2_{w^-1}], lambda the
    eigenvalues of sigma_q^-1/2 sigma_p sigma_q^-1/2 (w, V: the eigenpairs of sigma_q). Shared with the streamed
    moments of :class:`genmetrics.Accumulator`."""
    xp = array_namespace(sigma_p)
    d = mu_p.shape[0]
    if ridge:
        eye = xp.eye(d, dtype=xp.float64) * (ridge * scale * scale)
        sigma_p, sigma_q = sigma_p + eye, sigma_q + eye
    if not (bool(xp.all(xp.isfinite(sigma_p))) and bool(xp.all(xp.isfinite(sigma_q)))):
        raise ValueError("ridge: too large, the covariances overflow float64")
    rtol = _singular_rtol(d)
    w_p = _eigh(sigma_p, "fake", vectors=False)
    if not to_float(w_p.min()) > rtol * to_float(w_p.max()):
        raise singular_error("fake", n_p, d, w_p, ridge, scale)
    w_q, V = _eigh(sigma_q, "real")
    if not to_float(w_q.min()) > rtol * to_float(w_q.max()):
        raise singular_error("real", n_q, d, w_q, ridge, scale)
    inv_root = 1.0 / xp.sqrt(w_q)
    B = V.T @ sigma_p @ V
    B = inv_root[:, None] * ((B + B.T) / 2) * inv_root[None, :]
    lam = _eigh(B, "fake", vectors=False)
    if not to_float(lam.min()) > 0:
        raise singular_error("fake", n_p, d, w_p, ridge, scale)
    excess = lam - 1.0
    trace_terms = to_float(xp.clip(excess - xp.log1p(excess), 0.0, None).sum())
    t = V.T @ (mu_q - mu_p)
    mahalanobis = to_float((t * t / w_q).sum())
    return _finite_result(0.5 * (trace_terms + mahalanobis), "fake")


def gaussian_kl(real, fake, *, ridge=0.0, backend=None) -> Score:
    r"""KL(P || Q) between the Gaussian fits P = N(mu_p, Sigma_p) of ``fake`` and Q = N(mu_q, Sigma_q) of ``real``.

    KL(P || Q) = 1/2 [ tr(Sigma_q^-1 Sigma_p) + (mu_q - mu_p)^T Sigma_q^-1 (mu_q - mu_p) - d
                       + ln det Sigma_q - ln det Sigma_p ],

    the closed form behind the VAE regulariser KL(N(mu, diag s^2) || N(0, I)) (Kingma & Welling 2014, appendix B),
    here with full covariances.
    ``real`` is the **reference** distribution Q: the expectation is taken under P, the fit of ``fake``
    (KL(P || Q) = E_P[log(p(x) / q(x))]), and Q's density is in the denominator, as the prior N(0, I) is in the
    VAE term. Not symmetric: ``gaussian_kl(real, fake)`` is KL(fake || real); swap the arguments for
    KL(real || fake).

    Parameters
    ----------
    real : array (n, d) or Reference
        A :class:`genmetrics.Reference` reuses its mean and covariance (same numbers).
        The reference set (Q).
    fake : array (m, d)
        The generated set (P). Both need invertible covariances: more samples than features (n, m > d) and no
        constant or linearly dependent features, or ``ridge`` > 0.
    ridge : float >= 0, default 0.0
        Added to the diagonals of both covariances (in the units of the embeddings squared) before anything
        else: Sigma + ridge I. Singular covariances raise a ValueError that suggests it.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
        None: chosen from where the arrays live and ``GENMETRICS_BACKEND``.

    Returns
    -------
    Score
        >= 0; 0 for identical sets.

    Notes
    -----
    Means and unbiased (n - 1) covariances as in :func:`fd`, in float64. The formula is evaluated as
    1/2 [ sum_i (lambda_i - 1 - ln lambda_i) + |V^T (mu_q - mu_p)|^2_{w^-1} ], with Sigma_q = V diag(w) V^T and
    lambda the eigenvalues of Sigma_q^(-1/2) Sigma_p Sigma_q^(-1/2) (the generalised eigenvalues of the pair):
    every term is >= 0, so the large log-determinants never cancel each other. A covariance is singular when its
    smallest eigenvalue is below max(1e-12, 4 d eps) times its largest (eps of float64).
    """
    reference = as_reference(real)
    engine = get_backend(backend, real, fake)
    ridge = check_nonnegative(ridge, "ridge")
    real, fake = check_pair(real, fake, "real", "fake", device=engine.device)
    _check_min_rows(fake, "fake", 2, "for a covariance")  # P first, then the reference Q
    _check_min_rows(real, "real", 2, "for a covariance")
    d = fake.shape[1]
    for name, X in (("fake", fake), ("real", real)):
        if ridge == 0 and X.shape[0] <= d:
            raise singular_error(name, X.shape[0], d, None, ridge, 1.0)
    scale = power_of_two_scale(fake, real)
    mu_p, sigma_p = fd_moments(engine, fake, scale)
    mu_q, sigma_q = _real_moments(engine, real, scale, reference)
    value = gaussian_kl_from_moments(
        mu_p, sigma_p, mu_q, sigma_q, ridge=ridge, scale=scale, n_p=fake.shape[0], n_q=real.shape[0]
    )
    return Score(
        value,
        metric="gaussian_kl",
        backend=engine.name,
        n=real.shape[0],
        m=fake.shape[0],
        details={"ridge": ridge},
    )


# ----------------------------------------------------------------------------------------------------------
# MMD and KID: fused kernel sums
# ----------------------------------------------------------------------------------------------------------


def _kernel_sums(engine, spec, X, Y, x_name="real", y_name="fake"):
    """(sum k(x, x'), sum k(y, y'), sum k(x, y)) over all pairs, float64, from the fused row sums (no n x m matrix)."""
    xx = to_float(check_finite_result(row_sums_checked(engine, spec, X, None, 1.0).sum(), spec, x_name))
    yy = to_float(check_finite_result(row_sums_checked(engine, spec, Y, None, 1.0).sum(), spec, y_name))
    xy = to_float(check_finite_result(row_sums_checked(engine, spec, X, Y, 1.0).sum(), spec, y_name))
    return xx, yy, xy


def _mmd2(engine, spec, X, Y, unbiased: bool) -> float:
    """Biased (V) or unbiased (U) MMD^2 from the three kernel sums; U drops the diagonals of K_XX and K_YY."""
    n, m = X.shape[0], Y.shape[0]
    xx, yy, xy = _kernel_sums(engine, spec, X, Y)
    if not unbiased:
        return xx / (n * n) + yy / (m * m) - 2.0 * xy / (n * m)
    trace_x = to_float(kernel_diagonal(spec, X).sum())
    trace_y = to_float(kernel_diagonal(spec, Y).sum())
    return (xx - trace_x) / (n * (n - 1)) + (yy - trace_y) / (m * (m - 1)) - 2.0 * xy / (n * m)


_UNSET_DEFAULTS = {"kernel": "rbf", "unbiased": False, "scale": 1.0}


def _resolve_preset(preset, kernel, bandwidth, unbiased, scale):
    """The effective (kernel, bandwidth, unbiased, scale): the arguments, else the preset's, else the defaults."""
    given = {"kernel": kernel, "bandwidth": bandwidth, "unbiased": unbiased, "scale": scale}
    if preset is None:
        return tuple(_UNSET_DEFAULTS.get(k) if v is None else v for k, v in given.items())
    preset = check_choice(preset, "preset", tuple(MMD_PRESETS))
    table = MMD_PRESETS[preset]
    for name, value in given.items():
        if value is None:
            continue
        wanted = table[name]
        if name == "kernel":
            same = check_kernel(value) == check_kernel(wanted)
        elif name == "unbiased":
            same = check_bool(value, name) == wanted
        else:
            same = check_positive(value, name) == float(wanted)
        if not same:
            raise ValueError(
                f"{name}: {value!r} conflicts with preset={preset!r}, which sets {name}={wanted!r}; drop one of the two"
            )
    return tuple(table[k] for k in given)


def mmd(
    real, fake, *, kernel=None, bandwidth=None, unbiased=None, scale=None, preset=None, backend=None, **kernel_params
) -> Score:
    r"""Squared maximum mean discrepancy between two embedding sets (Gretton et al., JMLR 2012).

    MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y), x, x' ~ real, y, y' ~ fake, estimated by

    - biased (V-statistic, ``unbiased=False``, the default): the means over all pairs, i = j included:
      (1/n^2) sum_ij k(x_i, x_j) + (1/m^2) sum_ij k(y_i, y_j) - (2/(n m)) sum_ij k(x_i, y_j). >= 0 for a positive
      definite kernel; the CMMD convention.
    - unbiased (U-statistic, ``unbiased=True``): the within-set means without the diagonal,
      (1/(n(n-1))) sum_{i != j} k(x_i, x_j) + (1/(m(m-1))) sum_{i != j} k(y_i, y_j) - (2/(n m)) sum_ij k(x_i, y_j)
      (Gretton et al. eq. 3; the KID estimator of Binkowski et al. 2018 and torchmetrics). Can be negative.

    times ``scale``. The linear kernel's MMD^2 is homogeneous (c^2 for sets times c): sets whose products would
    over- or underflow are multiplied by a power of two first and the result divided by its square, so float32
    values from ~1e-38 to ~3e38 give the float64 answer; a result beyond float64's range, and a polynomial kernel
    that overflows, are ValueErrors naming the set. Computed from fused kernel row sums (the engine of
    :func:`genmetrics.kernel_sum`), O(n + m) memory, never an n x m matrix, with sums accumulated in float64;
    sum_{i != j} = sum_ij - sum_i k(x_i, x_i).
    Round-off can leave tiny negative values of either estimator for (nearly) identical sets.

    Parameters
    ----------
    real : array (n, d)
    fake : array (m, d)
    kernel : {"rbf" ("gaussian"), "laplacian", "polynomial", "cosine", "linear"}, default "rbf"
        Conventions of :mod:`genmetrics.engine.kernels`: rbf = exp(-|x - y|^2 / (2 bandwidth^2)).
    bandwidth : float, optional, default None
        sigma of rbf/laplacian. None: the median heuristic on ``real`` only (median Euclidean distance between
        distinct rows of a seeded subsample of at most 1000 rows of ``real``), reported back as ``.bandwidth``.
    unbiased : bool, default False
        The U-statistic instead of the V-statistic; needs n, m >= 2.
    scale : float > 0, default 1.0
        Multiplies the result (CMMD reports 1000 MMD^2).
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
    preset : {"cmmd"}, optional, default None
        A row of :data:`MMD_PRESETS`: ``"cmmd"`` = rbf, bandwidth 10, biased, scale 1000 (Jayasumana et al.,
        "Rethinking FID", CVPR 2024; meant for CLIP embeddings). An explicit ``kernel``/``bandwidth``/``unbiased``/
        ``scale`` that differs from the preset's is a ValueError (one that agrees is accepted). This is why
        ``kernel``, ``unbiased`` and ``scale`` are ``None`` in the signature: None means the default given above,
        or the preset's value, so an explicit ``scale=1.0`` is told apart from no argument.
    **kernel_params
        ``gamma``, ``coef0``, ``degree`` of the polynomial kernel.

    Returns
    -------
    Score
        A float whose ``.kernel``, ``.bandwidth`` (the sigma used), ``.method`` ("biased" or "unbiased"),
        ``.backend`` and ``.details["scale"]`` say how it was computed.
    """
    kernel, bandwidth, unbiased, scale = _resolve_preset(preset, kernel, bandwidth, unbiased, scale)
    unbiased = check_bool(unbiased, "unbiased")
    scale = check_positive(scale, "scale")
    name = check_kernel(kernel)
    engine = get_backend(backend, real, fake)
    real, fake = check_pair(real, fake, "real", "fake", device=engine.device)
    if unbiased:
        _check_min_rows(real, "real", 2, "for the unbiased estimator")
        _check_min_rows(fake, "fake", 2, "for the unbiased estimator")
    if name == "cosine":
        check_nonzero_rows(real, "real")
        check_nonzero_rows(fake, "fake")
    # linear: MMD^2(cX, cY) = c^2 MMD^2(X, Y), so sets whose products would over- or underflow (float32 beyond
    # ~1e19 or below ~1e-19) are computed near 1 (c a power of two, exact) and the result scaled back in float64
    units = power_of_two_scale(real, fake) if name == "linear" else 1.0
    if units != 1.0:
        real, fake = real * units, fake * units  # new arrays
    # real and fake together: rbf/laplacian shift both by real's mean (and the bandwidth comes from real)
    spec, engine_spec, X, Y = kernel_inputs(real, fake, name, bandwidth, kernel_params, device=engine.device)
    value = scale * _mmd2(engine, engine_spec, X, Y, unbiased) / units / units
    return Score(
        _finite_result(value, "real"),
        metric="mmd",
        kernel=spec.name,
        bandwidth=spec.bandwidth,
        method="unbiased" if unbiased else "biased",
        backend=engine.name,
        n=real.shape[0],
        m=fake.shape[0],
        details={"scale": scale},
    )


def _mean_std(values):
    """(mean, population std) of finite float64 ``values`` without overflow: values near 1e154 and above have
    squares beyond float64, so they are divided by a power of two near their largest magnitude first (exact)."""
    largest = float(np.abs(values).max())
    scale = 1.0 if largest < 2.0**500 else math.ldexp(1.0, -math.frexp(largest)[1])
    scaled = values * scale
    return float(scaled.mean()) / scale, float(scaled.std()) / scale


#: KID subsets prepared and reduced per engine call (64 pairs of 1,000 x 2,048 float32: 1 GB)
KID_BATCH = 32


def kid(real, fake, *, subsets=100, subset_size=1000, degree=3, gamma=None, coef0=1.0, seed=0, backend=None) -> KID:
    r"""Kernel inception distance (Binkowski, Sutherland, Arbel & Gretton, ICLR 2018), on any embedding.

    The unbiased MMD^2 (see :func:`mmd`) with the polynomial kernel k(x, y) = (gamma x.y + coef0)^degree,
    averaged over ``subsets`` random subsets of ``subset_size`` rows of each set:

        KID_s = (1/(s(s-1))) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] - (2/s^2) sum_ij k(x_i, y_j)

    (the cross term over all s^2 pairs, as Binkowski et al.'s code and torchmetrics).

    Parameters
    ----------
    real : array (n, d)
    fake : array (m, d)
    subsets : int, 1 <= subsets <= MAX_KID_SUBSETS (100,000), default 100
        100 by convention (torchmetrics, torch-fidelity). The cap bounds the work (each subset costs
        O(subset_size^2 d)); more subsets than that refine nothing a user can see.
    subset_size : int, 2 <= subset_size <= min(n, m), default 1000
        1000 by convention. Larger than a set is a ValueError (as torchmetrics), never clamped.
    degree : int, default 3
    gamma : float > 0, optional, default None
        Default 1/d.
    coef0 : float, default 1.0
    seed : int >= 0, default 0
        Subset draws: ``rng = numpy.random.default_rng(seed)``, then for each subset
        ``rng.permutation(n)[:subset_size]`` for ``real`` and ``rng.permutation(m)[:subset_size]`` for ``fake``
        (without replacement within a subset, independent across subsets: torchmetrics' ``randperm`` per subset).
        The result is deterministic for a seed, and the same on every backend.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    KID
        ``mean`` and ``std`` of the per-subset values (``values``, float64, in draw order), with the parameters
        (``gamma`` resolved). ``std`` is the population standard deviation (ddof = 0), as torchmetrics'
        ``kid_scores.std(unbiased=False)`` and torch-fidelity's ``np.std``. Both are computed on the values
        divided by a power of two near the largest when that is above 2^500, so that the squares of the std
        cannot overflow (both stay finite whenever the values are).

    Notes
    -----
    Each subset costs three fused kernel reductions (O(s^2 d), O(s) memory), no Python loops over pairs.
    """
    subsets = check_int(subsets, "subsets", low=1, high=MAX_KID_SUBSETS)
    subset_size = check_int(subset_size, "subset_size", low=2)
    seed = check_int(seed, "seed", low=0)
    engine = get_backend(backend, real, fake)
    real, fake = check_pair(real, fake, "real", "fake", device=engine.device)
    _check_min_rows(real, "real", 2, "for KID's unbiased estimator")
    _check_min_rows(fake, "fake", 2, "for KID's unbiased estimator")
    n, m = real.shape[0], fake.shape[0]
    for name, rows in (("real", n), ("fake", m)):
        if subset_size > rows:
            raise ValueError(
                f"subset_size: {subset_size} is larger than the {rows} rows of {name}; pass subset_size <= {min(n, m)}"
            )
    spec = resolve_kernel("polynomial", real, gamma=gamma, coef0=coef0, degree=degree)
    xp = array_namespace(real)
    rng = np.random.default_rng(seed)
    draws = [(rng.permutation(n)[:subset_size], rng.permutation(m)[:subset_size]) for _ in range(subsets)]
    values = np.empty(subsets, dtype=np.float64)
    # k(x, x) of every row once (a subset's trace is the sum of its rows' values, the same numbers in the same
    # order as from the subset itself), not once per subset: that was a third of KID's time at d = 2,048
    diagonal_real, diagonal_fake = (_kernel_diagonal_chunked(spec, A) for A in (real, fake))
    # the subsets' kernel sums in batches (one engine call each, which runs the small reductions side by side),
    # so that at most KID_BATCH subset pairs are held at once; their rows are gathered into buffers allocated
    # once, not into a new array (8 MB at d = 2,048) a subset
    batch = min(KID_BATCH, subsets)
    gathered = [
        (xp.empty((subset_size, real.shape[1]), real.dtype), xp.empty((subset_size, fake.shape[1]), fake.dtype))
        for _ in range(batch)
    ]
    for start in range(0, subsets, batch):
        tasks, traces = [], []
        for (rows_real, rows_fake), (real_rows, fake_rows) in zip(draws[start : start + batch], gathered):
            rows_real, rows_fake = xp.asarray(rows_real), xp.asarray(rows_fake)
            xp.take(real, rows_real, axis=0, out=real_rows)
            xp.take(fake, rows_fake, axis=0, out=fake_rows)
            engine_spec, X, Y = prepare_inputs(spec, real_rows, fake_rows)
            tasks += [(X, None), (Y, None), (X, Y)]
            traces.append((to_float(diagonal_real[rows_real].sum()), to_float(diagonal_fake[rows_fake].sum())))
        sums = engine.kernel_sums(engine_spec, tasks).reshape(-1, 3)
        s = subset_size
        for t, ((xx, yy, xy), (trace_x, trace_y)) in enumerate(zip(sums, traces)):
            values[start + t] = (xx - trace_x) / (s * (s - 1)) + (yy - trace_y) / (s * (s - 1)) - 2.0 * xy / (s * s)
    if not np.all(np.isfinite(values)):
        raise ValueError("real: the polynomial kernel overflows for these values; rescale the embeddings")
    mean, std = _mean_std(values)
    return KID(
        mean=mean,
        std=std,
        subsets=subsets,
        subset_size=subset_size,
        degree=spec.degree,
        gamma=float(spec.gamma or 0.0),  # set for the polynomial kernel by resolve_kernel
        coef0=spec.coef0,
        seed=seed,
        values=values,
    )


# ----------------------------------------------------------------------------------------------------------
# FD extrapolated to infinite n, sliced Wasserstein, feature likelihood divergence
# ----------------------------------------------------------------------------------------------------------


def fd_infinity(real, fake, *, points=15, min_size=None, seed=0, backend=None) -> Score:
    r"""FD extrapolated to an infinite generated set, FD_inf (Chong & Forsyth, "Effectively Unbiased FID and
    Inception Score and where to find them", CVPR 2020).

    FD_N, the Fréchet distance (:func:`fd`) between the whole real set and N generated samples, has a bias that is
    linear in 1/N to first order: FD_N ~ FD_inf + c / N. It is computed at ``points`` sizes N_1 < ... < N_p, evenly
    spaced from ``min_size`` to m, each on a random subset of N_i generated rows drawn without replacement, and
    FD_inf is the intercept of the least-squares line of FD_N against 1/N:

        FD_inf = mean(FD) - slope * mean(1/N),  slope = cov(1/N, FD) / var(1/N).

    Parameters
    ----------
    real : array (n, d) or Reference
        n >= 2. A :class:`genmetrics.Reference` reuses its mean and covariance.
    fake : array (m, d)
        m >= 3.
    points : int, default 15
        Sizes at which FD_N is computed (dgm-eval's default 15), >= 2.
    min_size : int, optional, default None
        The smallest N; None: dgm-eval's rule min(5000, max(m // 10, 2)). At least 2, below m.
    seed : int >= 0, default 0
        The subsets: ``numpy.random.default_rng(seed).choice(m, N, replace=False)`` for each N in turn.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    Score
        FD_inf (it may be slightly negative for sets from one distribution: it is an extrapolation, not
        clipped), with ``details``: ``sizes`` (the N_i), ``values`` (the FD_N), ``slope``.

    Notes
    -----
    dgm-eval's ``compute_FD_infinity`` follows the same recipe (sizes ``np.linspace(min(5000, max(m // 10, 2)), m,
    15).astype(int)``, sklearn's ``LinearRegression`` on 1/N) but draws its subsets from an unseeded generator, so
    its value changes from run to run; here the draws are seeded. Each FD_N uses the real moments computed once
    and the accurate routes of :func:`fd`.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> real = np.random.default_rng(0).normal(size=(2000, 8))
    >>> fake = np.random.default_rng(1).normal(size=(2000, 8)) + 0.5
    >>> print(f"{gm.fd_infinity(real, fake, seed=0):.2f}", f"{gm.fd(real, fake):.2f}")  # population value 8 * 0.25 = 2
    1.92 1.90
    """
    reference = as_reference(real)
    points = check_int(points, "points", low=2)
    seed = check_int(seed, "seed", low=0)
    engine = get_backend(backend, real, fake)
    real, fake = check_pair(real, fake, "real", "fake", device=engine.device)
    _check_min_rows(real, "real", 2, "for a covariance")
    _check_min_rows(fake, "fake", 3, "for FD at two sizes")
    m = fake.shape[0]
    if min_size is None:
        min_size = min(5000, max(m // 10, 2))
    min_size = check_int(min_size, "min_size", low=2, high=m - 1)
    sizes = np.linspace(min_size, m, points).astype(np.int64)
    xp = array_namespace(fake)
    scale = power_of_two_scale(real, fake)
    d = real.shape[1]
    mu1, sigma1 = _real_moments(engine, real, scale, reference) if real.shape[0] > d else (None, None)
    rng = np.random.default_rng(seed)
    values = np.empty(points)
    for t, size in enumerate(sizes):
        rows = xp.asarray(np.sort(rng.choice(m, int(size), replace=False)))
        subset = fake[rows]
        value = None
        if mu1 is not None and size > d:
            mu2, sigma2 = fd_moments(engine, subset, scale)
            raw, _, error, terms = _frechet(mu1, sigma1, mu2, sigma2, ("real", "fake"))
            if error <= FD_EIGEN_RTOL * terms:
                value = _finite_result(raw / scale / scale, "real")
        if value is None:  # (nearly) singular: the QR route of fd
            value = float(fd(real if reference is None else reference, subset, backend=engine.name))
        values[t] = value
    inverse = 1.0 / sizes
    centered = inverse - inverse.mean()
    slope = float(centered @ (values - values.mean()) / (centered @ centered))
    intercept = float(values.mean() - slope * inverse.mean())
    return Score(
        intercept,
        metric="fd_infinity",
        backend=engine.name,
        n=real.shape[0],
        m=m,
        details={"sizes": sizes, "values": values, "slope": slope, "seed": seed},
    )


def _quantile_coupling(n: int, m: int):
    """(index into the sorted first set, index into the sorted second set, weight) of the pieces of the quantile
    functions of two uniform empirical measures of n and m atoms: F^-1(t) and G^-1(t) are constant on each piece."""
    t = np.union1d(np.arange(n + 1) / n, np.arange(m + 1) / m)  # the breakpoints, from 0 to 1
    middle = (t[:-1] + t[1:]) / 2
    return (
        np.minimum((middle * n).astype(np.int64), n - 1),
        np.minimum((middle * m).astype(np.int64), m - 1),
        np.diff(t),
    )


def sliced_wasserstein(real, fake, *, projections=50, p=2, seed=0, backend=None) -> Score:
    r"""Sliced Wasserstein distance (Deshpande, Zhang & Schwing, CVPR 2018; Bonneel et al. 2015).

    SW_p(P, Q) = ( E_theta W_p^p(theta#P, theta#Q) )^(1/p), theta uniform on the unit sphere, estimated with
    ``projections`` random directions theta_1..theta_L:

        SW_p = ( (1/L) sum_l integral_0^1 |F_l^-1(t) - G_l^-1(t)|^p dt )^(1/p),

    F_l^-1 and G_l^-1 the quantile functions of the projected sets (uniform weights), so that sets of different sizes
    are coupled exactly (for n = m: the sorted projections matched in order). Identical sets give 0; two Gaussians
    with one isotropic covariance and means delta apart give SW_2^2 -> E (theta . delta)^2 = |delta|^2 / d.

    Parameters
    ----------
    real : array (n, d)
    fake : array (m, d)
    projections : int >= 1, default 50
        Directions (POT's default ``n_projections=50``).
    p : float >= 1, default 2
    seed : int >= 0, default 0
        The directions are POT's for the same seed: ``numpy.random.RandomState(seed).randn(d, projections)`` with
        unit columns, so ``ot.sliced_wasserstein_distance(real, fake, n_projections=L, p=p, seed=seed)`` gives the
        same number (tests/test_more_metrics.py checks 1e-10).
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    Score
        SW_p, with ``details``: ``p``, ``projections``, ``seed``.

    Notes
    -----
    The projections X theta are one engine Gram pass (linear kernel, float64 inputs): O((n + m) d L) flops, O((n +
    m) L) memory; the 1-D transport is sorting, O((n + m) L log(n + m)).

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> real = np.random.default_rng(0).normal(size=(500, 4))
    >>> print(f"{gm.sliced_wasserstein(real, real):.1f}", f"{gm.sliced_wasserstein(real, real + 1.0):.2f}")
    0.0 0.93
    """
    projections = check_int(projections, "projections", low=1)
    p = check_positive(p, "p")
    if p < 1:
        raise ValueError(f"p: must be >= 1 (a Wasserstein order), got {p}")
    seed = check_int(seed, "seed", low=0)
    engine = get_backend(backend, real, fake)
    real, fake = check_pair(real, fake, "real", "fake", device=engine.device)
    xp = array_namespace(real)
    n, m, d = real.shape[0], fake.shape[0], real.shape[1]
    theta = np.random.RandomState(seed).randn(d, projections)
    theta /= np.sqrt((theta**2).sum(axis=0, keepdims=True))
    directions = xp.ascontiguousarray(xp.asarray(theta.T))  # (L, d)
    spec = resolve_kernel("linear", directions)
    a = xp.sort(engine.gram(spec, xp.ascontiguousarray(real.astype(xp.float64)), directions), axis=0)  # (n, L)
    b = xp.sort(engine.gram(spec, xp.ascontiguousarray(fake.astype(xp.float64)), directions), axis=0)
    ia, ib, w = _quantile_coupling(n, m)
    gaps = xp.abs(a[xp.asarray(ia)] - b[xp.asarray(ib)])  # (pieces, L)
    per_direction = xp.asarray(w) @ (gaps**p)
    value = to_float(per_direction.mean()) ** (1.0 / p)
    return Score(
        _finite_result(value, "real"),
        metric="sliced_wasserstein",
        backend=engine.name,
        n=n,
        m=m,
        details={"p": p, "projections": projections, "seed": seed},
    )


#: The floor of the log-variances of :func:`fls`'s mixture (fld clamps at the same value): a generated sample equal
#: to a training sample would otherwise get variance 0 and an infinite likelihood.
FLS_MIN_LOG_VARIANCE = -40.0


def _mog_log_likelihoods(engine, X, centres, log_var):
    """log p(x) for each row of X under (1/m) sum_j N(centres_j, exp(log_var_j) I), float64 (m,) -> (n,)."""
    xp = array_namespace(X)
    d = X.shape[1]
    out = xp.empty(X.shape[0])
    const = -0.5 * d * (np.log(2 * np.pi) + log_var) - np.log(centres.shape[0])
    for lo, hi, D2 in sq_distance_blocks(engine, X, centres):
        z = const[None, :] - 0.5 * D2 / xp.exp(log_var)[None, :]
        top = z.max(axis=1)
        out[lo:hi] = top + xp.log(xp.exp(z - top[:, None]).sum(axis=1))
    return out


def _fit_mog_variances(engine, X, centres, iterations: int, tol: float):
    """Maximum-likelihood log-variances of (1/m) sum_j N(centres_j, s_j I) for the rows of X, by EM from fld's
    start s_j = (min_i |x_i - c_j|^2 + 1e-3) / d. Returns (log_var, iterations run)."""
    xp = array_namespace(X)
    d = X.shape[1]
    nearest = xp.full(centres.shape[0], xp.inf)
    for _, _, D2 in sq_distance_blocks(engine, X, centres):
        nearest = xp.minimum(nearest, D2.min(axis=0))
    log_var = xp.maximum(xp.log((nearest + 1e-3) / d), FLS_MIN_LOG_VARIANCE)
    previous = -np.inf
    done = 0
    for step in range(1, iterations + 1):
        done = step
        weighted = xp.zeros(centres.shape[0])
        mass = xp.zeros(centres.shape[0])
        total = 0.0
        const = -0.5 * d * (np.log(2 * np.pi) + log_var) - np.log(centres.shape[0])
        for _, _, D2 in sq_distance_blocks(engine, X, centres):
            z = const[None, :] - 0.5 * D2 / xp.exp(log_var)[None, :]
            top = z.max(axis=1)
            r = xp.exp(z - top[:, None])
            s = r.sum(axis=1)
            total += to_float((top + xp.log(s)).sum())
            r /= s[:, None]
            mass += r.sum(axis=0)
            weighted += (r * D2).sum(axis=0)
        held = mass > 1e-300
        update = xp.log(xp.maximum(weighted, 1e-300) / (d * xp.maximum(mass, 1e-300)))
        log_var = xp.where(held, xp.maximum(update, FLS_MIN_LOG_VARIANCE), log_var)
        mean = total / (X.shape[0] * d)
        if abs(mean - previous) <= tol * max(1.0, abs(mean)):
            break
        previous = mean
    return log_var, done


def fls(train, test, fake, *, iterations=100, tol=1e-9, seed=0, backend=None) -> Score:
    r"""Feature likelihood divergence, FLD (Jiralerspong, Bose, Gemp, Qin, Bengio, Berard, Gidel, "Feature
    Likelihood Divergence: Evaluating the Generalization of Generative Models Using Samples", NeurIPS 2023; first
    named feature likelihood score, FLS).

    A mixture of Gaussians centred on the m generated samples, one isotropic variance s_j per centre,
    p(x) = (1/m) sum_j N(x; y_j, s_j I), has its variances fitted to maximise the likelihood of ``train``; FLD is
    the negative log-likelihood per dimension of ``test`` under it, against a baseline mixture centred on half of
    the training set (min(m, n/2) rows) and fitted on the other half:

        NLL(Y) = -(1/(n_test d)) sum_i log p_Y(x_i^test),    FLD = 100 (NLL(fake) - NLL(train half)).

    Lower is better; 0 is as good as held-out training data; a generator that copies training samples (overfits)
    gets a good train likelihood and a worse test one: ``details["gap"]`` = 100 (NLL_train - NLL_test), very
    negative under memorisation.

    All three sets are first standardised per feature with the mean and standard deviation (ddof 1) of ``test``,
    as the authors' package ``fld`` does.

    Parameters
    ----------
    train : array (n, d), n >= 4
    test : array (n_test, d), n_test >= 2
    fake : array (m, d)
    iterations : int >= 1, default 100
        At most this many EM steps per fit.
    tol : float > 0, default 1e-9
        EM stops when the mean log-likelihood per dimension changes by less than ``tol`` (relative, at least 1).
    seed : int >= 0, default 0
        The baseline's split of ``train``: ``numpy.random.default_rng(seed).permutation(n)``.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    Score
        FLD, with ``details``: ``nll_test``, ``nll_train``, ``nll_baseline``, ``gap``, ``iterations`` (EM steps of
        the generated mixture's fit).

    Notes
    -----
    Deliberate differences from ``fld`` (marcojira/fld, ``FLD.compute_metric``): the variances are the maximum-
    likelihood ones, reached by EM (for fixed equal weights and centres the M-step is
    s_j = sum_i r_ij |x_i - y_j|^2 / (d sum_i r_ij)), where fld runs 50 epochs of Adam (learning rate 0.5) from the
    same start on a loss that adds an extra component at the training mean with its own variance and weight 1 next
    to the mixture's total weight 1; all m generated samples are used (fld keeps a random 10,000), and the baseline
    split is seeded. Every pass is an engine Gram pass over blocks of rows (:mod:`genmetrics.engine.tiles`), never
    an n x m matrix; each EM step costs O(n m d).

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> rng = np.random.default_rng(0)
    >>> train, test, fresh = rng.normal(size=(400, 4)), rng.normal(size=(200, 4)), rng.normal(size=(200, 4))
    >>> copies = train[:200] + 1e-3 * rng.normal(size=(200, 4))
    >>> good, memorised = gm.fls(train, test, fresh), gm.fls(train, test, copies)
    >>> bool(good.details["gap"] > memorised.details["gap"])
    True
    """
    iterations = check_int(iterations, "iterations", low=1)
    tol = check_positive(tol, "tol")
    seed = check_int(seed, "seed", low=0)
    engine = get_backend(backend, train, test, fake)
    train, fake = check_pair(train, fake, "train", "fake", device=engine.device)
    train, test = check_pair(train, test, "train", "test", device=engine.device)
    fake = fake.astype(train.dtype)
    _check_min_rows(train, "train", 4, "for the baseline's two halves")
    _check_min_rows(test, "test", 2, "for a standard deviation")
    xp = array_namespace(train)
    test64 = test.astype(xp.float64)
    mean = test64.mean(axis=0)
    std = test64.std(axis=0, ddof=1)
    if bool(xp.any(std == 0)):
        raise ValueError(f"test: feature {int(xp.argmax(std == 0))} is constant; it cannot be standardised")

    def standard(A):
        return xp.ascontiguousarray((A.astype(xp.float64) - mean) / std)

    train_s, test_s, fake_s = standard(train), standard(test), standard(fake)
    d = train.shape[1]
    log_var, steps = _fit_mog_variances(engine, train_s, fake_s, iterations, tol)
    nll_test = -to_float(_mog_log_likelihoods(engine, test_s, fake_s, log_var).mean()) / d
    nll_train = -to_float(_mog_log_likelihoods(engine, train_s, fake_s, log_var).mean()) / d
    order = xp.asarray(np.random.default_rng(seed).permutation(train.shape[0]))
    split = min(fake.shape[0], train.shape[0] // 2)
    centres, fit_rows = train_s[order[:split]], train_s[order[split:]]
    base_var, _ = _fit_mog_variances(engine, fit_rows, centres, iterations, tol)
    nll_base = -to_float(_mog_log_likelihoods(engine, test_s, centres, base_var).mean()) / d
    return Score(
        _finite_result(100.0 * (nll_test - nll_base), "train"),
        metric="fls",
        backend=engine.name,
        n=train.shape[0],
        m=fake.shape[0],
        details={
            "nll_test": nll_test,
            "nll_train": nll_train,
            "nll_baseline": nll_base,
            "gap": 100.0 * (nll_train - nll_test),
            "iterations": steps,
            "seed": seed,
        },
    )
