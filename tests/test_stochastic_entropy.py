"""vendi(method="stochastic"): deflated stochastic Lanczos quadrature with an interval; vendi(truncation=t).

References are float64 NumPy eigenvalues (tests/reference.py) or spectra built from explicit eigenvalues.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import genmetrics as gm
import reference as ref
from genmetrics import diversity
from genmetrics.engine import stochastic


def _clusters(n, k, d, spread, seed):
    rng = np.random.default_rng(seed)
    centres = 10.0 * rng.standard_normal((k, d))
    labels = rng.integers(0, k, size=n)
    return centres[labels] + spread * rng.standard_normal((n, d))


def _features_with_spectrum(eigenvalues, seed=0):
    """X (n x n) with X X^T = U diag(eigenvalues) U^T: the linear kernel's spectrum is given exactly."""
    n = eigenvalues.size
    U, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return U * np.sqrt(eigenvalues)[None, :]


@pytest.fixture(scope="module")
def clustered():
    """8 tight clusters in d = 16, rbf sigma = 1: a few large eigenvalues and a long tail (n = 300)."""
    X = _clusters(300, 8, 16, 0.08, seed=3)
    lam = ref.ref_spectrum(X, kernel="rbf", bandwidth=1.0)
    return X, lam


def _hill(lam, q):
    lam = np.clip(np.asarray(lam, dtype=np.float64), 0, None)
    lam = lam / lam.sum()
    p = lam[lam > 0]
    if math.isinf(q):
        return 1.0 / float(p.max())
    if q == 1:
        return math.exp(-float(np.sum(p * np.log(p))))
    return float(np.sum(p**q)) ** (1.0 / (1.0 - q))


@pytest.mark.parametrize("q", [1.0, 0.5])
def test_the_interval_covers_the_exact_value_at_its_nominal_rate(clustered, q):
    """60 seeds, 95 % intervals: the number that miss is binomial(60, <= 0.05) when the interval is honest;
    P(more than 8 misses) < 0.3 % then. An interval without the quadrature bracket or with a normal quantile on
    too few probes would miss more; one that is far too wide is caught by the width check."""
    X, lam = clustered
    exact = _hill(lam, q)
    misses, widths, errors = 0, [], []
    for seed in range(60):
        s = gm.vendi(X, q=q, kernel="rbf", bandwidth=1.0, method="stochastic", rank=12, probes=12, seed=seed, rtol=0.05)
        misses += not (s.ci_low <= exact <= s.ci_high)
        widths.append((s.ci_high - s.ci_low) / 2 / exact)
        errors.append(float(s) / exact - 1)
    assert misses <= 8, misses
    # not vacuous: the half-width is a few times the observed spread, not orders of magnitude more
    assert np.mean(widths) < 4 * np.std(errors) + 1e-3, (np.mean(widths), np.std(errors))
    assert abs(np.mean(errors)) < 0.01


@pytest.mark.parametrize("q", [1.0, 0.5, 1.5])
def test_rtol_is_met_on_a_long_tailed_spectrum(clustered, q):
    """The default rule: probes until the half-width is rtol = 1 % of the value; the value within it."""
    X, lam = clustered
    exact = _hill(lam, q)
    s = gm.vendi(X, q=q, kernel="rbf", bandwidth=1.0, method="stochastic", rank=30, seed=7, rtol=0.02)
    assert s.method == "stochastic" and s.rank == 30
    assert (s.ci_high - s.ci_low) / 2 <= 0.02 * float(s) * 1.001 or s.details["probes"] == diversity.MAX_PROBES
    assert float(s) == pytest.approx(exact, rel=0.03)
    d = s.details
    assert d["matvecs"] >= d["passes"] >= 1 and d["probes"] >= 2 and d["level"] == 0.95


def test_nystrom_is_biased_where_the_stochastic_estimate_is_not(clustered):
    """The issue's symptom on the same data: spreading the residual over the tail overshoots q = 0.5."""
    X, lam = clustered
    exact = _hill(lam, 0.5)
    ny = gm.vendi(X, q=0.5, kernel="rbf", bandwidth=1.0, method="nystrom", rank=30)
    st = gm.vendi(X, q=0.5, kernel="rbf", bandwidth=1.0, method="stochastic", rank=30, seed=0, rtol=0.03)
    assert abs(float(ny) / exact - 1) > 0.1
    assert st.ci_low <= exact <= st.ci_high


