"""Result types: numbers that print well and remember how they were computed."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np


class Score(float):
    """A scalar result: a float (the score) that also carries how it was computed.

    Every public function of genmetrics that returns one number returns a ``Score``. It behaves as a plain
    ``float`` in arithmetic, comparisons, ``json.dumps`` and NumPy; ``float(score)`` (or ``.value``) gives the
    bare number. The attributes say what a reader of a paper needs to reproduce it; those that do not apply
    to a metric are None. A Score is immutable and pickles with its attributes.

    Parameters
    ----------
    value : float
        The score.
    metric : str, optional, default None
        Which metric the value is: "vendi", "rke", "rrke", "intdiv", "fd", "gaussian_kl", "mmd",
        "authenticity", "kernel_sum", "knn_kl", "knn_entropy".
    q : float, optional, default None
        The order of the Vendi score / internal diversity.
    kernel : str, optional, default None
        The kernel's canonical name ("cosine", "linear", "rbf", "laplacian", "polynomial").
    bandwidth : float, optional, default None
        The sigma used: chosen by the median heuristic when ``bandwidth=None`` was passed; None for kernels
        without one.
    method : str, optional, default None
        How it was computed: "exact", "dual", "nystrom", "rff", "stochastic" (diversity), "biased"/"unbiased" (mmd).
    backend : str, optional, default None
        The engine that computed it: "cpu", "numpy", "cuda", "cupy".
    n : int, optional, default None
        Samples (rows) of the first set.
    m : int, optional, default None
        Samples of the second set, for metrics of two sets.
    rank : int, optional, default None
        Landmarks or frequencies of the approximate methods.
    residual_mass : float, optional, default None
        Approximate methods: the spectral mass the approximation did not capture, an upper bound on the
        error of every eigenvalue of K/n; None for exact methods.
    ci_low : float, optional, default None
        Lower end of a confidence interval of the value (method="stochastic": the level in
        ``details["level"]``); None when the method gives none.
    ci_high : float, optional, default None
        Upper end of that interval.
    details : mapping, optional, default None
        Other settings that determine the value (for example ``{"ridge": 0.1}``), read-only.

    Examples
    --------
    >>> from genmetrics import Score
    >>> s = Score(2.5, metric="vendi", q=1.0, kernel="cosine", method="exact", n=10)
    >>> s + 1
    3.5
    >>> s
    vendi(2.5; q=1.0, kernel='cosine', method='exact', n=10)
    >>> s.as_dict()["kernel"]
    'cosine'
    """

    __slots__ = (
        "metric",
        "q",
        "kernel",
        "bandwidth",
        "method",
        "backend",
        "n",
        "m",
        "rank",
        "residual_mass",
        "ci_low",
        "ci_high",
        "details",
    )
    metric: str | None
    q: float | None
    kernel: str | None
    bandwidth: float | None
    method: str | None
    backend: str | None
    n: int | None
    m: int | None
    rank: int | None
    residual_mass: float | None
    ci_low: float | None
    ci_high: float | None
    details: Mapping[str, Any] | None

    #: The attributes, in the order ``as_dict()`` and the repr give them.
    _FIELDS: ClassVar[tuple[str, ...]] = __slots__

    def __new__(
        cls,
        value: float,
        *,
        metric: str | None = None,
        q: float | None = None,
        kernel: str | None = None,
        bandwidth: float | None = None,
        method: str | None = None,
        backend: str | None = None,
        n: int | None = None,
        m: int | None = None,
        rank: int | None = None,
        residual_mass: float | None = None,
        ci_low: float | None = None,
        ci_high: float | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Score:
        self = super().__new__(cls, value)
        info = dict(
            metric=metric,
            q=q,
            kernel=kernel,
            bandwidth=bandwidth,
            method=method,
            backend=backend,
            n=n,
            m=m,
            rank=rank,
            residual_mass=residual_mass,
            ci_low=ci_low,
            ci_high=ci_high,
            details=None if details is None else MappingProxyType(dict(details)),
        )
        for name, field_value in info.items():
            object.__setattr__(self, name, field_value)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    @property
    def value(self) -> float:
        """The score as a plain float."""
        return float(self)

    def as_dict(self) -> dict:
        """``value`` and every attribute by name (``details`` as a plain dict)."""
        out: dict = {"value": float(self)}
        out.update(self._info())
        return out

    def _info(self) -> dict:
        info = {f: getattr(self, f) for f in self._FIELDS}
        if info["details"] is not None:
            info["details"] = dict(info["details"])
        return info

    def __repr__(self) -> str:
        shown = []
        for f in self._FIELDS[1:]:
            v = getattr(self, f)
            if v is None:
                continue
            if f == "details":  # per-sample arrays by their dtype and shape, not their values
                v = {key: _ArrayShape(a) if isinstance(a, np.ndarray) else a for key, a in v.items()}
            elif isinstance(v, float) and f != "q":
                v = float(f"{v:.6g}")
            elif f == "q" and isinstance(v, float) and math.isinf(v):
                v = "inf"
            shown.append(f"{f}={v!r}")
        return f"{self.metric}({float(self):.6g}; {', '.join(shown)})"

    def __str__(self) -> str:
        return float.__repr__(self)

    def __reduce__(self):
        return (_rebuild_score, (float(self), self._info()))


class _ArrayShape:
    """Shown in place of an array in a repr: ``<bool array (80,)>``."""

    def __init__(self, array: np.ndarray) -> None:
        self.text = f"<{array.dtype} array {array.shape}>"

    def __repr__(self) -> str:
        return self.text


#: The former name of :class:`Score` (0.1.0), kept so that existing code and pickles keep working.
#: Deprecated: use ``Score``.
DiversityScore = Score


def _rebuild_score(value, info):
    return Score(value, **info)


# ----------------------------------------------------------------------------------------------------------
# multi-number results (fidelity, coverage, memorisation): frozen dataclasses
# ----------------------------------------------------------------------------------------------------------


class _Result:
    """Shared behaviour of the frozen result dataclasses: ``as_dict()`` and a one-line repr of the numbers."""

    _SHOWN: tuple = ()  # the fields the repr shows (the scores); the rest are parameters or arrays

    def as_dict(self) -> dict:
        """Every field by name; arrays stay NumPy arrays (``.tolist()`` them for JSON)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]  # subclasses are dataclasses

    def __repr__(self) -> str:
        scores = ", ".join(f"{name}={getattr(self, name):.4f}" for name in self._SHOWN)
        params = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)  # type: ignore[arg-type]  # subclasses are dataclasses
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
    #: per_sample=True: per generated sample, the number of real balls holding it; per real sample, the number
    #: of generated balls holding it, and whether its nearest generated sample lies in its ball
    real_balls_per_fake: np.ndarray | None = dataclasses.field(default=None, compare=False)
    fake_balls_per_real: np.ndarray | None = dataclasses.field(default=None, compare=False)
    covered: np.ndarray | None = dataclasses.field(default=None, compare=False)
    _SHOWN = ("precision", "recall", "density", "coverage")


