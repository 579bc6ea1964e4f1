"""The ``genmetrics`` command line.

genmetrics evaluate real.npy fake.npy [--train train.npy] [--json out.json] [--plot out.png]
                                      every metric of a generative model's embeddings (.npy / .npz, memory-mapped);
                                      real may be a reference file (below)
genmetrics reference build real.npy -o real.gmref [--train train.npy] [--k 3 5]
                                      the real side of every evaluation, computed once (gm.Reference)
genmetrics demo                       evaluate() on data it makes itself, with generators that fail in known ways
genmetrics diversity-demo             diversity metrics on synthetic embeddings with a known number of modes
genmetrics backends                   which engines are available here
genmetrics diversity X.npy [options]  Vendi scores, RKE and intdiv of one embedding file (.npy / .npz)
genmetrics ood-demo                   the likelihood paradox of OOD detection and entropy-controlled scoring
genmetrics audit real.npy fake.npy [--train train.npy] [--alpha 0.95] --out kept.npy [--json audit.json]
                                      judge every generated sample, write the indices of those kept

Bad input (a missing file, not an array, 1-D, mismatched widths, a non-numeric dtype, NaN), a bad option or
setting (``GENMETRICS_NUM_THREADS``) and an output that cannot be written are reported in one line naming the
file or option, with exit code 2, before any work. Outputs (``--json``, ``--plot``) never replace an input of
the same command, and replace another existing file only with ``--force``. Warnings of a command that succeeds
are printed after its output, one line each (``genmetrics: warning: ...``); a failing one prints its error alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np


class UsageError(Exception):
    """Bad input from the command line: reported in one line, exit code 2."""


#: The largest --n / --big-n of the demos: a bound on their work and memory (a set of 10^6 x 256 float32 is 1 GB).
MAX_DEMO_SIZE = 1_000_000


def _check_size(value, option: str, low: int, high: int = MAX_DEMO_SIZE) -> int:
    """A sample-size option within [low, high], or a UsageError naming it."""
    from .support.validation import check_int  # noqa: PLC0415

    try:
        return check_int(value, option, low=low, high=high)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def _load(path: str, key: str | None = None):
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise UsageError(f"{path}: not a .npy/.npz array file ({exc})") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        names = data.files
        if not names:
            raise UsageError(f"{path}: the .npz archive is empty")
        name = key or names[0]
        if name not in names:
            raise UsageError(f"{path}: no array named {name!r} (has {', '.join(names)})")
        try:
            data = data[name]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise UsageError(f"{path}: array {name!r} cannot be read ({exc})") from None
    return data


def _embeddings(path: str, key: str | None = None):
    """A 2-D numeric array from a .npy/.npz file (memory-mapped), or a UsageError naming the file."""
    from .support.validation import check_embeddings  # noqa: PLC0415

    data = _load(path, key)
    if data.dtype.kind not in "biuf":
        raise UsageError(f"{path}: expected numbers, got dtype {data.dtype}")
    try:
        return check_embeddings(data, path)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None


def _is_reference_file(path: str) -> bool:
    """Whether ``path`` is a file written by gm.Reference.save (an .npz holding its header and neighbours)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return {"header.npy", "real.npy", "cache/neighbors.npy"} <= names


def _reference_or_embeddings(path: str, key: str | None = None):
    """A gm.Reference from a reference file, else the embeddings of a .npy/.npz file."""
    if not _is_reference_file(path):
        return _embeddings(path, key)
    from .reference import Reference  # noqa: PLC0415

    try:
        return Reference.load(path)
    except ValueError as exc:
        raise UsageError(str(exc).removeprefix("path: ")) from None


def _real_fake_train(args, load_real):
    """(real, fake, train or None) of a command's files (``load_real`` reads the real one), of one width, or a
    UsageError naming the file that differs."""
    real = load_real(args.real, args.key)
    fake = _embeddings(args.fake, args.key)
    train = None if args.train is None else _embeddings(args.train, args.key)
    for path, X in ((args.fake, fake), (args.train, train)):
        if X is not None and X.shape[1] != real.shape[1]:
            raise UsageError(
                f"{path}: has {X.shape[1]} features but {args.real} has {real.shape[1]}; both must be embedded alike"
            )
    return real, fake, train


