"""Entropy-controlled OOD scoring (SPEM, Kim & Yoon 2026): memory_bank_similarity, similarity_scaled_noise and
entropy_controlled_scores of genmetrics.ood.

``memory_bank_similarity`` against a float64 brute force over every bank row (tests/reference_ood.py), bit for
bit, on every backend and the emulated GPU. ``similarity_scaled_noise``: its ends, monotonicity, calibration and
the checks of a user's map. ``entropy_controlled_scores`` against a per-input reference built from the documented
seeding, for batch independence, against the Gaussian identity E log p(x + sigma eps) = log p(x) -
(sigma^2 / 2) tr(Sigma^-1), for its named errors, and on the demo data, where it must undo the likelihood paradox.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference_ood as ro
from conftest import fix_small_rows
from genmetrics import ood
from genmetrics.ood import _normalise_rows, knn_ood_score
from genmetrics.report.ood_demo import make_ood_demo, run_ood_demo
from test_ood import bank_and_queries

REDUCTIONS = ("kth", "mean", "max")
METRICS = ("cosine", "euclidean")


def reference_similarity(bank, queries, k, reduce, metric):
    """The brute force on the rows the function compares: the stored unit rows for the cosine."""
    if metric == "cosine":
        bank, queries = _normalise_rows(np.asarray(bank), "b"), _normalise_rows(np.asarray(queries), "q")
    return ro.reduce_similarities(ro.bank_similarities(bank, queries, metric), k, reduce)


# --------------------------------------------------------------------------------------------
# memory_bank_similarity
# --------------------------------------------------------------------------------------------


@st.composite
def similarity_cases(draw):
    """(bank, queries, k) as knn_ood_score's tests draw them (float32/float64, d up to 12), a reduction, a metric."""
    bank, queries, k = draw(bank_and_queries())
    return bank, queries, k, draw(st.sampled_from(REDUCTIONS)), draw(st.sampled_from(METRICS))


@given(similarity_cases())
def test_similarity_is_the_brute_force_bit_for_bit(backend, case):
    bank, queries, k, reduce, metric = case
    got = ood.memory_bank_similarity(bank, queries, k=k, reduce=reduce, metric=metric, backend=backend)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (queries.shape[0],)
    np.testing.assert_array_equal(got, reference_similarity(bank, queries, k, reduce, metric))
    if metric == "cosine":
        assert np.all((got >= -1) & (got <= 1))
    else:
        assert np.all(got <= 0)


@given(similarity_cases())
def test_cosine_similarity_is_the_cosine(case):
    """Against the textbook cosine of the caller's rows (normalised independently): equal up to rounding."""
    bank, queries, k, reduce, _ = case
    b, q = bank.astype(np.float64), queries.astype(np.float64)
    cosines = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (b / np.linalg.norm(b, axis=1, keepdims=True)).T
    ordered = -np.sort(-cosines, axis=1)
    want = {"kth": ordered[:, k - 1], "max": ordered[:, 0], "mean": ordered[:, :k].mean(axis=1)}[reduce]
    got = ood.memory_bank_similarity(bank, queries, k=k, reduce=reduce)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 if bank.dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("reduce", REDUCTIONS)
@pytest.mark.parametrize("metric", METRICS)
def test_similarity_with_exact_ties(backend, reduce, metric):
    """Integer lattice points: many queries have several bank rows at exactly the k-th distance."""
    rng = np.random.default_rng(3)
    bank = fix_small_rows(rng.integers(-2, 3, size=(60, 3)).astype(np.float64))
    queries = fix_small_rows(rng.integers(-2, 3, size=(30, 3)).astype(np.float64))
    for k in (1, 4, 13, 60):
        got = ood.memory_bank_similarity(bank, queries, k=k, reduce=reduce, metric=metric, backend=backend)
        np.testing.assert_array_equal(got, reference_similarity(bank, queries, k, reduce, metric))


