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
===========================  ===============================================================================
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .engine import get_backend
from .engine.points import as_numpy
from .engine.protocol import BallQuery, BallQueryResult
from .reference import as_reference
from .support.arrays import to_float, to_host
from .support.results import PRDC, AlphaPrecision, PrecisionRecall, Score
from .support.validation import (
    as_real_array,
    check_bool,
    check_choice,
    check_embeddings,
    check_int,
    check_neighbor_count,
    check_pair,
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
