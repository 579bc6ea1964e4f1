"""Float64 references for the metrics of issue 17, written from the papers (and the documented behaviour of the
public implementations), with full distance matrices: small inputs only. Nothing here imports genmetrics."""

from __future__ import annotations

import numpy as np


def pdist(A, B):
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    return np.sqrt(((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=-1))


def kth_other(A, k):
    """Distance from each row to its k-th nearest other row."""
    return np.sort(pdist(A, A), axis=1)[:, k]  # column 0 is the row itself


def ref_p_precision_recall(real, fake, k=4, a=1.2):
    """Park & Kim 2023: one radius a * mean k-NN distance per set, coverage probability 1 - prod(1 - f)."""
    D = pdist(real, fake)
    rx, ry = a * kth_other(real, k).mean(), a * kth_other(fake, k).mean()
    fx, fy = np.clip(1 - D / rx, 0, None), np.clip(1 - D.T / ry, 0, None)
    return float(np.mean(1 - np.prod(1 - fx, axis=0))), float(np.mean(1 - np.prod(1 - fy, axis=0)))


def ref_rarity(real, fake, k=3, radius_quantile=None):
    """Han et al.: the smallest k-NN radius among the real balls (strict <) holding each fake; NaN outside."""
    r = kth_other(real, k)
    keep = np.ones(len(r), bool) if radius_quantile is None else r <= np.quantile(r, radius_quantile)
    D = pdist(real, fake)[keep]
    inside = D < r[keep][:, None]
    return np.where(inside.any(axis=0), np.where(inside, r[keep][:, None], np.inf).min(axis=0), np.nan)


def ref_swd(real, fake, theta, p=2):
    """(1/L) sum_l int_0^1 |F_l^-1 - G_l^-1|^p, ^(1/p), by evaluating both quantile functions on a fine grid of the
    common refinement (exact for piecewise-constant quantile functions)."""
    n, m = len(real), len(fake)
    a, b = np.sort(real @ theta, axis=0), np.sort(fake @ theta, axis=0)
    t = np.union1d(np.arange(n + 1) / n, np.arange(m + 1) / m)
    total = 0.0
    for lo, hi in zip(t[:-1], t[1:]):
        mid = (lo + hi) / 2  # the quantile functions are constant on (lo, hi]: F^-1(t) = a[ceil(t n) - 1]
        u, v = int(np.ceil(mid * n)) - 1, int(np.ceil(mid * m)) - 1
        total += (hi - lo) * (np.abs(a[u] - b[v]) ** p)
    return float((np.sum(total) / theta.shape[1]) ** (1 / p))


def ref_fd(X, Y):
    mu1, mu2 = X.mean(0), Y.mean(0)
    s1, s2 = np.cov(X, rowvar=False), np.cov(Y, rowvar=False)
    w = np.linalg.eigvals(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(w.real, 0, None)).sum())


def ref_fd_infinity(real, fake, sizes, seed):
    rng = np.random.default_rng(seed)
    values = [ref_fd(real, fake[np.sort(rng.choice(len(fake), int(s), replace=False))]) for s in sizes]
    slope, intercept = np.polyfit(1.0 / np.asarray(sizes), values, 1)
    return float(intercept)


def ref_mog_nll(X, centres, log_var):
    """-(1/(n d)) sum_i log (1/m) sum_j N(x_i; c_j, exp(log_var_j) I)."""
    d = X.shape[1]
    D2 = pdist(X, centres) ** 2
    z = -0.5 * D2 / np.exp(log_var) - 0.5 * d * (np.log(2 * np.pi) + log_var) - np.log(len(centres))
    top = z.max(axis=1)
    return float(-(top + np.log(np.exp(z - top[:, None]).sum(axis=1))).mean() / d)


def ref_fit_variances(X, centres, iterations=2000):
    """EM for the per-centre variances of an equal-weight isotropic MoG with fixed centres, to convergence."""
    d = X.shape[1]
    D2 = pdist(X, centres) ** 2
    log_var = np.log((D2.min(axis=0) + 1e-3) / d)
    for _ in range(iterations):
        z = -0.5 * D2 / np.exp(log_var) - 0.5 * d * log_var
        r = np.exp(z - z.max(axis=1, keepdims=True))
        r /= r.sum(axis=1, keepdims=True)
        new = np.maximum(np.log((r * D2).sum(0) / (d * r.sum(0))), -40.0)
        if np.allclose(new, log_var, rtol=0, atol=1e-12):
            break
        log_var = new
    return log_var


def ref_mann_whitney_z(fake_d, test_d):
    """U = #{fake > test} + #{ties}/2, Z with the continuity shift 0.5 and no tie correction (dgm-eval's C_T)."""
    fake_d, test_d = np.asarray(fake_d), np.asarray(test_d)
    u = (fake_d[:, None] > test_d[None, :]).sum() + 0.5 * (fake_d[:, None] == test_d[None, :]).sum()
    m, n = len(fake_d), len(test_d)
    return float((u - (n * m / 2 - 0.5)) / np.sqrt(n * m * (n + m + 1) / 12))


def ref_cosine_kde(data, at, h):
    D = pdist(at, data)
    return np.where(D <= h, np.cos(np.pi / 2 * D / h), 0.0).sum(axis=1) / len(data)


def ref_top_pr(real, fake, k, alpha=0.1, repeats=10, seed=42):
    """top-pr 0.2.1's algorithm for d > 3 (no projection), its constant (pi / 4h)^d dropped."""

    def balloon(A):
        D = pdist(A, A)
        values = [np.sort(D[i, i + 1 :])[k - 1] for i in range(len(A) - k)]
        values = np.sort(values)
        return values[int(len(values) * 0.5) - 1]

    rng = np.random.RandomState(seed)

    def band(A, h):
        p_hat = ref_cosine_kde(A, A, h)
        theta = [
            np.abs(p_hat - ref_cosine_kde(A[rng.choice(np.arange(len(A)), len(A))], A, h)).max() for _ in range(repeats)
        ]
        return np.quantile(theta, 1 - alpha), p_hat

    hr, hf = balloon(real), balloon(fake)
    cr, pr = band(real, hr)
    cf, pf = band(fake, hf)
    precision = ((pf > cf) & (ref_cosine_kde(real, fake, hr) > cr)).sum() / (pf > cf).sum()
    recall = ((pr > cr) & (ref_cosine_kde(fake, real, hf) > cf)).sum() / (pr > cr).sum()
    return float(precision), float(recall)
