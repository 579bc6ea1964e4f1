"""genmetrics: a compiled metric engine for evaluating generative models on embeddings.

Diversity (Vendi scores, RKE), computed exactly and fast on the CPU, with a NumPy fallback.
Definitions and conventions: shared/METRICS.md; the kernels: :mod:`genmetrics._kernels`.
"""
from ._backend import backends
from ._results import DiversityScore
from .diversity import intdiv, rke, rrke, vendi, vendi_from_eigenvalues, vendi_from_gram
from .primitives import gram, kernel_sum

__version__ = "0.1.0"

__all__ = [
    "DiversityScore",
    "backends",
    "gram",
    "intdiv",
    "kernel_sum",
    "rke",
    "rrke",
    "vendi",
    "vendi_from_eigenvalues",
    "vendi_from_gram",
]
