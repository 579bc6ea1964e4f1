"""Kernel specifications: one resolved description of k(x, y) shared by every backend.

The kernels and their conventions are those of shared/METRICS.md:

=============  ==========================================  =============================
name           k(x, y)                                     parameters
=============  ==========================================  =============================
linear         x.y
cosine         x.y / (|x| |y|)                             zero rows are an error
rbf            exp(-|x - y|^2 / (2 sigma^2))               sigma = ``bandwidth``
laplacian      exp(-|x - y| / sigma)                       sigma = ``bandwidth``
polynomial     (gamma x.y + coef0)^degree                  gamma = 1/d, coef0 = 1, degree = 3
=============  ==========================================  =============================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..support.arrays import array_namespace, to_float
from ..support.validation import (
    check_embeddings,
    check_int,
    check_kernel,
    check_nonzero_rows,
    check_pair,
    check_positive,
)

#: At most this many rows enter the bandwidth heuristic (its pairwise distances are O(s^2)).
BANDWIDTH_SUBSAMPLE = 1000
BANDWIDTH_SEED = 0
TRANSLATION_INVARIANT = ("rbf", "laplacian")


@dataclass(frozen=True)
class KernelSpec:
    """A kernel with every parameter fixed (the bandwidth already chosen)."""

    name: str
    bandwidth: float | None = None
    gamma: float | None = None
    coef0: float = 1.0
    degree: int = 3

    @property
    def unit_diagonal(self) -> bool:
        """k(x, x) = 1 for every x, so trace(K) = n."""
        return self.name in ("cosine", "rbf", "laplacian")

    @property
    def sigma(self) -> float:
        """The bandwidth of rbf/laplacian, which :func:`resolve_kernel` always sets for them."""
        if self.bandwidth is None:
            raise ValueError(f"bandwidth: the {self.name} kernel has none")
        return self.bandwidth

    def engine_args(self):
        """(kernel, bandwidth, gamma, coef0, degree) as the compiled engines take them."""
        return (self.name, self.bandwidth or 1.0, self.gamma or 1.0, float(self.coef0), int(self.degree))


def median_heuristic_bandwidth(X, max_rows: int = BANDWIDTH_SUBSAMPLE, seed: int = BANDWIDTH_SEED) -> float:
    """The median Euclidean distance between distinct rows of a seeded subsample of ``X``.

    At most ``max_rows`` rows are drawn without replacement with ``numpy.random.default_rng(seed)``;
    the median is over the pairs i < j, in float64.
    """
    xp = array_namespace(X)
    n = X.shape[0]
    if n < 2:
        raise ValueError("bandwidth: cannot be chosen from a single sample; pass bandwidth= explicitly")
    if n > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))
        X = X[xp.asarray(rows)]
    Z = X.astype(xp.float64)
    Z = Z - Z.mean(axis=0)
    scale = power_of_two_scale(Z)  # exact; keeps |z|^2 finite for |x| up to the float64 limit
    if scale != 1.0:
        Z = Z * scale
    sq = (Z * Z).sum(axis=1)
    d2 = squared_distances(sq[:, None], sq[None, :], Z @ Z.T)
    iu = xp.triu_indices(Z.shape[0], k=1)
    median = to_float(xp.median(xp.sqrt(d2[iu]))) / scale
    if not median > 0:
        raise ValueError(
            "bandwidth: the median distance between samples is 0 (most samples coincide); pass bandwidth= explicitly"
        )
    return median


def resolve_kernel(kernel, X, bandwidth=None, gamma=None, coef0=None, degree=None, **unknown) -> KernelSpec:
    """Check the kernel's name and parameters against the data ``X`` and fix the bandwidth."""
    if unknown:
        raise TypeError(f"{', '.join(unknown)}: unexpected kernel parameter(s)")
    name = check_kernel(kernel)
    if name != "polynomial":
        for param, value in (("gamma", gamma), ("coef0", coef0), ("degree", degree)):
            if value is not None:
                raise TypeError(f"{param}: only the polynomial kernel takes it, not {name!r}")
    if name in TRANSLATION_INVARIANT:
        bandwidth = check_positive(bandwidth, "bandwidth", allow_none=True)
        if bandwidth is None:
            bandwidth = median_heuristic_bandwidth(X)
        return KernelSpec(name, bandwidth=bandwidth)
    if bandwidth is not None:
        check_positive(bandwidth, "bandwidth")  # still reject nonsense, though this kernel has no bandwidth
    if name == "cosine":
        check_nonzero_rows(X)
    if name == "polynomial":
        gamma = 1.0 / X.shape[1] if gamma is None else check_positive(gamma, "gamma")
        coef0 = 1.0 if coef0 is None else coef0
        if (
            isinstance(coef0, bool)
            or not isinstance(coef0, (int, float, np.floating, np.integer))
            or not math.isfinite(coef0)
        ):
            raise ValueError(f"coef0: expected a finite number, got {coef0!r}")
        degree = check_int(3 if degree is None else degree, "degree", low=1, high=64)
        return KernelSpec(name, gamma=gamma, coef0=float(coef0), degree=degree)
    return KernelSpec(name)


