"""Fidelity metrics (PRDC and the k-NN search under it), genmetrics against prdc 0.2 and faiss-cpu, side by side.

    python bench/fidelity.py            # the sizes of the fidelity issue (many minutes;
                                        # prdc 0.2 needs ~2 GB at n = 10,000)
    python bench/fidelity.py --quick    # small sizes, a smoke run

Prints markdown tables for bench/RESULTS.md: times, ratios, peak memory above the input, the four numbers of each
implementation and how many boundary points they differ by, and how far each genmetrics figure is from the
machine's float32 GEMM rate (the floor of any exact method that looks at every pair):

* self k-NN of n points: half the n x n pairs at 2 d flops each, n^2 d flops;
* PRDC of n real and m generated points: the two self passes and one cross pass, n^2 d + m^2 d + 2 n m d flops.

The faiss pipeline (IndexFlatL2, exact, float32, squared distances by |x|^2 + |y|^2 - 2 x.y) computes the same four
numbers: the radii with search(k + 1) on each set (the (k + 1)-th smallest including the point itself, as prdc 0.2
takes it), then one range_search of the real points against the generated ones with, per block of queries, the
radius max(largest real radius of the block, largest generated radius); the returned pairs are filtered against
each real radius (precision, density, coverage) and each generated radius (recall), all with the strict <. faiss
computes every pair of each pass (no symmetry): 2 n^2 d + 2 m^2 d + 2 n m d flops. prdc 0.2 stores three full
distance matrices computed by scikit-learn (float32 input is upcast to float64 chunk by chunk).
Competitors that are not installed are skipped with a printed reason.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os

import numpy as np

import genmetrics as gm
from _common import fmt, gemm_rate, machine, measure, mixture, optional, table

CORES = len(os.sched_getaffinity(0))
KEYS = ("precision", "recall", "density", "coverage")


def floor_s(flops: float, rate: float) -> float:
    return flops / (rate * 1e9)


def pair(n: int, m: int, d: int, modes: int = 100):
    """Real and generated embeddings: two disjoint samples of one Gaussian mixture (float32)."""
    Z = mixture(n + m, d, modes=modes)
    return np.ascontiguousarray(Z[:n]), np.ascontiguousarray(Z[n:])


def boundary_points(ours: dict, theirs: dict, n: int, m: int, k: int) -> str:
    """By how many boundary points two PRDC results differ: 1/m per point for precision, 1/n for recall and
    coverage, 1/(k m) for density."""
    units = {"precision": m, "recall": n, "density": k * m, "coverage": n}
    return ", ".join(f"{key} {abs(ours[key] - theirs[key]) * u:.0f}" for key, u in units.items())


# ----------------------------------------------------------------------------------------------------
# the competitors


def reference_prdc(prdc_module, real, fake, k):
    with contextlib.redirect_stdout(io.StringIO()):  # prdc 0.2 prints the set sizes
        out = prdc_module.compute_prdc(real, fake, nearest_k=k)
    return {key: float(out[key]) for key in KEYS}


def faiss_radii_sq(faiss, X, k):
    """Squared distance to the k-th nearest other point: column k of search(k + 1) (the point itself, or an
    exact duplicate of it, is among the k + 1)."""
    index = faiss.IndexFlatL2(X.shape[1])
    index.add(X)
    D, _ = index.search(X, k + 1)
    return D[:, k].astype(np.float32), index


def faiss_prdc(faiss, real, fake, k, block=4096):
    n, m = len(real), len(fake)
    r2, _ = faiss_radii_sq(faiss, real, k)
    s2, fake_index = faiss_radii_sq(faiss, fake, k)
    s2_max = float(s2.max())
    in_balls = np.zeros(m, dtype=np.int64)  # number of real balls containing each generated point
    covered = np.zeros(n, dtype=bool)  # real point with a generated point inside its ball
    recalled = np.zeros(n, dtype=bool)  # real point inside some generated ball
    for a in range(0, n, block):
        b = min(a + block, n)
        radius = max(float(r2[a:b].max()), s2_max)  # range_search keeps d < radius: every pair needed below
        lims, D, I = fake_index.range_search(real[a:b], radius)
        rows = np.repeat(np.arange(b - a), np.diff(lims).astype(np.int64))  # lims is uint64
        in_r = D < r2[a:b][rows]
        in_balls += np.bincount(I[in_r], minlength=m)
        covered[a:b] = np.bincount(rows[in_r], minlength=b - a) > 0
        recalled[a:b] = np.bincount(rows[D < s2[I]], minlength=b - a) > 0
    return {
        "precision": float((in_balls > 0).mean()),
        "recall": float(recalled.mean()),
        "density": float(in_balls.sum() / (k * m)),
        "coverage": float(covered.mean()),
    }


def faiss_knn(faiss, X, k):
    """Self k-NN with IndexFlatL2: search(k + 1), then drop each row's own index (or, where round-off or
    duplicates pushed it out, the last column). Returns (distances, indices), (n, k)."""
    n = len(X)
    index = faiss.IndexFlatL2(X.shape[1])
    index.add(X)
    D, I = index.search(X, k + 1)
    drop = I == np.arange(n)[:, None]
    drop[~drop.any(axis=1), -1] = True
    keep = ~drop
    return np.sqrt(np.maximum(D[keep], 0)).reshape(n, k), I[keep].reshape(n, k)


# ----------------------------------------------------------------------------------------------------
# the benchmarks


def prdc_side_by_side(n, m, d, k, rate, prdc_module, faiss):
    real, fake = pair(n, m, d)
    flops = float(n) * n * d + float(m) * m * d + 2.0 * n * m * d
    t_gm, mem_gm, res = measure(lambda: gm.prdc(real, fake, k=k), repeat=2)
    ours = {key: float(getattr(res, key)) for key in KEYS}
    rows = [
        [
            "genmetrics prdc",
            fmt(t_gm),
            f"{mem_gm:.0f} MB",
            *(f"{ours[key]:.4f}" for key in KEYS),
            "1",
            f"{t_gm / floor_s(flops, rate):.2f}x",
        ]
    ]
    notes = []
    if prdc_module is not None:
        t_ref, mem_ref, ref = measure(lambda: reference_prdc(prdc_module, real, fake, k))
        rows.append(
            [
                "prdc 0.2 compute_prdc",
                fmt(t_ref),
                f"{mem_ref:.0f} MB",
                *(f"{ref[key]:.4f}" for key in KEYS),
                f"{t_ref / t_gm:.1f}x",
                "",
            ]
        )
        notes.append(f"prdc 0.2 vs genmetrics, boundary points: {boundary_points(ours, ref, n, m, k)}")
    if faiss is not None:
        t_fs, mem_fs, fs = measure(lambda: faiss_prdc(faiss, real, fake, k))
        rows.append(
            [
                "faiss IndexFlatL2 pipeline",
                fmt(t_fs),
                f"{mem_fs:.0f} MB",
                *(f"{fs[key]:.4f}" for key in KEYS),
                f"{t_fs / t_gm:.1f}x",
                "",
            ]
        )
        notes.append(f"faiss vs genmetrics, boundary points: {boundary_points(ours, fs, n, m, k)}")
    print(
        f"\n### PRDC, n = m = {n:,}, d = {d}, k = {k}, float32\n"
        if n == m
        else f"\n### PRDC, n = {n:,}, m = {m:,}, d = {d}, k = {k}, float32\n"
    )
    table(
        rows,
        [
            "method",
            "time",
            "peak memory",
            "precision",
            "recall",
            "density",
            "coverage",
            "time / genmetrics",
            "genmetrics / GEMM floor",
        ],
    )
    print(
        f"\nGEMM floor: (n^2 + m^2 + 2 n m) d = {flops:.3g} flops at {rate:.0f} GFLOP/s = "
        f"{fmt(floor_s(flops, rate))}. The reference's three distance matrices take "
        f"{(n * n + m * m + n * m) * 4 / 2**20:.0f} MB in float32."
    )
    for note in notes:
        print(f"\n{note} (differences from round-off at ball boundaries; 0 is exact agreement).")


def knn_side_by_side(sizes, k, rate, faiss):
    print(
        f"\n### Self k-NN (k = {k}, self excluded), float32: "
        "genmetrics knn(X, k) vs faiss IndexFlatL2 search(X, k + 1)\n"
    )
    rows = []
    for n, d in sizes:
        X = mixture(n, d, modes=100)
        flops = float(n) * n * d
        t_gm, mem_gm, (dist, idx) = measure(lambda: gm.knn(X, k=k), repeat=2)
        row = [f"{n:,}", d, fmt(t_gm), f"{mem_gm:.0f} MB", f"{t_gm / floor_s(flops, rate):.2f}x"]
        if faiss is not None:
            t_fs, mem_fs, (fd, fi) = measure(lambda: faiss_knn(faiss, X, k))
            kth = np.asarray(dist, dtype=np.float64)[:, k - 1]
            rel = np.abs(fd[:, k - 1].astype(np.float64) - kth) / np.maximum(kth, np.finfo(np.float64).tiny)
            same = np.mean(np.all(np.sort(fi, axis=1) == np.sort(np.asarray(idx), axis=1), axis=1))
            row += [fmt(t_fs), f"{mem_fs:.0f} MB", f"{t_fs / t_gm:.2f}x", f"{rel.max():.1e}", f"{same:.4%}"]
        else:
            row += ["skipped"] + [""] * 4
        rows.append(row)
    table(
        rows,
        [
            "n",
            "d",
            "genmetrics",
            "peak memory",
            "genmetrics / GEMM floor",
            "faiss",
            "faiss peak memory",
            "faiss / genmetrics",
            "max rel. diff of k-th distance",
            "rows with the same neighbour set",
        ],
    )
    print(
        f"\nGEMM floor: n^2 d flops (half the pairs, 2 d flops each) at {rate:.0f} GFLOP/s; "
        "faiss computes all n^2 pairs "
        "(2 n^2 d flops). Neighbour sets can differ where two candidates tie to within float32 round-off."
    )


def prdc_memory(n, d, k, rate):
    real, fake = pair(n, n, d)
    flops = 4.0 * n * n * d
    t_gm, mem_gm, res = measure(lambda: gm.prdc(real, fake, k=k))
    inputs = (real.nbytes + fake.nbytes) / 2**20
    print(f"\n### genmetrics prdc at scale: n = m = {n:,}, d = {d}, k = {k}, float32\n")
    table(
        [
            [
                fmt(t_gm),
                f"{mem_gm:.0f} MB",
                f"{inputs:.0f} MB",
                f"{3 * n * n * 4 / 2**30:.1f} GB",
                f"{fmt(floor_s(flops, rate))}",
                f"{t_gm / floor_s(flops, rate):.2f}x",
                ", ".join(f"{key} {float(getattr(res, key)):.4f}" for key in KEYS),
            ]
        ],
        [
            "time",
            "peak memory above input",
            "input",
            "prdc 0.2's three matrices (not run)",
            "GEMM floor",
            "genmetrics / GEMM floor",
            "values",
        ],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--only", choices=("prdc", "knn", "memory"), help="run one section")
    args = parser.parse_args()
    run = {name: args.only in (None, name) for name in ("prdc", "knn", "memory")}
    rate = gemm_rate()
    print(f"## Fidelity benchmarks, {datetime.date.today()}, {machine()}")
    print(
        f"\nfloat32 GEMM rate (NumPy matmul 4096 x 2048 x 4096): {rate:.0f} GFLOP/s; "
        f"genmetrics backends: {', '.join(k for k, (ok, _) in gm.backends().items() if ok)}"
    )
    prdc_module = optional("prdc", "prdc==0.2")
    faiss = optional("faiss", "faiss-cpu")
    if faiss is not None:
        faiss.omp_set_num_threads(CORES)
        print(f"\nfaiss {faiss.__version__}, {faiss.omp_get_max_threads()} OpenMP threads.")
    k = 5
    quick = args.quick
    if run["prdc"]:
        prdc_side_by_side(*((1500, 1500, 256) if quick else (10_000, 10_000, 2048)), k, rate, prdc_module, faiss)
    if run["knn"]:
        sizes = (
            [(2000, 64), (2000, 512), (4000, 64)]
            if quick
            else [(20_000, 64), (20_000, 512), (20_000, 2048), (50_000, 64), (50_000, 512)]
        )
        knn_side_by_side(sizes, k, rate, faiss)
    if run["memory"]:
        prdc_memory(*((4000, 512) if quick else (50_000, 2048)), k, rate)


if __name__ == "__main__":
    main()
