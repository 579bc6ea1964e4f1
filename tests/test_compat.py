"""Tests of the drop-in shims genmetrics.compat.vendi_score and genmetrics.compat.rke_score.

Three kinds of oracle, never the shim itself:
* the installed reference packages (vendi-score 0.0.3, rke-score 0.0.7) where they are correct;
* plain float64 NumPy computations written out in this file (full eigendecomposition, explicit sums);
* analytic values (README examples, block-diagonal kernels, identical / separated points).

Tolerances. Two exact float64 computations of the same Vendi score differ only by eigensolver round-off:
eigenvalues are backward stable to ~n * eps * ||K|| (~1e-14 here), and the entropy moves by about as
much (log terms of tiny eigenvalues are weighted by the eigenvalues themselves), so rtol = 1e-9 leaves
five orders of magnitude of slack while any formula error (wrong q, wrong normalisation, truncated
spectrum) shows up at 1e-3 or more. Exception, q < 1 on rank-deficient matrices: the exactly-zero
eigenvalues come out of the solver as round-off of size up to ~c n eps (c ~ 10), each adding up to
(c n eps)^q to sum(lambda^q) >= 1, so the score is only determined to ~n (c n eps)^q / (1 - q)
relative (about 1e-5 for n = 60, q = 0.5); `rtol_eig(q, n)` uses that bound. Plain sums of k or k^2 (intdiv,
||K/n||_F^2) differ by summation order and by the ||x||^2 + ||y||^2 - 2 x.y form of the rbf distance only: rtol = 1e-10.
"""

import math

import numpy as np
import pytest

import genmetrics as gm
import reference as ref
from genmetrics.compat import rke_score as rke_shim
from genmetrics.compat import vendi_score as vendi_shim

# the reference vendi_score.vendi imports a deprecated scipy.sparse namespace on every score_K call
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RTOL_EIG = 1e-9
RTOL_SUM = 1e-10
QS = [0.5, 1, 2, "inf"]


def rtol_eig(q, n):
    """Tolerance for an order-q Vendi score of an n x n kernel matrix (see the module docstring)."""
    if q in ("inf", np.inf) or q >= 1:
        return RTOL_EIG
    return max(RTOL_EIG, n * (10 * n * np.finfo(np.float64).eps) ** q / (1 - q))


# ----------------------------------------------------------------------------------------------------
# float64 NumPy references


def np_vendi_from_gram(K, q):
    """Vendi score from the full spectrum of K / trace(K)."""
    w = np.linalg.eigvalsh(np.asarray(K, dtype=np.float64))
    w = np.clip(w / w.sum(), 0.0, None)
    if q in ("inf", np.inf):
        return 1.0 / w.max()
    w = w[w > 0]
    if q == 1:
        return float(np.exp(-np.sum(w * np.log(w))))
    return float(np.sum(w**q) ** (1.0 / (1.0 - q)))


def np_unit_rows(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def np_rbf(X, Y, sigma):
    """exp(-||x - y||^2 / (2 sigma^2)) from explicit differences (not the norm expansion)."""
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), -1)
    d2 = np.sum((X[:, None, :] - Y[None, :, :]) ** 2, axis=-1)
    return np.exp(-d2 / (2.0 * sigma**2))


def np_rrke(X, Y, sigma):
    K = np_rbf(X, Y, sigma) / np.sqrt(len(X) * len(Y))
    return float(-np.log(np.sum(np.linalg.svd(K, compute_uv=False)) ** 2))


