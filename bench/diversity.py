"""Diversity metrics, genmetrics against the reference packages, side by side in one process.

    python bench/diversity.py            # the sizes of the diversity issue (several minutes: score_X takes ~1 min)
    python bench/diversity.py --quick    # small sizes, a smoke run

Prints markdown tables for bench/RESULTS.md: times, ratios, peak memory above the input, and how far each
genmetrics primitive is from the machine's float32 GEMM rate (the floor of any exact O(n^2 d) method).
"""

from __future__ import annotations

import argparse
import datetime

import numpy as np

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


def _clusters(n, k, d, spread, seed=0):
    """k tight clusters (centres 10 N(0, I_d), spread s): a few large eigenvalues and a long rbf tail."""
    rng = np.random.default_rng(seed)
    centres = 10.0 * rng.standard_normal((k, d))
    return centres[rng.integers(0, k, size=n)] + spread * rng.standard_normal((n, d))


def _exact_hill(X, sigma, qs):
    """float64 dense eigenvalues of K / n (one eigensolve), then VS_q for each q."""
    K = gm.gram(X.astype(np.float64), kernel="rbf", bandwidth=sigma)
    lam = np.clip(np.linalg.eigvalsh(K), 0, None)
    del K
    lam = lam[lam > 0] / lam.sum()
    return {
        q: float(np.exp(-np.sum(lam * np.log(lam)))) if q == 1 else float(np.sum(lam**q) ** (1 / (1 - q))) for q in qs
    }


#: The largest n whose exact VS_q the stochastic section computes (a dense float64 eigensolve of n x n).
EXACT_LIMIT = 15_000


def stochastic_entropy(cases, rate, seeds=40, coverage_n=1000):
    """method='stochastic' (deflated SLQ) against the exact eigensolve and against Nystrom, and its coverage."""
    print("\n### Stochastic Vendi (deflated SLQ, rtol = 1 %) against exact and Nystrom, rbf\n")
    headers = [
        "case",
        "q",
        "exact VS_q",
        "exact time",
        "stochastic [95 % CI]",
        "error",
        "CI holds exact",
        "matvecs / passes / probes / steps",
        "stochastic time",
        "floor",
        "peak memory",
        "Nystrom r=300",
        "Nystrom time",
    ]
    # rows are printed as they come (a case at n = 100,000 takes many minutes)
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|", flush=True)
    for name, X, sigma, exact_ok in cases:
        n, d = X.shape
        t_exact, exact = (None, None)
        if exact_ok:
            t_exact, _, exact = measure(lambda: _exact_hill(X, sigma, (1.0, 0.5)))
        for q in (1.0, 0.5):
            t_st, mem, s = measure(lambda: gm.vendi(X, q=q, kernel="rbf", bandwidth=sigma, method="stochastic"))
            t_ny, _, ny = measure(lambda: gm.vendi(X, q=q, kernel="rbf", bandwidth=sigma, method="nystrom", rank=300))
            det = s.details
            floor = (det["passes"] * n * n * d + 2.0 * n * n * det["matvecs"]) / (rate * 1e9)
            ref = exact[q] if exact else None
            row = [
                name,
                q,
                f"{ref:.5g}" if ref else "not computed",
                fmt(t_exact) if t_exact else "",
                f"{float(s):.5g} [{s.ci_low:.5g}, {s.ci_high:.5g}]",
                f"{float(s) / ref - 1:+.2%}" if ref else "",
                "yes" if ref and s.ci_low <= ref <= s.ci_high else ("no" if ref else ""),
                f"{det['matvecs']} / {det['passes']} / {det['probes']} / {det['lanczos_steps']}",
                fmt(t_st),
                f"{floor:.3g} s",
                f"{mem:.0f} MB",
                f"{float(ny):.5g} ({float(ny) / ref - 1:+.1%})" if ref else f"{float(ny):.5g}",
                fmt(t_ny),
            ]
            print("| " + " | ".join(str(cell) for cell in row) + " |", flush=True)
    mixture_x = mixture(2 * coverage_n, 64, modes=100, seed=1)
    coverage_cases = [
        (f"12 clusters, n = {coverage_n}, d = 32, sigma = 1", _clusters(coverage_n, 12, 32, 0.06, seed=1), 1.0),
        (
            f"100 modes, n = {2 * coverage_n}, d = 64, median sigma",
            mixture_x,
            float(gm.rke(mixture_x).bandwidth),
        ),
    ]
    print(f"\nCoverage of the 95 % interval over {seeds} seeds, rtol = 1 %:\n")
    rows = []
    for name, X, sigma in coverage_cases:
        exact = _exact_hill(X, sigma, (1.0, 0.5))
        for q in (1.0, 0.5):
            hits, errs, widths = 0, [], []
            for seed in range(seeds):
                s = gm.vendi(X, q=q, kernel="rbf", bandwidth=sigma, method="stochastic", seed=seed)
                hits += s.ci_low <= exact[q] <= s.ci_high
                errs.append(float(s) / exact[q] - 1)
                widths.append((s.ci_high - s.ci_low) / 2 / float(s))
            rows.append(
                [
                    name,
                    q,
                    f"{exact[q]:.5g}",
                    f"{hits}/{seeds}",
                    f"{np.mean(errs):+.3%}",
                    f"{np.std(errs):.3%}",
                    f"{np.max(np.abs(errs)):.3%}",
                    f"{np.mean(widths):.3%}",
                ]
            )
    table(rows, ["case", "q", "exact", "CI holds exact", "mean error", "sd error", "max |error|", "mean half-width"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--only", choices=["stochastic"], help="run one section")
    parser.add_argument("--seeds", type=int, default=40, help="seeds of the stochastic coverage runs (default 40)")
    parser.add_argument("--sizes", help="stochastic: the 100-mode cases as NxD,NxD,... (exact up to 15,000 rows)")
    args = parser.parse_args()
    rate = gemm_rate()
    print(f"## Diversity benchmarks, {datetime.date.today()}, {machine()}")
    print(
        f"\nfloat32 GEMM rate (NumPy matmul 4096 x 2048 x 4096): {rate:.0f} GFLOP/s; "
        f"genmetrics backends: {', '.join(k for k, (ok, _) in gm.backends().items() if ok)}"
    )
    if args.only == "stochastic":
        clusters = ("12 clusters, n = 3000, d = 32, sigma = 1", _clusters(3000, 12, 32, 0.06), 1.0, True)
        # exact (one dense float64 eigensolve) up to EXACT_LIMIT: ~3 min at 15,000, ~20 min at 30,000 on 2 cores
        if args.sizes:
            sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]
        else:
            sizes = [(5000, 64)] if args.quick else [(15_000, 64), (10_000, 2048), (30_000, 64), (100_000, 64)]
        sizes = [(n, d, n <= EXACT_LIMIT) for n, d in sizes]
        cases = [clusters]
        for n, d, exact_ok in sizes:
            X = mixture(n, d, modes=100)
            sigma = float(gm.rke(X[:2000]).bandwidth)
            cases.append((f"100 modes, n = {n}, d = {d}, median sigma", X, sigma, exact_ok))
        stochastic_entropy(cases, rate, seeds=args.seeds)
        return
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