def test_similarity_backends_agree(both_backends):
    rng = np.random.default_rng(11)
    for dtype in (np.float32, np.float64):
        bank = rng.normal(size=(300, 16)).astype(dtype)
        queries = rng.normal(size=(70, 16)).astype(dtype)
        for metric in METRICS:
            cpu, numpy_ = (
                ood.memory_bank_similarity(bank, queries, k=9, reduce="mean", metric=metric, backend=b)
                for b in both_backends
            )
            np.testing.assert_array_equal(cpu, numpy_)


@given(similarity_cases())
def test_kth_cosine_similarity_is_the_knn_score_rescaled(case):
    """s = 1 + knn_ood_score / 2, exactly (the same float64 square, halved and subtracted from 1)."""
    bank, queries, k, _, _ = case
    got = ood.memory_bank_similarity(bank, queries, k=k)
    np.testing.assert_array_equal(got, np.maximum(1.0 + knn_ood_score(bank, queries, k=k) / 2, -1.0))


def test_similarity_orders_and_extremes():
    bank = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    queries = np.array([[2.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])
    assert ood.memory_bank_similarity(bank, queries, k=1).tolist()[0] == 1.0  # on a bank row's direction
    assert ood.memory_bank_similarity(bank, queries, k=3).tolist() == [-1.0, pytest.approx(-math.sqrt(0.5)), -1.0]
    for k in (1, 2, 3):  # max is the nearest, whatever k
        np.testing.assert_array_equal(
            ood.memory_bank_similarity(bank, queries, k=k, reduce="max"), ood.memory_bank_similarity(bank, queries)
        )
    mean3 = ood.memory_bank_similarity(bank, queries, k=3, reduce="mean")
    np.testing.assert_allclose(mean3, [0.0, math.sqrt(0.5) * 2 / 3 - math.sqrt(0.5) / 3, 0.0], atol=1e-15)
    euclid = ood.memory_bank_similarity(bank, queries, k=2, reduce="kth", metric="euclidean")
    np.testing.assert_allclose(euclid, [-math.sqrt(8.0), -math.sqrt(2.0), -2.0], rtol=1e-15)
    on_row = ood.memory_bank_similarity(bank, bank, metric="euclidean")
    assert on_row.tolist() == [0.0] * 3 and not np.any(np.signbit(on_row))


def test_similarity_ranks_in_distribution_queries_higher(backend):
    rng = np.random.default_rng(5)
    centre = np.zeros(16)
    centre[0] = 4.0
    bank = centre + rng.normal(size=(400, 16))
    near, far = centre + rng.normal(size=(100, 16)), np.roll(centre, 1) + rng.normal(size=(100, 16))
    for metric in METRICS:
        for reduce in REDUCTIONS:
            s_in, s_out = (
                ood.memory_bank_similarity(bank, x, k=10, reduce=reduce, metric=metric, backend=backend)
                for x in (near, far)
            )
            assert ood.ood_metrics(s_in, s_out).auroc > 0.95, (metric, reduce)


def test_similarity_argument_checks():
    bank, queries = np.eye(4), np.eye(4)[:2]
    for k, error, message in [(0, ValueError, "must be >= 1"), (5, ValueError, "offers only 4"), (1.0, TypeError, "")]:
        with pytest.raises(error, match=rf"^k: .*{message}"):
            ood.memory_bank_similarity(bank, queries, k=k)
    with pytest.raises(ValueError, match="^reduce: expected one of 'kth', 'mean', 'max'"):
        ood.memory_bank_similarity(bank, queries, reduce="min")
    with pytest.raises(ValueError, match="^metric: expected one of 'cosine', 'euclidean'"):
        ood.memory_bank_similarity(bank, queries, metric="manhattan")
    with pytest.raises(ValueError, match="^memory_bank: row 1 has zero norm"):
        ood.memory_bank_similarity(np.array([[1.0, 0.0], [0.0, 0.0]]), queries[:, :2])
    with pytest.raises(ValueError, match="^queries: has 3 features but memory_bank has 4"):
        ood.memory_bank_similarity(bank, np.ones((2, 3)))
    with pytest.raises(ValueError, match="^queries: contains NaN"):
        ood.memory_bank_similarity(bank, np.full((1, 4), np.nan))
    with pytest.raises(TypeError):
        ood.memory_bank_similarity(bank, queries, 1)  # options are keyword-only
    # the Euclidean similarity has no direction to take: zero rows are fine
    assert ood.memory_bank_similarity(np.zeros((2, 2)), np.zeros((1, 2)), metric="euclidean").tolist() == [0.0]


@pytest.mark.parametrize("gpu_backend", ["cuda", "cupy"])
@pytest.mark.parametrize("metric", METRICS)
def test_similarity_on_the_emulated_gpu(fake_gpu, gpu_backend, metric):
    from _fake_gpu import ndarray as FakeArray

    rng = np.random.default_rng(8)
    bank = rng.normal(size=(90, 10)).astype(np.float32)
    queries = rng.normal(size=(25, 10)).astype(np.float32)
    for reduce in REDUCTIONS:
        want = ood.memory_bank_similarity(bank, queries, k=7, reduce=reduce, metric=metric, backend="numpy")
        got = ood.memory_bank_similarity(
            fake_gpu.device(bank), fake_gpu.device(queries), k=7, reduce=reduce, metric=metric, backend=gpu_backend
        )
        assert isinstance(got, FakeArray)
        np.testing.assert_array_equal(got.get(), want)


# --------------------------------------------------------------------------------------------
# similarity_scaled_noise
# --------------------------------------------------------------------------------------------

similarities = st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=40).map(np.array)
sigma_pairs = st.tuples(st.floats(1e-3, 5.0), st.floats(0.0, 5.0)).map(lambda p: (p[0], p[0] + p[1]))
MAPS = ("linear", "exp", lambda u: (1.0 - u) ** 2, lambda u: np.where(u < 0.5, 1.0, 0.0))


