"""Diversity for training and sampling: :class:`DiversityLoss` (a regulariser) and :class:`DiversityGuidance`
(a guidance signal against a growing memory bank, as in SPARKE and c-VSG)."""

from __future__ import annotations

from typing import Any

import torch

from ..support.validation import check_bool, check_choice, check_kernel, check_order, check_positive
from .bank import MemoryBank
from .kernels import bank_pair, bank_rows, check_tensor, resolve, work_dtype
from .scores import conditional_rke, conditional_vendi, rke, vendi

__all__ = ["DiversityLoss", "DiversityGuidance"]

SCORES = ("vendi", "rke")
RESCALES = ("sample", "batch")
DEFAULT_KERNEL = {"vendi": "cosine", "rke": "rbf"}


def _check_settings(score: Any, q: Any, kernel: Any, condition_kernel: Any) -> tuple[str, float, str]:
    """(score, q, kernel) checked once, at construction: a bad setting fails before any training step."""
    score = check_choice(score, "score", SCORES)
    q = check_order(q)
    if score == "rke" and q not in (1.0, 2.0):
        raise ValueError(f"q: rke is the Vendi score of order 2; leave q at 1 or set it to 2, got {q:g}")
    kernel = check_kernel(DEFAULT_KERNEL[score] if kernel is None else kernel)
    check_kernel(condition_kernel)
    return score, (2.0 if score == "rke" else q), kernel


