"""RRKE's nuclear norm: rke-score's own README example through the compat shim, and a dense case against the SVD.

    python bench/nuclear.py              # the README example (10,000 rows a set, d = 1,000, bandwidths 0.2, 0.3,
                                         # 0.4) through genmetrics.compat.rke_score, then dense cases
    python bench/nuclear.py --quick      # n = m = 1,000 dense cases only

rke-score 0.0.7's README computes ``RKE(kernel_bandwidth=[0.2, 0.3, 0.4]).compute_rrke(real, fake)`` on two sets of
10,000 standard normal rows in d = 1,000 (``np.random.normal``; seeded here). The old genmetrics.rrke held
K_XY (n x m float64) and took a full SVD: ``--old`` times that path too (about 8 minutes a bandwidth here).

Dense cases: rbf at a bandwidth where K_XY has no zero entry, the new exact path (Gram of the smaller side +
eigensolve + orthogonal refinement of the small singular values) against ``np.linalg.svd`` of the held matrix
(the old path), same numbers to ~1e-11; and the stochastic method's interval. Ratios, and the floor: the Gram
accumulation's flops (n m d for K, s^2 max(n, m) for G) over the float64 GEMM rate measured here.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import genmetrics as gm
from genmetrics.compat.rke_score import RKE


def gemm_rate() -> float:
    a = np.random.default_rng(0).standard_normal((2048, 2048))
    a @ a
    t = time.perf_counter()
    a @ a
    return 2 * 2048**3 / (time.perf_counter() - t)


def old_rrke(X, Y, sigma) -> float:
    K = np.asarray(gm.gram(X, Y, kernel="rbf", bandwidth=sigma), dtype=np.float64) / math.sqrt(len(X) * len(Y))
    total = float(np.linalg.svd(K, compute_uv=False).sum())
    return -2.0 * math.log(total) if total > 0 else math.inf


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--old", action="store_true", help="also time the old full SVD on the README example")
    parser.add_argument("--dense", type=int, nargs="*", default=None, help="n = m of the dense cases")
    args = parser.parse_args()
    rate = gemm_rate()
    print(f"float64 GEMM rate (NumPy 2048^3): {rate / 1e9:.1f} GFLOP/s")
    if not args.quick:
        rng = np.random.default_rng(0)
        real = rng.normal(0.0, 1.0, size=(10_000, 1_000))
        fake = rng.normal(0.0, 1.0, size=(10_000, 1_000))
        t = time.perf_counter()
        out = RKE(kernel_bandwidth=[0.2, 0.3, 0.4]).compute_rrke(real, fake)
        elapsed = time.perf_counter() - t
        floor = 3 * 2 * 10_000 * 10_000 * 1_000 / rate
        print(f"README example, compute_rrke: {elapsed:.1f} s -> {out} (floor {floor:.1f} s: 3 x 2 n m d GEMM flops)")
        k = gm.gram(real[:2000], fake[:2000], kernel="rbf", bandwidth=0.4)
        print(f"  largest K_XY value at sigma = 0.4 on 2,000 x 2,000 rows: {float(np.max(k))!r}")
        if args.old:
            t = time.perf_counter()
            old = old_rrke(real, fake, 0.4)
            print(f"  old path (held K + SVD), one bandwidth: {time.perf_counter() - t:.1f} s -> {old}")
    sizes = args.dense if args.dense is not None else ([1000] if args.quick else [1000, 2000, 4000])
    for n in sizes:
        rng = np.random.default_rng(1)
        d = 64
        X = rng.standard_normal((n, d))
        Y = rng.standard_normal((n, d)) + 0.1
        sigma = math.sqrt(2 * d)  # about the median distance of the pairs: K_XY dense, no zero entry
        t = time.perf_counter()
        new = gm.rrke(X, Y, bandwidth=sigma, method="exact")
        t_new = time.perf_counter() - t
        t = time.perf_counter()
        old = old_rrke(X, Y, sigma)
        t_old = time.perf_counter() - t
        t = time.perf_counter()
        est = gm.rrke(X, Y, bandwidth=sigma, method="stochastic", seed=0)
        t_est = time.perf_counter() - t
        floor = (2 * n * n * d + n**3) / rate
        print(
            f"dense n = m = {n}, d = {d}, sigma = {sigma:.3g}: exact {t_new:.2f} s, SVD {t_old:.2f} s "
            f"({t_old / t_new:.2f}x), |diff| {abs(float(new) - old):.1e}, ; floor of the Gram "
            f"{floor:.2f} s; stochastic {t_est:.2f} s = {float(est):.5f} "
            f"[{est.details['ci_low']:.5f}, {est.details['ci_high']:.5f}] vs exact {float(new):.5f}"
        )


if __name__ == "__main__":
    main()