@dataclass(frozen=True, repr=False)
class PrecisionRecall(_Result):
    """Improved precision and recall (Kynkäänniemi et al. 2019), with the realism score of every fake sample."""

    precision: float
    recall: float
    k: int
    n_real: int
    n_fake: int
    realism: np.ndarray | None = dataclasses.field(default=None, compare=False)
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
    alphas: np.ndarray | None = dataclasses.field(default=None, compare=False)
    alpha_precision_curve: np.ndarray | None = dataclasses.field(default=None, compare=False)
    beta_coverage_curve: np.ndarray | None = dataclasses.field(default=None, compare=False)
    _SHOWN = ("delta_precision_alpha", "delta_coverage_beta", "authenticity")


# ----------------------------------------------------------------------------------------------------------
# distances between distributions, out-of-distribution evaluation, sample-size curves
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Audit(_Result):
    """Per generated sample judgements and the metrics before/after discarding, as :func:`genmetrics.audit`
    computes them (Alaa et al. 2022's model auditing). Arrays have one entry per generated sample."""

    in_support: np.ndarray = dataclasses.field(compare=False)
    authentic: np.ndarray | None = dataclasses.field(compare=False)
    in_real_balls: np.ndarray = dataclasses.field(compare=False)
    real_balls_per_fake: np.ndarray = dataclasses.field(compare=False)
    realism: np.ndarray = dataclasses.field(compare=False)
    keep: np.ndarray = dataclasses.field(compare=False)
    keep_indices: np.ndarray = dataclasses.field(compare=False)
    before: Mapping[str, float]
    after: Mapping[str, float]
    skipped: Mapping[str, str]
    alpha: float
    k: int
    criteria: tuple[str, ...]
    support_radius: float
    n_real: int
    n_fake: int
    n_kept: int
    backend: str | None = None

    def __post_init__(self) -> None:
        for name in ("before", "after", "skipped"):  # read-only, as the rest of the result
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def table(self) -> str:
        """The metrics before and after discarding, one per line."""
        lines = [f"{'metric':16s} {'before':>10s} {'after':>10s}"]
        for name, value in self.before.items():
            after = f"{self.after[name]:10.4f}" if name in self.after else f"{'skipped':>10s}"
            lines.append(f"{name:16s} {value:10.4f} {after}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        changes = ", ".join(
            f"{name} {self.before[name]:.4f}->{self.after[name]:.4f}"
            for name in ("precision", "authenticity", "alpha_precision")
            if name in self.after
        )
        return f"Audit(kept {self.n_kept} of {self.n_fake}; {changes}; alpha={self.alpha:g}, k={self.k})"


