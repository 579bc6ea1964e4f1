"""Bad input: ValueError / TypeError naming the argument; inputs never modified; memory layouts.

Every bad input must be refused with an exception whose message names the offending argument (the
``match`` patterns below), never a crash, a hang or a silent NaN.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import genmetrics as gm
import reference as ref
from conftest import FLOAT_DTYPES, LAYOUTS, with_layout

RNG = np.random.default_rng(2024)
GOOD = RNG.normal(size=(12, 4))
GOOD_Y = RNG.normal(size=(9, 4))

X_ = r"\bX\b"
Y_ = r"\bY\b"


def _x_calls():
    """Every public function that takes X, as f(X) -> anything, with the other arguments valid."""
    return {
        "gram": lambda X, **kw: gm.gram(X, **kw),
        "gram_Y": lambda X, **kw: gm.gram(X, GOOD_Y[:, : X.shape[-1]] if X.ndim == 2 else GOOD_Y, **kw),
        "kernel_sum": lambda X, **kw: gm.kernel_sum(X, **kw),
        "vendi": lambda X, **kw: gm.vendi(X, **kw),
        "vendi_dual": lambda X, **kw: gm.vendi(X, method="dual", **kw),
        "rke": lambda X, **kw: gm.rke(X, bandwidth=1.0, **kw),
        "rrke": lambda X, **kw: gm.rrke(X, GOOD_Y[:, : X.shape[-1]] if X.ndim == 2 else GOOD_Y, bandwidth=1.0, **kw),
        "intdiv": lambda X, **kw: gm.intdiv(X, **kw),
    }


X_CALLS = _x_calls()
BAD_VALUES = {
    "nan": lambda: np.where(np.arange(48).reshape(12, 4) == 17, np.nan, GOOD),
    "inf": lambda: np.where(np.arange(48).reshape(12, 4) == 5, np.inf, GOOD),
    "-inf": lambda: np.where(np.arange(48).reshape(12, 4) == 40, -np.inf, GOOD),
    "nan_f32": lambda: np.where(np.arange(48).reshape(12, 4) == 0, np.nan, GOOD).astype(np.float32),
}


@pytest.mark.parametrize("fname", sorted(X_CALLS))
@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
def test_non_finite_X_is_refused(backend, fname, bad):
    with pytest.raises(ValueError, match=X_):
        X_CALLS[fname](BAD_VALUES[bad](), backend=backend)


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_non_finite_Y_is_refused(backend, bad):
    Y = GOOD_Y.copy()
    Y[3, 1] = np.nan if bad == "nan" else np.inf
    with pytest.raises(ValueError, match=Y_):
        gm.gram(GOOD, Y, backend=backend)
    with pytest.raises(ValueError, match=Y_):
        gm.kernel_sum(GOOD, Y, backend=backend)
    with pytest.raises(ValueError, match=Y_):
        gm.rrke(GOOD, Y, bandwidth=1.0, backend=backend)


@pytest.mark.parametrize("fname", sorted(X_CALLS))
@pytest.mark.parametrize("shape", [(0, 4), (12, 0), (0, 0)])
def test_empty_X_is_refused(backend, fname, shape):
    with pytest.raises(ValueError, match=X_):
        X_CALLS[fname](np.empty(shape), backend=backend)


def test_empty_Y_is_refused(backend):
    with pytest.raises(ValueError, match=Y_):
        gm.gram(GOOD, np.empty((0, 4)), backend=backend)
    with pytest.raises(ValueError, match=Y_):
        gm.rrke(GOOD, np.empty((0, 4)), bandwidth=1.0, backend=backend)


@pytest.mark.parametrize("fname", sorted(X_CALLS))
@pytest.mark.parametrize("ndim", [0, 1, 3])
def test_X_must_be_two_dimensional(backend, fname, ndim):
    X = {0: np.float64(1.0), 1: GOOD[0], 3: GOOD.reshape(3, 4, 4)}[ndim]
    with pytest.raises(ValueError, match=X_):
        X_CALLS[fname](X, backend=backend)


def test_Y_must_be_two_dimensional(backend):
    with pytest.raises(ValueError, match=Y_):
        gm.gram(GOOD, GOOD_Y[0], backend=backend)
    with pytest.raises(ValueError, match=Y_):
        gm.rrke(GOOD, GOOD_Y.reshape(1, 9, 4), bandwidth=1.0, backend=backend)


def test_mismatched_feature_dimensions(backend):
    Y = RNG.normal(size=(9, 5))
    for call in (
        lambda: gm.gram(GOOD, Y, backend=backend),
        lambda: gm.kernel_sum(GOOD, Y, backend=backend),
        lambda: gm.rrke(GOOD, Y, bandwidth=1.0, backend=backend),
    ):
        with pytest.raises(ValueError, match=Y_):
            call()


@pytest.mark.parametrize("q", [-1, -0.5, -1e-9, -np.inf, np.nan])
def test_negative_or_nan_q(backend, q):
    with pytest.raises(ValueError, match=r"\bq\b"):
        gm.vendi(GOOD, q=q, backend=backend)
    with pytest.raises(ValueError, match=r"\bq\b"):
        gm.intdiv(GOOD, q=q, backend=backend)
    with pytest.raises(ValueError, match=r"\bq\b"):
        gm.vendi_from_gram(np.eye(3), q=q)
    with pytest.raises(ValueError, match=r"\bq\b"):
        gm.vendi_from_eigenvalues(np.ones(3), q=q)


@pytest.mark.parametrize("q", ["two", "", "q"])
def test_q_strings_other_than_inf(backend, q):
    with pytest.raises((ValueError, TypeError), match=r"\bq\b"):
        gm.vendi(GOOD, q=q, backend=backend)


@pytest.mark.parametrize("bw", [0.0, -1.0, -np.inf, np.nan])
@pytest.mark.parametrize("kernel", ["rbf", "gaussian", "laplacian"])
def test_bandwidth_must_be_positive(backend, kernel, bw):
    calls = [
        lambda: gm.gram(GOOD, kernel=kernel, bandwidth=bw, backend=backend),
        lambda: gm.kernel_sum(GOOD, kernel=kernel, bandwidth=bw, backend=backend),
        lambda: gm.vendi(GOOD, kernel=kernel, bandwidth=bw, backend=backend),
        lambda: gm.rke(GOOD, kernel=kernel, bandwidth=bw, backend=backend),
        lambda: gm.rrke(GOOD, GOOD_Y, kernel=kernel, bandwidth=bw, backend=backend),
        lambda: gm.intdiv(GOOD, kernel=kernel, bandwidth=bw, backend=backend),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="bandwidth"):
            call()


@pytest.mark.parametrize("kernel", ["rbf", "laplacian"])
def test_heuristic_bandwidth_of_identical_points_is_an_error(backend, kernel):
    X = np.ones((6, 3))
    with pytest.raises(ValueError, match="bandwidth"):
        gm.vendi(X, kernel=kernel, backend=backend)
    with pytest.raises(ValueError, match="bandwidth"):
        gm.gram(X, kernel=kernel, backend=backend)
    # more than half of the pairs are duplicates: the median is still 0
    Z = np.vstack([np.ones((8, 3)), RNG.normal(size=(2, 3))])
    with pytest.raises(ValueError, match="bandwidth"):
        gm.rke(Z, kernel=kernel, backend=backend)
    # found by hypothesis: 19 copies of one row and one other row (171 of 190 pairs at distance 0)
    W = np.vstack([[0.0, 0.10962283], np.full((19, 2), 8.0)])
    with pytest.raises(ValueError, match="bandwidth"):
        gm.vendi(W, kernel=kernel, backend=backend)
    # an explicit bandwidth works, and identical points have diversity 1
    assert float(gm.vendi(X, kernel=kernel, bandwidth=1.0, backend=backend)) == pytest.approx(1.0)


@pytest.mark.parametrize("rank", [0, -1, 13, 100])
def test_nystrom_rank_out_of_range(backend, rank):
    with pytest.raises(ValueError, match=r"\brank\b"):
        gm.vendi(GOOD, kernel="rbf", bandwidth=1.0, method="nystrom", rank=rank, backend=backend)


@pytest.mark.parametrize("rank", [0, -3])
def test_rff_rank_below_one(backend, rank):
    with pytest.raises(ValueError, match=r"\brank\b"):
        gm.vendi(GOOD, kernel="rbf", bandwidth=1.0, method="rff", rank=rank, backend=backend)


@pytest.mark.parametrize("where", ["X", "Y"])
def test_zero_norm_rows_with_cosine(backend, where):
    X, Y = GOOD.copy(), GOOD_Y.copy()
    (X if where == "X" else Y)[2] = 0.0
    pat = X_ if where == "X" else Y_
    with pytest.raises(ValueError, match=pat):
        gm.gram(X, Y, kernel="cosine", backend=backend)
    with pytest.raises(ValueError, match=pat):
        gm.kernel_sum(X, Y, kernel="cosine", backend=backend)
    if where == "X":
        for call in (
            lambda: gm.vendi(X, kernel="cosine", backend=backend),
            lambda: gm.vendi(X, kernel="cosine", method="dual", backend=backend),
            lambda: gm.intdiv(X, kernel="cosine", backend=backend),
            lambda: gm.rke(X, kernel="cosine", backend=backend),
        ):
            with pytest.raises(ValueError, match=X_):
                call()


def test_zero_norm_rows_are_fine_for_other_kernels(backend):
    X = GOOD.copy()
    X[0] = 0.0
    K = gm.gram(X, kernel="rbf", bandwidth=2.0, backend=backend)
    np.testing.assert_allclose(K, ref.ref_gram(X, kernel="rbf", bandwidth=2.0), rtol=1e-12)
    K = gm.gram(X, kernel="linear", backend=backend)
    np.testing.assert_allclose(K, ref.ref_gram(X, kernel="linear"), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kernel", ["cosin", "RBF_", "poly", "", "sigmoid"])
def test_unknown_kernel(backend, kernel):
    calls = [
        lambda: gm.gram(GOOD, kernel=kernel, backend=backend),
        lambda: gm.kernel_sum(GOOD, kernel=kernel, backend=backend),
        lambda: gm.vendi(GOOD, kernel=kernel, backend=backend),
        lambda: gm.rke(GOOD, kernel=kernel, backend=backend),
        lambda: gm.rrke(GOOD, GOOD_Y, kernel=kernel, backend=backend),
        lambda: gm.intdiv(GOOD, kernel=kernel, backend=backend),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="kernel"):
            call()


@pytest.mark.parametrize("method", ["eig", "Exact", "", "nystroem", "random"])
def test_unknown_method(backend, method):
    with pytest.raises(ValueError, match="method"):
        gm.vendi(GOOD, method=method, backend=backend)


@pytest.mark.parametrize("kernel", ["rbf", "laplacian", "polynomial"])
def test_dual_needs_a_linear_or_cosine_kernel(backend, kernel):
    with pytest.raises(ValueError, match="method|kernel"):
        gm.vendi(GOOD, kernel=kernel, bandwidth=1.0 if kernel != "polynomial" else None, method="dual", backend=backend)


@pytest.mark.parametrize("kernel", ["cosine", "linear", "polynomial"])
def test_rff_needs_a_shift_invariant_kernel(backend, kernel):
    with pytest.raises(ValueError, match="method|kernel"):
        gm.vendi(GOOD, kernel=kernel, method="rff", backend=backend)


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        gm.gram(GOOD, backend="fortran")
    with pytest.raises(ValueError, match="backend"):
        gm.vendi(GOOD, backend="gpu0")


@pytest.mark.parametrize(
    "bad",
    [
        np.array([["a", "b"], ["c", "d"]]),
        np.array([[b"1", b"2"]]),
        np.array([[1.0, 2.0], [3.0, 4.0]], dtype=object),
        np.array([[{}, None]], dtype=object),
    ],
)
def test_non_numeric_dtypes_are_type_errors(backend, bad):
    for call in (
        lambda: gm.gram(bad, backend=backend),
        lambda: gm.kernel_sum(bad, backend=backend),
        lambda: gm.vendi(bad, backend=backend),
        lambda: gm.rke(bad, bandwidth=1.0, backend=backend),
        lambda: gm.intdiv(bad, backend=backend),
    ):
        with pytest.raises(TypeError, match=X_):
            call()
    with pytest.raises(TypeError, match=Y_):
        gm.gram(np.ones((2, bad.shape[1])), bad, backend=backend)


def test_vendi_from_gram_and_eigenvalues_bad_input():
    with pytest.raises(ValueError, match=r"\bK\b"):
        gm.vendi_from_gram(np.array([[1.0, np.nan], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match=r"\bK\b"):
        gm.vendi_from_gram(np.ones((3, 2)))  # not square
    with pytest.raises(ValueError, match=r"\bK\b"):
        gm.vendi_from_gram(np.ones(3))
    with pytest.raises(ValueError, match=r"\bK\b"):
        gm.vendi_from_gram(np.empty((0, 0)))
    with pytest.raises(TypeError, match=r"\bK\b"):
        gm.vendi_from_gram(np.array([["1", "0"], ["0", "1"]]))
    with pytest.raises(ValueError, match="eig"):
        gm.vendi_from_eigenvalues(np.array([0.5, np.nan]))
    with pytest.raises(ValueError, match="eig"):
        gm.vendi_from_eigenvalues(np.array([]))


# --------------------------------------------------------------------------------------------
# inputs unchanged; layouts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_inputs_are_never_modified(backend, dtype, order):
    X = np.asarray(RNG.normal(size=(40, 6)) + 0.1, dtype=dtype, order=order)
    Y = np.asarray(RNG.normal(size=(25, 6)), dtype=dtype, order=order)
    X0, Y0 = X.copy(order="K"), Y.copy(order="K")
    calls = [
        lambda: gm.gram(X, Y, kernel="cosine", backend=backend),
        lambda: gm.gram(X, kernel="rbf", backend=backend),
        lambda: gm.kernel_sum(X, Y, kernel="cosine", power=2, backend=backend),
        lambda: gm.vendi(X, q=0.5, kernel="cosine", method="exact", backend=backend),
        lambda: gm.vendi(X, kernel="cosine", method="dual", backend=backend),
        lambda: gm.vendi(X, kernel="linear", method="auto", backend=backend),
        lambda: gm.vendi(X, kernel="rbf", method="nystrom", rank=10, backend=backend),
        lambda: gm.vendi(X, kernel="rbf", method="rff", rank=16, backend=backend),
        lambda: gm.rke(X, backend=backend),
        lambda: gm.rrke(X, Y, backend=backend),
        lambda: gm.intdiv(X, backend=backend),
    ]
    for i, call in enumerate(calls):
        call()
        assert np.array_equal(X, X0) and np.array_equal(Y, Y0), f"call {i} modified its input"
        assert X.flags.writeable and X.flags.f_contiguous == (order == "F")
    K = gm.gram(X, kernel="cosine", backend=backend).astype(np.float64)
    K0 = K.copy()
    gm.vendi_from_gram(K)
    assert np.array_equal(K, K0)
    lam = np.array([0.5, 0.3, 0.2])
    gm.vendi_from_eigenvalues(lam)
    assert np.array_equal(lam, [0.5, 0.3, 0.2])


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("layout", [lay for lay in LAYOUTS if lay != "C"])
def test_strided_and_fortran_inputs_give_the_same_numbers(backend, dtype, layout):
    """Each layout's result is within the error bound of the exact value, so two layouts agree to
    twice that bound (a BLAS may block differently for other strides: bit-equality is not promised).
    For float64 the bounds are ~1e-13 relative (laplacian: ~1e-7 on the diagonal, where the distance
    formula's sqrt amplifies round-off)."""
    X = (RNG.normal(size=(37, 9)) + 0.2).astype(dtype)
    Y = RNG.normal(size=(21, 9)).astype(dtype)
    Xl, Yl = with_layout(X, layout), with_layout(Y, layout)
    assert not (Xl.flags.c_contiguous and layout != "C")
    for kernel, bw in (("cosine", None), ("rbf", 2.5), ("laplacian", 2.5), ("linear", None), ("polynomial", None)):
        T = ref.gram_tol(X, Y, kernel=kernel, bandwidth=bw, dtype=dtype)
        Kl = gm.gram(Xl, Yl, kernel=kernel, bandwidth=bw, backend=backend)
        K = gm.gram(X, Y, kernel=kernel, bandwidth=bw, backend=backend)
        assert np.all(np.abs(Kl.astype(np.float64) - K) <= 2 * T), kernel
        tol = ref.kernel_sum_tol(X, kernel=kernel, bandwidth=bw, dtype=dtype)
        assert (
            abs(
                gm.kernel_sum(Xl, kernel=kernel, bandwidth=bw, backend=backend)
                - gm.kernel_sum(X, kernel=kernel, bandwidth=bw, backend=backend)
            )
            <= 2 * tol
        ), kernel
    for q in (0, 1, 2, math.inf):
        a = float(gm.vendi(Xl, q=q, backend=backend))
        b = float(gm.vendi(X, q=q, backend=backend))
        _, tol = ref.vendi_bound(X, q, kernel="cosine")
        assert a == b if tol is None else abs(a - b) <= 2 * tol, (q, a, b)
    bw_rel = 1e-12 if dtype == np.float64 else 1e-5
    a, b = gm.rke(Xl, backend=backend), gm.rke(X, backend=backend)
    assert a.bandwidth == pytest.approx(b.bandwidth, rel=bw_rel)
    assert float(a) == pytest.approx(
        float(b), rel=2 * ref.rke_rtol(X, bandwidth=b.bandwidth, dtype=dtype) + 1e-3 * bw_rel
    )
    a, b = gm.rrke(Xl, Yl, bandwidth=2.0, backend=backend), gm.rrke(X, Y, bandwidth=2.0, backend=backend)
    assert float(a) == pytest.approx(float(b), abs=2 * ref.rrke_tol(X, Y, bandwidth=2.0, dtype=dtype))
    tol = float(np.mean(ref.gram_tol(X, dtype=dtype)))
    assert float(gm.intdiv(Xl, backend=backend)) == pytest.approx(
        float(gm.intdiv(X, backend=backend)), abs=2 * tol + 1e-15
    )


def test_documented_strided_views(backend):
    """The two views named in the brief, X[::2] and X[:, ::2], against contiguous copies."""
    big = RNG.normal(size=(60, 16)) + 0.3
    for view in (big[::2], big[:, ::2], big[::2, ::2], big.T[:5].T):
        copy = np.ascontiguousarray(view)
        np.testing.assert_allclose(
            gm.gram(view, backend=backend), gm.gram(copy, backend=backend), rtol=1e-12, atol=1e-13
        )
        assert float(gm.vendi(view, backend=backend)) == pytest.approx(
            float(gm.vendi(copy, backend=backend)), rel=1e-12
        )


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8])
def test_integer_inputs_are_accepted(backend, dtype):
    X = np.array([[1, 0, 2], [0, 3, 1], [4, 1, 0], [2, 2, 2]], dtype=dtype)
    s = gm.vendi(X, kernel="cosine", backend=backend)
    assert float(s) == pytest.approx(ref.ref_vendi(X.astype(np.float64), kernel="cosine"), rel=1e-10)
    assert gm.gram(X, kernel="linear", backend=backend).dtype == np.float64


