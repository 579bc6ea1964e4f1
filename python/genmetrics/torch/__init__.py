"""Differentiable Vendi and RKE scores for PyTorch (``pip install "genmetrics[torch]"``).

``from genmetrics import torch as gmt`` gives :func:`vendi` and :func:`rke`, which return a scalar tensor on the
device and in the dtype of ``X`` that can be back-propagated to ``X``: a diversity regulariser for training
(``loss = task_loss - lam * gmt.vendi(batch).log()``) or a guidance signal for sampling, optionally against a
``memory_bank`` of earlier samples (fixed, no gradient) that joins the set, as in SPARKE and c-VSG.
:func:`conditional_vendi` and :func:`conditional_rke` score samples given their conditions (prompts) with the
product kernel K_X o K_T. :class:`DiversityLoss` (an ``nn.Module``, -log of a score) regularises training;
:class:`DiversityGuidance` holds a growing memory bank whose own kernel block is computed once
(:mod:`genmetrics.torch.bank`) and returns the rescaled gradient d log S / dx for a sampler's step.

Values are those of :func:`genmetrics.vendi` (``method="exact"``) and :func:`genmetrics.rke` on the same rows:
same kernels (shared/METRICS.md), same median-heuristic bandwidth, same rank tolerance.

The backward pass is in closed form. Every order-q Vendi score is a spectral function of the normalised matrix
A = K / trace(K): VS = F(eigenvalues of A), whose gradient is dVS/dA = U diag(F'(lambda)) U^T. That formula has
no 1 / (lambda_i - lambda_j) terms, so it is exact and finite for repeated eigenvalues (duplicated rows, collapsed
batches). Written by hand, the same function fails there in two ways: autograd through ``torch.linalg.eigh`` (or
anything that differentiates eigenvectors) has those terms and gives NaN or inf (PyTorch issues #47599, #76531);
through ``eigvalsh`` the backward is finite, but the entropy's own derivative (log p + 1, or p^(q-1) for q < 1) is
infinite at the zero eigenvalues a collapse makes, so ``xlogy(p, p)`` of clamped eigenvalues gives NaN unless the
zeros are masked, and the masked versions in float32 carry errors of 0.1-3.5 % (bench/RESULTS.md, issue 12).
Here the rank tolerance below decides which eigenvalues count, in float64. Only that eigen step is custom; the
trace normalisation and the kernel are differentiated by autograd. The eigendecomposition is always solved in
float64 (float32 inputs included). For linear and cosine kernels with fewer features than rows (X and the bank),
A is the d x d dual U^T U / trace (same non-zero eigenvalues, rank tolerance max(n, d) eps as in
``genmetrics.vendi(method="dual")``), so a bank of 10,000 rows in d = 1,024 costs a 1,024 x 1,024
eigendecomposition.

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

from .guidance import DiversityGuidance, DiversityLoss
from .scores import conditional_rke, conditional_vendi, rke, vendi

__all__ = ["vendi", "rke", "conditional_vendi", "conditional_rke", "DiversityLoss", "DiversityGuidance"]