@dataclass(frozen=True, repr=False)
class DiversityModes(_Result):
    """The top eigenpairs of K / trace(K) and the samples that load most on each, as
    :func:`genmetrics.diversity_modes` computes them. Row i of ``indices``/``loadings`` is mode i."""

    eigenvalues: np.ndarray = dataclasses.field(compare=False)
    indices: np.ndarray = dataclasses.field(compare=False)
    loadings: np.ndarray = dataclasses.field(compare=False)
    residuals: np.ndarray = dataclasses.field(compare=False)
    method: str
    kernel: str
    bandwidth: float | None
    n: int

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{w:.3g}: {list(map(int, rows[:3]))}{'...' if rows.size > 3 else ''}"
            for w, rows in zip(self.eigenvalues[:4], self.indices[:4])
        )
        more = ", ..." if self.eigenvalues.size > 4 else ""
        return f"DiversityModes({shown}{more}; {self.method}, {self.kernel}, n={self.n})"

    def plot(self, ax=None):
        """A bar per mode (its eigenvalue, the share of the diversity mass), labelled with the indices of its
        leading samples: the view to use when the samples themselves (images) are not at hand. Needs matplotlib;
        returns the Axes."""
        if ax is None:
            from matplotlib.figure import Figure  # noqa: PLC0415

            ax = Figure(figsize=(8, 0.45 * len(self.eigenvalues) + 1.2)).subplots()
        positions = np.arange(len(self.eigenvalues))[::-1]
        ax.barh(positions, self.eigenvalues, color="#4c72b0")
        for y, w, rows in zip(positions, self.eigenvalues, self.indices):
            ax.text(w, y, "  samples " + ", ".join(map(str, rows[:8])), va="center", fontsize=8)
        ax.set_yticks(positions, [f"mode {i + 1}" for i in range(len(self.eigenvalues))])
        ax.set_xlabel("eigenvalue of K / trace(K)")
        ax.set_title(f"modes of the set ({self.kernel} kernel, n = {self.n})")
        return ax


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
    values: np.ndarray | None = dataclasses.field(default=None, compare=False)  # the MMD^2 of every subset
    _SHOWN = ("mean", "std")


@dataclass(frozen=True, repr=False)
class VAELatentKL(_Result):
    """KL(q(z|x) || N(0, 1)) per latent dimension of a VAE and its active units (Burda et al. 2016), as
    :func:`genmetrics.vae_latent_kl` computes them: the posterior-collapse diagnostics."""

    total: float  # sum over dimensions of per_dimension
    per_dimension: np.ndarray = dataclasses.field(compare=False)  # (d,) mean over samples of the KL of each unit
    active_units: int = 0  # units whose variance_of_mean exceeds threshold
    active: np.ndarray | None = dataclasses.field(default=None, compare=False)  # (d,) bool
    variance_of_mean: np.ndarray | None = dataclasses.field(default=None, compare=False)  # (d,) Var_x(mu_j), n - 1
    threshold: float = 0.01
    n: int = 0
    d: int = 0
    _SHOWN = ("total",)


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
    """A diversity score against the sample size: the mean and a bootstrap band at every size.

    ``values`` (n_sizes x n_boot) keeps every subset's score and ``n`` the rows of the full set, which
    :meth:`extrapolate` needs; both are None on a curve built by hand without them.
    """

    metric: str
    sizes: np.ndarray = dataclasses.field(compare=False)
    mean: np.ndarray = dataclasses.field(compare=False)
    std: np.ndarray = dataclasses.field(compare=False)
    lower: np.ndarray = dataclasses.field(compare=False)
    upper: np.ndarray = dataclasses.field(compare=False)
    level: float = 0.95
    n_boot: int = 0
    seed: int = 0
    kernel: str | None = None
    bandwidth: float | None = None
    q: float | None = None
    n: int | None = None
    values: np.ndarray | None = dataclasses.field(default=None, compare=False)
    _SHOWN = ()

    def extrapolate(self, *, scale="inverse", level=None, n_resamples=2000, seed=None) -> DiversityExtrapolation:
        """The score's limit as 1/n -> 0, fitted to this curve, with a bootstrap band.

        See :func:`genmetrics.curves.extrapolate_curve` (the same parameters, the formula and the evidence for
        the default scale, 1/score against 1/n: exact in expectation for RKE, an approximation for Vendi).
        """
        from ..curves import extrapolate_curve  # the curves module imports this one

        return extrapolate_curve(self, scale=scale, level=level, n_resamples=n_resamples, seed=seed)

    def __repr__(self) -> str:
        points = [
            f"n={int(s)} {m:.4g} [{lo:.4g}, {hi:.4g}]"
            for s, m, lo, hi in zip(self.sizes, self.mean, self.lower, self.upper)
        ]
        if len(points) > 5:
            points = points[:2] + ["..."] + points[-2:]
        settings = (
            f"{self.metric}"
            + (f" q={self.q:g}" if self.q is not None else "")
            + (f", {self.kernel}" if self.kernel else "")
        )
        return (
            f"DiversityCurve({settings}: {', '.join(points)}; {self.level:.0%} bands, n_boot={self.n_boot}, "
            f"seed={self.seed})"
        )