# --------------------------------------------------------------------------------------------
# one conversion for every array argument: masked arrays, tensors that require grad, non-real dtypes
# (issue 10, items 9, 11 and 12)
# --------------------------------------------------------------------------------------------


def _argument_calls():
    """name -> (call(arguments) -> result, the valid arguments): every array argument of the public API and of
    the compat shims, each spoiled in turn by the tests below."""
    from genmetrics.compat import prdc as compat_prdc
    from genmetrics.compat import rke_score as compat_rke

    X, Y = GOOD + 0.1, GOOD_Y[:, :4]
    K = X @ X.T
    mu, S = X.mean(axis=0), np.cov(X.T)
    return {
        "gram": (lambda a: gm.gram(a["X"], a["Y"]), {"X": X, "Y": Y}),
        "kernel_sum": (lambda a: gm.kernel_sum(a["X"], a["Y"]), {"X": X, "Y": Y}),
        "knn": (lambda a: gm.knn(a["X"], a["Y"], k=2), {"X": X, "Y": Y}),
        "radius_query": (
            lambda a: gm.radius_query(a["X"], a["Y"], a["radii"]),
            {"X": X, "Y": Y, "radii": np.full(X.shape[0], 1.5)},
        ),
        "vendi": (lambda a: gm.vendi(a["X"]), {"X": X}),
        "rke": (lambda a: gm.rke(a["X"]), {"X": X}),
        "rrke": (lambda a: gm.rrke(a["X"], a["Y"]), {"X": X, "Y": Y}),
        "intdiv": (lambda a: gm.intdiv(a["X"]), {"X": X}),
        "vendi_from_gram": (lambda a: gm.vendi_from_gram(a["K"]), {"K": K}),
        "vendi_from_eigenvalues": (
            lambda a: gm.vendi_from_eigenvalues(a["eigenvalues"]),
            {"eigenvalues": np.array([0.5, 0.3, 0.2])},
        ),
        "prdc": (lambda a: gm.prdc(a["real"], a["fake"], k=2), {"real": X, "fake": Y}),
        "precision_recall": (lambda a: gm.precision_recall(a["real"], a["fake"], k=2), {"real": X, "fake": Y}),
        "alpha_precision": (
            lambda a: gm.alpha_precision(a["real"], a["fake"], center=a["center"]),
            {"real": X, "fake": Y, "center": np.zeros(4)},
        ),
        "authenticity": (lambda a: gm.authenticity(a["train"], a["fake"]), {"train": X, "fake": Y}),
        "fd": (lambda a: gm.fd(a["real"], a["fake"]), {"real": X, "fake": Y}),
        "frechet_from_statistics": (
            lambda a: gm.frechet_from_statistics(a["mu1"], a["sigma1"], a["mu2"], a["sigma2"]),
            {"mu1": mu, "sigma1": S, "mu2": mu + 1, "sigma2": 2 * S},
        ),
        "gaussian_kl": (lambda a: gm.gaussian_kl(a["real"], a["fake"], ridge=0.1), {"real": X, "fake": Y}),
        "mmd": (lambda a: gm.mmd(a["real"], a["fake"]), {"real": X, "fake": Y}),
        "kid": (lambda a: gm.kid(a["real"], a["fake"], subsets=2, subset_size=5), {"real": X, "fake": Y}),
        "knn_kl_divergence": (
            lambda a: gm.knn_kl_divergence(a["p_samples"], a["q_samples"]),
            {"p_samples": X, "q_samples": Y},
        ),
        "knn_entropy": (lambda a: gm.knn_entropy(a["X"]), {"X": X}),
        "vae_latent_kl": (lambda a: gm.vae_latent_kl(a["mu"], a["logvar"]), {"mu": X, "logvar": X * 0.1}),
        "knn_ood_score": (
            lambda a: gm.knn_ood_score(a["memory_bank"], a["queries"], k=2),
            {"memory_bank": X, "queries": Y},
        ),
        "ood_metrics": (
            lambda a: gm.ood_metrics(a["scores_in"], a["scores_out"]),
            {"scores_in": X[:, 0], "scores_out": Y[:, 0]},
        ),
        "compat.prdc.compute_prdc": (
            lambda a: compat_prdc.compute_prdc(a["real_features"], a["fake_features"], 2),
            {"real_features": X, "fake_features": Y},
        ),
        "compat.prdc.compute_pairwise_distance": (
            lambda a: compat_prdc.compute_pairwise_distance(a["data_x"], a["data_y"]),
            {"data_x": X, "data_y": Y},
        ),
        "compat.prdc.get_kth_value": (lambda a: compat_prdc.get_kth_value(a["unsorted"], 2), {"unsorted": K}),
        "compat.prdc.compute_nearest_neighbour_distances": (
            lambda a: compat_prdc.compute_nearest_neighbour_distances(a["input_features"], 2),
            {"input_features": X},
        ),
        "compat.rke_score.compute_rke_mc": (
            lambda a: compat_rke.RKE(kernel_bandwidth=1.0).compute_rke_mc(a["X"]),
            {"X": X},
        ),
        "compat.rke_score.compute_rrke": (
            lambda a: compat_rke.RKE(kernel_bandwidth=1.0).compute_rrke(a["X"], a["Y"]),
            {"X": X, "Y": Y},
        ),
        "compat.rke_score.gaussian_kernel": (
            lambda a: compat_rke.gaussian_kernel(a["x"], a["y"], 1.0),
            {"x": X[0], "y": Y[0]},
        ),
    }


