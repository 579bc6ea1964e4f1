"""Argument checks shared by every public function.

Each check names the argument it rejects, so that a user reading ``ValueError: X: ...`` knows which
input to fix. Arrays are validated once, at the public boundary; the engine below trusts them.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .arrays import array_namespace, is_device_array, to_device, to_host

KERNELS = ("linear", "cosine", "rbf", "laplacian", "polynomial")
KERNEL_ALIASES = {"gaussian": "rbf"}


def _place(X, name: str, device):
    """``X`` on the engine's side: ``device`` "gpu" (a CuPy array, no copy for GPU inputs), "host", or None (as is)."""
    if device == "gpu":
        try:
            X = to_device(X, name)
        except (TypeError, ValueError) as exc:
            if "CuPy" in str(exc):
                raise
            raise TypeError(f"{name}: cannot be converted to an array ({exc})") from None
        current = type(X.device)()  # cupy.cuda.Device(): the device the kernels are launched on
        if X.device.id != current.id:
            raise ValueError(
                f"{name}: lives on GPU {X.device.id} but the current device is GPU {current.id}; "
                f"run under `with cupy.cuda.Device({X.device.id}):`"
            )
        return X
    if device == "host" and is_device_array(X):
        return to_host(X)
    return X


def plain_input(values, name: str):
    """``values`` as something NumPy or CuPy can take without losing meaning, before any conversion.

    - A masked array (``numpy.ma``) with masked entries is a TypeError: ``np.asarray`` would silently use the
      values under the mask (one masked outlier can change a metric by orders of magnitude). Pass the rows
      you mean, e.g. ``X[~X.mask.any(axis=1)]`` (``s[~s.mask]`` for a vector). A masked array with nothing
      masked is its data.
    - A tensor that requires grad (PyTorch's ``requires_grad``; its ``__array__`` raises) is taken through
      ``.detach()``: a new tensor on the same memory, the caller's is not changed. The metrics are numbers,
      not differentiable expressions (``genmetrics.torch`` has the differentiable ones).
    """
    if isinstance(values, np.ma.MaskedArray):
        if np.ma.getmask(values) is not np.ma.nomask and bool(np.ma.getmaskarray(values).any()):
            rows = f"{name}[~{name}.mask.any(axis=1)]" if np.ndim(values) == 2 else f"{name}[~{name}.mask]"
            raise TypeError(
                f"{name}: a masked array (numpy.ma) with masked entries; genmetrics would read the "
                f"values under the mask. Pass the entries to use, e.g. {rows}"
            )
        return np.ma.getdata(values)
    if getattr(values, "requires_grad", False) is True and callable(getattr(values, "detach", None)):
        return values.detach()
    return values


def as_real_array(values, name: str, device=None):
    """An array of real numbers (bool, integer or float) from ``values``, or a TypeError naming ``name``.

    A NumPy array (GPU arrays are copied to the host), or with ``device="gpu"`` a CuPy array (see
    :func:`check_embeddings`). Complex, string, bytes, datetime, timedelta, structured and object arrays are
    TypeErrors (NumPy would drop imaginary parts, parse strings or fail later with a message that names
    nothing). Masked arrays and tensors that require grad: see :func:`plain_input`.
    """
    values = plain_input(values, name)
    if device == "gpu":
        values = _place(values, name, device)
    else:
        try:
            values = to_host(values)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name}: cannot be converted to an array ({exc})") from None
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a real numeric array (real numbers), got dtype {values.dtype}")
    return values


def check_embeddings(X, name: str = "X", min_rows: int = 1, device=None):
    """Return ``X`` as a C-contiguous float32/float64 2-D array (a copy only when needed).

    float32 and float64 are kept, float16 becomes float32, integers and bool become float64.
    NaN/inf, non-2-D and empty arrays, complex, string, datetime, structured and object dtypes, and masked
    arrays with masked entries are rejected; tensors that require grad are detached (:func:`plain_input`).
    ``device`` ("host" or "gpu", an engine's side) moves the array there first; None leaves it where it is.
    """
    X = _place(plain_input(X, name), name, device)
    xp = array_namespace(X)
    if not is_device_array(X):
        X = as_real_array(X, name)
    elif X.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a real numeric array (real numbers), got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (samples x features), got {X.ndim}-D shape {tuple(X.shape)}")
    if X.shape[0] < min_rows:
        raise ValueError(f"{name}: needs at least {min_rows} row(s), got {X.shape[0]}")
    if X.shape[1] == 0:
        raise ValueError(f"{name}: has 0 features")
    original = X  # long double values can overflow the conversion below
    if X.dtype == xp.float16:
        X = X.astype(xp.float32)
    elif X.dtype not in (xp.float32, xp.float64):
        with np.errstate(over="ignore"):  # named below
            X = X.astype(xp.float64)
    if not bool(xp.all(xp.isfinite(X))):
        if X.dtype.kind == "f" and X.dtype != original.dtype and bool(xp.all(xp.isfinite(original))):
            largest = np.format_float_scientific(abs(original).max(), precision=2, unique=False)
            raise ValueError(f"{name}: values beyond float64's range (up to {largest}, {original.dtype}); rescale them")
        raise ValueError(f"{name}: contains NaN or infinite values")
    return xp.ascontiguousarray(X)


