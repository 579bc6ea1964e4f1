"""prdc on backend="dask" (a 2-worker LocalCluster, 1 thread each) against backend="cpu" (2 threads); a scaling model.

Usage: python bench/distributed.py [--n 50000] [--d 2048] [--k 5] [--block-rows B]

Prints the two times, their ratio (the overhead of the distributed path), the peak resident memory of each worker,
and a model of exact PRDC at n = 1e6 and 1e7 on N workers from one measured block-pair time and the block sizes
(stated as a model, not a measurement).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    # this file's folder first on sys.path would make `import distributed` (Dask's) import this script
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--block-rows", type=int, default=None)
    args = parser.parse_args()
    os.environ["GENMETRICS_NUM_THREADS"] = "2"
    import genmetrics as gm  # noqa: PLC0415
    from genmetrics.distributed import Cluster, options  # noqa: PLC0415
    from genmetrics.distributed.engine import _knn_task  # noqa: PLC0415
    from genmetrics.engine.points import prepare_points  # noqa: PLC0415

    rng = np.random.default_rng(0)
    real = rng.standard_normal((args.n, args.d), dtype=np.float32)
    fake = (rng.standard_normal((args.n, args.d)) * 1.05 + 0.05).astype(np.float32)
    print(f"load average: {os.getloadavg()}")

    start = time.perf_counter()
    want = gm.prdc(real, fake, k=args.k, backend="cpu")
    cpu_s = time.perf_counter() - start
    print(f"cpu (2 threads): {cpu_s:.2f} s  {want}")

    with Cluster(n_workers=2, threads_per_worker=1) as client:
        block = args.block_rows or -(-args.n // 2)  # default: 2 blocks per set, one per worker
        with options(client=client, block_rows=block):
            gm.prdc(real[:200], fake[:200], k=args.k, backend="dask")  # workers import genmetrics
            start = time.perf_counter()
            got = gm.prdc(real, fake, k=args.k, backend="dask")
            dask_s = time.perf_counter() - start
        peaks = client.run(_peak_rss_mb)
        print(f"dask (2 workers x 1 thread, blocks of {block} rows): {dask_s:.2f} s  {got}")
        print(f"equal: {got.as_dict() == want.as_dict()}; ratio dask / cpu: {dask_s / cpu_s:.2f}x")
        print("peak RSS per worker: " + ", ".join(f"{v:.0f} MB" for v in peaks.values()))

    # the model: one block pair of B rows (one thread), as the workers run it
    B = min(args.n, 4096)
    (p,) = prepare_points(real[: 2 * B], tiles=True)
    start = time.perf_counter()
    _knn_task(p.tile[:B], p.exact[:B], p.tile[B:], p.exact[B:], p.scale, args.k, B)
    pair_s = time.perf_counter() - start
    block_mb = B * args.d * 4 / 1e6
    print(
        f"\nmodel input: one knn block pair, B = {B}, d = {args.d}, 1 thread: {pair_s:.3f} s; a block {block_mb:.0f} MB"
    )
    for n in (10**6, 10**7):
        pairs = (n / B) ** 2  # ordered pairs per set for self-kNN (both sets) + the cross ball query
        work_s = 3 * pairs * pair_s
        moved_gb = 3 * pairs * 2 * block_mb / 1e3  # at worst both blocks of a pair fetched (tile + exact alike)
        for workers in (8, 64, 512):
            print(
                f"  n = m = {n:.0e}: {3 * pairs:.3g} block pairs, {work_s / 3600:.0f} core-hours; on {workers} "
                f"single-thread workers {work_s / workers / 3600:.1f} h compute, transfers at most "
                f"{moved_gb / workers:.0f} GB per worker"
            )


if __name__ == "__main__":
    main()
