"""diversity_curve and compare_diversity: draws reproduced from the documented rng sequence, analytic cluster
values, the fixed bandwidth, the size bias they exist to remove, determinism, and argument errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import genmetrics as gm
from genmetrics.curves import DiversityComparison, compare_diversity, default_sizes, diversity_curve
from genmetrics.engine.kernels import median_heuristic_bandwidth
from genmetrics.support.validation import check_embeddings

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def draws(seed, n, sizes, n_boot):
    """The documented draw sequence: ascending sizes below n, n_boot sorted draws without replacement each."""
    rng = np.random.default_rng(seed)
    return {s: [np.sort(rng.choice(n, size=s, replace=False)) for _ in range(n_boot)] for s in sizes if s < n}


def band(values, level):
    tail = 100 * (1 - level) / 2
    return np.percentile(values, [tail, 100 - tail])


def hill(labels, q):
    """Hill number of order q of the label proportions: VS_q of clusters of identical, orthogonal points."""
    p = np.bincount(labels) / len(labels)
    p = p[p > 0]
    if q == 1:
        return math.exp(-np.sum(p * np.log(p)))
    if math.isinf(q):
        return 1 / p.max()
    return np.sum(p**q) ** (1 / (1 - q))


def orthogonal_clusters(m, per_cluster, d=None):
    """m clusters of identical points at the basis vectors e_0..e_{m-1}: cosine K is 1 within, 0 across."""
    d = d or m + 2
    labels = np.repeat(np.arange(m), per_cluster)
    X = np.zeros((labels.size, d))
    X[np.arange(labels.size), labels] = 1.0
    perm = np.random.default_rng(7).permutation(labels.size)  # clusters interleaved in row order
    return X[perm], labels[perm]


def gaussian(n, d=8, seed=3):
    return np.random.default_rng(seed).normal(size=(n, d))


# --------------------------------------------------------------------------------------------
# sizes
# --------------------------------------------------------------------------------------------


def test_default_sizes():
    s = default_sizes(1000)
    assert s.dtype.kind == "i" and len(s) == 8
    assert s[0] == 100 and s[-1] == 1000 and np.all(np.diff(s) > 0)
    s = default_sizes(130)  # rounding merges neighbours: unique, ascending, ends at n
    assert s[0] == 100 and s[-1] == 130 and np.all(np.diff(s) > 0) and len(s) <= 8
    assert default_sizes(40).tolist() == [40]
    assert default_sizes(2).tolist() == [2]


def test_default_curve_uses_default_sizes():
    X = gaussian(300)
    curve = diversity_curve(X, n_boot=2)
    assert curve.sizes.tolist() == default_sizes(300).tolist()


def test_sizes_sorted_and_deduplicated():
    X = gaussian(60)
    curve = diversity_curve(X, sizes=[60, 10, 30, 10], n_boot=3)
    assert curve.sizes.tolist() == [10, 30, 60]
    assert diversity_curve(X, sizes=np.int64(20), n_boot=3).sizes.tolist() == [20]


# --------------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric,kernel", [("vendi", "cosine"), ("vendi", "rbf"), ("rke", "rbf"), ("rke", "cosine")])
def test_band_at_full_size_is_the_full_sample_value(backend, metric, kernel):
    X = gaussian(200)
    curve = diversity_curve(X, sizes=[20, 80, 200], metric=metric, kernel=kernel, n_boot=5, backend=backend)
    score = gm.vendi if metric == "vendi" else gm.rke
    full = float(score(X, kernel=kernel, backend=backend))  # its own heuristic: the full set's, as the curve's
    assert curve.mean[-1] == full
    assert curve.lower[-1] == full and curve.upper[-1] == full
    assert curve.std[-1] == 0.0
    assert np.all(curve.lower <= curve.mean) and np.all(curve.mean <= curve.upper)


@pytest.mark.parametrize("q", [0.5, 1, 2, math.inf])
def test_cluster_curve_is_hill_number_of_each_draw(backend, q):
    """Clusters of identical orthogonal points: every subset's VS_q is the Hill number of its own cluster
    proportions (unbalanced subsets included), and the full set of m balanced clusters gives exactly m."""
    m, n_boot, level = 4, 6, 0.8
    X, labels = orthogonal_clusters(m, 25)
    sizes = [5, 12, 40, 100]
    curve = diversity_curve(X, sizes=sizes, q=q, n_boot=n_boot, level=level, seed=11, backend=backend)
    assert curve.kernel == "cosine" and curve.bandwidth is None and curve.q == q
    reproduced = draws(11, len(X), sizes, n_boot)
    for i, s in enumerate(sizes[:-1]):
        values = np.array([hill(labels[idx], q) for idx in reproduced[s]])
        np.testing.assert_allclose(curve.mean[i], values.mean(), rtol=1e-9)
        np.testing.assert_allclose(curve.std[i], values.std(ddof=1), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose([curve.lower[i], curve.upper[i]], band(values, level), rtol=1e-9)
        assert np.all(values <= m + 1e-9)
    np.testing.assert_allclose(curve.mean[-1], m, rtol=1e-9)


def test_rbf_bandwidth_fixed_from_the_full_set(backend):
    """The bandwidth is the full set's median heuristic, and each drawn value is gm.vendi of that subset
    with that bandwidth (n_boot=1: the mean at each size is the one drawn value)."""
    X = gaussian(150, d=5) * np.linspace(0.5, 3.0, 5)
    sizes = [10, 30, 90, 150]
    curve = diversity_curve(X, sizes=sizes, kernel="rbf", n_boot=1, seed=5, backend=backend)
    assert curve.bandwidth == median_heuristic_bandwidth(check_embeddings(X))
    reproduced = draws(5, len(X), sizes, 1)
    own = []
    for i, s in enumerate(sizes[:-1]):
        (idx,) = reproduced[s]
        want = float(gm.vendi(X[idx], kernel="rbf", bandwidth=curve.bandwidth, backend=backend))
        np.testing.assert_allclose(curve.mean[i], want, rtol=1e-12)
        assert curve.lower[i] == curve.mean[i] == curve.upper[i] and curve.std[i] == 0.0
        own.append(median_heuristic_bandwidth(X[idx]))
    # a per-subset heuristic would have used other bandwidths: the fixed one is what keeps sizes comparable
    assert any(abs(b - curve.bandwidth) > 1e-3 * curve.bandwidth for b in own)


def test_rke_draws_reproduced_with_explicit_bandwidth(backend):
    X = gaussian(120, d=4)
    sizes, n_boot = [8, 60], 4
    curve = diversity_curve(X, sizes=sizes, metric="rke", bandwidth=1.5, n_boot=n_boot, seed=2, backend=backend)
    assert curve.metric == "rke" and curve.bandwidth == 1.5 and curve.q == 2.0 and curve.kernel == "rbf"
    for i, s in enumerate(sizes):
        values = [float(gm.rke(X[idx], bandwidth=1.5, backend=backend)) for idx in draws(2, 120, sizes, n_boot)[s]]
        np.testing.assert_allclose(curve.mean[i], np.mean(values), rtol=1e-12)
        np.testing.assert_allclose(curve.std[i], np.std(values, ddof=1), rtol=1e-9)


@pytest.mark.parametrize(
    "metric,kernel,shrink", [("vendi", "cosine", None), ("vendi", "rbf", None), ("rke", "rbf", 0.5)]
)
def test_grows_with_sample_size_on_gaussian_data(backend, metric, kernel, shrink):
    """The diversity bias: the expected plug-in score grows with n. (RKE at the median-heuristic bandwidth is
    nearly flat for Gaussian data, about 2.6 at every n; half of it shows the growth.)"""
    X = gaussian(400, d=32)
    bw = None if shrink is None else shrink * median_heuristic_bandwidth(X)
    curve = diversity_curve(
        X, sizes=[20, 50, 130, 400], metric=metric, kernel=kernel, bandwidth=bw, n_boot=8, backend=backend
    )
    assert curve.mean[0] < curve.mean[-1]
    assert curve.upper[0] < curve.mean[-1]
    assert np.count_nonzero(np.diff(curve.mean) > 0) >= 2


def test_deterministic_for_a_seed(backend):
    X = gaussian(200)
    a = diversity_curve(X, sizes=[20, 60, 200], kernel="rbf", n_boot=5, seed=4, backend=backend)
    b = diversity_curve(X, sizes=[20, 60, 200], kernel="rbf", n_boot=5, seed=4, backend=backend)
    c = diversity_curve(X, sizes=[20, 60, 200], kernel="rbf", n_boot=5, seed=5, backend=backend)
    for field in ("sizes", "mean", "std", "lower", "upper"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.seed == 4 and c.seed == 5
    assert not np.array_equal(a.mean[:2], c.mean[:2])
    assert a.mean[-1] == c.mean[-1]  # the full set does not depend on the seed


def test_backends_agree(both_backends):
    X = gaussian(150)
    cpu, numpy = (diversity_curve(X, sizes=[15, 70, 150], kernel="rbf", n_boot=4, backend=b) for b in both_backends)
    assert cpu.bandwidth == numpy.bandwidth
    np.testing.assert_allclose(cpu.mean, numpy.mean, rtol=1e-9)


def test_result_fields_and_read_only_arrays():
    X = gaussian(50)
    curve = diversity_curve(X, sizes=[10, 50], n_boot=1, level=0.9, seed=3)
    assert (curve.metric, curve.level, curve.n_boot, curve.seed, curve.kernel, curve.q) == (
        "vendi",
        0.9,
        1,
        3,
        "cosine",
        1.0,
    )
    assert set(curve.as_dict()) >= {"sizes", "mean", "std", "lower", "upper", "bandwidth"}
    with pytest.raises(ValueError):
        curve.mean[0] = 0.0
    assert curve.std[0] == 0.0  # n_boot = 1: no spread


def test_float32_and_polynomial_parameters():
    X = gaussian(60).astype(np.float32)
    curve = diversity_curve(X, sizes=[10, 60], kernel="polynomial", degree=2, gamma=0.5, n_boot=3)
    want = float(gm.vendi(X, kernel="polynomial", degree=2, gamma=0.5))
    assert curve.mean[-1] == want and curve.kernel == "polynomial"


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(sizes=[1, 10]), ValueError, "sizes"),
        (dict(sizes=[10, 31]), ValueError, "sizes"),
        (dict(sizes=0), ValueError, "sizes"),
        (dict(sizes=[]), ValueError, "sizes"),
        (dict(sizes=[[5, 10]]), ValueError, "sizes"),
        (dict(sizes=[5.0, 10.0]), TypeError, "sizes"),
        (dict(sizes=[True]), TypeError, "sizes"),
        (dict(n_boot=0), ValueError, "n_boot"),
        (dict(n_boot=2.5), TypeError, "n_boot"),
        # issue 10, item 13: unbounded work is refused by name, before any draw
        (dict(n_boot=10**30), ValueError, "^n_boot: must be <= 10000"),
        (dict(n_boot=10_001), ValueError, "^n_boot: must be <= 10000"),
        (dict(kernel="rbf", method="rff", rank=10**30), ValueError, "^rank: must be <= 100000"),
        (dict(level=0.0), ValueError, "level"),
        (dict(level=1.0), ValueError, "level"),
        (dict(level=float("nan")), ValueError, "level"),
        (dict(level="0.9"), TypeError, "level"),
        (dict(metric="fid"), ValueError, "metric"),
        (dict(metric="rke", q=3), ValueError, "q"),
        (dict(q=-1), ValueError, "q"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(kernel="rbf", bandwidth=0.0), ValueError, "bandwidth"),
        (dict(kernel="nope"), ValueError, "kernel"),
        (dict(backend="nope"), ValueError, "backend"),
    ],
)
def test_curve_errors(kwargs, error, match):
    X = gaussian(30)
    with pytest.raises(error, match=match):
        diversity_curve(X, **kwargs)


def test_n_boot_cap_is_accepted():
    from genmetrics.curves import MAX_N_BOOT

    X = gaussian(30)
    # at s = n the score is computed once whatever n_boot: the cap itself is cheap to check
    assert diversity_curve(X, sizes=[30], n_boot=MAX_N_BOOT).n_boot == MAX_N_BOOT
    assert compare_diversity(X, gaussian(30), n_boot=MAX_N_BOOT).n_boot == MAX_N_BOOT


def test_curve_input_errors():
    with pytest.raises(ValueError, match="X"):
        diversity_curve(np.ones((1, 3)))
    with pytest.raises(ValueError, match="X"):
        diversity_curve(np.full((5, 3), np.nan))
    with pytest.raises(ValueError, match="X: row 2"):
        diversity_curve(np.vstack([np.ones((2, 3)), np.zeros((1, 3)), np.ones((2, 3))]), sizes=[2])


# --------------------------------------------------------------------------------------------
# compare_diversity
# --------------------------------------------------------------------------------------------


def test_compare_reproduces_paired_draws(backend):
    X, Y = gaussian(90, d=5, seed=1), 0.7 * gaussian(60, d=5, seed=2)
    size, n_boot, level = 25, 7, 0.9
    res = compare_diversity(X, Y, kernel="rbf", size=size, n_boot=n_boot, seed=9, level=level, backend=backend)
    assert isinstance(res, DiversityComparison)
    assert res.bandwidth == median_heuristic_bandwidth(np.concatenate([X, Y]))  # chosen once on the union
    rng = np.random.default_rng(9)
    xv, yv = [], []
    for _ in range(n_boot):  # X's draw, then Y's, per draw index
        ix = np.sort(rng.choice(90, size=size, replace=False))
        iy = np.sort(rng.choice(60, size=size, replace=False))
        xv.append(float(gm.vendi(X[ix], kernel="rbf", bandwidth=res.bandwidth, backend=backend)))
        yv.append(float(gm.vendi(Y[iy], kernel="rbf", bandwidth=res.bandwidth, backend=backend)))
    xv, yv = np.array(xv), np.array(yv)
    np.testing.assert_allclose(
        [res.x_mean, res.y_mean, res.difference], [xv.mean(), yv.mean(), xv.mean() - yv.mean()], rtol=1e-12
    )
    np.testing.assert_allclose(res.x_band, band(xv, level), rtol=1e-12)
    np.testing.assert_allclose(res.y_band, band(yv, level), rtol=1e-12)
    np.testing.assert_allclose(res.difference_band, band(xv - yv, level), rtol=1e-12)
    np.testing.assert_allclose(res.difference_std, np.std(xv - yv, ddof=1), rtol=1e-9)
    assert (res.size, res.n_x, res.n_y, res.n_boot, res.seed, res.level) == (size, 90, 60, n_boot, 9, level)


def test_compare_at_equal_n_removes_the_size_bias(backend):
    """Same distribution, 1000 vs 300 samples: the plug-in scores differ a lot (the larger set looks more
    diverse), the comparison at equal n does not, and its band of the difference contains 0."""
    Z = gaussian(1300, d=32, seed=12)
    X, Y = Z[:1000], Z[1000:]
    bw = median_heuristic_bandwidth(Z)
    naive = float(gm.vendi(X, kernel="rbf", bandwidth=bw, backend=backend)) - float(
        gm.vendi(Y, kernel="rbf", bandwidth=bw, backend=backend)
    )
    res = compare_diversity(X, Y, kernel="rbf", size=100, n_boot=20, backend=backend)
    assert res.bandwidth == bw and res.size == 100
    assert naive > 1.0
    assert naive > 3 * abs(res.difference)
    assert naive > res.difference_upper
    assert res.difference_lower < 0 < res.difference_upper


def test_compare_default_size_uses_the_smaller_set_whole():
    X, Y = gaussian(120, seed=1), gaussian(50, seed=2)
    res = compare_diversity(X, Y, n_boot=6)
    assert res.size == 50
    assert res.y_lower == res.y_upper == res.y_mean == float(gm.vendi(Y)) and res.y_std == 0.0
    assert res.x_lower < res.x_upper


def test_compare_detects_a_real_difference(backend):
    X4, _ = orthogonal_clusters(4, 30)
    X2, _ = orthogonal_clusters(2, 20, d=6)
    res = compare_diversity(X4, X2, size=40, n_boot=10, backend=backend)
    assert res.difference_lower > 1.0
    np.testing.assert_allclose(res.y_mean, 2.0, rtol=1e-9)  # X2 is used whole: two balanced clusters


def test_compare_whole_sets_collapse():
    X, Y = gaussian(40, seed=1), gaussian(40, seed=2)
    res = compare_diversity(X, Y, metric="rke", kernel="cosine", n_boot=5)
    vx, vy = float(gm.rke(X, kernel="cosine")), float(gm.rke(Y, kernel="cosine"))
    assert (res.x_mean, res.y_mean, res.difference) == (vx, vy, vx - vy)
    assert res.difference_band == (vx - vy, vx - vy) and res.difference_std == 0.0
    assert res.q == 2.0 and res.metric == "rke"


def test_compare_deterministic_and_repr():
    X, Y = gaussian(50, seed=1), gaussian(70, seed=2)
    a = compare_diversity(X, Y, size=20, n_boot=4, seed=3)
    assert a == compare_diversity(X, Y, size=20, n_boot=4, seed=3)
    text = repr(a)
    assert "vendi at size=20" in text and "X - Y" in text and f"{a.x_mean:.4g}" in text
    assert set(a.as_dict()) >= {"x_mean", "y_mean", "difference", "difference_lower", "bandwidth"}


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(size=31), ValueError, "size"),
        (dict(size=1), ValueError, "size"),
        (dict(size=10.0), TypeError, "size"),
        (dict(n_boot=0), ValueError, "n_boot"),
        (dict(n_boot=10**30), ValueError, "^n_boot: must be <= 10000"),
        (dict(kernel="rbf", method="rff", rank=10**30), ValueError, "^rank: must be <= 100000"),
        (dict(level=1.5), ValueError, "level"),
        (dict(metric="x"), ValueError, "metric"),
    ],
)
def test_compare_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        compare_diversity(gaussian(40), gaussian(30), **kwargs)


def test_compare_input_errors():
    with pytest.raises(ValueError, match="Y"):
        compare_diversity(gaussian(10, d=3), gaussian(10, d=4))
    with pytest.raises(ValueError, match="Y"):
        compare_diversity(gaussian(10), gaussian(1))
    Y = gaussian(10)
    Y[3] = 0.0
    with pytest.raises(ValueError, match="Y: row 3"):
        compare_diversity(gaussian(10), Y)


# --------------------------------------------------------------------------------------------
# extrapolation to large n
# --------------------------------------------------------------------------------------------


def separated_clusters(n, m, d, s, gap=40.0, seed=0):
    """m balanced Gaussian clusters N(mu_j, s^2 I_d), centres gap apart on the first axis: far apart for
    an rbf bandwidth near s, so cross-cluster kernel values vanish (exp(-gap^2 / (2 sigma^2)))."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((m, d))
    centres[:, 0] = gap * np.arange(m)
    return centres[np.arange(n) % m] + s * rng.normal(size=(n, d))


