"""Which array library an input belongs to, and moving arrays between the host and the GPU.

Host arrays are NumPy's. GPU arrays are CuPy's: CuPy arrays themselves, and anything exposing
``__cuda_array_interface__`` (PyTorch CUDA tensors, Numba, JAX) or a CUDA DLPack capsule, taken by CuPy
without a copy.
"""

from __future__ import annotations

import numpy as np

#: DLPack device types of CUDA memory (kDLCUDA, kDLCUDAHost is host memory, kDLCUDAManaged).
_DLPACK_CUDA_DEVICES = (2, 13)


def _cupy():
    import cupy  # noqa: PLC0415 (optional dependency: the `cuda` extra)

    return cupy


def is_device_array(x) -> bool:
    """True for arrays that live on a GPU: ``__cuda_array_interface__``, or a DLPack array on a CUDA device."""
    try:  # a CUDA tensor that requires grad raises from the property itself; it is a GPU array all the same
        if hasattr(x, "__cuda_array_interface__"):
            return True
    except RuntimeError:
        return True
    device = getattr(x, "__dlpack_device__", None)
    if device is None or isinstance(x, np.ndarray):
        return False
    try:
        return int(device()[0]) in _DLPACK_CUDA_DEVICES
    except Exception:  # a foreign object whose __dlpack_device__ misbehaves is not a GPU array
        return False


def array_namespace(*arrays):
    """The NumPy-like module that operates on ``arrays``: ``cupy`` for GPU arrays, else ``numpy``."""
    for a in arrays:
        if is_device_array(a):
            return _cupy()
    return np


def to_device(x, name: str = "X"):
    """A CuPy view of a GPU array (no copy), or a copy of a host array on the current GPU."""
    try:
        cupy = _cupy()
    except ImportError:
        raise ValueError(f"{name}: GPU arrays need CuPy (pip install 'genmetrics[cuda]')") from None
    if isinstance(x, cupy.ndarray):
        return x
    if hasattr(x, "__cuda_array_interface__"):
        return cupy.asarray(x)
    if is_device_array(x):
        return cupy.from_dlpack(x)
    return cupy.asarray(np.asarray(x))


def to_host(x):
    """A NumPy array of ``x`` (a copy from the GPU for device arrays, else ``np.asarray``)."""
    if is_device_array(x):
        return _cupy().asnumpy(to_device(x))
    return np.asarray(x)


def to_float(value) -> float:
    """A Python float from a NumPy/CuPy scalar or 0-d array."""
    return float(value.item() if hasattr(value, "item") else value)
