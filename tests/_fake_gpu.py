"""An emulated GPU for the tests: a fake ``cupy`` on NumPy and a fake ``genmetrics._cuda`` on raw pointers.

With both installed (:func:`installed`, or the pytest fixture :func:`fake_gpu`), ``genmetrics.engine.cuda``
(the CUDA driver) runs on a machine without a GPU, CuPy or CUDA: its tile loops, symmetric mirroring, pointer
arithmetic of slices, ball-test capacity regrowth, dtype handling and out-of-memory retries are exercised
against emulations of the kernels that follow the contracts of ``cuda/engine.hpp`` and the semantics of
``cuda/gram.cu`` and ``cuda/neighbors.cu``.

The fake ``cupy``
    :class:`ndarray` is a subclass of ``numpy.ndarray`` whose ``.data.ptr`` is the host address of its first
    element (so slices and views carry their offsets, as CuPy's do), which exposes
    ``__cuda_array_interface__`` (so ``genmetrics.support.arrays`` takes it for a GPU array) and which stays the
    subclass through NumPy operations. Like CuPy it refuses to mix with plain NumPy arrays in arithmetic and
    functions (TypeError), copies host arrays in ``asarray`` (device memory is not the caller's host memory),
    returns 0-d arrays from reductions and scalar indexing, and ``ascontiguousarray`` takes only device
    arrays. Every buffer it hands out is registered, so that the fake ``_cuda`` can check that each pointer
    and extent it is given lies inside live emulated device memory (instead of crashing on a bad address).
    Recently allocated buffers are kept alive for a while, as CuPy's memory pool keeps freed blocks: a
    temporary freed right after its pointer was taken stays readable for a kernel queued on the same stream
    (such pointers are listed in ``memory.dangling``). ``empty`` returns garbage (NaN, or a bit pattern), not
    zeros, as uninitialised device memory would. Allocations can be made to fail
    (:meth:`FakeCupy.fail_allocations`) with ``cupy.cuda.memory.OutOfMemoryError``; the free memory that
    ``cupy.cuda.runtime.memGetInfo`` reports is settable (:meth:`FakeCupy.set_free_memory`).

The fake ``genmetrics._cuda``
    Each binding of ``cuda/bindings_cuda.cpp`` with its argument names, the same argument checks, and a NumPy
    emulation of its kernel that reads and writes the memory behind the pointer integers (ctypes views of
    ``rows x cols`` elements with leading dimension ``ld``). ``ball_tests`` appends its undecided pairs in a
    scrambled order and keeps counting past ``capacity`` without writing past it, as the kernel's atomics do.
    Every call is counted (``calls``) and logged (``log``: the sizes, offsets, capacities and pair counts).
    What it does not emulate: asynchrony (every call completes before it returns) and the GPU's own rounding
    (nvcc contracts a * b + c into fused multiply-adds; NumPy rounds each operation).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import importlib
import math
import operator
import sys
import types
import weakref

import numpy as np

try:  # NumPy >= 2.0
    from numpy.lib.array_utils import byte_bounds as _byte_bounds
except ImportError:  # pragma: no cover - older NumPy
    _byte_bounds = np.byte_bounds  # noqa: NPY201


# ----------------------------------------------------------------------------------------------------------
# emulated device memory: registry of live buffers and a pool that keeps freed blocks for a while
# ----------------------------------------------------------------------------------------------------------


class DeviceMemory:
    """Byte ranges of the buffers behind the fake CuPy arrays, for the fake kernels' pointer checks."""

    #: recently allocated buffers stay alive this long (counted in allocations), as in a memory pool
    POOL_DEPTH = 512

    def __init__(self):
        self._owners = {}  # id(owner) -> (lo, hi, weakref)
        self._pool = collections.deque(maxlen=self.POOL_DEPTH)
        self._recent = collections.deque(maxlen=16)  # entries found lately (tile loops reuse the same buffers)
        self._checks = 0
        self.dangling = []  # (function, argument) whose memory was only alive through the pool

    def register(self, array: np.ndarray):
        owner = array
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        key = id(owner)
        entry = self._owners.get(key)
        if entry is not None and entry[2]() is owner:
            return
        lo, hi = _byte_bounds(owner)
        self._owners[key] = (lo, hi, weakref.ref(owner))
        self._pool.append(owner)

    def check(self, ptr: int, nbytes: int, function: str, argument: str):
        """Raise unless [ptr, ptr + nbytes) lies inside one live emulated buffer."""
        if nbytes <= 0:
            return
        self._checks += 1
        if self._checks % 1024 == 0:
            self._prune()
        found = None
        recent = self._recent
        for entry in recent:
            if entry[0] <= ptr and ptr + nbytes <= entry[1]:
                found = entry[2]()
                if found is not None:
                    break
        if found is None:
            for entry in reversed(self._owners.values()):  # the newest first: most pointers are recent
                if entry[0] <= ptr and ptr + nbytes <= entry[1]:
                    found = entry[2]()
                    if found is not None:
                        recent.appendleft(entry)
                        break
        if found is None:
            raise AssertionError(
                f"genmetrics._cuda.{function}: {argument} = {ptr:#x} + {nbytes} bytes is not inside any live "
                "device buffer (a wrong pointer, offset, leading dimension or size)"
            )
        # references: `found`, getrefcount's argument and the pool's (while it is there); more: someone holds it
        if sys.getrefcount(found) <= 3 and any(pooled is found for pooled in self._pool):
            self.dangling.append((function, argument))

    def _prune(self):
        for key in [key for key, (_, _, ref) in self._owners.items() if ref() is None]:
            del self._owners[key]