def population_rke(m, d, s, sigma):
    """shared/METRICS.md: RKE-MC of m balanced separated N(mu_j, s^2 I_d) under rbf(sigma)."""
    return m * (1 + 4 * s**2 / sigma**2) ** (d / 2)


def hand_curve(sizes, values, n, level=0.95):
    """A DiversityCurve built from given per-subset values (rows: sizes), as diversity_curve would."""
    values = np.asarray(values, dtype=float)
    return gm.DiversityCurve(
        metric="vendi",
        sizes=np.asarray(sizes),
        mean=values.mean(axis=1),
        std=values.std(axis=1),
        lower=values.min(axis=1),
        upper=values.max(axis=1),
        level=level,
        n_boot=values.shape[1],
        q=1.0,
        n=n,
        values=values,
    )


def test_curve_keeps_every_subset_value(backend):
    X = gaussian(120, d=4)
    sizes, n_boot = [8, 30, 120], 4
    curve = diversity_curve(X, sizes=sizes, metric="rke", bandwidth=1.5, n_boot=n_boot, seed=2, backend=backend)
    assert curve.n == 120 and curve.values.shape == (3, n_boot)
    reproduced = draws(2, 120, sizes, n_boot)
    for i, s in enumerate(sizes[:-1]):
        want = [float(gm.rke(X[idx], bandwidth=1.5, backend=backend)) for idx in reproduced[s]]
        np.testing.assert_allclose(curve.values[i], want, rtol=1e-12)
    assert np.all(curve.values[-1] == float(gm.rke(X, bandwidth=1.5, backend=backend)))
    with pytest.raises(ValueError):
        curve.values[0, 0] = 0.0