@dataclass(frozen=True, repr=False)
class DiversityExtrapolation(_Result):
    """A diversity score's large-n limit, extrapolated from its curve against 1/n, with a bootstrap band.

    ``value``: the fitted f(score) = intercept + slope / n at 1/n = 0, mapped back to the score (f is
    ``scale``: "inverse" 1/score, "log" or "score"); ``lower``/``upper``: the band at ``level`` from lines
    through one subset per size; ``sizes``: the sizes fitted (those of the curve below ``n``).
    From :meth:`DiversityCurve.extrapolate`.
    """

    metric: str
    value: float
    lower: float
    upper: float
    level: float
    scale: str
    intercept: float
    slope: float
    sizes: np.ndarray = dataclasses.field(compare=False)
    n: int = 0
    q: float | None = None
    n_resamples: int = 0
    seed: int = 0
    _SHOWN = ("value", "lower", "upper")

    @property
    def band(self) -> tuple:
        return (self.lower, self.upper)


@dataclass(frozen=True, repr=False)
class DiversityComparison(_Result):
    """Two sets' diversity at one common sample size, and their difference, with bootstrap bands.

    ``x_mean``/``y_mean``: mean score over ``n_boot`` subsets of ``size`` rows of X / of Y;
    ``x_lower``..``y_upper``: their percentile bands at ``level``; ``difference`` = x_mean - y_mean, with the
    band ``difference_lower``/``difference_upper`` of the per-draw differences (draw b of X minus draw b of Y).
    ``x_band``, ``y_band``, ``difference_band`` give the bands as (lower, upper) pairs.
    """

    metric: str
    size: int
    x_mean: float
    y_mean: float
    difference: float
    x_std: float
    y_std: float
    difference_std: float
    x_lower: float
    x_upper: float
    y_lower: float
    y_upper: float
    difference_lower: float
    difference_upper: float
    n_x: int
    n_y: int
    level: float = 0.95
    n_boot: int = 0
    seed: int = 0
    kernel: str | None = None
    bandwidth: float | None = None
    q: float | None = None
    _SHOWN = ("x_mean", "y_mean", "difference")

    @property
    def x_band(self) -> tuple:
        return (self.x_lower, self.x_upper)

    @property
    def y_band(self) -> tuple:
        return (self.y_lower, self.y_upper)

    @property
    def difference_band(self) -> tuple:
        return (self.difference_lower, self.difference_upper)

    def __repr__(self) -> str:
        def band(mean, lower, upper):
            return f"{mean:.4g} [{lower:.4g}, {upper:.4g}]"

        params = [f"kernel={self.kernel!r}"]
        if self.bandwidth is not None:
            params.append(f"bandwidth={self.bandwidth:.4g}")
        if self.metric == "vendi":
            params.append(f"q={'inf' if self.q is not None and math.isinf(self.q) else self.q}")
        params += [f"n_x={self.n_x}", f"n_y={self.n_y}", f"n_boot={self.n_boot}", f"seed={self.seed}"]
        return (
            f"{type(self).__name__}({self.metric} at size={self.size}, {self.level:.0%} bands: "
            f"X {band(self.x_mean, self.x_lower, self.x_upper)}, "
            f"Y {band(self.y_mean, self.y_lower, self.y_upper)}, "
            f"X - Y {band(self.difference, self.difference_lower, self.difference_upper)}; "
            f"{', '.join(params)})"
        )