def check_pair(X, Y, x_name: str = "X", y_name: str = "Y", device=None):
    """Validate two embedding sets that are compared feature by feature; return them in one dtype."""
    X = check_embeddings(X, x_name, device=device)
    Y = check_embeddings(Y, y_name, device=device)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"{y_name}: has {Y.shape[1]} features but {x_name} has {X.shape[1]}; both sets must be embedded alike"
        )
    if X.dtype != Y.dtype:  # compute in the wider of the two
        wider = X.dtype if X.dtype.itemsize > Y.dtype.itemsize else Y.dtype
        X, Y = X.astype(wider), Y.astype(wider)
    return X, Y


def check_kernel(kernel) -> str:
    if not isinstance(kernel, str):
        raise TypeError(f"kernel: expected a name such as 'cosine' or 'rbf', got {type(kernel).__name__}")
    name = KERNEL_ALIASES.get(kernel.lower(), kernel.lower())
    if name not in KERNELS:
        raise ValueError(f"kernel: unknown kernel {kernel!r}; choose one of {', '.join(KERNELS)} (or 'gaussian')")
    return name


def check_positive(value, name: str, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a positive number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: must be a finite number > 0, got {value}")
    return value


def check_nonnegative(value, name: str) -> float:
    """A finite real number >= 0 (a ridge, a regulariser), as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number >= 0, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: must be a finite number >= 0, got {value}")
    return value


def check_fraction(value, name: str) -> float:
    """A real number in the open interval (0, 1) (a coverage level, a probability), as float; NaN is refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number in (0, 1), got {type(value).__name__}")
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name}: must be in the open interval (0, 1), got {value}")
    return value


def check_size(value, name: str, n: int, low: int = 2) -> int:
    """A sample (subset) size: an integer in [low, n], where n is the number of samples available."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected integers, got {type(value).__name__}")
    value = int(value)
    if not low <= value <= n:
        raise ValueError(f"{name}: every size must be an integer in [{low}, {n}] (the number of samples), got {value}")
    return value


def check_order(q, name: str = "q") -> float:
    """The order q of an entropy: any real >= 0, or infinity given as np.inf, float('inf') or 'inf'."""
    if isinstance(q, str):
        if q.strip().lower() == "inf":
            return math.inf
        raise ValueError(f"{name}: expected a number >= 0 or 'inf', got {q!r}")
    if isinstance(q, bool) or not isinstance(q, numbers.Real):
        raise TypeError(f"{name}: expected a number >= 0 or 'inf', got {type(q).__name__}")
    q = float(q)
    if math.isnan(q) or q < 0:
        raise ValueError(f"{name}: must be >= 0 (or 'inf'), got {q}")
    return q


def check_int(value, name: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name}: must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name}: must be <= {high}, got {value}")
    return value


def check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__}")
    return bool(value)


def check_choice(value, name: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_nonzero_rows(X, name: str = "X"):
    """The cosine kernel divides by row norms: a zero row has no direction."""
    xp = array_namespace(X)
    zero = xp.all(X == 0, axis=1)
    if bool(xp.any(zero)):
        first = int(xp.argmax(zero))
        raise ValueError(f"{name}: row {first} has zero norm; the cosine kernel is undefined for it")


def check_neighbor_count(k, available: int, name: str = "k", what: str = "X") -> int:
    """k nearest neighbours need at least k candidates: 1 <= k <= available."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(k).__name__}")
    k = int(k)
    if k < 1:
        raise ValueError(f"{name}: must be >= 1, got {k}")
    if k > available:
        raise ValueError(
            f"{name}: {k} neighbours requested but {what} offers only {available} candidate(s) per point; "
            f"use k <= {available}"
        )
    return k


def check_radii(radii, n: int, name: str = "radii"):
    """One finite radius >= 0 per reference point, as float64 (real dtypes only, see :func:`as_real_array`)."""
    r = as_real_array(radii, name).astype(np.float64)
    if r.ndim != 1 or r.shape[0] != n:
        raise ValueError(f"{name}: expected one radius per reference point, shape ({n},), got {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if np.any(r < 0):
        raise ValueError(f"{name}: radii must be >= 0")
    return np.ascontiguousarray(r)
