"""Differentiable Vendi and RKE scores for PyTorch (``pip install "genmetrics[torch]"``).

``from genmetrics import torch as gmt`` gives :func:`vendi` and :func:`rke`, which return a scalar tensor on the
device and in the dtype of ``X`` that can be back-propagated to ``X``: a diversity regulariser for training
(``loss = task_loss - lam * gmt.vendi(batch).log()``) or a guidance signal for sampling, optionally against a
``memory_bank`` of earlier samples (fixed, no gradient) that joins the set, as in SPARKE and c-VSG.

Values are those of :func:`genmetrics.vendi` (``method="exact"``) and :func:`genmetrics.rke` on the same rows:
same kernels (shared/METRICS.md), same median-heuristic bandwidth, same rank tolerance.

The backward pass is in closed form. Every order-q Vendi score is a spectral function of the normalised matrix
A = K / trace(K): VS = F(eigenvalues of A), whose gradient is dVS/dA = U diag(F'(lambda)) U^T. That formula has
no 1 / (lambda_i - lambda_j) terms, so it is exact and finite for repeated eigenvalues (duplicated rows, collapsed
batches), where autograd through ``torch.linalg.eigh``/``eigvalsh`` of the same function gives NaN or inf
(PyTorch issues #47599, #76531). Only that eigen step is custom; the trace normalisation and the kernel are
differentiated by autograd. The eigendecomposition is always solved in float64 (float32 inputs included). For
linear and cosine kernels with fewer features than rows (X and the bank), A is the d x d dual U^T U / trace
(same non-zero eigenvalues, rank tolerance max(n, d) eps as in ``genmetrics.vendi(method="dual")``), so a bank of
10,000 rows in d = 1,024 costs a 1,024 x 1,024 eigendecomposition.

Rules at the edges of the spectrum (eigenvalues p of A, normalised to sum 1; tau = n * eps * p_max, eps of X's
dtype, n the rows of X plus the bank, the rank tolerance of :func:`genmetrics.vendi`):

* q = 1: VS = exp(-sum p log p) over p > 0; its derivative -log p - 1 is infinite at p = 0, so it is taken at
  max(p, tau) (finite: -log tau <= -log eps, 36 in float64). Where a zero eigenvalue comes from duplicated or
  collapsed rows, the kernel's derivative has no component along its eigenvector and the result is the exact
  gradient.
* 0 < q < 1: eigenvalues <= tau count as 0 (value and gradient), the rest are renormalised, as in
  :func:`genmetrics.vendi`; q = 0 (the numerical rank) is piecewise constant: gradient 0.
* q = inf: VS = 1 / p_max, gradient -VS^2 u u^T with u the top eigenvector; when p_max is repeated this is one
  subgradient (that of the eigenvector ``torch.linalg.eigh`` returns last).
* laplacian: |x - y| has no derivative at x = y; coincident rows get the subgradient 0 there (the diagonal of
  rbf, laplacian and cosine kernels is exactly 1 and carries no gradient).

RKE (trace(K)^2 / sum_ij k_ij^2) needs no eigendecomposition: plain autograd is exact.

Importing :mod:`genmetrics` never imports torch; importing this subpackage does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..engine.kernels import TRANSLATION_INVARIANT, KernelSpec, resolve_kernel
from ..support.validation import check_kernel, check_order

__all__ = ["vendi", "rke"]

#: kernels whose n x n matrix is U U^T of rows U (cosine: X's rows scaled to unit norm): vendi uses the d x d dual
DOT_PRODUCT = ("linear", "cosine")


# ----------------------------------------------------------------------------------------------------
# validation


def _check_tensor(X: Any, name: str) -> torch.Tensor:
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(X).__name__} (use genmetrics.vendi for arrays)")
    if X.is_complex() or not X.is_floating_point():
        raise TypeError(f"{name}: expected a real floating tensor, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (samples x features), got {X.ndim}-D shape {tuple(X.shape)}")
    if X.shape[0] < 1:
        raise ValueError(f"{name}: needs at least 1 row(s), got {X.shape[0]}")
    if X.shape[1] == 0:
        raise ValueError(f"{name}: has 0 features")
    if not bool(torch.isfinite(X.detach()).all()):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return X


def _work_dtype(X: torch.Tensor) -> torch.dtype:
    # half precision kernels lose too much: they are computed in float32 and the score cast back
    return X.dtype if X.dtype in (torch.float32, torch.float64) else torch.float32


def _joined(X: Any, memory_bank: Any) -> tuple[torch.Tensor, int]:
    """(the rows of X then those of the detached bank, in the working dtype, n_x)."""
    X = _check_tensor(X, "X")
    dtype = _work_dtype(X)
    Z = X.to(dtype)
    if memory_bank is None:
        return Z, X.shape[0]
    bank = _check_tensor(memory_bank, "memory_bank")
    if bank.shape[1] != X.shape[1]:
        raise ValueError(
            f"memory_bank: has {bank.shape[1]} features but X has {X.shape[1]}; both must be embedded alike"
        )
    bank = bank.detach().to(device=X.device, dtype=dtype)
    return torch.cat([Z, bank], dim=0), X.shape[0]


def _resolve(kernel: Any, Z: torch.Tensor, bandwidth: Any, kernel_params: dict[str, Any]) -> KernelSpec:
    """The kernel's parameters, checked as genmetrics.vendi checks them; the median-heuristic bandwidth is
    computed in NumPy on the detached rows (X and the bank), and is a constant afterwards."""
    name = check_kernel(kernel)
    if name in TRANSLATION_INVARIANT and bandwidth is None:
        host = Z.detach().to("cpu", torch.float64).numpy()
    else:
        host = np.ones((1, Z.shape[1]))  # only the width is read
    spec = resolve_kernel(name, host, bandwidth, **kernel_params)
    if name == "cosine":
        zero = (Z.detach() == 0).all(dim=1)
        if bool(zero.any()):
            first = int(torch.nonzero(zero)[0, 0])
            raise ValueError(f"X: row {first} has zero norm; the cosine kernel is undefined for it")
    return spec


# ----------------------------------------------------------------------------------------------------
# kernels (differentiable)


def _squared_distances(Z: torch.Tensor, rows: int) -> torch.Tensor:
    # translation invariant: centre first (a constant shift, no effect on the gradient) to limit cancellation
    Z = Z - Z.detach().mean(dim=0)
    sq = (Z * Z).sum(dim=1)
    return (sq[:rows, None] + sq[None, :] - 2.0 * (Z[:rows] @ Z.mT)).clamp_min(0.0)


def _kernel_rows(Z: torch.Tensor, rows: int, spec: KernelSpec) -> torch.Tensor:
    """The first ``rows`` rows of the kernel matrix of the rows of Z (rows x n); all of it for rows = n."""
    if spec.name == "linear":
        return Z[:rows] @ Z.mT
    if spec.name == "polynomial":
        gamma = spec.gamma if spec.gamma is not None else 1.0 / Z.shape[1]
        return (gamma * (Z[:rows] @ Z.mT) + spec.coef0) ** spec.degree
    if spec.name == "cosine":
        U = Z / torch.linalg.vector_norm(Z, dim=1, keepdim=True)
        K = U[:rows] @ U.mT
    elif spec.name == "rbf":
        K = torch.exp(_squared_distances(Z, rows) / (-2.0 * spec.sigma**2))
    else:  # laplacian: sqrt has an infinite derivative at 0, so coincident pairs get the subgradient 0
        d2 = _squared_distances(Z, rows)
        positive = d2 > 0
        distance = torch.where(positive, torch.sqrt(torch.where(positive, d2, torch.ones_like(d2))), 0.0)
        K = torch.exp(distance / -spec.sigma)
    eye = torch.eye(rows, Z.shape[0], dtype=torch.bool, device=Z.device)
    return torch.where(eye, torch.ones((), dtype=K.dtype, device=K.device), K)


def _kernel_matrix(Z: torch.Tensor, spec: KernelSpec) -> torch.Tensor:
    return _kernel_rows(Z, Z.shape[0], spec)


# ----------------------------------------------------------------------------------------------------
# the spectral step


def _spectral(w: torch.Tensor, q: float, eps: float, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(VS, dVS/dlambda) of the float64 eigenvalues ``w`` (ascending) of a trace-1 matrix, as 0-d and 1-D
    tensors; ``size`` scales the rank tolerance (n, or max(n, d) for the dual). The value is that of
    genmetrics.diversity.hill_number; the derivative follows the module's rules."""
    p = w.clamp_min(0.0)
    top = p[-1]
    if not float(top) > 0:
        raise ValueError("X: the kernel matrix has no positive eigenvalue (its trace is 0)")
    p = p / top
    p = p / p.sum()
    m = p[-1]
    tolerance = size * eps * m
    zero = torch.zeros_like(p)
    if math.isinf(q):
        value = 1.0 / m
        phi = zero.clone()
        phi[-1] = -value * value
        return value, phi
    if q == 1:
        positive = p > 0
        logs = torch.log(torch.where(positive, p, torch.ones_like(p)))
        value = torch.exp(-(torch.where(positive, p * logs, zero)).sum())
        return value, -value * torch.log(p.clamp_min(tolerance))
    keep = p > tolerance if q < 1 else p > 0
    if q < 1:
        p = torch.where(keep, p, zero)
        p = p / p.sum()
        if q == 0:
            return keep.sum().to(p.dtype), zero
        m = p[-1]
    logs = torch.log(torch.where(keep, p, torch.ones_like(p)))
    if abs(q - 1) < 0.5:
        # sum p^q = 1 + sum p expm1((q - 1) log p) since sum p = 1; shifted derivative expm1 (a multiple of I
        # added to dVS/dA has no effect: A's trace is fixed), finite as q -> 1
        shifted = torch.where(keep, torch.expm1((q - 1) * logs), -torch.ones_like(p))
        total = 1.0 + torch.where(keep, p * shifted, zero).sum()
        value = torch.exp(torch.log(total) / (1 - q))
        return value, value * (q / (1 - q)) * shifted / total
    # relative to the largest: (p / m)^q neither overflows nor underflows for large q
    log_m = torch.log(m)
    relative = torch.where(keep, torch.exp((logs - log_m) * q), zero)
    total = relative.sum()
    value = torch.exp(-(log_m + torch.log(total) / q) / (1 - 1 / q))
    ratio = torch.where(keep, torch.exp((logs - log_m) * (q - 1)), zero) / (m * total)
    return value, value * (q / (1 - q)) * ratio


