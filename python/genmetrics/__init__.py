"""genmetrics: a compiled metric engine for evaluating generative models on embeddings.

Diversity (Vendi scores, RKE, and their curves against the sample size), fidelity and coverage (PRDC, improved
precision/recall, alpha-precision), memorisation (authenticity), distances between distributions (FD, KID, MMD,
KL of Gaussian fits, k-NN KL divergence), k-NN entropy and a VAE's latent KL, out-of-distribution scores (kNN score,
AUROC, FPR at 95 % TPR), one-call evaluation (:func:`evaluate`), and the engine's primitives (Gram reductions,
exact k-NN and radius queries), computed exactly and fast on the CPU and on NVIDIA GPUs, with NumPy and CuPy
fallbacks.
Definitions and conventions: shared/METRICS.md; the kernels: :mod:`genmetrics.engine.kernels`.
"""

from . import distributed
from .accumulate import Accumulator
from .audit import audit
from .clustering import kmeans
from .curves import DiversityComparison, compare_diversity, diversity_curve
from .distances import (
    MMD_PRESETS,
    fd,
    fd_infinity,
    fls,
    frechet_from_statistics,
    gaussian_kl,
    kid,
    mmd,
    sliced_wasserstein,
)
from .diversity import intdiv, quality_weighted_vendi, rke, rrke, vendi, vendi_from_eigenvalues, vendi_from_gram
from .engine import backends
from .fidelity import (
    DuplicatePointsWarning,
    alpha_precision,
    authenticity,
    ct_score,
    p_precision_recall,
    prdc,
    precision_recall,
    rarity_score,
    top_pr,
)
from .frontiers import mauve, prd_curve
from .information import knn_entropy, knn_kl_divergence, vae_latent_kl
from .modes import diversity_modes
from .ood import (
    entropy_controlled_scores,
    knn_ood_score,
    memory_bank_similarity,
    ood_metrics,
    similarity_scaled_noise,
)
from .primitives import RadiusQuery, gram, kernel_sum, knn, radius_query
from .reference import Reference
from .report import METRICS, Report, evaluate
from .support.results import (
    KID,
    PRDC,
    AlphaPrecision,
    Audit,
    DiversityCurve,
    DiversityExtrapolation,
    DiversityModes,
    DiversityScore,
    KMeansResult,
    Mauve,
    OODMetrics,
    PRDCurve,
    PrecisionRecall,
    Rarity,
    Score,
    TopPR,
    VAELatentKL,
)

__version__ = "0.1.0"

__all__ = [
    "distributed",
    "Accumulator",
    "Reference",
    "Audit",
    "KID",
    "KMeansResult",
    "Mauve",
    "PRDCurve",
    "METRICS",
    "MMD_PRESETS",
    "DiversityComparison",
    "DiversityCurve",
    "DiversityExtrapolation",
    "DiversityModes",
    "OODMetrics",
    "Report",
    "VAELatentKL",
    "compare_diversity",
    "diversity_curve",
    "diversity_modes",
    "evaluate",
    "fd",
    "frechet_from_statistics",
    "gaussian_kl",
    "kid",
    "knn_entropy",
    "knn_kl_divergence",
    "knn_ood_score",
    "memory_bank_similarity",
    "entropy_controlled_scores",
    "similarity_scaled_noise",
    "mmd",
    "ood_metrics",
    "PRDC",
    "AlphaPrecision",
    "DiversityScore",
    "DuplicatePointsWarning",
    "PrecisionRecall",
    "RadiusQuery",
    "Score",
    "alpha_precision",
    "audit",
    "authenticity",
    "knn",
    "prdc",
    "precision_recall",
    "radius_query",
    "backends",
    "gram",
    "intdiv",
    "kernel_sum",
    "kmeans",
    "mauve",
    "prd_curve",
    "rke",
    "rrke",
    "vae_latent_kl",
    "vendi",
    "vendi_from_eigenvalues",
    "vendi_from_gram",
    "fd_infinity",
    "sliced_wasserstein",
    "fls",
    "p_precision_recall",
    "top_pr",
    "rarity_score",
    "ct_score",
    "quality_weighted_vendi",
    "Rarity",
    "TopPR",
]
