"""The whole gm.evaluate(real, fake) against the reference packages doing the same metrics, in one process.

    python bench/evaluate.py            # n = m = 10,000, d = 2,048 (about 4 minutes on 2 cores: rke-score's
                                        # Python loop ~20 s a set, prdc 0.2 ~30 s, scipy sqrtm ~12 s)
    python bench/evaluate.py --quick    # n = m = 2,000, d = 256, a smoke run (under a minute; rke-score's
                                        # loop is ~35 s of it)
    python bench/evaluate.py --n 5000 --d 512

Like for like: ``gm.evaluate(real, fake, metrics=["prdc", "vendi", "rke", "fd", "kid"])`` (best of two runs; its
per-metric times are the report entries' ``seconds``) against the sum of

* prdc 0.2: ``prdc.compute_prdc(real, fake, nearest_k=5)``;
* vendi-score 0.0.3: ``vendi_score.vendi.score_dual(X, q=1)`` on the real and on the generated set (cosine Vendi
  through the d x d dual, as bench/diversity.py; ``score_X`` computes the same number through the n x n matrix,
  ~94x slower at n = 10,000, d = 2,048, and is not run here);
* rke-score 0.0.7: ``RKE(kernel_bandwidth=sigma).compute_rke_mc(X)`` on each set, sigma = the bandwidth evaluate
  chose (rbf, median heuristic on the real set; rke-score has no rule of its own). compute_rke_mc is a Monte Carlo
  estimate over 1,000,000 random pairs (its default), a Python loop whose cost does not depend on n: it runs at
  the full n. (The exact ``compute_rke_mc_frobenius_norm`` loops over all n^2 pairs, ~1,000 s per set at
  n = 10,000: not run.) genmetrics computes the exact value over all n^2 pairs;
* FD in the pytorch-fid / torchmetrics manner, written here in NumPy: means, ``np.cov`` (float64), and
  ``scipy.linalg.sqrtm(sigma1 @ sigma2)`` as pytorch-fid (its eps-offset retry, real part), or, when SciPy is
  missing or ``--fd eigvals``, the square roots of ``np.linalg.eigvals(sigma1 @ sigma2)`` as torchmetrics;
* KID in the torchmetrics manner, written here in NumPy: 100 subsets of 1,000 rows (min(1000, n) when smaller),
  polynomial kernel (gamma x.y + 1)^3, gamma = 1/d, three kernel matrices per subset, the unbiased MMD^2 (diagonals
  out of the within-set sums, the cross sum over all pairs), mean and population std (ddof = 0) of the 100 values.
  The kernel matrices are computed in the input's dtype (float32 GEMMs, as torchmetrics on float32 features),
  their sums in float64. The subsets are drawn exactly as gm.kid draws them (``default_rng(seed)``, then per
  subset ``permutation(n)[:s]`` of real and of fake), so the two KIDs are computed on the same rows.

alpha-precision has no fast reference installed (synthcity's is the reference implementation and is not a
dependency): its genmetrics time is reported with the full ``gm.evaluate(real, fake)`` (all metrics), on its own,
outside the like-for-like sum. Reference packages that are not installed are skipped with a printed reason, and
the ratio is then taken over the metrics that ran on both sides.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import io
import math
import os
import sys
from importlib import metadata

import numpy as np

import genmetrics as gm
from _common import fmt, gemm_rate, machine, measure, optional, table
from fidelity import boundary_points, pair

LIKE_FOR_LIKE = ("prdc", "vendi", "rke", "fd", "kid")
PRDC_KEYS = ("precision", "recall", "density", "coverage")
RKE_SAMPLES = 1_000_000  # rke-score's default n_samples of compute_rke_mc


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), np.finfo(np.float64).tiny)


# ----------------------------------------------------------------------------------------------------
# the reference side: the packages, and FD / KID written in the manner of pytorch-fid and torchmetrics


def ref_prdc(prdc_module, real, fake, k):
    with contextlib.redirect_stdout(io.StringIO()):  # prdc 0.2 prints the set sizes
        out = prdc_module.compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
    return {key: float(out[key]) for key in PRDC_KEYS}


def ref_vendi(vendi_module, X):
    return float(vendi_module.score_dual(X, q=1))


def ref_rke(rke_class, X, sigma):
    out = rke_class(kernel_bandwidth=float(sigma)).compute_rke_mc(X)
    return float(list(out.values())[0])  # {bandwidth: mode count}


def ref_fd(real, fake, method):
    """FD as pytorch-fid (sqrtm) or torchmetrics (eigvals of sigma1 sigma2), in float64."""
    mu1, mu2 = real.mean(axis=0, dtype=np.float64), fake.mean(axis=0, dtype=np.float64)
    sigma1, sigma2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)  # float64 (np.cov upcasts)
    diff = mu1 - mu2
    if method == "sqrtm":
        from scipy import linalg  # noqa: PLC0415

        covmean = linalg.sqrtm(sigma1.dot(sigma2))
        if not np.isfinite(covmean).all():  # pytorch-fid: retry with eps on the diagonals
            offset = np.eye(sigma1.shape[0]) * 1e-6
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
        tr_covmean = float(np.trace(covmean).real)  # pytorch-fid raises if the imaginary diagonal exceeds 1e-3
    else:
        eigenvalues = np.linalg.eigvals(sigma1 @ sigma2)
        tr_covmean = float(np.sqrt(eigenvalues.astype(np.complex128)).real.sum())
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def _poly_kernel(X, Y, gamma, coef0, degree):
    return (X @ Y.T * X.dtype.type(gamma) + X.dtype.type(coef0)) ** degree


def ref_kid(real, fake, subsets=100, subset_size=1000, degree=3, gamma=None, coef0=1.0, seed=0):
    """(mean, std) of the unbiased polynomial MMD^2 over random subsets, torchmetrics' poly_mmd in NumPy."""
    n, m = real.shape[0], fake.shape[0]
    gamma = 1.0 / real.shape[1] if gamma is None else gamma
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    s = subset_size
    for t in range(subsets):
        X = real[rng.permutation(n)[:s]]
        Y = fake[rng.permutation(m)[:s]]
        k_xx = _poly_kernel(X, X, gamma, coef0, degree)
        k_yy = _poly_kernel(Y, Y, gamma, coef0, degree)
        k_xy = _poly_kernel(X, Y, gamma, coef0, degree)
        within = (
            k_xx.sum(dtype=np.float64)
            - np.trace(k_xx, dtype=np.float64)
            + k_yy.sum(dtype=np.float64)
            - np.trace(k_yy, dtype=np.float64)
        )
        values[t] = within / (s * (s - 1)) - 2.0 * k_xy.sum(dtype=np.float64) / s**2
    return float(values.mean()), float(values.std())