class _SpectralVendi(torch.autograd.Function):
    """VS_q of a symmetric matrix A with trace 1; backward dVS/dA = U diag(phi) U^T (no eigen-gaps)."""

    @staticmethod
    def forward(ctx: Any, A: torch.Tensor, q: float, eps: float, size: int) -> torch.Tensor:
        A64 = A.detach().to(torch.float64)
        w, U = torch.linalg.eigh((A64 + A64.mT) / 2)
        value, phi = _spectral(w, q, eps, size)
        ctx.save_for_backward(U, phi)
        return value.to(A.dtype)

    @staticmethod
    def backward(ctx: Any, *grad_outputs: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        (grad,) = grad_outputs
        U, phi = ctx.saved_tensors
        G = (U * phi) @ U.mT
        return (grad.to(torch.float64) * G).to(grad.dtype), None, None, None


def _weights(weights: Any, n: int, like: torch.Tensor) -> torch.Tensor:
    if isinstance(weights, torch.Tensor):
        p = weights.to(device=like.device, dtype=like.dtype)
    else:
        try:
            p = torch.as_tensor(np.asarray(weights, dtype=np.float64), device=like.device).to(like.dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"weights: cannot be converted to a tensor ({exc})") from None
    if p.ndim != 1 or p.shape[0] != n:
        raise ValueError(
            f"weights: expected a vector of length {n} (one weight per row of X and of the memory bank), "
            f"got shape {tuple(p.shape)}"
        )
    detached = p.detach()
    if not bool(torch.isfinite(detached).all()) or bool((detached < 0).any()):
        raise ValueError("weights: must be finite and non-negative")
    if not float(detached.sum()) > 0:
        raise ValueError("weights: must have a positive sum")
    return p


# ----------------------------------------------------------------------------------------------------
# public


def vendi(
    X: torch.Tensor,
    *,
    q: Any = 1,
    kernel: str = "cosine",
    bandwidth: float | None = None,
    memory_bank: torch.Tensor | None = None,
    weights: Any = None,
    **kernel_params: Any,
) -> torch.Tensor:
    """Differentiable Vendi score of order ``q`` of the rows of ``X`` (and of ``memory_bank``).

    Parameters
    ----------
    X : torch.Tensor (n, d)
        Embeddings, one row per sample; the gradient flows to it.
    q : float >= 0, or math.inf / "inf", default 1
        The order, as in :func:`genmetrics.vendi` (see the module docstring for the gradient's rules).
    kernel : {"cosine", "linear", "rbf", "laplacian", "polynomial"}, default "cosine"
    bandwidth : float, optional
        sigma of rbf/laplacian; None: the median heuristic of :func:`genmetrics.vendi` on the rows of X and the
        bank (detached; a constant for the gradient).
    memory_bank : torch.Tensor (m, d), optional
        Fixed earlier samples that join the set (rows after those of X); detached: no gradient reaches it.
    weights : vector of n + m probabilities, optional
        Sample weights p: the spectrum is that of diag(sqrt p) K diag(sqrt p) normalised by its trace, as in
        :func:`genmetrics.compat.vendi_score.score_K` (default uniform). A tensor that requires grad gets one.
    **kernel_params
        ``gamma``, ``coef0``, ``degree`` of the polynomial kernel.

    Returns
    -------
    torch.Tensor
        A 0-d tensor on X's device, in X's dtype.
    """
    q = check_order(q)
    Z, _ = _joined(X, memory_bank)
    spec = _resolve(kernel, Z, bandwidth, kernel_params)
    n, d = Z.shape
    s = None if weights is None else torch.sqrt(_weights(weights, n, Z))
    if spec.name in DOT_PRODUCT and d < n:
        # the d x d dual: U^T U has the non-zero eigenvalues of U U^T (exact, O(n d^2 + d^3))
        U = Z / torch.linalg.vector_norm(Z, dim=1, keepdim=True) if spec.name == "cosine" else Z
        if s is not None:
            U = U * s[:, None]
        K = U.mT @ U
        size = max(n, d)
    else:
        K = _kernel_matrix(Z, spec)
        if s is not None:
            K = K * s[:, None] * s[None, :]
        size = n
    trace = torch.diagonal(K).sum()
    if not float(trace.detach()) > 0:
        raise ValueError("X: the kernel matrix has no positive eigenvalue (its trace is 0)")
    eps = float(torch.finfo(Z.dtype).eps)
    value = _SpectralVendi.apply(K / trace, q, eps, size)
    return value.to(X.dtype)


def rke(
    X: torch.Tensor,
    *,
    kernel: str = "rbf",
    bandwidth: float | None = None,
    memory_bank: torch.Tensor | None = None,
    **kernel_params: Any,
) -> torch.Tensor:
    """Differentiable RKE mode count trace(K)^2 / sum_ij k_ij^2 (= Vendi of order 2) of the rows of ``X`` (and
    of ``memory_bank``), the value of :func:`genmetrics.rke`. No eigendecomposition: plain autograd is exact.

    Parameters are those of :func:`vendi` (default kernel "rbf"). Returns a 0-d tensor on X's device and dtype.
    """
    Z, n = _joined(X, memory_bank)
    spec = _resolve(kernel, Z, bandwidth, kernel_params)
    # K = [[K_xx, K_xb], [K_bx, K_bb]]: the bank's own block K_bb carries no gradient and is made without autograd
    top = _kernel_rows(Z, n, spec)
    with torch.no_grad():
        bank = _kernel_matrix(Z[n:], spec)
    trace = torch.diagonal(top[:, :n]).sum() + torch.diagonal(bank).sum()
    if not float(trace.detach()) > 0:
        raise ValueError("X: the kernel matrix has no positive eigenvalue (its trace is 0)")
    scale = top.detach().abs().max()  # sum (k / max)^2 cannot overflow
    if bank.numel():
        scale = torch.maximum(scale, bank.abs().max())
    squares = ((top[:, :n] / scale) ** 2).sum() + 2 * ((top[:, n:] / scale) ** 2).sum() + ((bank / scale) ** 2).sum()
    value = (trace / scale) ** 2 / squares
    return value.to(X.dtype)
