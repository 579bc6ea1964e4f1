"""Data of the GPU tests (tests/test_gpu.py, on the real GPU and on the emulated one of tests/_fake_gpu.py)."""

from __future__ import annotations

import warnings
import zlib

import numpy as np

import genmetrics as gm


def quiet(fn, *args, **kwargs):
    """Call without DuplicatePointsWarning (lattices and duplicated rows give zero-radius balls)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gm.DuplicatePointsWarning)
        return fn(*args, **kwargs)


def seed_of(*key) -> int:
    """A stable seed from a test's parameters (hash() of strings changes between runs)."""
    return zlib.crc32("|".join(map(str, key)).encode())


def gaussian(rng, n, d, dtype, offset=0.0, scale=1.0):
    return (offset + scale * rng.standard_normal((n, d))).astype(dtype)


def lattice(rng, n, d, dtype, offset=0.0, levels=2, step=1.0):
    """offset + step * integers in [-levels, levels]: exact sums of squares, many exact ties."""
    return (offset + step * rng.integers(-levels, levels + 1, size=(n, d))).astype(dtype)


def with_duplicates(rng, X, share=0.2):
    """X with a share of its rows replaced by copies of other rows."""
    X = X.copy()
    n = X.shape[0]
    count = max(1, int(share * n))
    X[rng.choice(n, size=count, replace=False)] = X[rng.choice(n, size=count, replace=True)]
    return X


FIDELITY_CASES = ("gaussian", "lattice", "duplicates", "offset 1000")

#: (real rows, fake rows, copied rows) per case: the real GPU's sizes, and smaller ones for the emulation
_FIDELITY_SIZES = {
    False: {"gaussian": (600, 500), "lattice": (500, 450), "duplicates": (400, 100, 300), "offset 1000": (500, 400)},
    True: {"gaussian": (190, 160), "lattice": (200, 170), "duplicates": (150, 40, 110), "offset 1000": (170, 140)},
}


def real_fake(name, dtype, small=False):
    """(real, fake) for the fidelity metrics: Gaussian clouds, lattices (exact ties), fakes that copy real rows,
    and clouds far from the origin."""
    rng = np.random.default_rng(seed_of("fidelity", name, np.dtype(dtype).name))
    sizes = _FIDELITY_SIZES[small][name]
    d = 16 if small or name == "offset 1000" else 32
    if name == "gaussian":
        return gaussian(rng, sizes[0], d, dtype), gaussian(rng, sizes[1], d, dtype, offset=0.1, scale=1.2)
    if name == "lattice":
        return lattice(rng, sizes[0], 4, dtype), lattice(rng, sizes[1], 4, dtype, levels=3)
    if name == "duplicates":
        real = gaussian(rng, sizes[0], 10, dtype)
        copied = real[rng.choice(sizes[0], size=sizes[1], replace=False)]
        return real, np.concatenate([copied, gaussian(rng, sizes[2], 10, dtype)])
    if name == "offset 1000":
        return gaussian(rng, sizes[0], 16, dtype, offset=1000.0), gaussian(rng, sizes[1], 16, dtype, offset=1000.1)
    raise ValueError(name)


KNN_CASES = (
    "self k=1",
    "self k=5",
    "cross k=5",
    "self k=n-1",
    "cross k=n-1",
    "cross k=n",
    "self k=1024",
    "lattice self",
    "lattice cross",
    "duplicated rows",
    "duplicated rows self",
    "offset 1000",
    "offset 1000 self",
    "offset 1000 lattice",
    "one query",
    "one reference",
    "d=1",
    "d=1 self",
)


def knn_case(name, dtype, small=False):
    """(X, Y or None, k) for the k-NN cases; ``small`` cuts the larger sets about threefold (the emulation)."""
    rng = np.random.default_rng(seed_of("knn", name, np.dtype(dtype).name))

    def rows(n):
        return max(n // 3, 50) if small else n

    if name == "self k=1":
        return gaussian(rng, rows(300), 20, dtype), None, 1
    if name == "self k=5":
        return gaussian(rng, rows(517), 20, dtype), None, 5
    if name == "cross k=5":
        return gaussian(rng, rows(400), 20, dtype), gaussian(rng, rows(263), 20, dtype, offset=0.2), 5
    if name == "self k=n-1":
        return gaussian(rng, 40, 7, dtype), None, 39
    if name == "cross k=n-1":
        return gaussian(rng, 40, 7, dtype), gaussian(rng, 25, 7, dtype), 39
    if name == "cross k=n":
        return gaussian(rng, 31, 5, dtype), gaussian(rng, 17, 5, dtype), 31
    if name == "self k=1024":
        return gaussian(rng, 1100 if small else 3000, 16, dtype), None, 1024
    if name == "lattice self":
        return lattice(rng, rows(600), 3, dtype), None, 7
    if name == "lattice cross":
        return lattice(rng, rows(500), 4, dtype), lattice(rng, rows(300), 4, dtype), 5
    if name == "duplicated rows":
        X = with_duplicates(rng, gaussian(rng, rows(400), 12, dtype))
        return X, np.concatenate([X[::5], gaussian(rng, rows(100), 12, dtype)]), 5
    if name == "duplicated rows self":
        return with_duplicates(rng, gaussian(rng, rows(400), 12, dtype), share=0.4), None, 5
    if name == "offset 1000":
        return gaussian(rng, rows(500), 24, dtype, offset=1000.0), gaussian(rng, rows(300), 24, dtype, offset=1000.0), 5
    if name == "offset 1000 self":
        return gaussian(rng, rows(500), 24, dtype, offset=1000.0, scale=0.01), None, 5
    if name == "offset 1000 lattice":  # 1000 + j / 64: exact in float32, the fast tiles lose it
        return lattice(rng, rows(400), 5, dtype, offset=1000.0, step=2.0**-6), None, 5
    if name == "one query":
        return gaussian(rng, 50, 8, dtype), gaussian(rng, 1, 8, dtype), 5
    if name == "one reference":
        return gaussian(rng, 1, 8, dtype), gaussian(rng, 20, 8, dtype), 1
    if name == "d=1":
        X = lattice(rng, rows(300), 1, dtype, levels=40, step=0.125)
        return X, lattice(rng, rows(200), 1, dtype, levels=40, step=0.125), 5
    if name == "d=1 self":
        return lattice(rng, rows(300), 1, dtype, levels=40, step=0.125), None, 3
    raise ValueError(name)
