"""Plain float64 NumPy reference implementations of the genmetrics formulas.

Written directly from the definitions in METRICS.md (Kernels and Diversity sections); deliberately
simple and independent of genmetrics (nothing here imports it), so that the tests compare the package
against an implementation that shares none of its code paths:

* distances are computed from explicit differences x - y (never from |x|^2 + |y|^2 - 2 x.y), so the
  reference does not suffer the cancellation the fused engine has;
* everything is upcast to float64 first (float32 inputs are exactly representable in float64), so a
  float32 input is compared against the exact float64 answer *for the same float32 numbers*;
* the spectrum comes from a dense symmetric eigensolver of the full matrix.

The module also holds the first-order error bounds (``gram_tol``, ``spectrum_delta``, ``vendi_tol``)
the tests use as tolerances; they are derived from the standard floating-point error model and are
documented where they are defined.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "KERNELS",
    "ref_gram",
    "ref_kernel_sum",
    "ref_spectrum",
    "ref_spectrum_from_gram",
    "ref_vendi",
    "ref_vendi_from_gram",
    "ref_vendi_from_eigenvalues",
    "ref_rke",
    "ref_rrke",
    "ref_intdiv",
    "ref_median_bandwidth",
    "ref_pairwise_distances",
    "hill_number",
    "entropy_value",
    "gram_tol",
    "spectrum_delta",
    "vendi_tol",
    "rank_bounds",
]

KERNELS = ("linear", "cosine", "rbf", "gaussian", "laplacian", "polynomial")


# --------------------------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------------------------


def _f64(A):
    return np.array(A, dtype=np.float64, copy=True)


def ref_pairwise_distances(X, Y=None):
    """Euclidean distances ||x_i - y_j|| from explicit differences, in float64."""
    X = _f64(X)
    Y = X if Y is None else _f64(Y)
    out = np.empty((X.shape[0], Y.shape[0]))
    chunk = max(1, 2_000_000 // max(1, Y.shape[0] * X.shape[1]))
    for s in range(0, X.shape[0], chunk):
        diff = X[s : s + chunk, None, :] - Y[None, :, :]
        out[s : s + chunk] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    return out


def ref_median_bandwidth(X, max_rows=1000, seed=0):
    """Median of ||x_i - x_j|| over pairs i < j of (a subsample of at most ``max_rows`` rows of) X.

    When X has at most ``max_rows`` rows every row is used, and the value does not depend on how the
    subsample is drawn; the tests only compare this value with the package for such X.  For larger X
    the subsample here is ``default_rng(seed).choice(n, max_rows, replace=False)``, which need not be
    the package's subsample: tests with n > max_rows use sets whose median is the same for every subset.
    """
    X = _f64(X)
    n = X.shape[0]
    if n > max_rows:
        idx = np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))
        X = X[idx]
        n = max_rows
    if n < 2:
        raise ValueError("bandwidth heuristic needs at least two rows")
    D = ref_pairwise_distances(X)
    iu = np.triu_indices(n, k=1)
    med = float(np.median(D[iu]))
    if med == 0.0:
        raise ValueError("bandwidth: the median pairwise distance is 0")
    return med


def _canon_kernel(kernel):
    return "rbf" if kernel == "gaussian" else kernel


def ref_gram(X, Y=None, kernel="cosine", bandwidth=None, gamma=None, coef0=1.0, degree=3):
    """k(x_i, y_j) for all i, j, in float64, from the formulas of METRICS.md."""
    kernel = _canon_kernel(kernel)
    Xf = _f64(X)
    Yf = Xf if Y is None else _f64(Y)
    if kernel in ("rbf", "laplacian") and bandwidth is None:
        bandwidth = ref_median_bandwidth(Xf)
    if kernel == "linear":
        return Xf @ Yf.T
    if kernel == "cosine":
        nx = np.sqrt(np.einsum("ij,ij->i", Xf, Xf))
        ny = np.sqrt(np.einsum("ij,ij->i", Yf, Yf))
        if np.any(nx == 0) or np.any(ny == 0):
            raise ValueError("zero-norm row with the cosine kernel")
        return (Xf / nx[:, None]) @ (Yf / ny[:, None]).T
    if kernel == "rbf":
        D = ref_pairwise_distances(Xf, Yf)
        return np.exp(-(D * D) / (2.0 * float(bandwidth) ** 2))
    if kernel == "laplacian":
        D = ref_pairwise_distances(Xf, Yf)
        return np.exp(-D / float(bandwidth))
    if kernel == "polynomial":
        g = 1.0 / Xf.shape[1] if gamma is None else float(gamma)
        return (g * (Xf @ Yf.T) + float(coef0)) ** degree
    raise ValueError(f"unknown kernel {kernel!r}")


def ref_kernel_sum(X, Y=None, kernel="cosine", bandwidth=None, power=1, **kernel_params):
    K = ref_gram(X, Y, kernel=kernel, bandwidth=bandwidth, **kernel_params)
    return float(np.sum(K**power))


# --------------------------------------------------------------------------------------------
# spectra and entropies
# --------------------------------------------------------------------------------------------


def ref_spectrum_from_gram(K):
    """Eigenvalues of K / trace(K), descending, round-off negatives clipped to 0 (sum stays ~1)."""
    K = _f64(K)
    K = 0.5 * (K + K.T)
    lam = np.linalg.eigvalsh(K)[::-1] / np.trace(K)
    return np.clip(lam, 0.0, None)


def ref_spectrum(X, kernel="cosine", bandwidth=None, **kernel_params):
    return ref_spectrum_from_gram(ref_gram(X, kernel=kernel, bandwidth=bandwidth, **kernel_params))


def _q_value(q):
    if isinstance(q, str):
        if q != "inf":
            raise ValueError(q)
        return math.inf
    return float(q)


def entropy_value(lam, q):
    """VS_q = exp(H_q) of a probability vector ``lam`` (sum 1, entries >= 0), q > 0 (q = 0 aside)."""
    lam = np.asarray(lam, dtype=np.float64)
    q = _q_value(q)
    if q == math.inf:
        return 1.0 / float(lam.max())
    if q == 1.0:
        nz = lam[lam > 0]
        return float(np.exp(-np.sum(nz * np.log(nz))))
    if q == 0.0:
        return float(np.count_nonzero(lam > 0))
    nz = lam[lam > 0]
    return float(np.sum(nz**q) ** (1.0 / (1.0 - q)))


def hill_number(p, q):
    """Hill number of order q of the proportions ``p`` (normalised here)."""
    p = np.asarray(p, dtype=np.float64)
    p = p / p.sum()
    return entropy_value(p, q)


EPS64 = float(np.finfo(np.float64).eps)


def ref_vendi_from_eigenvalues(lam, q=1, n=None, eps=EPS64):
    """Vendi score from eigenvalues of K/n (or anything proportional: normalised by the sum here).

    Every q < 1 (q = 0 included) uses the rank tolerance of METRICS.md: eigenvalues at or below
    n * eps * lambda_max (n = number of eigenvalues unless given; eps that of the input dtype) are 0, and
    the rest are renormalised to sum 1. q = 0 counts the rest.
    """
    lam = np.clip(np.asarray(lam, dtype=np.float64), 0.0, None)
    lam = lam / lam.max()  # before the sum: eigenvalues near 1e308 must not overflow it
    lam = lam / lam.sum()
    q = _q_value(q)
    if q < 1.0:
        n = lam.size if n is None else n
        lam = lam[lam > n * eps * lam.max()]
        lam = lam / lam.sum()
    if q == 0.0:
        return float(lam.size)
    return entropy_value(lam, q)


def ref_vendi_from_gram(K, q=1, eps=None):
    K = np.asarray(K)
    if eps is None:
        eps = np.finfo(K.dtype if K.dtype.kind == "f" else np.float64).eps
    lam = ref_spectrum_from_gram(K)
    return ref_vendi_from_eigenvalues(lam, q, n=K.shape[0], eps=eps)


def ref_vendi(X, q=1, kernel="cosine", bandwidth=None, **kernel_params):
    X = np.asarray(X)
    eps = np.finfo(X.dtype if X.dtype.kind == "f" else np.float64).eps
    lam = ref_spectrum(X, kernel=kernel, bandwidth=bandwidth, **kernel_params)
    return ref_vendi_from_eigenvalues(lam, q, n=X.shape[0], eps=eps)


def ref_rke(X, kernel="rbf", bandwidth=None, **kernel_params):
    """RKE mode count trace(K)^2 / sum_ij k_ij^2 (= 1 / sum lambda^2)."""
    K = ref_gram(X, kernel=kernel, bandwidth=bandwidth, **kernel_params)
    return float(np.trace(K) ** 2 / np.sum(K * K))


def ref_rrke(X, Y, kernel="rbf", bandwidth=None, **kernel_params):
    """-log(||K_XY / sqrt(n m)||_nuc^2), all rows used, heuristic bandwidth taken on X."""
    if kernel in ("rbf", "gaussian", "laplacian") and bandwidth is None:
        bandwidth = ref_median_bandwidth(X)
    K = ref_gram(X, Y, kernel=kernel, bandwidth=bandwidth, **kernel_params)
    n, m = K.shape
    s = np.linalg.svd(K / math.sqrt(n * m), compute_uv=False)
    nuc = float(np.sum(s))
    return math.inf if nuc == 0.0 else -2.0 * math.log(nuc)  # -log(nuc^2) without underflow


def ref_intdiv(X, q=1, kernel="cosine", bandwidth=None, **kernel_params):
    K = ref_gram(X, kernel=kernel, bandwidth=bandwidth, **kernel_params)
    return float(1.0 - np.mean(K**q))


# --------------------------------------------------------------------------------------------
# error bounds used as tolerances
# --------------------------------------------------------------------------------------------


def _unit_roundoff(dtype):
    dtype = np.dtype(dtype)
    return float(np.finfo(dtype).eps) if dtype.kind == "f" else float(np.finfo(np.float64).eps)


def gram_tol(X, Y=None, kernel="cosine", bandwidth=None, dtype=None, gamma=None, coef0=1.0, degree=3, safety=8.0):
    """Element-wise bound on |K_computed - K_exact| for a Gram matrix computed in ``dtype``.

    Standard model: a length-d dot product computed in precision u has error <= gamma_d |x||y| with
    gamma_d ~ d u.  We take g = (d + 4) u (the +4 covers the norms, the scaling and the final
    rounding) times a safety factor, and propagate it to first order:

    * linear:     |dk| <= g |x||y|
    * cosine:     |dk| <= g                        (a cosine is a dot product of unit vectors)
    * polynomial: |dk| <= deg |b|^(deg-1) gamma g |x||y|,  b = gamma x.y + coef0
    * rbf:        d^2 = |x|^2 + |y|^2 - 2 x.y loses up to g (|x| + |y|)^2 (the cancellation of the
                  fused formula), and |d exp(-t)| = exp(-t) |dt|: |dk| <= k g (|x|+|y|)^2 / (2 s^2).
                  An engine may first shift the data (e.g. centre it on the mean, which improves the
                  typical case); the norms that matter are then |x - c| <= |x| + R, R = the largest row
                  norm, so the bound uses (|x| + |y| + 2R)^2.
    * laplacian:  the distance itself errs by <= min(sqrt(e), e / d) with e the error of d^2 above
                  (sqrt is not Lipschitz at 0), and |dk| <= k |d(dist)| / s
    plus 8 u |k| for evaluating exp/pow and rounding the result (a few ulps), plus twice the smallest
    normal number (an underflowing exp may give 0 or a subnormal).  For float64 inputs of moderate size this is far
    below 1e-10 relative; it grows only where the computation is genuinely ill-conditioned
    (rbf/laplacian with a bandwidth much smaller than the norms of the points, float32).
    """
    kernel = _canon_kernel(kernel)
    Xf = _f64(X)
    Yf = Xf if Y is None else _f64(Y)
    if dtype is None:
        dtype = np.result_type(np.asarray(X).dtype, (np.asarray(X) if Y is None else np.asarray(Y)).dtype)
    u = _unit_roundoff(dtype)
    d = Xf.shape[1]
    g = safety * (d + 4) * u
    nx = np.sqrt(np.einsum("ij,ij->i", Xf, Xf))
    ny = np.sqrt(np.einsum("ij,ij->i", Yf, Yf))
    if kernel in ("rbf", "laplacian") and bandwidth is None:
        bandwidth = ref_median_bandwidth(Xf)
    K = ref_gram(Xf, Yf, kernel=kernel, bandwidth=bandwidth, gamma=gamma, coef0=coef0, degree=degree)
    absK = np.abs(K)
    if kernel == "linear":
        err = g * np.outer(nx, ny)
    elif kernel == "cosine":
        err = np.full(K.shape, g)
    elif kernel == "polynomial":
        gm_ = 1.0 / d if gamma is None else float(gamma)
        b = gm_ * (Xf @ Yf.T) + float(coef0)
        err = degree * np.abs(b) ** (degree - 1) * gm_ * g * np.outer(nx, ny)
        err = err + degree * np.abs(b) ** (degree - 1) * g * abs(float(coef0))
    elif kernel == "rbf":
        R = max(float(nx.max()), float(ny.max()))
        e2 = g * (np.add.outer(nx, ny) + 2 * R) ** 2
        err = absK * e2 / (2.0 * float(bandwidth) ** 2)
    elif kernel == "laplacian":
        R = max(float(nx.max()), float(ny.max()))
        e2 = g * (np.add.outer(nx, ny) + 2 * R) ** 2
        D = ref_pairwise_distances(Xf, Yf)
        with np.errstate(divide="ignore", invalid="ignore"):
            ed = np.minimum(np.sqrt(e2), np.where(D > 0, e2 / D, np.inf))
        err = absK * ed / float(bandwidth)
    else:
        raise ValueError(kernel)
    tiny = float(np.finfo(np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.float64).tiny)
    return err + 8.0 * u * absK + 2.0 * tiny


def spectrum_delta(X=None, kernel="cosine", bandwidth=None, dtype=None, K=None, tol=None, n_extra=0, **kernel_params):
    """Bound on |lambda_i(computed) - lambda_i(exact)| for every i (lambda = eig(K)/trace(K)).

    Weyl: |lambda_i(A + E) - lambda_i(A)| <= ||E||_2 <= ||E||_F <= ||T||_F when |E| <= T element-wise,
    with T = gram_tol.  Divided by the trace, plus the error of the trace itself (relative
    sum(T_ii)/trace, times lambda_max), plus a backward-stable dense eigensolver in the working
    precision (error <= c n u ||K||; c n taken as 4 (n + dim) to also cover the d x d dual form).
    """
    if K is None:
        K = ref_gram(X, kernel=kernel, bandwidth=bandwidth, **kernel_params)
        tol = gram_tol(X, kernel=kernel, bandwidth=bandwidth, dtype=dtype, **kernel_params)
    n = K.shape[0]
    u = _unit_roundoff(dtype if dtype is not None else np.float64)
    tr = float(np.trace(K))
    lam_max = float(np.max(np.linalg.eigvalsh(0.5 * (K + K.T)))) / tr
    dim = n_extra if X is None else np.asarray(X).shape[1]
    return float(np.linalg.norm(tol)) / tr + lam_max * float(np.sum(np.diag(tol))) / tr + 4.0 * (n + dim) * u * lam_max


def _term_range(lam, q, delta):
    """Min and max over [max(0, lam - delta), lam + delta] of f(lam) = lam^q, or -lam log lam (q=1)."""
    lo = np.maximum(lam - delta, 0.0)
    hi = lam + delta
    if q == 1.0:

        def f(x):
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(x > 0, -x * np.log(np.where(x > 0, x, 1.0)), 0.0)

        flo, fhi = f(lo), f(hi)
        peak = np.where((lo < 1 / math.e) & (hi > 1 / math.e), 1 / math.e, np.maximum(flo, fhi))
        return np.minimum(flo, fhi), np.maximum(peak, np.maximum(flo, fhi))
    return lo**q, hi**q


def vendi_tol(lam, q, delta, rtol=1e-10):
    """Bound on |VS_q(computed) - VS_q(exact)| when every eigenvalue errs by at most ``delta``.

    Each term of sum f(lambda) moves within its own interval (interval arithmetic, ignoring that the
    perturbed eigenvalues still sum to 1, which only makes the bound looser); VS_q is monotone in the
    sum.  For q < 1 the round-off eigenvalues (true value 0) each contribute up to delta^q, which is
    why q in (0, 1) gets a much looser tolerance than q >= 1 on rank-deficient kernels.  ``rtol``
    adds a floor for the arithmetic outside the spectrum (logs, powers, summation).
    """
    lam = np.clip(np.asarray(lam, dtype=np.float64), 0.0, None)
    q = _q_value(q)
    exact = entropy_value(lam, q)
    if q == math.inf:
        lm = float(lam.max())
        vals = [1.0 / (lm + delta), 1.0 / max(lm - delta, 1e-300)]
    else:
        flo, fhi = _term_range(lam, q, delta)
        s_lo, s_hi = float(np.sum(flo)), float(np.sum(fhi))
        if q == 1.0:
            logs = [s_lo, s_hi]
        else:
            logs = [math.log(max(s, 1e-300)) / (1.0 - q) for s in (s_lo, s_hi)]
        # a bound so loose that VS overflows is returned as inf (only pathological float32 draws)
        vals = [math.exp(t) if t < 700 else math.inf for t in logs]
    return max(abs(v - exact) for v in vals) + rtol * abs(exact)


def rank_bounds(lam, n, eps, delta):
    """Interval of possible q=0 ranks (count of lambda > n eps lambda_max) given per-eigenvalue error delta."""
    lam = np.clip(np.asarray(lam, dtype=np.float64), 0.0, None)
    lm = float(lam.max())
    thr_hi = n * eps * (lm + delta)
    thr_lo = n * eps * max(lm - delta, 0.0)
    lo = int(np.count_nonzero(lam - delta > thr_hi))
    hi = int(np.count_nonzero(lam + delta > thr_lo))
    return lo, hi


def power_tol(K, tol, p):
    """Element-wise bound on |k'^p - k^p| given |k' - k| <= tol: p (|k| + tol)^(p-1) tol for p >= 1,
    and min(p |k|^(p-1) tol, tol^p) for p < 1 (x -> x^p is p-Hoelder there)."""
    a = np.abs(K)
    if p >= 1:
        return p * (a + tol) ** (p - 1) * tol
    with np.errstate(divide="ignore"):
        lin = np.where(a > 0, p * a ** (p - 1) * tol, np.inf)
    return np.minimum(lin, tol**p)


def kernel_sum_tol(X, Y=None, kernel="cosine", bandwidth=None, power=1, dtype=None, **kernel_params):
    """Bound on |sum k'^p - sum k^p|: the element-wise bounds summed, plus float64 accumulation
    (<= n m u64 sum |k|^p)."""
    K = ref_gram(X, Y, kernel=kernel, bandwidth=bandwidth, **kernel_params)
    T = gram_tol(X, Y, kernel=kernel, bandwidth=bandwidth, dtype=dtype, **kernel_params)
    return float(np.sum(power_tol(K, T, power))) + K.size * float(np.finfo(np.float64).eps) * float(
        np.sum(np.abs(K) ** power)
    )


def rke_rtol(X, kernel="rbf", bandwidth=None, dtype=None, **kernel_params):
    """Relative bound for trace^2 / S, S = sum k^2: 2 dtr/tr + dS/S (first order), plus 1e-12."""
    K = ref_gram(X, kernel=kernel, bandwidth=bandwidth, **kernel_params)
    T = gram_tol(X, kernel=kernel, bandwidth=bandwidth, dtype=dtype, **kernel_params)
    tr, S = float(np.trace(K)), float(np.sum(K * K))
    dS = float(np.sum(2 * np.abs(K) * T + T * T))
    return 2 * float(np.sum(np.diag(T))) / abs(tr) + dS / S + 1e-12


def rrke_tol(X, Y, kernel="rbf", bandwidth=None, dtype=None, **kernel_params):
    """Absolute bound for rrke = -2 log ||A||_*, A = K_XY / sqrt(n m).

    |d||A||_*| <= ||dA||_* <= sqrt(min(n, m)) ||T||_F / sqrt(n m), plus an SVD backward error of
    ~ (n + m) u sigma_1 per singular value; d rrke = 2 d||A||_* / ||A||_*.
    """
    if kernel in ("rbf", "gaussian", "laplacian") and bandwidth is None:
        bandwidth = ref_median_bandwidth(X)
    K = ref_gram(X, Y, kernel=kernel, bandwidth=bandwidth, **kernel_params)
    T = gram_tol(X, Y, kernel=kernel, bandwidth=bandwidth, dtype=dtype, **kernel_params)
    n, m = K.shape
    s = np.linalg.svd(K / math.sqrt(n * m), compute_uv=False)
    u = _unit_roundoff(dtype if dtype is not None else np.float64)
    dnuc = math.sqrt(min(n, m)) * float(np.linalg.norm(T)) / math.sqrt(n * m) + 4 * (n + m) * u * float(s[0]) * min(
        n, m
    )
    nuc = float(np.sum(s))
    if dnuc >= nuc:
        return math.inf
    return 2 * dnuc / nuc + 1e-12


def vendi_bound(X, q, kernel="cosine", bandwidth=None, dtype=None):
    """(reference VS_q, tolerance) for a Vendi score of X computed in ``dtype`` by any exact method.

    The spectrum is padded with d zeros and delta widened by 8 (n + 4) u for linear/cosine, because
    the dual form works with the d x d covariance (d - n extra round-off eigenvalues when d > n,
    sums over n terms).  For q = 0 returns ((lo, hi), None): the interval of possible ranks.
    """
    X = np.asarray(X)
    dtype = X.dtype if dtype is None else dtype
    n, d = X.shape
    lam = ref_spectrum(X, kernel=kernel, bandwidth=bandwidth)
    delta = spectrum_delta(X, kernel=kernel, bandwidth=bandwidth, dtype=dtype)
    if kernel in ("linear", "cosine"):
        delta += 8 * (n + 4) * _unit_roundoff(dtype)
        lam = np.concatenate([lam, np.zeros(d)])
    q = _q_value(q)
    if q == 0.0:
        return rank_bounds(lam[:n], n, _unit_roundoff(dtype), delta), None
    return entropy_value(lam, q), vendi_tol(lam, q, delta)