@pytest.mark.parametrize(
    "scale,truth",
    [
        ("inverse", lambda s: 1 / (0.02 + 0.9 / s)),  # limit 50
        ("log", lambda s: np.exp(np.log(50.0) - 3.0 / s)),
        ("score", lambda s: 50.0 - 400.0 / s),
    ],
)
def test_extrapolation_of_an_exact_line_is_its_intercept(scale, truth):
    """Subset values exactly on a line of f(score) against 1/n: the limit is the line's, the band collapses,
    and the full set's own point (last size, off the line here) is not used."""
    sizes = np.array([20, 40, 80, 160, 500])
    values = np.repeat(truth(sizes.astype(float))[:, None], 5, axis=1)
    values[-1] = 1.0
    e = hand_curve(sizes, values, n=500).extrapolate(scale=scale)
    np.testing.assert_allclose([e.value, e.lower, e.upper], 50.0, rtol=1e-9)
    assert e.scale == scale and e.sizes.tolist() == [20, 40, 80, 160] and e.n == 500


def test_extrapolation_unbounded_inverse_limit_is_infinite():
    sizes = np.array([10, 20, 40, 80])
    values = np.repeat((1 / (-0.01 + 1.0 / sizes))[:, None], 3, axis=1)  # 1/score reaches 0 before n = inf
    e = hand_curve(sizes, values, n=200).extrapolate()
    assert e.value == math.inf and e.upper == math.inf


