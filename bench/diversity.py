"""Diversity metrics, genmetrics against the reference packages, side by side in one process.

    python bench/diversity.py            # the sizes of the diversity issue (several minutes: score_X takes ~1 min)
    python bench/diversity.py --quick    # small sizes, a smoke run

Prints markdown tables for bench/RESULTS.md: times, ratios, peak memory above the input, and how far each
genmetrics primitive is from the machine's float32 GEMM rate (the floor of any exact O(n^2 d) method).
"""

from __future__ import annotations

import argparse
import datetime

import genmetrics as gm
from _common import gemm_rate, machine, measure, mixture, table


def fmt(seconds: float) -> str:
    return f"{seconds:.3g} s"


def cosine_vendi(n, d, rate):
    from vendi_score import vendi as vs

    X = mixture(n, d, modes=100)
    t_gm, mem_gm, ours = measure(lambda: gm.vendi(X, q=1, kernel="cosine"), repeat=2)
    t_dual, _, dual = measure(lambda: vs.score_dual(X, q=1))
    t_x, mem_x, ref = measure(lambda: vs.score_X(X, q=1))
    floor = n * d * d / (rate * 1e9)  # the X^T X syrk: n d^2 flops
    print(f"\n### Cosine Vendi (q = 1), n = {n}, d = {d}, float32\n")
    table(
        [
            ["genmetrics vendi (auto -> dual)", fmt(t_gm), f"{mem_gm:.0f} MB", f"{ours:.6g}", "1"],
            ["vendi_score.score_dual", fmt(t_dual), "", f"{dual:.6g}", f"{t_dual / t_gm:.2f}x"],
            ["vendi_score.score_X", fmt(t_x), f"{mem_x:.0f} MB", f"{ref:.6g}", f"{t_x / t_gm:.1f}x"],
        ],
        ["method", "time", "peak memory", "VS_1", "reference / genmetrics"],
    )
    print(
        f"\nFloor (X^T X at the GEMM rate, {floor:.3g} s) + eigvalsh of d x d; "
        f"genmetrics is {t_gm / floor:.1f}x the GEMM floor."
    )


def exact_rke(n, d, rate):
    X = mixture(n, d, modes=50)
    t_mm, mem_mm, _ = measure(lambda: X @ X.T)
    t_gm, mem_gm, ours = measure(lambda: gm.rke(X), repeat=2)
    flops = n * n * d  # half the tiles of X X^T: n^2 d flops (2 n^2 d / 2)
    print(f"\n### Exact RKE mode count (rbf, fused sum of k^2), n = {n}, d = {d}, float32\n")
    table(
        [
            [
                "genmetrics rke (exact)",
                fmt(t_gm),
                f"{mem_gm:.0f} MB",
                f"{ours:.6g}",
                f"{flops / t_gm / 1e9:.0f} GFLOP/s",
            ],
            [
                "NumPy X @ X.T (float32)",
                fmt(t_mm),
                f"{mem_mm:.0f} MB",
                "",
                f"{2 * n * n * d / t_mm / 1e9:.0f} GFLOP/s (full)",
            ],
        ],
        ["", "time", "peak memory above input", "RKE-MC", "rate"],
    )
    print(
        f"\ngenmetrics / matmul time: {t_gm / t_mm:.2f} (target <= 2.5); at {flops / t_gm / 1e9 / rate:.0%} of the "
        f"GEMM rate ({rate:.0f} GFLOP/s) for its n^2 d flops; "
        f"the n x n matrix alone would be {n * n * 4 / 2**20:.0f} MB."
    )


def rke_score_side_by_side(n_small, n_large, d, rate):
    from rke_score import RKE

    X = mixture(n_small, d, modes=10)
    sigma = float(gm.rke(X).bandwidth)
    t_ref, _, ref = measure(lambda: RKE(kernel_bandwidth=sigma).compute_rke_mc_frobenius_norm(X))
    t_gm, _, ours = measure(lambda: gm.rke(X, bandwidth=sigma), repeat=3)
    ref_value = 1.0 / list(ref.values())[0]  # rke-score returns ||K/n||_F^2, the reciprocal of the mode count
    Xl = mixture(n_large, d, modes=10)
    t_large, mem_large, large = measure(lambda: gm.rke(Xl, bandwidth=sigma))
    print(f"\n### rke-score compute_rke_mc_frobenius_norm against genmetrics rke (rbf, sigma = {sigma:.3g}, d = {d})\n")
    table(
        [
            [f"rke-score, n = {n_small}", fmt(t_ref), f"{ref_value:.8g}", ""],
            [f"genmetrics, n = {n_small}", fmt(t_gm), f"{float(ours):.8g}", f"{t_ref / t_gm:.0f}x faster"],
            [f"genmetrics, n = {n_large}", fmt(t_large), f"{float(large):.6g}", f"peak {mem_large:.0f} MB"],
        ],
        ["", "time", "RKE-MC", ""],
    )


def nystrom(n, dims, rate):
    print(f"\n### Nystrom Vendi against the exact RKE (q = 2), n = {n}, rbf (median bandwidth), rank 1000\n")
    rows = []
    for d in dims:
        X = mixture(n, d, modes=30, spread=0.3)
        t_exact, _, exact = measure(lambda: gm.rke(X))
        t_ny, mem_ny, approx = measure(lambda: gm.vendi(X, q=2, kernel="rbf", method="nystrom"))
        t_ny1, _, approx1 = measure(lambda: gm.vendi(X, q=1, kernel="rbf", method="nystrom"))
        rows.append(
            [
                d,
                fmt(t_ny),
                f"{mem_ny:.0f} MB",
                f"{float(approx):.5g}",
                f"{float(exact):.5g}",
                f"{abs(approx - exact) / exact:.2e}",
                f"{approx.residual_mass:.2e}",
                fmt(t_exact),
                f"{float(approx1):.5g}",
            ]
        )
    table(
        rows,
        [
            "d",
            "Nystrom time",
            "peak memory",
            "Nystrom VS_2",
            "exact RKE",
            "relative error",
            "residual mass",
            "exact RKE time",
            "Nystrom VS_1",
        ],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    args = parser.parse_args()
    rate = gemm_rate()
    print(f"## Diversity benchmarks, {datetime.date.today()}, {machine()}")
    print(
        f"\nfloat32 GEMM rate (NumPy matmul 4096 x 2048 x 4096): {rate:.0f} GFLOP/s; "
        f"genmetrics backends: {', '.join(k for k, (ok, _) in gm.backends().items() if ok)}"
    )
    if args.quick:
        cosine_vendi(2000, 256, rate)
        exact_rke(4000, 64, rate)
        rke_score_side_by_side(200, 4000, 64, rate)
        nystrom(3000, [32], rate)
    else:
        cosine_vendi(10_000, 2048, rate)
        exact_rke(20_000, 256, rate)
        rke_score_side_by_side(300, 20_000, 256, rate)
        nystrom(30_000, [32, 256, 2048], rate)


if __name__ == "__main__":
    main()