@pytest.mark.parametrize("q", [1.0, 0.5, 2.0])
def test_power_law_tail_through_a_linear_kernel(q):
    """lambda_i ~ i^-1.5 built exactly (linear kernel on constructed features); reference through
    vendi_from_eigenvalues."""
    lam = np.arange(1, 201, dtype=np.float64) ** -1.5
    X = _features_with_spectrum(lam)
    exact = float(gm.vendi_from_eigenvalues(lam, q=q))
    s = gm.vendi(X, q=q, kernel="linear", method="stochastic", rank=20, seed=2, probes=40)
    assert s.ci_low <= exact <= s.ci_high, (exact, s)
    assert float(s) == pytest.approx(exact, rel=0.03)


def test_identity_kernel_gives_n():
    """K = I: every eigenvalue 1/n, VS_q = n at every q; Lanczos stops after one step (an invariant subspace)."""
    X = np.eye(60)
    for q in (0.5, 1.0, 3.0):
        s = gm.vendi(X, q=q, kernel="linear", method="stochastic", rank=5, seed=0, probes=8)
        # the deflated remainder's probes see |P z|^2 / n, whose spread is the only error here
        assert float(s) == pytest.approx(60.0, rel=0.15) and s.ci_low <= 60.0 * (1 + 1e-9)
        assert s.ci_high >= 60.0 * (1 - 1e-9)
        assert s.details["lanczos_steps"] <= 2


def test_identical_point_clusters_give_their_hill_number():
    """m clusters of identical points: rank m, so deflating m eigenpairs leaves nothing to estimate."""
    p = np.array([0.5, 0.25, 0.125, 0.125])
    X = np.repeat(np.eye(4) * 10, (p * 160).astype(int), axis=0)
    for q, want in ((1.0, 3.363586), (2.0, 2.909091), (0.5, _hill(p, 0.5))):
        s = gm.vendi(X, q=q, kernel="rbf", bandwidth=1.0, method="stochastic", rank=4, seed=0, probes=4)
        assert float(s) == pytest.approx(want, rel=1e-5), q
        assert s.ci_low == pytest.approx(want, rel=1e-5) and s.ci_high == pytest.approx(want, rel=1e-5)


def test_q_inf_from_the_top_ritz_value(clustered):
    X, lam = clustered
    s = gm.vendi(X, q=np.inf, kernel="rbf", bandwidth=1.0, method="stochastic", rank=10, seed=0)
    want = 1.0 / lam[0]
    assert float(s) == pytest.approx(want, rel=1e-8)
    assert s.ci_low <= want * (1 + 1e-9) and s.ci_high >= want * (1 - 1e-9)


def test_determinism_and_backends(clustered):
    """Same seed: same numbers (per backend, and cpu against numpy up to round-off); another seed: others."""
    X, _ = clustered
    kw = dict(q=1, kernel="rbf", bandwidth=1.0, method="stochastic", rank=10, probes=8)
    a, b = gm.vendi(X, seed=4, **kw), gm.vendi(X, seed=4, **kw)
    assert float(a) == float(b) and a.ci_low == b.ci_low and a.details == b.details
    c = gm.vendi(X, seed=5, **kw)
    assert float(c) != float(a)
    n = gm.vendi(X, seed=4, backend="numpy", **kw)
    assert float(n) == pytest.approx(float(a), rel=1e-9) and n.ci_high == pytest.approx(a.ci_high, rel=1e-9)


def test_on_the_emulated_gpu(fake_gpu, clustered):
    X, _ = clustered
    X = X[:120]
    kw = dict(q=0.5, kernel="rbf", bandwidth=1.0, method="stochastic", rank=8, probes=6, seed=1)
    want = gm.vendi(X, backend="cpu", **kw)
    for backend in ("cuda", "cupy"):
        got = gm.vendi(X, backend=backend, **kw)
        assert got.backend == backend
        assert float(got) == pytest.approx(float(want), rel=1e-5) and got.ci_low == pytest.approx(want.ci_low, rel=1e-5)


def test_auto_goes_stochastic_above_the_exact_sizes(monkeypatch, clustered):
    X, lam = clustered
    monkeypatch.setattr(diversity, "AUTO_EXACT_MAX_N", 100)
    s = gm.vendi(X, q=1, kernel="rbf", bandwidth=1.0, rtol=0.05)
    assert s.method == "stochastic" and s.ci_low <= _hill(lam, 1) <= s.ci_high
    assert gm.vendi(X, q=2, kernel="rbf", bandwidth=1.0).method == "exact"  # the fused sum of squares
    assert gm.vendi(X, q=0, kernel="rbf", bandwidth=1.0).method == "nystrom"  # no stochastic rank