def test_extrapolated_rke_band_holds_the_population_value(backend):
    """Ten separated clusters, s = 1.5, sigma = 1, d = 2: population RKE 10 * (1 + 9) = 100. The plug-in
    at n = 400 is about 81 (biased by the 1/n of the diagonal) and outside the band; the extrapolation from
    the curve's sizes 100..328 is close to 100 and its band holds it."""
    m, d, s, sigma = 10, 2, 1.5, 1.0
    pop = population_rke(m, d, s, sigma)
    X = separated_clusters(400, m, d, s)
    curve = diversity_curve(X, metric="rke", bandwidth=sigma, n_boot=20, backend=backend)
    e = curve.extrapolate()
    plugin = curve.mean[-1]
    assert e.lower <= pop <= e.upper
    assert not e.lower <= plugin <= e.upper
    assert abs(plugin - pop) > 3 * abs(e.value - pop)
    assert e.metric == "rke" and e.q == 2.0 and e.level == 0.95 and e.scale == "inverse"
    assert e.lower < e.value < e.upper
    # theory: E[1/RKE_plugin(s)] = U + (1 - U)/s for subsets of X, with U = mean_{i!=j} k^2 (~ 1/pop)
    assert abs(e.slope - (1 - 1 / pop)) < 0.1


def test_extrapolation_and_unbiased_rke_agree():
    """Two routes to the large-n RKE: the U-statistic (rke(estimator="unbiased")) and the curve's limit.
    Both estimate 1 / mean_{i!=j} k^2 of the same X: they agree within their errors."""
    X = separated_clusters(300, 6, 2, 1.0, seed=4)
    u = gm.rke(X, bandwidth=1.0, estimator="unbiased")
    e = diversity_curve(X, metric="rke", bandwidth=1.0, n_boot=20, seed=1).extrapolate()
    assert e.lower <= float(u) <= e.upper
    assert abs(e.value - float(u)) < 2 * u.details["standard_error"]
    np.testing.assert_allclose(e.intercept, u.details["mean_k2"], rtol=0.05)  # the fitted 1/limit is U