@dataclass(frozen=True, repr=False)
class KMeansResult(_Result):
    """A k-means clustering, as :func:`genmetrics.kmeans` computes it: float64 centroids, int64 labels (the nearest
    centroid of each row, exactly), the inertia sum_i d(x_i, c_label_i)^2, and how the run ended."""

    centroids: np.ndarray = dataclasses.field(compare=False)  # (n_clusters, d) float64
    labels: np.ndarray = dataclasses.field(compare=False)  # (n,) int64
    inertia: float
    n_iter: int  # centroid updates of the kept run
    converged: bool
    n_clusters: int
    n_init: int = 1
    max_iter: int = 300
    tol: float = 1e-4
    init: str = "k-means++"
    seed: int = 0
    backend: str | None = None
    _SHOWN = ("inertia",)


@dataclass(frozen=True, repr=False)
class Mauve(_Result):
    """MAUVE (Pillutla et al. 2021) and the frontier integral of two quantised sets, plain and with smoothed
    histograms (``*_star``), as :func:`genmetrics.mauve` computes them, with the histograms and the curve."""

    mauve: float
    frontier_integral: float
    mauve_star: float
    frontier_integral_star: float
    num_buckets: int
    pca_components: int  # dimensions the k-means ran in
    scaling_factor: float
    seed: int
    n_p: int
    n_q: int
    backend: str | None = None
    p_hist: np.ndarray | None = dataclasses.field(default=None, compare=False)  # (num_buckets,)
    q_hist: np.ndarray | None = dataclasses.field(default=None, compare=False)
    divergence_curve: np.ndarray | None = dataclasses.field(default=None, compare=False)  # (size + 2, 2)
    mixture_weights: np.ndarray | None = dataclasses.field(default=None, compare=False)
    p_labels: np.ndarray | None = dataclasses.field(default=None, compare=False)  # bucket of each row of P
    q_labels: np.ndarray | None = dataclasses.field(default=None, compare=False)
    _SHOWN = ("mauve", "frontier_integral", "mauve_star")


@dataclass(frozen=True, repr=False)
class PRDCurve(_Result):
    """Precision and recall for distributions (Sajjadi et al. 2018), as :func:`genmetrics.prd_curve` computes
    them: the curve (mean over the runs) and its F_beta (recall-like) and F_1/beta (precision-like) maxima."""

    f_beta: float
    f_beta_inv: float
    beta: float
    num_clusters: int
    num_angles: int
    num_runs: int
    seed: int
    n_real: int
    n_fake: int
    backend: str | None = None
    precision: np.ndarray | None = dataclasses.field(default=None, compare=False)  # (num_angles,)
    recall: np.ndarray | None = dataclasses.field(default=None, compare=False)
    slopes: np.ndarray | None = dataclasses.field(default=None, compare=False)  # lambda = tan(angle)
    real_hist: np.ndarray | None = dataclasses.field(default=None, compare=False)  # (num_runs, num_clusters)
    fake_hist: np.ndarray | None = dataclasses.field(default=None, compare=False)
    _SHOWN = ("f_beta", "f_beta_inv")


@dataclass(frozen=True, eq=False)
class RadiusQuery:
    """For every query y_j of :func:`genmetrics.radius_query`: how many reference balls hold it, and its nearest
    reference. Arrays of the engine's device (NumPy, or CuPy for the GPU backends); compare the arrays (or
    ``as_dict()``), not the objects."""

    counts: Any  # int64 (m,): #{i : d(x_i, y_j) < radii[i]} (<= when inclusive)
    any: Any  # bool (m,): counts > 0
    nearest_index: Any  # int64 (m,): argmin_i d(x_i, y_j), ties by the lower index
    nearest_distance: Any  # float64 (m,)

    def as_dict(self) -> dict:
        """Every field by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, repr=False)
class TopPR(_Result):
    """Topological precision and recall; :func:`genmetrics.top_pr` computes them (the bands in the units of the
    kernel density without its constant)."""

    _SHOWN = ("precision", "recall", "f1")
    precision: float
    recall: float
    f1: float
    bandwidth_real: float
    bandwidth_fake: float
    band_real: float
    band_fake: float
    alpha: float
    k: int
    n_real: int
    n_fake: int


@dataclass(frozen=True, repr=False)
class Rarity(_Result):
    """Rarity scores of generated samples; :func:`genmetrics.rarity_score` computes them. ``scores`` is NaN for the
    samples outside every real ball (``in_manifold`` False); ``mean`` is over the others."""

    _SHOWN = ("mean",)
    scores: np.ndarray = dataclasses.field(compare=False)
    in_manifold: np.ndarray = dataclasses.field(compare=False)
    mean: float = float("nan")
    k: int = 3
    radius_quantile: float | None = None
    n_real: int = 0
    n_fake: int = 0
