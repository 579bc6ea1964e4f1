"""Validation and differentiable kernels for genmetrics.torch: the kernels of shared/METRICS.md in torch, with
their parameters (the median-heuristic bandwidth included) resolved as :func:`genmetrics.vendi` resolves them."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..engine.kernels import TRANSLATION_INVARIANT, KernelSpec, resolve_kernel
from ..support.validation import check_kernel

#: kernels whose n x n matrix is U U^T of rows U (cosine: X's rows scaled to unit norm): vendi uses the d x d dual
DOT_PRODUCT = ("linear", "cosine")

# ----------------------------------------------------------------------------------------------------
# validation


def check_tensor(X: Any, name: str) -> torch.Tensor:
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


def work_dtype(X: torch.Tensor) -> torch.dtype:
    # half precision kernels lose too much: they are computed in float32 and the score cast back
    return X.dtype if X.dtype in (torch.float32, torch.float64) else torch.float32


def bank_rows(memory_bank: Any, like: torch.Tensor, name: str = "memory_bank") -> torch.Tensor:
    """The bank's rows, checked against the batch ``like`` (already in the working dtype), detached, on its
    device and in its dtype."""
    bank = check_tensor(memory_bank, name)
    if bank.shape[1] != like.shape[1]:
        raise ValueError(
            f"{name}: has {bank.shape[1]} features but the batch has {like.shape[1]}; both must be embedded alike"
        )
    return bank.detach().to(device=like.device, dtype=like.dtype)


def bank_pair(memory_bank: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """A conditional bank: a pair (samples, conditions) of tensors with one condition per sample, detached."""
    if not (isinstance(memory_bank, (tuple, list)) and len(memory_bank) == 2):
        raise TypeError(
            f"memory_bank: expected a pair (bank samples, bank conditions) of tensors, got {type(memory_bank).__name__}"
        )
    rows = check_tensor(memory_bank[0], "memory_bank[0]").detach()
    conditions = check_tensor(memory_bank[1], "memory_bank[1]").detach()
    if rows.shape[0] != conditions.shape[0]:
        raise ValueError(
            f"memory_bank: its samples have {rows.shape[0]} rows but its conditions {conditions.shape[0]}; "
            "one condition per sample"
        )
    return rows, conditions


def joined_rows(X: Any, memory_bank: Any, name: str = "X", bank_name: str = "memory_bank") -> tuple[torch.Tensor, int]:
    """(the rows of X then those of the detached bank, in the working dtype, n_x)."""
    X = check_tensor(X, name)
    Z = X.to(work_dtype(X))
    if memory_bank is None:
        return Z, X.shape[0]
    return torch.cat([Z, bank_rows(memory_bank, Z, bank_name)], dim=0), X.shape[0]


def resolve(
    kernel: Any, parts: list[tuple[torch.Tensor, str]], bandwidth: Any, kernel_params: dict[str, Any]
) -> KernelSpec:
    """The kernel's parameters, checked as genmetrics.vendi checks them. ``parts`` are the row sets that the
    kernel will see, with their names; the median-heuristic bandwidth is computed in NumPy on their detached
    rows, concatenated in that order (the batch, then the bank), and is a constant for the gradient."""
    name = check_kernel(kernel)
    width = parts[0][0].shape[1]
    if name in TRANSLATION_INVARIANT and bandwidth is None:
        host = np.concatenate([rows.detach().to("cpu", torch.float64).numpy() for rows, _ in parts])
    else:
        host = np.ones((1, width))  # only the width is read
    spec = resolve_kernel(name, host, bandwidth, **kernel_params)
    if name == "cosine":
        for rows, label in parts:
            zero = (rows.detach() == 0).all(dim=1)
            if bool(zero.any()):
                first = int(torch.nonzero(zero)[0, 0])
                raise ValueError(f"{label}: row {first} has zero norm; the cosine kernel is undefined for it")
    return spec


# ----------------------------------------------------------------------------------------------------
# kernels (differentiable)


def squared_distances(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    # translation invariant: both sets shifted by B's mean first (a constant, no effect on the gradient), which
    # limits the cancellation in |a|^2 + |b|^2 - 2 a.b
    shift = B.detach().mean(dim=0)
    A, B = A - shift, B - shift
    return ((A * A).sum(dim=1)[:, None] + (B * B).sum(dim=1)[None, :] - 2.0 * (A @ B.mT)).clamp_min(0.0)


def unit_rows(A: torch.Tensor) -> torch.Tensor:
    return A / torch.linalg.vector_norm(A, dim=1, keepdim=True)


def kernel_between(A: torch.Tensor, B: torch.Tensor, spec: KernelSpec, *, diagonal: int | None = None) -> torch.Tensor:
    """k(a_i, b_j), len(A) x len(B), differentiable in A and B. ``diagonal``: A's rows are B's rows from that
    index on (the rows of X against X joined with the bank: 0), so the entries (i, diagonal + i) are k(a_i, a_i),
    exactly 1 for the unit-diagonal kernels, with no gradient."""
    if spec.name == "linear":
        return A @ B.mT
    if spec.name == "polynomial":
        gamma = spec.gamma if spec.gamma is not None else 1.0 / A.shape[1]
        return (gamma * (A @ B.mT) + spec.coef0) ** spec.degree
    if spec.name == "cosine":
        K = unit_rows(A) @ unit_rows(B).mT
    elif spec.name == "rbf":
        K = torch.exp(squared_distances(A, B) / (-2.0 * spec.sigma**2))
    else:  # laplacian: sqrt has an infinite derivative at 0, so coincident pairs get the subgradient 0
        d2 = squared_distances(A, B)
        positive = d2 > 0
        distance = torch.where(positive, torch.sqrt(torch.where(positive, d2, torch.ones_like(d2))), 0.0)
        K = torch.exp(distance / -spec.sigma)
    if diagonal is None:
        return K
    rows = torch.arange(A.shape[0], device=A.device)
    on_diagonal = torch.arange(B.shape[0], device=A.device)[None, :] == (rows + diagonal)[:, None]
    return torch.where(on_diagonal, torch.ones((), dtype=K.dtype, device=K.device), K)


def kernel_matrix(Z: torch.Tensor, spec: KernelSpec) -> torch.Tensor:
    return kernel_between(Z, Z, spec, diagonal=0)