def _is_same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _check_outputs(outputs: dict, inputs, force: bool):
    """Fail before the work, not after it: each output (``{option: path}``) names a file, not a directory, in a
    directory that exists and that we may write; it is no input of the command (not even with --force); it exists
    only with --force; and the figure can be drawn in its format."""
    outputs = {option: path for option, path in outputs.items() if path}
    if len({os.path.realpath(path) for path in outputs.values()}) < len(outputs):
        raise UsageError(f"{' and '.join(outputs)} name the same file ({', '.join(outputs.values())})")
    for option, path in outputs.items():
        if os.path.isdir(path):
            raise UsageError(f"{path}: is a directory; {option} needs a file name")
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise UsageError(f"{path}: its directory does not exist")
        if any(_is_same_file(path, source) for source in inputs if source):
            raise UsageError(f"{path}: is an input of this command; {option} never writes over an input")
        if os.path.exists(path) and not force:
            raise UsageError(f"{path}: exists; pass --force to overwrite it")
        if not os.access(path if os.path.exists(path) else directory, os.W_OK):
            raise UsageError(f"{path}: cannot be written (permission denied)")
    plot_path = outputs.get("--plot")
    if plot_path:
        try:
            from matplotlib.figure import Figure  # noqa: PLC0415
        except ImportError:
            raise UsageError(f"{plot_path}: --plot needs matplotlib (pip install 'genmetrics[plot]')") from None
        formats = Figure().canvas.get_supported_filetypes()
        extension = os.path.splitext(plot_path)[1].lstrip(".").lower()
        if extension not in formats:
            raise UsageError(
                f"{plot_path}: unknown image format {extension!r}; use one of {', '.join(sorted(formats))}"
            )