def rke_mc_error(X, sigma, samples=RKE_SAMPLES, probe=20_000, seed=1):
    """Relative standard error of a Monte Carlo mean of k^2 over `samples` random pairs (i, j), estimated from
    `probe` pairs: the statistical precision one can expect of rke-score's compute_rke_mc."""
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, X.shape[0], size=(2, probe))
    k2 = np.empty(probe)
    for a in range(0, probe, 2000):
        diff = X[i[a : a + 2000]].astype(np.float64) - X[j[a : a + 2000]]
        k2[a : a + 2000] = np.exp(-np.einsum("ij,ij->i", diff, diff) / sigma**2)  # k^2 = exp(-|x-y|^2 / sigma^2)
    return float(k2.std() / k2.mean() / math.sqrt(samples))


# ----------------------------------------------------------------------------------------------------
# the benchmark


def best_evaluate(real, fake, metrics, repeat):
    """(wall time, peak memory, report) of the fastest of `repeat` evaluate() calls."""
    best = (float("inf"), 0.0, None)
    peak = 0.0
    for _ in range(repeat):
        t, mem, report = measure(lambda: gm.evaluate(real, fake, metrics=metrics))
        peak = max(peak, mem)
        if t < best[0]:
            best = (t, mem, report)
    return best[0], peak, best[2]