# ----------------------------------------------------------------------------------------------------------
# the fake CuPy ndarray
# ----------------------------------------------------------------------------------------------------------


class MemoryPointer:
    __slots__ = ("ptr",)

    def __init__(self, ptr: int):
        self.ptr = int(ptr)

    def __repr__(self):
        return f"<fake cupy MemoryPointer {self.ptr:#x}>"


class Device:
    def __init__(self, device_id: int = 0):
        self.id = int(device_id)

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


_MEMORY = DeviceMemory()  # the one emulated device's memory (shared by every FakeCupy instance)


def _host_array_error(where: str):
    return TypeError(
        f"Unsupported type <class 'numpy.ndarray'> ({where}: the fake CuPy, like CuPy, does not "
        "mix device arrays with NumPy arrays; convert with cupy.asarray or .get())"
    )


def _is_host_array(x) -> bool:
    return type(x) is np.ndarray and x.ndim > 0


def _unwrap(x):
    """Plain NumPy views of the fake arrays inside x (tuples, lists, dicts followed)."""
    if isinstance(x, ndarray):
        return x.view(np.ndarray)
    if isinstance(x, tuple):
        return type(x)(*map(_unwrap, x)) if hasattr(x, "_fields") else tuple(map(_unwrap, x))
    if isinstance(x, list):
        return [_unwrap(v) for v in x]
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(x):
    """Results as fake device arrays: arrays and NumPy scalars become (0-d) fake arrays, as CuPy returns."""
    if isinstance(x, np.ndarray):
        return x if isinstance(x, ndarray) else x.view(ndarray)
    if isinstance(x, np.generic):
        return np.asarray(x).view(ndarray)
    if isinstance(x, tuple):
        return type(x)(*map(_wrap, x)) if hasattr(x, "_fields") else tuple(map(_wrap, x))
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _check_no_host_arrays(where: str, args, kwargs=None):
    def visit(x):
        if _is_host_array(x):
            raise _host_array_error(where)
        if isinstance(x, (tuple, list)):
            for v in x:
                visit(v)

    visit(args)
    if kwargs:
        visit(list(kwargs.values()))