def test_score_carries_the_interval_through_pickle_and_as_dict(clustered):
    X, _ = clustered
    s = gm.vendi(X[:80], kernel="rbf", bandwidth=1.0, method="stochastic", rank=5, probes=4)
    t = pickle.loads(pickle.dumps(s))
    assert t.ci_low == s.ci_low and t.ci_high == s.ci_high and t.details == s.details
    assert s.as_dict()["ci_low"] == s.ci_low and "ci_high=" in repr(s)
    assert gm.Score(1.0).ci_low is None


def test_bad_arguments_name_themselves(clustered):
    X, _ = clustered
    X = X[:50]
    with pytest.raises(ValueError, match="^q: "):
        gm.vendi(X, q=0, kernel="rbf", method="stochastic")
    with pytest.raises(ValueError, match="^probes: only used"):
        gm.vendi(X, kernel="rbf", method="nystrom", probes=10)
    with pytest.raises(ValueError, match="^probes: must be >= 2"):
        gm.vendi(X, kernel="rbf", method="stochastic", probes=1)
    with pytest.raises(ValueError, match="^rtol: "):
        gm.vendi(X, kernel="rbf", method="stochastic", rtol=0.0)
    with pytest.raises(TypeError, match="^rtol: "):
        gm.vendi(X, kernel="rbf", rtol="tight")
    with pytest.raises(ValueError, match="^truncation: 20 needs"):
        gm.vendi(X, kernel="rbf", method="nystrom", rank=10, truncation=20)
    with pytest.raises(ValueError, match="^truncation: must be <= 50"):
        gm.vendi(X, kernel="rbf", truncation=51)
    with pytest.raises(TypeError, match="^truncation: "):
        gm.vendi(X, kernel="rbf", truncation=2.5)


def test_quadrature_bracket_holds_on_explicit_spectra():
    """Gauss and Gauss-Radau(0) bracket v^T f(A) v for f = lambda log lambda and lambda^q, q in (0, 2)."""
    rng = np.random.default_rng(0)
    lam = np.sort(rng.uniform(0, 1, 80) ** 6)
    A = np.diag(lam / lam.sum())
    V = rng.standard_normal((80, 5))
    V /= np.linalg.norm(V, axis=0)
    for q in (0.3, 0.5, 1.0, 1.5):
        f = stochastic.trace_function(q)
        truth = np.sum(V**2 * f(np.diag(A))[:, None], axis=0)
        run = stochastic.Lanczos(lambda W: A @ W, V).run(6)
        for m in (2, 4, 6):
            g, r = stochastic.quadrature_bracket(run.alpha, run.beta, f, m)
            lo, hi = np.minimum(g, r), np.maximum(g, r)
            assert np.all(lo <= truth + 1e-12) and np.all(truth <= hi + 1e-12), (q, m)


def test_student_quantile():
    assert stochastic.student_quantile(0.975, 10) == pytest.approx(2.228139, abs=2e-3)
    assert stochastic.student_quantile(0.975, 30) == pytest.approx(2.042272, abs=1e-4)
    assert stochastic.student_quantile(0.975, 10**6) == pytest.approx(1.959964, abs=1e-5)


# ---------------------------------------------------------------------------------------------------------
# truncated Vendi (Ospanov & Farnia 2025)
# ---------------------------------------------------------------------------------------------------------


def _truncated(lam, t, q):
    lam = np.sort(np.asarray(lam, dtype=np.float64))[::-1] / np.sum(lam)
    top = np.zeros(t)
    top[: min(t, lam.size)] = lam[:t]
    return _hill(top + (1 - top.sum()) / t, q)


@pytest.mark.parametrize("q", [0.5, 1.0, 2.0, np.inf])
def test_truncated_vendi_matches_its_definition(backend, clustered, q):
    X, lam = clustered
    for t in (1, 5, 40):
        want = _truncated(lam, t, q)
        s = gm.vendi(X, q=q, kernel="rbf", bandwidth=1.0, method="exact", truncation=t, backend=backend)
        assert float(s) == pytest.approx(want, rel=1e-9), t
        assert 1.0 <= float(s) <= t + 1e-9 and s.details["truncation"] == t
        ny = gm.vendi(X, q=q, kernel="rbf", bandwidth=1.0, method="nystrom", rank=100, n_iter=3, truncation=t)
        st = gm.vendi(X, q=q, kernel="rbf", bandwidth=1.0, method="stochastic", rank=t + 20, truncation=t)
        assert float(ny) == pytest.approx(want, rel=1e-3) and float(st) == pytest.approx(want, rel=1e-3), t