def like_for_like(real, fake, k, fd_method, mods):
    n, d = real.shape
    t_gm, mem_gm, report = best_evaluate(real, fake, list(LIKE_FOR_LIKE), repeat=2)
    seconds = {e.name: e.seconds for e in report.entries}
    values = {e.name: e.value for e in report.entries}
    missing = [name for name in LIKE_FOR_LIKE if name not in seconds]
    if missing:  # evaluate() skips a metric the data do not allow, with a warning
        raise SystemExit(f"evaluate() did not compute {', '.join(missing)}: {'; '.join(report.warnings)}")
    sigma = next(e.parameters["bandwidth"] for e in report.entries if e.name == "rke")

    ref_t, ref_mem, ref_v, ref_how, skipped = {}, {}, {}, {}, {}
    if mods["prdc"] is not None:
        ref_t["prdc"], ref_mem["prdc"], ref_v["prdc"] = measure(lambda: ref_prdc(mods["prdc"], real, fake, k))
        ref_how["prdc"] = f"prdc {version('prdc')} compute_prdc(nearest_k={k})"
    else:
        skipped["prdc"] = "prdc not installed"
    if mods["vendi"] is not None:
        t_r, mem_r, v_r = measure(lambda: ref_vendi(mods["vendi"], real))
        t_f, mem_f, v_f = measure(lambda: ref_vendi(mods["vendi"], fake))
        ref_t["vendi"], ref_mem["vendi"], ref_v["vendi"] = t_r + t_f, max(mem_r, mem_f), {"real": v_r, "fake": v_f}
        ref_how["vendi"] = f"vendi-score {version('vendi-score')} score_dual(X, q=1), real + fake"
    else:
        skipped["vendi"] = "vendi-score not installed"
    if mods["rke"] is not None:
        np.random.seed(0)  # noqa: NPY002 (compute_rke_mc draws its pairs from NumPy's global generator)
        t_r, mem_r, v_r = measure(lambda: ref_rke(mods["rke"].RKE, real, sigma))
        t_f, mem_f, v_f = measure(lambda: ref_rke(mods["rke"].RKE, fake, sigma))
        ref_t["rke"], ref_mem["rke"], ref_v["rke"] = t_r + t_f, max(mem_r, mem_f), {"real": v_r, "fake": v_f}
        ref_how["rke"] = (
            f"rke-score {version('rke-score')} RKE(kernel_bandwidth=sigma).compute_rke_mc(X), "
            f"{RKE_SAMPLES:,} random pairs, real + fake"
        )
    else:
        skipped["rke"] = "rke-score not installed"
    ref_t["fd"], ref_mem["fd"], ref_v["fd"] = measure(lambda: ref_fd(real, fake, fd_method))
    ref_how["fd"] = (
        "NumPy means + np.cov, scipy.linalg.sqrtm(S1 S2) (pytorch-fid)"
        if fd_method == "sqrtm"
        else "NumPy means + np.cov, sqrt of np.linalg.eigvals(S1 S2) (torchmetrics)"
    )
    size = min(1000, n, fake.shape[0])
    ref_t["kid"], ref_mem["kid"], ref_v["kid"] = measure(lambda: ref_kid(real, fake, subset_size=size))
    ref_how["kid"] = f"NumPy poly_mmd (torchmetrics), 100 subsets of {size:,}, {real.dtype} kernels"

    print(
        f"\n### Like for like: gm.evaluate(real, fake, metrics=[{', '.join(LIKE_FOR_LIKE)}]) against the "
        f"references, n = m = {n:,}, d = {d:,}, {real.dtype}\n"
    )
    rows = []
    for name in LIKE_FOR_LIKE:
        if name in ref_t:
            rows.append(
                [
                    name,
                    fmt(seconds[name]),
                    ref_how[name],
                    fmt(ref_t[name]),
                    f"{ref_mem[name]:.0f} MB",
                    f"{ref_t[name] / seconds[name]:.1f}x",
                ]
            )
        else:
            rows.append([name, fmt(seconds[name]), f"skipped: {skipped[name]}", "", "", ""])
    overhead = t_gm - sum(seconds.values())
    rows.append(["(evaluate: input checks, report)", fmt(overhead), "", "", "", ""])
    ran = [name for name in LIKE_FOR_LIKE if name in ref_t]
    ref_total = sum(ref_t[name] for name in ran)
    if not skipped:
        gm_total, gm_label = t_gm, "evaluate() wall time"
    else:
        gm_total, gm_label = sum(seconds[name] for name in ran), f"its entries for {', '.join(ran)} only"
    rows.append(
        [
            f"**total** ({gm_label})",
            f"**{fmt(gm_total)}**",
            "sum of the references",
            f"**{fmt(ref_total)}**",
            f"max {max(ref_mem.values()):.0f} MB",
            f"**{ref_total / gm_total:.1f}x**",
        ]
    )
    table(
        rows, ["metric", "genmetrics", "reference", "reference time", "reference peak memory", "reference / genmetrics"]
    )
    print(
        f"\ngenmetrics: best of 2 evaluate() calls, peak memory {mem_gm:.0f} MB above the input; per-metric times "
        "are the report entries' `seconds` (rke's includes choosing sigma by the median heuristic on 1,000 real "
        "rows; the reference is handed that sigma). References: one run each. "
        f"**Like for like, genmetrics is {ref_total / gm_total:.1f}x faster than the sum of the references**"
        + (f" (over {', '.join(ran)}; skipped: {', '.join(skipped)})." if skipped else ".")
    )
    if "rke" in ref_t:
        rest = [name for name in ran if name != "rke"]
        rest_ref, rest_gm = sum(ref_t[x] for x in rest), sum(seconds[x] for x in rest)
        print(
            f"\nrke-score's Python loop is {ref_t['rke'] / ref_total:.0%} of the references' time; without RKE "
            f"({', '.join(rest)}): references {fmt(rest_ref)}, genmetrics' entries {fmt(rest_gm)}, "
            f"**{rest_ref / rest_gm:.1f}x**."
        )
    if report.warnings:
        print("\nevaluate() warnings: " + "; ".join(report.warnings))

    print(f"\n### Agreement of the numbers (same data, rbf sigma = {sigma:.4g} for RKE)\n")
    rows = []
    if "prdc" in ref_v:
        ours, theirs = values["prdc"], ref_v["prdc"]
        same = all(ours[key] == theirs[key] for key in PRDC_KEYS)
        for key in PRDC_KEYS:
            rows.append(
                [
                    f"prdc.{key}",
                    f"{ours[key]:.6f}",
                    f"{theirs[key]:.6f}",
                    "identical" if ours[key] == theirs[key] else f"{rel(ours[key], theirs[key]):.1e} rel.",
                ]
            )
        prdc_note = (
            "all four identical" if same else f"boundary points: {boundary_points(ours, theirs, n, fake.shape[0], k)}"
        )
    for name in ("vendi", "rke"):
        if name in ref_v:
            for side in ("real", "fake"):
                a, b = values[name][side], ref_v[name][side]
                rows.append([f"{name}.{side}", f"{a:.6g}", f"{b:.6g}", f"{rel(a, b):.1e} rel."])
    rows.append(["fd", f"{values['fd']:.6g}", f"{ref_v['fd']:.6g}", f"{rel(values['fd'], ref_v['fd']):.1e} rel."])
    kid_mean, kid_std = ref_v["kid"]
    rows.append(
        [
            "kid.mean",
            f"{values['kid']['mean']:.6g}",
            f"{kid_mean:.6g}",
            f"{rel(values['kid']['mean'], kid_mean):.1e} rel.",
        ]
    )
    rows.append(
        ["kid.std", f"{values['kid']['std']:.6g}", f"{kid_std:.6g}", f"{rel(values['kid']['std'], kid_std):.1e} rel."]
    )
    table(rows, ["number", "genmetrics", "reference", "difference"])
    notes = []
    if "prdc" in ref_v:
        notes.append(f"PRDC against prdc 0.2: {prdc_note}.")
    if "rke" in ref_v:
        se = max(rke_mc_error(real, sigma), rke_mc_error(fake, sigma))
        notes.append(
            f"RKE: rke-score's compute_rke_mc is a Monte Carlo estimate over {RKE_SAMPLES:,} random pairs; "
            f"its expected relative standard error here is {se:.1e} (estimated from 20,000 pairs), "
            "genmetrics' value is exact over all n^2 pairs."
        )
    if "vendi" in ref_v:
        notes.append("Vendi: score_dual solves the d x d eigenproblem in float32, genmetrics in float64.")
    notes.append("FD: " + ref_how["fd"] + "; genmetrics: symmetric eigensolvers in float64.")
    notes.append(
        "KID: the same subsets on both sides; the reference's kernel matrices are "
        f"{real.dtype} GEMMs, genmetrics' reductions are float64."
    )
    for note in notes:
        print(f"\n- {note}")
    return ref_total


