"""Result types: numbers that print well and remember how they were computed."""
from __future__ import annotations

import math
import dataclasses
from dataclasses import dataclass, fields

import numpy as np


class DiversityScore(float):
    """A float (the score) that also carries how it was computed.

    Behaves as a plain ``float`` in arithmetic and comparisons. The attributes say what a reader of a paper
    needs to reproduce it: ``metric``, ``q``, ``kernel``, ``bandwidth`` (the sigma used, chosen by the
    heuristic when ``bandwidth=None`` was passed; None for kernels without one), ``method``, ``backend``,
    ``n`` (samples), ``rank`` (for approximate methods), ``residual_mass`` (approximate methods: the spectral
    mass the approximation did not capture, an upper bound on the error of every eigenvalue of K/n;
    None for exact methods). ``as_dict()`` gives all of them.
    """

    _FIELDS = ("metric", "q", "kernel", "bandwidth", "method", "backend", "n", "rank", "residual_mass")

    def __new__(cls, value, **info):
        self = super().__new__(cls, value)
        unknown = set(info) - set(cls._FIELDS)
        if unknown:
            raise TypeError(f"unknown result fields: {sorted(unknown)}")
        for field in cls._FIELDS:
            object.__setattr__(self, field, info.get(field))
        return self

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    __delattr__ = __setattr__

    @property
    def value(self) -> float:
        return float(self)

    def as_dict(self) -> dict:
        out = {"value": float(self)}
        out.update({f: getattr(self, f) for f in self._FIELDS})
        return out

    def __repr__(self) -> str:
        shown = []
        for f in self._FIELDS[1:]:
            v = getattr(self, f)
            if v is None:
                continue
            if isinstance(v, float) and f != "q":
                v = float(f"{v:.6g}")
            if f == "q" and isinstance(v, float) and math.isinf(v):
                v = "inf"
            shown.append(f"{f}={v!r}")
        return f"{self.metric}({float(self):.6g}; {', '.join(shown)})"

    def __str__(self) -> str:
        return float.__repr__(self)

    def __reduce__(self):
        return (_rebuild_score, (float(self), {f: getattr(self, f) for f in self._FIELDS}))


def _rebuild_score(value, info):
    return DiversityScore(value, **info)


# ----------------------------------------------------------------------------------------------------------
# multi-number results (fidelity, coverage, memorisation): frozen dataclasses
# ----------------------------------------------------------------------------------------------------------


class _Result:
    """Shared behaviour of the frozen result dataclasses: ``as_dict()`` and a one-line repr of the numbers."""

    _SHOWN: tuple = ()  # the fields the repr shows (the scores); the rest are parameters or arrays

    def as_dict(self) -> dict:
        """Every field by name; arrays stay NumPy arrays (``.tolist()`` them for JSON)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __repr__(self) -> str:
        scores = ", ".join(f"{name}={getattr(self, name):.4f}" for name in self._SHOWN)
        params = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if f.name not in self._SHOWN and not isinstance(getattr(self, f.name), np.ndarray)
        )
        return f"{type(self).__name__}({scores}; {params})"


@dataclass(frozen=True, repr=False)
class PRDC(_Result):
    """Precision, recall, density and coverage (Naeem et al. 2020), as :func:`genmetrics.prdc` computes them."""

    precision: float
    recall: float
    density: float
    coverage: float
    k: int
    n_real: int
    n_fake: int
    inclusive: bool = False
    _SHOWN = ("precision", "recall", "density", "coverage")


@dataclass(frozen=True, repr=False)
class PrecisionRecall(_Result):
    """Improved precision and recall (Kynkäänniemi et al. 2019), with the realism score of every fake sample."""

    precision: float
    recall: float
    k: int
    n_real: int
    n_fake: int
    realism: np.ndarray = dataclasses.field(default=None, compare=False)
    _SHOWN = ("precision", "recall")


@dataclass(frozen=True, repr=False)
class AlphaPrecision(_Result):
    """alpha-precision, beta-coverage and authenticity (Alaa et al. 2022), with their curves."""

    delta_precision_alpha: float
    delta_coverage_beta: float
    authenticity: float
    integration: str
    n_real: int
    n_fake: int
    alphas: np.ndarray = dataclasses.field(default=None, compare=False)
    alpha_precision_curve: np.ndarray = dataclasses.field(default=None, compare=False)
    beta_coverage_curve: np.ndarray = dataclasses.field(default=None, compare=False)
    _SHOWN = ("delta_precision_alpha", "delta_coverage_beta", "authenticity")


# ----------------------------------------------------------------------------------------------------------
# distances between distributions, out-of-distribution evaluation, sample-size curves
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class KID(_Result):
    """Kernel inception distance (Binkowski et al. 2018): the unbiased polynomial MMD^2 over random subsets."""

    mean: float
    std: float
    subsets: int
    subset_size: int
    degree: int
    gamma: float
    coef0: float
    seed: int
    values: np.ndarray = dataclasses.field(default=None, compare=False)  # the MMD^2 of every subset
    _SHOWN = ("mean", "std")


@dataclass(frozen=True, repr=False)
class OODMetrics(_Result):
    """Threshold-free scores of an out-of-distribution detector, with the positive class they were computed for.

    Scores mean "higher = more in-distribution". ``positive="in"`` (ODIN, Sun et al.'s code, OpenOOD v1):
    in-distribution samples are the positives of FPR at 95 % TPR; ``positive="out"`` (pytorch-ood, OpenOOD v1.5):
    OOD samples are. AUROC is the same number either way; AUPR-in and AUPR-out keep their meaning.
    """

    auroc: float
    aupr_in: float
    aupr_out: float
    fpr_at_95_tpr: float
    positive: str
    n_in: int
    n_out: int
    _SHOWN = ("auroc", "aupr_in", "aupr_out", "fpr_at_95_tpr")


@dataclass(frozen=True, repr=False)
class DiversityCurve(_Result):
    """A diversity score against the sample size: the mean and a bootstrap band at every size."""

    metric: str
    sizes: np.ndarray = dataclasses.field(compare=False)
    mean: np.ndarray = dataclasses.field(compare=False)
    std: np.ndarray = dataclasses.field(compare=False)
    lower: np.ndarray = dataclasses.field(compare=False)
    upper: np.ndarray = dataclasses.field(compare=False)
    level: float = 0.95
    n_boot: int = 0
    seed: int = 0
    kernel: str = None
    bandwidth: float = None
    q: float = None
    _SHOWN = ()

    def __repr__(self) -> str:
        points = [f"n={int(s)} {m:.4g} [{lo:.4g}, {hi:.4g}]"
                  for s, m, lo, hi in zip(self.sizes, self.mean, self.lower, self.upper)]
        if len(points) > 5:
            points = points[:2] + ["..."] + points[-2:]
        settings = f"{self.metric}" + (f" q={self.q:g}" if self.q is not None else "") + (f", {self.kernel}" if self.kernel else "")
        return (f"DiversityCurve({settings}: {', '.join(points)}; {self.level:.0%} bands, n_boot={self.n_boot}, "
                f"seed={self.seed})")