class DiversityLoss(torch.nn.Module):
    """-log of a diversity score of a batch, for training-time regularisation.

    ``loss = task_loss + lam * DiversityLoss()(features)`` raises the diversity of what the model produces:
    -log VS_q (score="vendi", the negative matrix entropy of order q, Friedman & Dieng 2023) or -log RKE
    (score="rke", the order-2 entropy, Jalali et al. 2023), of the rows of the batch, optionally joined with a
    fixed ``memory_bank`` (then the batch is pushed away from the bank as well), or given the conditions of its
    rows (the conditional scores: prompt-aware diversity). The backward pass is that of :func:`vendi` /
    :func:`rke`: closed form, finite for duplicated rows and collapsed batches.

    Parameters
    ----------
    score : {"vendi", "rke"}, default "vendi"
    q : float >= 0 or "inf", default 1
        The Vendi order (rke: 2).
    kernel : str, optional
        Default "cosine" for vendi, "rbf" for rke.
    bandwidth : float, optional
        sigma of rbf/laplacian; None: the median heuristic on each batch (and the bank), a constant for the
        gradient. The median heuristic makes the loss invariant to a rescaling of the features, so the loss
        cannot be lowered by inflating them; a fixed bandwidth can be.
    condition_kernel : str, default "cosine"
    condition_bandwidth : float, optional
        The kernel of the conditions passed to :meth:`forward`.
    memory_bank : torch.Tensor (m, d), or a pair (samples, conditions) with conditions, optional
        Kept as buffers: they follow ``.to(device)`` and enter ``state_dict``.
    **kernel_params
        ``gamma``, ``coef0``, ``degree`` of the polynomial kernel.

    Examples
    --------
    >>> import torch
    >>> from genmetrics.torch import DiversityLoss
    >>> features = torch.randn(16, 8, requires_grad=True)
    >>> loss = DiversityLoss("rke", bandwidth=4.0)(features)
    >>> loss.backward()
    >>> bool(torch.isfinite(features.grad).all())
    True
    """

    def __init__(
        self,
        score: str = "vendi",
        *,
        q: Any = 1,
        kernel: str | None = None,
        bandwidth: float | None = None,
        condition_kernel: str = "cosine",
        condition_bandwidth: float | None = None,
        memory_bank: Any = None,
        **kernel_params: Any,
    ) -> None:
        super().__init__()
        self.score, self.q, self.kernel = _check_settings(score, q, kernel, condition_kernel)
        self.bandwidth = check_positive(bandwidth, "bandwidth", allow_none=True)
        self.condition_kernel = condition_kernel
        self.condition_bandwidth = check_positive(condition_bandwidth, "condition_bandwidth", allow_none=True)
        self.kernel_params = dict(kernel_params)
        self.bank: torch.Tensor | None
        self.bank_conditions: torch.Tensor | None
        if isinstance(memory_bank, (tuple, list)):
            rows, conditions = bank_pair(memory_bank)
            self.register_buffer("bank", rows.clone())
            self.register_buffer("bank_conditions", conditions.clone())
        else:
            bank = None if memory_bank is None else check_tensor(memory_bank, "memory_bank").detach().clone()
            self.register_buffer("bank", bank)
            self.register_buffer("bank_conditions", None)

    def forward(self, X: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """-log score of the rows of X (and of the bank); with ``condition`` (one row per row of X), of the
        conditional score. A 0-d tensor in X's dtype."""
        options = {"kernel": self.kernel, "bandwidth": self.bandwidth, **self.kernel_params}
        if self.score == "vendi":
            options["q"] = self.q
        if condition is None:
            if self.bank_conditions is not None:
                raise ValueError("condition: the memory bank has conditions, so every batch needs its conditions")
            value = (vendi if self.score == "vendi" else rke)(X, memory_bank=self.bank, **options)
        else:
            if self.bank is not None and self.bank_conditions is None:
                raise ValueError("condition: the memory bank was given without conditions; pass it as a pair")
            bank = None if self.bank is None or self.bank_conditions is None else (self.bank, self.bank_conditions)
            function = conditional_vendi if self.score == "vendi" else conditional_rke
            value = function(
                X,
                condition,
                condition_kernel=self.condition_kernel,
                condition_bandwidth=self.condition_bandwidth,
                memory_bank=bank,
                **options,
            )
        return -torch.log(value)

    def extra_repr(self) -> str:
        order = f", q={self.q:g}" if self.score == "vendi" else ""
        bank = "" if self.bank is None else f", memory_bank={self.bank.shape[0]} rows"
        return f"score={self.score!r}{order}, kernel={self.kernel!r}, bandwidth={self.bandwidth}{bank}"


class DiversityGuidance:
    """The gradient of a diversity score of a batch against a memory bank, for guiding a sampler.

    At each sampling step, ``guidance.gradient(x)`` is d log S / dx for S the Vendi score (order q) or the RKE
    of the batch's rows joined with the bank (SPARKE, Jalali et al. 2025; c-VSG, Hemmat et al. 2024), or of the
    conditional score given the rows' conditions (prompts); add it, scaled, to the update (e.g. to the predicted
    clean sample or the score). ``guidance.append(x)`` adds accepted samples to the bank, so later batches are
    pushed away from what was already produced.

    The bank's own part of the kernel matrix is computed once and updated as rows are appended (see
    :mod:`genmetrics.torch.bank`): a step with RKE costs the blocks of the batch, O(n (n + m) d); Vendi with a
    cosine/linear kernel and d < n + m, a d x d eigendecomposition; Vendi with another kernel, or conditional
    Vendi, an (n + m) x (n + m) eigendecomposition (RKE or a cosine kernel are the choices for large banks).

    Parameters
    ----------
    score : {"rke", "vendi"}, default "rke"
    q : float >= 0 or "inf", default 1
        The Vendi order (rke: 2).
    kernel : str, optional
        Default "cosine" for vendi, "rbf" for rke.
    bandwidth : float, optional
        sigma of rbf/laplacian. None: the median heuristic on the bank and the first batch, then fixed for the
        guidance's lifetime (``.bandwidth``), so that the scores of all steps use one kernel.
    conditional : bool, default False
        Use the conditional score: every call then takes the batch's conditions.
    condition_kernel : str, default "cosine"
    condition_bandwidth : float, optional
        Fixed at the first batch as ``bandwidth``.
    memory_bank : torch.Tensor (m, d), or a pair (samples, conditions) when conditional, optional
        The initial bank (detached; copied at the first step onto the batch's device and dtype).
    scale : float > 0, default 1.0
        The gradient is multiplied by it (after ``rescale``).
    rescale : {None, "sample", "batch"}, default None
        None: the gradient as it is. "sample": each row's gradient scaled to unit norm (to the norm of the
        matching row of ``reference`` when given); "batch": the whole gradient to unit Frobenius norm (to
        ``reference``'s norm). Rows or batches whose gradient is 0 stay 0.
    **kernel_params
        ``gamma``, ``coef0``, ``degree`` of the polynomial kernel.

    Examples
    --------
    >>> import torch
    >>> from genmetrics.torch import DiversityGuidance
    >>> guidance = DiversityGuidance(score="rke", bandwidth=2.0, memory_bank=torch.randn(100, 8))
    >>> x = torch.randn(4, 8)
    >>> g = guidance.gradient(x, rescale="sample")  # one unit vector per sample
    >>> guidance.append(x)
    >>> len(guidance), tuple(g.shape)
    (104, (4, 8))
    """

    def __init__(
        self,
        *,
        score: str = "rke",
        q: Any = 1,
        kernel: str | None = None,
        bandwidth: float | None = None,
        conditional: bool = False,
        condition_kernel: str = "cosine",
        condition_bandwidth: float | None = None,
        memory_bank: Any = None,
        scale: float = 1.0,
        rescale: str | None = None,
        **kernel_params: Any,
    ) -> None:
        self.score, self.q, self.kernel = _check_settings(score, q, kernel, condition_kernel)
        self.bandwidth = check_positive(bandwidth, "bandwidth", allow_none=True)
        self.conditional = check_bool(conditional, "conditional")
        self.condition_kernel = condition_kernel
        self.condition_bandwidth = check_positive(condition_bandwidth, "condition_bandwidth", allow_none=True)
        self.scale = float(check_positive(scale, "scale"))
        self.rescale = None if rescale is None else check_choice(rescale, "rescale", RESCALES)
        self.kernel_params = dict(kernel_params)
        self._initial = self._check_bank(memory_bank)
        self._bank: MemoryBank | None = None

    def _check_bank(self, memory_bank: Any) -> tuple[torch.Tensor, torch.Tensor | None] | None:
        if memory_bank is None:
            return None
        if self.conditional:
            return bank_pair(memory_bank)
        if isinstance(memory_bank, (tuple, list)):
            raise TypeError("memory_bank: a pair (samples, conditions) needs conditional=True")
        return check_tensor(memory_bank, "memory_bank").detach(), None

    # the bank ------------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        """The number of rows in the bank."""
        if self._bank is not None:
            return len(self._bank)
        return 0 if self._initial is None else int(self._initial[0].shape[0])

    @property
    def memory_bank(self) -> torch.Tensor | None:
        """The bank's rows (detached), the initial ones then the appended ones."""
        if self._bank is not None:
            return self._bank.rows
        return None if self._initial is None else self._initial[0]

    def _inputs(self, X: Any, condition: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The batch (and its conditions) checked, in the working dtype; the bank and its kernels set up at the
        first call, on that batch's device and dtype."""
        if isinstance(X, torch.Tensor) and X.ndim > 2:
            X = X.reshape(X.shape[0], -1)  # images, latents: one row per sample
        Z = check_tensor(X, "X")
        dtype = work_dtype(Z) if self._bank is None or self._bank.dtype is None else self._bank.dtype
        Z = Z.to(dtype)
        C = None
        if self.conditional:
            if condition is None:
                raise ValueError("condition: this guidance is conditional; pass the batch's conditions")
            C = check_tensor(condition, "condition").to(device=Z.device, dtype=Z.dtype)
            if C.shape[0] != Z.shape[0]:
                raise ValueError(f"condition: has {C.shape[0]} rows but X has {Z.shape[0]}; one per sample")
        elif condition is not None:
            raise ValueError("condition: this guidance is not conditional (pass conditional=True to use conditions)")
        if self._bank is None:
            self._bank = self._first_bank(Z, C)
        else:
            self._check_widths(Z, C)
        return Z, C

    def _check_widths(self, Z: torch.Tensor, C: torch.Tensor | None) -> None:
        assert self._bank is not None
        for rows, width, name in ((Z, self._bank.width, "X"), (C, self._bank.condition_width, "condition")):
            if rows is not None and width not in (None, rows.shape[1]):
                raise ValueError(
                    f"{name}: has {rows.shape[1]} features but the guidance's bank has {width}; both must be "
                    "embedded alike"
                )

    def _first_bank(self, Z: torch.Tensor, C: torch.Tensor | None) -> MemoryBank:
        rows = conditions = None
        x_parts: list[tuple[torch.Tensor, str]] = [(Z, "X")]
        t_parts: list[tuple[torch.Tensor, str]] = [] if C is None else [(C, "condition")]
        if self._initial is not None:
            rows = bank_rows(self._initial[0], Z, "memory_bank")
            x_parts.append((rows, "memory_bank"))
            if C is not None:
                conditions = bank_rows(self._initial[1], C, "memory_bank[1]")
                t_parts.append((conditions, "memory_bank[1]"))
        spec = resolve(self.kernel, x_parts, self.bandwidth, self.kernel_params)
        self.bandwidth = spec.bandwidth if spec.bandwidth is not None else self.bandwidth
        condition_spec = None
        if C is not None:
            condition_spec = resolve(self.condition_kernel, t_parts, self.condition_bandwidth, {})
            self.condition_bandwidth = condition_spec.bandwidth
        bank = MemoryBank(spec, condition_spec)
        if rows is not None:
            bank.append(rows, conditions)
        self._initial = None
        return bank

    def append(self, X: torch.Tensor, condition: torch.Tensor | None = None) -> None:
        """Add the rows of X (accepted samples; detached) and their conditions to the bank."""
        Z, C = self._inputs(X, condition)
        assert self._bank is not None
        if self._bank.spec.name == "cosine":
            resolve("cosine", [(Z, "X")], None, {})  # zero-norm rows are refused before they enter the bank
        self._bank.append(Z, C)

    # the score and its gradient ---------------------------------------------------------------------------

    def __call__(self, X: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """The score of the rows of X joined with the bank (differentiable in X), a 0-d tensor in X's dtype:
        back-propagate it through a feature extractor when X are features of the sampler's variable."""
        Z, C = self._inputs(X, condition)
        assert self._bank is not None
        if self.score == "rke":
            value = self._bank.rke(Z, C)
        else:
            value = self._bank.vendi(Z, C, q=self.q)
        return value.to(X.dtype)

    def gradient(
        self,
        X: torch.Tensor,
        condition: torch.Tensor | None = None,
        *,
        reference: torch.Tensor | None = None,
        rescale: Any = "default",
        scale: float | None = None,
    ) -> torch.Tensor:
        """d log S / dX for the score S of X joined with the bank, rescaled and scaled as the guidance was set
        (``rescale``/``scale`` override it for this call), detached, with X's shape, dtype and device.

        ``reference`` (X's shape): the norms the rescaled gradient takes, e.g. the denoiser's noise prediction,
        so that the diversity term is a fixed fraction (``scale``) of it.
        """
        rescale = (
            self.rescale
            if rescale == "default"
            else (None if rescale is None else check_choice(rescale, "rescale", RESCALES))
        )
        scale = self.scale if scale is None else float(check_positive(scale, "scale"))
        with torch.enable_grad():
            leaf = X.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(torch.log(self(leaf, condition)), leaf)
        if reference is not None:
            if not isinstance(reference, torch.Tensor):
                raise TypeError(f"reference: expected a torch.Tensor, got {type(reference).__name__}")
            if tuple(reference.shape) != tuple(X.shape):
                raise ValueError(f"reference: expected X's shape {tuple(X.shape)}, got {tuple(reference.shape)}")
        if rescale is not None:
            grad = _rescaled(grad, rescale, None if reference is None else reference.detach().to(grad))
        elif reference is not None:
            raise ValueError("reference: only used to rescale; pass rescale='sample' or 'batch'")
        return scale * grad

    def __repr__(self) -> str:
        order = f", q={self.q:g}" if self.score == "vendi" else ""
        bandwidth = "" if self.bandwidth is None else f", bandwidth={self.bandwidth:.4g}"
        settings = f"score={self.score!r}{order}, kernel={self.kernel!r}{bandwidth}"
        return f"DiversityGuidance({settings}, bank={len(self)} rows)"


def _rescaled(grad: torch.Tensor, rescale: str, reference: torch.Tensor | None) -> torch.Tensor:
    """grad with each row (rescale="sample") or the whole (rescale="batch") scaled to the norm of the matching
    part of ``reference``, or to 1; zero parts stay zero."""
    flat = grad.reshape(grad.shape[0], -1)
    dims = 1 if rescale == "sample" else None

    def norms(A: torch.Tensor) -> torch.Tensor:
        return torch.linalg.vector_norm(A, dim=dims, keepdim=True).reshape(-1, 1)

    current = norms(flat)
    target = torch.ones_like(current) if reference is None else norms(reference.reshape(flat.shape))
    positive = current > 0
    factor = torch.where(positive, target / torch.where(positive, current, torch.ones_like(current)), 0.0)
    return (flat * factor).reshape(grad.shape)
