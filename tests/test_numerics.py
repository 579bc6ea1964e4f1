"""The Python copies of the numerical rules against their one C++/CUDA home, cpp/numerics.hpp.

The compiled engines include that header; the array engine (NumPy/CuPy), the CUDA engine's margins (computed in
Python and passed to the kernels) and the GPU emulator in tests/_fake_gpu.py keep Python copies of the same rules.
``genmetrics._core._numerics`` evaluates the header's functions, and every copy must agree bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

# importing genmetrics (through its engine) loads the BLAS that _core links against before _core itself
from genmetrics.engine import kernels as py_kernels
from genmetrics.engine import points as py_points

core = pytest.importorskip("genmetrics._core", reason="the compiled CPU engine is not built")
numerics = core._numerics

DTYPES = {"float32": np.float32, "float64": np.float64}
UNIT_ROUNDOFF = {"float32": 2.0**-24, "float64": 2.0**-53}
SMALLEST_NORMAL = {"float32": 2.0**-126, "float64": 2.0**-1022}


def test_constants_and_kernel_codes():
    import _fake_gpu

    assert numerics.DISTANCE_ROUNDING_ULPS == py_kernels.DISTANCE_ROUNDING_ULPS == _fake_gpu.DISTANCE_ROUNDING_ULPS
    # the codes the GPU module takes (cuda/engine.hpp) are those its emulator implements
    assert numerics.KERNEL_CODES == _fake_gpu._KERNELS


def _bits_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _near_zero_distances(dtype, n, rng):
    """Norms and dot products whose |x|^2 + |y|^2 - 2 x.y lands on both sides of the 8-ulp zero rule."""
    T = DTYPES[dtype]
    x_sq = (rng.uniform(0.0, 4.0, n) * 10.0 ** rng.integers(-30, 30, n)).astype(T)
    y_sq = (x_sq.astype(np.float64) * (1 + rng.normal(0, 1e-6, n))).astype(T)
    total = x_sq.astype(np.float64) + y_sq.astype(np.float64)
    ulps = rng.integers(-40, 40, n) * float(np.finfo(T).eps)
    dots = (total / 2 * (1 - ulps)).astype(T)
    # some far apart, some exact duplicates, some zero vectors
    dots[: n // 8] = (rng.uniform(-1, 1, n // 8) * total[: n // 8]).astype(T)
    y_sq[n // 8 : n // 4], dots[n // 8 : n // 4] = x_sq[n // 8 : n // 4], x_sq[n // 8 : n // 4]
    x_sq[-4:], y_sq[-4:], dots[-4:] = 0, 0, 0
    return x_sq, y_sq, dots


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_squared_distances_zero_rule(dtype):
    rng = np.random.default_rng(11)
    x_sq, y_sq, dots = _near_zero_distances(dtype, 4096, rng)
    expected = numerics.squared_distances(x_sq, y_sq, dots)
    with np.errstate(over="ignore", invalid="ignore"):
        got = py_kernels.squared_distances(x_sq, y_sq, dots)
    assert _bits_equal(got, expected)
    # the rule did act: exact zeros where rounding left a small positive or negative value
    raw = (x_sq + y_sq) - 2 * dots
    assert np.any((expected == 0) & (raw != 0))
    assert np.any(expected > 0)


@given(
    numerator=st.sampled_from([0.5, 1.0]),
    denominator=st.floats(min_value=0.0, max_value=math.inf, exclude_min=True),
    dtype=st.sampled_from(sorted(DTYPES)),
)
def test_negative_exponent_scale(numerator, denominator, dtype):
    expected = numerics.negative_exponent_scale(numerator, denominator, dtype)
    got = py_kernels.negative_exponent_scale(numerator, denominator, DTYPES[dtype])
    assert isinstance(got, DTYPES[dtype])
    assert np.float64(got).tobytes() == np.float64(expected).tobytes()


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("bandwidth", [1e-300, 1e-160, 1e-20, 1e-3, 1.0, 7.5, 1e20, 1e160, 1e300])
def test_negative_exponent_scale_saturates(dtype, bandwidth):
    for numerator, denominator in ((0.5, bandwidth * bandwidth), (1.0, bandwidth)):
        expected = numerics.negative_exponent_scale(numerator, denominator, dtype)
        assert math.isfinite(expected) and expected <= 0
        assert float(py_kernels.negative_exponent_scale(numerator, denominator, DTYPES[dtype])) == expected


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("d", [1, 2, 7, 64, 512, 2048, 100_000, 2**40])
def test_margin_coefficient(dtype, d):
    assert py_points.margin_coefficient(d, UNIT_ROUNDOFF[dtype]) == numerics.margin_coefficient(d, dtype)


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("d", [1, 3, 512, 4097])
@pytest.mark.parametrize("scale_exponent", [-500, -499, -100, -1, 0, 1, 100, 499, 500])
def test_underflow_margin(dtype, d, scale_exponent):
    # the frames' scales: powers of two in [2^-500, 2^500] (prepare_points clamps them so that scale^2 is finite)
    scale = math.ldexp(1.0, scale_exponent)
    expected = numerics.underflow_margin(d, scale, dtype)
    assert py_points.underflow_margin(d, scale, SMALLEST_NORMAL[dtype]) == expected


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("degree", [1, 2, 3, 5, 8])
def test_polynomial_power_rule(dtype, degree):
    """The polynomial kernel's power by repeated multiplication, as numerics.hpp's polynomial_kernel.

    ``_numerics`` does not expose that rule; the compiled gram does. With one feature, gamma = 1 and coef0 = 0
    its dot products and the base gamma x.y + coef0 are exact products (no fused multiply-add can change
    them), so the power is the only rounding left to compare.
    """
    T = DTYPES[dtype]
    rng = np.random.default_rng(degree)
    X, Y = rng.normal(size=(97, 1)).astype(T), rng.normal(size=(61, 1)).astype(T)
    spec = py_kernels.KernelSpec("polynomial", gamma=1.0, coef0=0.0, degree=degree)
    expected = core.gram(X, Y, "polynomial", 1.0, 1.0, 0.0, degree, 1)
    assert _bits_equal(py_kernels.apply_kernel(spec, X @ Y.T), expected)