class ndarray(np.ndarray):
    """A fake ``cupy.ndarray``: NumPy memory whose address plays the device pointer."""

    __array_priority__ = 100.0

    def __array_finalize__(self, obj):
        _MEMORY.register(self)

    # -- what CuPy arrays have ------------------------------------------------------------------------------

    @property
    def data(self):
        return MemoryPointer(self.__array_interface__["data"][0])

    @property
    def __cuda_array_interface__(self):
        return {
            "shape": self.shape,
            "typestr": self.dtype.str,
            "descr": self.dtype.descr,
            "data": (self.__array_interface__["data"][0], False),
            "strides": None if self.flags.c_contiguous else self.strides,
            "version": 3,
            "stream": 1,
        }

    @property
    def device(self):
        return Device(0)

    def get(self, stream=None, order="C", out=None):
        host = np.array(self.view(np.ndarray), order=order, copy=True)
        if out is not None:
            out[...] = host
            return out
        return host

    def set(self, arr, stream=None):
        self.view(np.ndarray)[...] = arr

    def __repr__(self):
        return "fake_cupy." + repr(self.view(np.ndarray))

    __str__ = __repr__

    def __getitem__(self, key):
        key = _unwrap(key)
        result = super().__getitem__(key)
        if isinstance(result, np.generic):  # CuPy: a 0-d array, never a scalar
            return np.asarray(result).view(ndarray)
        return result

    def __setitem__(self, key, value):
        if _is_host_array(value):
            value = np.array(value)  # CuPy copies host values into device arrays
        super().__setitem__(_unwrap(key), _unwrap(value))

    def __iter__(self):
        for i in range(self.shape[0] if self.ndim else 0):
            yield self[i]

    # -- NumPy protocols: stay the subclass, refuse NumPy operands -------------------------------------------

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _check_no_host_arrays(f"{ufunc.__name__}.{method}", inputs, {"out": kwargs.get("out", ())})
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o) for o in out)
        result = getattr(ufunc, method)(*_unwrap(inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        if method == "at":
            return None
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        _check_no_host_arrays(func.__name__, args, kwargs)
        out = kwargs.get("out")
        result = func(*_unwrap(args), **_unwrap(kwargs))
        if out is not None:
            return out
        return _wrap(result)


# ----------------------------------------------------------------------------------------------------------
# the fake cupy module
# ----------------------------------------------------------------------------------------------------------


class OutOfMemoryError(MemoryError):
    """``cupy.cuda.memory.OutOfMemoryError(size, total, limit=0)``."""

    def __init__(self, size=0, total=0, limit=0):
        self.size, self.total, self.limit = size, total, limit
        super().__init__(f"Out of memory allocating {size:,} bytes (allocated so far: {total:,} bytes).")


class MemoryPool:
    def __init__(self, state):
        self._state = state
        self.free_all_blocks_calls = 0

    def free_bytes(self):
        return self._state.pool_free

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return self._state.pool_free

    def free_all_blocks(self, stream=None):
        self.free_all_blocks_calls += 1

    def set_limit(self, size=None, fraction=None):
        pass


class Stream:
    ptr = 0
    null = None

    def synchronize(self):
        pass


#: fake-CuPy functions that allocate device memory (and so can fail with OutOfMemoryError)
ALLOCATING = (
    "empty",
    "zeros",
    "ones",
    "full",
    "matmul",
    "empty_like",
    "zeros_like",
    "ones_like",
    "full_like",
    "array",
    "asarray",
    "ascontiguousarray",
    "concatenate",
    "stack",
)


class FakeCupy(types.ModuleType):
    """The fake ``cupy`` module: NumPy's functions, wrapped so that their array results are fake device
    arrays; the CUDA runtime, streams and memory pool stubbed; settable free memory and allocation failures."""

    def __init__(self):
        super().__init__("cupy", "A fake CuPy on NumPy for genmetrics' tests (tests/_fake_gpu.py).")
        self.__version__ = "13.0.0+fake"
        self.__file__ = __file__
        self.ndarray = ndarray
        self.free_memory = 4 * 2**30
        self.total_memory = 16 * 2**30
        self.pool_free = 0
        self._fail_left = 0
        self._fail_names = ALLOCATING
        self.allocation_failures = 0  # OutOfMemoryError raised so far
        self.allocation_calls = collections.Counter()
        self._pool = MemoryPool(self)
        self.memory = _MEMORY

        fake = self
        runtime = types.SimpleNamespace(
            getDeviceCount=lambda: 1,
            memGetInfo=lambda: (int(fake.free_memory), int(fake.total_memory)),
            runtimeGetVersion=lambda: 12040,
            driverGetVersion=lambda: 12040,
        )
        memory = types.ModuleType("cupy.cuda.memory")
        memory.OutOfMemoryError = OutOfMemoryError
        memory.MemoryPointer = MemoryPointer
        memory.MemoryPool = MemoryPool
        cuda = types.ModuleType("cupy.cuda")
        cuda.runtime = runtime
        cuda.memory = memory
        cuda.Device = Device
        cuda.Stream = Stream
        cuda.get_current_stream = lambda device=None: Stream()
        cuda.is_available = lambda: True
        self.cuda = cuda
        self.linalg = _WrappedNamespace("cupy.linalg", np.linalg, self)
        self.fft = _WrappedNamespace("cupy.fft", np.fft, self)

    # -- controls for the tests -----------------------------------------------------------------------------

    def set_free_memory(self, free: int, total: int | None = None, pool_free: int = 0):
        """What ``cupy.cuda.runtime.memGetInfo()`` (and the pool's free bytes) report from now on."""
        self.free_memory = int(free)
        self.total_memory = int(max(free, total or 0, 1))
        self.pool_free = int(pool_free)

    def fail_allocations(self, count=math.inf, names=ALLOCATING):
        """The next ``count`` calls of the allocating functions ``names`` raise OutOfMemoryError."""
        self._fail_left = count
        self._fail_names = tuple(names)

    def _allocation(self, name: str, args, kwargs):
        if name == "matmul" and kwargs.get("out") is not None:
            return  # into an existing buffer: no allocation
        self.allocation_calls[name] += 1
        if self._fail_left > 0 and name in self._fail_names:
            self._fail_left -= 1
            self.allocation_failures += 1
            raise OutOfMemoryError(1 << 30, 1 << 34)

    # -- the module's functions -----------------------------------------------------------------------------

    def __getattr__(self, name):  # only for names not set on the module: NumPy's, wrapped
        if name.startswith("_"):  # no NumPy internals (and no __path__: `import cupy._core` fails, not a package)
            raise AttributeError(f"module 'cupy' (fake) has no attribute {name!r}")
        try:
            target = getattr(np, name)
        except AttributeError:
            raise AttributeError(f"module 'cupy' (fake) has no attribute {name!r}") from None
        if isinstance(target, type) or not callable(target):
            return target  # dtypes, constants (inf, nan, newaxis), classes
        wrapped = _wrap_function(f"cupy.{name}", target, self)
        setattr(self, name, wrapped)
        return wrapped

    def get_default_memory_pool(self):
        return self._pool

    def empty(self, shape, dtype=float, order="C"):
        """Uninitialised device memory: filled with garbage (NaN, or a bit pattern), never NumPy's zeros."""
        self._allocation("empty", (), {})
        out = np.empty(shape, dtype=dtype, order=order)
        _fill_garbage(out)
        return out.view(ndarray)

    def empty_like(self, a, dtype=None, order="K", subok=None, shape=None):
        self._allocation("empty_like", (), {})
        out = np.empty_like(_unwrap(a), dtype=dtype, order=order, shape=shape)
        _fill_garbage(out)
        return out.view(ndarray)

    def get_default_pinned_memory_pool(self):
        return self._pool

    def get_array_module(self, *arrays):
        return self if any(isinstance(a, ndarray) for a in arrays) else np

    def asnumpy(self, a, stream=None, order="C", out=None):
        if isinstance(a, ndarray):
            return a.get(order=order, out=out)
        return np.asarray(a, order=order)

    def asarray(self, a, dtype=None, order=None, copy=None, blocking=False):
        self._allocation("asarray", (a,), {})
        if isinstance(a, ndarray):  # device: no copy unless needed
            return _wrap(np.asarray(a.view(np.ndarray), dtype=dtype, order=order))
        if hasattr(a, "__cuda_array_interface__"):
            raise TypeError("the fake CuPy takes only its own device arrays")
        return np.array(_unwrap(a), dtype=dtype, order=order or "K", copy=True).view(ndarray)  # host: a copy

    def array(self, a, dtype=None, copy=True, order="K", subok=False, ndmin=0, blocking=False):
        self._allocation("array", (a,), {})
        return np.array(_unwrap(a), dtype=dtype, copy=True if copy else None, order=order, ndmin=ndmin).view(ndarray)

    def ascontiguousarray(self, a, dtype=None):
        self._allocation("ascontiguousarray", (a,), {})
        if not isinstance(a, ndarray):  # CuPy: `a (cupy.ndarray)`, a Cython-typed argument
            raise TypeError(
                f"Argument 'a' has incorrect type (expected cupy._core.core._ndarray_base, got {type(a).__name__})"
            )
        return _wrap(np.ascontiguousarray(a.view(np.ndarray), dtype=dtype))

    def from_dlpack(self, x):
        if isinstance(x, ndarray):
            return x
        return np.from_dlpack(x).view(ndarray)

    fromDlpack = from_dlpack


def _fill_garbage(a: np.ndarray):
    if a.dtype.kind == "f":
        a.fill(np.nan)
    elif a.dtype.kind in "iu":
        a.view(np.uint8).fill(0xA5)
    elif a.dtype.kind == "b":
        a.view(np.uint8).fill(1)


def _wrap_function(qualname: str, fn, fake: FakeCupy):
    name = qualname.rsplit(".", 1)[-1]

    def wrapper(*args, **kwargs):
        _check_no_host_arrays(qualname, args, kwargs)
        if name in ALLOCATING:
            fake._allocation(name, args, kwargs)
        out = kwargs.get("out")
        result = fn(*_unwrap(args), **_unwrap(kwargs))
        if out is not None:
            return out
        return _wrap(result)

    wrapper.__name__ = name
    wrapper.__qualname__ = qualname
    wrapper.__wrapped__ = fn
    return wrapper


class _WrappedNamespace(types.ModuleType):
    def __init__(self, name, source, fake):
        super().__init__(name)
        self._source, self._fake = source, fake

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        target = getattr(self._source, name)
        if isinstance(target, type) or not callable(target):
            return target
        wrapped = _wrap_function(f"{self.__name__}.{name}", target, self._fake)
        setattr(self, name, wrapped)
        return wrapped


# ----------------------------------------------------------------------------------------------------------
# the fake genmetrics._cuda: NumPy emulations of the kernels on the memory behind the pointers
# ----------------------------------------------------------------------------------------------------------

_DTYPES = {"float32": np.float32, "float64": np.float64}
_KERNELS = {"linear": 0, "cosine": 1, "rbf": 2, "laplacian": 3, "polynomial": 4}
#: cuda/gram.cu: squared distances within this many units of rounding of |x|^2 + |y|^2 are exactly 0
DISTANCE_ROUNDING_ULPS = 8.0
#: cuda/gram.cu's partial-sum block shape
PARTIAL_COLS, PARTIAL_ROWS = 32, 64


def _int(value, name):
    """pybind11's integer conversion: ints and objects with __index__ (NumPy integers), never floats/arrays."""
    if isinstance(value, (float, np.floating, np.ndarray)) or value is None:
        raise TypeError(f"{name}: incompatible function arguments (expected an integer, got {type(value).__name__})")
    return operator.index(value)


def _float(value, name):
    if isinstance(value, np.ndarray) or value is None or isinstance(value, str):
        raise TypeError(f"{name}: incompatible function arguments (expected a float, got {type(value).__name__})")
    return float(value)


def _parse_dtype(name):
    if name not in _DTYPES:
        raise ValueError(f"dtype: expected 'float32' or 'float64', got '{name}'")
    return _DTYPES[name]


class FakeCudaEngine(types.ModuleType):
    """The fake ``genmetrics._cuda``: the bindings of cuda/bindings_cuda.cpp emulated in NumPy."""

    def __init__(self, memory: DeviceMemory, seed: int = 12345):
        super().__init__("genmetrics._cuda", "A NumPy emulation of genmetrics' GPU engine (tests/_fake_gpu.py).")
        self.__file__ = __file__
        self._memory = memory
        self._rng = np.random.default_rng(seed)
        self.calls = collections.Counter()
        self.log = []  # one dict per call: the function's name and its sizes, offsets, capacities

    # -- memory behind the pointers -------------------------------------------------------------------------

    def _buffer(self, ptr, nbytes, function, argument, align):
        ptr = _int(ptr, argument)
        if ptr == 0:
            raise RuntimeError(
                f"genmetrics._cuda: {function}: an illegal memory access was encountered ({argument} is a null pointer)"
            )
        if ptr % align:
            raise RuntimeError(f"genmetrics._cuda: {function}: misaligned address ({argument} = {ptr:#x})")
        self._memory.check(ptr, nbytes, function, argument)
        return (ctypes.c_char * nbytes).from_address(ptr)

    def _matrix(self, ptr, dtype, rows, cols, ld, function, argument):
        """A writable view of rows x cols elements of `dtype` at `ptr` with leading dimension `ld`."""
        item = np.dtype(dtype).itemsize
        if rows == 0 or cols == 0:
            return np.empty((rows, cols), dtype=dtype)
        nbytes = ((rows - 1) * ld + cols) * item
        flat = np.frombuffer(self._buffer(ptr, nbytes, function, argument, item), dtype=dtype)
        assert flat.flags.writeable
        return np.lib.stride_tricks.as_strided(flat, shape=(rows, cols), strides=(ld * item, item))

    def _vector(self, ptr, dtype, length, function, argument):
        if length == 0:
            return np.empty(0, dtype=dtype)
        item = np.dtype(dtype).itemsize
        return np.frombuffer(self._buffer(ptr, length * item, function, argument, item), dtype=dtype)

    def _tile(self, data, dtype, rows, cols, ld, function):
        rows, cols, ld = _int(rows, "rows"), _int(cols, "cols"), _int(ld, "ld")
        if rows < 0 or cols < 0 or ld < cols:
            raise ValueError("tile: bad shape or leading dimension")
        T = _parse_dtype(dtype)
        return T, rows, cols, ld, self._matrix(data, T, rows, cols, ld, function, "data")

    def _record(self, function, **info):
        self.calls[function] += 1
        info["function"] = function
        self.log.append(info)
        return info

    def calls_of(self, function):
        return [entry for entry in self.log if entry["function"] == function]

    def reset(self):
        self.calls.clear()
        self.log.clear()

    # -- the bindings ---------------------------------------------------------------------------------------

    def device_count(self):
        return (1, "")

    def built_runtime_version(self):
        return 12040  # 1000 major + 10 minor: CUDA 12.4

    def apply_kernel(
        self, data, dtype, rows, cols, ld, kernel, bandwidth, gamma, coef0, degree, x_factor, y_factor, diagonal, stream
    ):
        if kernel not in _KERNELS:
            raise ValueError(f"kernel: unknown kernel '{kernel}'")
        kind = _KERNELS[kernel]
        bandwidth, gamma, coef0 = _float(bandwidth, "bandwidth"), _float(gamma, "gamma"), _float(coef0, "coef0")
        degree, diagonal = _int(degree, "degree"), _int(diagonal, "diagonal")
        _int(x_factor, "x_factor"), _int(y_factor, "y_factor"), _int(stream, "stream")
        T, rows, cols, ld, tile = self._tile(data, dtype, rows, cols, ld, "apply_kernel")
        self._record(
            "apply_kernel", kernel=kernel, dtype=dtype, rows=rows, cols=cols, ld=ld, diagonal=diagonal, ptr=data
        )
        if rows == 0 or cols == 0 or (kind == 0 and diagonal < 0):
            return
        value = np.array(tile)
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            if kind == 1:  # cosine: value * xf[i] * yf[j], clipped to [-1, 1]
                xf = self._vector(x_factor, T, rows, "apply_kernel", "x_factor")
                yf = self._vector(y_factor, T, cols, "apply_kernel", "y_factor")
                out = np.clip(value * xf[:, None] * yf[None, :], T(-1), T(1))
            elif kind in (2, 3):  # rbf, laplacian: from |x|^2 + |y|^2 - 2 x.y, exact zeros within 8 ulps
                xf = self._vector(x_factor, T, rows, "apply_kernel", "x_factor")
                yf = self._vector(y_factor, T, cols, "apply_kernel", "y_factor")
                zero_below = T(DISTANCE_ROUNDING_ULPS) * T(np.finfo(T).eps)
                total = xf[:, None] + yf[None, :]
                d2 = total - T(2) * value
                d2 = np.where(d2 <= total * zero_below, T(0), d2)
                # the exponent's scale saturates at T's largest magnitude (cuda/gram.cu, negative_exponent_scale)
                lowest = -float(np.finfo(T).max)
                with np.errstate(divide="ignore"):  # a bandwidth^2 that underflows: -inf, saturated below
                    rbf_scale = max(-0.5 / np.float64(bandwidth * bandwidth), lowest)
                if kind == 2:
                    out = np.exp(d2 * T(rbf_scale))
                else:
                    out = np.exp(np.sqrt(d2) * T(max(-1.0 / np.float64(bandwidth), lowest)))
            elif kind == 4:  # polynomial: base^degree by repeated multiplication
                base = T(gamma) * value + T(coef0)
                out = base.copy()
                for _ in range(1, degree):
                    out = out * base
            else:
                out = value
            out = out.astype(T, copy=False)
            if diagonal >= 0 and 1 <= kind <= 3:
                i = np.arange(rows)
                on = i + diagonal < cols
                out[i[on], i[on] + diagonal] = T(1)
        tile[...] = out

    def power_sums_scratch(self, rows, cols):
        rows, cols = _int(rows, "rows"), _int(cols, "cols")
        return rows * -(-cols // PARTIAL_COLS) + cols * -(-rows // PARTIAL_ROWS)

    def power_sums(self, data, dtype, rows, cols, ld, power, row_out, col_out, negative_flag, scratch, stream):
        power = _float(power, "power")
        row_out, col_out = _int(row_out, "row_out"), _int(col_out, "col_out")
        _int(negative_flag, "negative_flag"), _int(scratch, "scratch"), _int(stream, "stream")
        T, rows, cols, ld, tile = self._tile(data, dtype, rows, cols, ld, "power_sums")
        self._record(
            "power_sums",
            dtype=dtype,
            rows=rows,
            cols=cols,
            ld=ld,
            power=power,
            row_out=row_out != 0,
            col_out=col_out != 0,
            ptr=data,
        )
        if rows == 0 or cols == 0:
            return
        col_blocks, row_blocks = -(-cols // PARTIAL_COLS), -(-rows // PARTIAL_ROWS)
        scratch_view = self._vector(scratch, np.float64, self.power_sums_scratch(rows, cols), "power_sums", "scratch")
        flag = self._vector(negative_flag, np.int32, 1, "power_sums", "negative_flag")
        base = np.array(tile)
        integral = power == math.floor(power)
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            if power == 1.0:
                value = base
            elif power == 0.0:
                value = np.ones_like(base)
            elif power == 2.0:
                value = base * base
            elif integral and 0 < power <= 64:
                value = base.copy()
                for _ in range(1, int(power)):
                    value = value * base
            else:
                if not integral:
                    negative = base < 0
                    if negative.any():
                        flag[0] = 1
                        base = np.where(negative, T(0), base)
                value = np.power(base, T(power))
        value = value.astype(np.float64)
        if row_out:  # per row: partial sums over blocks of 32 columns, then the blocks in order
            partial = scratch_view[: rows * col_blocks].reshape(col_blocks, rows)
            for b in range(col_blocks):
                partial[b] = value[:, b * PARTIAL_COLS : (b + 1) * PARTIAL_COLS].sum(axis=1)
            total = np.zeros(rows)
            for b in range(col_blocks):
                total += partial[b]
            out = self._vector(row_out, np.float64, rows, "power_sums", "row_out")
            out += total
        if col_out:  # per column: partial sums over blocks of 64 rows, then the blocks in order
            partial = scratch_view[rows * col_blocks : rows * col_blocks + cols * row_blocks].reshape(row_blocks, cols)
            for b in range(row_blocks):
                partial[b] = value[b * PARTIAL_ROWS : (b + 1) * PARTIAL_ROWS].sum(axis=0)
            total = np.zeros(cols)
            for b in range(row_blocks):
                total += partial[b]
            out = self._vector(col_out, np.float64, cols, "power_sums", "col_out")
            out += total

    def sq_distances(self, data, dtype, rows, cols, ld, row_sq, col_sq, self_offset, stream):
        self_offset = _int(self_offset, "self_offset")
        _int(stream, "stream")
        T, rows, cols, ld, tile = self._tile(data, dtype, rows, cols, ld, "sq_distances")
        self._record("sq_distances", dtype=dtype, rows=rows, cols=cols, ld=ld, self_offset=self_offset, ptr=data)
        if rows == 0 or cols == 0:
            return
        rs = self._vector(row_sq, T, rows, "sq_distances", "row_sq")
        cs = self._vector(col_sq, T, cols, "sq_distances", "col_sq")
        with np.errstate(over="ignore", invalid="ignore"):
            out = (rs[:, None] + cs[None, :]) - T(2) * np.array(tile)
        if self_offset >= 0:
            i = np.arange(rows)
            on = i + self_offset < cols
            out[i[on], i[on] + self_offset] = np.inf
        tile[...] = out

    def row_kth_smallest(self, data, dtype, rows, cols, ld, k, out, stream):
        k = _int(k, "k")
        _int(stream, "stream")
        T, rows, cols, ld, tile = self._tile(data, dtype, rows, cols, ld, "row_kth_smallest")
        self._record("row_kth_smallest", dtype=dtype, rows=rows, cols=cols, ld=ld, k=k, ptr=data)
        if rows == 0:
            return
        if k < 1 or k > cols:
            raise ValueError("row_kth_smallest: k must be in [1, cols]")
        target = self._vector(out, T, rows, "row_kth_smallest", "out")
        target[...] = np.partition(np.array(tile), k - 1, axis=1)[:, k - 1]

    def exact_sq_distances(self, Q, R, dtype, d, q_index, r_index, pairs, out, stream):
        T = _parse_dtype(dtype)
        d, pairs = _int(d, "d"), _int(pairs, "pairs")
        _int(stream, "stream")
        info = self._record("exact_sq_distances", dtype=dtype, d=d, pairs=pairs)
        if pairs == 0:
            return
        qi = np.array(self._vector(q_index, np.int64, pairs, "exact_sq_distances", "q_index"))
        ri = np.array(self._vector(r_index, np.int64, pairs, "exact_sq_distances", "r_index"))
        if qi.min() < 0 or ri.min() < 0:
            raise RuntimeError("genmetrics._cuda: exact_sq_distances: an illegal memory access (negative index)")
        q_rows, r_rows = int(qi.max()) + 1, int(ri.max()) + 1
        info.update(q_rows=q_rows, r_rows=r_rows)
        q = self._matrix(Q, T, q_rows, d, d, "exact_sq_distances", f"Q (rows up to {q_rows - 1})")
        r = self._matrix(R, T, r_rows, d, d, "exact_sq_distances", f"R (rows up to {r_rows - 1})")
        target = self._vector(out, np.float64, pairs, "exact_sq_distances", "out")
        diff = q[qi].astype(np.float64) - r[ri].astype(np.float64)
        target[...] = np.sum(diff * diff, axis=-1)  # NumPy's own summation order: the contract

    def ball_tests(
        self,
        data,
        dtype,
        rows,
        cols,
        ld,
        row_sq,
        col_sq,
        coefficient,
        floor,
        radius2,
        per_row,
        sure_counts,
        pair_rows,
        pair_cols,
        pair_count,
        capacity,
        stream,
    ):
        coefficient, floor = _float(coefficient, "coefficient"), _float(floor, "floor")
        capacity = _int(capacity, "capacity")
        if not isinstance(per_row, (bool, np.bool_)):
            raise TypeError("per_row: incompatible function arguments (expected a bool)")
        per_row = bool(per_row)
        _int(stream, "stream")
        T, rows, cols, ld, tile = self._tile(data, dtype, rows, cols, ld, "ball_tests")
        info = self._record(
            "ball_tests",
            dtype=dtype,
            rows=rows,
            cols=cols,
            ld=ld,
            per_row=per_row,
            capacity=capacity,
            found=0,
            ptr=data,
        )
        if rows == 0 or cols == 0:
            return
        rs = self._vector(row_sq, T, rows, "ball_tests", "row_sq").astype(np.float64)
        cs = self._vector(col_sq, T, cols, "ball_tests", "col_sq").astype(np.float64)
        r2 = self._vector(radius2, np.float64, cols if per_row else rows, "ball_tests", "radius2")
        sure_out = self._vector(sure_counts, np.int64, rows if per_row else cols, "ball_tests", "sure_counts")
        count = self._vector(pair_count, np.uint64, 1, "ball_tests", "pair_count")
        out_rows = self._vector(pair_rows, np.int64, capacity, "ball_tests", "pair_rows")
        out_cols = self._vector(pair_cols, np.int64, capacity, "ball_tests", "pair_cols")
        approx = np.array(tile).astype(np.float64)
        margin = coefficient * (rs[:, None] + cs[None, :]) + floor
        radius = r2[None, :] if per_row else r2[:, None]
        sure = approx + margin < radius
        undecided = ~sure & ~(approx - margin > radius)
        sure_out += sure.sum(axis=1 if per_row else 0)
        ui, uj = np.nonzero(undecided)
        order = self._rng.permutation(ui.shape[0])  # the atomics append in no particular order
        ui, uj = ui[order], uj[order]
        start = int(count[0])
        slots = start + np.arange(ui.shape[0])
        keep = slots < capacity  # counts past the capacity, writes nothing beyond it
        out_rows[slots[keep]] = ui[keep]
        out_cols[slots[keep]] = uj[keep]
        count[0] = np.uint64(start + ui.shape[0])
        info.update(found=start + int(ui.shape[0]))


# ----------------------------------------------------------------------------------------------------------
# installing the fakes
# ----------------------------------------------------------------------------------------------------------


class FakeGPU(types.SimpleNamespace):
    """What :func:`installed` yields: ``cupy`` (FakeCupy), ``cuda`` (FakeCudaEngine), ``engine`` (the
    ``genmetrics.engine.cuda`` module bound to them), ``memory`` (the emulated device memory)."""

    def device(self, a):
        """A fake device copy of a host array (None stays None)."""
        return None if a is None else self.cupy.asarray(a)


_MISSING = object()


@contextlib.contextmanager
def installed(seed: int = 12345):
    """Install the fake ``cupy`` and ``genmetrics._cuda``, (re)import ``genmetrics.engine.cuda`` on them, reset
    genmetrics' GPU probe and cached GPU engine; restore everything afterwards."""
    import genmetrics
    from genmetrics import engine as _backend

    fake_cupy = FakeCupy()
    fake_cuda = FakeCudaEngine(_MEMORY, seed=seed)
    names = ("cupy", "cupy.cuda", "cupy.cuda.memory", "cupy.linalg", "genmetrics._cuda", "genmetrics.engine.cuda")
    saved_modules = {name: sys.modules.get(name, _MISSING) for name in names}
    saved_attrs = {
        (genmetrics, "_cuda"): getattr(genmetrics, "_cuda", _MISSING),
        (_backend, "cuda"): getattr(_backend, "cuda", _MISSING),
    }
    saved_status = _backend._GPU_STATUS
    saved_backends = dict(_backend._BACKENDS)
    try:
        sys.modules["cupy"] = fake_cupy
        sys.modules["cupy.cuda"] = fake_cupy.cuda
        sys.modules["cupy.cuda.memory"] = fake_cupy.cuda.memory
        sys.modules["cupy.linalg"] = fake_cupy.linalg
        sys.modules["genmetrics._cuda"] = fake_cuda
        genmetrics._cuda = fake_cuda  # `from . import _cuda` reads the package attribute first
        sys.modules.pop("genmetrics.engine.cuda", None)
        if hasattr(_backend, "cuda"):
            delattr(_backend, "cuda")
        engine = importlib.import_module("genmetrics.engine.cuda")
        assert engine.cupy is fake_cupy and engine._cuda is fake_cuda
        _backend._GPU_STATUS = None
        _backend._BACKENDS.pop("cuda", None)
        yield FakeGPU(cupy=fake_cupy, cuda=fake_cuda, engine=engine, memory=_MEMORY)
    finally:
        for name, module in saved_modules.items():
            if module is _MISSING:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        for (package, name), value in saved_attrs.items():
            if value is _MISSING:
                if hasattr(package, name):
                    delattr(package, name)
            else:
                setattr(package, name, value)
        _backend._GPU_STATUS = saved_status
        _backend._BACKENDS.clear()
        _backend._BACKENDS.update(saved_backends)