#: Values whose magnitudes lie in [2^-32, 2^32] give dot products far from float32's overflow and underflow
#: (for any d below 2^20): only outside it are the sets rescaled.
SAFE_MAGNITUDE = 2.0**32


def power_of_two_scale(*arrays) -> float:
    """1, or 2^-e with 2^(e-1) <= max |a| < 2^e when max |a| is outside the safe range: multiplying by it is
    exact and brings the values near 1.

    Below 2^-1023 (float64 denormals, e.g. X * 1e-310) 2^-e is not a finite float64: the scale stops at
    2^1023, which still brings max |a| to at least 2^-51 (the smallest denormal, 2^-1074, included)."""
    largest = max(max(to_float(a.max()), -to_float(a.min())) for a in arrays if a is not None)
    if not math.isfinite(largest) or 1.0 / SAFE_MAGNITUDE <= largest <= SAFE_MAGNITUDE or largest == 0:
        return 1.0
    return math.ldexp(1.0, min(-math.frexp(largest)[1], 1023))  # ldexp(1, 1024) overflows


#: Rows per chunk of the float64 transformations below (bounds their float64 scratch).
CHUNK_ROWS = 4096

#: Cosine: rows whose norms lie in [2^-30, 2^30] (float32) or [2^-500, 2^500] (float64) give dot products that
#: neither overflow nor underflow; outside, each row is divided by its norm first.
SAFE_ROW_NORM_EXPONENT = {np.dtype(np.float32): 30, np.dtype(np.float64): 500}

#: rbf/laplacian in float32: the tiles' squared distances |x|^2 + |y|^2 - 2 x.y carry a rounding error of about
#: eps32 (|x|^2 + |y|^2), i.e. an error of eps32 |x|^2 / sigma^2 in the exponent. Above this bound (sets spread
#: over more than ~64 bandwidths around their mean) the kernel is computed in float64 instead.
FLOAT32_EXPONENT_ERROR = 2.0**-12


def _chunks(n: int):
    for start in range(0, n, CHUNK_ROWS):
        yield start, min(n, start + CHUNK_ROWS)


def _transformed(A, transform, dtype):
    """transform(rows in float64) for every chunk of rows of A, written into a new array of ``dtype``."""
    xp = array_namespace(A)
    if A.shape[0] <= CHUNK_ROWS:
        return transform(A.astype(xp.float64)).astype(dtype)
    out = xp.empty(A.shape, dtype=dtype)
    for start, stop in _chunks(A.shape[0]):
        out[start:stop] = transform(A[start:stop].astype(xp.float64))
    return out


def _scaled_rows(rows):
    """(rows times a power of two per row that brings its largest entry near 1: exact, (that power)), float64."""
    xp = array_namespace(rows)
    top = xp.abs(rows).max(axis=1)
    # clipped so that the power itself is a normal float64: 2^1023 brings the smallest denormal to 2^-51
    exponent = xp.clip(-xp.frexp(xp.where(top > 0, top, 1.0))[1], -1022, 1023)
    unit = xp.ldexp(xp.ones_like(top), exponent)
    return rows * unit[:, None], unit


def _unit_rows(A):
    """A with every row divided by its norm (float64 arithmetic, A's dtype), or A itself when its norms are safe.

    Each row is first multiplied by a power of two of its own (exact), so that a row of denormals keeps its
    direction and a row near the float64 limit does not overflow its sum of squares."""
    xp = array_namespace(A)
    bound = 2.0 ** SAFE_ROW_NORM_EXPONENT[np.dtype(A.dtype)]
    # squares summed in float64 (exact range for float32 rows; a float64 row beyond the bound overflows or
    # underflows its sum here, and is then outside the bound as it should be)
    with np.errstate(over="ignore", under="ignore"):
        sq_norms = xp.einsum("ij,ij->i", A, A, dtype=xp.float64)
    if bool(xp.all((sq_norms >= bound**-2) & (sq_norms <= bound**2))):
        return A

    def unit_rows(rows):
        scaled, _ = _scaled_rows(rows)
        return scaled / xp.sqrt((scaled * scaled).sum(axis=1))[:, None]

    return _transformed(A, unit_rows, A.dtype)


