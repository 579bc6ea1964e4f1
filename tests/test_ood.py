"""Out-of-distribution evaluation (genmetrics.ood): the kNN score and the detector metrics.

``ood_metrics`` against the exact references of tests/reference_ood.py (pair counting for AUROC, explicit
threshold sweeps for FPR@95TPR and average precision, all in rational arithmetic) on scores with many ties,
against sklearn where it is installed (not a dependency), and on analytic cases. ``knn_ood_score`` against a
float64 brute force on the normalised rows (bit for bit on the rows as the function stores them), on every
backend, and for its invariances and argument checks.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference_ood as ro
from conftest import LAYOUTS, fix_small_rows, matrices, with_layout
from genmetrics.ood import _normalise_rows, knn_ood_score, ood_metrics
from genmetrics.support.results import OODMetrics

METRICS = ("auroc", "aupr_in", "aupr_out", "fpr_at_95_tpr")


# --------------------------------------------------------------------------------------------
# strategies and helpers
# --------------------------------------------------------------------------------------------

# a few values, so that ties within and across the two sets are the rule
FLOAT_POOL = (-1e300, -2.5, -1.0, -0.0, 0.0, 1e-300, 0.1, 0.30000000000000004, 0.3, 7.0, 1e300)


@st.composite
def score_pairs(draw, max_size=25):
    """(scores_in, scores_out): integers in a narrow range (many ties), or floats from a small pool."""
    if draw(st.booleans()):
        low, high = draw(st.sampled_from([(0, 1), (0, 3), (-5, 5), (-100, 100)]))
        element = st.integers(low, high)
    else:
        element = st.sampled_from(FLOAT_POOL)
    scores_in = draw(st.lists(element, min_size=1, max_size=max_size))
    scores_out = draw(st.lists(element, min_size=1, max_size=max_size))
    return np.array(scores_in), np.array(scores_out)


def assert_metrics_equal(a: OODMetrics, b: OODMetrics):
    for name in METRICS:
        assert getattr(a, name) == getattr(b, name), (name, getattr(a, name), getattr(b, name))


# --------------------------------------------------------------------------------------------
# ood_metrics: against the references
# --------------------------------------------------------------------------------------------


@given(score_pairs())
def test_auroc_is_the_exact_pair_count_correctly_rounded(pair):
    scores_in, scores_out = pair
    assert ood_metrics(scores_in, scores_out).auroc == float(ro.auroc_pairs(scores_in, scores_out))


@given(score_pairs(), st.sampled_from(["in", "out"]))
def test_fpr_at_95_tpr_is_the_threshold_sweep(pair, positive):
    scores_in, scores_out = pair
    want = ro.ood_reference(scores_in, scores_out, positive)["fpr_at_95_tpr"]
    assert ood_metrics(scores_in, scores_out, positive=positive).fpr_at_95_tpr == float(want)


@given(score_pairs())
def test_average_precisions_are_the_threshold_sweep(pair):
    scores_in, scores_out = pair
    got = ood_metrics(scores_in, scores_out)
    want = ro.ood_reference(scores_in, scores_out)
    assert got.aupr_in == pytest.approx(float(want["aupr_in"]), rel=1e-13, abs=0)
    assert got.aupr_out == pytest.approx(float(want["aupr_out"]), rel=1e-13, abs=0)


@given(score_pairs(max_size=40))
def test_matches_sklearn(pair):
    metrics = pytest.importorskip("sklearn.metrics")
    scores_in, scores_out = pair
    y_in = np.r_[np.ones(len(scores_in)), np.zeros(len(scores_out))]
    s = np.r_[scores_in, scores_out].astype(np.float64)
    got_in = ood_metrics(scores_in, scores_out, positive="in")
    got_out = ood_metrics(scores_in, scores_out, positive="out")
    assert got_in.auroc == pytest.approx(metrics.roc_auc_score(y_in, s), rel=1e-13, abs=1e-15)
    assert got_in.aupr_in == pytest.approx(metrics.average_precision_score(y_in, s), rel=1e-13)
    assert got_in.aupr_out == pytest.approx(metrics.average_precision_score(1 - y_in, -s), rel=1e-13)
    fpr, tpr, _ = metrics.roc_curve(y_in, s, drop_intermediate=False)
    assert got_in.fpr_at_95_tpr == fpr[np.argmax(tpr >= 0.95)]
    fpr, tpr, _ = metrics.roc_curve(1 - y_in, -s, drop_intermediate=False)
    assert got_out.fpr_at_95_tpr == fpr[np.argmax(tpr >= 0.95)]


def test_fpr_at_95_tpr_keeps_the_threshold_where_tpr_reaches_95_percent():
    """18 of 20 in-samples alone on top, then two groups of one in- and one OOD sample each (ties): the first
    group reaches TPR 19/20 at FPR 1/10. The three ROC points are collinear; sklearn's roc_curve with its
    default drop_intermediate=True drops the middle one, which is why the definition here is that of
    drop_intermediate=False."""
    scores_in = np.r_[np.arange(100, 82, -1), 50, 40]
    scores_out = np.r_[50, 40, np.arange(-8, 0)]
    got = ood_metrics(scores_in, scores_out)
    assert got.fpr_at_95_tpr == 0.1
    assert ro.fpr_at_tpr_sweep(scores_in, scores_out) == Fraction(1, 10)


# --------------------------------------------------------------------------------------------
# ood_metrics: analytic cases and properties
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("positive", ["in", "out"])
def test_perfect_separation(positive):
    got = ood_metrics([5.0, 6.0, 7.0, 7.0], [-1.0, 0.0, 4.99], positive=positive)
    assert (got.auroc, got.aupr_in, got.aupr_out, got.fpr_at_95_tpr) == (1.0, 1.0, 1.0, 0.0)


@pytest.mark.parametrize("n, m", [(1, 1), (3, 7), (20, 5)])
def test_reversed_separation(n, m):
    scores_in = np.arange(n, dtype=np.float64)
    scores_out = np.arange(n, n + m, dtype=np.float64)
    got = ood_metrics(scores_in, scores_out)
    assert got.auroc == 0.0
    assert got.fpr_at_95_tpr == 1.0  # every OOD sample scores above every in-sample
    # all OOD samples are ranked first: the i-th in-sample is found at precision i / (m + i)
    assert got.aupr_in == pytest.approx(sum(i / (m + i) for i in range(1, n + 1)) / n, rel=1e-14)
    assert got.aupr_out == pytest.approx(sum(j / (n + j) for j in range(1, m + 1)) / m, rel=1e-14)
    assert ood_metrics(scores_in, scores_out, positive="out").fpr_at_95_tpr == 1.0


@pytest.mark.parametrize("n, m", [(1, 1), (4, 9), (100, 3)])
@pytest.mark.parametrize("positive", ["in", "out"])
def test_constant_scores_do_not_separate(n, m, positive):
    """One tie group: AUROC 1/2; the only threshold with TPR >= 95 % accepts everything; the precision of
    that single threshold is the positive share."""
    got = ood_metrics(np.full(n, 0.25), np.full(m, 0.25), positive=positive)
    assert got.auroc == 0.5
    assert got.fpr_at_95_tpr == 1.0
    assert got.aupr_in == n / (n + m)
    assert got.aupr_out == m / (n + m)


def test_identical_samples_give_one_half():
    scores = np.random.default_rng(0).normal(size=50)
    got = ood_metrics(scores, scores.copy())
    assert got.auroc == 0.5


def test_a_small_case_by_hand():
    """in = [3, 2, 2, 0], out = [2, 1, 1]. Pairs (in > out + ties / 2): 3 beats all 3 (3), each 2 ties one and
    beats two (2.5 + 2.5), 0 beats none: 8 / 12. Thresholds going down: >= 3: TP 1 FP 0; >= 2: TP 3 FP 1 (TPR
    3/4); >= 1: TP 3 FP 3; >= 0: TP 4 FP 3 (TPR 1, the first >= 95 %): FPR = 1.
    AP-in = 1/4 * 1 + 2/4 * 3/4 + 1/4 * 4/7. AP-out, going up: <= 0: TP 0 FP 1; <= 1: TP 2 FP 1; <= 2: TP 3 FP 3:
    2/3 * 2/3 + 1/3 * 1/2. positive="out", going up: TPR 2/3 at <= 1, 1 at <= 2 with FP 3 of 4: FPR = 3/4."""
    scores_in, scores_out = [3, 2, 2, 0], [2, 1, 1]
    got = ood_metrics(scores_in, scores_out)
    assert got.auroc == 8 / 12
    assert got.fpr_at_95_tpr == 1.0
    assert got.aupr_in == pytest.approx(1 / 4 + 2 / 4 * 3 / 4 + 1 / 4 * 4 / 7, rel=1e-15)
    assert got.aupr_out == pytest.approx(2 / 3 * 2 / 3 + 1 / 3 * 1 / 2, rel=1e-15)
    assert ood_metrics(scores_in, scores_out, positive="out").fpr_at_95_tpr == 0.75


@given(score_pairs())
def test_swapping_the_sets_complements_the_auroc(pair):
    scores_in, scores_out = pair
    a = ood_metrics(scores_in, scores_out).auroc
    b = ood_metrics(scores_out, scores_in).auroc
    assert a + b == pytest.approx(1.0, abs=2.3e-16)


@given(score_pairs())
def test_positive_out_is_positive_in_on_negated_swapped_scores(pair):
    """OOD as positives ranked by -score: the same as calling the OOD samples "in" with negated scores."""
    scores_in, scores_out = pair
    as_in = ood_metrics(scores_in, scores_out, positive="in")
    as_out = ood_metrics(scores_in, scores_out, positive="out")
    mirrored = ood_metrics(-scores_out, -scores_in, positive="in")
    assert (as_out.auroc, as_out.aupr_in, as_out.aupr_out) == (as_in.auroc, as_in.aupr_in, as_in.aupr_out)
    assert as_out.fpr_at_95_tpr == mirrored.fpr_at_95_tpr
    assert as_in.aupr_in == mirrored.aupr_out and as_in.aupr_out == mirrored.aupr_in
    assert as_in.auroc == mirrored.auroc
    assert (as_in.positive, as_out.positive) == ("in", "out")


@given(score_pairs(), st.randoms(use_true_random=False))
def test_invariant_under_increasing_maps_and_permutations(pair, rnd):
    scores_in, scores_out = pair
    want = ood_metrics(scores_in, scores_out, positive="out")
    # a strictly increasing map keeps every comparison and every tie
    distinct = np.unique(np.r_[scores_in, scores_out])
    mapped_in, mapped_out = np.searchsorted(distinct, scores_in), np.searchsorted(distinct, scores_out)
    assert_metrics_equal(ood_metrics(3 * mapped_in - 7, 3 * mapped_out - 7, positive="out"), want)
    perm_in, perm_out = list(scores_in), list(scores_out)
    rnd.shuffle(perm_in)
    rnd.shuffle(perm_out)
    assert_metrics_equal(ood_metrics(perm_in, perm_out, positive="out"), want)


@given(score_pairs())
def test_values_lie_in_the_unit_interval(pair):
    got = ood_metrics(*pair)
    for name in METRICS:
        assert 0.0 <= getattr(got, name) <= 1.0


def test_one_sample_each():
    assert_metrics_equal(ood_metrics([1.0], [0.0]), OODMetrics(1.0, 1.0, 1.0, 0.0, "in", 1, 1))
    assert_metrics_equal(ood_metrics([0.0], [1.0]), OODMetrics(0.0, 0.5, 0.5, 1.0, "in", 1, 1))
    assert_metrics_equal(ood_metrics([1.0], [1.0]), OODMetrics(0.5, 0.5, 0.5, 1.0, "in", 1, 1))


def test_fpr_at_95_tpr_needs_95_percent_exactly():
    """With 20 in-samples, 19 accepted is exactly 95 %; with 10, 95 % needs all 10 (9.5 rounds up)."""
    scores_out = np.arange(10) + 0.5  # one OOD sample just above each in-sample 0..9
    assert ood_metrics(np.arange(10), scores_out).fpr_at_95_tpr == 1.0
    scores_in = np.r_[np.arange(100, 119), -1.0]  # 19 on top, one below every OOD sample
    assert ood_metrics(scores_in, np.arange(10)).fpr_at_95_tpr == 0.0


def test_large_counts_stay_exact():
    """n m beyond 2^53 pairs: the pair count is kept in integers (no float accumulation)."""
    scores_in = np.zeros(300_000, dtype=np.int8)
    scores_in[0] = 1
    got = ood_metrics(scores_in, np.zeros(200_000, dtype=np.int8))
    # pairs won: 200000 by the single 1; ties: (300000 - 1) * 200000, each worth 1/2
    want = Fraction(200_000 * 2 + 299_999 * 200_000, 2 * 300_000 * 200_000)
    assert got.auroc == float(want)


# --------------------------------------------------------------------------------------------
# ood_metrics: inputs, result type, argument checks
# --------------------------------------------------------------------------------------------


def test_accepts_lists_integers_bools_and_float32():
    rng = np.random.default_rng(3)
    a = rng.integers(-3, 4, 30)
    b = rng.integers(-3, 4, 20)
    want = ood_metrics(a.astype(np.float64), b.astype(np.float64))
    assert_metrics_equal(ood_metrics(a.tolist(), b.tolist()), want)
    assert_metrics_equal(ood_metrics(a.astype(np.float32), b.astype(np.int16)), want)
    assert_metrics_equal(ood_metrics(a > 0, b > 0), ood_metrics((a > 0).astype(float), (b > 0).astype(float)))
    # float32 scores are compared as they are (exactly widened), not rounded further
    x = np.float32(1.0) + np.float32(2.0**-23)
    assert ood_metrics(np.array([x], np.float32), np.array([1.0], np.float32)).auroc == 1.0


def test_result_type():
    got = ood_metrics([0.9, 0.8, 0.3], [0.1, 0.5], positive="out")
    assert isinstance(got, OODMetrics)
    assert all(type(getattr(got, name)) is float for name in METRICS)
    assert (got.positive, got.n_in, got.n_out) == ("out", 3, 2)
    assert set(got.as_dict()) >= set(METRICS) | {"positive", "n_in", "n_out"}
    assert "auroc=" in repr(got) and "positive='out'" in repr(got)


def test_inputs_are_not_modified():
    a, b = np.array([3.0, 1.0, 2.0]), np.array([0.5, 2.0])
    a0, b0 = a.copy(), b.copy()
    ood_metrics(a, b)
    assert np.array_equal(a, a0) and np.array_equal(b, b0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("which", ["scores_in", "scores_out"])
def test_non_finite_scores_are_rejected(bad, which):
    good = np.array([0.1, 0.2, 0.3])
    broken = np.array([0.1, bad, 0.3])
    args = (broken, good) if which == "scores_in" else (good, broken)
    with pytest.raises(ValueError, match=rf"^{which}: contains NaN"):
        ood_metrics(*args)


@pytest.mark.parametrize(
    "value, error, message",
    [
        ([], ValueError, "at least one score"),
        (np.zeros((3, 1)), ValueError, "1-D"),
        (np.float64(0.5), ValueError, "1-D"),
        (np.array(["a", "b"]), TypeError, "real numbers"),
        (np.array([1 + 2j]), TypeError, "real numbers"),
        ([[1.0, 2.0], [3.0]], TypeError, "cannot be converted"),
    ],
)
@pytest.mark.parametrize("which", ["scores_in", "scores_out"])
def test_bad_scores_are_rejected(value, error, message, which):
    args = (value, [0.0, 1.0]) if which == "scores_in" else ([0.0, 1.0], value)
    with pytest.raises(error, match=rf"^{which}: .*{message}"):
        ood_metrics(*args)


@pytest.mark.parametrize("positive", ["ood", "IN", None, 1])
def test_positive_is_checked(positive):
    with pytest.raises(ValueError, match=r"^positive: "):
        ood_metrics([1.0], [0.0], positive=positive)


# --------------------------------------------------------------------------------------------
# knn_ood_score
# --------------------------------------------------------------------------------------------


@st.composite
def bank_and_queries(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    d = draw(st.integers(1, 12))
    bank = fix_small_rows(draw(matrices(d=d, dtype=dtype, max_n=30)))
    queries = fix_small_rows(draw(matrices(d=d, dtype=dtype, max_n=20)))
    k = draw(st.integers(1, bank.shape[0]))
    return bank, queries, k


def tolerance(dtype):
    # the normalised rows may differ by an ulp of the stored dtype from the reference's (another rounding
    # path); distances between unit vectors are <= 2
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-13


@given(bank_and_queries())
def test_knn_score_matches_the_float64_reference(backend, case):
    bank, queries, k = case
    got = knn_ood_score(bank, queries, k=k, backend=backend)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (queries.shape[0],)
    want = ro.knn_score_reference(bank, queries, k)
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerance(bank.dtype))
    assert np.all((got <= 0) & (got >= -4 - 1e-5))


@given(bank_and_queries())
def test_knn_score_is_the_exact_kth_squared_distance_of_the_stored_rows(backend, case):
    """Bit for bit: minus the k-th smallest np.sum((q - b)**2) in float64 of the normalised rows as stored."""
    bank, queries, k = case
    got = knn_ood_score(bank, queries, k=k, backend=backend)
    stored_bank = _normalise_rows(bank, "memory_bank")
    stored_queries = _normalise_rows(queries, "queries")
    assert stored_bank.dtype == bank.dtype and stored_queries.dtype == queries.dtype
    np.testing.assert_array_equal(got, -ro.kth_squared_distance(stored_bank, stored_queries, k))


def test_knn_score_with_exact_ties(backend):
    """Integer lattice directions: many queries have several bank rows at exactly the k-th distance."""
    rng = np.random.default_rng(7)
    bank = fix_small_rows(rng.integers(-2, 3, size=(80, 3)).astype(np.float64))
    queries = fix_small_rows(rng.integers(-2, 3, size=(40, 3)).astype(np.float64))
    for k in (1, 4, 17, 80):
        got = knn_ood_score(bank, queries, k=k, backend=backend)
        want = -ro.kth_squared_distance(_normalise_rows(bank, "b"), _normalise_rows(queries, "q"), k)
        np.testing.assert_array_equal(got, want)


def test_knn_backends_agree(both_backends):
    rng = np.random.default_rng(11)
    for dtype in (np.float32, np.float64):
        bank = rng.normal(size=(300, 16)).astype(dtype)
        queries = rng.normal(size=(70, 16)).astype(dtype)
        cpu, numpy_ = (knn_ood_score(bank, queries, k=10, backend=b) for b in both_backends)
        np.testing.assert_array_equal(cpu, numpy_)


def test_in_distribution_queries_score_higher(backend):
    """A bank around one direction: queries from the same cone score higher than queries from another."""
    rng = np.random.default_rng(5)
    d = 16
    centre = np.zeros(d)
    centre[0] = 4.0
    bank = centre + rng.normal(size=(400, d))
    near = centre + rng.normal(size=(100, d))
    far = np.roll(centre, 1) + rng.normal(size=(100, d))
    scores_in = knn_ood_score(bank, near, k=10, backend=backend)
    scores_out = knn_ood_score(bank, far, k=10, backend=backend)
    assert scores_in.mean() > scores_out.mean()
    got = ood_metrics(scores_in, scores_out)
    assert got.auroc > 0.99 and got.fpr_at_95_tpr < 0.05


def test_knn_score_is_scale_invariant(backend):
    rng = np.random.default_rng(9)
    bank = rng.normal(size=(120, 7))
    queries = rng.normal(size=(30, 7))
    want = knn_ood_score(bank, queries, k=5, backend=backend)
    # arbitrary positive factors per row: equal up to the rounding of the normalised rows
    scaled = knn_ood_score(
        bank * rng.uniform(0.01, 100, (120, 1)), queries * rng.uniform(0.01, 100, (30, 1)), k=5, backend=backend
    )
    np.testing.assert_allclose(scaled, want, rtol=0, atol=1e-14)
    # powers of two, as far as 2^+-600 (whose squares would overflow or underflow): exactly equal
    exponents_bank = rng.integers(-600, 601, (120, 1))
    exponents_queries = rng.integers(-600, 601, (30, 1))
    exact = knn_ood_score(np.ldexp(bank, exponents_bank), np.ldexp(queries, exponents_queries), k=5, backend=backend)
    np.testing.assert_array_equal(exact, want)


def test_knn_score_of_tiny_and_huge_float32_rows(backend):
    rng = np.random.default_rng(4)
    bank = rng.normal(size=(50, 5)).astype(np.float32)
    queries = rng.normal(size=(10, 5)).astype(np.float32)
    want = knn_ood_score(bank, queries, k=3, backend=backend)
    for factor in (np.float32(2.0**-140), np.float32(2.0**100)):  # subnormal, and squares beyond float32
        got = knn_ood_score(bank * factor, queries * factor, k=3, backend=backend)
        assert np.all(np.isfinite(got))
        if factor > 1:
            np.testing.assert_array_equal(got, want)
        else:  # subnormal inputs lose digits themselves
            np.testing.assert_allclose(got, want, atol=1e-2)


def test_knn_score_of_a_bank_member_is_zero(backend):
    rng = np.random.default_rng(1)
    bank = rng.normal(size=(20, 4))
    got = knn_ood_score(bank, 4.0 * bank[[2, 5, 19]], k=1, backend=backend)  # 4x: normalises alike
    assert np.array_equal(got, np.zeros(3)) and not np.any(np.signbit(got))  # +0.0, not -0.0
    # k = n: the farthest row; n = 1
    far = knn_ood_score(bank, bank[:3], k=20, backend=backend)
    np.testing.assert_array_equal(
        far, -ro.kth_squared_distance(_normalise_rows(bank, "b"), _normalise_rows(bank[:3], "q"), 20)
    )
    assert knn_ood_score([[1.0, 0.0]], [[0.0, 2.0], [-3.0, 0.0]], k=1, backend=backend).tolist() == [-2.0, -4.0]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_knn_score_of_any_layout_and_lists(backend, layout):
    rng = np.random.default_rng(2)
    bank = rng.normal(size=(40, 6))
    queries = rng.normal(size=(12, 6))
    want = knn_ood_score(bank, queries, k=4, backend=backend)
    got = knn_ood_score(with_layout(bank, layout), with_layout(queries, layout), k=4, backend=backend)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(knn_ood_score(bank.tolist(), queries.tolist(), k=4, backend=backend), want)


def test_knn_score_does_not_modify_its_inputs():
    rng = np.random.default_rng(6)
    bank, queries = rng.normal(size=(30, 3)), rng.normal(size=(5, 3))
    b0, q0 = bank.copy(), queries.copy()
    knn_ood_score(bank, queries, k=3)
    assert np.array_equal(bank, b0) and np.array_equal(queries, q0)


@pytest.mark.parametrize("which, row", [("memory_bank", 2), ("queries", 0)])
def test_zero_rows_are_rejected(backend, which, row):
    bank = np.ones((5, 3))
    queries = np.ones((2, 3))
    (bank if which == "memory_bank" else queries)[row] = 0.0
    with pytest.raises(ValueError, match=rf"^{which}: row {row} has zero norm"):
        knn_ood_score(bank, queries, k=2, backend=backend)


def test_zero_row_beyond_the_first_chunk_is_named():
    from genmetrics import ood

    bank = np.ones((ood.CHUNK_ROWS + 3, 2))
    bank[ood.CHUNK_ROWS + 1] = 0.0
    with pytest.raises(ValueError, match=rf"^memory_bank: row {ood.CHUNK_ROWS + 1} has zero norm"):
        knn_ood_score(bank, np.ones((1, 2)), k=1)


@pytest.mark.parametrize(
    "k, error, message",
    [
        (0, ValueError, "must be >= 1"),
        (-1, ValueError, "must be >= 1"),
        (6, ValueError, "memory_bank offers only 5"),
        (2.0, TypeError, "integer"),
        (True, TypeError, "integer"),
    ],
)
def test_k_is_checked(k, error, message):
    with pytest.raises(error, match=rf"^k: .*{message}"):
        knn_ood_score(np.eye(5), np.eye(5)[:2], k=k)


def test_bad_embeddings_are_rejected():
    with pytest.raises(ValueError, match=r"^queries: has 4 features but memory_bank has 3"):
        knn_ood_score(np.ones((5, 3)), np.ones((2, 4)), k=1)
    with pytest.raises(ValueError, match=r"^memory_bank: contains NaN"):
        knn_ood_score(np.array([[1.0, np.nan]]), np.ones((1, 2)), k=1)
    with pytest.raises(ValueError, match=r"^queries: contains NaN or infinite"):
        knn_ood_score(np.ones((3, 2)), np.array([[np.inf, 1.0]]), k=1)
    with pytest.raises(ValueError, match=r"^memory_bank: needs at least 1 row"):
        knn_ood_score(np.ones((0, 2)), np.ones((1, 2)), k=1)
    with pytest.raises(ValueError, match=r"^queries: expected a 2-D array"):
        knn_ood_score(np.ones((3, 2)), np.ones(2), k=1)


# --------------------------------------------------------------------------------------------
# GPU inputs, on the emulated GPU of tests/_fake_gpu.py (tests/test_gpu.py covers real devices)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gpu_backend", ["cuda", "cupy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_knn_score_on_gpu_arrays_stays_on_the_device(gpu_backend, dtype):
    from _fake_gpu import installed
    from _fake_gpu import ndarray as FakeArray

    rng = np.random.default_rng(8)
    bank = rng.normal(size=(90, 10)).astype(dtype)
    queries = rng.normal(size=(25, 10)).astype(dtype)
    want = knn_ood_score(bank, queries, k=7, backend="numpy")
    with installed() as gpu:
        got = knn_ood_score(gpu.device(bank), gpu.device(queries), k=7, backend=gpu_backend)
        assert isinstance(got, FakeArray), "GPU inputs give a device array, as gm.knn does"
        got = got.get()
        with pytest.raises(ValueError, match=r"^memory_bank: row 0 has zero norm"):
            knn_ood_score(gpu.device(np.zeros_like(bank)), gpu.device(queries), k=7, backend=gpu_backend)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)


def test_ood_metrics_take_gpu_arrays():
    from _fake_gpu import installed

    scores_in, scores_out = np.array([0.9, 0.5, 0.5, 0.1]), np.array([0.5, 0.2, -1.0])
    want = ood_metrics(scores_in, scores_out)
    with installed() as gpu:
        got = ood_metrics(gpu.device(scores_in), gpu.device(scores_out))
    assert_metrics_equal(got, want)


def test_integer_and_float_scores_stay_exact_together():
    """Integers above 2^53 beside floats: a common float64 would make false ties (0.5 instead of 0.75)."""
    assert ood_metrics(np.array([2**62 + 1, 2**62]), np.array([2**62 + 0.0])).auroc == 0.75
