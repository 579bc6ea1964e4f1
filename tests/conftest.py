"""Shared fixtures, hypothesis profiles and data strategies for the genmetrics tests.

Hypothesis profiles (select with HYPOTHESIS_PROFILE=<name>):
  ci        default: 30 examples per property, no deadline, derandomized so CI runs are reproducible
  dev       100 examples, random seeds (explores new cases on every run)
  thorough  1000 examples, random seeds (run occasionally)
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import genmetrics as gm

_COMMON = dict(
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# report_multiple_bugs=False: a failing property stops at its first (shrunk) counterexample, which keeps
# a red CI run short
settings.register_profile("ci", max_examples=30, derandomize=True, report_multiple_bugs=False, **_COMMON)
settings.register_profile("dev", max_examples=100, **_COMMON)
settings.register_profile("thorough", max_examples=1000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BACKEND_NAMES = ("numpy", "cpu")


def backend_available(name):
    info = gm.backends().get(name)
    if info is None:
        return False, f"gm.backends() does not list {name!r}"
    available, reason = info
    return bool(available), str(reason)


@pytest.fixture(scope="session", params=BACKEND_NAMES)
def backend(request):
    """Each backend in turn; "cpu" (the compiled engine) is skipped, with its reason, when not built."""
    available, reason = backend_available(request.param)
    if not available:
        pytest.skip(f"backend {request.param!r} unavailable: {reason}")
    return request.param


@pytest.fixture(scope="session")
def both_backends():
    """For backend-vs-backend agreement: needs the compiled engine."""
    available, reason = backend_available("cpu")
    if not available:
        pytest.skip(f"compiled backend unavailable: {reason}")
    return ("cpu", "numpy")


# --------------------------------------------------------------------------------------------
# data strategies
# --------------------------------------------------------------------------------------------

FLOAT_DTYPES = (np.float32, np.float64)
LAYOUTS = ("C", "F", "rows", "cols", "reversed")


def with_layout(A, layout):
    """The same values as ``A`` in a different memory layout (a view wherever one is possible)."""
    A = np.ascontiguousarray(A)
    if layout == "C":
        return A
    if layout == "F":
        return np.asfortranarray(A)
    if layout == "rows":  # every other row of a bigger buffer: X[::2]
        big = np.zeros((2 * A.shape[0], A.shape[1]), dtype=A.dtype)
        big[::2] = A
        view = big[::2]
    elif layout == "cols":  # every other column of a bigger buffer: X[:, ::2]
        big = np.zeros((A.shape[0], 2 * A.shape[1]), dtype=A.dtype)
        big[:, ::2] = A
        view = big[:, ::2]
    elif layout == "reversed":  # negative strides
        view = A[::-1, ::-1].copy()[::-1, ::-1]
    else:
        raise ValueError(layout)
    assert np.array_equal(view, A)
    return view


def fix_small_rows(A, min_norm=1e-2):
    """Give rows of tiny norm a unit entry, so cosine never sees a (near) zero-norm row.

    Near-zero rows are handled by a separate validation test; here they would only make the float32
    comparison meaningless (squares of 1e-30 underflow in float32).
    """
    A = np.array(A, copy=True)
    norms = np.sqrt(np.sum(A.astype(np.float64) ** 2, axis=1))
    for i in np.flatnonzero(norms < min_norm):
        A[i, i % A.shape[1]] = 1.0
    return A


@st.composite
def matrices(draw, n=None, d=None, dtype=None, min_n=1, max_n=60, max_d=40, bound=10.0):
    """A (n, d) float array with elements in [-bound, bound] (no subnormals, no nan/inf)."""
    if dtype is None:
        dtype = draw(st.sampled_from(FLOAT_DTYPES))
    if n is None:
        n = draw(st.integers(min_n, max_n))
    if d is None:
        d = draw(st.integers(1, max_d))
    width = 32 if dtype == np.float32 else 64
    elements = st.floats(-bound, bound, width=width, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return draw(hnp.arrays(dtype, (n, d), elements=elements))


@st.composite
def layouts(draw):
    return draw(st.sampled_from(LAYOUTS))


# bandwidths drawn for rbf / laplacian: explicit, bounded away from 0 (the heuristic has its own tests)
bandwidths = st.floats(0.5, 50.0, allow_nan=False, allow_infinity=False)


@pytest.fixture
def fake_gpu():
    """The emulated GPU of tests/_fake_gpu.py installed for one test (see ``_fake_gpu.installed``); everything
    restored afterwards."""
    from _fake_gpu import installed

    with installed() as gpu:
        yield gpu
