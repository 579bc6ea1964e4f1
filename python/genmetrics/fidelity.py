"""Fidelity, coverage and memorisation: metrics built on k-nearest-neighbour balls.

Each real point x_i gets a ball of radius r_i, the distance to its k-th nearest *other* real point; each
generated point y_j likewise a ball of radius s_j among the generated set. Distances are Euclidean, and every
decision (inside a ball or not, who is nearest) is that of the float64 distance computed from explicit
differences, ties included (see :mod:`genmetrics.engine.points`). Definitions: shared/METRICS.md.

===========================  ===============================================================================
:func:`prdc`                 precision, recall, density, coverage (Naeem et al. 2020; prdc 0.2): strict ``<``
:func:`precision_recall`     improved precision and recall (Kynkäänniemi et al. 2019): ``<=``, realism score
:func:`alpha_precision`      alpha-precision, beta-coverage, authenticity (Alaa et al. 2022)
:func:`authenticity`         the memorisation score alone
:func:`ct_score`             the C_T data-copying test statistic (Meehan et al. 2020)
:func:`p_precision_recall`   probabilistic precision and recall (Park & Kim 2023)
:func:`top_pr`               topological precision and recall, TopP&R (Kim et al. 2023)
:func:`rarity_score`         rarity of each generated sample (Han et al. 2023)
===========================  ===============================================================================
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .clustering import kmeans
from .engine import get_backend
from .engine.kernels import resolve_kernel
from .engine.points import as_numpy
from .engine.protocol import BallQuery, BallQueryResult
from .engine.tiles import centered_float64, exact_sq_distances, sq_distance_blocks, sq_distance_error, sq_norms
from .reference import as_reference
from .support.arrays import array_namespace, to_float, to_host
from .support.results import PRDC, AlphaPrecision, PrecisionRecall, Rarity, Score, TopPR
from .support.validation import (
    as_real_array,
    check_bool,
    check_choice,
    check_embeddings,
    check_fraction,
    check_int,
    check_neighbor_count,
    check_pair,
    check_positive,
)


class DuplicatePointsWarning(UserWarning):
    """Some points have duplicates among their k nearest neighbours: their balls have radius 0."""


def check_real_fake(engine, real, fake, k, real_name="real"):
    real, fake = check_pair(real, fake, real_name, "fake", device=engine.device)
    k = check_neighbor_count(
        k, min(real.shape[0], fake.shape[0]) - 1, what=f"the smaller of {real_name} and fake (without the point itself)"
    )
    return real, fake, k


def kth_neighbor_radius(engine, points, k: int):
    """Distance from every point of a set to its k-th nearest other point of the same set (float64)."""
    distances, _ = engine.knn(points, None, k)
    return np.ascontiguousarray(as_numpy(distances)[:, k - 1])


class SharedPasses:
    """The passes over the pairs that the fidelity metrics of one (real, fake) pair share.

    - each set's self-k-NN distances, from one pass per set at the largest k asked for (``k_max``): prdc's k-th,
      precision_recall's k-th and alpha-precision's nearest other point are columns of it;
    - each point's nearest point of the other set (alpha-precision, authenticity against real), which prdc's
      cross pass finds at little cost when ``nearest_in_prdc`` is set.
    The public functions make one for their own call; :func:`genmetrics.evaluate` makes one for them all.
    """

    def __init__(self, engine, real, fake, *, k_max: int, nearest_in_prdc: bool = False, reference=None):
        self.engine = engine
        self.real, self.fake = real, fake
        self.real_points, self.fake_points = engine.points(real, fake, names=("real", "fake"))
        self.k_max = k_max
        self.nearest_in_prdc = nearest_in_prdc
        self._neighbors: dict[str, Any] = {}  # the self-k-NN distances of each set, (rows, k_max)
        if reference is not None:  # computed once for the real set (genmetrics.Reference): the same float64 values
            self._neighbors["real"] = reference.neighbor_distances(k_max)
        # (fake's nearest real, real's nearest fake)
        self._nearest: tuple[BallQueryResult, BallQueryResult] | None = None

    def radius(self, which: str, k: int):
        """Distances from every point of ``which`` ("real" or "fake") to its k-th nearest other point of it."""
        if which not in self._neighbors:
            points = self.real_points if which == "real" else self.fake_points
            distances, _ = self.engine.knn(points, None, self.k_max)
            self._neighbors[which] = as_numpy(distances)
        return np.ascontiguousarray(self._neighbors[which][:, k - 1])

    def nearest(self):
        """(fake's nearest real point, real's nearest fake point), each a BallQueryResult."""
        if self._nearest is None:
            self._nearest = self.engine.ball_query(
                self.fake_points,
                self.real_points,
                inclusive=False,
                a_queries=BallQuery(nearest=True),
                b_queries=BallQuery(nearest=True),
            )
        return self._nearest


def _warn_zero_radii(**radii):
    for name, r in radii.items():
        zero = int(np.count_nonzero(r == 0))
        if zero:
            warnings.warn(
                f"{name}: {zero} point(s) have at least k exact duplicates, so their k-NN ball has radius 0 and, "
                "with the strict '<' of prdc, holds nothing (identical sets score density = coverage = 0); "
                "pass inclusive=True to count points on the sphere",
                DuplicatePointsWarning,
                stacklevel=3,
            )


def _mean(flags) -> float:
    return to_float(flags.mean())


def prdc(real, fake, *, k=5, inclusive=False, per_sample=False, backend=None) -> PRDC:
    r"""Precision, recall, density and coverage (Naeem et al., ICML 2020).

    With r_i the distance from real x_i to its k-th nearest other real point and s_j the same for fake y_j
    among the fakes::

        precision = (1/m) sum_j 1[exists i: d(x_i, y_j) < r_i]
        recall    = (1/n) sum_i 1[exists j: d(x_i, y_j) < s_j]
        density   = (1/(k m)) sum_j sum_i 1[d(x_i, y_j) < r_i]
        coverage  = (1/n) sum_i 1[min_j d(x_i, y_j) < r_i]

    the definitions of the prdc 0.2 package (strict ``<``, each point excluded from its own neighbours), for
    any n and m. For two samples of one distribution E[density] = 1 and
    E[coverage] = 1 - C(n-1, k) / C(n-1+m, k).

    Parameters
    ----------
    real : array (n, d) or Reference
        A :class:`genmetrics.Reference` reuses its real k-NN distances (same numbers).
    fake : array (m, d)
    k : int, default 5
        Neighbourhood size, 1 <= k <= min(n, m) - 1. prdc's default is 5.
    inclusive : bool, default False
        ``True`` compares with ``<=``. With ``<`` a point with k exact duplicates has a ball of radius 0 that
        holds nothing: identical sets get density = coverage = 0. That case warns
        (:class:`DuplicatePointsWarning`) and ``inclusive=True`` is the remedy.
    per_sample : bool, default False
        Also return the arrays the four scores are means of, from the same pass: per generated sample
        ``real_balls_per_fake`` (m,) int64, the number of real balls holding y_j (precision: > 0; density: the
        sum / (k m)); per real sample ``fake_balls_per_real`` (n,) int64, the number of generated balls holding
        x_i (recall: > 0), and ``covered`` (n,) bool (coverage).
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    PRDC
        Frozen dataclass: ``precision``, ``recall``, ``density``, ``coverage`` and the parameters (and the
        per-sample arrays, or None).

    Notes
    -----
    Three passes over the pairs, never an n x m matrix: the k-NN radii of each set (half the pairs each, by
    symmetry), then one pass over (fake, real) serving both directions. Memory O((n + m) k).

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> real = np.random.default_rng(0).normal(size=(200, 16))
    >>> fake = np.random.default_rng(1).normal(size=(150, 16)) + 0.5
    >>> result = gm.prdc(real, fake, k=5)
    >>> print(f"{result.precision:.3f} {result.recall:.3f} {result.density:.3f} {result.coverage:.3f}")
    0.713 0.720 0.745 0.735
    """
    reference = as_reference(real)
    engine = get_backend(backend, real, fake)
    real, fake, k = check_real_fake(engine, real, fake, k)
    inclusive = check_bool(inclusive, "inclusive")
    per_sample = check_bool(per_sample, "per_sample")
    passes = SharedPasses(engine, real, fake, k_max=k, reference=reference)
    return prdc_on(passes, k, inclusive, per_sample=per_sample)


def prdc_on(passes: SharedPasses, k: int, inclusive: bool, *, per_sample: bool = False) -> PRDC:
    real_radius = passes.radius("real", k)  # r_i
    fake_radius = passes.radius("fake", k)  # s_j
    if not inclusive:
        _warn_zero_radii(real=real_radius, fake=fake_radius)
    in_real_balls, in_fake_balls = passes.engine.ball_query(
        passes.fake_points,
        passes.real_points,
        inclusive=inclusive,
        a_queries=BallQuery(ball_radius=real_radius, nearest=passes.nearest_in_prdc),
        b_queries=BallQuery(ball_radius=fake_radius, nearest=True),
    )
    if passes.nearest_in_prdc and passes._nearest is None:
        passes._nearest = (in_real_balls, in_fake_balls)  # the nearest points do not depend on the radii
    real_balls_holding = as_numpy(in_real_balls.counts)  # per fake y_j: #{i : d(x_i, y_j) < r_i}
    fake_balls_holding = as_numpy(in_fake_balls.counts)  # per real x_i: #{j : d(x_i, y_j) < s_j}
    nearest_fake = as_numpy(in_fake_balls.nearest_distance)  # per real x_i: min_j d(x_i, y_j)
    covered = nearest_fake <= real_radius if inclusive else nearest_fake < real_radius
    return PRDC(
        precision=_mean(real_balls_holding > 0),
        recall=_mean(fake_balls_holding > 0),
        density=float(real_balls_holding.sum()) / (k * passes.fake.shape[0]),
        coverage=_mean(covered),
        k=k,
        n_real=int(passes.real.shape[0]),
        n_fake=int(passes.fake.shape[0]),
        inclusive=inclusive,
        real_balls_per_fake=real_balls_holding.astype(np.int64) if per_sample else None,
        fake_balls_per_real=fake_balls_holding.astype(np.int64) if per_sample else None,
        covered=covered if per_sample else None,
    )


def precision_recall(real, fake, *, k=3, backend=None) -> PrecisionRecall:
    r"""Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019), and the realism score.

    The balls of :func:`prdc`, closed (``<=``), as in the authors' code::

        precision = (1/m) sum_j 1[exists i: d(x_i, y_j) <= r_i]
        recall    = (1/n) sum_i 1[exists j: d(x_i, y_j) <= s_j]
        realism_j = max over i with r_i <= median(r) of r_i / d(x_i, y_j)

    The realism score uses only the real balls up to the median radius (the paper drops the largest, which
    are outliers'); it is inf for a fake equal to such a real point (even one whose ball has radius 0), and
    values of at least 1 mean y_j lies inside a ball. The paper writes it with distances, as here; the authors'
    code divides squared distances (the square of this value, up to their epsilon).

    Parameters
    ----------
    real : array (n, d) or Reference
        A :class:`genmetrics.Reference` reuses its real k-NN distances (same numbers).
    fake : array (m, d)
    k : int, default 3
        Neighbourhood size (the paper's default 3), 1 <= k <= min(n, m) - 1.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    PrecisionRecall
        ``precision``, ``recall``, ``realism`` (float64 array (m,)) and the parameters. The realism values
        are float64 ratios of exact distances; the maximising ball is chosen on the fast tiles, so where two
        balls give ratios within the tiles' rounding (~1e-6 relative in float32) either may be reported.
    """
    reference = as_reference(real)
    engine = get_backend(backend, real, fake)
    real, fake, k = check_real_fake(engine, real, fake, k)
    return precision_recall_on(SharedPasses(engine, real, fake, k_max=k, reference=reference), k)


def precision_recall_on(passes: SharedPasses, k: int) -> PrecisionRecall:
    real_radius = passes.radius("real", k)
    fake_radius = passes.radius("fake", k)
    realism_weight = np.where(real_radius <= np.median(real_radius), real_radius, -1.0)  # -1: not used
    in_real_balls, in_fake_balls = passes.engine.ball_query(
        passes.fake_points,
        passes.real_points,
        inclusive=True,
        a_queries=BallQuery(ball_radius=real_radius, ball_weight=realism_weight),
        b_queries=BallQuery(ball_radius=fake_radius),
    )
    return PrecisionRecall(
        precision=_mean(as_numpy(in_real_balls.counts) > 0),
        recall=_mean(as_numpy(in_fake_balls.counts) > 0),
        k=k,
        n_real=int(passes.real.shape[0]),
        n_fake=int(passes.fake.shape[0]),
        realism=as_numpy(in_real_balls.max_ratio),
    )


# ----------------------------------------------------------------------------------------------------------
# alpha-precision, beta-coverage, authenticity
# ----------------------------------------------------------------------------------------------------------

INTEGRATIONS = ("trapezoid", "original", "synthcity")


def distance_to(points, center, chunk_rows=4096):
    """||p - center|| for every row of a host array, float64 (in chunks: no float64 copy of the whole set)."""
    out = np.empty(points.shape[0])
    for start in range(0, points.shape[0], chunk_rows):
        diff = points[start : start + chunk_rows].astype(np.float64) - center
        out[start : start + chunk_rows] = np.sqrt(np.sum(diff * diff, axis=1))
    return out


def _delta(curve, alphas, integration: str) -> float:
    """1 - 2 * integral_0^1 |curve(a) - a| da, by the chosen rule."""
    gap = np.abs(curve - alphas)
    if integration == "trapezoid":  # the paper's integral
        return float(1.0 - 2.0 * np.sum((gap[1:] + gap[:-1]) / 2.0 * np.diff(alphas)))
    if integration == "original":  # the authors' code: a Riemann sum with step 1/(n_alphas - 1)
        return float(1.0 - 2.0 * np.sum(gap) * (alphas[1] - alphas[0]))
    return float(1.0 - np.sum(gap) / np.sum(alphas))  # synthcity: 1/sum(alphas) = 2/n_alphas per step


def authentic_flags(nearest_real_distance, nearest_real_index, real_rho) -> np.ndarray:
    """The corrected rule, per generated sample: y_j is a copy when its nearest real x* is closer to it than
    x*'s own nearest other real point, d(y_j, x*) < rho(x*); True where it is not."""
    return ~(nearest_real_distance < real_rho[nearest_real_index])


def alpha_precision(
    real, fake, *, n_alphas=30, center=None, embedding=None, integration="trapezoid", backend=None
) -> AlphaPrecision:
    r"""alpha-precision, beta-coverage and authenticity (Alaa et al., ICML 2022).

    With alphas = linspace(0, 1, n_alphas), c the center of the real set (its mean, or ``center``), c_hat the
    mean of the fakes, y*(i) the fake nearest to real x_i and rho_i the distance from x_i to its nearest
    other real point::

        P_alpha = (1/m) sum_j 1[||y_j - c|| <= quantile_alpha_i ||x_i - c||]
        R_beta  = quantile_beta_i ||y*(i) - c_hat||
        C_beta  = (1/n) sum_i 1[d(x_i, y*(i)) <= rho_i] 1[||y*(i) - c_hat|| <= R_beta]
        Delta   = 1 - 2 integral_0^1 |curve(a) - a| da        (for both curves)
        authenticity = (1/m) sum_j 1[not d(y_j, x*_j) < rho(x*_j)],  x*_j the real point nearest to y_j

    Quantiles are ``np.quantile``'s (linear interpolation). Authenticity follows the corrected rule: the
    original code and synthcity index real radii with fake indices (which also forces n = m); here n != m works.

    Parameters
    ----------
    real : array (n, d), n >= 2, or Reference
        A :class:`genmetrics.Reference` reuses its real nearest-other distances (same numbers).
    fake : array (m, d)
    n_alphas : int, default 30
        Points of the alpha (and beta) grid, >= 2; 30 in the paper.
    center : array (d,), optional, default None
        The center c instead of the mean of the (embedded) real set, e.g. a one-class network's center.
    embedding : callable, optional, default None
        Applied to ``real`` and ``fake`` first (for instance the trained one-class embedding of the paper);
        everything is then computed in the embedded space.
    integration : {"trapezoid", "original", "synthcity"}, default "trapezoid"
        How Delta integrates: "trapezoid", the paper's integral by the trapezoid rule; "original", the
        authors' code, a Riemann sum of 30 terms with step 1/29 (it overshoots the integral by one end term);
        "synthcity", the sum divided by sum(alphas) = 15, i.e. step 1/15 for the whole 1 - 2 integral.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    AlphaPrecision
        ``delta_precision_alpha``, ``delta_coverage_beta``, ``authenticity``, the ``alphas`` and both curves.
    """
    reference = as_reference(real) if embedding is None else None  # an embedding makes new points
    engine = get_backend(backend, real, fake)
    if embedding is not None:
        if not callable(embedding):
            raise TypeError(
                f"embedding: expected a callable that maps an (n, d) array to (n, d'), got {type(embedding).__name__}"
            )
        real, fake = embedding(real), embedding(fake)
    real, fake = check_pair(real, fake, "real", "fake", device=engine.device)
    if real.shape[0] < 2:
        raise ValueError("real: needs at least 2 rows (each real point's nearest other real point)")
    n_alphas = check_int(n_alphas, "n_alphas", low=2)
    integration = check_choice(integration, "integration", INTEGRATIONS)
    # first: it rejects magnitudes whose float64 distances overflow, before the geometry below meets them
    passes = SharedPasses(engine, real, fake, k_max=1, reference=reference)
    return alpha_precision_on(passes, n_alphas, center, integration)


def alpha_precision_on(passes: SharedPasses, n_alphas: int, center, integration: str) -> AlphaPrecision:
    real, fake = passes.real, passes.fake
    # the O(n d) geometry around the centers runs in NumPy on every backend (same summation order as the CPU)
    real_host, fake_host = to_host(real), to_host(fake)
    if center is None:
        center = real_host.astype(np.float64).mean(axis=0)
    else:
        center = as_real_array(center, "center")
        if center.ndim != 1 or center.shape[0] != real.shape[1]:
            raise ValueError(f"center: expected shape ({real.shape[1]},), got {center.shape}")
        center = check_embeddings(center.astype(np.float64).reshape(1, -1), "center")[0]

    alphas = np.linspace(0.0, 1.0, n_alphas)
    # alpha-precision: fakes inside the alpha-quantile ball of the real distances to the center
    real_radii = np.quantile(distance_to(real_host, center), alphas)
    fake_to_center = np.sort(distance_to(fake_host, center))
    alpha_precision_curve = np.searchsorted(fake_to_center, real_radii, side="right") / fake.shape[0]

    # beta-coverage: each real point's nearest fake, inside the real point's own nearest-neighbour ball
    real_rho = passes.radius("real", 1)
    fake_nearest_real, real_nearest_fake = passes.nearest()
    nearest_fake = as_numpy(real_nearest_fake.nearest_index)
    in_own_ball = as_numpy(real_nearest_fake.nearest_distance) <= real_rho
    nearest_fake_to_fake_center = distance_to(fake_host, fake_host.astype(np.float64).mean(axis=0))[nearest_fake]
    beta_radii = np.quantile(nearest_fake_to_fake_center, alphas)
    beta_coverage_curve = np.array([np.mean(in_own_ball & (nearest_fake_to_fake_center <= r)) for r in beta_radii])

    return AlphaPrecision(
        delta_precision_alpha=_delta(alpha_precision_curve, alphas, integration),
        delta_coverage_beta=_delta(beta_coverage_curve, alphas, integration),
        authenticity=_mean(
            authentic_flags(
                as_numpy(fake_nearest_real.nearest_distance), as_numpy(fake_nearest_real.nearest_index), real_rho
            )
        ),
        integration=integration,
        n_real=int(real.shape[0]),
        n_fake=int(fake.shape[0]),
        alphas=alphas,
        alpha_precision_curve=alpha_precision_curve,
        beta_coverage_curve=beta_coverage_curve,
    )


def authenticity(train, fake, *, per_sample=False, backend=None) -> Score:
    r"""The share of generated samples that are not copies of training samples (Alaa et al. 2022, corrected).

    y_j is a copy when the training point x* nearest to it is closer to it than x* is to its own nearest other
    training point: d(y_j, x*) < rho(x*). ``authenticity = 1 - (copies / m)``: near 0 for a generator that
    memorises, higher for one that does not. Ties: the nearest x* is the lowest-index one.

    Parameters
    ----------
    train : array (n, d), n >= 2, or Reference
        A :class:`genmetrics.Reference` built with ``train=``: its training set and nearest-other distances.
    fake : array (m, d)
    per_sample : bool, default False
        Also return, in ``.details``, the arrays the share is the mean of: ``authentic`` (m,) bool, and
        ``nearest_train_index`` (m,) int64 and ``nearest_train_distance`` (m,) float64, the x* of each y_j.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> train = np.random.default_rng(0).normal(size=(300, 8))
    >>> copies = train[:50] + 1e-3  # memorised
    >>> fresh = np.random.default_rng(1).normal(size=(50, 8))
    >>> score = gm.authenticity(train, np.concatenate([copies, fresh]), per_sample=True)
    >>> print(f"{score:.2f}", score.details["authentic"][:50].any())
    0.28 False
    """
    reference = as_reference(train)
    if reference is not None:
        if reference.train is None:
            raise ValueError("train: this Reference was built without a training set; rebuild it with train=")
        train = reference.train
    engine = get_backend(backend, train, fake)
    train, fake = check_pair(train, fake, "train", "fake", device=engine.device)
    per_sample = check_bool(per_sample, "per_sample")
    if train.shape[0] < 2:
        raise ValueError("train: needs at least 2 rows (each training point's nearest other training point)")
    train_points, fake_points = engine.points(train, fake, names=("train", "fake"))
    if reference is not None:
        train_rho = reference.train_nearest_other()
    else:
        train_rho = kth_neighbor_radius(engine, train_points, 1)
    fake_nearest_train, _ = engine.ball_query(
        fake_points, train_points, inclusive=False, a_queries=BallQuery(nearest=True)
    )
    nearest_index = as_numpy(fake_nearest_train.nearest_index)
    nearest_distance = as_numpy(fake_nearest_train.nearest_distance)
    authentic = authentic_flags(nearest_distance, nearest_index, train_rho)
    details = None
    if per_sample:
        details = {
            "authentic": authentic,
            "nearest_train_index": nearest_index.astype(np.int64),
            "nearest_train_distance": nearest_distance,
        }
    return Score(
        _mean(authentic), metric="authenticity", backend=engine.name, n=train.shape[0], m=fake.shape[0], details=details
    )


def _nearest_distances(engine, queries, refs):
    q, r = engine.points(queries, refs, names=("test", "train"))
    distances, _ = engine.knn(q, r, 1)
    return as_numpy(distances)[:, 0]


def _mann_whitney_z(fake_distances, test_distances) -> float:
    """Z-scored Mann-Whitney U of the generated distances against the test distances, C_T's convention: U = the
    pairs with fake > test plus half the ties, Z = (U - (n m / 2 - 0.5)) / sqrt(n m (n + m + 1) / 12)."""
    m, n = len(fake_distances), len(test_distances)
    both = np.concatenate([fake_distances, test_distances])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(len(both))
    sorted_values = both[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(both)]
    for lo, hi in zip(starts, ends):
        ranks[order[lo:hi]] = (lo + hi + 1) / 2.0  # mid-ranks of ties, 1-based
    u = ranks[:m].sum() - m * (m + 1) / 2.0
    return float((u - (n * m / 2.0 - 0.5)) / np.sqrt(n * m * (n + m + 1) / 12.0))


def ct_score(train, test, fake, *, cells=3, min_fake_per_cell=20, pca=64, n_init=10, seed=0, backend=None) -> Score:
    r"""The C_T data-copying test statistic (Meehan, Chaudhuri & Dasgupta, "A Non-Parametric Test to Detect
    Data-Copying in Generative Models", AISTATS 2020).

    The training set is partitioned into ``cells`` cells by k-means; test and generated samples go to the cell of
    their nearest centre. In each cell pi, L(P_n) are the distances from the test samples to their nearest training
    sample of the cell and L(Q_m) the same for the generated samples, and Z_U(pi) is the Mann-Whitney U statistic of
    L(Q_m) against L(P_n), Z-scored under the null:

        Z_U = (U - (n_pi m_pi / 2 - 0.5)) / sqrt(n_pi m_pi (n_pi + m_pi + 1) / 12),
        C_T = sum_{pi in Pi_tau} P_n(pi) Z_U(pi) / sum_{pi in Pi_tau} P_n(pi),

    P_n(pi) the share of test samples in pi, and Pi_tau the cells holding more than ``min_fake_per_cell``
    generated samples. C_T << 0: generated samples are closer to the training set than fresh data is (copying);
    C_T >> 0: underfitting; near 0 for a generator that neither copies nor underfits.

    Parameters
    ----------
    train : array (n, d)
    test : array (n_test, d)
        Held-out samples of the training distribution.
    fake : array (m, d)
    cells : int >= 1, default 3
        k-means cells (dgm-eval's 3). Every cell needs test samples.
    min_fake_per_cell : int >= 0, default 20
        A cell counts when it holds more than this many generated samples (dgm-eval: tau = 20 / m).
    pca : int or None, default 64
        Features of more dimensions are first projected on the top ``pca`` principal components of ``train``
        (dgm-eval's 64); None keeps them.
    n_init : int >= 1, default 10
        k-means restarts, the one of least inertia kept (scikit-learn's ``n_init=10`` in dgm-eval).
    seed : int >= 0, default 0
        k-means++ seeding.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    Score
        C_T, with ``details``: ``z`` (Z_U per cell, 0 for cells without generated samples), ``test_share``
        (P_n per cell), ``used`` (Pi_tau), ``cells``.

    Notes
    -----
    dgm-eval's ``ct.py`` (from Meehan et al.'s code) runs scikit-learn's KMeans unseeded and its PCA; here the
    k-means (:func:`genmetrics.kmeans`: k-means++ seeding, exact nearest-centre assignment) and the PCA
    (eigenvectors of the float64 covariance from ``engine.column_gram``) are seeded and deterministic, so cells, and
    hence C_T, can differ from one dgm-eval run to the next and from this one. The U statistic counts ties as 1/2
    (scipy's ``mannwhitneyu``) and the Z score has no tie correction, as in dgm-eval.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> rng = np.random.default_rng(0)
    >>> train, test = rng.normal(size=(1000, 4)), rng.normal(size=(500, 4))
    >>> copies = train[:500] + 0.01 * rng.normal(size=(500, 4))
    >>> fresh = rng.normal(size=(500, 4))
    >>> bool(gm.ct_score(train, test, copies) < -5), bool(abs(gm.ct_score(train, test, fresh)) < 3)
    (True, True)
    """
    engine = get_backend(backend, train, test, fake)
    train, fake = check_pair(train, fake, "train", "fake", device=engine.device)
    train, test = check_pair(train, test, "train", "test", device=engine.device)
    fake = fake.astype(train.dtype)
    cells = check_int(cells, "cells", low=1)
    min_fake_per_cell = check_int(min_fake_per_cell, "min_fake_per_cell", low=0)
    n_init = check_int(n_init, "n_init", low=1)
    seed = check_int(seed, "seed", low=0)
    if pca is not None:
        pca = check_int(pca, "pca", low=1)
    if train.shape[0] < cells:
        raise ValueError(f"train: {train.shape[0]} rows cannot make {cells} cells; pass fewer cells")
    xp = array_namespace(train)
    T, P = centered_float64(train, test)
    _, Q = centered_float64(train, fake)
    if pca is not None and T.shape[1] > pca:
        w, V = xp.linalg.eigh(engine.column_gram(T))
        top = V[:, xp.argsort(-w)[:pca]]
        T, P, Q = (xp.ascontiguousarray(A @ top) for A in (T, P, Q))
    centres = xp.asarray(kmeans(T, n_clusters=cells, n_init=n_init, seed=seed, backend=engine.name).centroids)
    (centre_points,) = engine.points(centres, names=("centres",))

    def cell_of(A, name):
        (points,) = engine.points(A, names=(name,))
        return as_numpy(engine.knn(points, centre_points, 1)[1])[:, 0]

    t_cells, p_cells, q_cells = cell_of(T, "train"), cell_of(P, "test"), cell_of(Q, "fake")
    z = np.zeros(cells)
    test_share = np.bincount(p_cells, minlength=cells) / P.shape[0]
    fake_counts = np.bincount(q_cells, minlength=cells)
    for c in range(cells):
        t_rows, p_rows, q_rows = (np.flatnonzero(labels == c) for labels in (t_cells, p_cells, q_cells))
        if t_rows.size == 0 or p_rows.size == 0:
            raise ValueError(f"cells: cell {c} has no test or no training samples; pass fewer cells")
        if q_rows.size:
            T_c = xp.ascontiguousarray(T[xp.asarray(t_rows)])
            test_d = _nearest_distances(engine, xp.ascontiguousarray(P[xp.asarray(p_rows)]), T_c)
            fake_d = _nearest_distances(engine, xp.ascontiguousarray(Q[xp.asarray(q_rows)]), T_c)
            z[c] = _mann_whitney_z(fake_d, test_d)
    used = fake_counts > min_fake_per_cell
    if not used.any():
        raise ValueError(f"fake: no cell holds more than min_fake_per_cell={min_fake_per_cell} generated samples")
    value = float(test_share[used] @ z[used] / test_share[used].sum())
    return Score(
        value,
        metric="ct_score",
        backend=engine.name,
        n=train.shape[0],
        m=fake.shape[0],
        details={"z": z, "test_share": test_share, "used": used, "cells": cells, "seed": seed},
    )


# ----------------------------------------------------------------------------------------------------------
# probabilistic precision/recall, TopP&R, rarity score (issue 17)
# ----------------------------------------------------------------------------------------------------------


def _mean_kth_radius(engine, points, k: int) -> float:
    return float(kth_neighbor_radius(engine, points, k).mean())


def _log_miss(engine, A, B, radius: float):
    """For each row b of B: sum over rows a of A with d(a, b) < radius of log(d(a, b) / radius), i.e. the log of
    prod_a (1 - f(a, b)) with f = max(0, 1 - d / radius); -inf where some d is 0."""
    xp = array_namespace(A)
    total = xp.zeros(B.shape[0])
    a_sq, b_sq = sq_norms(A), sq_norms(B)
    with np.errstate(divide="ignore"):
        for lo, hi, D2 in sq_distance_blocks(engine, A, B):
            tiny = D2 <= sq_distance_error(a_sq[lo:hi], b_sq, A.shape[1])  # duplicates: 0, not round-off
            if bool(tiny.any()):
                rows, cols = xp.nonzero(tiny)
                D2[rows, cols] = exact_sq_distances(A, B, rows + lo, cols)
            dist = xp.sqrt(D2)
            inside = dist < radius
            total += xp.where(inside, xp.log(xp.where(inside, dist, radius) / radius), 0.0).sum(axis=0)
    return total


def p_precision_recall(real, fake, *, k=4, a=1.2, backend=None) -> PrecisionRecall:
    r"""Probabilistic precision and recall, P-precision and P-recall (Park & Kim, "Probabilistic Precision and
    Recall Towards Reliable Evaluation of Generative Models", ICCV 2023).

    Each real point x_i carries a probability of "covering" a point y that falls linearly with the distance,
    f(x_i, y) = max(0, 1 - d(x_i, y) / (a R_X)), with one radius for the whole set: R_X, the mean over the real
    points of the distance to their k-th nearest other real point (R_Y likewise for the fakes). A sample is
    covered by a set unless every point of the set fails to cover it::

        P-precision = (1/m) sum_j [1 - prod_i (1 - f_X(x_i, y_j))]
        P-recall    = (1/n) sum_i [1 - prod_j (1 - f_Y(y_j, x_i))]

    For two samples of one distribution both are near 1; a shared radius makes them robust to the outliers that
    inflate the k-NN balls of :func:`precision_recall`.

    Parameters
    ----------
    real : array (n, d)
    fake : array (m, d)
    k : int, default 4
        The neighbour of the radius (the paper's 4), 1 <= k <= min(n, m) - 1.
    a : float > 0, default 1.2
        The scale of the radius (the paper's 1.2).
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    PrecisionRecall
        ``precision`` (P-precision), ``recall`` (P-recall), ``k`` and the set sizes.

    Notes
    -----
    The authors' code (kdst-team/Probablistic_precision_recall, ``metric/pp_pr.py``) computes the same formula
    from full n x m distance matrices; as published its ``get_scoring_rule_psr`` multiplies an undefined ``f``
    (a NameError) where the clipped scores are meant, which is what is computed here. Its CPU path takes the k-th
    nearest other point by ``argpartition`` of each row (the point itself included at distance 0), as here. The
    products are sums of logarithms over blocks of pairs (engine Gram passes), never an n x m matrix.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> real = np.random.default_rng(0).normal(size=(300, 8))
    >>> fake = np.random.default_rng(1).normal(size=(300, 8)) + 1.0
    >>> same = gm.p_precision_recall(real, np.random.default_rng(2).normal(size=(300, 8)))
    >>> shifted = gm.p_precision_recall(real, fake)
    >>> print(f"{same.precision:.2f} {same.recall:.2f} {shifted.precision:.2f} {shifted.recall:.2f}")
    0.73 0.74 0.28 0.26
    """
    engine = get_backend(backend, real, fake)
    real, fake, k = check_real_fake(engine, real, fake, k)
    a = check_positive(a, "a")
    real_points, fake_points = engine.points(real, fake, names=("real", "fake"))
    radius_real = a * _mean_kth_radius(engine, real_points, k)
    radius_fake = a * _mean_kth_radius(engine, fake_points, k)
    X, Y = centered_float64(real, fake)
    xp = array_namespace(X)
    precision = to_float((1.0 - xp.exp(_log_miss(engine, X, Y, radius_real))).mean()) if radius_real > 0 else 0.0
    recall = to_float((1.0 - xp.exp(_log_miss(engine, Y, X, radius_fake))).mean()) if radius_fake > 0 else 0.0
    return PrecisionRecall(
        precision=precision, recall=recall, k=k, n_real=int(real.shape[0]), n_fake=int(fake.shape[0])
    )


def _cosine_kde(engine, data, at, h: float):
    """sum_i cos(pi d / (2h)) 1[d <= h] / n over the rows of ``data``, at each row of ``at`` (the compact cosine
    kernel density without its constant (pi / (4h))^d, which every comparison of TopP&R shares)."""
    xp = array_namespace(data)
    out = xp.empty(at.shape[0])
    for lo, hi, D2 in sq_distance_blocks(engine, at, data):
        dist = xp.sqrt(D2)
        out[lo:hi] = xp.where(dist <= h, xp.cos((np.pi / 2) * dist / h), 0.0).sum(axis=1) / data.shape[0]
    return out


def _confidence_band(engine, data, h: float, alpha: float, repeats: int, rng) -> tuple[float, Any]:
    """(c, p_hat): p_hat the KDE of ``data`` at its own rows, c the (1 - alpha) quantile over bootstrap resamples of
    max_i |p_hat(x_i) - p_boot(x_i)| (TopP&R's band)."""
    xp = array_namespace(data)
    p_hat = _cosine_kde(engine, data, data, h)
    theta = np.empty(repeats)
    n = data.shape[0]
    for r in range(repeats):
        rows = xp.asarray(rng.choice(np.arange(n), size=n, replace=True))
        theta[r] = to_float(xp.abs(p_hat - _cosine_kde(engine, data[rows], data, h)).max())
    return float(np.quantile(theta, 1 - alpha)) if repeats else 0.0, p_hat


def _balloon_bandwidth(engine, data, k: int, rule: str) -> float:
    """The median k-NN distance. rule "top-pr": top-pr's balloon estimate, the k-th smallest distance from row i
    to the rows after it, for the rows i < n - k, and the lower median (sorted value int(0.5 len) - 1)."""
    n = data.shape[0]
    if rule == "knn":
        (points,) = engine.points(data, names=("data",))
        return float(np.median(kth_neighbor_radius(engine, points, k)))
    xp = array_namespace(data)
    values = []
    block = 256
    for lo in range(0, n - k, block):
        hi = min(lo + block, n - k)
        queries, refs = engine.points(data[lo:hi], data[lo + 1 :], names=("data", "data"))
        want = min(k + (hi - lo) - 1, n - lo - 1)
        dist, idx = engine.knn(queries, refs, want)
        dist, idx = as_numpy(dist), as_numpy(idx) + lo + 1  # rows of data
        rows = np.arange(lo, hi)[:, None]
        later = idx > rows  # the rows after row i, in order of distance
        values.append(np.array([d[m][k - 1] for d, m in zip(dist, later)]))
    del xp
    balloon = np.sort(np.concatenate(values))
    return float(balloon[int(len(balloon) * 0.5) - 1])


def top_pr(
    real,
    fake,
    *,
    alpha=0.1,
    k=None,
    projection="top-pr",
    bandwidth_rule="top-pr",
    repeats=10,
    seed=42,
    backend=None,
) -> TopPR:
    r"""Topological precision and recall, TopP&R (Kim, Jang, Lee, Kim, Kim, Jeong, Yoon, Yun, Lee & Kim,
    "TopP&R: Robust Support Estimation Approach for Evaluating Fidelity and Diversity in Generative Models",
    NeurIPS 2023).

    Each set's support is estimated by its kernel density with a compact cosine kernel,
    p_hat(x) = (1/n) sum_i (pi / (4h))^d cos(pi |x - x_i| / (2h)) 1[|x - x_i| <= h], kept where p_hat exceeds a
    bootstrap confidence band c (the 1 - alpha quantile over ``repeats`` resamples of max_i |p_hat(x_i) -
    p_boot(x_i)|): points below it are noise. With h_X, c_X from the real set and h_Y, c_Y from the fakes::

        precision = #{j : p_Y(y_j) > c_Y and p_X(y_j) > c_X} / #{j : p_Y(y_j) > c_Y}
        recall    = #{i : p_X(x_i) > c_X and p_Y(x_i) > c_Y} / #{i : p_X(x_i) > c_X}

    and F1 = their harmonic mean (0 when either is below 1e-4). The bandwidth h of a set is the median of its
    k-NN distances (a balloon estimate, k = 5 d').

    Parameters
    ----------
    real : array (n, d)
    fake : array (m, d)
    alpha : float in (0, 1), default 0.1
        Significance level of the confidence band.
    k : int, optional, default None
        The neighbour of the bandwidth; None: 5 d' (top-pr's), d' the dimension after the projection.
    projection : "top-pr", None or array (d, d'), default "top-pr"
        Features of more than 32 dimensions are first projected to 32, as top-pr does (a linear map with
        Xavier-normal weights, std sqrt(2 / (d + 32))): "top-pr" draws it from ``numpy.random.default_rng(99)``
        (top-pr draws it with torch's generator seeded 99, which genmetrics does not depend on: pass that matrix,
        ``torch.nn.init.xavier_normal_`` of a (32, d) weight after ``torch.manual_seed(99)``, transposed, to get
        top-pr's numbers); None keeps the features; an array is the map itself (``real @ projection``).
    bandwidth_rule : {"top-pr", "knn"}, default "top-pr"
        "top-pr": the package's estimate, the k-th nearest of the rows *after* each row i (for i < n - k), and the
        lower median; "knn": the median over all rows of the distance to the k-th nearest other row.
    repeats : int >= 0, default 10
        Bootstrap resamples of each band (top-pr's 10).
    seed : int >= 0, default 42
        The resamples: ``numpy.random.RandomState(seed).choice(n, n)`` for each of the real set's, then the fake
        set's, from one generator: top-pr's draws after its ``np.random.seed(42)``.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    TopPR
        ``precision`` (top-pr's "fidelity"), ``recall`` ("diversity"), ``f1``, and ``bandwidth_real``,
        ``bandwidth_fake``, ``band_real``, ``band_fake`` (c_X, c_Y in units of the KDE without its constant).

    Notes
    -----
    Deliberate differences from top-pr 0.2.1: the densities drop the constant (pi / (4h))^d, shared by the two
    sides of every comparison (in 32 dimensions it under- or overflows easily); the kernel sums are engine Gram
    passes over blocks of rows, never an n x m matrix; the projection needs no torch. For d' <= 3 top-pr switches to
    a grid search over bandwidths with persistent homology (gudhi); that branch is not implemented here: the
    balloon bandwidth is used in every dimension.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> real = np.random.default_rng(0).normal(size=(400, 8))
    >>> fake = np.random.default_rng(1).normal(size=(400, 8)) + 1.0
    >>> result = gm.top_pr(real, fake)
    >>> print(f"{result.precision:.2f} {result.recall:.2f}")
    0.17 0.21
    """
    engine = get_backend(backend, real, fake)
    real, fake = check_pair(real, fake, "real", "fake", device=engine.device)
    alpha = check_fraction(alpha, "alpha")
    repeats = check_int(repeats, "repeats", low=0)
    seed = check_int(seed, "seed", low=0)
    bandwidth_rule = check_choice(bandwidth_rule, "bandwidth_rule", ("top-pr", "knn"))
    xp = array_namespace(real)
    d = real.shape[1]
    if isinstance(projection, str):
        check_choice(projection, "projection", ("top-pr",))
        if d > 32:
            W = np.random.default_rng(99).normal(scale=np.sqrt(2.0 / (d + 32)), size=(d, 32))
        else:
            W = None
    elif projection is None:
        W = None
    else:
        W = as_real_array(projection, "projection").astype(np.float64)
        if W.ndim != 2 or W.shape[0] != d or not np.all(np.isfinite(W)):
            raise ValueError(f"projection: expected a finite ({d}, d') matrix, got shape {W.shape}")
    X, Y = real.astype(xp.float64), fake.astype(xp.float64)
    if W is not None:
        Wt = xp.ascontiguousarray(xp.asarray(W.T))
        spec = resolve_kernel("linear", Wt)
        X = engine.gram(spec, xp.ascontiguousarray(X), Wt)
        Y = engine.gram(spec, xp.ascontiguousarray(Y), Wt)
    X, Y = centered_float64(X, Y)
    n, m, dim = X.shape[0], Y.shape[0], X.shape[1]
    k = 5 * dim if k is None else check_int(k, "k", low=1)
    if k >= min(n, m):
        raise ValueError(f"k: {k} neighbours need more than {k} rows in each set, got {n} and {m}; pass a smaller k")
    h_real = _balloon_bandwidth(engine, X, k, bandwidth_rule)
    h_fake = _balloon_bandwidth(engine, Y, k, bandwidth_rule)
    for name, h in (("real", h_real), ("fake", h_fake)):
        if not h > 0:
            raise ValueError(f"{name}: the bandwidth is 0 (more than half the rows have k duplicates)")
    rng = np.random.RandomState(seed)
    c_real, p_real = _confidence_band(engine, X, h_real, alpha, repeats, rng)
    c_fake, p_fake = _confidence_band(engine, Y, h_fake, alpha, repeats, rng)
    real_in_fake = _cosine_kde(engine, Y, X, h_fake)  # the fake density at the real points
    fake_in_real = _cosine_kde(engine, X, Y, h_real)
    real_kept, fake_kept = p_real > c_real, p_fake > c_fake
    n_real_kept, n_fake_kept = to_float(real_kept.sum()), to_float(fake_kept.sum())
    precision = to_float((fake_kept & (fake_in_real > c_real)).sum()) / n_fake_kept if n_fake_kept else 0.0
    recall = to_float((real_kept & (real_in_fake > c_fake)).sum()) / n_real_kept if n_real_kept else 0.0
    f1 = 2.0 / (1.0 / precision + 1.0 / recall) if precision > 1e-4 and recall > 1e-4 else 0.0
    return TopPR(
        precision=precision,
        recall=recall,
        f1=f1,
        bandwidth_real=h_real,
        bandwidth_fake=h_fake,
        band_real=c_real,
        band_fake=c_fake,
        alpha=alpha,
        k=k,
        n_real=n,
        n_fake=m,
    )


def rarity_score(real, fake, *, k=3, radius_quantile=None, backend=None) -> Rarity:
    r"""Rarity score of each generated sample (Han, Choi, Choi, Kim, Ha & Choi, "Rarity Score: A New Metric to
    Evaluate the Uncommonness of Synthesized Images", ICLR 2023).

    With r_i the distance from real x_i to its k-th nearest other real point, a generated y_j inside some real ball
    (d(x_i, y_j) < r_i) scores the smallest radius among the balls that hold it; one outside every ball is off
    the real manifold and gets no score::

        rarity_j = min { r_i : d(x_i, y_j) < r_i }

    Large values: y_j lies only in the balls of sparse (rare) real regions.

    Parameters
    ----------
    real : array (n, d)
    fake : array (m, d)
    k : int, default 3
        1 <= k <= n - 1 (the authors' default 3).
    radius_quantile : float in (0, 1), optional, default None
        Drop the real balls whose radius is above this quantile of the radii (``np.quantile``) before scoring: the
        largest balls are those of outliers and would call off-manifold samples rare. None keeps every ball, as the
        authors' code does.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None

    Returns
    -------
    Rarity
        ``scores`` (m,) float64 (NaN off the manifold), ``in_manifold`` (m,) bool, ``mean`` (of the scores on the
        manifold, NaN when none is), ``k``, ``radius_quantile`` and the set sizes.

    Notes
    -----
    The authors' ``MANIFOLD.rarity`` (hichoe95/Rarity-Score) gives 0 to samples off the manifold (here NaN, so that
    they cannot be mistaken for the most common samples) and uses the strict ``<``, as here. Their older
    ``creativity_metric.py`` reads the radius one neighbour too far (index k + 1 of a sorted row that holds the
    point itself): not copied. The ball tests use the float64 distances of engine Gram blocks, and pairs within
    their rounding of a radius are re-decided on distances from explicit differences.

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> real = np.random.default_rng(0).normal(size=(500, 2))
    >>> fake = np.array([[0.0, 0.0], [2.5, 0.0], [9.0, 9.0]])  # common, rare, off the manifold
    >>> result = gm.rarity_score(real, fake)
    >>> print(result.in_manifold, bool(result.scores[1] > result.scores[0]))
    [ True  True False] True
    """
    engine = get_backend(backend, real, fake)
    real, fake = check_pair(real, fake, "real", "fake", device=engine.device)
    k = check_neighbor_count(k, real.shape[0] - 1, what="real (without the point itself)")
    (real_points,) = engine.points(real, names=("real",))
    radius = kth_neighbor_radius(engine, real_points, k)
    if radius_quantile is not None:
        radius_quantile = check_fraction(radius_quantile, "radius_quantile")
        keep = radius <= np.quantile(radius, radius_quantile)
    else:
        keep = np.ones(radius.shape[0], dtype=bool)
    X, Y = centered_float64(real[np.flatnonzero(keep)] if not keep.all() else real, fake)
    xp = array_namespace(X)
    r = xp.asarray(radius[keep])
    r2 = r * r
    x_sq, y_sq = sq_norms(X), sq_norms(Y)
    best = xp.full(Y.shape[0], xp.inf)
    for lo, hi, D2 in sq_distance_blocks(engine, Y, X):
        inside = D2 < r2[None, :]
        error = sq_distance_error(y_sq[lo:hi], x_sq, X.shape[1])
        unsure = xp.abs(D2 - r2[None, :]) <= error
        if bool(unsure.any()):
            rows, cols = xp.nonzero(unsure)
            exact = exact_sq_distances(Y, X, rows + lo, cols)
            inside[rows, cols] = xp.sqrt(exact) < r[cols]
        best[lo:hi] = xp.where(inside, r[None, :], xp.inf).min(axis=1)
    best = as_numpy(best)
    in_manifold = np.isfinite(best)
    scores = np.where(in_manifold, best, np.nan)
    return Rarity(
        scores=scores,
        in_manifold=in_manifold,
        mean=float(scores[in_manifold].mean()) if in_manifold.any() else float("nan"),
        k=k,
        radius_quantile=radius_quantile,
        n_real=int(real.shape[0]),
        n_fake=int(fake.shape[0]),
    )