def prepare_inputs(spec: KernelSpec, X, Y=None, scale_invariant: bool = False):
    """What the engines compute on: (engine_spec, X, Y), new arrays, the caller's never touched.

    - cosine: rows whose norms are too small or too large for their dtype's products (a float32 row of 2e-25,
      denormals, 1e20) are divided by their norms first (in float64): the cosine of two identical rows is 1
      whatever their norms, and rows of very different norms do not share one scale.
    - rbf and laplacian see only x - y, and |x|^2 + |y|^2 - 2 x.y loses digits in float32 when the embeddings
      sit far from the origin: both sets are shifted by X's mean (computed without overflow), and multiplied by
      a power of two (exact) that brings them near 1 when they are outside [2^-32, 2^32], with the bandwidth
      scaled alike. float32 sets spread over more than ~64 bandwidths (FLOAT32_EXPONENT_ERROR) are computed in
      float64, where the tiles' rounding stays far below the kernel's scale.
    - linear, when the caller's quantity is scale invariant (spectra normalised by the trace): the power-of-two
      scaling, against overflow (|x| ~ 1e20 in float32) and underflow. Polynomial kernels are computed as given.
    The scaled copies are computed in float64 and then stored in the engine's dtype, so that a scale beyond
    float32's range (values near 1e-39) never overflows.
    """
    xp = array_namespace(X)
    if spec.name == "cosine":
        X = _unit_rows(X)
        Y = None if Y is None else _unit_rows(Y)
    elif spec.name in TRANSLATION_INVARIANT:
        # Column extremes (no temporaries) give the largest value and, once the shift is known, the exact spread
        # max |x - shift| of both sets.
        col_max = xp.stack([A.max(axis=0) for A in (X, Y) if A is not None]).max(axis=0).astype(xp.float64)
        col_min = xp.stack([A.min(axis=0) for A in (X, Y) if A is not None]).min(axis=0).astype(xp.float64)
        largest = max(to_float(col_max.max()), -to_float(col_min.min()))
        # powers of two: exact. `pre` brings values beyond 2^500 (or below 2^-500) near 1 so that the mean cannot
        # overflow (or lose its digits); 1 for ordinary data, so that no pass is spent on it.
        pre = 1.0
        if largest > 0 and not 2.0**-500 <= largest <= 2.0**500:
            pre = math.ldexp(1.0, max(-1000, min(1000, -math.frexp(largest)[1])))
        if pre == 1.0:
            shift = X.mean(axis=0, dtype=xp.float64)
        else:
            shift = sum((X[a:b].astype(xp.float64) * pre).sum(axis=0) for a, b in _chunks(X.shape[0])) / X.shape[0]
        spread = to_float(xp.maximum(col_max * pre - shift, shift - col_min * pre).max())
        post = 1.0
        if spread > 0 and not 1.0 / SAFE_MAGNITUDE <= spread <= SAFE_MAGNITUDE:
            post = math.ldexp(1.0, max(-1000, min(1000, -math.frexp(spread)[1])))
        scale = pre * post  # may be far outside float32's range: applied in float64 only
        # a scaled bandwidth below the smallest float64 (sigma 1e-30 on values near 1e300) stays positive: k = 0
        # beyond distance 0 either way, where 0 would reach the engines as "no bandwidth"
        bandwidth = max(spec.sigma * scale, math.ulp(0.0))
        dtype = X.dtype
        if dtype == xp.float32 and (spread * post) ** 2 * X.shape[1] * 2.0**-24 > FLOAT32_EXPONENT_ERROR * bandwidth**2:
            dtype = xp.float64
        if scale == 1.0 and dtype == X.dtype:  # ordinary data: one pass in the data's own dtype
            X, Y = X - shift.astype(dtype), None if Y is None else Y - shift.astype(dtype)
        else:
            X = _transformed(X, lambda rows: (rows * pre - shift) * post, dtype)
            Y = None if Y is None else _transformed(Y, lambda rows: (rows * pre - shift) * post, dtype)
        spec = replace(spec, bandwidth=bandwidth)
    elif spec.name == "linear" and scale_invariant:
        scale = power_of_two_scale(X, Y)
        if scale != 1.0:
            X = _transformed(X, lambda rows: rows * scale, X.dtype)
            Y = None if Y is None else _transformed(Y, lambda rows: rows * scale, Y.dtype)
    X = xp.ascontiguousarray(X)
    Y = None if Y is None else xp.ascontiguousarray(Y)
    return spec, X, Y


