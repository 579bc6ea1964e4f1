"""Diversity against the sample size: bootstrap curves and equal-size comparisons.

Plug-in Vendi and RKE scores are biased estimates whose expectation grows with the number of samples n
(Farnia, Jalali & Ospanov 2026, the diversity-bias result; shared/METRICS.md, "Finite-sample behaviour"):
a set of 10 000 samples scores higher than 1 000 samples of the same distribution. Two sets must therefore
be compared at the same n, and a single score is best reported against n. This module does both:

- :func:`diversity_curve` subsamples X without replacement at a range of sizes and reports, at every size,
  the mean of the score over ``n_boot`` draws, its standard deviation and a percentile band.
- :func:`compare_diversity` subsamples two sets to one common size and reports both scores and their
  difference, with bootstrap bands.
- :meth:`DiversityCurve.extrapolate <genmetrics.DiversityCurve.extrapolate>` (:func:`extrapolate_curve`) fits
  the curve against 1/n and reports the score's limit as 1/n -> 0, an estimate of its large-n (population)
  value, with a bootstrap band.

The kernel and its bandwidth are fixed once, before any subsampling (from the full set, or from the union of
the two sets), and used unchanged for every subset: otherwise the curve would mix the effect of the sample
size with the effect of a bandwidth that the median heuristic re-chooses on every subset.

Draws.  Everything random comes from one ``numpy.random.default_rng(seed)``: sizes in ascending order, at
each size ``n_boot`` draws of ``rng.choice(n, size=s, replace=False)``, each sorted (the score does not depend
on the order of the rows; sorted indices read memory in order). At s = n every draw would be the whole set:
the score is computed once, no random numbers are consumed, and the band collapses to that value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

from .diversity import rke, vendi
from .engine import get_backend
from .engine.kernels import resolve_kernel
from .support.arrays import array_namespace
from .support.results import DiversityComparison, DiversityCurve, DiversityExtrapolation
from .support.validation import (
    check_choice,
    check_embeddings,
    check_fraction,
    check_int,
    check_kernel,
    check_nonzero_rows,
    check_order,
    check_pair,
    check_size,
)

#: The diversity scores that have curves and comparisons.
CURVE_METRICS = ("vendi", "rke")
DEFAULT_KERNELS = {"vendi": "cosine", "rke": "rbf"}
#: The default curve: about this many sizes, geometrically spaced from min(DEFAULT_SMALLEST, n) to n.
DEFAULT_NUM_SIZES = 8
DEFAULT_SMALLEST = 100
#: The scales :func:`extrapolate_curve` can fit against 1/n: (transform of a score, its inverse on the limit).
#: An "inverse" limit <= 0 means the fitted 1/score reaches 0 before n = infinity: the score is unbounded.
EXTRAPOLATION_SCALES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[float], float]]] = {
    "inverse": (lambda v: 1.0 / v, lambda a: 1.0 / a if a > 0 else math.inf),
    "log": (np.log, math.exp),
    "score": (lambda v: v, float),
}
#: Most resampled lines of the extrapolation band; its percentiles are stable with a few thousand.
MAX_RESAMPLES = 100_000
#: Most bootstrap draws per size (or per set): each is a full score; percentile bands are stable long
#: before this many (a few hundred draws), so a larger n_boot is a mistake, not more precision.
MAX_N_BOOT = 10_000


# ----------------------------------------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------------------------------------


def _check_metric_and_order(metric, q):
    metric = check_choice(metric, "metric", CURVE_METRICS)
    q = check_order(q)
    if metric == "rke":
        # RKE mode count = VS_2; the default q=1 of the shared signature is accepted and means nothing here.
        if q not in (1.0, 2.0):
            raise ValueError(
                f"q: the RKE mode count is the order-2 score; got q={q}. Use metric='vendi' for other orders"
            )
        q = 2.0
    return metric, q


def default_sizes(n: int, num: int = DEFAULT_NUM_SIZES, smallest: int = DEFAULT_SMALLEST) -> np.ndarray:
    """About ``num`` integer sizes spaced geometrically from min(smallest, n) to n: unique, ascending, last = n.

    Rounding can merge neighbouring sizes, so fewer than ``num`` come out when the range is short (a single
    size, n, when n <= ``smallest``).
    """
    n = check_int(n, "n", low=2)
    start = min(smallest, n)
    sizes = np.unique(np.rint(np.geomspace(start, n, num)).astype(np.int64))
    sizes[-1] = n  # geomspace ends at n exactly; kept explicit against round-off
    return sizes


def _check_sizes(sizes, n: int) -> np.ndarray:
    if sizes is None:
        return default_sizes(n)
    if isinstance(sizes, (numbers.Integral, np.integer)) and not isinstance(sizes, bool):
        sizes = [sizes]
    try:
        arr = np.asarray(sizes)
    except Exception:
        raise TypeError("sizes: expected a sequence of integers") from None
    if arr.ndim != 1:
        raise ValueError(f"sizes: expected a 1-D sequence of integers, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("sizes: is empty; give at least one size in [2, n]")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"sizes: expected integers, got dtype {arr.dtype}")
    checked = [check_size(s, "sizes", n) for s in arr.tolist()]
    return np.unique(np.asarray(checked, dtype=np.int64))  # sorted, duplicates dropped


# ----------------------------------------------------------------------------------------------------------
# the scores
# ----------------------------------------------------------------------------------------------------------


class _Scorer:
    """One metric with one kernel, bandwidth, method and backend, fixed for every subset it is given."""

    def __init__(self, metric, q, spec, engine_name, method, rank, seed, kernel_params):
        self.metric = metric
        self.q = q
        self.kernel = spec.name
        self.bandwidth = spec.bandwidth  # None for kernels without one
        self.engine_name = engine_name
        self.method = method
        self.rank = rank
        self.seed = seed
        self.kernel_params = kernel_params

    def __call__(self, Xs) -> float:
        common = dict(
            kernel=self.kernel,
            bandwidth=self.bandwidth,
            rank=self.rank,
            seed=self.seed,
            backend=self.engine_name,
            **self.kernel_params,
        )
        if self.metric == "vendi":
            return float(vendi(Xs, q=self.q, method=self.method or "auto", **common))
        return float(rke(Xs, method=self.method or "exact", **common))


def _draw(rng, n: int, s: int) -> np.ndarray:
    """s distinct row indices of n, sorted (the documented draw; tests reproduce it)."""
    return np.sort(rng.choice(n, size=s, replace=False))


def _take(X, rows: np.ndarray):
    xp = array_namespace(X)
    return X[xp.asarray(rows)]


def _summary(values: np.ndarray, level: float):
    """mean, std (ddof=1 when more than one value), and the central percentile band at ``level``."""
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    tail = 100.0 * (1.0 - level) / 2.0
    lower, upper = np.percentile(values, [tail, 100.0 - tail], method="linear")
    return mean, std, float(lower), float(upper)


def _frozen(a) -> np.ndarray:
    a = np.asarray(a)
    a.setflags(write=False)
    return a


def _resolve(metric, kernel, X, bandwidth, kernel_params):
    """The kernel spec, with the bandwidth chosen once from ``X`` (median heuristic) when None."""
    if kernel is None:
        kernel = DEFAULT_KERNELS[metric]
    # rbf/laplacian with bandwidth=None: genmetrics.engine.kernels.median_heuristic_bandwidth(X), the heuristic
    # gm.vendi would use on X itself; cosine: zero-norm rows are rejected here, before any work.
    return resolve_kernel(kernel, X, bandwidth, **kernel_params)


# ----------------------------------------------------------------------------------------------------------
# diversity_curve
# ----------------------------------------------------------------------------------------------------------


def diversity_curve(
    X,
    *,
    sizes=None,
    metric="vendi",
    q=1,
    kernel=None,
    bandwidth=None,
    n_boot=20,
    level=0.95,
    seed=0,
    method=None,
    rank=None,
    backend=None,
    **kernel_params,
) -> DiversityCurve:
    """A diversity score of X against the sample size, with bootstrap bands.

    The plug-in Vendi and RKE scores grow with the number of samples (Farnia, Jalali & Ospanov 2026): a score
    means little without its n, and two sets are comparable only at equal n (see :func:`compare_diversity`).
    This computes, for every size s in ``sizes``, the score of ``n_boot`` random subsets of s rows of X drawn
    without replacement, and reports their mean, standard deviation and percentile band.

    Parameters
    ----------
    X : array (n, d), n >= 2
    sizes : int or sequence of int, optional, default None
        Subset sizes, each in [2, n]; sorted and de-duplicated. Default: about 8 integers spaced
        geometrically from min(100, n) to n (:func:`default_sizes`); the last is n.
    metric : {"vendi", "rke"}, default "vendi"
        ``vendi``: :func:`genmetrics.vendi` of order ``q``; ``rke``: :func:`genmetrics.rke` (the RKE mode count,
        VS_2; ``q`` must be left at 1 or be 2, and the result reports q = 2).
    q : float >= 0 or "inf", default 1
        The Vendi order.
    kernel : str, optional, default None
        Default "cosine" for vendi, "rbf" for rke.
    bandwidth : float, optional, default None
        sigma of rbf/laplacian. None: the median heuristic
        (:func:`genmetrics.engine.kernels.median_heuristic_bandwidth`) on the **full** X, chosen once and used for
        every size and every subset (reported as ``.bandwidth``). A bandwidth re-chosen per subset would
        change with s and blur the size effect the curve is meant to show.
    n_boot : int, 1 <= n_boot <= MAX_N_BOOT (10000), default 20
        Subsets per size (below n; at s = n the only subset is X itself and its score is computed once).
    level : float in (0, 1), default 0.95
        Coverage of the band: ``lower``/``upper`` are the (1 - level)/2 and (1 + level)/2 percentiles of the
        n_boot scores (``np.percentile``, linear interpolation). It describes the spread of the score over
        subsets of that size, not a confidence interval for the population value.
    seed : int >= 0, default 0
        Seeds the draws (``numpy.random.default_rng(seed)``; see the module docstring for the exact sequence)
        and the randomized methods: the curve is deterministic for a given seed and backend.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
        Resolved once; every subset is scored on it.
    method, rank : optional, default None
        Passed to :func:`genmetrics.vendi` (default "auto") or :func:`genmetrics.rke` (default "exact"), which
        check them (rff ``rank`` at most ``genmetrics.diversity.MAX_RFF_RANK``).
        With vendi's "auto" and an rbf/laplacian kernel, sizes above 5000 with q != 2 are approximated
        (Nystrom) while smaller ones are exact; pass ``method="exact"`` to keep every size exact.
    **kernel_params
        ``gamma``, ``coef0``, ``degree`` of the polynomial kernel.

    Returns
    -------
    DiversityCurve
        ``sizes``, ``mean``, ``std`` (ddof=1 when n_boot > 1, else 0), ``lower``, ``upper`` (read-only arrays,
        one entry per size), ``values`` (read-only, n_sizes x n_boot: every subset's score, in draw order),
        ``metric``, ``level``, ``n_boot``, ``seed``, ``kernel``, ``bandwidth``, ``q``, ``n`` (rows of X).
        At s = n: mean = lower = upper = the score of X (repeated n_boot times in ``values``), std = 0.
        ``curve.extrapolate()`` estimates the large-n value from it (:func:`extrapolate_curve`).
    """
    engine = get_backend(backend, X)
    X = check_embeddings(X, "X", min_rows=2, device=engine.device)
    n = X.shape[0]
    metric, q = _check_metric_and_order(metric, q)
    sizes = _check_sizes(sizes, n)
    n_boot = check_int(n_boot, "n_boot", low=1, high=MAX_N_BOOT)
    level = check_fraction(level, "level")
    seed = check_int(seed, "seed", low=0)
    spec = _resolve(metric, kernel, X, bandwidth, kernel_params)
    score = _Scorer(metric, q, spec, engine.name, method, rank, seed, kernel_params)

    rng = np.random.default_rng(seed)
    stats = []
    values = np.empty((sizes.size, n_boot), dtype=np.float64)
    for i, s in enumerate(sizes.tolist()):
        if s == n:
            value = score(X)
            values[i] = value
            stats.append((value, 0.0, value, value))
            continue
        values[i] = [score(_take(X, _draw(rng, n, s))) for _ in range(n_boot)]
        stats.append(_summary(values[i], level))
    mean, std, lower, upper = (np.array(column, dtype=np.float64) for column in zip(*stats))
    return DiversityCurve(
        metric=metric,
        sizes=_frozen(sizes),
        mean=_frozen(mean),
        std=_frozen(std),
        lower=_frozen(lower),
        upper=_frozen(upper),
        level=level,
        n_boot=n_boot,
        seed=seed,
        kernel=spec.name,
        bandwidth=spec.bandwidth,
        q=q,
        n=n,
        values=_frozen(values),
    )


# ----------------------------------------------------------------------------------------------------------
# extrapolation to large n
# ----------------------------------------------------------------------------------------------------------


def extrapolate_curve(curve, *, scale="inverse", level=None, n_resamples=2000, seed=None) -> DiversityExtrapolation:
    """The large-n (population) value of a diversity score, extrapolated from its curve against 1/n, with a band.

    The plug-in scores grow with the sample size n (Farnia, Jalali & Ospanov 2026). A line is fitted to
    f(score) against 1/n over the curve's sizes below n, and its intercept at 1/n = 0 is mapped back: the
    estimate of the score's limit as n -> infinity.

    Why 1/score against 1/n.  For RKE (and Vendi of order 2, the same number) and a kernel with k(x, x) = 1,
    1 / RKE_plugin = sum_ij k(x_i, x_j)^2 / n^2 = 1/n + (1 - 1/n) U, U = mean_{i != j} k(x_i, x_j)^2, so

        E[1 / RKE_plugin(n)] = E k(x, x')^2 + (1 - E k(x, x')^2) / n

    is exactly linear in 1/n, with intercept E k(x, x')^2 = 1 / RKE_population. Subsets drawn without
    replacement from X obey the same line with U_X in place of E k^2, so the intercept estimates 1 / U_X, the
    value :func:`genmetrics.rke` with ``estimator="unbiased"`` computes directly. For Vendi of other orders
    the line is **only an approximation** (E[1/VS_q] is not linear in 1/n). In simulations it was the best
    of the three scales: over sizes 50 to 400 (q = 0.5, 1, inf; an isotropic and an anisotropic Gaussian with
    the cosine kernel, well-separated clusters and a Gaussian with rbf) 1/score bent least in 10 of the 12
    cases, and for q = 1 the limits from curves of n = 400 points (20 samples each) were, against the score of
    n = 4000 points: clusters (rbf) 67.1 for 68.0 (log score 63.9, score 62.0, plug-in at 400 57.7), a
    Gaussian (rbf) 68.4 for 75.9 (62.6, 59.6, 55.9); an isotropic Gaussian in 32 dimensions (cosine,
    population value 32) 32.1 (32.0, 31.8, 30.8), the one case where log score was closer. With an rbf
    kernel and unbounded data Vendi keeps growing with n (plain Vendi has no finite limit to reach; the
    Gaussian above), and q = inf bends at every scale: read such limits as a first-order correction of the
    size bias, not as a population value.

    The band.  The line is fitted again ``n_resamples`` times, each time through **one** subset score per
    size, drawn at random among the curve's ``n_boot`` subsets of that size; the band is the
    (1 - level)/2 and (1 + level)/2 percentiles of these intercepts, mapped back to the score. One subset of
    size s varies about as much as an independent sample of size s would, so the band reflects the sampling
    noise of the data, not only the Monte-Carlo noise of the curve: on 40 to 200 samples of n = 300 to 1000
    points from balanced Gaussian clusters (RKE, known population value), the 95 % band held the population
    value in 93 to 100 % of the samples; the weighted least-squares standard error of the intercept through
    the per-size means, which only sees the subsampling of one X, held it in 20 to 42 %. The full set's own
    point (s = n) has no spread over subsets and is not used (the band with it held the population value in
    only 85 % of samples in some settings).

    Parameters
    ----------
    curve : DiversityCurve
        From :func:`diversity_curve`, with at least 2 sizes below n and ``n_boot`` >= 2.
    scale : {"inverse", "log", "score"}, default "inverse"
        f: 1/score (exact in expectation for RKE and q = 2; the best approximation found for other orders),
        log score, or the score itself. Each subset's score is transformed before the means are taken.
    level : float in (0, 1), optional, default None
        Coverage of the band; None: the curve's ``level``.
    n_resamples : int, 1 <= n_resamples <= MAX_RESAMPLES (100000), default 2000
        Lines fitted for the band.
    seed : int >= 0, optional, default None
        Seeds ``numpy.random.default_rng`` for the band's draws; None: the curve's ``seed``.

    Returns
    -------
    DiversityExtrapolation
        ``value`` (the limit), ``lower``, ``upper`` (the band), ``level``, ``scale``, ``intercept`` and
        ``slope`` of the fitted line f(score) = intercept + slope / n, ``sizes`` (the sizes fitted), ``n``,
        ``metric``, ``q``, ``n_resamples``, ``seed``. With ``scale="inverse"`` an intercept <= 0 (a score
        that grows without bound) gives ``value`` or ``upper`` = inf.

    References
    ----------
    Farnia, Jalali & Ospanov (2026), on the bias of plug-in diversity scores with the sample size;
    shared/METRICS.md, "Finite-sample behaviour" and "Unbiased RKE".

    Examples
    --------
    >>> import numpy as np
    >>> import genmetrics as gm
    >>> X = np.random.default_rng(0).normal(size=(400, 8))
    >>> curve = gm.diversity_curve(X, metric="rke", bandwidth=2.0, n_boot=10)
    >>> limit = curve.extrapolate()
    >>> bool(limit.lower <= limit.value <= limit.upper and limit.value > curve.mean[-1])
    True
    """
    if not isinstance(curve, DiversityCurve):
        raise TypeError(f"curve: expected a DiversityCurve (from diversity_curve), got {type(curve).__name__}")
    scale = check_choice(scale, "scale", tuple(EXTRAPOLATION_SCALES))
    level = curve.level if level is None else check_fraction(level, "level")
    n_resamples = check_int(n_resamples, "n_resamples", low=1, high=MAX_RESAMPLES)
    seed = curve.seed if seed is None else check_int(seed, "seed", low=0)
    if curve.values is None or curve.n is None:
        raise ValueError("curve: has no per-subset values (build it with diversity_curve)")
    below = curve.sizes < curve.n
    if np.count_nonzero(below) < 2:
        raise ValueError(
            f"sizes: the extrapolation fits a line through at least 2 sizes below n = {curve.n} (the full set's "
            f"own point is not used); the curve has {curve.sizes.tolist()}"
        )
    if curve.n_boot < 2:
        raise ValueError(f"n_boot: the band needs at least 2 subsets per size; the curve has n_boot={curve.n_boot}")
    transform, back = EXTRAPOLATION_SCALES[scale]
    sizes = curve.sizes[below]
    y = transform(curve.values[below])  # (k, n_boot)
    design = np.column_stack([np.ones(sizes.size), 1.0 / sizes])
    intercept, slope = np.linalg.lstsq(design, y.mean(axis=1), rcond=None)[0]
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, curve.n_boot, size=(sizes.size, n_resamples))
    lines = np.linalg.lstsq(design, np.take_along_axis(y, picks, axis=1), rcond=None)[0]  # (2, n_resamples)
    tail = 100.0 * (1.0 - level) / 2.0
    ends = sorted(back(float(a)) for a in np.percentile(lines[0], [tail, 100.0 - tail]))  # 1/a reverses them
    return DiversityExtrapolation(
        metric=curve.metric,
        value=back(float(intercept)),
        lower=ends[0],
        upper=ends[1],
        level=level,
        scale=scale,
        intercept=float(intercept),
        slope=float(slope),
        sizes=_frozen(sizes.copy()),
        n=curve.n,
        q=curve.q,
        n_resamples=n_resamples,
        seed=seed,
    )


# ----------------------------------------------------------------------------------------------------------
# compare_diversity
# ----------------------------------------------------------------------------------------------------------


def compare_diversity(
    X,
    Y,
    *,
    metric="vendi",
    size=None,
    n_boot=20,
    seed=0,
    q=1,
    kernel=None,
    bandwidth=None,
    level=0.95,
    method=None,
    rank=None,
    backend=None,
    **kernel_params,
) -> DiversityComparison:
    """Compare the diversity of two sets at the same sample size.

    The plug-in Vendi and RKE scores grow with the number of samples (Farnia, Jalali & Ospanov 2026): scoring
    10 000 generated samples against 1 000 real ones favours the generated set whatever the two
    distributions are. Here both sets are subsampled to one common ``size`` (without replacement), scored with
    one kernel and one bandwidth, and compared.

    Parameters
    ----------
    X, Y : arrays (n_x, d), (m_y, d), at least 2 rows each, the same d
    metric, q, kernel, method, rank, **kernel_params : optional, default as in :func:`diversity_curve`
        As in :func:`diversity_curve`.
    size : int, optional, default None
        Common subset size in [2, min(n_x, n_y)]; default min(n_x, n_y). A set whose length equals ``size``
        is used whole (its score is computed once and its band collapses to it).
    n_boot : int, 1 <= n_boot <= MAX_N_BOOT (10000), default 20
        Draws per set.
    seed : int >= 0, default 0
        ``numpy.random.default_rng(seed)``; draw b takes X's subset and then Y's (each sorted), for
        b = 0..n_boot-1; a set used whole consumes no random numbers.
    bandwidth : float, optional, default None
        sigma of rbf/laplacian. None: the median heuristic on the **union** of X and Y (rows of X first; at
        most 1000 of the union's rows are drawn by the heuristic, so the larger set weighs more), chosen once
        and used for both sets and every draw, so that neither set is scored with a kernel fitted to it alone.
    level : float in (0, 1), default 0.95
        Coverage of the percentile bands.
    backend : {"cpu", "numpy", "cuda", "cupy"}, optional, default None
        Resolved once; both sets and every draw are scored on it.

    Returns
    -------
    DiversityComparison
        x_mean, y_mean, difference = x_mean - y_mean; their standard deviations (ddof=1 when n_boot > 1) and
        percentile bands (``x_band``, ``y_band``, ``difference_band``). The draws of X and Y are independent;
        the difference band pairs them by draw index and so shows the spread of the difference due to
        subsampling both sets. A band of the difference that excludes 0 says the gap is larger than that
        subsampling noise.

    Notes
    -----
    The bands describe subsampling within the two given sets, not the sampling of the sets from their
    distributions: a set used whole (``size`` equal to its length, the default for the smaller set)
    contributes no spread at all, and subsets close to a set's length vary little. For a band that reflects
    both sets' own sampling noise, pass a ``size`` well below both lengths.
    """
    engine = get_backend(backend, X, Y)
    X, Y = check_pair(X, Y, device=engine.device)
    for name, A in (("X", X), ("Y", Y)):
        if A.shape[0] < 2:
            raise ValueError(f"{name}: needs at least 2 rows, got {A.shape[0]}")
    n_x, n_y = X.shape[0], Y.shape[0]
    metric, q = _check_metric_and_order(metric, q)
    size = min(n_x, n_y) if size is None else check_size(size, "size", min(n_x, n_y))
    n_boot = check_int(n_boot, "n_boot", low=1, high=MAX_N_BOOT)
    level = check_fraction(level, "level")
    seed = check_int(seed, "seed", low=0)
    if check_kernel(DEFAULT_KERNELS[metric] if kernel is None else kernel) == "cosine":
        check_nonzero_rows(X, "X")  # before the union, so that the error names the set and its row
        check_nonzero_rows(Y, "Y")
    xp = array_namespace(X)
    union = xp.concatenate([X, Y], axis=0)
    spec = _resolve(metric, kernel, union, bandwidth, kernel_params)
    score = _Scorer(metric, q, spec, engine.name, method, rank, seed, kernel_params)

    x_whole = score(X) if size == n_x else None
    y_whole = score(Y) if size == n_y else None
    rng = np.random.default_rng(seed)
    x_values = np.empty(n_boot)
    y_values = np.empty(n_boot)
    for b in range(n_boot):
        x_values[b] = x_whole if x_whole is not None else score(_take(X, _draw(rng, n_x, size)))
        y_values[b] = y_whole if y_whole is not None else score(_take(Y, _draw(rng, n_y, size)))

    def summary(values, whole):
        if whole is not None:  # every draw is the whole set
            return whole, 0.0, whole, whole
        return _summary(values, level)

    x_mean, x_std, x_lower, x_upper = summary(x_values, x_whole)
    y_mean, y_std, y_lower, y_upper = summary(y_values, y_whole)
    if x_whole is not None and y_whole is not None:
        d_mean, d_std, d_lower, d_upper = summary(None, x_whole - y_whole)
    else:
        _, d_std, d_lower, d_upper = _summary(x_values - y_values, level)
        d_mean = x_mean - y_mean
    return DiversityComparison(
        metric=metric,
        size=size,
        x_mean=x_mean,
        y_mean=y_mean,
        difference=d_mean,
        x_std=x_std,
        y_std=y_std,
        difference_std=d_std,
        x_lower=x_lower,
        x_upper=x_upper,
        y_lower=y_lower,
        y_upper=y_upper,
        difference_lower=d_lower,
        difference_upper=d_upper,
        n_x=n_x,
        n_y=n_y,
        level=level,
        n_boot=n_boot,
        seed=seed,
        kernel=spec.name,
        bandwidth=spec.bandwidth,
        q=q,
    )


__all__ = [
    "DiversityComparison",
    "DiversityExtrapolation",
    "compare_diversity",
    "default_sizes",
    "diversity_curve",
    "extrapolate_curve",
]
