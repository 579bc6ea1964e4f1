"""Plain float64 NumPy references for the distances between distributions (METRICS.md, "Distances between
distributions"): Fréchet distance, Gaussian KL, MMD, KID.

Independent of genmetrics (nothing here imports it) and of SciPy: brute force on full matrices in float64.

* Gaussian fits: the sample mean and the unbiased covariance (Z^T Z / (n - 1) of explicitly centred rows), as
  ``np.cov`` (pytorch-fid) and torchmetrics compute them.
* Fréchet distance, two ways of taking tr sqrt(S1 S2):
  ``"symmetric"``: sqrtm of PSD matrices by ``eigh`` (eigenvalues clipped at 0), tr sqrtm(S1^1/2 S2 S1^1/2);
  ``"eigvals"``: torchmetrics' manner, sum sqrt(eigvals(S1 @ S2)).real with a general (non-symmetric)
  eigensolver; it shares no code path with the package's symmetric-eigensolver route.
* Gaussian KL from the textbook formula with ``np.linalg.inv`` and ``np.linalg.slogdet`` (the package uses a
  generalised-eigenvalue form instead).
* MMD from full kernel matrices (``reference.ref_gram``, distances from explicit differences); the unbiased
  estimator drops the diagonals with ``np.trace``.
* KID replicates the subset draws of the contract: ``rng = np.random.default_rng(seed)``, then per subset
  ``rng.permutation(n)[:s]`` for real and ``rng.permutation(m)[:s]`` for fake; std with ddof = 0.
"""

from __future__ import annotations

import math

import numpy as np

import reference as ref

__all__ = [
    "f64",
    "ref_mean_cov",
    "ref_sqrtm_psd",
    "ref_frechet_stats",
    "ref_fd",
    "power_of_two_normaliser",
    "ref_gaussian_kl_stats",
    "ref_gaussian_kl",
    "ref_mmd",
    "ref_mmd_tol",
    "ref_kid_subsets",
    "ref_kid",
    "data_with_moments",
]


def f64(A):
    return np.array(A, dtype=np.float64, copy=True)


def ref_mean_cov(X):
    """(mean, unbiased covariance) of the rows of X, float64."""
    X = f64(X)
    mu = X.mean(axis=0)
    Z = X - mu
    return mu, (Z.T @ Z) / (X.shape[0] - 1)


def ref_sqrtm_psd(A):
    """The PSD square root of a symmetric PSD matrix by its eigendecomposition (negatives clipped to 0)."""
    A = f64(A)
    w, V = np.linalg.eigh((A + A.T) / 2)
    return (V * np.sqrt(np.clip(w, 0.0, None))) @ V.T


def ref_frechet_stats(mu1, S1, mu2, S2, method="symmetric"):
    mu1, S1, mu2, S2 = f64(mu1), f64(S1), f64(mu2), f64(S2)
    if method == "symmetric":
        R = ref_sqrtm_psd(S1)
        trace_sqrt = float(np.trace(ref_sqrtm_psd(R @ S2 @ R)))
    elif method == "eigvals":
        ev = np.linalg.eigvals(S1 @ S2).astype(np.complex128)
        trace_sqrt = float(np.sqrt(ev).real.sum())
    else:
        raise ValueError(method)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(S1) + np.trace(S2) - 2.0 * trace_sqrt)


def power_of_two_normaliser(*arrays):
    """c = 2^-e with 2^(e-1) <= max |a| < 2^e (1 for all-zero sets): c * a is exact and near 1, so that squares
    and products of tiny or huge embeddings neither underflow to subnormals nor overflow in the references."""
    largest = max(float(np.max(np.abs(f64(a)))) for a in arrays)
    return 1.0 if largest == 0 else math.ldexp(1.0, -math.frexp(largest)[1])