def _write(path: str, write):
    """``write(path)``, with any failure a UsageError naming ``path``."""
    try:
        write(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot be written ({exc})") from None


def _dask_cluster(args):
    """--scheduler ADDRESS / --local-workers N: a genmetrics.distributed.Cluster (backend "dask"), else None."""
    if args.scheduler is None and args.local_workers is None:
        return None
    if args.scheduler is not None and args.local_workers is not None:
        raise UsageError("--scheduler: give either --scheduler or --local-workers, not both")
    if args.backend not in (None, "dask"):
        raise UsageError(f"--backend: {args.backend!r} with a Dask cluster; the cluster runs backend 'dask'")
    if args.local_workers is not None and args.local_workers < 1:
        raise UsageError(f"--local-workers: must be >= 1, got {args.local_workers}")
    from .distributed import Cluster  # noqa: PLC0415

    try:
        return Cluster(args.local_workers or 1, address=args.scheduler)
    except ImportError as exc:
        raise UsageError(f"--scheduler/--local-workers: {exc}") from None
    except OSError as exc:
        raise UsageError(f"--scheduler: cannot reach {args.scheduler} ({exc})") from None


def evaluate_files(args) -> int:
    """genmetrics evaluate: the report of evaluate() on embedding files."""
    from .report.evaluate import evaluate  # noqa: PLC0415

    _check_outputs({"--json": args.json, "--plot": args.plot}, (args.real, args.fake, args.train), args.force)

    real, fake, train = _real_fake_train(args, _reference_or_embeddings)
    cluster = _dask_cluster(args)
    try:
        report = evaluate(
            real,
            fake,
            train=train,
            metrics=args.metrics,
            k=args.k,
            seed=args.seed,
            backend="dask" if cluster is not None else args.backend,
            progress=not args.quiet,
            ridge=args.ridge,
        )
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    finally:
        if cluster is not None:
            cluster.close()
    # the files first: a failure is then the only thing printed
    if args.json:
        _write(args.json, report.to_json)
    if args.plot:
        _write(args.plot, report.plot)
    print(report.to_markdown())
    return 0


#: What each demo generator does wrong, and the numbers that should show it.
DEMO_EXPECTATIONS = {
    "faithful": ("nothing: the reference", ()),
    "mode collapse": ("samples 3 of the 10 classes", ("prdc.recall", "prdc.coverage", "vendi.fake", "rke.fake")),
    "memoriser": ("copies training samples", ("authenticity",)),
    "noisy": ("adds noise to faithful samples", ("prdc.precision", "prdc.density", "fd", "kid.mean")),
}
DEMO_COLUMNS = (
    "prdc.precision",
    "prdc.recall",
    "prdc.density",
    "prdc.coverage",
    "authenticity",
    "vendi.fake",
    "rke.fake",
    "fd",
    "kid.mean",
)


def demo(args) -> int:
    """evaluate() on the demo data (genmetrics.report.demo): which metric catches which failure."""
    import genmetrics as gm  # noqa: PLC0415

    from .report.demo import make_demo  # noqa: PLC0415
    from .report.evaluate import evaluate  # noqa: PLC0415

    _check_size(args.n, "--n", low=100)  # 10 classes of at least 10 samples
    train, real, generated = make_demo(args.n, args.seed)
    print(
        f"genmetrics {gm.__version__} demo: a 10-class data set in d = 64 made here (training and held-out real "
        f"sets of {args.n}), and four generators fitted to the training set.\n"
    )
    rows, start = {}, time.perf_counter()
    for name, fake in generated.items():
        try:
            report = evaluate(
                real,
                fake,
                train=train,
                metrics=["prdc", "authenticity", "vendi", "rke", "fd", "kid"],
                seed=args.seed,
                backend=args.backend,
                progress=False,
            )
        except (ValueError, TypeError) as exc:
            raise UsageError(str(exc)) from None
        rows[name] = report.numbers()
    header = f"{'generator':14s}" + "".join(f"{c:>15s}" for c in DEMO_COLUMNS)
    print(header)
    print("-" * len(header))
    for name, numbers in rows.items():
        print(f"{name:14s}" + "".join(f"{numbers.get(c, float('nan')):15.4g}" for c in DEMO_COLUMNS))
    print(
        f"\n(real set: Vendi {rows['faithful']['vendi.real']:.3g}, RKE {rows['faithful']['rke.real']:.3g}; "
        f"{time.perf_counter() - start:.1f} s on backend {report.info['backend']!r})\n"
    )
    for name, (what, caught_by) in DEMO_EXPECTATIONS.items():
        print(f"- {name}: {what}" + (f"; caught by {', '.join(caught_by)}" if caught_by else ""))
    print(
        "\nPrecision and density fall when samples leave the real data's support; recall, coverage and the "
        "diversity scores fall when modes are missing; only authenticity (against the training set) sees "
        "copies, which look real and diverse to every other metric."
    )
    _demo_audit(train, real, generated, args.backend)
    return 0


#: the metrics the demo's audit table shows, before -> after
AUDIT_COLUMNS = ("alpha_precision", "authenticity", "precision", "coverage", "fd")


def _demo_audit(train, real, generated, backend) -> None:
    """gm.audit on the noisy generator and on one that copies half of its samples."""
    import genmetrics as gm  # noqa: PLC0415

    half = generated["faithful"].shape[0] // 2
    audited = {
        "noisy": generated["noisy"],
        "half memoriser": np.concatenate([generated["faithful"][:half], generated["memoriser"][half:]]),
    }
    print(
        "\nAuditing (gm.audit, Alaa et al. 2022): keep the samples inside the 0.95-support of the real set that "
        "are not copies of training samples, and measure again (before -> after):\n"
    )
    header = f"{'generator':16s}{'kept':>7s}" + "".join(f"{c:>22s}" for c in AUDIT_COLUMNS)
    print(header)
    print("-" * len(header))
    for name, fake in audited.items():
        try:
            result = gm.audit(real, fake, train=train, backend=backend)
        except (ValueError, TypeError) as exc:
            raise UsageError(str(exc)) from None
        cells = "".join(
            f"{result.before[c]:>11.3g} -> {result.after[c]:<7.3g}" if c in result.after else f"{'skipped':>22s}"
            for c in AUDIT_COLUMNS
        )
        print(f"{name:16s}{result.n_kept:>7d}{cells}")
    print(
        "\nDiscarding raises what it selects on (alpha-precision; authenticity, to 1 once every copy is gone) at the "
        "price of the set-level metrics: the kept set is a truncated distribution, so its FD and coverage get worse, "
        "and with these multi-class embeddings the support (one ball around the real mean) does not follow the "
        "classes, so kNN precision does not rise (criteria=('real_balls', ...) keeps samples inside real kNN balls)."
    )


def _mixture(rng, n, centers, weights, spread):
    labels = rng.choice(len(centers), size=n, p=np.asarray(weights) / np.sum(weights))
    return (centers[labels] + spread * rng.standard_normal((n, centers.shape[1]))).astype(np.float32)


def diversity_demo(args) -> int:
    """Synthetic embeddings with a known number of modes, and what each diversity metric says of them."""
    import genmetrics as gm

    n = _check_size(args.n, "--n", low=50)  # the copies set has 50 distinct samples
    big_n = _check_size(args.big_n, "--big-n", low=2)  # the bandwidth heuristic needs two samples
    rng = np.random.default_rng(args.seed)
    d, modes, spread = 32, 10, 0.5
    centers = rng.standard_normal((modes, d)) * 10.0  # modes ~80 apart, each of radius ~0.5 sqrt(d) = 2.8
    sets = {
        "real (10 balanced modes)": _mixture(rng, n, centers, np.ones(modes), spread),
        "mode collapse (3 modes)": _mixture(rng, n, centers[:3], np.ones(3), spread),
        "imbalanced (10 modes, 1 dominant)": _mixture(rng, n, centers, [20] + [1] * 9, spread),
        # n rows, each of 50 sources repeated (n need not be a multiple of 50)
        "copies (50 distinct samples)": _mixture(rng, 50, centers, np.ones(modes), spread)[np.arange(n) % 50],
    }
    # A bandwidth between the size of a mode and the gaps between modes: there RKE counts modes
    # (METRICS.md: RKE-MC = m (1 + 4 s^2 / sigma^2)^(d/2) = 10 x 1.07 here). The median heuristic would pick
    # the typical gap between modes, and see one blurred cloud.
    bandwidth = 15.0
    heuristic = float(gm.rke(sets["real (10 balanced modes)"]).bandwidth or 0.0)  # rbf: always chosen
    print(f"genmetrics {gm.__version__} demo: sets of n = {n} samples in d = {d}, from 10 Gaussian modes")
    print(
        f"rbf bandwidth {bandwidth:g} (between the mode radius 2.8 and the gaps ~80; the median heuristic "
        f"would give {heuristic:.3g})\n"
    )
    header = f"{'set':36s} {'Vendi q=1':>10s} {'Vendi q=inf':>11s} {'RKE modes':>10s} {'intdiv':>7s} {'Vendi cos':>10s}"
    print(header)
    print("-" * len(header))
    start = time.perf_counter()
    for name, X in sets.items():
        v1 = gm.vendi(X, q=1, kernel="rbf", bandwidth=bandwidth)
        vinf = gm.vendi(X, q="inf", kernel="rbf", bandwidth=bandwidth)
        modes_rke = gm.rke(X, bandwidth=bandwidth)
        div = gm.intdiv(X, kernel="rbf", bandwidth=bandwidth)
        vcos = gm.vendi(X, q=1, kernel="cosine")
        print(f"{name:36s} {v1:10.2f} {vinf:11.2f} {modes_rke:10.2f} {div:7.3f} {vcos:10.2f}")
    print(f"\n({time.perf_counter() - start:.2f} s on backend {v1.backend!r})")
    print(
        "Vendi and RKE count about 10 modes for the real set and about 3 under mode collapse; with one dominant "
        "mode the effective number drops (q = inf weighs the largest mode alone); the copies look as diverse as "
        "their 50 sources, which diversity alone cannot tell from real samples (memorisation metrics can)."
    )
    big = rng.standard_normal((big_n, 256)).astype(np.float32)
    start = time.perf_counter()
    score = gm.rke(big)
    print(
        f"\nExact RKE of {big_n} samples x 256 features (no n x n matrix held): {score:.2f} in "
        f"{time.perf_counter() - start:.2f} s"
    )
    return 0


def diversity(args) -> int:
    import genmetrics as gm

    _check_outputs({"--json": args.json}, (args.file,), args.force)
    X = _embeddings(args.file, args.key)
    results = {}
    try:
        for q in args.q:
            results[f"vendi_q{q}"] = gm.vendi(
                X, q=q, kernel=args.kernel, bandwidth=args.bandwidth, method=args.method, backend=args.backend
            ).as_dict()
        results["rke"] = gm.rke(
            X,
            kernel="rbf" if args.kernel in ("cosine", "linear") else args.kernel,
            bandwidth=args.bandwidth,
            backend=args.backend,
        ).as_dict()
        results["intdiv"] = gm.intdiv(X, kernel=args.kernel, bandwidth=args.bandwidth, backend=args.backend).as_dict()
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    if args.json:
        text = json.dumps(results, indent=2, default=str)
        _write(args.json, lambda path: Path(path).write_text(text + "\n"))
    for name, r in results.items():
        extra = ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("value", "metric") and v is not None)
        print(f"{name:12s} {r['value']:.6g}   ({extra})")
    return 0