ARGUMENT_CALLS = _argument_calls()
ARGUMENTS = [(fname, arg) for fname, (_, args) in ARGUMENT_CALLS.items() for arg in args]


class _Detached:
    """What ``tensor.detach()`` returns: an array-like NumPy can read."""

    def __init__(self, values):
        self.values = values

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


class GradTensor:
    """Behaves like a torch tensor with requires_grad=True: NumPy cannot read it (its ``__array__`` raises
    RuntimeError, as ``Tensor.numpy()`` does), ``detach()`` gives one it can."""

    requires_grad = True

    def __init__(self, values):
        self.values = np.asarray(values)
        self.shape, self.ndim = self.values.shape, self.values.ndim
        self.detached = 0

    def __len__(self):
        return len(self.values)

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")

    def detach(self):
        self.detached += 1
        return _Detached(self.values)


def _comparable(result):
    if hasattr(result, "as_dict"):
        result = result.as_dict()
    if isinstance(result, float):
        return float(result)
    return result


def _spoiled(arguments, arg, value):
    spoiled = dict(arguments)
    spoiled[arg] = value
    return spoiled


NON_REAL = {
    "complex": lambda a: a.astype(np.complex128),
    "string": lambda a: a.astype(str),
    "bytes": lambda a: a.astype("S8"),
    "datetime": lambda a: np.zeros(a.shape, dtype="datetime64[s]"),
    "timedelta": lambda a: np.zeros(a.shape, dtype="timedelta64[s]"),
    "structured": lambda a: np.zeros(a.shape, dtype=[("x", "f8")]),
    "object": lambda a: a.astype(object),
}