@given(similarities, sigma_pairs, st.sampled_from(MAPS), st.booleans())
def test_noise_is_non_increasing_and_within_its_ends(s, sigmas, mapping, calibrated):
    sigma_min, sigma_max = sigmas
    calibration = np.linspace(-0.2, 0.9, 37) if calibrated else None
    sigma = ood.similarity_scaled_noise(
        s, sigma_min=sigma_min, sigma_max=sigma_max, mapping=mapping, calibrate_on=calibration
    )
    assert sigma.dtype == np.float64 and sigma.shape == s.shape
    assert np.all((sigma >= sigma_min) & (sigma <= sigma_max))
    order = np.argsort(s, kind="stable")
    assert np.all(np.diff(sigma[order]) <= 0), "more similar must never mean more noise"
    # an input's sigma is its own: the same whatever else is in the call
    for i in range(s.shape[0]):
        alone = ood.similarity_scaled_noise(
            s[i : i + 1], sigma_min=sigma_min, sigma_max=sigma_max, mapping=mapping, calibrate_on=calibration
        )
        assert alone[0] == sigma[i]


@pytest.mark.parametrize("mapping", ["linear", "exp", lambda u: 1.0 - u**3])
def test_noise_ends_are_exact(mapping):
    sigma = ood.similarity_scaled_noise(np.array([1.0, -1.0, 0.9999]), sigma_min=0.3, sigma_max=2.7, mapping=mapping)
    assert sigma[0] == 0.3 and sigma[1] == 2.7 and 0.3 < sigma[2] < 2.7


def test_noise_maps_by_hand():
    s = np.array([1.0, 0.0, -0.5, -1.0])  # u = 1, 0.5, 0.25, 0
    linear = ood.similarity_scaled_noise(s, sigma_min=1.0, sigma_max=3.0)
    np.testing.assert_allclose(linear, [1.0, 2.0, 2.5, 3.0], rtol=1e-15)
    exp = ood.similarity_scaled_noise(s, sigma_min=1.0, sigma_max=4.0, mapping="exp")
    np.testing.assert_allclose(exp, [1.0, 2.0, 4.0**0.75, 4.0], rtol=1e-15)  # log-linear: geometric mean at u = 1/2
    custom = ood.similarity_scaled_noise(s, sigma_min=1.0, sigma_max=3.0, mapping=lambda u: 1.0 - u * u)
    np.testing.assert_allclose(custom, [1.0, 2.5, 1.0 + 2.0 * (1 - 1 / 16), 3.0], rtol=1e-15)
    equal = ood.similarity_scaled_noise(s, sigma_min=0.5, sigma_max=0.5)
    assert equal.tolist() == [0.5] * 4
    assert ood.similarity_scaled_noise(s, sigma_min=0.0, sigma_max=0.0).tolist() == [0.0] * 4