def ref_fd(X, Y, method="symmetric"):
    """FD(X, Y) = FD(cX, cY) / c^2, computed on the normalised sets (c from ``power_of_two_normaliser``)."""
    c = power_of_two_normaliser(X, Y)
    mu1, S1 = ref_mean_cov(f64(X) * c)
    mu2, S2 = ref_mean_cov(f64(Y) * c)
    return ref_frechet_stats(mu1, S1, mu2, S2, method) / (c * c)


def ref_gaussian_kl_stats(mu_p, S_p, mu_q, S_q):
    """KL(N(mu_p, S_p) || N(mu_q, S_q)) = 1/2 [tr(S_q^-1 S_p) + dmu^T S_q^-1 dmu - d + ln det S_q - ln det S_p]."""
    mu_p, S_p, mu_q, S_q = f64(mu_p), f64(S_p), f64(mu_q), f64(S_q)
    d = mu_p.shape[0]
    inv_q = np.linalg.inv(S_q)
    dmu = mu_q - mu_p
    sign_p, logdet_p = np.linalg.slogdet(S_p)
    sign_q, logdet_q = np.linalg.slogdet(S_q)
    assert sign_p > 0 and sign_q > 0
    return float(0.5 * (np.trace(inv_q @ S_p) + dmu @ inv_q @ dmu - d + logdet_q - logdet_p))


def ref_gaussian_kl(P, Q, ridge=0.0):
    mu_p, S_p = ref_mean_cov(P)
    mu_q, S_q = ref_mean_cov(Q)
    eye = ridge * np.eye(S_p.shape[0])
    return ref_gaussian_kl_stats(mu_p, S_p + eye, mu_q, S_q + eye)


def _bandwidth(X, kernel, bandwidth):
    if kernel in ("rbf", "gaussian", "laplacian") and bandwidth is None:
        return ref.ref_median_bandwidth(X)  # the heuristic on real only
    return bandwidth


def ref_mmd(X, Y, kernel="rbf", bandwidth=None, unbiased=False, scale=1.0, **params):
    """MMD^2 from the full kernel matrices, float64."""
    bandwidth = _bandwidth(X, kernel, bandwidth)
    Kxx = ref.ref_gram(X, None, kernel=kernel, bandwidth=bandwidth, **params)
    Kyy = ref.ref_gram(Y, None, kernel=kernel, bandwidth=bandwidth, **params)
    Kxy = ref.ref_gram(X, Y, kernel=kernel, bandwidth=bandwidth, **params)
    n, m = Kxy.shape
    if unbiased:
        xx = (Kxx.sum() - np.trace(Kxx)) / (n * (n - 1))
        yy = (Kyy.sum() - np.trace(Kyy)) / (m * (m - 1))
    else:
        xx, yy = Kxx.mean(), Kyy.mean()
    return float(scale * (xx + yy - 2.0 * Kxy.mean()))


def ref_mmd_tol(X, Y, kernel="rbf", bandwidth=None, unbiased=False, scale=1.0, dtype=None, **params):
    """Bound on |computed - exact| MMD^2: the element-wise Gram bounds of ``reference.kernel_sum_tol`` on the
    three sums, divided as the estimator divides them, plus 1e-12 of the terms' magnitudes."""
    bandwidth = _bandwidth(X, kernel, bandwidth)
    n, m = np.asarray(X).shape[0], np.asarray(Y).shape[0]
    if dtype is None:
        dtype = np.result_type(np.asarray(X).dtype, np.asarray(Y).dtype)
    kw = dict(kernel=kernel, bandwidth=bandwidth, dtype=dtype, **params)
    t_xx = ref.kernel_sum_tol(X, None, **kw)
    t_yy = ref.kernel_sum_tol(Y, None, **kw)
    t_xy = ref.kernel_sum_tol(X, Y, **kw)
    dx, dy = (n * (n - 1), m * (m - 1)) if unbiased else (n * n, m * m)
    magnitude = sum(
        float(np.abs(ref.ref_gram(A, B, kernel=kernel, bandwidth=bandwidth, **params)).mean())
        for A, B in ((X, None), (Y, None), (X, Y))
    )
    return scale * (t_xx / dx + t_yy / dy + 2.0 * t_xy / (n * m) + 1e-12 * magnitude)