def test_extrapolated_vendi_is_closer_to_a_large_sample():
    """Vendi q = 1 (an approximation: 1/VS_1 is only nearly linear in 1/n): from sizes 50..283 of 400
    points, the limit is closer to the score of 4000 points of the same clusters than the plug-in at 400."""
    kw = dict(kernel="rbf", bandwidth=1.0)
    big = float(gm.vendi(separated_clusters(4000, 8, 2, 1.0, seed=99), method="exact", **kw))
    curve = diversity_curve(separated_clusters(400, 8, 2, 1.0), sizes=[50, 71, 100, 141, 200, 283, 400], **kw)
    e = curve.extrapolate()
    assert abs(e.value - big) < 0.5 * abs(curve.mean[-1] - big)
    assert e.lower <= big <= e.upper


def test_extrapolation_is_deterministic_and_prints():
    curve = diversity_curve(gaussian(200), sizes=[20, 50, 100, 200], n_boot=6, seed=3)
    a, b = curve.extrapolate(), curve.extrapolate()
    assert a == b and a.seed == 3 and a.level == curve.level and a.n_resamples == 2000
    c = curve.extrapolate(seed=4, level=0.5)
    assert c.value == a.value and (c.lower, c.upper) != (a.lower, a.upper)
    assert c.upper - c.lower < a.upper - a.lower
    assert f"value={a.value:.4f}" in repr(a) and a.band == (a.lower, a.upper)
    assert set(a.as_dict()) >= {"value", "lower", "upper", "level", "scale", "sizes", "slope", "intercept"}