def audit_files(args) -> int:
    """genmetrics audit: gm.audit on embedding files; the kept indices to --out, the table to stdout."""
    import genmetrics as gm  # noqa: PLC0415

    inputs = (args.real, args.fake, args.train)
    _check_outputs({"--out": args.out, "--json": args.json}, inputs, args.force)
    real, fake, train = _real_fake_train(args, _embeddings)
    try:
        result = gm.audit(
            real, fake, train=train, alpha=args.alpha, k=args.k, criteria=args.criteria, backend=args.backend
        )
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    if args.out:
        _write(args.out, lambda path: np.save(path, result.keep_indices.astype(np.int64)))
    if args.json:
        summary = {
            "n_fake": result.n_fake,
            "n_kept": result.n_kept,
            "alpha": result.alpha,
            "k": result.k,
            "criteria": list(result.criteria),
            "support_radius": result.support_radius,
            "rejected": {
                "outside_support": int((~result.in_support).sum()),
                "copies": None if result.authentic is None else int((~result.authentic).sum()),
                "outside_real_balls": int((~result.in_real_balls).sum()),
            },
            "before": dict(result.before),
            "after": dict(result.after),
            "skipped": dict(result.skipped),
            "keep_indices": result.keep_indices.tolist(),
        }
        text = json.dumps(summary, indent=2)
        _write(args.json, lambda path: Path(path).write_text(text + "\n"))
    copies = "" if result.authentic is None else f", {int((~result.authentic).sum())} copies of training samples"
    print(
        f"kept {result.n_kept} of {result.n_fake} generated samples ({int((~result.in_support).sum())} outside the "
        f"{result.alpha:g}-support{copies}; criteria: {', '.join(result.criteria)})\n"
    )
    print(result.table())
    for name, reason in result.skipped.items():
        print(f"(after: {name} skipped: {reason})")
    return 0


