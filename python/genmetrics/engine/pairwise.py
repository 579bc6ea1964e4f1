"""Float64 row sums in NumPy's pairwise order, written with array operations only.

Why this module exists
----------------------
k-NN and radius queries are decided on the float64 distance ``np.sum((x - y)**2, axis=-1)``, and
exact ties (two neighbours at the same distance, a point exactly on a radius) must be resolved in
the same way by every backend. Floating-point addition is not associative, so the distance has to
be summed in one fixed order everywhere. The compiled engine (``cpp/neighbors.cpp``,
``pairwise_block`` / ``exact_sq_distance``) and NumPy use NumPy's *pairwise summation*;
``cupy.sum`` uses a different (parallel-reduction) order and can round differently in the last
bit. The functions here reproduce NumPy's order with slicing, integer indexing, ``+``, ``-``,
``*``, ``astype``, ``asarray``, ``empty`` and ``zeros`` only, so they run unchanged on any
NumPy-like namespace ``xp`` (``numpy`` or ``cupy``), vectorised over all rows; the only Python
loops run over the columns, eight at a time.

The order reproduced (verified bit for bit against NumPy 2.4 ``np.sum(T, axis=-1)`` of C-contiguous
float64 arrays for every d in 1..600 and d in {1000, 2048, 4097, 8192, 8193, 10000, 16385, 20000},
on data spanning 16 decades) is ``0.0 + pairwise(row)``, where ``pairwise`` is NumPy's
``pairwise_sum`` (``numpy/_core/src/umath/loops_utils.h.src``) over the n terms ``a[0..n-1]``::

    n < 8:          s = 0.0; s += a[i] for i = 0..n-1 in turn
    8 <= n <= 128:  r[j] = a[j] (j = 0..7); r[j] += a[i + j] for i = 8, 16, .. < n - n % 8;
                    s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
                    s += a[i] for the n % 8 trailing terms in turn
    n > 128:        h = n // 2 - (n // 2) % 8; s = pairwise(a[:h]) + pairwise(a[h:])

The leading ``0.0 +`` is the reduction's initial value (the identity of ``add``; NumPy does *not*
start from the first element): it only matters for a row of negative zeros, which sums to ``+0.0``.
The whole row reaches NumPy's inner loop in one call (no buffering splits it, even past 8192
terms), so the recursion above is the complete rule.

``np.sum(T, axis=-1)`` follows this order whenever the last axis is the one NumPy iterates
innermost, i.e. for C-contiguous arrays and their row- or column-strided views; for a
Fortran-ordered ``T`` NumPy iterates over the rows innermost and adds each row sequentially
(observed with NumPy 2.4), so it can differ. :func:`pairwise_sum_rows` always sums each row in
the pairwise order above, whatever the memory layout of ``terms`` (it equals
``np.sum(np.ascontiguousarray(terms), axis=-1)``).
"""

from __future__ import annotations

__all__ = ["SCRATCH_BYTES", "exact_sq_distances_pairwise", "pairwise_sum_rows"]

#: Largest number of terms summed by one unrolled block (NumPy's ``PW_BLOCKSIZE``).
PW_BLOCKSIZE = 128
#: Number of partial sums (accumulators) in an unrolled block.
PW_UNROLL = 8
#: Budget for the float64 scratch of :func:`exact_sq_distances_pairwise`, in bytes.
SCRATCH_BYTES = 64 * 2**20
# Live (chunk x d) arrays at the peak of one chunk: the two float64 gathers plus the float32/float64
# gather that ``astype`` copies from.
_LIVE_ARRAYS = 3


def _block_sum(xp, terms, lo, n):
    """NumPy's unrolled sum of ``terms[:, lo:lo + n]`` for ``n <= 128`` (no initial value).

    Parameters
    ----------
    xp : module
        NumPy-like namespace of ``terms``.
    terms : array, shape (rows, d), float64
        The terms.
    lo, n : int
        First column and number of columns of the block.

    Returns
    -------
    array, shape (rows,), float64
    """
    rows = terms.shape[0]
    if n < PW_UNROLL:
        total = xp.zeros((rows,), dtype=xp.float64)
        for i in range(lo, lo + n):
            total += terms[:, i]
        return total
    acc = terms[:, lo : lo + PW_UNROLL].astype(xp.float64)  # a copy: r[j] = a[j], j = 0..7
    end = lo + n - n % PW_UNROLL
    for i in range(lo + PW_UNROLL, end, PW_UNROLL):
        acc += terms[:, i : i + PW_UNROLL]
    pairs = acc[:, 0::2] + acc[:, 1::2]  # r0 + r1, r2 + r3, r4 + r5, r6 + r7
    quads = pairs[:, 0::2] + pairs[:, 1::2]  # (r0 + r1) + (r2 + r3), (r4 + r5) + (r6 + r7)
    total = quads[:, 0] + quads[:, 1]
    for i in range(end, lo + n):
        total += terms[:, i]
    return total


