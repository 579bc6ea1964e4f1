"""Brute-force float64 references for the k-NN / radius engine and the fidelity metrics.

Written from the definitions of METRICS.md ("Fidelity and coverage") and nothing else; independent of
genmetrics (nothing here imports it).  Conventions, the same as the package's contract:

* every input is upcast to float64 first (float32 values are exactly representable in float64);
* d(x, y) = sqrt(sum_k (x_k - y_k)^2) from explicit differences, in float64, summed by ``np.sum`` along
  the feature axis, then ``np.sqrt``; every decision compares these distances;
* ties in distance are broken by the lower index (``np.lexsort`` / ``np.argmin`` keep the first).

Exact mode and tolerant mode.  The contract fixes the formula, not the summation order, so two correct
float64 evaluations of one distance may differ in the last bits when the squares do not add up exactly.
Every reference that makes a decision therefore takes ``rtol``:

* ``rtol = 0`` (exact mode): the value the definition gives, with every tie decided exactly.  Used on
  data where every sum of squares is exact in any order (small dyadic lattices, see ``lattice_sets``),
  so that the package must agree bit for bit, exact ties included.
* ``rtol > 0`` (tolerant mode, for arbitrary float data): a comparison ``a`` vs ``b`` whose two sides are
  *different* float64 numbers closer than ``rtol * (|a| + |b|)`` is ambiguous, and the reference returns
  an interval ``(lo, hi)`` that holds every answer some summation order could give.  Sides that are
  bit-identical here stay exact ties (they are identical sums of the same terms, e.g. duplicated rows or
  the same pair of rows seen from two functions), so duplicate handling is still checked exactly.
  ``dist_rtol(d)`` bounds the relative difference of two evaluations of a distance in d dimensions.

The ``*_interval`` helpers reduce those per-entry intervals to intervals of the metrics (all the
aggregations are monotone in the decisions).  Hypothesis strategies for the data live at the end: plain
hypothesis, no genmetrics.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = [
    "EPS",
    "f64",
    "dist_rtol",
    "ref_distances",
    "ref_knn",
    "ref_kth_radius",
    "compare",
    "ref_radius_query",
    "ref_prdc",
    "ref_precision_recall",
    "ref_alpha_precision",
    "ref_authenticity",
    "integrate_delta",
    "prdc_expected_coverage",
    "point_sets",
    "lattice_params",
    "lattice_sets",
    "check_knn_answer",
    "row_labels",
]

EPS = float(np.finfo(np.float64).eps)


def f64(A):
    return np.array(A, dtype=np.float64, copy=True)


def dist_rtol(d):
    """Bound on |d1 - d2| / d for two float64 evaluations of one distance in ``d`` dimensions that
    differ only in the order of the sum (each is within ((d + 2) u + u) d of the exact value, u = eps/2),
    with a factor 2 of slack."""
    return 4.0 * (d + 4) * EPS


# --------------------------------------------------------------------------------------------
# distances and neighbours
# --------------------------------------------------------------------------------------------


def ref_distances(X, Y=None):
    """D[i, j] = d(x_i, y_j) (shape (n, m)) from explicit float64 differences; Y=None means Y = X."""
    X = f64(X)
    Y = X if Y is None else f64(Y)
    n, m, d = X.shape[0], Y.shape[0], X.shape[1]
    out = np.empty((n, m))
    chunk = max(1, 4_000_000 // max(1, m * d))
    for s in range(0, n, chunk):
        diff = X[s : s + chunk, None, :] - Y[None, :, :]
        out[s : s + chunk] = np.sqrt(np.sum(diff * diff, axis=-1))
    return out


def _order(dist_row, candidates):
    """``candidates`` sorted by (distance, index)."""
    candidates = np.asarray(candidates, dtype=np.int64)
    return candidates[np.lexsort((candidates, dist_row[candidates]))]


def ref_knn(X, Y=None, k=5, D=None):
    """(distances (m, k), indices (m, k)) of the k nearest x_i to each query, ties by lower index.

    Y=None: the queries are the rows of X and row j is excluded from its own neighbours (by index only:
    a duplicate of it is a neighbour at distance 0).  ``D`` may pass a precomputed ref_distances(X, Y).
    """
    n = np.asarray(X).shape[0]
    if D is None:
        D = ref_distances(X, Y)
    m = D.shape[1]
    self_query = Y is None
    if k < 1 or k > (n - 1 if self_query else n):
        raise ValueError("k out of range for the reference")
    dist = np.empty((m, k))
    idx = np.empty((m, k), dtype=np.int64)
    everyone = np.arange(n)
    for j in range(m):
        cand = np.delete(everyone, j) if self_query else everyone
        order = _order(D[:, j], cand)[:k]
        idx[j] = order
        dist[j] = D[order, j]
    return dist, idx


def ref_kth_radius(X, k, D=None):
    """r_i = distance from x_i to its k-th nearest *other* point of X (the point itself excluded by
    index; duplicates count at distance 0)."""
    if D is None:
        D = ref_distances(X)
    D = D.copy()
    np.fill_diagonal(D, np.inf)
    return np.sort(D, axis=1)[:, k - 1]


# --------------------------------------------------------------------------------------------
# decisions, exact or as intervals
# --------------------------------------------------------------------------------------------


def compare(a, b, inclusive, rtol=0.0):
    """The decision ``a < b`` (``a <= b`` when inclusive), element-wise, as (definitely, possibly).

    Exact mode (rtol = 0): both are the decision.  Tolerant mode: an entry whose sides are within
    rtol (|a| + |b|) of each other, equal ones included, may go either way: equal float64 values here
    need not be equal in another summation order unless the same squares sit at the same places
    (2.25 + (A + B) and (2.25 + A) + B).  Only 0 vs 0 stays exact (a sum of squares is 0 in any order iff
    every term is)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    dec = (a <= b) if inclusive else (a < b)
    if rtol == 0.0:
        return dec, dec
    amb = (np.abs(a - b) <= rtol * (np.abs(a) + np.abs(b))) & ~((a == 0) & (b == 0))
    return dec & ~amb, dec | amb