def test_calibration_sets_the_ends_at_the_quantiles():
    rng = np.random.default_rng(0)
    calibration = rng.normal(0.8, 0.05, size=501)
    low, high = np.quantile(calibration, [0.01, 0.5])
    s = np.array([high, high + 1.0, low, low - 1.0, (low + high) / 2])
    sigma = ood.similarity_scaled_noise(s, sigma_min=0.2, sigma_max=1.0, calibrate_on=calibration)
    np.testing.assert_allclose(sigma, [0.2, 0.2, 1.0, 1.0, 0.6], rtol=1e-12)
    # other quantiles; and calibration values are not bound to [-1, 1] (Euclidean similarities)
    other = ood.similarity_scaled_noise(
        s - 10.0, sigma_min=0.2, sigma_max=1.0, calibrate_on=calibration - 10.0, quantiles=(0.0, 1.0)
    )
    lo, hi = calibration.min() - 10.0, calibration.max() - 10.0
    np.testing.assert_allclose(other, 1.0 - 0.8 * np.clip((s - 10.0 - lo) / (hi - lo), 0, 1), rtol=1e-12)
    # half the calibration inputs themselves get sigma_min exactly, the lowest 1 % sigma_max
    own = ood.similarity_scaled_noise(calibration, sigma_min=0.2, sigma_max=1.0, calibrate_on=calibration)
    assert np.sum(own == 0.2) == 251 and np.sum(own == 1.0) == 6


def test_constant_calibration_is_a_step():
    sigma = ood.similarity_scaled_noise(
        np.array([0.5, 0.49, 0.7]), sigma_min=0.1, sigma_max=0.9, calibrate_on=np.full(10, 0.5)
    )
    assert sigma.tolist() == [0.1, 0.9, 0.1]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(sigma_min=2.0, sigma_max=1.0), ValueError, "^sigma_min: must be <= sigma_max"),
        (dict(sigma_min=-0.1, sigma_max=1.0), ValueError, "^sigma_min: must be a finite number >= 0"),
        (dict(sigma_min=0.1, sigma_max=np.inf), ValueError, "^sigma_max: must be a finite number >= 0"),
        (dict(sigma_min="0.1", sigma_max=1.0), TypeError, "^sigma_min: "),
        (dict(sigma_min=0.0, sigma_max=1.0, mapping="exp"), ValueError, "^sigma_min: mapping='exp' .* needs"),
        (dict(sigma_min=0.1, sigma_max=1.0, mapping="cubic"), ValueError, "^mapping: expected one of"),
        (dict(sigma_min=0.1, sigma_max=1.0, mapping=3), TypeError, "^mapping: expected 'linear', 'exp' or a"),
        (dict(sigma_min=0.1, sigma_max=1.0, quantiles=(0.5, 0.5)), ValueError, "^quantiles: expected 0 <= low"),
        (dict(sigma_min=0.1, sigma_max=1.0, quantiles=(0.1,)), TypeError, "^quantiles: expected a pair"),
        (dict(sigma_min=0.1, sigma_max=1.0, quantiles=(0.1, "1")), TypeError, "^quantiles: expected numbers"),
        (dict(sigma_min=0.1, sigma_max=1.0, calibrate_on=[]), ValueError, "^calibrate_on: needs at least one"),
        (dict(sigma_min=0.1, sigma_max=1.0, calibrate_on=[0.1, np.nan]), ValueError, "^calibrate_on: contains NaN"),
    ],
)
def test_noise_option_checks(kwargs, error, message):
    with pytest.raises(error, match=message):
        ood.similarity_scaled_noise(np.array([0.5]), **kwargs)