@pytest.mark.parametrize("kind", sorted(NON_REAL))
@pytest.mark.parametrize("fname, arg", ARGUMENTS)
def test_non_real_arrays_are_type_errors_naming_the_argument(fname, arg, kind):
    call, arguments = ARGUMENT_CALLS[fname]
    with pytest.raises(TypeError, match=rf"\b{arg}\b"):
        call(_spoiled(arguments, arg, NON_REAL[kind](arguments[arg])))


@pytest.mark.parametrize("fname, arg", ARGUMENTS)
def test_masked_arrays_with_masked_entries_are_type_errors(fname, arg):
    """The values under a mask were used silently (fd with one masked 1e6 row: 1.6e11 instead of 0.39)."""
    call, arguments = ARGUMENT_CALLS[fname]
    values = np.ma.masked_array(arguments[arg].copy())
    values[(0,) * values.ndim] = np.ma.masked
    with pytest.raises(TypeError, match=rf"\b{arg}\b.*masked.*\[~{arg}\.mask"):
        call(_spoiled(arguments, arg, values))
    # nothing masked: the data themselves
    assert_same(call(_spoiled(arguments, arg, np.ma.masked_array(arguments[arg]))), call(arguments))


@pytest.mark.parametrize("fname, arg", ARGUMENTS)
def test_tensors_that_require_grad_are_detached(fname, arg):
    call, arguments = ARGUMENT_CALLS[fname]
    tensor = GradTensor(arguments[arg])
    assert_same(call(_spoiled(arguments, arg, tensor)), call(arguments))
    assert tensor.detached >= 1


