"""Plain float64 NumPy references for k-means, MAUVE and PRD curves, written from the papers (small inputs only).

- :func:`ref_kmeans`: Lloyd's algorithm with the seeding and update rules that :func:`genmetrics.kmeans` documents
  (k-means++ from ``numpy.random.default_rng(seed)``, sums in row order, empty clusters re-seeded at the farthest
  rows), on an (n, k, d) array of differences: the labels must be identical.
- :func:`ref_mauve`: Pillutla et al. 2021, eq. (1)-(3): the divergence curve of the mixtures and its area.
- :func:`ref_prd`: Sajjadi et al. 2018, Theorem 2: alpha(l) = sum min(l P, Q), beta(l) = sum min(P, Q / l).
"""

from __future__ import annotations

import math

import numpy as np


def _assign(X64, C, dtype):
    """Labels and squared distances to the centroids rounded to the input dtype; argmin ties to the lower index."""
    C = C.astype(dtype).astype(np.float64)
    d = np.sqrt(np.sum((X64[:, None, :] - C[None, :, :]) ** 2, axis=-1))
    labels = np.argmin(d, axis=1)
    nearest = d[np.arange(X64.shape[0]), labels]
    return labels, nearest * nearest


def _seed(X64, k, rng, dtype):
    n = X64.shape[0]
    chosen = [int(rng.integers(n))]
    nearest = None
    for _ in range(1, k):
        _, d2 = _assign(X64, X64[chosen[-1:]], dtype)
        nearest = d2 if nearest is None else np.minimum(nearest, d2)
        cumulative = np.cumsum(nearest)
        u = rng.random()
        if cumulative[-1] > 0:
            row = min(int(np.searchsorted(cumulative, u * cumulative[-1], side="right")), n - 1)
        else:
            row = min(int(u * n), n - 1)
        chosen.append(row)
    return X64[chosen].copy()


def ref_kmeans(X, k, *, n_init=1, max_iter=300, tol=1e-4, seed=0):
    """(centroids, labels, inertia, n_iter) by Lloyd's algorithm, float64."""
    X = np.asarray(X)
    X64 = X.astype(np.float64)
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_init):
        C = _seed(X64, k, rng, X.dtype)
        labels, d2 = _assign(X64, C, X.dtype)
        inertia = d2.sum()
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            counts = np.bincount(labels, minlength=k)
            new = np.zeros_like(C)
            for j in range(k):
                if counts[j]:
                    new[j] = X[labels == j].sum(axis=0, dtype=np.float64) / counts[j]
            empty = np.flatnonzero(counts == 0)
            if empty.size:
                farthest = sorted(range(X.shape[0]), key=lambda i: (-d2[i], i))[: empty.size]
                new[empty] = X64[farthest]
            new_labels, new_d2 = _assign(X64, new, X.dtype)
            done = np.array_equal(new_labels, labels) or abs(inertia - new_d2.sum()) < tol * inertia
            C, labels, d2, inertia = new, new_labels, new_d2, new_d2.sum()
            if done:
                break
        if best is None or inertia < best[2]:
            best = (C, labels, inertia, n_iter)
    return best


def kl(a, b):
    """KL(a || b), 0 log 0 = 0."""
    s = a > 0
    if np.any(b[s] == 0):
        return math.inf
    return float(np.sum(a[s] * np.log(a[s] / b[s])))


def ref_mauve(p, q, size=25, c=5.0):
    """The area under {(exp(-c KL(Q||R_l)), exp(-c KL(P||R_l)))} with the end points (1, 0), (0, 1), by the
    trapezoid rule as an integral of y over x (points sorted by x, the curve being monotone)."""
    p, q = np.asarray(p, float) / np.sum(p), np.asarray(q, float) / np.sum(q)
    points = [(1.0, 0.0), (0.0, 1.0)]
    for w in np.linspace(1e-6, 1 - 1e-6, size):
        r = w * p + (1 - w) * q
        points.append((math.exp(-c * kl(q, r)), math.exp(-c * kl(p, r))))
    x, y = np.array(sorted(points, key=lambda t: (t[0], -t[1]))).T
    trapezoid = getattr(np, "trapezoid", getattr(np, "trapz", None))  # NumPy 2, or trapz at the floor 1.22
    return float(trapezoid(y, x))


def ref_frontier_integral(p, q):
    """FI(P, Q) = 2 int_0^1 [l KL(P || R_l) + (1 - l) KL(Q || R_l)] dl, by quadrature (Pillutla et al. 2023)."""
    p, q = np.asarray(p, float) / np.sum(p), np.asarray(q, float) / np.sum(q)
    nodes, weights = np.polynomial.legendre.leggauss(200)
    ls, ws = (nodes + 1) / 2, weights / 2
    return 2 * sum(
        w * (lam * kl(p, lam * p + (1 - lam) * q) + (1 - lam) * kl(q, lam * p + (1 - lam) * q))
        for lam, w in zip(ls, ws)
    )


def ref_prd(P, Q, num_angles=1001):
    """(precision, recall) for slopes tan(a), a evenly spaced in [1e-10, pi/2 - 1e-10], each min taken per bin."""
    P, Q = np.asarray(P, float) / np.sum(P), np.asarray(Q, float) / np.sum(Q)
    lambdas = np.tan(np.linspace(1e-10, np.pi / 2 - 1e-10, num_angles))
    precision = np.array([sum(min(lam * a, b) for a, b in zip(P, Q)) for lam in lambdas])
    recall = np.array([sum(min(a, b / lam) for a, b in zip(P, Q)) for lam in lambdas])
    return np.clip(precision, 0, 1), np.clip(recall, 0, 1)


def ref_f_beta(precision, recall, beta):
    b2 = beta * beta
    return max((1 + b2) * p * r / (b2 * p + r) if b2 * p + r > 0 else 0.0 for p, r in zip(precision, recall))