@pytest.mark.parametrize(
    "mapping, message",
    [
        (lambda u: u, "non-increasing"),
        (lambda u: 2.0 * (1.0 - u), r"values in \[0, 1\]"),
        (lambda u: np.full_like(u, np.nan), r"values in \[0, 1\]"),
        (lambda u: (1.0 - u)[:1], "returned shape"),
        (lambda u: 1 / 0, "raised ZeroDivisionError"),
        (lambda u: "x", "not an array of numbers"),
    ],
)
def test_a_bad_map_is_named(mapping, message):
    with pytest.raises(ValueError, match=f"^mapping: .*{message}"):
        ood.similarity_scaled_noise(np.array([0.9, 0.1, -0.3]), sigma_min=0.1, sigma_max=1.0, mapping=mapping)


def test_similarity_checks():
    with pytest.raises(ValueError, match=r"^similarity: value 1.5 \(entry 1\) lies outside \[-1, 1\]"):
        ood.similarity_scaled_noise(np.array([0.5, 1.5]), sigma_min=0.1, sigma_max=1.0)
    with pytest.raises(ValueError, match="^similarity: contains NaN"):
        ood.similarity_scaled_noise(np.array([np.nan]), sigma_min=0.1, sigma_max=1.0)
    with pytest.raises(ValueError, match="^similarity: expected a 1-D array"):
        ood.similarity_scaled_noise(np.ones((2, 2)), sigma_min=0.1, sigma_max=1.0)
    with pytest.raises(ValueError, match="^similarity: needs at least one"):
        ood.similarity_scaled_noise([], sigma_min=0.1, sigma_max=1.0)
    with pytest.raises(TypeError, match="^similarity: "):
        ood.similarity_scaled_noise(np.array(["a"]), sigma_min=0.1, sigma_max=1.0)
    with pytest.raises(TypeError):
        ood.similarity_scaled_noise(np.array([0.5]), 0.1, 1.0)  # options are keyword-only


# --------------------------------------------------------------------------------------------
# entropy_controlled_scores
# --------------------------------------------------------------------------------------------


def row_model(batch):
    """A log-density computed row by row (no batch-dependent summation order): -|x|^2 / 2 per input."""
    flat = np.asarray(batch, dtype=np.float64).reshape(len(batch), -1)
    return np.array([-0.5 * math.fsum(row * row) for row in flat])


def reference_scores(model, inputs, sigma, n_draws, seed, first_index=0):
    """The documented recipe, one input at a time: input i's noise from SeedSequence(seed, spawn_key=(i,))."""
    out = np.empty(len(inputs))
    for i, x in enumerate(inputs):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(first_index + i,)))
        total = 0.0
        for _ in range(n_draws):
            noisy = (x.astype(np.float64) + sigma[i] * rng.standard_normal(x.shape)).astype(x.dtype)
            total += float(model(noisy[None])[0])
        out[i] = total / n_draws
    return out


def setting(seed=0, n=23, shape=(3, 4), dtype=np.float64):
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(n,) + shape).astype(dtype)
    features = rng.normal(size=(n, 5))
    bank = rng.normal(size=(40, 5))
    calibration = ood.memory_bank_similarity(bank, rng.normal(size=(30, 5)), k=3)
    return inputs, features, bank, calibration


