"""The differentiable scores: vendi and rke, and their conditional forms (see the package docstring)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..support.validation import check_order
from .bank import MemoryBank
from .kernels import (
    DOT_PRODUCT,
    bank_pair,
    bank_rows,
    check_tensor,
    joined_rows,
    kernel_matrix,
    resolve,
    unit_rows,
    work_dtype,
)
from .spectral import vendi_of_gram

__all__ = ["vendi", "rke", "conditional_vendi", "conditional_rke"]


def _sample_weights(weights: Any, n: int, like: torch.Tensor) -> torch.Tensor:
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
    if weights is not None:
        return _weighted_vendi(X, q, kernel, bandwidth, memory_bank, weights, kernel_params)
    Z, bank = _batch_and_bank(X, kernel, bandwidth, memory_bank, kernel_params)
    return bank.vendi(Z, q=q).to(X.dtype)


def _weighted_vendi(X, q, kernel, bandwidth, memory_bank, weights, kernel_params) -> torch.Tensor:
    """vendi with sample weights, on the joined rows (the weights cover the bank's rows: nothing to cache)."""
    Z, _ = joined_rows(X, memory_bank)
    spec = resolve(kernel, [(Z, "X")], bandwidth, kernel_params)
    n, d = Z.shape
    s = torch.sqrt(_sample_weights(weights, n, Z))
    if spec.name in DOT_PRODUCT and d < n:
        # the d x d dual: U^T U has the non-zero eigenvalues of U U^T (exact, O(n d^2 + d^3))
        U = (unit_rows(Z) if spec.name == "cosine" else Z) * s[:, None]
        K, size = U.mT @ U, max(n, d)
    else:
        K, size = kernel_matrix(Z, spec) * s[:, None] * s[None, :], n
    return vendi_of_gram(K, q, float(torch.finfo(Z.dtype).eps), size).to(X.dtype)


def _batch_and_bank(X, kernel, bandwidth, memory_bank, kernel_params) -> tuple[torch.Tensor, MemoryBank]:
    """(X in its working dtype, a MemoryBank holding the checked memory_bank, with the kernel resolved on both)."""
    Z = check_tensor(X, "X")
    Z = Z.to(work_dtype(Z))
    parts = [(Z, "X")]
    if memory_bank is not None:
        parts.append((bank_rows(memory_bank, Z), "memory_bank"))
    bank = MemoryBank(resolve(kernel, parts, bandwidth, kernel_params))
    if memory_bank is not None:
        bank.append(parts[1][0])
    return Z, bank


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
    Z, bank = _batch_and_bank(X, kernel, bandwidth, memory_bank, kernel_params)
    return bank.rke(Z).to(X.dtype)


# ----------------------------------------------------------------------------------------------------
# conditional scores: the product kernel of the samples and their conditions


def _conditional_inputs(X, T, kernel, bandwidth, condition_kernel, condition_bandwidth, memory_bank, kernel_params):
    """(X, T in X's working dtype and device, a conditional MemoryBank holding the bank pair)."""
    Z = check_tensor(X, "X")
    Z = Z.to(work_dtype(Z))
    C = check_tensor(T, "T")
    if C.shape[0] != Z.shape[0]:
        raise ValueError(f"T: has {C.shape[0]} rows but X has {Z.shape[0]}; one condition per sample")
    C = C.to(device=Z.device, dtype=Z.dtype)
    x_parts, t_parts = [(Z, "X")], [(C, "T")]
    if memory_bank is not None:
        rows, conditions = bank_pair(memory_bank)
        bank_x = bank_rows(rows, Z, "memory_bank[0]")
        bank_t = bank_rows(conditions, C, "memory_bank[1]")
        x_parts.append((bank_x, "memory_bank[0]"))
        t_parts.append((bank_t, "memory_bank[1]"))
    spec = resolve(kernel, x_parts, bandwidth, kernel_params)
    condition_spec = resolve(condition_kernel, t_parts, condition_bandwidth, {})
    bank = MemoryBank(spec, condition_spec)
    if memory_bank is not None:
        bank.append(x_parts[1][0], t_parts[1][0])
    return Z, C, bank


def conditional_vendi(
    X: torch.Tensor,
    T: torch.Tensor,
    *,
    q: Any = 1,
    kernel: str = "cosine",
    bandwidth: float | None = None,
    condition_kernel: str = "cosine",
    condition_bandwidth: float | None = None,
    memory_bank: tuple[torch.Tensor, torch.Tensor] | None = None,
    **kernel_params: Any,
) -> torch.Tensor:
    """Differentiable conditional Vendi score of samples ``X`` given their conditions ``T`` (e.g. prompts).

    The diversity of X that the conditions do not explain (Jalali, Ospanov, Gohari & Farnia, "Conditional
    Vendi Score", arXiv 2411.02817): with the product kernel k((x, t), (x', t')) = k_X(x, x') k_T(t, t'), i.e.
    the Hadamard product K_X o K_T, the conditional matrix entropy is H_q(X | T) = H_q(X, T) - H_q(T), and

        conditional VS_q = exp(H_q(X | T)) = VS_q(K_X o K_T) / VS_q(K_T),

    both spectra normalised by their traces, computed with the rules of :func:`vendi`. It lies between 1 and
    VS_q(K_X) for kernels with k(x, x) = 1; if every condition is the same it equals :func:`vendi` of X.
    Order 2 is :func:`conditional_rke`.

    Parameters
    ----------
    X : torch.Tensor (n, d)
        Sample embeddings; the gradient flows to it.
    T : torch.Tensor (n, d_T)
        The condition embeddings, one row per sample (moved to X's device and dtype); a gradient flows to it if
        it requires one.
    q, kernel, bandwidth, **kernel_params
        As in :func:`vendi`, for X (default kernel "cosine").
    condition_kernel : str, default "cosine"
    condition_bandwidth : float, optional
        The kernel of T; None: the median heuristic on T (and the bank's conditions).
    memory_bank : pair of tensors (m, d) and (m, d_T), optional
        Earlier samples and their conditions; detached.

    Returns
    -------
    torch.Tensor
        A 0-d tensor on X's device, in X's dtype.
    """
    q = check_order(q)
    Z, C, bank = _conditional_inputs(
        X, T, kernel, bandwidth, condition_kernel, condition_bandwidth, memory_bank, kernel_params
    )
    return bank.vendi(Z, C, q=q).to(X.dtype)


def conditional_rke(
    X: torch.Tensor,
    T: torch.Tensor,
    *,
    kernel: str = "rbf",
    bandwidth: float | None = None,
    condition_kernel: str = "cosine",
    condition_bandwidth: float | None = None,
    memory_bank: tuple[torch.Tensor, torch.Tensor] | None = None,
    **kernel_params: Any,
) -> torch.Tensor:
    """Differentiable conditional RKE: RKE(K_X o K_T) / RKE(K_T), the order-2 :func:`conditional_vendi`
    (Jalali et al. 2024's Conditional-RKE, used by SPARKE for prompt-aware guidance). No eigendecomposition.

    Parameters are those of :func:`conditional_vendi` (default kernel "rbf" for X). Returns a 0-d tensor on X's
    device and dtype.
    """
    Z, C, bank = _conditional_inputs(
        X, T, kernel, bandwidth, condition_kernel, condition_bandwidth, memory_bank, kernel_params
    )
    return bank.rke(Z, C).to(X.dtype)
