"""A benchmark suite's loop: many generated sets scored against one real set, with and without gm.Reference.

    python bench/reference.py                        # 20 sets of 10,000 x 2,048 (issue 16's case; long)
    python bench/reference.py --n 5000 --d 512 --sets 5

Both loops run in this process on the same data: ``gm.evaluate(real, fake, train)`` for every generated set, against
``gm.Reference.build(real, train=train)`` once (its time counted) and then ``gm.evaluate(ref, fake)``. The numbers of
the two loops are compared (they must be identical). The metrics are those whose real side the Reference holds
(fidelity, memorisation, fd, rke, vendi), unless ``--metrics`` says otherwise.
"""

from __future__ import annotations

import argparse
import time

import genmetrics as gm
from _common import machine, mixture

DEFAULT_METRICS = ["prdc", "precision_recall", "alpha_precision", "authenticity", "fd", "rke", "vendi"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--d", type=int, default=2_048)
    parser.add_argument("--sets", type=int, default=20)
    parser.add_argument("--metrics", nargs="+", default=DEFAULT_METRICS)
    args = parser.parse_args()
    real = mixture(args.n, args.d, modes=50, seed=1)
    train = mixture(args.n, args.d, modes=50, seed=2)
    fakes = [mixture(args.n, args.d, modes=50, spread=0.3 + 0.01 * i, seed=10 + i) for i in range(args.sets)]
    print(f"{machine()}; {args.sets} generated sets of {args.n} x {args.d} float32; metrics {', '.join(args.metrics)}")

    start = time.perf_counter()
    direct = [gm.evaluate(real, fake, train, metrics=args.metrics).numbers() for fake in fakes]
    without = time.perf_counter() - start

    start = time.perf_counter()
    ref = gm.Reference.build(real, train=train, k=(3, 5))
    built = time.perf_counter() - start
    reused = [gm.evaluate(ref, fake, metrics=args.metrics).numbers() for fake in fakes]
    with_reference = time.perf_counter() - start

    identical = all(a == b for a, b in zip(direct, reused))
    print(f"without a Reference: {without:8.1f} s ({without / args.sets:.2f} s a set)")
    print(
        f"with a Reference:    {with_reference:8.1f} s (build {built:.2f} s, then "
        f"{(with_reference - built) / args.sets:.2f} s a set)"
    )
    print(f"ratio {without / with_reference:.2f}x; numbers identical: {identical}")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