@pytest.mark.parametrize(
    "sizes,n_boot,kwargs,error,match",
    [
        ([40], 5, {}, ValueError, "^sizes: the extrapolation fits a line through at least 2 sizes"),
        ([10, 60], 5, {}, ValueError, "^sizes"),  # one size below n: the full set's point is not fitted
        ([10, 20, 60], 1, {}, ValueError, "^n_boot: the band needs at least 2"),
        ([10, 20], 3, dict(scale="sqrt"), ValueError, "^scale"),
        ([10, 20], 3, dict(level=1.0), ValueError, "^level"),
        ([10, 20], 3, dict(n_resamples=0), ValueError, "^n_resamples"),
        ([10, 20], 3, dict(n_resamples=10**9), ValueError, "^n_resamples: must be <= 100000"),
        ([10, 20], 3, dict(n_resamples=2.5), TypeError, "^n_resamples"),
        ([10, 20], 3, dict(seed=-1), ValueError, "^seed"),
    ],
)
def test_extrapolation_errors(sizes, n_boot, kwargs, error, match):
    curve = diversity_curve(gaussian(60), sizes=sizes, n_boot=n_boot)
    with pytest.raises(error, match=match):
        curve.extrapolate(**kwargs)


def test_extrapolation_needs_a_curve_with_values():
    from genmetrics.curves import extrapolate_curve

    with pytest.raises(TypeError, match="^curve"):
        extrapolate_curve({"sizes": [10, 20]})
    bare = gm.DiversityCurve(
        metric="vendi", sizes=np.array([10, 20]), mean=np.ones(2), std=np.zeros(2), lower=np.ones(2), upper=np.ones(2)
    )
    with pytest.raises(ValueError, match="^curve: has no per-subset values"):
        bare.extrapolate()