def ref_radius_query(X, Y, radii, inclusive=False, rtol=0.0):
    """counts[j] = #{i : d(x_i, y_j) < radii[i]} (<= when inclusive), as (lo, hi); any as (lo, hi);
    nearest index / distance over all of X (ties -> lower index; exact mode answer)."""
    D = ref_distances(X, Y)
    radii = f64(radii)
    lo, hi = compare(D, radii[:, None], inclusive, rtol)
    counts = (lo.sum(axis=0).astype(np.int64), hi.sum(axis=0).astype(np.int64))
    nearest_index = np.argmin(D, axis=0).astype(np.int64)  # first occurrence = lower index
    nearest_distance = D[nearest_index, np.arange(D.shape[1])]
    return dict(
        D=D,
        counts=counts,
        any=(counts[0] > 0, counts[1] > 0),
        nearest_index=nearest_index,
        nearest_distance=nearest_distance,
    )


def _mean_interval(lo, hi, axis=None):
    return float(np.mean(lo, axis=axis)), float(np.mean(hi, axis=axis))


def ref_prdc(real, fake, k=5, inclusive=False, rtol=0.0):
    """precision, recall, density, coverage (Naeem et al. 2020, METRICS.md), each as (lo, hi)."""
    D = ref_distances(real, fake)  # (n, m): D[i, j] = d(x_i, y_j)
    r = ref_kth_radius(real, k)  # real radii
    s = ref_kth_radius(fake, k)  # fake radii
    n, m = D.shape
    in_real_lo, in_real_hi = compare(D, r[:, None], inclusive, rtol)  # y_j inside the ball of x_i
    in_fake_lo, in_fake_hi = compare(D, s[None, :], inclusive, rtol)  # x_i inside the ball of y_j
    return dict(
        precision=_mean_interval(in_real_lo.any(axis=0), in_real_hi.any(axis=0)),
        recall=_mean_interval(in_fake_lo.any(axis=1), in_fake_hi.any(axis=1)),
        density=(float(in_real_lo.sum()) / (k * m), float(in_real_hi.sum()) / (k * m)),
        # min_j d(x_i, y_j) < r_i  <=>  some y_j is inside the ball of x_i
        coverage=_mean_interval(in_real_lo.any(axis=1), in_real_hi.any(axis=1)),
        real_radii=r,
        fake_radii=s,
    )


