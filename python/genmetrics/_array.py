"""Which array library an input belongs to (NumPy here; CuPy and other GPU arrays later)."""
from __future__ import annotations

import numpy as np


def is_device_array(x) -> bool:
    """True for arrays that live on a GPU (CuPy, or anything with ``__cuda_array_interface__``)."""
    return hasattr(x, "__cuda_array_interface__")


def array_namespace(*arrays):
    """The NumPy-like module that operates on ``arrays``: ``cupy`` for GPU arrays, else ``numpy``."""
    for a in arrays:
        if is_device_array(a):
            import cupy  # noqa: PLC0415 (optional dependency)

            return cupy
    return np


def to_float(value) -> float:
    """A Python float from a NumPy/CuPy scalar or 0-d array."""
    return float(value.item() if hasattr(value, "item") else value)