def assert_same(a, b):
    np.testing.assert_equal(_comparable(a), _comparable(b))


def test_fd_with_a_masked_outlier():
    """The audit's case: one masked row at 1e6. Refused; the unmasked rows give the plain FD."""
    X = np.vstack([GOOD, np.full((1, 4), 1e6)])
    masked = np.ma.masked_array(X, mask=np.zeros(X.shape, bool))
    masked.mask[-1] = True
    with pytest.raises(TypeError, match=r"\breal\b.*masked"):
        gm.fd(masked, GOOD_Y)
    rows = masked[~masked.mask.any(axis=1)]
    assert gm.fd(rows, GOOD_Y) == gm.fd(GOOD, GOOD_Y)


def test_real_torch_tensors_that_require_grad():
    torch = pytest.importorskip("torch")
    X = torch.tensor(GOOD, requires_grad=True)
    Y = torch.tensor(GOOD_Y, requires_grad=True)
    assert gm.fd(X, Y) == gm.fd(GOOD, GOOD_Y)
    assert float(gm.vendi(X)) == float(gm.vendi(GOOD))
    assert X.requires_grad and Y.requires_grad


def test_kernel_functions_must_return_real_numbers():
    """float() took NumPy complex values by dropping the imaginary part (with a warning) and parsed strings."""
    from genmetrics.compat import rke_score as compat_rke

    samples = np.arange(6.0).reshape(3, 2)
    for value in (np.complex128(0.5 + 1j), 0.5 + 0j, "0.5", None, np.array([0.5, 0.5])):
        with pytest.raises(TypeError, match="kernel_function"):
            compat_rke.RKE(kernel_function=lambda a, b, v=value: v).compute_rke_mc(samples)
    # real values of any kind, and strings as samples, are fine: k = 1 on the diagonal, 0.5 elsewhere
    for value in (np.float32(0.5), 0.5, np.array([[0.5]])):
        k = lambda a, b, v=value: 1.0 if a is b or np.array_equal(a, b) else v  # noqa: E731
        assert compat_rke.RKE(kernel_function=k).compute_rke_mc(samples) == pytest.approx(9 / (3 + 6 * 0.25))
    assert compat_rke.RKE(kernel_function=lambda a, b: a == b).compute_rke_mc(["ab", "cd", "ab"]) == pytest.approx(
        9 / 5
    )