def ref_precision_recall(real, fake, k=3, rtol=0.0):
    """Improved precision & recall (Kynkaenniemi et al. 2019): the same balls with <=, as (lo, hi); and
    the realism score of each fake sample as (lo, hi) arrays (equal in exact mode):
    realism_j = max over real i with r_i <= median(r) of r_i / d(x_i, y_j) (inf when that distance is 0).
    """
    D = ref_distances(real, fake)
    r = ref_kth_radius(real, k)
    s = ref_kth_radius(fake, k)
    in_real_lo, in_real_hi = compare(D, r[:, None], True, rtol)
    in_fake_lo, in_fake_hi = compare(D, s[None, :], True, rtol)
    med = float(np.median(r))
    if rtol == 0.0:
        sel_lo = sel_hi = r <= med
    else:  # which radii sit below the median can change with the last bits of every radius
        amb = np.abs(r - med) <= rtol * (r + med)
        sel_lo, sel_hi = (r <= med) & ~amb, (r <= med) | amb
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(D == 0.0, np.inf, r[:, None] / np.where(D == 0.0, 1.0, D))
    realism_lo = np.max(np.where(sel_lo[:, None], ratio, -np.inf), axis=0)
    realism_hi = np.max(np.where(sel_hi[:, None], ratio, -np.inf), axis=0)
    return dict(
        precision=_mean_interval(in_real_lo.any(axis=0), in_real_hi.any(axis=0)),
        recall=_mean_interval(in_fake_lo.any(axis=1), in_fake_hi.any(axis=1)),
        realism=(realism_lo, realism_hi),
        real_radii=r,
    )


# --------------------------------------------------------------------------------------------
# alpha-precision, beta-coverage, authenticity (Alaa et al. 2022, with the corrected authenticity)
# --------------------------------------------------------------------------------------------


def integrate_delta(abs_dev, alphas, integration):
    """1 - (the integral of |curve - alpha|) by one of the three conventions of METRICS.md."""
    abs_dev = np.asarray(abs_dev, dtype=np.float64)
    if integration == "trapezoid":  # 1 - 2 * np.trapz(|curve - alphas|, alphas), written out
        return 1.0 - 2.0 * float(np.sum((abs_dev[1:] + abs_dev[:-1]) / 2.0 * np.diff(alphas)))
    if integration == "original":  # the original code's Riemann sum, 2/29 per step for 30 alphas
        return 1.0 - 2.0 * float(np.sum(abs_dev)) * float(alphas[1] - alphas[0])
    if integration == "synthcity":  # synthcity's 1/sum(alphas) = 1/15 per step for 30 alphas
        return 1.0 - float(np.sum(abs_dev)) / float(np.sum(alphas))
    raise ValueError(integration)


def _delta_interval(curve_lo, curve_hi, alphas, integration):
    """Interval of 1 - integral |curve - alpha| when each curve value lies in [curve_lo, curve_hi]."""
    dev_max = np.maximum(np.abs(curve_lo - alphas), np.abs(curve_hi - alphas))
    inside = (curve_lo <= alphas) & (alphas <= curve_hi)
    dev_min = np.where(inside, 0.0, np.minimum(np.abs(curve_lo - alphas), np.abs(curve_hi - alphas)))
    return integrate_delta(dev_max, alphas, integration), integrate_delta(dev_min, alphas, integration)


def _norms(A, c):
    diff = A - c[None, :]
    return np.sqrt(np.sum(diff * diff, axis=-1))


def _centre_tol(A, rtol):
    """Bound on |c_computed - mean(A)| (Euclidean) for any summation order of the mean, in tolerant mode."""
    if rtol == 0.0:
        return 0.0
    n, d = A.shape
    return 2.0 * (n + 2) * EPS * float(np.max(np.abs(A))) * math.sqrt(d)