def ref_kid_subsets(n, m, subsets, subset_size, seed):
    """The (real rows, fake rows) of every subset, drawn as the contract says."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(subsets):
        rows_real = rng.permutation(n)[:subset_size]
        rows_fake = rng.permutation(m)[:subset_size]
        draws.append((rows_real, rows_fake))
    return draws


def ref_kid(X, Y, subsets=100, subset_size=1000, degree=3, gamma=None, coef0=1.0, seed=0):
    """(mean, std with ddof = 0, values) of the unbiased polynomial MMD^2 over the subsets."""
    X, Y = np.asarray(X), np.asarray(Y)
    values = np.array(
        [
            ref_mmd(X[a], Y[b], kernel="polynomial", unbiased=True, degree=degree, gamma=gamma, coef0=coef0)
            for a, b in ref_kid_subsets(X.shape[0], Y.shape[0], subsets, subset_size, seed)
        ]
    )
    return float(values.mean()), float(values.std()), values


def data_with_moments(mean, cov_factor, n, seed=0):
    """n rows whose sample mean is ``mean`` and whose unbiased sample covariance is L L^T (L = ``cov_factor``),
    both up to float64 rounding: centred random rows orthonormalised (QR), scaled by sqrt(n - 1), times L^T."""
    mean = f64(mean)
    L = f64(cov_factor)
    d = mean.shape[0]
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, d))
    Z -= Z.mean(axis=0)
    Q, _ = np.linalg.qr(Z)  # columns orthonormal and orthogonal to the ones vector (in the span of centred columns)
    Q -= Q.mean(axis=0)  # remove the rounding left in the column means
    return mean + math.sqrt(n - 1) * Q @ L.T


def ref_fd_exact_mpmath(X, Y, dps=30):
    """FD of two integer-valued sets to ``dps`` digits (an mpmath float): the means and unbiased covariances exact
    (Python integers: (n sum x x^T - s s^T) / (n (n - 1)), s the column sums), then
    tr sqrt(S1 S2) = sum sqrt(eig(S1^1/2 S2 S1^1/2)) by mpmath's symmetric eigensolver at ``dps`` digits, where an
    eigenvalue that should be 0 comes out ~10^-dps and its square root ~10^(-dps/2): far below float64's eps."""
    import mpmath as mp  # noqa: PLC0415 (optional: the tests that use this skip without it)

    X, Y = np.asarray(X), np.asarray(Y)
    if not (np.array_equal(X, np.round(X)) and np.array_equal(Y, np.round(Y))):
        raise ValueError("ref_fd_exact_mpmath needs integer-valued sets")
    with mp.workdps(dps):
        stats = []
        for A in (X, Y):
            A = A.astype(np.int64).astype(object)
            n = A.shape[0]
            s = A.sum(axis=0)
            numerator = n * (A.T @ A) - np.outer(s, s)
            d = A.shape[1]
            S = mp.matrix([[mp.mpf(int(numerator[i, j])) / (n * (n - 1)) for j in range(d)] for i in range(d)])
            stats.append(([mp.mpf(int(v)) / n for v in s], S))
        (mu1, S1), (mu2, S2) = stats
        d = S1.rows
        w, V = mp.eigsy(S1)
        root = V * mp.diag([mp.sqrt(max(v, 0)) for v in w]) * V.T
        lam, _ = mp.eigsy(root * S2 * root)
        value = (
            mp.fsum((a - b) ** 2 for a, b in zip(mu1, mu2))
            + mp.fsum(S1[i, i] for i in range(d))
            + mp.fsum(S2[i, i] for i in range(d))
            - 2 * mp.fsum(mp.sqrt(max(v, 0)) for v in lam)
        )
        return +value
