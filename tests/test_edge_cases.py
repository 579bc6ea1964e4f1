"""Regressions from review: extreme magnitudes, powers 0 and > 64, q next to 1, indefinite matrices,
kernel parameters given to the wrong kernel, and the q = 2 dual shortcut. Each compared with the float64
reference or with the scale-free answer it must equal."""

from __future__ import annotations

import math

import numpy as np
import pytest

import genmetrics as gm
import reference as ref

R = np.random.default_rng(0).standard_normal((40, 8))


@pytest.mark.parametrize("factor", [1e30, 1e-30])
@pytest.mark.parametrize("method", ["exact", "dual"])
def test_cosine_vendi_is_scale_free_in_float32(backend, factor, method):
    want = ref.ref_vendi(R, q=1, kernel="cosine")
    got = gm.vendi((R * factor).astype(np.float32), q=1, method=method, backend=backend)
    assert float(got) == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize("factor", [1e30, 1e-30])
@pytest.mark.parametrize("q", [1, 2])
def test_rbf_with_scaled_bandwidth_is_scale_free(backend, factor, q):
    want = ref.ref_vendi(R, q=q, kernel="rbf", bandwidth=3.0)
    got = gm.vendi((R * factor).astype(np.float32), q=q, kernel="rbf", bandwidth=3.0 * factor, backend=backend)
    assert float(got) == pytest.approx(want, rel=1e-4)
    heuristic = gm.rke((R * factor).astype(np.float32), backend=backend)
    assert math.isfinite(heuristic) and heuristic.bandwidth == pytest.approx(
        ref.ref_median_bandwidth(R) * factor, rel=1e-5
    )


def test_float64_extremes(backend):
    assert float(gm.vendi(R * 1e300, q=2, backend=backend)) == pytest.approx(ref.ref_vendi(R, q=2), rel=1e-10)
    scaled = gm.rke(R * 1e300, backend=backend)
    assert scaled.bandwidth == pytest.approx(ref.ref_median_bandwidth(R) * 1e300, rel=1e-12)
    assert float(scaled) == pytest.approx(ref.ref_rke(R, bandwidth=ref.ref_median_bandwidth(R)), rel=1e-10)


def test_linear_gram_overflow_is_a_named_error(backend):
    with pytest.raises(ValueError, match="X"):
        gm.gram((R * 1e30).astype(np.float32), kernel="linear", backend=backend)
    with pytest.raises(ValueError, match="X"):
        gm.kernel_sum((R * 1e30).astype(np.float32), kernel="polynomial", backend=backend)


def test_power_zero_and_large_integer_powers(backend):
    X = np.random.default_rng(1).uniform(-1.1, 1.1, size=(30, 4))
    assert float(gm.intdiv(X, q=0, backend=backend)) == 0.0
    assert gm.kernel_sum(X, kernel="linear", power=0, backend=backend) == 900.0
    want = ref.ref_kernel_sum(X, kernel="linear", power=65)
    assert gm.kernel_sum(X, kernel="linear", power=65, backend=backend) == pytest.approx(want, rel=1e-9)


def test_zero_matrix_is_a_named_error(backend):
    for q in (1, 2):
        with pytest.raises(ValueError, match="X"):
            gm.vendi(np.zeros((3, 2)), q=q, kernel="linear", backend=backend)
    with pytest.raises(ValueError, match="X"):
        gm.rke(np.zeros((3, 2)), kernel="linear", backend=backend)


def test_orders_next_to_one_tend_to_shannon(backend):
    X = np.random.default_rng(0).standard_normal((300, 20))
    at_one = float(gm.vendi(X, q=1, backend=backend))
    for q in (1 - 1e-14, 1 + 1e-14, 1 + 1e-9):
        assert float(gm.vendi(X, q=q, backend=backend)) == pytest.approx(at_one, rel=1e-7)
    # the expm1/log1p branch against the reference's plain sums (eigenvalue round-off ~1e-12 relative)
    assert float(gm.vendi(X, q=1.3, backend=backend)) == pytest.approx(ref.ref_vendi(X, q=1.3), rel=1e-8)
    assert float(gm.vendi(X, q=0.7, backend=backend)) == pytest.approx(ref.ref_vendi(X, q=0.7), rel=1e-8)


def test_indefinite_matrices_are_rejected():
    with pytest.raises(ValueError, match="K"):
        gm.vendi_from_gram(np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="eigenvalues"):
        gm.vendi_from_eigenvalues([0.5, -0.6, 0.5])
    assert gm.vendi_from_eigenvalues([0.5, -1e-18, 0.5]) == pytest.approx(2.0)


def test_scores_stay_within_their_range(backend):
    assert 1.0 <= float(gm.vendi(np.ones((1, 3)), method="dual", backend=backend)) <= 1.0
    assert float(gm.vendi(np.eye(5, dtype=bool), backend=backend)) <= 5.0


@pytest.mark.parametrize("kernel", ["rbf", "cosine", "linear", "laplacian"])
@pytest.mark.parametrize("param", ["gamma", "coef0", "degree"])
def test_polynomial_parameters_on_other_kernels_are_rejected(kernel, param):
    with pytest.raises(TypeError, match=param):
        gm.vendi(R, kernel=kernel, bandwidth=1.0 if kernel in ("rbf", "laplacian") else None, **{param: 2})


@pytest.mark.parametrize("kernel", ["cosine", "linear"])
def test_auto_q2_uses_the_dual_when_d_is_small(backend, kernel):
    X = np.random.default_rng(4).standard_normal((200, 6)) + 0.5
    s = gm.vendi(X, q=2, kernel=kernel, backend=backend)
    assert s.method == "dual"
    assert float(s) == pytest.approx(ref.ref_vendi(X, q=2, kernel=kernel), rel=1e-10)