def ref_authenticity(real, fake, rtol=0.0):
    """Fraction of fake y_j that are authentic, as (lo, hi): y_j is NOT authentic when its nearest real x*
    (ties -> lower index) is closer to it than x* is to its own nearest other real point (strict <)."""
    D = ref_distances(real, fake)  # (n, m)
    rho = ref_kth_radius(real, 1)  # nearest other real distance
    n, m = D.shape
    unauth_lo, unauth_hi = compare(D, rho[:, None], False, rtol)
    if rtol == 0.0:
        star = np.argmin(D, axis=0)
        a = ~unauth_lo[star, np.arange(m)]
        return float(np.mean(a)), float(np.mean(a))
    dmin = D.min(axis=0)
    cand = (D == dmin[None, :]) | (np.abs(D - dmin[None, :]) <= rtol * (D + dmin[None, :]))
    # authentic for sure when every possible nearest real point says so, possibly when one of them does
    definitely = np.all(np.where(cand, ~unauth_hi, True), axis=0)
    possibly = np.any(np.where(cand, ~unauth_lo, False), axis=0)
    return float(np.mean(definitely)), float(np.mean(possibly))


def _within_quantile(values, sample, alphas, rtol, centre_tol):
    """(values <= quantile_alpha(sample) for every alpha, and the comparisons that round-off of size rtol
    (plus ``centre_tol`` from the centre) could flip); nothing is ambiguous when rtol == 0."""
    q = np.quantile(sample, alphas)
    dec = values[None, :] <= q[:, None]
    if rtol == 0.0:
        return dec, np.zeros_like(dec)
    tol_q = float(np.max(rtol * sample)) + centre_tol + 4 * EPS * float(np.max(q))
    amb = np.abs(values[None, :] - q[:, None]) <= (rtol * values + centre_tol + tol_q)
    return dec, amb


def ref_alpha_precision(real, fake, n_alphas=30, center=None, embedding=None, integration="trapezoid", rtol=0.0):
    """alpha-precision curve, beta-coverage curve, their integrated scores, authenticity (METRICS.md).

    Every value is an interval (lo, hi).  ``nearest_ambiguous`` is True when, in tolerant mode, the
    nearest fake point of some real point is not determined (two different fake points within rounding
    of each other): the beta curve is not an interval then and tests should draw other data.
    """
    if embedding is not None:
        real, fake = embedding(real), embedding(fake)
    X, Y = f64(real), f64(fake)
    n = X.shape[0]
    alphas = np.linspace(0.0, 1.0, n_alphas)

    # alpha-precision
    c = X.mean(axis=0) if center is None else f64(center)
    ctol = 0.0 if center is not None else _centre_tol(X, rtol)
    nx, ny = _norms(X, c), _norms(Y, c)
    dec, amb = _within_quantile(ny, nx, alphas, rtol, ctol)  # (alphas, m)
    ap_lo, ap_hi = np.mean(dec & ~amb, axis=1), np.mean(dec | amb, axis=1)

    # beta-coverage
    D = ref_distances(X, Y)  # (n, m)
    star = np.argmin(D, axis=1)  # nearest fake of each real, lower index
    dstar = D[np.arange(n), star]
    nearest_ambiguous = False
    if rtol > 0.0:
        labels = row_labels(Y)
        near = (np.abs(D - dstar[:, None]) <= rtol * (D + dstar[:, None])) & (labels[None, :] != labels[star][:, None])
        nearest_ambiguous = bool(near.any())
    rho = ref_kth_radius(X, 1)
    in_lo, in_hi = compare(dstar, rho, True, rtol)
    c_hat = Y.mean(axis=0)
    chtol = _centre_tol(Y, rtol)
    nstar = _norms(Y[star], c_hat)
    decb, ambb = _within_quantile(nstar, nstar, alphas, rtol, chtol)  # (betas, n)
    bc_lo = np.mean(in_lo[None, :] & decb & ~ambb, axis=1)
    bc_hi = np.mean(in_hi[None, :] & (decb | ambb), axis=1)

    return dict(
        alphas=alphas,
        alpha_precision_curve=(ap_lo, ap_hi),
        beta_coverage_curve=(bc_lo, bc_hi),
        delta_precision_alpha=_delta_interval(ap_lo, ap_hi, alphas, integration),
        delta_coverage_beta=_delta_interval(bc_lo, bc_hi, alphas, integration),
        authenticity=ref_authenticity(X, Y, rtol),
        nearest_ambiguous=nearest_ambiguous,
    )