def test_gaussian_kernel_of_extreme_bandwidths():
    """(1 / sigma)^2 in Python floats: ZeroDivisionError at sigma = 1e-200, 0 * inf at huge distances."""
    from genmetrics.compat import rke_score as compat_rke

    assert compat_rke.gaussian_kernel([0.0, 0.0], [3.0, 4.0], 1.0) == pytest.approx(math.exp(-12.5), rel=1e-15)
    assert compat_rke.gaussian_kernel([0.0], [1.0], 1e-200) == 0.0
    assert compat_rke.gaussian_kernel([1e300], [-1e300], 1e300) == pytest.approx(math.exp(-2.0), rel=1e-15)
    assert compat_rke.gaussian_kernel([1e-300], [1e-300], 1e-300) == 1.0
    with pytest.raises(ValueError, match="sigma"):
        compat_rke.gaussian_kernel([0.0], [1.0], 0.0)


class _CudaTensorRequiringGrad:
    """Like a CUDA torch tensor with requires_grad: reading __cuda_array_interface__ raises RuntimeError."""

    requires_grad = True

    @property
    def __cuda_array_interface__(self):
        raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires grad. Use var.detach()")


def test_a_cuda_tensor_requiring_grad_is_recognised_as_a_gpu_array():
    from genmetrics.support.arrays import is_device_array

    assert is_device_array(_CudaTensorRequiringGrad())  # was: the RuntimeError escaped from backend selection


@pytest.mark.skipif(np.finfo(np.longdouble).max <= np.finfo(np.float64).max, reason="long double is float64 here")
def test_long_double_values_beyond_float64_are_named_as_such():
    X = np.array([[np.longdouble("1e400"), 1.0], [2.0, 3.0]], dtype=np.longdouble)
    with pytest.raises(ValueError, match=r"^X: values beyond float64's range \(up to 1\.00e\+400"):
        gm.knn(X, k=1)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="^X: contains NaN or infinite values"):
        gm.knn(X, k=1)