def kernel_diagonal(spec: KernelSpec, X):
    """k(x_i, x_i) for every row, in float64."""
    xp = array_namespace(X)
    n = X.shape[0]
    if spec.unit_diagonal:
        return xp.ones(n, dtype=xp.float64)
    Z = X.astype(xp.float64)
    sq = (Z * Z).sum(axis=1)
    if spec.name == "linear":
        return sq
    return (spec.gamma * sq + spec.coef0) ** spec.degree


#: Squared distances below this many units of rounding of |x|^2 + |y|^2 are taken as 0: identical rows
#: then get k = 1 exactly, not 1 - 1e-14 (which q = 0 would count as an extra eigenvalue). The compiled
#: engines use the same rule (cpp/kernels.cpp).
DISTANCE_ROUNDING_ULPS = 8


def squared_distances(x_sq, y_sq, dots):
    """max(|x|^2 + |y|^2 - 2 x.y, 0), with results within rounding of 0 set to exactly 0."""
    xp = array_namespace(dots)
    total = x_sq + y_sq
    d2 = total - 2 * dots
    eps = np.finfo(dots.dtype).eps
    return xp.where(d2 <= total * dots.dtype.type(DISTANCE_ROUNDING_ULPS * eps), dots.dtype.type(0), d2)


def apply_kernel(spec: KernelSpec, dots, x_sq=None, y_sq=None, x_inv=None, y_inv=None):
    """Turn a block of dot products into kernel values (the NumPy/CuPy fallback's epilogue).

    Computes in the block's dtype, like the compiled engines, and clips what rounding pushes out of range.
    """
    xp = array_namespace(dots)
    name = spec.name
    if name == "linear":
        return dots
    if name == "cosine":
        return xp.clip(dots * x_inv[:, None] * y_inv[None, :], -1.0, 1.0)
    if name == "polynomial":
        # repeated multiplication, as cpp/numerics.hpp's polynomial_kernel (pow would round differently)
        base = dots * dots.dtype.type(spec.gamma) + dots.dtype.type(spec.coef0)
        value = base
        for _ in range(1, spec.degree):
            value = value * base
        return value
    d2 = squared_distances(x_sq[:, None], y_sq[None, :], dots)
    if name == "rbf":
        return xp.exp(d2 * negative_exponent_scale(0.5, spec.sigma * spec.sigma, dots.dtype))
    return xp.exp(xp.sqrt(d2) * negative_exponent_scale(1.0, spec.sigma, dots.dtype))


def negative_exponent_scale(numerator: float, denominator: float, dtype):
    """-numerator / denominator in ``dtype``, saturated at its largest finite magnitude (as cpp/kernels.cpp): a
    bandwidth so small that the scale overflows still gives k = 1 at distance 0 and k = 0 beyond it."""
    lowest = -float(np.finfo(dtype).max)
    with np.errstate(over="ignore", divide="ignore"):
        scale = -np.float64(numerator) / np.float64(denominator)
    return np.dtype(dtype).type(max(float(scale), lowest))


def kernel_inputs(X, Y, kernel, bandwidth, kernel_params, scale_invariant=False, device=None):
    """Validate (X, Y), resolve the kernel (bandwidth from X), and prepare what the engines compute on.

    Returns (spec, engine_spec, X, Y): ``spec`` as the user sees it (the bandwidth chosen), ``engine_spec``
    with the bandwidth in the units of the shifted and rescaled arrays (see :func:`prepare_inputs`).
    """
    if Y is None:
        X = check_embeddings(X, "X", device=device)
    else:
        X, Y = check_pair(X, Y, device=device)
    spec = resolve_kernel(kernel, X, bandwidth, **kernel_params)
    if Y is not None and spec.name == "cosine":
        check_nonzero_rows(Y, "Y")
    engine_spec, X, Y = prepare_inputs(spec, X, Y, scale_invariant)
    return spec, engine_spec, X, Y
