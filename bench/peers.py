"""FD, KID and cosine Vendi against the implementations they replace, side by side in one process (issue 14, part 3).

    python bench/peers.py                  # n = m = 10,000, d = 2,048 (about a minute on 2 cores)
    python bench/peers.py --n 5000 --d 512
    python bench/peers.py --only kid       # one metric

* FD: ``gm.fd(real, fake)`` against pytorch-fid's manner (``np.cov`` in float64, ``scipy.linalg.sqrtm(s1 @ s2)``;
  bench/evaluate.py's ``ref_fd``).
* KID: ``gm.kid(real, fake)`` (100 subsets of 1,000, polynomial kernel of degree 3) against torchmetrics' manner in
  NumPy (bench/evaluate.py's ``ref_kid``: three float32 kernel matrices a subset, sums in float64), on the same
  subsets.
* Vendi: ``gm.vendi(X, kernel="cosine")`` against vendi-score's ``score_dual(X, q=1)`` (the d x d dual).

Each is the best of ``--repeat`` runs on each side; the table gives the ratio (peer time / genmetrics time) and the
floor: the flops of the work divided by the measured GEMM rate of the same precision.
"""

from __future__ import annotations

import argparse
import datetime

import numpy as np

import genmetrics as gm
from _common import fmt, gemm_rate, machine, measure, optional, table
from evaluate import ref_fd, ref_kid, rel


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="rows of each set (default 10,000)")
    parser.add_argument("--d", type=int, default=2_048, help="features (default 2,048)")
    parser.add_argument("--repeat", type=int, default=2, help="runs a side; the best is kept (default 2)")
    parser.add_argument("--only", choices=("fd", "kid", "vendi"), action="append", help="run only these metrics")
    args = parser.parse_args()
    only = set(args.only or ("fd", "kid", "vendi"))
    n, d = args.n, args.d
    rng = np.random.default_rng(0)
    real = rng.standard_normal((n, d), dtype=np.float32)
    fake = (1.1 * rng.standard_normal((n, d)) + 0.05).astype(np.float32)
    rate32, rate64 = gemm_rate(dtype=np.float32), gemm_rate(dtype=np.float64)
    print(f"{datetime.date.today()}, {machine()}, n = m = {n:,}, d = {d:,}, float32")
    print(f"GEMM rate: float32 {rate32:.0f} GFLOP/s, float64 {rate64:.0f} GFLOP/s (NumPy, all cores)")
    rows = []

    def record(name, ours, peer, peer_name, agreement, floor):
        (t_ours, _, _), (t_peer, _, _) = ours, peer
        rows.append([name, fmt(t_ours), f"{fmt(t_peer)} ({peer_name})", f"{t_peer / t_ours:.2f}x", agreement, floor])

    if "fd" in only:
        ours = measure(lambda: gm.fd(real, fake).value, args.repeat)
        peer = measure(lambda: ref_fd(real, fake, "sqrtm"), args.repeat)
        # two covariances (syrk, n d^2 each) in float64 and the d x d eigensolves: the syrk part alone
        floor = f"2 n d^2 / {rate64:.0f} GFLOP/s = {fmt(2 * n * d * d / rate64 / 1e9)} + eigensolves"
        record("FD", ours, peer, "pytorch-fid manner", f"{rel(ours[2], peer[2]):.1e} rel.", floor)
    if "kid" in only:
        ours = measure(lambda: gm.kid(real, fake, seed=0).mean, args.repeat)
        peer = measure(lambda: ref_kid(real, fake, seed=0)[0], args.repeat)
        s = min(1000, n, fake.shape[0])
        flops = 100 * (2 * s * s * d + 2 * s * s * d)  # two syrk (s^2 d each) and one gemm (2 s^2 d) a subset
        floor = f"{flops:.1e} flops / {rate32:.0f} GFLOP/s = {fmt(flops / rate32 / 1e9)}"
        record("KID (100 x 1,000)", ours, peer, "torchmetrics manner", f"{abs(ours[2] - peer[2]):.1e} abs.", floor)
    if "vendi" in only:
        vendi_score = optional("vendi_score.vendi", "vendi-score")
        if vendi_score is None:
            print("vendi-score is not installed: Vendi skipped")
        else:
            ours = measure(lambda: gm.vendi(real, kernel="cosine").value, args.repeat)
            peer = measure(lambda: float(vendi_score.score_dual(real, q=1)), args.repeat)
            floor = f"syrk n d^2 / {rate64:.0f} GFLOP/s = {fmt(n * d * d / rate64 / 1e9)} + a d x d eigensolve"
            record("cosine Vendi", ours, peer, "score_dual", f"{rel(ours[2], peer[2]):.1e} rel.", floor)
    table(rows, ["metric", "genmetrics", "peer", "ratio", "agreement", "floor"])


if __name__ == "__main__":
    main()