def full_evaluate(real, fake):
    n, d = real.shape
    t, mem, report = measure(lambda: gm.evaluate(real, fake))
    print(f"\n### The full gm.evaluate(real, fake) (every metric), n = m = {n:,}, d = {d:,}\n")
    rows = [[e.name, e.group, fmt(e.seconds)] for e in report.entries]
    rows.append(["(evaluate: input checks, report)", "", fmt(t - sum(e.seconds for e in report.entries))])
    rows.append(["**total**", "", f"**{fmt(t)}**"])
    table(rows, ["metric", "group", "genmetrics time"])
    alpha = next((e for e in report.entries if e.name == "alpha_precision"), None)
    print(
        f"\nOne run, peak memory {mem:.0f} MB above the input."
        + (
            f" alpha_precision alone: {fmt(alpha.seconds)} (no fast reference installed: synthcity's is the "
            "reference implementation and is not a dependency; outside the like-for-like sum)."
            if alpha
            else ""
        )
    )
    if report.warnings:
        print("\nevaluate() warnings: " + "; ".join(report.warnings))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="n = m = 2,000, d = 256: a smoke run")
    parser.add_argument("--n", type=int, help="rows of each set (default 10,000; 2,000 with --quick)")
    parser.add_argument("--d", type=int, help="features (default 2,048; 256 with --quick)")
    parser.add_argument(
        "--fd",
        choices=("auto", "sqrtm", "eigvals"),
        default="auto",
        help="the reference FD's square root: scipy.linalg.sqrtm (pytorch-fid; auto when SciPy is "
        "importable) or np.linalg.eigvals (torchmetrics)",
    )
    parser.add_argument("--skip-full", action="store_true", help="skip the full evaluate() (all metrics)")
    args = parser.parse_args()
    n = args.n or (2000 if args.quick else 10_000)
    d = args.d or (256 if args.quick else 2048)
    k = 5
    fd_method = args.fd
    if fd_method == "auto":
        try:
            importlib.import_module("scipy.linalg")
            fd_method = "sqrtm"
        except ImportError:
            fd_method = "eigvals"

    rate = gemm_rate()
    print(f"## gm.evaluate against the reference packages, {datetime.date.today()}, {machine()}")
    command = " ".join(["python", "bench/" + os.path.basename(sys.argv[0]), *sys.argv[1:]])
    print(f"\nCommand: `{command}`")
    print(
        f"\nfloat32 GEMM rate (NumPy matmul 4096 x 2048 x 4096): {rate:.0f} GFLOP/s; "
        f"genmetrics {gm.__version__}, backends: {', '.join(b for b, (ok, _) in gm.backends().items() if ok)}; "
        f"NumPy {np.__version__}, SciPy {version('scipy')}, prdc {version('prdc')}, "
        f"vendi-score {version('vendi-score')}, rke-score {version('rke-score')}."
    )
    print(
        f"\nData: `bench/fidelity.py: pair({n}, {n}, {d})`: two disjoint samples of one Gaussian mixture "
        "(100 modes), float32. Reference FD: "
        + (
            "scipy.linalg.sqrtm (pytorch-fid)."
            if fd_method == "sqrtm"
            else "np.linalg.eigvals of S1 S2 (torchmetrics)."
        )
    )
    mods = {
        "prdc": optional("prdc", "prdc==0.2"),
        "vendi": optional("vendi_score.vendi", "vendi-score==0.0.3"),
        "rke": optional("rke_score", "rke-score==0.0.7"),
    }
    real, fake = pair(n, n, d)
    like_for_like(real, fake, k, fd_method, mods)
    if not args.skip_full:
        full_evaluate(real, fake)


if __name__ == "__main__":
    main()