def clustered(n, d=6, seed=0, scale=0.3, offset=3.0):
    """Unequal clusters (proportions .5, .25, .15, .1) around random centres, shifted away from the
    origin: a clearly non-uniform kernel spectrum, and (with the offset) only positive cosines."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, d)) * 2.0
    labels = rng.choice(4, size=n, p=[0.5, 0.25, 0.15, 0.1])
    return centres[labels] + scale * rng.normal(size=(n, d)) + offset


def rbf_gram(n, sigma=2.0, seed=0):
    X = clustered(n, seed=seed)
    return np_rbf(X, X, sigma)


@pytest.fixture(scope="module")
def vendi_ref():
    return pytest.importorskip("vendi_score.vendi")


@pytest.fixture(scope="module")
def rke_ref():
    return pytest.importorskip("rke_score")


# ----------------------------------------------------------------------------------------------------
# Vendi: README examples and analytic values


def test_readme_score_example():
    samples = [0, 0, 10, 10, 20, 20]

    def k(a, b):
        return np.exp(-np.abs(a - b))

    value = vendi_shim.score(samples, k)
    assert type(value) is float
    # The README prints 2.9999: the value truncated (it is 3 - 4e-9, so rounding would give 3.0000).
    assert math.floor(value * 1e4) / 1e4 == 2.9999
    x = np.array(samples, dtype=float)
    K = np.exp(-np.abs(x[:, None] - x[None, :]))
    assert value == pytest.approx(np_vendi_from_gram(K, 1), rel=RTOL_EIG)


def test_readme_score_K_example():
    K = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    value = vendi_shim.score_K(K)
    assert type(value) is float
    assert round(value, 4) == 2.1573
    lam = np.array([1.9, 0.1, 1.0]) / 3.0  # eigenvalues of K/3, by hand
    assert value == pytest.approx(math.exp(-np.sum(lam * np.log(lam))), rel=RTOL_EIG)
    assert vendi_shim.score_K(K, q=2) == pytest.approx(1.0 / np.sum(lam**2), rel=RTOL_EIG)
    assert vendi_shim.score_K(K, q="inf") == pytest.approx(3.0 / 1.9, rel=RTOL_EIG)


@pytest.mark.parametrize("q", [0, 0.5, 1, 2, "inf", np.inf])
def test_hill_numbers_of_identical_point_clusters(q):
    # clusters of identical points with proportions (.5, .25, .125, .125): Hill numbers of p
    X = np.repeat(np.eye(4), [4, 2, 1, 1], axis=0)
    p = np.array([0.5, 0.25, 0.125, 0.125])
    expected = {0: 4.0, 0.5: np.sum(np.sqrt(p)) ** 2, 1: 3.363586, 2: 2.909091, "inf": 2.0}
    key = "inf" if q is np.inf else q
    assert vendi_shim.score_X(X, q=q) == pytest.approx(expected[key], rel=1e-6)
    assert vendi_shim.score_dual(X, q=q) == pytest.approx(expected[key], rel=1e-6)


# ----------------------------------------------------------------------------------------------------
# Vendi: against the reference package where it is correct


@pytest.mark.parametrize("n", [20, 120])
@pytest.mark.parametrize("q", QS)
def test_score_K_matches_reference(vendi_ref, n, q):
    K = rbf_gram(n, seed=n)
    value = vendi_shim.score_K(K, q=q)
    assert type(value) is float
    assert value == pytest.approx(float(vendi_ref.score_K(K, q=q)), rel=rtol_eig(q, n))


@pytest.mark.parametrize("q", QS)
def test_score_K_weights_and_normalize_match_reference(vendi_ref, q):
    n = 60
    rng = np.random.default_rng(3)
    K = rbf_gram(n, seed=4)
    p = rng.uniform(0.1, 1.0, size=n)
    p /= p.sum()
    assert vendi_shim.score_K(K, q=q, p=p) == pytest.approx(float(vendi_ref.score_K(K, q=q, p=p)), rel=rtol_eig(q, n))
    # a PSD matrix whose diagonal is not 1, rescaled by normalize=True in both
    X = clustered(n, seed=5)
    G = X @ X.T
    assert vendi_shim.score_K(G, q=q, normalize=True) == pytest.approx(
        float(vendi_ref.score_K(G, q=q, normalize=True)), rel=rtol_eig(q, n)
    )
    assert vendi_shim.score_K(G, q=q, p=p, normalize=True) == pytest.approx(
        float(vendi_ref.score_K(G, q=q, p=p, normalize=True)), rel=rtol_eig(q, n)
    )


@pytest.mark.parametrize("n,d", [(30, 6), (150, 6), (20, 40)])
@pytest.mark.parametrize("q", QS)
def test_score_dual_matches_reference(vendi_ref, n, d, q):
    X = clustered(n, d=d, seed=n + d, offset=0.5)
    value = vendi_shim.score_dual(X, q=q)
    assert type(value) is float
    assert value == pytest.approx(float(vendi_ref.score_dual(X, q=q)), rel=rtol_eig(q, n))


@pytest.mark.parametrize("n,d", [(30, 6), (20, 40)])
def test_score_X_matches_reference_at_q1(vendi_ref, n, d):
    # the reference's score_X is correct only for q = 1 (it ignores q)
    X = clustered(n, d=d, seed=7, offset=0.5)
    assert vendi_shim.score_X(X) == pytest.approx(float(vendi_ref.score_X(X)), rel=RTOL_EIG)
    p = np.linspace(1.0, 2.0, n)
    p /= p.sum()
    assert vendi_shim.score_X(X, p=p) == pytest.approx(float(vendi_ref.score_X(X, p=p)), rel=RTOL_EIG)


@pytest.mark.parametrize("q", QS)
def test_score_X_all_q_matches_reference_score_dual(vendi_ref, q):
    # the reference computes order-q scores correctly in score_dual, and score_X must agree with it
    X = clustered(80, d=5, seed=8, offset=0.5)
    assert vendi_shim.score_X(X, q=q) == pytest.approx(float(vendi_ref.score_dual(X, q=q)), rel=rtol_eig(q, 80))


@pytest.mark.parametrize("q", QS)
def test_unit_rows_unnormalized_match_reference(vendi_ref, q):
    # normalize=False on rows that already have unit norm: both spectrum conventions coincide
    X = np_unit_rows(clustered(50, d=6, seed=9, offset=0.5))
    assert vendi_shim.score_X(X, q=1, normalize=False) == pytest.approx(
        float(vendi_ref.score_X(X, normalize=False)), rel=RTOL_EIG
    )
    assert vendi_shim.score_dual(X, q=q, normalize=False) == pytest.approx(
        float(vendi_ref.score_dual(X, q=q, normalize=False)), rel=rtol_eig(q, 50)
    )


@pytest.mark.parametrize("q", QS)
def test_score_with_callable_matches_reference(vendi_ref, q):
    rng = np.random.default_rng(10)
    samples = list(np.concatenate([rng.normal(0, 0.2, 12), rng.normal(3, 0.2, 8)]))

    def k(a, b):
        return np.exp(-np.abs(a - b))

    assert vendi_shim.score(samples, k, q=q) == pytest.approx(
        float(vendi_ref.score(samples, k, q=q)), rel=rtol_eig(q, 20)
    )


@pytest.mark.parametrize("q", [0.5, 1, 2, 3])
def test_intdiv_K_matches_reference(vendi_ref, q):
    n = 40
    K = rbf_gram(n, seed=11)
    p = np.arange(1.0, n + 1.0)
    p /= p.sum()
    value = vendi_shim.intdiv_K(K, q=q)
    assert type(value) is float
    assert value == pytest.approx(float(vendi_ref.intdiv_K(K, q=q)), rel=RTOL_SUM)
    assert vendi_shim.intdiv_K(K, q=q, p=p) == pytest.approx(float(vendi_ref.intdiv_K(K, q=q, p=p)), rel=RTOL_SUM)


def test_helpers_match_reference(vendi_ref):
    n = 25
    X = clustered(n, seed=12)
    G = X @ X.T
    p = np.linspace(1.0, 3.0, n)
    p /= p.sum()
    np.testing.assert_allclose(vendi_shim.normalize_K(G), vendi_ref.normalize_K(G), rtol=1e-14)
    np.testing.assert_allclose(vendi_shim.weight_K(G), vendi_ref.weight_K(G), rtol=1e-14)
    np.testing.assert_allclose(vendi_shim.weight_K(G, p), vendi_ref.weight_K(G, p), rtol=1e-14)
    probs = np.array([0.4, 0.3, 0.2, 0.1, 0.0])
    for q in QS:
        assert vendi_shim.entropy_q(probs, q=q) == pytest.approx(float(vendi_ref.entropy_q(probs, q=q)), rel=1e-12)


# ----------------------------------------------------------------------------------------------------
# Vendi: the reference's bugs are not reproduced


def test_score_X_honours_q(vendi_ref):
    X = clustered(60, d=6, seed=13, offset=0.5)
    K = np_unit_rows(X) @ np_unit_rows(X).T
    s1, s2 = vendi_shim.score_X(X, q=1), vendi_shim.score_X(X, q=2)
    assert s2 < s1 * (1 - 1e-3)  # non-uniform spectrum: order 2 is clearly smaller
    assert s2 == pytest.approx(np_vendi_from_gram(K, 2), rel=RTOL_EIG)
    assert s2 == pytest.approx(float(gm.vendi(X, q=2, kernel="cosine", method="exact")), rel=RTOL_EIG)
    # the reference's bug: score_X returns the q = 1 value whatever q is
    assert float(vendi_ref.score_X(X, q=2)) == pytest.approx(s1, rel=RTOL_EIG)


def test_score_X_honours_q_with_weights():
    X = clustered(40, d=6, seed=14, offset=0.5)
    p = np.linspace(1.0, 4.0, 40)
    p /= p.sum()
    U = np_unit_rows(X) * np.sqrt(p)[:, None]
    for q in QS:
        assert vendi_shim.score_X(X, q=q, p=p) == pytest.approx(np_vendi_from_gram(U @ U.T, q), rel=rtol_eig(q, 40))


def test_q_numpy_inf_is_finite(vendi_ref):
    K = rbf_gram(50, seed=15)
    lam_max = np.linalg.eigvalsh(K / 50).max()
    value = vendi_shim.score_K(K, q=np.inf)
    assert math.isfinite(value)
    assert value == pytest.approx(1.0 / lam_max, rel=RTOL_EIG)
    assert value == pytest.approx(vendi_shim.score_K(K, q="inf"), rel=1e-12)
    X = clustered(50, seed=16, offset=0.5)
    assert vendi_shim.score_dual(X, q=np.inf) == pytest.approx(vendi_shim.score_dual(X, q="inf"), rel=RTOL_EIG)
    assert vendi_shim.entropy_q(np.array([0.7, 0.2, 0.1]), q=np.inf) == pytest.approx(-math.log(0.7), rel=1e-12)
    with np.errstate(all="ignore"):
        assert math.isnan(float(vendi_ref.score_K(K, q=np.inf)))  # the reference's bug


def test_q0_counts_rank_not_roundoff(vendi_ref):
    # cosine kernel of 40 points in 3 dimensions: rank 3
    rng = np.random.default_rng(17)
    X = np_unit_rows(rng.normal(size=(40, 3)))
    K = X @ X.T
    assert vendi_shim.score_K(K, q=0) == pytest.approx(3.0, abs=1e-9)
    assert vendi_shim.score_dual(X, q=0) == pytest.approx(3.0, abs=1e-9)
    assert float(vendi_ref.score_K(K, q=0)) > 3.5  # the reference counts round-off eigenvalues


def test_orders_below_one_use_the_rank_tolerance(vendi_ref):
    """Issue 10, item 6: every q < 1, not only q = 0, must ignore the round-off eigenvalues of a rank-deficient
    K (the reference's 0 < q < 1 scores count them too: here ~n^(1-q) at q = 1e-3). Every shim agrees with
    the rank-tolerant float64 reference and is non-increasing in q."""
    rng = np.random.default_rng(18)
    X = np_unit_rows(rng.normal(size=(200, 3)) @ rng.normal(size=(3, 8)))
    K = X @ X.T
    lam = np.linalg.eigvalsh(K / 200)
    qs = [0, 1e-3, 0.1, 0.5, 1, 2, "inf"]
    by_shim = {
        "score_K": [vendi_shim.score_K(K, q=q) for q in qs],
        "score_X": [vendi_shim.score_X(X, q=q) for q in qs],
        "score_dual": [vendi_shim.score_dual(X, q=q) for q in qs],
        "entropy_q": [math.exp(vendi_shim.entropy_q(lam, q=q)) for q in qs],
    }
    want = [ref.ref_vendi_from_eigenvalues(lam, q=q, n=200) for q in qs]
    for name, got in by_shim.items():
        assert got == pytest.approx(want, rel=1e-9), name
        assert all(a >= b * (1 - 1e-12) for a, b in zip(got, got[1:])), (name, got)
    assert by_shim["score_K"][0] == 3 and by_shim["score_K"][1] <= 3.0
    assert float(vendi_ref.score_K(K, q=1e-3)) > 10  # the reference counts the round-off eigenvalues


def _edit_distance(a, b):
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _edit_similarity(a, b):
    """1 - normalised edit distance: a common similarity that is not a positive semi-definite kernel."""
    return 1.0 - _edit_distance(a, b) / max(len(a), len(b))


@pytest.mark.parametrize("q", [0.5, 1, 2, "inf"])
def test_similarity_that_is_not_a_kernel_matches_vendi_score(vendi_ref, q):
    """Issue 10, item 19: score_K/score raised on a similarity matrix with negative eigenvalues, where
    vendi-score returns a number. Both now clip the negative eigenvalues (with a warning).

    vendi-score keeps the positive eigenvalues p of K/n as they are (their sum s = 1 + the clipped mass is
    above 1); the shim renormalises them to p / s. The two are then related exactly: VS_q(p / s) =
    VS_q(p) * s^(q / (q - 1)) (s at q = inf, and log VS_1(p / s) = log VS_1(p) / s + log s)."""
    rng = np.random.default_rng(19)
    words = ["".join(rng.choice(list("abcd"), size=rng.integers(3, 9))) for _ in range(40)]
    K = np.array([[_edit_similarity(a, b) for b in words] for a in words])
    lam = np.linalg.eigvalsh(K / len(words))
    assert lam.min() < -1e-3  # clearly not a kernel
    s = float(lam[lam > 0].sum())
    theirs = float(vendi_ref.score_K(K, q=q))
    if q == "inf":
        want = theirs * s
    elif q == 1:
        want = math.exp(math.log(theirs) / s + math.log(s))
    else:
        want = theirs * s ** (q / (q - 1))
    with pytest.warns(UserWarning, match="not positive semi-definite"):
        assert vendi_shim.score_K(K, q=q) == pytest.approx(want, rel=RTOL_EIG)
    with pytest.warns(UserWarning, match="not positive semi-definite"):
        assert vendi_shim.score(words, _edit_similarity, q=q) == pytest.approx(want, rel=RTOL_EIG)
    # slightly asymmetric (a similarity computed both ways, with round-off-sized and larger differences):
    # the shim uses (K + K^T) / 2, which is K here
    A = np.triu(rng.uniform(-1e-3, 1e-3, size=K.shape), 1)
    with pytest.warns(UserWarning, match="not symmetric"), pytest.warns(UserWarning, match="not positive semi-def"):
        assert vendi_shim.score_K(K + A - A.T, q=q) == pytest.approx(want, rel=RTOL_EIG)


def test_intdiv_K_of_extreme_values():
    """Issue 10, item 8: intdiv_K gave -inf (its mean overflowed) where the value is a float64 number, as the
    reference's (which weighs each entry by 1/n^2 before summing) is."""
    K = np.full((3, 3), 1e308)
    assert vendi_shim.intdiv_K(K) == 1.0 - 1e308
    assert vendi_shim.intdiv_K(K, p=np.ones(3) / 3) == pytest.approx(1.0 - 1e308, rel=1e-15)
    K = np.array([[1.7e308, -1.7e308], [-1.7e308, 1.7e308]])
    assert vendi_shim.intdiv_K(K) == 1.0  # the mean is 0
    assert vendi_shim.intdiv_K(np.full((2, 2), 5e-324)) == 1.0
    with pytest.raises(ValueError, match=r"^K \*\* q overflows"):
        vendi_shim.intdiv_K(np.full((2, 2), 1e200), q=2)
    with pytest.raises(ValueError, match="^p: "):
        vendi_shim.intdiv_K(np.full((2, 2), 1e300), p=[1e200, 1e200])


@pytest.mark.parametrize("fmt", ["csr_matrix", "csr_array", "coo_matrix", "csc_array"])
@pytest.mark.parametrize("q", [0.5, 1, 2, "inf"])
def test_sparse_input_uses_full_spectrum(vendi_ref, fmt, q):
    sparse = pytest.importorskip("scipy.sparse")
    # 10 blocks of 2 identical samples: every order-q score is exactly 10
    dense = np.kron(np.eye(10), np.ones((2, 2)))
    K = getattr(sparse, fmt)(dense)
    assert vendi_shim.score_K(K, q=q) == pytest.approx(10.0, rel=rtol_eig(q, 20))
    assert vendi_shim.intdiv_K(K, q=2) == pytest.approx(0.9, rel=1e-12)  # 1 - 40/400
    if fmt == "csr_matrix":
        # the reference: 6 of the 20 eigenvalues (each 1/10) for score_K, which changes every order
        # but q = inf (lambda_max is kept); a matrix power instead of k^2 for intdiv_K
        if q != "inf":
            assert float(vendi_ref.score_K(K, q=q)) != pytest.approx(10.0, rel=1e-2)
        assert float(vendi_ref.intdiv_K(K, q=2)) != pytest.approx(0.9, rel=1e-2)


@pytest.mark.parametrize("q", [0.5, 1, 2])
def test_intdiv_X_works(vendi_ref, q):
    X = clustered(50, d=6, seed=18)  # offset 3: all cosines positive, so q = 0.5 is defined
    U = np_unit_rows(X)
    expected = 1.0 - np.mean((U @ U.T) ** q)
    value = vendi_shim.intdiv_X(X, q=q)
    assert type(value) is float
    assert value == pytest.approx(expected, rel=RTOL_SUM)
    # normalize=False: raw dot products, as in the reference
    assert vendi_shim.intdiv_X(X, q=q, normalize=False) == pytest.approx(1.0 - np.mean((X @ X.T) ** q), rel=RTOL_SUM)
    p = np.linspace(1.0, 2.0, 50)
    p /= p.sum()
    assert vendi_shim.intdiv_X(X, q=q, p=p) == pytest.approx(1.0 - p @ (U @ U.T) ** q @ p, rel=RTOL_SUM)
    with pytest.raises(TypeError):
        vendi_ref.intdiv_X(X, q=q)  # the reference's bug


def test_intdiv_with_callable_works(vendi_ref):
    elems = [0.0, 0.0, 1.0, 5.0]

    def k(a, b):
        return math.exp(-abs(a - b))

    x = np.array(elems)
    K = np.exp(-np.abs(x[:, None] - x[None, :]))
    assert vendi_shim.intdiv(elems, k) == pytest.approx(1.0 - K.mean(), rel=1e-12)
    assert vendi_shim.intdiv(elems, k, q=2) == pytest.approx(1.0 - (K**2).mean(), rel=1e-12)
    with pytest.raises(NameError):
        vendi_ref.intdiv(elems, k)  # the reference's bug


def test_unnormalized_rows_use_trace_normalised_spectrum(vendi_ref):
    # normalize=False on rows that are not unit vectors: eig(K)/trace(K), hence invariant to scaling X
    X = clustered(40, d=6, seed=19, offset=0.5)
    G = X @ X.T
    for q in QS:
        expected = np_vendi_from_gram(G, q)
        assert vendi_shim.score_X(X, q=q, normalize=False) == pytest.approx(expected, rel=rtol_eig(q, 40))
        assert vendi_shim.score_dual(X, q=q, normalize=False) == pytest.approx(expected, rel=rtol_eig(q, 40))
        assert vendi_shim.score_dual(3.0 * X, q=q, normalize=False) == pytest.approx(expected, rel=rtol_eig(q, 40))
        assert vendi_shim.score_K(G, q=q) == pytest.approx(expected, rel=rtol_eig(q, 40))
    # the reference's number is not a Vendi score here: its "probabilities" sum to trace(G)/n, so it
    # leaves [1, n] and moves with the scale of X
    ref1 = float(vendi_ref.score_dual(X, normalize=False))
    ref3 = float(vendi_ref.score_dual(3.0 * X, normalize=False))
    assert not 1.0 <= ref1 <= 40.0
    assert abs(math.log(ref1) - math.log(ref3)) > 1.0


def test_vendi_bad_input_raises():
    X = clustered(10, seed=20)
    X0 = X.copy()
    X0[3] = 0.0
    with pytest.raises(ValueError):
        vendi_shim.score_X(X0, p=np.ones(10) / 10)  # zero-norm row, normalize=True
    with pytest.raises(ValueError):
        vendi_shim.score_X(X0)
    with pytest.raises(ValueError):
        vendi_shim.score_K(np.eye(4), p=np.ones(3) / 3)  # wrong length
    with pytest.raises(ValueError):
        vendi_shim.score_K(np.eye(3), p=[0.5, 0.7, -0.2])  # negative weight
    with pytest.raises(ValueError):
        vendi_shim.score_K(np.ones((3, 4)))  # not square
    with pytest.raises(ValueError):
        vendi_shim.score_K(np.eye(3), q=-1)
    with pytest.raises(ValueError):
        vendi_shim.normalize_K(np.diag([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError):
        vendi_shim.intdiv_K(np.array([[1.0, -0.5], [-0.5, 1.0]]), q=0.5)  # would be NaN
    with pytest.raises(ValueError):
        vendi_shim.intdiv_K(np.eye(3), q=-1)


def test_module_aliases():
    from genmetrics.compat.rke_score import rke
    from genmetrics.compat.vendi_score import vendi

    assert vendi is vendi_shim and rke is rke_shim
    assert rke.RKE is rke_shim.RKE


# ----------------------------------------------------------------------------------------------------
# RKE: return shapes and conventions


def test_rke_gaussian_kernel_matches_reference(rke_ref):
    rng = np.random.default_rng(21)
    x, y = rng.normal(size=5), rng.normal(size=5)
    for sigma in (0.3, 1.0, 4.0):
        expected = math.exp(-np.sum((x - y) ** 2) / (2 * sigma**2))
        assert rke_shim.gaussian_kernel(x, y, sigma) == pytest.approx(expected, rel=1e-14)
        assert rke_shim.gaussian_kernel(x, y, sigma) == pytest.approx(
            float(rke_ref.gaussian_kernel(x, y, sigma)), rel=1e-14
        )


def test_rke_constructor_errors_match_reference(rke_ref):
    for shim_or_ref in (rke_shim.RKE, rke_ref.RKE):
        with pytest.raises(ValueError):
            shim_or_ref()
        with pytest.raises(ValueError):
            shim_or_ref(kernel_bandwidth=1.0, kernel_function=lambda a, b: 1.0)
    with pytest.raises(ValueError):
        rke_shim.RKE(kernel_bandwidth=[])
    with pytest.raises(ValueError):
        rke_shim.RKE(kernel_bandwidth=-1.0)


def test_rke_return_shapes():
    X = clustered(30, seed=22)
    single = rke_shim.RKE(kernel_bandwidth=2.0)
    for out in (single.compute_rke_mc(X), single.compute_rke_mc_frobenius_norm(X), single.compute_rrke(X, X + 0.5)):
        assert isinstance(out, dict) and list(out) == [2.0]
        assert type(out[2.0]) is float
    many = rke_shim.RKE(kernel_bandwidth=[0.5, 1, 4.0])
    assert list(many.compute_rke_mc(X)) == [0.5, 1, 4.0]
    func = rke_shim.RKE(kernel_function=lambda a, b: math.exp(-np.sum(np.abs(a - b))))
    assert type(func.compute_rke_mc(X)) is float
    assert type(func.compute_rrke(X, X + 0.5)) is float
    # numpy scalar bandwidths are numbers too (the reference would reject np.float32)
    assert list(rke_shim.RKE(kernel_bandwidth=np.float32(2.0)).compute_rke_mc(X)) == [np.float32(2.0)]


# ----------------------------------------------------------------------------------------------------
# RKE: values against the reference and NumPy


def test_rke_frobenius_norm_matches_reference(rke_ref):
    X = clustered(40, seed=23)
    bandwidths = [0.5, 1.0, 3.0]
    shim = rke_shim.RKE(kernel_bandwidth=bandwidths).compute_rke_mc_frobenius_norm(X)
    ref = rke_ref.RKE(kernel_bandwidth=bandwidths).compute_rke_mc_frobenius_norm(X)
    assert list(shim) == list(ref)
    for b in bandwidths:
        assert shim[b] == pytest.approx(float(ref[b]), rel=RTOL_SUM)
        assert shim[b] == pytest.approx(np.mean(np_rbf(X, X, b) ** 2), rel=RTOL_SUM)


@pytest.mark.parametrize("sigma", [0.5, 2.0])
def test_rke_mc_is_exact(rke_ref, sigma):
    X = clustered(60, seed=24)
    K2 = np_rbf(X, X, sigma) ** 2
    exact = 1.0 / np.mean(K2)  # 1 / ||K/n||_F^2
    shim = rke_shim.RKE(kernel_bandwidth=sigma)
    mc = shim.compute_rke_mc(X)[sigma]
    fro = shim.compute_rke_mc_frobenius_norm(X)[sigma]
    assert mc == pytest.approx(exact, rel=RTOL_SUM)
    assert mc * fro == pytest.approx(1.0, rel=RTOL_SUM)  # frobenius_norm keeps the reference meaning
    lam = np.linalg.eigvalsh(np_rbf(X, X, sigma) / len(X))
    assert mc == pytest.approx(1.0 / np.sum(lam**2), rel=RTOL_EIG)
    assert shim.compute_rke_mc(X, n_samples=10)[sigma] == mc  # n_samples does not matter
    # The reference's Monte-Carlo estimate averages N i.i.d. draws of k^2 over uniform pairs: its mean
    # has standard error sd(k^2) / sqrt(N); 6 standard errors (relative) bound it with certainty here.
    N = 20_000
    np.random.seed(0)  # noqa: NPY002 (rke-score draws its pairs from NumPy's global generator)
    estimate = float(rke_ref.RKE(kernel_bandwidth=sigma).compute_rke_mc(X, n_samples=N)[sigma])
    rel_se = np.std(K2) / np.sqrt(N) / np.mean(K2)
    assert estimate == pytest.approx(exact, rel=6 * rel_se)


def test_rke_mc_analytic_values():
    # identical points: one mode; far-apart points with a small bandwidth: n modes
    same = np.ones((25, 4))
    assert rke_shim.RKE(kernel_bandwidth=1.0).compute_rke_mc(same)[1.0] == pytest.approx(1.0, rel=1e-12)
    apart = 100.0 * np.eye(12)
    assert rke_shim.RKE(kernel_bandwidth=1.0).compute_rke_mc(apart)[1.0] == pytest.approx(12.0, rel=1e-12)
    # 1-D input: rows are scalar samples, as in the reference
    x = np.array([0.0, 0.0, 50.0, 50.0, 100.0])
    expected = 1.0 / np.mean(np_rbf(x, x, 1.0) ** 2)  # = 25 / 9
    assert rke_shim.RKE(kernel_bandwidth=1.0).compute_rke_mc(x)[1.0] == pytest.approx(expected, rel=1e-12)


def test_rke_kernel_function_matches_reference(rke_ref):
    X = clustered(25, seed=25)
    Y = clustered(20, seed=26) + 0.3

    def laplace(a, b):
        return float(np.exp(-np.sqrt(np.sum((a - b) ** 2)) / 2.0))

    shim = rke_shim.RKE(kernel_function=laplace)
    ref = rke_ref.RKE(kernel_function=laplace)
    fro = shim.compute_rke_mc_frobenius_norm(X)
    assert fro == pytest.approx(float(ref.compute_rke_mc_frobenius_norm(X)), rel=RTOL_SUM)
    assert shim.compute_rke_mc(X) == pytest.approx(1.0 / float(ref.compute_rke_mc_frobenius_norm(X)), rel=RTOL_SUM)
    assert shim.compute_rrke(X, Y) == pytest.approx(float(ref.compute_rrke(X, Y)), rel=RTOL_EIG)
    np.testing.assert_allclose(shim.k_xy, ref.k_xy, rtol=1e-14)


@pytest.mark.parametrize("n,m", [(40, 30), (25, 60)])
def test_rrke_matches_reference_below_500_rows(rke_ref, n, m):
    X = clustered(n, seed=27)
    Y = clustered(m, seed=28)
    bandwidths = [1.0, 3.0]
    shim = rke_shim.RKE(kernel_bandwidth=bandwidths)
    ref = rke_ref.RKE(kernel_bandwidth=bandwidths)
    out, ref_out = shim.compute_rrke(X, Y), ref.compute_rrke(X, Y)
    for b in bandwidths:
        assert out[b] == pytest.approx(float(ref_out[b]), rel=RTOL_EIG)
        assert out[b] == pytest.approx(np_rrke(X, Y, b), rel=RTOL_EIG)
    np.testing.assert_allclose(np.asarray(shim.k_xy), ref.k_xy, rtol=1e-9, atol=1e-15)  # last bandwidth


def test_rrke_of_a_set_with_itself_is_zero():
    X = clustered(50, seed=29)
    # K/n is PSD with unit trace, so its nuclear norm is 1
    assert rke_shim.RKE(kernel_bandwidth=1.5).compute_rrke(X, X)[1.5] == pytest.approx(0.0, abs=1e-10)


def test_rrke_uses_all_rows():
    # rows past the 500th come from a shifted distribution, so dropping them changes the answer
    rng = np.random.default_rng(30)
    X = rng.normal(size=(520, 3))
    Y = np.concatenate([rng.normal(size=(500, 3)), rng.normal(size=(30, 3)) + 4.0])
    sigma = 1.0
    full, first500 = np_rrke(X, Y, sigma), np_rrke(X[:500], Y[:500], sigma)
    assert abs(full - first500) > 1e-2
    shim = rke_shim.RKE(kernel_bandwidth=sigma)
    assert shim.compute_rrke(X, Y)[sigma] == pytest.approx(full, rel=RTOL_EIG)
    # an explicit sample count still truncates like the reference (y_samples defaults to x_samples)
    assert shim.compute_rrke(X, Y, x_samples=500)[sigma] == pytest.approx(first500, rel=RTOL_EIG)
    assert shim.compute_rrke(X, Y, 500, 520)[sigma] == pytest.approx(np_rrke(X[:500], Y[:520], sigma), rel=RTOL_EIG)