OPTIONS = dict(sigma_min=0.1, sigma_max=2.0, k=3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_draws", [1, 3])
def test_scores_are_the_documented_recipe(dtype, n_draws):
    inputs, features, bank, calibration = setting(dtype=dtype)
    got = ood.entropy_controlled_scores(
        row_model, inputs, features, bank, calibrate_on=calibration, n_draws=n_draws, seed=7, **OPTIONS
    )
    sigma = ood.similarity_scaled_noise(
        ood.memory_bank_similarity(bank, features, k=3), sigma_min=0.1, sigma_max=2.0, calibrate_on=calibration
    )
    assert got.dtype == np.float64 and got.shape == (len(inputs),)
    np.testing.assert_array_equal(got, reference_scores(row_model, inputs, sigma, n_draws, seed=7))


def test_an_inputs_score_does_not_depend_on_its_batch():
    inputs, features, bank, calibration = setting(n=17)
    options = dict(calibrate_on=calibration, n_draws=2, seed=3, **OPTIONS)
    whole = ood.entropy_controlled_scores(row_model, inputs, features, bank, **options)
    for batch_size in (1, 4, 16, 17, 100):
        got = ood.entropy_controlled_scores(row_model, inputs, features, bank, batch_size=batch_size, **options)
        np.testing.assert_array_equal(got, whole)
    for i in (0, 5, 16):  # scored alone, at its index
        alone = ood.entropy_controlled_scores(
            row_model, inputs[i : i + 1], features[i : i + 1], bank, first_index=i, **options
        )
        assert alone[0] == whole[i]
    piece = ood.entropy_controlled_scores(row_model, inputs[6:13], features[6:13], bank, first_index=6, **options)
    np.testing.assert_array_equal(piece, whole[6:13])
    # other inputs after them, far from the bank or not, change nothing (no normalisation per batch)
    more = np.concatenate([inputs, 50.0 * inputs[:5]])
    more_features = np.concatenate([features, -features[:5] + 9.0])
    np.testing.assert_array_equal(
        ood.entropy_controlled_scores(row_model, more, more_features, bank, **options)[:17], whole
    )


def test_seeds_and_the_noiseless_case():
    inputs, features, bank, calibration = setting()
    options = dict(calibrate_on=calibration, **OPTIONS)
    a = ood.entropy_controlled_scores(row_model, inputs, features, bank, seed=1, **options)
    b = ood.entropy_controlled_scores(row_model, inputs, features, bank, seed=1, **options)
    c = ood.entropy_controlled_scores(row_model, inputs, features, bank, seed=2, **options)
    np.testing.assert_array_equal(a, b)
    assert np.all(a != c)
    raw = ood.entropy_controlled_scores(
        row_model, inputs, features, bank, sigma_min=0.0, sigma_max=0.0, calibrate_on=calibration
    )
    np.testing.assert_array_equal(raw, row_model(inputs))  # no noise: the model's own log-likelihood


def test_gaussian_noise_lowers_the_log_likelihood_by_half_sigma_squared_trace():
    """E log N(x + sigma eps; mu, Sigma) = log N(x; mu, Sigma) - (sigma^2 / 2) tr(Sigma^-1), within 5 std. errors."""
    from genmetrics.report.ood_demo import GaussianLogDensity

    rng = np.random.default_rng(2)
    d = 16
    data = rng.normal(size=(400, d)) @ rng.normal(size=(d, d)) / 3 + 1.0
    model = GaussianLogDensity(data)
    precision = np.linalg.inv(np.cov(data.T))
    x = data[:6]
    bank = rng.normal(size=(50, d))
    features = np.concatenate([bank[:3], -bank[:3]])  # similarity 1 -> sigma_min, -1-ish -> larger
    sigma = ood.similarity_scaled_noise(
        ood.memory_bank_similarity(bank, features), sigma_min=0.2, sigma_max=0.6, calibrate_on=None
    )
    draws = 4000
    got = ood.entropy_controlled_scores(model, x, features, bank, sigma_min=0.2, sigma_max=0.6, n_draws=draws)
    drop = model(x) - got
    want = 0.5 * sigma**2 * np.trace(precision)
    # the drop per draw: -sigma (x - mu)' P eps ... its variance sigma^2 |P (x - mu)|^2 + sigma^4 tr(P^2) / 2
    centred = (x - data.mean(axis=0)) @ precision
    variance = sigma**2 * np.sum(centred**2, axis=1) + sigma**4 * np.trace(precision @ precision) / 2
    assert np.all(np.abs(drop - want) < 5 * np.sqrt(variance / draws)), (drop, want)
    assert sigma[0] == 0.2 and np.all(sigma[3:] > 0.25)


def test_torch_inputs_stay_tensors_and_get_the_same_noise():
    torch = pytest.importorskip("torch")
    inputs, features, bank, calibration = setting(dtype=np.float32)
    seen = []

    def model(batch):
        seen.append((type(batch), batch.dtype, torch.is_grad_enabled()))
        return -0.5 * (batch.double() ** 2).flatten(1).sum(1)

    tensor = torch.from_numpy(inputs).requires_grad_(True)
    got = ood.entropy_controlled_scores(model, tensor, features, bank, calibrate_on=calibration, n_draws=2, **OPTIONS)
    assert all(kind is torch.Tensor and dtype == torch.float32 and not grad for kind, dtype, grad in seen)
    batches_np, batches_torch = [], []
    ood.entropy_controlled_scores(
        lambda b: batches_np.append(b.copy()) or row_model(b),
        inputs,
        features,
        bank,
        calibrate_on=calibration,
        **OPTIONS,
    )
    ood.entropy_controlled_scores(
        lambda b: batches_torch.append(b.numpy().copy()) or torch.zeros(len(b)),
        tensor,
        features,
        bank,
        calibrate_on=calibration,
        **OPTIONS,
    )
    np.testing.assert_array_equal(batches_torch[0], batches_np[0])  # the same perturbed inputs
    want = ood.entropy_controlled_scores(
        row_model, inputs, features, bank, calibrate_on=calibration, n_draws=2, **OPTIONS
    )
    np.testing.assert_allclose(got, want, rtol=1e-6)  # the model sums in another order
    assert tensor.grad is None


def test_gpu_inputs_stay_on_the_device(fake_gpu):
    from _fake_gpu import ndarray as FakeArray

    inputs, features, bank, calibration = setting()
    kinds = []

    def model(batch):
        kinds.append(type(batch))
        return -0.5 * (batch * batch).reshape(len(batch), -1).sum(axis=1)

    got = ood.entropy_controlled_scores(
        model, fake_gpu.device(inputs), features, bank, calibrate_on=calibration, **OPTIONS
    )
    assert kinds == [FakeArray] and isinstance(got, np.ndarray) and not isinstance(got, FakeArray)
    want = ood.entropy_controlled_scores(model, inputs, features, bank, calibrate_on=calibration, **OPTIONS)
    np.testing.assert_array_equal(got, want)


def test_a_misbehaving_model_is_named():
    inputs, features, bank, calibration = setting(n=6)

    def run(model, **kwargs):
        return ood.entropy_controlled_scores(
            model, inputs, features, bank, calibrate_on=calibration, **OPTIONS, **kwargs
        )

    with pytest.raises(ValueError, match=r"^log_likelihood: returned shape \(6, 1\) for a batch of 6 inputs"):
        run(lambda b: row_model(b)[:, None])
    calls = iter(range(100))
    with pytest.raises(ValueError, match=r"^log_likelihood: returned shape \(2,\) for a batch of 3 inputs .*3\.\.5"):
        run(lambda b: row_model(b)[:2] if next(calls) == 1 else row_model(b), batch_size=3)  # the second batch
    with pytest.raises(ValueError, match=r"^log_likelihood: returned NaN or infinite values for 1 of 6 .*input 4"):
        run(lambda b: np.where(np.arange(len(b)) == 4, -np.inf, row_model(b)))
    with pytest.raises(ValueError, match=r"^log_likelihood: returned NaN or infinite values .*draw 1"):
        draws = iter(range(100))
        run(lambda b: row_model(b) * (np.nan if next(draws) == 1 else 1.0), n_draws=2)
    with pytest.raises(
        ValueError, match=r"^log_likelihood: raised RuntimeError on inputs 0\.\.5, draw 0: boom"
    ) as info:
        run(lambda b: (_ for _ in ()).throw(RuntimeError("boom")))
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(ValueError, match="^log_likelihood: returned values that are not real numbers"):
        run(lambda b: np.array(["x"] * len(b)))
    with pytest.raises(TypeError, match="^log_likelihood: expected a callable"):
        ood.entropy_controlled_scores(None, inputs, features, bank, calibrate_on=calibration, **OPTIONS)


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(features=np.ones((5, 5))), ValueError, "^features: has 5 rows but inputs has 6"),
        (dict(features=np.ones((6, 4))), ValueError, "^features: has 4 features but memory_bank has 5"),
        (dict(features=np.full((6, 5), np.nan)), ValueError, "^features: contains NaN"),
        (dict(inputs=np.ones((6, 3), dtype=np.uint8)), TypeError, "^inputs: expected floating-point values"),
        (dict(inputs=np.float64(1.0)), ValueError, "^inputs: expected an array of inputs"),
        (dict(inputs=np.ones((0, 3))), ValueError, "^inputs: needs at least one input"),
        (dict(inputs=np.full((6, 3), np.inf)), ValueError, "^inputs: contains NaN or infinite"),
        (dict(sigma_min=3.0), ValueError, "^sigma_min: must be <= sigma_max"),
        (dict(metric="euclidean", calibrate_on=None), ValueError, "^calibrate_on: needed with metric='euclidean'"),
        (dict(n_draws=0), ValueError, "^n_draws: must be >= 1"),
        (dict(seed=-1), ValueError, "^seed: must be >= 0"),
        (dict(seed=1.5), TypeError, "^seed: expected an integer"),
        (dict(batch_size=0), ValueError, "^batch_size: must be >= 1"),
        (dict(first_index=-2), ValueError, "^first_index: must be >= 0"),
        (dict(k=41), ValueError, "^k: 41 neighbours requested but memory_bank offers only 40"),
        (dict(reduce="median"), ValueError, "^reduce: expected one of"),
    ],
)
def test_argument_checks(change, error, message):
    inputs, features, bank, calibration = setting(n=6)
    arguments = dict(inputs=inputs, features=features, calibrate_on=calibration, **OPTIONS)
    arguments.update(change)
    calls = []
    with pytest.raises(error, match=message):
        ood.entropy_controlled_scores(
            lambda b: calls.append(1) or row_model(b),
            arguments.pop("inputs"),
            arguments.pop("features"),
            bank,
            **arguments,
        )
    assert not calls, "the arguments are checked before the model is called"


