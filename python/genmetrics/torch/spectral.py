"""The spectral step of genmetrics.torch: an order-q Vendi score of a trace-1 symmetric matrix with the
closed-form backward dVS/dA = U diag(F'(lambda)) U^T (see the package docstring for the rules)."""

from __future__ import annotations

import math
from typing import Any

import torch


def vendi_and_derivative(w: torch.Tensor, q: float, eps: float, size: int) -> tuple[torch.Tensor, torch.Tensor]:
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


class SpectralVendi(torch.autograd.Function):
    """VS_q of a symmetric matrix A with trace 1; backward dVS/dA = U diag(phi) U^T (no eigen-gaps)."""

    @staticmethod
    def forward(ctx: Any, A: torch.Tensor, q: float, eps: float, size: int) -> torch.Tensor:
        A64 = A.detach().to(torch.float64)
        w, U = torch.linalg.eigh((A64 + A64.mT) / 2)
        value, phi = vendi_and_derivative(w, q, eps, size)
        ctx.save_for_backward(U, phi)
        return value.to(A.dtype)

    @staticmethod
    def backward(ctx: Any, *grad_outputs: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        (grad,) = grad_outputs
        U, phi = ctx.saved_tensors
        G = (U * phi) @ U.mT
        return (grad.to(torch.float64) * G).to(grad.dtype), None, None, None


def vendi_of_gram(K: torch.Tensor, q: float, eps: float, size: int, name: str = "X") -> torch.Tensor:
    """VS_q of the PSD matrix K normalised by its trace (differentiable in K); ``size`` scales the rank
    tolerance size * eps * p_max (n, or max(n, d) for the d x d dual)."""
    trace = torch.diagonal(K).sum()
    if not float(trace.detach()) > 0:
        raise ValueError(f"{name}: the kernel matrix has no positive eigenvalue (its trace is 0)")
    return SpectralVendi.apply(K / trace, q, eps, size)