# --------------------------------------------------------------------------------------------
# analytic expectations
# --------------------------------------------------------------------------------------------


def prdc_expected_coverage(n, m, k):
    """E[coverage] for real and fake drawn iid from one continuous distribution: 1 - C(n-1,k)/C(n-1+m,k)."""
    return 1.0 - math.comb(n - 1, k) / math.comb(n - 1 + m, k)


# --------------------------------------------------------------------------------------------
# checking a k-NN answer (indices and distances) against the reference
# --------------------------------------------------------------------------------------------


def row_labels(X):
    """Equal labels for bit-identical rows of X."""
    X = f64(X)
    _, labels = np.unique(X, axis=0, return_inverse=True)
    return labels.reshape(-1)


def check_knn_answer(D, got_d, got_i, self_query, rtol=0.0, dist_rel=1e-12, X=None, what="knn"):
    """Assert that (got_d, got_i) is the k-NN answer for the reference distance matrix D (n, m).

    Exact mode: indices equal to the (distance, index)-sorted reference, distances within ``dist_rel``.
    Tolerant mode (X, the reference set, required): position by position the distances agree within
    ``dist_rel`` and any index swap is between points whose reference distances are within rtol of each
    other (a near or coincidental tie that another summation order may invert); copies of one row (exact
    ties in any order) must still come in index order, and a point left out must not be closer (beyond
    rounding) than the last one taken, nor be a copy of a taken point with a lower index.
    """
    n, m = D.shape
    got_d = np.asarray(got_d)
    got_i = np.asarray(got_i)
    k = got_i.shape[1]
    ref_d, ref_i = ref_knn(np.zeros((n, 1)), None if self_query else np.zeros((m, 1)), k, D=D)
    tiny = 1e-300
    assert np.all(np.abs(got_d - ref_d) <= dist_rel * ref_d + tiny), (
        f"{what}: distances differ from the reference; max rel err "
        f"{float(np.max(np.abs(got_d - ref_d) / np.maximum(ref_d, tiny))):.3e}"
    )
    if rtol == 0.0:
        if not np.array_equal(got_i, ref_i):
            j = int(np.flatnonzero(np.any(got_i != ref_i, axis=1))[0])
            raise AssertionError(
                f"{what}: query {j}: indices {got_i[j].tolist()} != reference "
                f"{ref_i[j].tolist()} (distances {D[ref_i[j], j].tolist()})"
            )
        return
    labels = row_labels(X)
    p, q_ = np.triu_indices(k, 1)
    for j in range(m):
        gi, ri = got_i[j], ref_i[j]
        assert np.all((gi >= 0) & (gi < n)), f"{what}: query {j}: index out of range {gi.tolist()}"
        assert len(set(gi.tolist())) == k, f"{what}: query {j}: repeated indices {gi.tolist()}"
        if self_query:
            assert j not in set(gi.tolist()), f"{what}: query {j} is its own neighbour"
        dg, dr = D[gi, j], D[ri, j]
        assert np.all(np.abs(got_d[j] - dg) <= dist_rel * dg + tiny), (
            f"{what}: query {j}: returned distances do not belong to the returned indices"
        )
        ok = (gi == ri) | (np.abs(dg - dr) <= rtol * (dg + dr))
        assert np.all(ok), f"{what}: query {j}: indices {gi.tolist()} vs reference {ri.tolist()}"
        lg = labels[gi]
        assert not np.any((lg[p] == lg[q_]) & (gi[p] > gi[q_])), (
            f"{what}: query {j}: copies of one row not in index order {gi.tolist()}"
        )
        left = np.ones(n, dtype=bool)
        left[gi] = False
        if self_query:
            left[j] = False
        left = np.flatnonzero(left)
        if left.size:
            de = D[left, j]
            last = dg[-1]
            assert np.all((de >= last) | (np.abs(de - last) <= rtol * (de + last))), (
                f"{what}: query {j}: a closer point was left out"
            )
            bad = (labels[left][:, None] == lg[None, :]) & (left[:, None] < gi[None, :])
            if bad.any():
                e, x = np.argwhere(bad)[0]
                raise AssertionError(
                    f"{what}: query {j}: point {left[e]} left out although it is a copy of "
                    f"taken point {gi[x]} and has the lower index"
                )


