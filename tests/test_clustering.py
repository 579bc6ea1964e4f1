"""gm.kmeans: identical labels to a float64 NumPy Lloyd reference with the same seeding (tests/reference_frontiers.py),
scikit-learn's KMeans inertia on the digits, exact recovery of separated blobs, edge cases, every backend."""

from __future__ import annotations

import numpy as np
import pytest

import genmetrics as gm
from reference_frontiers import ref_kmeans


def blobs(rng, k=5, per=40, d=6, spread=0.2, gap=20.0):
    centers = gap * rng.normal(size=(k, d))
    truth = np.repeat(np.arange(k), per)
    return centers[truth] + spread * rng.normal(size=(k * per, d)), truth


def same_partition(a, b):
    """True when the labels a and b split the rows alike (up to renaming the clusters)."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_labels_equal_the_float64_lloyd_reference(backend, dtype):
    rng = np.random.default_rng(3)
    X = (rng.normal(size=(240, 5)) * [1, 2, 3, 1, 0.5]).astype(dtype)
    for k, n_init, tol in ((7, 1, 1e-4), (12, 3, 0.0), (1, 1, 0.0)):
        got = gm.kmeans(X, n_clusters=k, n_init=n_init, tol=tol, seed=11, backend=backend)
        C, labels, inertia, n_iter = ref_kmeans(X, k, n_init=n_init, tol=tol, seed=11)
        np.testing.assert_array_equal(got.labels, labels)
        np.testing.assert_allclose(got.centroids, C, rtol=1e-13, atol=1e-13)
        assert got.inertia == pytest.approx(inertia, rel=1e-12)
        assert got.n_iter == n_iter
        assert got.labels.dtype == np.int64 and got.centroids.dtype == np.float64
        assert got.converged == (n_iter < 300)


def test_one_cluster_is_the_mean_and_n_clusters_n_is_every_row():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) + 4.0
    one = gm.kmeans(X, n_clusters=1)
    np.testing.assert_allclose(one.centroids[0], X.mean(axis=0), rtol=1e-14)
    assert one.inertia == pytest.approx(((X - X.mean(axis=0)) ** 2).sum(), rel=1e-12)
    assert one.converged and np.all(one.labels == 0)
    every = gm.kmeans(X, n_clusters=50, seed=4)
    assert every.inertia == 0.0 and every.converged
    assert sorted(every.labels.tolist()) == list(range(50))
    np.testing.assert_array_equal(every.centroids[every.labels], X)


def test_separated_blobs_are_recovered_exactly(backend):
    rng = np.random.default_rng(1)
    X, truth = blobs(rng)
    for seed in range(3):
        result = gm.kmeans(X, n_clusters=5, n_init=3, seed=seed, backend=backend)
        assert same_partition(result.labels, truth), seed
        assert result.converged


def test_duplicates_and_more_clusters_than_distinct_rows():
    rng = np.random.default_rng(2)
    distinct = rng.normal(size=(4, 3))
    X = np.repeat(distinct, 10, axis=0)
    exact = gm.kmeans(X, n_clusters=4, n_init=2)
    # the mean of ten equal float64 values can be an ulp off the value: inertia ~1e-30, not 0
    assert exact.inertia < 1e-25 and same_partition(exact.labels, np.repeat(np.arange(4), 10))
    more = gm.kmeans(X, n_clusters=7, max_iter=20)  # three clusters must share rows: empty ones are re-seeded
    assert more.inertia < 1e-25
    C, labels, inertia, _ = ref_kmeans(X, 7, max_iter=20)
    np.testing.assert_array_equal(more.labels, labels)
    constant = gm.kmeans(np.ones((6, 2)), n_clusters=3)
    assert constant.inertia == 0.0 and constant.converged


def test_empty_clusters_are_reseeded_as_documented():
    """A far outlier pulls one k-means++ seed; the rule (farthest row) and the reference agree step by step."""
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(size=(60, 2)), [[40.0, 40.0]], rng.normal(size=(3, 2)) * 0.01 + 5])
    for seed in range(6):
        got = gm.kmeans(X, n_clusters=6, seed=seed, tol=0.0)
        _, labels, inertia, n_iter = ref_kmeans(X, 6, seed=seed, tol=0.0)
        np.testing.assert_array_equal(got.labels, labels)
        assert (got.inertia, got.n_iter) == (pytest.approx(inertia, rel=1e-12), n_iter)


def test_inertia_close_to_scikit_learn_on_the_digits():
    datasets = pytest.importorskip("sklearn.datasets")
    cluster = pytest.importorskip("sklearn.cluster")
    X = datasets.load_digits().data
    ours = gm.kmeans(X, n_clusters=10, n_init=10, seed=0)
    theirs = cluster.KMeans(n_clusters=10, n_init=10, random_state=0).fit(X)
    # two k-means++ codes land in nearby local optima; ours reports the exact inertia of its own labels
    assert ours.inertia == pytest.approx(theirs.inertia_, rel=0.01)
    exact = ((X - ours.centroids[ours.labels]) ** 2).sum()
    assert ours.inertia == pytest.approx(exact, rel=1e-12)
    d = ((X[:, None, :] - ours.centroids[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(ours.labels, d.argmin(axis=1))


def test_float32_and_float64_agree_on_separated_data():
    rng = np.random.default_rng(6)
    X, truth = blobs(rng, k=4, d=8)
    a = gm.kmeans(X, n_clusters=4, seed=1)
    b = gm.kmeans(X.astype(np.float32), n_clusters=4, seed=1)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.centroids, b.centroids, rtol=1e-6, atol=1e-6)


def test_seeded_and_random_init():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 4))
    a, b = gm.kmeans(X, n_clusters=8, seed=3), gm.kmeans(X, n_clusters=8, seed=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.inertia == b.inertia
    assert gm.kmeans(X, n_clusters=8, seed=4).inertia != a.inertia
    r = gm.kmeans(X, n_clusters=8, init="random", seed=3)
    assert r.init == "random" and len(set(r.labels.tolist())) == 8


def test_on_the_emulated_gpu(fake_gpu):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(150, 4)).astype(np.float32)
    expected = gm.kmeans(X, n_clusters=6, n_init=2, seed=2, backend="cpu")
    for backend in ("cuda", "cupy"):
        for inputs in (X, fake_gpu.device(X)):
            got = gm.kmeans(inputs, n_clusters=6, n_init=2, seed=2, backend=backend)
            np.testing.assert_array_equal(got.labels, expected.labels, err_msg=backend)
            np.testing.assert_allclose(got.centroids, expected.centroids, rtol=1e-12)
            assert isinstance(got.labels, np.ndarray) and got.backend == backend


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(n_clusters=0), "n_clusters"),
        (dict(n_clusters=11), "n_clusters"),
        (dict(n_clusters=2.0), "n_clusters"),
        (dict(n_clusters=2, n_init=0), "n_init"),
        (dict(n_clusters=2, max_iter=0), "max_iter"),
        (dict(n_clusters=2, tol=-1.0), "tol"),
        (dict(n_clusters=2, init="kmeans"), "init"),
        (dict(n_clusters=2, seed=-1), "seed"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=f"^{name}: "):
        gm.kmeans(np.zeros((10, 2)), **kwargs)
    with pytest.raises(ValueError, match="^X: "):
        gm.kmeans(np.full((3, 2), np.nan), n_clusters=1)


def test_parallel_seeding_matches_kmeans_plus_plus_quality():
    """k-means|| seeds are rows of X, deterministic for a seed and equal across backends; on digits its runs land
    within 2 % of k-means++'s inertia (and of scikit-learn's), and on separated blobs it finds the blobs."""
    datasets = pytest.importorskip("sklearn.datasets")
    X = datasets.load_digits().data
    plus = gm.kmeans(X, n_clusters=10, n_init=10, seed=0)
    parallel = gm.kmeans(X, n_clusters=10, n_init=10, seed=0, init="k-means||")
    assert parallel.init == "k-means||"
    assert parallel.inertia == pytest.approx(plus.inertia, rel=0.02)
    again = gm.kmeans(X, n_clusters=10, n_init=10, seed=0, init="k-means||", backend="numpy")
    np.testing.assert_array_equal(again.labels, parallel.labels)
    rng = np.random.default_rng(9)
    blobs_x, truth = blobs(rng, k=12, d=6)
    found = gm.kmeans(blobs_x, n_clusters=12, init="k-means||", seed=1).labels
    # one label a blob and one blob a label
    assert all(np.unique(found[truth == j]).size == 1 for j in range(12))
    assert np.unique(found).size == 12


def test_parallel_seeds_are_distinct_rows_with_few_distinct_points():
    from genmetrics import clustering
    from genmetrics.engine import get_backend

    X = np.repeat(np.arange(5.0)[:, None], 8, axis=0) * np.ones((1, 3))  # 5 distinct rows, 8 copies each
    engine = get_backend("cpu")
    (frame,) = engine.points(X)
    for k in (3, 5, 12):
        seeds = clustering._seed_centroids(engine, frame, k, "k-means||", np.random.default_rng(0))
        assert seeds.shape == (k, 3)
        assert all((X == row).all(axis=1).any() for row in seeds)  # each seed is a row of X
        assert len({tuple(row) for row in seeds}) == min(k, 5)  # distinct while distinct rows remain
    result = gm.kmeans(X, n_clusters=5, init="k-means||", seed=2)
    assert result.inertia == 0.0
