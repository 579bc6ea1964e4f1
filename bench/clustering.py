"""gm.kmeans against FAISS's k-means (faiss-cpu, the speed reference of issue 17), side by side in one run.

    python bench/clustering.py                 # n = 100,000; d = 64 and 2,048; k = 100 and 1,000; 5 iterations
    python bench/clustering.py --quick         # n = 20,000; d = 64 and 512; k = 100
    python bench/clustering.py --n 100000 --d 2048 --k 1000 --iterations 3

Both run the same number of Lloyd iterations from a random seeding (FAISS's; ``init="random"`` here), on float32
data of Gaussian modes (bench/_common.mixture), with the same thread count. FAISS is given
``max_points_per_centroid = n`` so that it trains on every row (by default it subsamples to 256 rows a centroid),
and ``seed``; it assigns in float32 from |x|^2 + |c|^2 - 2 x.c, where gm.kmeans re-checks near-ties in float64
(exact labels) and updates the centroids in float64. Printed: seconds per iteration of each, the ratio
(gm / faiss, < 1: gm faster), the inertia each reached, and with ``--plusplus`` the time of k-means++ seeding (gm's
default, which FAISS does not have: k sequential exact passes over X, memory-bound) on its own.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import genmetrics as gm
from _common import machine, mixture, table
from genmetrics.engine import num_threads


def run(n: int, d: int, k: int, iterations: int, faiss, with_plusplus: bool) -> list:
    X = mixture(n, d, modes=max(2 * k, 50), seed=1)
    start = time.perf_counter()
    ours = gm.kmeans(X, n_clusters=k, max_iter=iterations, tol=0.0, init="random", seed=0)
    ours_time = time.perf_counter() - start
    km = faiss.Kmeans(d, k, niter=iterations, seed=1, max_points_per_centroid=n, verbose=False)
    start = time.perf_counter()
    km.train(X)
    faiss_time = time.perf_counter() - start
    _, labels = km.index.search(X, 1)
    C = km.centroids.astype(np.float64)
    faiss_inertia = sum(
        float(((X[i : i + 8192].astype(np.float64) - C[labels[i : i + 8192, 0]]) ** 2).sum()) for i in range(0, n, 8192)
    )
    plusplus = float("nan")
    if with_plusplus:
        start = time.perf_counter()
        gm.kmeans(X, n_clusters=k, max_iter=1, seed=0)  # k-means++ seeding + one iteration
        plusplus = max(time.perf_counter() - start - ours_time / max(ours.n_iter, 1), 0.0)
    per_ours, per_faiss = ours_time / max(ours.n_iter, 1), faiss_time / iterations
    return [
        f"{n:,}",
        d,
        k,
        ours.n_iter,
        f"{per_ours:.3f}",
        f"{per_faiss:.3f}",
        f"{per_ours / per_faiss:.2f}",
        f"{ours.inertia:.6g}",
        f"{faiss_inertia:.6g}",
        f"{plusplus:.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n", type=int)
    parser.add_argument("--d", type=int, nargs="*")
    parser.add_argument("--k", type=int, nargs="*")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--plusplus", action="store_true", help="also time k-means++ seeding (k passes over X)")
    args = parser.parse_args()
    try:
        import faiss  # noqa: PLC0415 (the bench extra)
    except ImportError:
        raise SystemExit("faiss-cpu is needed: pip install faiss-cpu") from None
    threads = num_threads()
    faiss.omp_set_num_threads(threads)
    n = args.n or (20_000 if args.quick else 100_000)
    dims = args.d or ([64, 512] if args.quick else [64, 2048])
    ks = args.k or ([100] if args.quick else [100, 1000])
    print(f"{machine()}; {threads} threads for both; GENMETRICS_BACKEND={os.environ.get('GENMETRICS_BACKEND', '')}")
    rows = [run(n, d, k, args.iterations, faiss, args.plusplus) for d in dims for k in ks]
    headers = [
        "n",
        "d",
        "k",
        "iters",
        "gm s/iter",
        "faiss s/iter",
        "gm/faiss",
        "gm inertia",
        "faiss inertia",
        "k-means++ s",
    ]
    table(rows, headers)


if __name__ == "__main__":
    main()