# --------------------------------------------------------------------------------------------
# data (hypothesis strategies; plain hypothesis, no genmetrics)
# --------------------------------------------------------------------------------------------

FLOAT_DTYPES = (np.float32, np.float64)


@st.composite
def point_sets(draw, n=None, d=None, dtype=None, min_n=1, max_n=40, max_d=12, bound=10.0, duplicates=True):
    """An (n, d) float array, elements in [-bound, bound] (no subnormals), some rows possibly copies of
    others (exact duplicates, to exercise distance-0 neighbours and exact ties)."""
    from conftest import matrices  # the shared strategy (tests/ is on sys.path under pytest)

    A = draw(matrices(n=n, d=d, dtype=dtype, min_n=min_n, max_n=max_n, max_d=max_d, bound=bound))
    n = A.shape[0]
    if duplicates and n >= 2 and draw(st.booleans()):
        for _ in range(draw(st.integers(1, n - 1))):
            src = draw(st.integers(0, n - 1))
            dst = draw(st.integers(0, n - 1))
            A[dst] = A[src]
    return A


@st.composite
def lattice_params(draw, dtype=None):
    """(dtype, scale, offset) of a lattice offset + scale * integers on which every float64 sum of
    squared differences is exact (so ties are exact ties in any summation order), in float32 as well:
    at an offset of 1000 the float32 spacing is 2**-14, finer than the smallest scale 2**-6.  A float32
    engine that skipped the float64 re-check would get these decisions wrong (|x|^2 ~ 1e6 d)."""
    if dtype is None:
        dtype = draw(st.sampled_from(FLOAT_DTYPES))
    scale = 2.0 ** -draw(st.sampled_from([0, 3, 6]))
    offset = draw(st.sampled_from([0.0, 1000.0, -512.0]))
    return dtype, scale, offset


@st.composite
def lattice_sets(draw, params, n=None, d=None, min_n=1, max_n=40, max_d=5, levels=2):
    """An (n, d) array of offset + scale * (integers in [-levels, levels]): plenty of exact ties and
    duplicates."""
    dtype, scale, offset = params
    if n is None:
        n = draw(st.integers(min_n, max_n))
    if d is None:
        d = draw(st.integers(1, max_d))
    A = draw(hnp.arrays(np.int64, (n, d), elements=st.integers(-levels, levels)))
    out = (offset + scale * A.astype(np.float64)).astype(dtype)
    assert np.array_equal(out.astype(np.float64), offset + scale * A)  # exactly representable
    return out


# a cluster spread `magnitude` around the origin next to two far points: float32 sets with the far points at +-1
# are not rescaled, float64 ones at +-1e12 are (by 2^-40, taking the cluster lower still), so the cluster's
# distances live where the tiles' rounding is absolute (below the smallest normal number); the margin's floor must
# cover it (without it, the compiled engine and float32 tiles count pairs as surely inside that are not)
TINY_CLUSTERS = [(np.float32, 1.0, m) for m in (1e-18, 1e-20, 1e-22, 1e-24, 1e-26)] + [
    (np.float64, 1e12, m) for m in (1e-150, 1e-154, 1e-157, 1e-160)
]


def tiny_cluster(dtype, far, magnitude, seed, d=8):
    rng = np.random.default_rng(seed)
    X = np.zeros((12, d), dtype)
    X[0], X[1] = far, -far
    X[2:] = rng.standard_normal((10, d)) * magnitude
    Y = (rng.standard_normal((10, d)) * magnitude).astype(dtype)
    return X, Y
