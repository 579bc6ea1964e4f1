"""Spectra of K / trace(K): exact, dual, Nystrom (+ subspace iteration) and random Fourier features.

Every method returns a :class:`Spectrum`: eigenvalues that sum to at most 1, plus, for approximations, the
mass they missed. The Hill numbers (Vendi scores) of such a spectrum are in :func:`genmetrics.diversity.hill_number`.
This module is written against the array namespace, so NumPy and CuPy run the same code; only the Gram
products go through the backend (the compiled engine when there is one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..support.arrays import array_namespace, to_float, to_host
from .kernels import KernelSpec, kernel_diagonal


@dataclass(frozen=True)
class Spectrum:
    """Eigenvalues of K / trace(K), largest first, in float64 on the host.

    ``zero_tolerance`` is the rank tolerance (shared/METRICS.md): about (problem size) * eps * lambda_max with
    eps that of the precision the spectrum was computed in; eigenvalues at or below it are indistinguishable
    from round-off, and the orders q < 1 count them as 0 (:func:`genmetrics.diversity.hill_number`).
    ``tail_mass`` = 1 - sum(eigenvalues) is what an approximation did not capture. Both Nystrom and
    Rayleigh-Ritz under-estimate each eigenvalue, by at most ``tail_mass`` (the trace of the PSD residual).
    It is spread evenly over the ``tail_count`` eigenvalues that were not computed.
    """

    eigenvalues: np.ndarray
    method: str
    size: int  # n: the kernel matrix is n x n, whatever number of eigenvalues was computed
    zero_tolerance: float = 0.0
    tail_mass: float = 0.0
    tail_count: int = 0


def linalg_call(function, A, name: str, **kwargs):
    """``function(A, **kwargs)`` (an ``xp.linalg`` solver on a float64 matrix derived from argument ``name``), with
    its failures turned into a ValueError naming ``name``: LAPACK's non-convergence (LinAlgError; CuPy raises it
    too), a non-finite matrix (an intermediate that overflowed) and NaN in the result (cuSOLVER's way of not
    converging). They arise only on pathological matrices, which the user can rescale or avoid."""
    xp = array_namespace(A)
    overflow = "an intermediate matrix overflows float64 (|values| too large?); rescale it"
    if not bool(xp.all(xp.isfinite(A))):
        raise ValueError(f"{name}: {overflow}")
    try:
        out = function(A, **kwargs)
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            f"{name}: the eigensolver did not converge on its {A.shape[0]} x {A.shape[1]} matrix ({exc}); "
            "check it for extreme or nearly duplicated values, rescale it, or try another method"
        ) from None
    if not all(bool(xp.all(xp.isfinite(part))) for part in (out if isinstance(out, tuple) else (out,))):
        raise ValueError(f"{name}: the eigensolver returned NaN; {overflow}")
    return out


def spectrum_from_eigenvalues(w, problem_size: int, eps: float, method: str, size: int, name: str = "X") -> Spectrum:
    """Clip round-off negatives to 0 and renormalise to sum 1 (the trace is the sum of all eigenvalues).

    Divided by the largest eigenvalue before summing, so that eigenvalues near the float64 limit do not
    overflow the sum (vendi_from_eigenvalues([1e308, 1e308]) is 2).
    """
    w = to_host(w).astype(np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name}: the kernel matrix has non-finite eigenvalues; rescale it")
    w = np.clip(np.sort(w)[::-1], 0.0, None)
    if not w[0] > 0:
        raise ValueError(f"{name}: the kernel matrix has no positive eigenvalue (its trace is 0)")
    w = w / w[0]
    w = w / w.sum()
    return Spectrum(w, method, size, zero_tolerance=problem_size * eps * w[0])


def _eigenvalues(A, name: str = "X"):
    """Eigenvalues of a symmetric matrix, always solved in float64: a float32 solve leaves round-off
    eigenvalues of size n eps32 lambda_max, which orders q < 1 count (1 % off on the cluster cases)."""
    xp = array_namespace(A)
    if not bool(xp.all(xp.isfinite(A))):
        raise ValueError(f"{name}: the kernel matrix has non-finite entries; rescale it")
    return linalg_call(xp.linalg.eigvalsh, A.astype(xp.float64), name)


def exact_spectrum(engine, spec: KernelSpec, X) -> Spectrum:
    """Dense eigenvalues of the full n x n kernel matrix: O(n^2 d + n^3) time, O(n^2) memory."""
    w = _eigenvalues(engine.gram(spec, X))
    return spectrum_from_eigenvalues(w, X.shape[0], float(np.finfo(X.dtype).eps), "exact", X.shape[0])


def dual_gram(engine, spec: KernelSpec, X):
    """X^T X (rows scaled to unit norm first for cosine), d x d in float64: its non-zero eigenvalues are
    those of the n x n linear/cosine kernel matrix X X^T."""
    xp = array_namespace(X)
    if spec.name == "cosine":
        inverse_norms = 1.0 / xp.sqrt(xp.einsum("ij,ij->i", X, X, dtype=xp.float64))
        X = xp.ascontiguousarray(X * inverse_norms[:, None].astype(X.dtype))
    return engine.column_gram(X)


def dual_spectrum(engine, spec: KernelSpec, X) -> Spectrum:
    """Linear/cosine kernels from the d x d dual: O(n d^2 + d^3) instead of O(n^2 d + n^3), exact."""
    n, d = X.shape
    w = _eigenvalues(dual_gram(engine, spec, X))
    return spectrum_from_eigenvalues(w, max(n, d), float(np.finfo(X.dtype).eps), "dual", n)


def _orthonormal(Y):
    xp = array_namespace(Y)
    Q, _ = linalg_call(xp.linalg.qr, Y, "X")
    return Q


def nystrom_spectrum(engine, spec: KernelSpec, X, rank: int, seed: int, n_iter: int = 0) -> Spectrum:
    """Nystrom approximation from ``rank`` landmark columns, refined by ``n_iter`` subspace iterations.

    Landmarks are ``rank`` rows drawn without replacement (``numpy.random.default_rng(seed)``). With
    C = K[:, L] and W = K[L, L], K ~ C W^+ C^T = F F^T, and the non-zero eigenvalues of F F^T are those of
    F^T F (rank x rank): O(n rank d + n rank^2). Each subspace iteration multiplies the basis by K through
    the fused K.V product (O(n^2 (d + rank)), never storing K) and ends with a Rayleigh-Ritz step.
    Both approximations are below K in the PSD order, so every eigenvalue is under-estimated, by at most
    the missed mass 1 - sum(eigenvalues) (reported as ``tail_mass``).
    Landmarks whose kernel block W has no positive eigenvalue (zero rows under a linear kernel, say) capture
    nothing: that is a ValueError naming ``rank``, not a score made of the tail alone.

    What is bounded and what is not: ``tail_mass`` bounds the error of each computed eigenvalue (and of sum
    lambda, hence of VS_2's denominator up to 2 tail_mass). It does not bound the error of an entropy: the n - rank
    eigenvalues not computed are replaced by their mean, which for q <= 1 is biased upward when the true tail is
    long and uneven (12 tight clusters, n = 3000, rank 300: VS_1 +8 %, VS_0.5 +98 %), and no interval is given.
    :mod:`genmetrics.engine.stochastic` estimates the tail's share with an interval instead.
    """
    xp = array_namespace(X)
    n = X.shape[0]
    trace = to_float(kernel_diagonal(spec, X).sum())
    if not trace > 0:  # every row zero under a linear kernel: no landmark could help
        raise ValueError("X: the kernel matrix has no positive eigenvalue (its trace is 0)")
    landmarks = np.sort(np.random.default_rng(seed).choice(n, size=rank, replace=False))
    C = engine.gram(spec, X, X[xp.asarray(landmarks)]).astype(xp.float64)
    W = C[xp.asarray(landmarks)]
    W = (W + W.T) / 2
    w, U = linalg_call(xp.linalg.eigh, W, "X")
    eps = float(np.finfo(X.dtype).eps)
    largest = to_float(w.max())
    keep = w > largest * rank * eps * 10  # the pseudo-inverse ignores round-off directions
    if not largest > 0 or not bool(xp.any(keep)):
        raise ValueError(
            f"rank: the kernel block of the {rank} landmark rows drawn with seed={seed} has no positive "
            "eigenvalue (are they zero rows?), so the Nystrom approximation captures nothing; use a larger rank, "
            "another seed, or method='exact'"
        )
    F = C @ (U[:, keep] / xp.sqrt(w[keep])[None, :])
    if n_iter > 0:
        Q = _orthonormal(F)
        for _ in range(n_iter):
            Q = _orthonormal(engine.kernel_matvec(spec, X, None, Q))
        KQ = engine.kernel_matvec(spec, X, None, Q)
        B = Q.T @ KQ
        eigenvalues = linalg_call(xp.linalg.eigvalsh, (B + B.T) / 2, "X")
    else:
        eigenvalues = linalg_call(xp.linalg.eigvalsh, F.T @ F, "X")
    eigenvalues = np.clip(np.sort(to_host(eigenvalues))[::-1], 0.0, None) / trace
    captured = float(eigenvalues.sum())
    tail_mass = max(0.0, 1.0 - captured)
    return Spectrum(
        eigenvalues,
        "nystrom",
        n,
        zero_tolerance=n * eps * float(eigenvalues[0]),
        tail_mass=tail_mass,
        tail_count=n - eigenvalues.size,
    )


def rff_spectrum(spec: KernelSpec, X, rank: int, seed: int) -> Spectrum:
    """Random Fourier features (FKEA, Ospanov et al. 2024) for shift-invariant kernels.

    phi(x) = [cos(W^T x), sin(W^T x)] / sqrt(rank) with ``rank`` frequencies W (d x rank): for rbf
    W ~ N(0, sigma^-2 I); for laplacian the multivariate Cauchy z / (sigma |g|), z ~ N(0, I), g ~ N(0, 1).
    phi(x).phi(y) is an unbiased estimate of k(x, y), and phi(x).phi(x) = 1 exactly, so the eigenvalues of
    Phi^T Phi / n (2 rank x 2 rank, or the n x n Phi Phi^T / n when smaller) sum to 1. O(n d rank + n rank^2);
    the error shrinks as 1/sqrt(rank). Phi is formed in float64 from the given X, so the rank tolerance is
    max(n, 2 rank) * eps64 * lambda_max whatever X's dtype (a float32 eps would cut real eigenvalues).

    What is bounded and what is not: each kernel entry is unbiased with variance O(1 / rank); nothing bounds the
    eigenvalues' or VS_q's error for a given draw, VS_q is biased (a non-linear function of K), and at most 2 rank
    eigenvalues exist, so a spectral tail beyond them is cut off (laplacian VS_1 -14 % at rank 400 in
    tests/test_diversity.py). No interval is given.
    """
    xp = array_namespace(X)
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    omega = rng.standard_normal((d, rank)) / spec.sigma
    if spec.name == "laplacian":
        omega = omega / np.abs(rng.standard_normal(rank))[None, :]
    projections = X.astype(xp.float64) @ xp.asarray(omega)
    features = xp.concatenate([xp.cos(projections), xp.sin(projections)], axis=1) / math.sqrt(rank)
    n = X.shape[0]
    # the non-zero eigenvalues of Phi^T Phi / n and Phi Phi^T / n coincide: decompose the smaller one
    C = (features.T @ features if 2 * rank <= n else features @ features.T) / n
    w = linalg_call(xp.linalg.eigvalsh, C, "X")
    return spectrum_from_eigenvalues(w, max(n, 2 * rank), float(np.finfo(np.float64).eps), "rff", n)
