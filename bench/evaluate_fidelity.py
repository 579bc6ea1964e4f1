"""evaluate(metrics="fidelity") against an earlier genmetrics (issue 11: the fidelity metrics share their k-NN passes).

Times ``gm.evaluate(real, fake, metrics="fidelity")`` (prdc, precision_recall, alpha_precision) on two samples of
one Gaussian mixture, with this tree's genmetrics and, in a child process of the same run, with the genmetrics
whose source tree ``--against`` names (its ``python/`` folder must hold its built ``_core``, e.g. a git worktree of
an older commit built with CMake). Prints both times, their ratio, and whether every number is identical.

    python bench/evaluate_fidelity.py --against /tmp/gm010        # 6,000 x 512 (issue 11's target: <= 0.75x)
    python bench/evaluate_fidelity.py --n 2000 --d 64               # this tree only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine, measure, mixture  # noqa: E402


def run(n: int, d: int, repeat: int) -> dict:
    import genmetrics as gm

    Z = mixture(2 * n, d, modes=100)
    real, fake = np.ascontiguousarray(Z[:n]), np.ascontiguousarray(Z[n:])
    gm.evaluate(real[:200], fake[:200], metrics="fidelity")  # warm-up: imports, thread pools, BLAS buffers
    seconds, _, report = measure(lambda: gm.evaluate(real, fake, metrics="fidelity"), repeat=repeat)
    numbers = {name: value for name, value in report.numbers().items()}
    return {
        "version": gm.__version__,
        "file": gm.__file__,
        "seconds": seconds,
        "entries": {e.name: e.seconds for e in report.entries},
        "numbers": {key: (value.tolist() if hasattr(value, "tolist") else value) for key, value in numbers.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=6000, help="rows of each set (default 6,000)")
    parser.add_argument("--d", type=int, default=512, help="features (default 512)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs, best reported (default 2)")
    parser.add_argument("--against", type=Path, help="source tree of the genmetrics to compare with")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # the child's output
    args = parser.parse_args()
    if args.json:
        print(json.dumps(run(args.n, args.d, args.repeat)))
        return
    ours = run(args.n, args.d, args.repeat)
    print(f"## evaluate(metrics='fidelity'), n = m = {args.n:,}, d = {args.d:,}, float32 ({machine()})\n")
    print(
        f"this tree ({ours['file']}): {ours['seconds']:.2f} s  "
        + ", ".join(f"{k} {v:.2f} s" for k, v in ours["entries"].items())
    )
    if args.against is None:
        return
    env = dict(os.environ, PYTHONPATH=str(args.against / "python"))
    child = subprocess.run(
        [sys.executable, __file__, "--json", "--n", str(args.n), "--d", str(args.d), "--repeat", str(args.repeat)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = json.loads(child.stdout)
    print(
        f"against ({theirs['file']}, {theirs['version']}): {theirs['seconds']:.2f} s  "
        + ", ".join(f"{k} {v:.2f} s" for k, v in theirs["entries"].items())
    )
    print(f"\nratio this / against: **{ours['seconds'] / theirs['seconds']:.2f}x**")
    same = ours["numbers"] == theirs["numbers"]
    print(f"numbers identical: {same}")
    if not same:
        for key in sorted(set(ours["numbers"]) | set(theirs["numbers"])):
            if ours["numbers"].get(key) != theirs["numbers"].get(key):
                print(f"  {key}: {ours['numbers'].get(key)} vs {theirs['numbers'].get(key)}")


if __name__ == "__main__":
    main()