def test_uncalibrated_cosine_uses_the_cosine_range():
    inputs, features, bank, _ = setting()
    got = ood.entropy_controlled_scores(row_model, inputs, features, bank, sigma_min=0.1, sigma_max=2.0, k=3)
    sigma = ood.similarity_scaled_noise(ood.memory_bank_similarity(bank, features, k=3), sigma_min=0.1, sigma_max=2.0)
    np.testing.assert_array_equal(got, reference_scores(row_model, inputs, sigma, 1, seed=0))


# --------------------------------------------------------------------------------------------
# the demo: the likelihood paradox and its cure
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_entropy_control_undoes_the_likelihood_paradox(seed):
    demo = make_ood_demo(n=400, seed=seed)
    raw = ood.ood_metrics(demo.log_likelihood(demo.inputs_in), demo.log_likelihood(demo.inputs_out))
    assert raw.auroc < 0.05, "the demo's OOD inputs must have higher likelihood than its ID inputs"
    calibration = ood.memory_bank_similarity(demo.memory_bank, demo.calibration)

    def auroc(sigma_min, mapping="linear"):
        def score(x):
            return ood.entropy_controlled_scores(
                demo.log_likelihood, x, x, demo.memory_bank, sigma_min=sigma_min, sigma_max=3.0,
                mapping=mapping, calibrate_on=calibration, n_draws=2, seed=seed,
            )  # fmt: skip

        return ood.ood_metrics(score(demo.inputs_in), score(demo.inputs_out)).auroc

    assert auroc(0.1) > 0.85 and auroc(0.1, "exp") > 0.85  # measured 0.95-0.98 over seeds 0-5
    assert auroc(3.0) < 0.5, "the same noise for every input must not be what separates the sets"


def test_the_demo_prints_its_table():
    import io

    out = io.StringIO()
    aurocs = run_ood_demo(n=200, seed=0, n_draws=1, file=out)
    text = out.getvalue()
    assert "raw log-likelihood" in text and "entropy-controlled, linear map" in text
    assert aurocs["raw log-likelihood"] < 0.1 < 0.8 < aurocs["entropy-controlled, linear map"]