def ood_demo(args) -> int:
    """The likelihood paradox on a model with an exact density, and entropy-controlled scoring (report.ood_demo)."""
    from .report.ood_demo import run_ood_demo  # noqa: PLC0415

    n = _check_size(args.n, "--n", low=100, high=100_000)
    draws = _check_size(args.draws, "--draws", low=1, high=100)
    seed = _check_size(args.seed, "--seed", low=0, high=2**63 - 1)
    run_ood_demo(n, seed, draws)
    return 0


def build_reference(args) -> int:
    """genmetrics reference build: gm.Reference.build on embedding files, saved to -o."""
    from .reference import Reference  # noqa: PLC0415

    _check_outputs({"-o": args.output}, (args.real, args.train), args.force)
    real = _embeddings(args.real, args.key)
    train = None if args.train is None else _embeddings(args.train, args.key)
    start = time.perf_counter()
    try:
        reference = Reference.build(real, train=train, k=tuple(args.k), backend=args.backend)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    _write(args.output, reference.save)
    print(f"{reference} written to {args.output} in {time.perf_counter() - start:.1f} s")
    return 0


def show_backends(args) -> int:
    import genmetrics as gm

    for name, (available, reason) in gm.backends().items():
        print(f"{name:6s} {'yes' if available else 'no ':3s}  {reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genmetrics", description="Metrics for generative models on embeddings.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("evaluate", help="every metric of real vs generated embeddings (.npy/.npz files)")
    p.add_argument("real", help="embeddings of real (held-out) samples")
    p.add_argument("fake", help="embeddings of generated samples")
    p.add_argument("--train", help="embeddings of the training samples (for authenticity)")
    p.add_argument("--key", help="array name inside .npz files")
    p.add_argument(
        "--metrics", nargs="+", default="standard", help="metric names or groups, or all (default: standard)"
    )
    p.add_argument("--k", type=int, default=5, help="neighbourhood size of PRDC (default 5)")
    p.add_argument(
        "--ridge",
        type=float,
        default=0.0,
        help="added to both covariance diagonals of the Gaussian KL divergence: > 0 defines it for "
        "singular covariances (n <= d), which otherwise skip it (default 0)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on this Dask scheduler (backend dask)")
    p.add_argument(
        "--local-workers",
        type=int,
        metavar="N",
        help="run on a local Dask cluster of N worker processes (backend dask)",
    )
    p.add_argument("--json", help="write the report to this JSON file")
    p.add_argument("--plot", help="write the report's figure to this image file (needs matplotlib)")
    p.add_argument("--force", action="store_true", help="overwrite existing --json/--plot files (never an input)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=evaluate_files)
    p = sub.add_parser("demo", help="evaluate() on generators that fail in known ways")
    p.add_argument("--n", type=int, default=2000, help=f"samples per set, 100 to {MAX_DEMO_SIZE} (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend")
    p.set_defaults(func=demo)
    p = sub.add_parser("diversity-demo", help="the diversity metrics on synthetic embeddings with known modes")
    p.add_argument("--n", type=int, default=2000, help=f"samples per set, 50 to {MAX_DEMO_SIZE} (default 2000)")
    p.add_argument(
        "--big-n",
        type=int,
        default=20000,
        help=f"samples of the large exact-RKE run, 2 to {MAX_DEMO_SIZE} (default 20000)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=diversity_demo)
    p = sub.add_parser("diversity", help="Vendi, RKE and intdiv of one .npy/.npz embedding file")
    p.add_argument("file")
    p.add_argument("--key", help="array name inside a .npz")
    p.add_argument("--q", type=float, nargs="+", default=[1.0], help="Vendi orders (inf allowed)")
    p.add_argument("--kernel", default="cosine")
    p.add_argument("--bandwidth", type=float)
    p.add_argument("--method", default="auto")
    p.add_argument("--backend")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--force", action="store_true", help="overwrite an existing --json file (never the input)")
    p.set_defaults(func=diversity)
    p = sub.add_parser("reference", help="reference sets: the real side of every evaluation, computed once")
    reference_sub = p.add_subparsers(dest="action", required=True)
    p = reference_sub.add_parser("build", help="compute and save a reference (gm.Reference) from real embeddings")
    p.add_argument("real", help="embeddings of real (held-out) samples")
    p.add_argument("-o", "--output", required=True, help="the reference file to write (e.g. real.gmref)")
    p.add_argument("--train", help="embeddings of the training samples (for authenticity)")
    p.add_argument("--key", help="array name inside .npz files")
    p.add_argument("--k", type=int, nargs="+", default=[3, 5], help="neighbourhood sizes to keep (default 3 5)")
    p.add_argument("--backend")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file (never an input)")
    p.set_defaults(func=build_reference)
    p = sub.add_parser("ood-demo", help="the likelihood paradox of OOD detection, and entropy-controlled scoring")
    p.add_argument("--n", type=int, default=2000, help="ID training inputs, 100 to 100000 (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draws", type=int, default=4, help="noise draws per input, 1 to 100 (default 4)")
    p.set_defaults(func=ood_demo)
    p = sub.add_parser("audit", help="judge every generated sample; keep the faithful ones (Alaa et al. 2022)")
    p.add_argument("real", help="embeddings of real (held-out) samples")
    p.add_argument("fake", help="embeddings of generated samples")
    p.add_argument("--train", help="embeddings of the training samples (copies of them are rejected)")
    p.add_argument("--key", help="array name inside .npz files")
    p.add_argument("--alpha", type=float, default=0.95, help="share of the real set the support holds (0.95)")
    p.add_argument("--k", type=int, default=5, help="neighbourhood size of the PRDC balls (default 5)")
    p.add_argument(
        "--criteria",
        nargs="+",
        default=["support", "authentic"],
        help="what a kept sample must pass: support, authentic, real_balls (default: support authentic)",
    )
    p.add_argument("--out", help="write the kept indices (int64 .npy) to this file")
    p.add_argument("--json", help="write the judgements' counts, the metrics and the kept indices to this file")
    p.add_argument("--backend")
    p.add_argument("--force", action="store_true", help="overwrite existing --out/--json files (never an input)")
    p.set_defaults(func=audit_files)
    p = sub.add_parser("backends", help="list the engines available here")
    p.set_defaults(func=show_backends)
    return parser


def _check_settings():
    """The environment's settings, before any work (the engine reads them only once it runs)."""
    from .engine import num_threads  # noqa: PLC0415

    try:
        num_threads()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:  # the filters stay as they are; only the printing moves
        try:
            if args.func is not show_backends:  # it reports what is available, whatever the settings
                _check_settings()
            status = args.func(args)
        except UsageError as exc:
            # the error alone: a warning on the way to it (an overflowing cast of a file's values) only repeats it
            print(f"genmetrics: error: {exc}", file=sys.stderr)
            return 2
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"genmetrics: warning: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