def _pairwise(xp, terms, lo, n):
    """NumPy's ``pairwise_sum`` of ``terms[:, lo:lo + n]``, row by row (no initial value)."""
    if n <= PW_BLOCKSIZE:
        return _block_sum(xp, terms, lo, n)
    half = n // 2
    half -= half % PW_UNROLL
    return _pairwise(xp, terms, lo, half) + _pairwise(xp, terms, lo + half, n - half)


def pairwise_sum_rows(xp, terms):
    """Sum of each row of the 2-D float64 array `terms` (rows x d) in NumPy's pairwise order; returns (rows,).

    The result is bit-for-bit ``np.sum(np.ascontiguousarray(terms), axis=-1)``: the reduction's
    initial value ``0.0`` plus NumPy's pairwise sum of the row (see the module docstring for the
    rule). Only slicing, ``+``, ``astype`` and ``zeros`` are used, so the same order is obtained on any
    NumPy-like namespace (CuPy included), vectorised over the rows; the Python loops run over the
    columns in steps of eight.

    Parameters
    ----------
    xp : module
        NumPy-like namespace of `terms` (``numpy`` or ``cupy``).
    terms : array, shape (rows, d), float64
        The terms; any memory layout (the order is that of the columns, not of the memory).

    Returns
    -------
    array, shape (rows,), float64
        The row sums; ``0.0`` for rows of ``d = 0`` terms.

    Raises
    ------
    ValueError
        If `terms` is not 2-D.
    TypeError
        If `terms` is not float64.
    """
    if terms.ndim != 2:
        raise ValueError(f"terms must be 2-D (rows x d), got shape {tuple(terms.shape)}")
    if terms.dtype != xp.float64:
        raise TypeError(f"terms must be float64, got {terms.dtype}")
    d = terms.shape[1]
    if d < PW_UNROLL:
        return _block_sum(xp, terms, 0, d)  # already starts from 0.0
    # 0.0 + s: the reduction's initial value (turns the -0.0 of an all-negative-zero row into +0.0)
    return _pairwise(xp, terms, 0, d) + 0.0


def exact_sq_distances_pairwise(xp, Q, R, q_index, r_index):
    """sum((Q[q_index] - R[r_index])**2) in float64 per pair, in NumPy's order, vectorised over pairs.

    For each pair ``p`` the value is bit-for-bit
    ``np.sum((Q[q_index[p]].astype(np.float64) - R[r_index[p]].astype(np.float64))**2)``: the
    differences are taken in float64, squared (``diff * diff``, one rounding each) and summed with
    :func:`pairwise_sum_rows`. This is the distance the compiled engine's ``exact_sq_distance``
    computes. The pairs are processed in chunks so that the float64 scratch (the gathered rows,
    chunk x d each) stays below :data:`SCRATCH_BYTES` (64 MiB).

    Parameters
    ----------
    xp : module
        NumPy-like namespace of `Q` and `R` (``numpy`` or ``cupy``).
    Q : array, shape (n, d), float32 or float64
        Query rows; any memory layout (contiguous or strided views such as ``X[:, ::2]``): the rows
        are gathered by integer indexing, which copies them.
    R : array, shape (m, d), float32 or float64
        Reference rows, same ``d``; any memory layout.
    q_index, r_index : array of int, shape (p,)
        Row indices of the pairs into `Q` and `R` (equal lengths; ``p = 0`` is allowed).

    Returns
    -------
    array, shape (p,), float64
        The squared distances.

    Raises
    ------
    ValueError
        If `Q` or `R` is not 2-D, their widths differ, or the index arrays are not 1-D of equal
        length.
    """
    if Q.ndim != 2 or R.ndim != 2:
        raise ValueError(f"Q and R must be 2-D, got shapes {tuple(Q.shape)} and {tuple(R.shape)}")
    d = Q.shape[1]
    if R.shape[1] != d:
        raise ValueError(f"Q and R must have the same number of columns, got {d} and {R.shape[1]}")
    q_index = xp.asarray(q_index)
    r_index = xp.asarray(r_index)
    if q_index.ndim != 1 or r_index.ndim != 1 or q_index.shape[0] != r_index.shape[0]:
        raise ValueError(
            "q_index and r_index must be 1-D of equal length, got shapes "
            f"{tuple(q_index.shape)} and {tuple(r_index.shape)}"
        )
    pairs = q_index.shape[0]
    out = xp.empty((pairs,), dtype=xp.float64)
    chunk = max(1, SCRATCH_BYTES // (_LIVE_ARRAYS * 8 * max(d, 1)))
    for start in range(0, pairs, chunk):
        stop = min(start + chunk, pairs)
        diff = Q[q_index[start:stop]].astype(xp.float64)  # astype copies: safe to overwrite in place
        diff -= R[r_index[start:stop]].astype(xp.float64)
        diff *= diff
        out[start:stop] = pairwise_sum_rows(xp, diff)
    return out
