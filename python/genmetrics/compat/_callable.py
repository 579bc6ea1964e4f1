"""Kernel matrices from a user's Python similarity function, shared by the compat shims."""

from __future__ import annotations

import numbers

import numpy as np


def _similarity(value, name: str) -> float:
    """A kernel function's value as a float: real numbers only (``float()`` would drop an imaginary part of a
    NumPy complex, or parse a string)."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())[()]
    if isinstance(value, np.bool_):
        return float(value)
    if not isinstance(value, numbers.Real):  # bool, int, float and NumPy's real scalars are
        raise TypeError(f"{name} must return a real number, got {type(value).__name__} {value!r:.60}")
    return float(value)


def gram_from_callable(kernel, samples, others=None, name: str = "k"):
    """K[i, j] = kernel(samples[i], others[j]) in float64, one Python call per pair.

    With ``others=None`` the function is assumed symmetric and called once per unordered pair (i <= j),
    as the reference packages do. Each value must be a real number (Python or NumPy, bool included, or a
    one-element array of one): a complex, a string or anything else is a TypeError naming ``name``; NaN/inf a
    ValueError.
    """
    if not callable(kernel):
        raise TypeError(f"{name} must be a callable similarity function {name}(a, b)")
    n = len(samples)
    if n == 0:
        raise ValueError("samples is empty")
    if others is None:
        K = np.empty((n, n), dtype=np.float64)
        for i in range(n):
            a = samples[i]
            for j in range(i, n):
                K[i, j] = K[j, i] = _similarity(kernel(a, samples[j]), name)
    else:
        K = np.empty((n, len(others)), dtype=np.float64)
        for i in range(n):
            a = samples[i]
            for j in range(len(others)):
                K[i, j] = _similarity(kernel(a, others[j]), name)
    if not np.all(np.isfinite(K)):
        raise ValueError(f"{name} returned NaN or inf")
    return K
