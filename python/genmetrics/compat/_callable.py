"""Kernel matrices from a user's Python similarity function, shared by the compat shims."""
from __future__ import annotations

import numpy as np


def gram_from_callable(kernel, samples, others=None, name: str = "k"):
    """K[i, j] = kernel(samples[i], others[j]) in float64, one Python call per pair.

    With ``others=None`` the function is assumed symmetric and called once per unordered pair (i <= j),
    as the reference packages do.
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
                K[i, j] = K[j, i] = float(kernel(a, samples[j]))
    else:
        K = np.empty((n, len(others)), dtype=np.float64)
        for i in range(n):
            a = samples[i]
            for j in range(len(others)):
                K[i, j] = float(kernel(a, others[j]))
    if not np.all(np.isfinite(K)):
        raise ValueError(f"{name} returned NaN or inf")
    return K