def test_truncated_vendi_analytic_cases():
    """Balanced m clusters: m when t >= m; t when t < m (the top t plus the rest spread evenly: uniform)."""
    X = np.repeat(np.eye(6) * 10, 20, axis=0)
    for t in (3, 6, 10):
        s = gm.vendi(X, q=1, kernel="rbf", bandwidth=1.0, truncation=t)
        assert float(s) == pytest.approx(min(t, 6), rel=1e-9)
    # the dual's d eigenvalues are padded with zeros when t > d
    Y = np.random.default_rng(1).normal(size=(300, 4))
    lam = np.linalg.eigvalsh(Y.T @ Y)
    assert float(gm.vendi(Y, kernel="linear", truncation=7)) == pytest.approx(_truncated(lam, 7, 1), rel=1e-9)
    # rff: the top t of its 2 rank eigenvalues
    assert gm.vendi(X, kernel="rbf", bandwidth=1.0, method="rff", rank=50, truncation=6) == pytest.approx(6, rel=0.05)


def test_truncated_vendi_converges_where_plain_vendi_drifts():
    """A 5-mode mixture in d = 8 with a narrow rbf kernel: plain VS_1 grows by > 50 % from n to 4n,
    the truncated one (t = 10) moves by < 3 %."""

    def draw(n, seed):
        rng = np.random.default_rng(seed)
        centres = 6.0 * np.eye(5, 8)
        return centres[rng.integers(0, 5, n)] + 0.5 * rng.standard_normal((n, 8))

    small, large = draw(400, 0), draw(1600, 1)
    kw = dict(q=1, kernel="rbf", bandwidth=1.0)
    plain = [float(gm.vendi(x, method="exact", **kw)) for x in (small, large)]
    trunc = [float(gm.vendi(x, method="stochastic", rank=10, truncation=10, **kw)) for x in (small, large)]
    assert plain[1] / plain[0] > 1.5, plain
    assert abs(trunc[1] / trunc[0] - 1) < 0.03, trunc


class _DenseOperator:
    """A (explicit, PSD) with the counters of the engine's operators."""

    def __init__(self, A):
        self.A, self.passes, self.matvecs = A, 0, 0

    def __call__(self, V):
        self.passes += 1
        self.matvecs += V.shape[1]
        return self.A @ V


def _spectrum_with_long_tail(n=1500, top=40, seed=0):
    """A = U diag(lambda) U^T, trace 1: `top` large eigenvalues and a long tail spread over three decades, the shape
    of a 100-mode mixture under a median-bandwidth rbf kernel (where the tail carries half of tr A^1/2)."""
    rng = np.random.default_rng(seed)
    head = np.sort(rng.uniform(0.5, 1.0, top))[::-1]
    tail = np.logspace(-3, 0, n - top) * rng.uniform(0.5, 1.0, n - top)
    lam = np.concatenate([head / head.sum() * 0.9, tail / tail.sum() * 0.1])
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (U * lam) @ U.T, lam


def test_deflated_lanczos_is_the_recurrence_of_the_projected_operator():
    A, _ = _spectrum_with_long_tail(n=200, top=10)
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.standard_normal((200, 12)))
    P = np.eye(200) - Q @ Q.T
    V0 = P @ rng.standard_normal((200, 3))
    V0 /= np.linalg.norm(V0, axis=0)
    deflated = stochastic.Lanczos(lambda V: A @ V, V0, deflate=Q).run(8)
    explicit = stochastic.Lanczos(lambda V: P @ (A @ (P @ V)), V0).run(8)
    np.testing.assert_allclose(deflated.alpha, explicit.alpha, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(deflated.beta, explicit.beta, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("q", [0.5, 1.0])
def test_long_tail_within_rtol_in_few_steps(q):
    """With the probes' Lanczos deflated, the tail's quadrature closes in a few dozen steps: the estimate is within
    the 1 % target of the exact trace and the interval holds it. Undeflated, sqrt's bracket over [0, lambda_1] closed
    as ~1/steps (VS_0.5 -1.8 % with a +-2.7 % interval at the 60-step cap on a 100-mode mixture)."""
    A, lam = _spectrum_with_long_tail()
    f = stochastic.trace_function(q)
    exact = float(np.sum(f(lam)))
    X = np.zeros((A.shape[0], 1))  # only its rows and namespace are read
    apply = _DenseOperator(A)
    result = stochastic.operator_trace(apply, X, q, rank=40, seed=0, rtol=0.01)
    vs, vs_exact = stochastic.hill_from_trace(result.estimate, q), stochastic.hill_from_trace(exact, q)
    assert vs == pytest.approx(vs_exact, rel=0.01)
    assert result.low <= exact <= result.high
    assert result.steps <= 40, result.steps
