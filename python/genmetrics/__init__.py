"""genmetrics: a compiled metric engine for evaluating generative models on embeddings.

Diversity (Vendi scores, RKE), fidelity and coverage (PRDC, improved precision/recall, alpha-precision),
memorisation (authenticity), and the engine's primitives (Gram reductions, exact k-NN and radius queries),
computed exactly and fast on the CPU, with a NumPy fallback.
Definitions and conventions: shared/METRICS.md; the kernels: :mod:`genmetrics._kernels`.
"""
from ._backend import backends
from ._results import PRDC, AlphaPrecision, DiversityScore, PrecisionRecall
from .diversity import intdiv, rke, rrke, vendi, vendi_from_eigenvalues, vendi_from_gram
from .fidelity import DuplicatePointsWarning, alpha_precision, authenticity, precision_recall, prdc
from .primitives import RadiusQuery, gram, kernel_sum, knn, radius_query

__version__ = "0.1.0"

__all__ = [
    "PRDC",
    "AlphaPrecision",
    "DiversityScore",
    "DuplicatePointsWarning",
    "PrecisionRecall",
    "RadiusQuery",
    "alpha_precision",
    "authenticity",
    "knn",
    "prdc",
    "precision_recall",
    "radius_query",
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
