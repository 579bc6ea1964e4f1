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

from ._array import array_namespace, to_float
from ._validation import check_int, check_kernel, check_nonzero_rows, check_positive

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
    scale = _power_of_two_scale(Z)  # exact; keeps |z|^2 finite for |x| up to the float64 limit
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
        if isinstance(coef0, bool) or not isinstance(coef0, (int, float, np.floating, np.integer)) or not math.isfinite(coef0):
            raise ValueError(f"coef0: expected a finite number, got {coef0!r}")
        degree = check_int(3 if degree is None else degree, "degree", low=1, high=64)
        return KernelSpec(name, gamma=gamma, coef0=float(coef0), degree=degree)
    return KernelSpec(name)


#: Values whose magnitudes lie in [2^-32, 2^32] give dot products far from float32's overflow and underflow
#: (for any d below 2^20): only outside it are the sets rescaled.
SAFE_MAGNITUDE = 2.0**32


def _power_of_two_scale(*arrays) -> float:
    """1, or 2^-e with 2^(e-1) <= max |a| < 2^e when max |a| is outside the safe range: multiplying by it is
    exact and brings the values near 1."""
    largest = max(max(to_float(a.max()), -to_float(a.min())) for a in arrays if a is not None)
    if not math.isfinite(largest) or 1.0 / SAFE_MAGNITUDE <= largest <= SAFE_MAGNITUDE or largest == 0:
        return 1.0
    return math.ldexp(1.0, -math.frexp(largest)[1])


def prepare_inputs(spec: KernelSpec, X, Y=None, scale_invariant: bool = False):
    """What the engines compute on: (engine_spec, X, Y), new arrays, the caller's never touched.

    - rbf and laplacian see only x - y, and |x|^2 + |y|^2 - 2 x.y loses digits in float32 when the embeddings
      sit far from the origin: both sets are shifted by X's mean.
    - Dot products overflow (|x| ~ 1e20 in float32) or underflow (|x| ~ 1e-20): the sets are multiplied by a
      power of two (exact) that brings them near 1, wherever that leaves the result unchanged: always for
      cosine, rbf and laplacian (with the bandwidth scaled alike), and for linear when the caller's quantity is
      scale invariant (spectra normalised by the trace). Polynomial kernels are computed as given.
    """
    xp = array_namespace(X)
    if spec.name in TRANSLATION_INVARIANT:
        shift = X.astype(xp.float64).mean(axis=0).astype(X.dtype)
        X = X - shift
        Y = None if Y is None else Y - shift
    if spec.name in ("cosine", "rbf", "laplacian") or (spec.name == "linear" and scale_invariant):
        scale = _power_of_two_scale(X, Y)
        if scale != 1.0:
            X = X * X.dtype.type(scale)
            Y = None if Y is None else Y * Y.dtype.type(scale)
            if spec.bandwidth is not None:
                spec = replace(spec, bandwidth=spec.bandwidth * scale)
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
        return (dots * dots.dtype.type(spec.gamma) + dots.dtype.type(spec.coef0)) ** spec.degree
    d2 = squared_distances(x_sq[:, None], y_sq[None, :], dots)
    if name == "rbf":
        return xp.exp(d2 * dots.dtype.type(-0.5 * (1.0 / spec.bandwidth) ** 2))  # no overflow of bandwidth^2
    return xp.exp(xp.sqrt(d2) * dots.dtype.type(-1.0 / spec.bandwidth))
