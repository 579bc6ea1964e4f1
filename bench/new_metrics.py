"""Issue 17's metrics against their public implementations (or the original code's manner where that is not on
PyPI), one process, time and peak memory side by side, and the agreement of the numbers.

    python bench/new_metrics.py            # n = m = 10,000, d = 2,048 (about half an hour on 2 quiet cores: the
                                           # PRD reference's 100 MiniBatchKMeans fits ~10 min, FD-inf's 15 scipy
                                           # sqrtm at d = 2,048 3-5 min, top-pr's Python loops)
    python bench/new_metrics.py --quick    # n = m = 2,000, d = 256
    python bench/new_metrics.py --n 5000 --d 512 --only swd,mauve

Pairs (genmetrics first; references: one run each, genmetrics: best of two):

* ``gm.sliced_wasserstein(real, fake, projections=50, p=2, seed=0)`` against POT's
  ``ot.sliced_wasserstein_distance(real, fake, projections=theta)``, theta the very directions genmetrics draws
  (``RandomState(0).randn(d, 50)``, unit columns): the same number;
* ``gm.mauve(p, q)`` against mauve-text's ``compute_mauve(p_features=p, q_features=q)``, both with their defaults,
  which are the same settings (buckets min(n, m) / 10, PCA to 90 % of the variance, 5 k-means runs of at most 500
  iterations, 25 mixture weights, c = 5). mauve-text clusters with FAISS (random seeding, float32),
  genmetrics with gm.kmeans (k-means++, exact assignments): the quantisations differ, so the scores do too; the
  agreement on the same histograms (genmetrics' histograms through mauve-text's curve and area) is printed as well;
* ``gm.fd_infinity(real, fake)`` against FD-inf written here in dgm-eval's manner (dgm-eval is not on PyPI):
  the real moments once, FD at the same 15 sizes on the same subsets with ``scipy.linalg.sqrtm`` (pytorch-fid's
  eps retry), sklearn's ``LinearRegression`` on 1/N, the prediction at 0;
* ``gm.prd_curve(real, fake)`` against PRD written as the authors' code does it (msmsajjadi/precision-recall-
  distributions is not on PyPI): per run, sklearn ``MiniBatchKMeans(n_clusters=20, n_init=10)`` of the union
  (``random_state=run`` here, unseeded in the original), density histograms, 1,001 angles, 10 runs averaged,
  F_8 / F_1/8 with the code's 1e-10 in the denominator. Different clusterings: the F values agree only
  statistically;
* ``gm.p_precision_recall(real, fake)`` (k = 4, a = 1.2) and ``gm.rarity_score(real, fake)`` (k = 3) against
  NumPy/sklearn implementations in the authors' manner (kdst-team/Probablistic_precision_recall,
  hichoe95/Rarity-Score): full n x n and n x m float64 distance matrices from ``sklearn.metrics.pairwise_distances``
  (the inputs cast to float64), radii by ``np.partition`` / a full row sort, products over whole columns;
* ``gm.top_pr(real, fake, projection=W)`` against ``top_pr.compute_top_pr`` when it imports. top-pr 0.2.1 requires
  torchvision and gudhi; torchvision from PyPI replaces the CPU torch, and only top-pr's ``mode_drop`` module
  imports it, so install it aside: ``pip install --no-deps --target DIR top-pr gudhi`` and run with
  ``PYTHONPATH=DIR``. W is top-pr's projection (torch's Xavier-normal 32 x d weight after ``manual_seed(99)``);
  top-pr projects in float32 through torch, genmetrics in float64, so the counts may differ by a point or two.

gm.kmeans against FAISS's k-means is bench/clustering.py. Data: ``bench/fidelity.py: pair(n, n, d)``, float32.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os
import sys

import numpy as np

import genmetrics as gm
from _common import fmt, machine, measure, optional, table
from evaluate import rel, version
from fidelity import pair

ALL = ("swd", "mauve", "fd_inf", "prd", "p_pr", "rarity", "top_pr")


# ----------------------------------------------------------------------------------------------------
# the references written here


def swd_projections(d, projections, seed):
    """genmetrics' (and POT's) directions: RandomState(seed).randn(d, L), unit columns."""
    theta = np.random.RandomState(seed).randn(d, projections)  # noqa: NPY002 (POT's generator)
    return theta / np.linalg.norm(theta, axis=0, keepdims=True)


def ref_fd_infinity(real, fake, sizes, seed=0):
    """dgm-eval's compute_FD_infinity, with genmetrics' subsets: FD_N by scipy sqrtm, LinearRegression on 1/N."""
    from scipy import linalg  # noqa: PLC0415
    from sklearn.linear_model import LinearRegression  # noqa: PLC0415

    mu1, sigma1 = real.mean(axis=0, dtype=np.float64), np.cov(real, rowvar=False)
    rng = np.random.default_rng(seed)
    values = []
    for size in sizes:
        sub = fake[rng.choice(fake.shape[0], int(size), replace=False)]
        mu2, sigma2 = sub.mean(axis=0, dtype=np.float64), np.cov(sub, rowvar=False)
        covmean = linalg.sqrtm(sigma1.dot(sigma2))
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * 1e-6
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
        diff = mu1 - mu2
        values.append(float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean).real))
    reg = LinearRegression().fit(1.0 / np.asarray(sizes, np.float64).reshape(-1, 1), np.asarray(values))
    return float(reg.predict(np.array([[0.0]]))[0])


def ref_prd(real, fake, num_clusters=20, num_angles=1001, num_runs=10, beta=8.0):
    """(F_beta, F_1/beta) of compute_prd_from_embedding(eval_data=fake, ref_data=real), the authors' code's steps."""
    from sklearn.cluster import MiniBatchKMeans  # noqa: PLC0415

    angles = np.linspace(1e-10, np.pi / 2 - 1e-10, num=num_angles)
    slopes = np.tan(angles)
    precisions, recalls = [], []
    for run in range(num_runs):
        data = np.vstack([fake, real])
        labels = MiniBatchKMeans(n_clusters=num_clusters, n_init=10, random_state=run).fit(data).labels_
        eval_bins = np.histogram(labels[: len(fake)], bins=num_clusters, range=[0, num_clusters], density=True)[0]
        ref_bins = np.histogram(labels[len(fake) :], bins=num_clusters, range=[0, num_clusters], density=True)[0]
        precision = np.minimum(ref_bins[None, :] * slopes[:, None], eval_bins[None, :]).sum(axis=1)
        recall = precision / slopes
        precisions.append(np.clip(precision, 0, 1))
        recalls.append(np.clip(recall, 0, 1))
    precision, recall = np.mean(precisions, axis=0), np.mean(recalls, axis=0)

    def f_beta(p, r):
        return (1 + beta**2) * (p * r) / ((beta**2 * p) + r + 1e-10)

    return float(np.max(f_beta(precision, recall))), float(np.max(f_beta(recall, precision)))


def _pairwise(A, B=None):
    from sklearn.metrics import pairwise_distances  # noqa: PLC0415

    return pairwise_distances(A, A if B is None else B, metric="euclidean", n_jobs=1)


def ref_p_precision_recall(real, fake, k=4, a=1.2):
    """kdst-team pp_pr.py: radii from argpartition of full distance rows, the scores from the n x m matrix."""
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    r_real = a * np.partition(_pairwise(real), k, axis=1)[:, k].mean()
    r_fake = a * np.partition(_pairwise(fake), k, axis=1)[:, k].mean()
    D = _pairwise(real, fake)
    p_precision = np.mean(1.0 - np.prod(1.0 - np.clip(1.0 - D / r_real, 0.0, None), axis=0))
    p_recall = np.mean(1.0 - np.prod(1.0 - np.clip(1.0 - D.T / r_fake, 0.0, None), axis=0))
    return float(p_precision), float(p_recall)


def ref_rarity(real, fake, k=3):
    """hichoe95 MANIFOLD.rarity: radii from sorted real-real rows, in-ball mask of the n x m matrix, 0 outside."""
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    radii = np.sort(_pairwise(real), axis=1)[:, k]
    inside = radii[:, None] - _pairwise(real, fake) > 0
    scores = np.zeros(fake.shape[0])
    held = inside.any(axis=0)
    for j in np.flatnonzero(held):
        scores[j] = radii[inside[:, j]].min()
    return scores, held


def top_pr_projection(d):
    import torch  # noqa: PLC0415

    torch.manual_seed(99)
    W = torch.empty(32, d)
    torch.nn.init.xavier_normal_(W)
    return W.numpy().T.astype(np.float64)


# ----------------------------------------------------------------------------------------------------
# the benchmark


def run(real, fake, only, mods):
    n, d = real.shape
    m = fake.shape[0]
    rows, agree, notes = [], [], []

    def row(name, gm_run, how, ref_run):
        t_gm, mem_gm, _ = gm_run
        t_ref, mem_ref, _ = ref_run
        rows.append([name, fmt(t_gm), f"{mem_gm:.0f} MB", how, fmt(t_ref), f"{mem_ref:.0f} MB", f"{t_ref / t_gm:.1f}x"])

    def skip(name, gm_run, why):
        rows.append([name, fmt(gm_run[0]), f"{gm_run[1]:.0f} MB", f"skipped: {why}", "", "", ""])

    if "swd" in only:
        ours = measure(lambda: gm.sliced_wasserstein(real, fake, projections=50, p=2, seed=0), repeat=2)
        if mods["ot"] is not None:
            theta = swd_projections(d, 50, 0)
            theirs = measure(lambda: float(mods["ot"].sliced_wasserstein_distance(real, fake, projections=theta, p=2)))
            row("sliced_wasserstein (L = 50)", ours, f"POT {version('pot')}, the same 50 directions", theirs)
            agree.append(["swd", f"{ours[2]:.8g}", f"{theirs[2]:.8g}", f"{rel(ours[2], theirs[2]):.1e} rel."])
            notes.append(
                f"SWD: POT casts the directions to the input's dtype ({real.dtype}) and projects in it; genmetrics "
                "projects in float64 (on float64 inputs the two agree to ~1e-15, tests/test_more_metrics.py)."
            )
        else:
            skip("sliced_wasserstein", ours, "POT not installed")

    if "mauve" in only:
        ours = measure(lambda: gm.mauve(real, fake), repeat=2)
        if mods["mauve"] is not None:
            theirs = measure(lambda: mods["mauve"].compute_mauve(p_features=real, q_features=fake, verbose=False))
            row(
                f"mauve ({ours[2].num_buckets} buckets)",
                ours,
                f"mauve-text {version('mauve-text')} compute_mauve (FAISS {version('faiss-cpu')} k-means)",
                theirs,
            )
            a, b = ours[2], theirs[2]
            agree.append(["mauve", f"{a.mauve:.6f}", f"{b.mauve:.6f}", f"{abs(a.mauve - b.mauve):.1e} abs."])
            agree.append(
                [
                    "mauve_star",
                    f"{a.mauve_star:.6f}",
                    f"{b.mauve_star:.6f}",
                    f"{abs(a.mauve_star - b.mauve_star):.1e} abs.",
                ]
            )
            agree.append(
                [
                    "frontier_integral",
                    f"{a.frontier_integral:.6f}",
                    f"{b.frontier_integral:.6f}",
                    f"{abs(a.frontier_integral - b.frontier_integral):.1e} abs.",
                ]
            )
            cm = sys.modules["mauve.compute_mauve"]  # mauve-text's own curve and area, on genmetrics' histograms
            x, y = cm.get_divergence_curve_for_multinomials(
                np.asarray(a.p_hist), np.asarray(a.q_hist), np.linspace(1e-6, 1 - 1e-6, 25), 5.0
            ).T
            i1, i2 = np.argsort(x), np.argsort(y)
            same = 0.5 * (cm.compute_area_under_curve(x[i1], y[i1]) + cm.compute_area_under_curve(y[i2], x[i2]))
            agree.append(
                ["mauve, genmetrics' histograms", f"{a.mauve:.10f}", f"{same:.10f}", f"{abs(a.mauve - same):.1e} abs."]
            )
            notes.append(
                "MAUVE: the two quantisations differ (FAISS random seeding, float32, seed 25; gm.kmeans k-means++, "
                "seed 0), so the scores differ by the quantisation's variation; the last MAUVE row is mauve-text's "
                "divergence curve and area on genmetrics' own histograms."
            )
        else:
            skip("mauve", ours, "mauve-text not installed")

    if "fd_inf" in only:
        ours = measure(lambda: gm.fd_infinity(real, fake, seed=0), repeat=2)
        sizes = ours[2].details["sizes"]
        theirs = measure(lambda: ref_fd_infinity(real, fake, sizes, seed=0))
        row(
            f"fd_infinity ({len(sizes)} sizes, {sizes[0]:,}..{sizes[-1]:,})",
            ours,
            "dgm-eval manner: scipy sqrtm per size, LinearRegression",
            theirs,
        )
        agree.append(["fd_infinity", f"{ours[2]:.8g}", f"{theirs[2]:.8g}", f"{rel(ours[2], theirs[2]):.1e} rel."])
        notes.append("FD-inf: the same subsets on both sides (default_rng(0).choice per size).")

    if "prd" in only:
        ours = measure(lambda: gm.prd_curve(real, fake), repeat=2)
        theirs = measure(lambda: ref_prd(real, fake))
        row("prd_curve (20 clusters, 10 runs)", ours, "authors' manner: MiniBatchKMeans(n_init=10), NumPy", theirs)
        for label, a, b in (("prd F_8", ours[2].f_beta, theirs[2][0]), ("prd F_1/8", ours[2].f_beta_inv, theirs[2][1])):
            agree.append([label, f"{a:.6f}", f"{b:.6f}", f"{abs(a - b):.1e} abs."])
        notes.append(
            "PRD: full-batch k-means++ (genmetrics) against MiniBatchKMeans (the authors'): different clusterings, "
            "so F_8 / F_1/8 agree to the clustering's variation, not to round-off."
        )

    if "p_pr" in only:
        ours = measure(lambda: gm.p_precision_recall(real, fake), repeat=2)
        theirs = measure(lambda: ref_p_precision_recall(real, fake))
        row("p_precision_recall (k = 4, a = 1.2)", ours, "authors' manner: 3 full distance matrices, float64", theirs)
        for label, a, b in (
            ("p_precision", ours[2].precision, theirs[2][0]),
            ("p_recall", ours[2].recall, theirs[2][1]),
        ):
            agree.append([label, f"{a:.10f}", f"{b:.10f}", f"{rel(a, b):.1e} rel."])

    if "rarity" in only:
        ours = measure(lambda: gm.rarity_score(real, fake), repeat=2)
        theirs = measure(lambda: ref_rarity(real, fake))
        row("rarity_score (k = 3)", ours, "authors' manner: full distance matrices, float64", theirs)
        scores, held = theirs[2]
        same_mask = np.array_equal(ours[2].in_manifold, held)
        both = ours[2].in_manifold & held
        diff = float(np.max(np.abs(ours[2].scores[both] - scores[both]) / scores[both])) if both.any() else 0.0
        agree.append(
            [
                "rarity (in-manifold samples)",
                f"{int(ours[2].in_manifold.sum()):,} of {m:,}",
                f"{int(held.sum()):,} of {m:,}",
                "identical sets" if same_mask else f"{int((ours[2].in_manifold != held).sum())} samples differ",
            ]
        )
        agree.append(
            ["rarity scores", f"mean {ours[2].mean:.6g}", f"mean {scores[held].mean():.6g}", f"max {diff:.1e} rel."]
        )

    if "top_pr" in only:
        W = top_pr_projection(d) if d > 32 else None
        ours = measure(lambda: gm.top_pr(real, fake, projection=W), repeat=2)
        if mods["top_pr"] is not None:
            with contextlib.redirect_stdout(io.StringIO()):
                theirs = measure(lambda: mods["top_pr"].compute_top_pr(real_features=real, fake_features=fake))
            row("top_pr", ours, f"top-pr {version('top-pr')} compute_top_pr", theirs)
            for label, a, b, units in (
                ("top_pr precision", ours[2].precision, float(theirs[2]["fidelity"]), m),
                ("top_pr recall", ours[2].recall, float(theirs[2]["diversity"]), n),
            ):
                agree.append(
                    [label, f"{a:.6f}", f"{b:.6f}", f"{abs(a - b):.1e} abs. (~{abs(a - b) * units:.0f} points)"]
                )
            notes.append(
                "TopP&R: top-pr projects to 32 dimensions through torch in float32, genmetrics with the same matrix "
                "in float64; the bootstrap draws are the same (RandomState(42))."
            )
        else:
            skip("top_pr", ours, "top-pr not importable (needs torchvision and gudhi; see the docstring)")

    print(f"\n### Issue 17's metrics against their implementations, n = m = {n:,}, d = {d:,}, {real.dtype}\n")
    table(
        rows,
        [
            "metric",
            "genmetrics",
            "genmetrics peak memory",
            "reference",
            "reference time",
            "reference peak memory",
            "reference / genmetrics",
        ],
    )
    print(
        "\ngenmetrics: best of 2 calls; references: one run. Peak memory: growth of the resident high-water mark "
        "during the call (beyond the inputs)."
    )
    print("\n### Agreement of the numbers\n")
    table(agree, ["number", "genmetrics", "reference", "difference"])
    for note in notes:
        print(f"\n- {note}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="n = m = 2,000, d = 256")
    parser.add_argument("--n", type=int, help="rows of each set (default 10,000; 2,000 with --quick)")
    parser.add_argument("--d", type=int, help="features (default 2,048; 256 with --quick)")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {', '.join(ALL)}")
    args = parser.parse_args()
    n = args.n or (2000 if args.quick else 10_000)
    d = args.d or (256 if args.quick else 2048)
    only = set(args.only.split(","))
    if only - set(ALL):
        parser.error(f"unknown: {', '.join(sorted(only - set(ALL)))}")

    print(f"## Issue 17's metrics against their implementations, {datetime.date.today()}, {machine()}")
    command = " ".join(["python", "bench/" + os.path.basename(sys.argv[0]), *sys.argv[1:]])
    print(f"\nCommand: `{command}`; load average before the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"\ngenmetrics {gm.__version__}; NumPy {np.__version__}, SciPy {version('scipy')}, scikit-learn "
        f"{version('scikit-learn')}, POT {version('pot')}, mauve-text {version('mauve-text')}, faiss-cpu "
        f"{version('faiss-cpu')}, top-pr {version('top-pr')}."
    )
    mods = {
        "ot": optional("ot", "pot==0.9.7.post1") if "swd" in only else None,
        "mauve": optional("mauve", "mauve-text==0.4.0") if "mauve" in only else None,
        "top_pr": optional("top_pr", "top-pr==0.2.1 (--no-deps, with gudhi)") if "top_pr" in only else None,
    }
    real, fake = pair(n, n, d)
    run(real, fake, only, mods)
    print(f"\nLoad average after the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
