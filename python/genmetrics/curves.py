"""Diversity against the sample size: bootstrap curves and equal-size comparisons.

Plug-in Vendi and RKE scores are biased estimates whose expectation grows with the number of samples n
(Farnia, Jalali & Ospanov 2026, the diversity-bias result; shared/METRICS.md, "Finite-sample behaviour"):
a set of 10 000 samples scores higher than 1 000 samples of the same distribution. Two sets must therefore
be compared at the same n, and a single score is best reported against n. This module does both:

- :func:`diversity_curve` subsamples X without replacement at a range of sizes and reports, at every size,
  the mean of the score over ``n_boot`` draws, its standard deviation and a percentile band.
- :func:`compare_diversity` subsamples two sets to one common size and reports both scores and their
  difference, with bootstrap bands.

The kernel and its bandwidth are fixed once, before any subsampling (from the full set, or from the union of
the two sets), and used unchanged for every subset: otherwise the curve would mix the effect of the sample
size with the effect of a bandwidth that the median heuristic re-chooses on every subset.

Draws.  Everything random comes from one ``numpy.random.default_rng(seed)``: sizes in ascending order, at
each size ``n_boot`` draws of ``rng.choice(n, size=s, replace=False)``, each sorted (the score does not depend
on the order of the rows; sorted indices read memory in order). At s = n every draw would be the whole set:
the score is computed once, no random numbers are consumed, and the band collapses to that value.
"""

from __future__ import annotations

import numbers

import numpy as np

from .diversity import rke, vendi
from .engine import get_backend
from .engine.kernels import resolve_kernel
from .support.arrays import array_namespace
from .support.results import DiversityComparison, DiversityCurve
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
        one entry per size), ``metric``, ``level``, ``n_boot``, ``seed``, ``kernel``, ``bandwidth``, ``q``.
        At s = n: mean = lower = upper = the score of X, std = 0.
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
    for s in sizes.tolist():
        if s == n:
            value = score(X)
            stats.append((value, 0.0, value, value))
            continue
        values = np.array([score(_take(X, _draw(rng, n, s))) for _ in range(n_boot)], dtype=np.float64)
        stats.append(_summary(values, level))
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


__all__ = ["DiversityComparison", "compare_diversity", "default_sizes", "diversity_curve"]
