"""GPU benchmarks: the CUDA engine (backend "cuda") and the CuPy fallback (backend "cupy") against the device's own
ceilings, a CuPy brute force, faiss-gpu and the CPU engine, side by side in one run.

    python bench/gpu.py                 # the sizes of the GPU issue (a few minutes on an H100 with 16 cores)
    python bench/gpu.py --quick         # small sizes, a smoke run
    python bench/gpu.py --only knn      # one section: ceilings, rke, knn, prdc, nystrom
    python bench/gpu.py --skip-cpu      # PRDC without the CPU engine's run (its ratio is then not reported)

Needs CuPy (`pip install cupy-cuda12x`, or cupy-cuda13x) and an NVIDIA GPU; without them it prints one line saying
so and exits 0. Prints markdown tables for bench/RESULTS.md. Sections:

1. ceilings: float32 cupy.matmul 8192^3 (FP32, best of 5, CUDA events); the same with TF32, measured in a child
   process started with CUPY_TF32=1 (CuPy reads that variable once, at a process's first float32 matmul, so the
   parent cannot switch; the child reports CuPy's compute type and the error of a product against float64, which
   shows whether TF32 really ran; this process clears CUPY_TF32 before it imports CuPy, so all its float32
   matmuls, the CuPy fallback's included, are FP32); device-to-device copy of a 2 GiB array, counting bytes read +
   bytes written, by cudaMemcpyAsync and by a streaming elementwise kernel.
2. rke: exact RKE (fused sum of k^2), n = 100,000, d = 2,048; rate counting the symmetric half, n (n + 1) / 2 pairs
   at 2 d flops each = n (n + 1) d flops, against the FP32 matmul rate (target >= 70 %).
3. knn: self k-NN, n = 100,000, d = 512, k = 10, against a CuPy brute force (query tiles, D = |q|^2 + |r|^2 - 2 Q R^T
   by cupy.matmul, own column excluded, per-row selection of k, then the k sorted), in two variants: cupy.argpartition
   (a full argsort of every row in CuPy versions without a selection kernel for it; the script says which) and
   cupy.partition for the k-th value then a threshold (CuPy's selection kernel for values); target: genmetrics
   >= 2x faster than the faster of the two. faiss-gpu
   (GpuIndexFlatL2, search k + 1, host arrays in and out) when importable. Agreement: share of rows whose index sets
   equal the genmetrics result.
4. prdc: n = m = 50,000, d = 2,048, k = 5, on the GPU and with the CPU engine (backend "cpu", NumPy inputs) on the
   same data; the four numbers must be identical.
5. nystrom: Nystrom Vendi (q = 2, rbf, rank 1000, seed 0), n = 200,000, d = 2,048, against the exact RKE (= VS_2) with
   the same explicit bandwidth (genmetrics' median heuristic on its seeded 1,000-row subsample, chosen once).

Timing: each genmetrics or CuPy call runs once on a small input first (kernel loading, JIT), then best of 2
(`--repeat`), the device synchronised (cudaDeviceSynchronize: every stream) before the clock starts and before it
stops. Inputs are generated on the host (bench/_common.py: mixture, float32) and copied to the device outside the
timings. Memory: growth of the device's used memory (cudaMemGetInfo, sampled every 2 ms: sees the engine's own
allocations too) above the start, and in parentheses the CuPy memory pool's high-water mark (emptied before).
genmetrics backends that gm.backends() reports unavailable are skipped with their reason; a section that fails
prints its error and the next one runs.
"""

from __future__ import annotations

import os

# Before anything can import CuPy: this process's float32 matmuls must be FP32 (the TF32 rate is measured in a child).
_TF32_ENV = os.environ.pop("CUPY_TF32", None)

import argparse  # noqa: E402
import datetime  # noqa: E402
import functools  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402

import numpy as np  # noqa: E402

import genmetrics as gm  # noqa: E402
from _common import machine, measure, mixture, table  # noqa: E402
from _gpu_common import (  # noqa: E402
    GB,
    MB,
    brute_force_knn,
    copy_bandwidth,
    device_summary,
    free_pool,
    gpu_measure,
    kth_rel_diff,
    matmul_stats,
    probe_cupy,
    same_sets,
    tf32_matmul_stats,
)

SECTIONS = ("ceilings", "rke", "knn", "prdc", "nystrom")
GPU_BACKENDS = ("cuda", "cupy")
KEYS = ("precision", "recall", "density", "coverage")

SIZES = {
    # section: full sizes, --quick sizes
    "matmul": (8192, 2048),
    "copy_bytes": (2 * GB, 256 * MB),
    "rke": ((100_000, 2048), (8_000, 256)),
    "knn": ((100_000, 512, 10), (8_000, 128, 10)),
    "prdc": ((50_000, 50_000, 2048, 5), (3_000, 3_000, 256, 5)),
    "nystrom": ((200_000, 2048, 1000), (20_000, 256, 300)),
}
WARMUP_ROWS = 2048


def fmt(seconds: float) -> str:
    return f"{seconds:.3g} s"


def show(rows, headers):
    print()
    table(rows, headers)


def note(text: str):
    print(f"\n{text}")


def skipped(what: str, why: str):
    print(f"\n*{what} is skipped: {why}.*")


def error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().replace("\n", " ")
    return text if len(text) < 300 else text[:297] + "..."


def argpartition_kind(cupy) -> str:
    """Whether this CuPy's argpartition has a selection kernel or argsorts whole rows (older versions, whose
    documentation says so)."""
    try:
        from cupy._core import _routines_sorting
    except ImportError:
        return "unknown"
    if hasattr(_routines_sorting, "_argpartition_kernel"):
        return "has a selection kernel (_argpartition_kernel), for small kth at least"
    return "a full argsort of every row (no selection kernel in this version)"


@functools.lru_cache(maxsize=4)
def host_data(n: int, d: int, modes: int, spread: float = 0.3):
    """Gaussian-mixture embeddings on the host (float32), generated once per size for the whole run."""
    return mixture(n, d, modes=modes, spread=spread)


def host_pair(n: int, m: int, d: int, modes: int = 100):
    """Real and generated embeddings: two disjoint samples of one Gaussian mixture (as bench/fidelity.py)."""
    Z = host_data(n + m, d, modes)
    return np.ascontiguousarray(Z[:n]), np.ascontiguousarray(Z[n:])


def bandwidth_for(X) -> float:
    """genmetrics' own default: the median distance of its seeded 1,000-row subsample (host array)."""
    try:
        from genmetrics.engine.kernels import median_heuristic_bandwidth

        return float(median_heuristic_bandwidth(X))
    except ImportError:  # the private helper moved: the same rule in NumPy
        rows = np.sort(np.random.default_rng(0).choice(len(X), size=min(len(X), 1000), replace=False))
        Z = X[rows].astype(np.float64)
        d2 = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
        return float(np.median(np.sqrt(d2[np.triu_indices(len(Z), k=1)])))


class Bench:
    def __init__(self, cupy, args):
        self.cp = cupy
        self.args = args
        self.quick = args.quick
        self.repeat = args.repeat
        self.status = gm.backends()
        wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
        self.gpu_backends = []
        for name in wanted:
            ok, why = self.status.get(name, (False, "this genmetrics does not know this backend"))
            if ok:
                self.gpu_backends.append(name)
        self._fp32 = None  # matmul_stats of this process (FP32), or the exception that it raised
        self._tf32 = None

    def size(self, key):
        full, quick = SIZES[key]
        return quick if self.quick else full

    # -- shared measurements --------------------------------------------------------------------------

    def fp32(self) -> dict:
        """The FP32 matmul ceiling, measured once (raises what the measurement raised, every time)."""
        if self._fp32 is None:
            try:
                self._fp32 = matmul_stats(self.cp, self.size("matmul"), repeat=5)
            except Exception as exc:
                self._fp32 = exc
        if isinstance(self._fp32, Exception):
            raise self._fp32
        return self._fp32

    def fp32_rate(self):
        """GFLOP/s of the FP32 matmul, or None where it could not be measured."""
        try:
            return self.fp32()["gflops"]
        except Exception:
            return None

    def report_skipped_backends(self, what: str):
        wanted = [b.strip() for b in self.args.backends.split(",") if b.strip()]
        for name in wanted:
            if name not in self.gpu_backends:
                ok, why = self.status.get(name, (False, "this genmetrics does not know this backend"))
                skipped(f"genmetrics backend {name!r} ({what})", why)

    def to_gpu(self, X):
        return self.cp.asarray(X)

    def measure(self, fn, warmup=None):
        return gpu_measure(self.cp, fn, warmup=warmup, repeat=self.repeat)

    # -- 1. ceilings ----------------------------------------------------------------------------------

    def ceilings(self):
        n = self.size("matmul")
        shape = f"{n} x {n} x {n}"
        rows, fp32, tf32_line = [], None, None
        try:
            fp32 = self.fp32()
            rows.append(
                [
                    "float32 matmul (FP32)",
                    shape,
                    fmt(fp32["seconds"]),
                    f"{fp32['gflops']:.0f} GFLOP/s",
                    f"{fp32['rel_err']:.1e}",
                    fp32.get("compute_type", ""),
                ]
            )
        except Exception as exc:
            rows.append(["float32 matmul (FP32)", shape, "failed", "", "", error_text(exc)])
        try:
            tf32 = tf32_matmul_stats(n, repeat=5)
            self._tf32 = tf32
            rows.append(
                [
                    "float32 matmul, CUPY_TF32=1 (child process)",
                    shape,
                    fmt(tf32["seconds"]),
                    f"{tf32['gflops']:.0f} GFLOP/s",
                    f"{tf32['rel_err']:.1e}",
                    tf32.get("compute_type", ""),
                ]
            )
            if fp32 is not None:
                ran = (
                    "TF32 ran"
                    if tf32["rel_err"] > 20 * max(fp32["rel_err"], 1e-9)
                    else "TF32 did NOT run (FP32 accuracy)"
                )
                tf32_line = f"TF32 / FP32 rate: {tf32['gflops'] / fp32['gflops']:.2f}x; {ran}."
        except Exception as exc:
            rows.append(["float32 matmul, CUPY_TF32=1 (child process)", shape, "failed", "", "", error_text(exc)])
        nbytes = self.size("copy_bytes")
        size = f"{nbytes / GB:.2f} GiB" if nbytes >= GB else f"{nbytes / MB:.0f} MiB"
        try:
            copy = copy_bandwidth(self.cp, nbytes)
            for key, what in (("memcpy", "cudaMemcpyAsync"), ("kernel", "elementwise kernel")):
                rows.append(
                    [
                        f"device-to-device copy, {what}",
                        size,
                        fmt(copy[key]["seconds"]),
                        f"{copy[key]['gbs']:.0f} GB/s",
                        "",
                        "read + written",
                    ]
                )
        except Exception as exc:
            rows.append(["device-to-device copy", size, "failed", "", "", error_text(exc)])
            free_pool(self.cp)
        print("\n### Ceilings through CuPy")
        show(
            rows,
            [
                "what",
                "size",
                "best time",
                "rate",
                "rel. error of a 1024^3 product vs float64",
                "CuPy compute type / note",
            ],
        )
        note(
            "matmul: 2 n^3 flops, best of 5 between CUDA events after a warm-up, output preallocated. TF32: a fresh "
            "interpreter with CUPY_TF32=1 (CuPy fixes its float32 compute type at a process's first float32 matmul, "
            "so this process, which cleared the variable, stays FP32). Copy: 2 x size bytes per copy (read + "
            "written), best of 5." + (f" {tf32_line}" if tf32_line else "")
        )

    # -- 2. exact RKE ---------------------------------------------------------------------------------

    def rke(self):
        n, d = self.size("rke")
        X = host_data(n, d, 100)
        sigma = bandwidth_for(X)
        Xg = self.to_gpu(X)
        small = Xg[:WARMUP_ROWS]
        flops = float(n) * (n + 1) * d  # n (n + 1) / 2 pairs (i <= j) x 2 d flops
        rate = self.fp32_rate()
        tf32_rate = self._tf32["gflops"] if self._tf32 else None
        print(f"\n### Exact RKE mode count (rbf, sigma = {sigma:.4g}, fused sum of k^2), n = {n:,}, d = {d}, float32")
        self.report_skipped_backends("rke")
        rows = []
        for name in self.gpu_backends:
            try:
                m = self.measure(
                    lambda: gm.rke(Xg, kernel="rbf", bandwidth=sigma, backend=name),
                    warmup=lambda: gm.rke(small, kernel="rbf", bandwidth=sigma, backend=name),
                )
                achieved = flops / m.seconds / 1e9
                if rate:
                    share = achieved / rate
                    verdict = f" (target >= 70 %: {'met' if share >= 0.7 else 'NOT met'})" if name == "cuda" else ""
                    share_text = f"{share:.0%}{verdict}"
                else:
                    share_text = "FP32 rate not measured"
                row = [
                    f"genmetrics rke, backend {name}",
                    fmt(m.seconds),
                    f"{float(m.result):.6g}",
                    f"{achieved:.0f} GFLOP/s",
                    share_text,
                    f"{achieved / tf32_rate:.0%}" if tf32_rate else "not measured",
                    m.memory(),
                ]
            except Exception as exc:
                row = [f"genmetrics rke, backend {name}", "failed", error_text(exc), "", "", "", ""]
            rows.append(row)
        if rows:
            show(
                rows,
                [
                    "",
                    "time",
                    "RKE-MC",
                    "rate (n (n + 1) d flops)",
                    "share of FP32 matmul rate",
                    "share of TF32 rate",
                    "device memory above input",
                ],
            )
        floor = (
            f"; FP32 matmul rate {rate:.0f} GFLOP/s (section 1) -> floor {fmt(flops / (rate * 1e9))}" if rate else ""
        )
        note(
            f"Flops counted: the symmetric half, n (n + 1) / 2 pairs (i <= j) at 2 d flops each = n (n + 1) d = "
            f"{flops:.3g}{floor}. "
            f"Input {X.nbytes / MB:.0f} MB; the n x n matrix would be {n * n * 4 / GB:.1f} GiB."
        )
        Xg = small = None  # free the device copies before the next section
        free_pool(self.cp)

    # -- 3. k-NN --------------------------------------------------------------------------------------

    def knn(self):
        cp = self.cp
        n, d, k = self.size("knn")
        X = host_data(n, d, 100)
        Xg = self.to_gpu(X)
        small = Xg[:WARMUP_ROWS]
        rate = self.fp32_rate()
        print(f"\n### Self k-NN, n = {n:,}, d = {d}, k = {k} (self excluded), float32")
        self.report_skipped_backends("knn")
        ref = None  # (distances, indices) on the host, of the first genmetrics backend that ran
        ref_name = None
        rows = []
        gm_time = {}
        for name in self.gpu_backends:
            try:
                m = self.measure(lambda: gm.knn(Xg, k=k, backend=name), warmup=lambda: gm.knn(small, k=k, backend=name))
                dist, idx = (cp.asnumpy(a) for a in m.result)
                gm_time[name] = m.seconds
                if ref is None:
                    ref, ref_name = (dist, idx), name
                rows.append(
                    [
                        f"genmetrics knn, backend {name}",
                        fmt(m.seconds),
                        m.memory(),
                        f"{n * n * d / m.seconds / 1e9:.0f} GFLOP/s (n^2 d)",
                        "",
                        f"{same_sets(ref[1], idx):.4%}",
                        f"{kth_rel_diff(ref[0], dist):.1e}",
                    ]
                )
            except Exception as exc:
                rows.append([f"genmetrics knn, backend {name}", "failed", error_text(exc), "", "", "", ""])
        base = gm_time.get("cuda", next(iter(gm_time.values()), None))
        baselines = {}
        for select in ("argpartition", "threshold"):
            label = f"CuPy brute force ({select})"
            try:
                m = self.measure(
                    lambda: brute_force_knn(cp, Xg, k, select=select),
                    warmup=lambda: brute_force_knn(cp, small, k, select=select),
                )
                dist, idx = (cp.asnumpy(a) for a in m.result)
                baselines[label] = m.seconds
                rows.append(
                    [
                        label,
                        fmt(m.seconds) + ("" if m.runs > 1 else " (1 run)"),
                        m.memory(),
                        f"{2.0 * n * n * d / m.seconds / 1e9:.0f} GFLOP/s (2 n^2 d)",
                        f"{m.seconds / base:.2f}x" if base else "",
                        f"{same_sets(ref[1], idx):.4%}" if ref is not None else "",
                        f"{kth_rel_diff(ref[0], dist):.1e}" if ref is not None else "",
                    ]
                )
            except Exception as exc:
                rows.append([label, "failed", error_text(exc), "", "", "", ""])
            free_pool(cp)
        faiss_row = self.faiss_knn(X, k, base, ref)
        if faiss_row:
            rows.append(faiss_row)
        show(
            rows,
            [
                "method",
                "time",
                "device memory above input",
                "rate",
                "time / genmetrics" + (f" ({'cuda' if 'cuda' in gm_time else ref_name})" if base else ""),
                f"rows with the same neighbour set as genmetrics ({ref_name})",
                "max rel. diff of k-th distance",
            ],
        )
        if base and baselines:
            best = min(baselines, key=baselines.get)
            ratio = baselines[best] / base
            note(f"Fastest {best} / genmetrics: {ratio:.2f}x (target >= 2x: {'met' if ratio >= 2 else 'NOT met'}).")
        floor = f" at the FP32 matmul rate ({rate:.0f} GFLOP/s): {fmt(n * n * d / (rate * 1e9))}" if rate else ""
        note(
            f"GEMM floor of an exact self k-NN: n^2 d = {float(n) * n * d:.3g} flops (half the pairs){floor}. "
            "The brute force computes all pairs "
            "(2 n^2 d flops) in float32 (|q|^2 + |r|^2 - 2 q.r, no float64 re-check) in query tiles of <= 2^28 "
            f"distances; cupy.argpartition in this CuPy: {argpartition_kind(cp)}; the threshold variant "
            "uses cupy.partition (a selection kernel) for each row's k-th value and keeps the entries <= it. "
            "Neighbour sets can differ where candidates tie to within float32 round-off."
        )
        Xg = small = None  # free the device copies before the next section
        free_pool(cp)

    def faiss_knn(self, X, k, base, ref):
        try:
            import faiss
        except ImportError as exc:
            skipped("faiss-gpu", f"it cannot be imported ({exc}); `pip install faiss-gpu-cu12` or conda faiss-gpu")
            return None
        if not hasattr(faiss, "StandardGpuResources"):
            skipped("faiss-gpu", f"faiss {getattr(faiss, '__version__', '?')} is built without GPU support (faiss-cpu)")
            return None
        try:
            if faiss.get_num_gpus() < 1:
                skipped("faiss-gpu", "faiss sees no GPU")
                return None
        except Exception:
            pass
        n, d = X.shape
        free_pool(self.cp)
        try:
            res = faiss.StandardGpuResources()

            def search(data):
                index = faiss.GpuIndexFlatL2(res, d)
                index.add(data)
                D, I = index.search(data, k + 1)
                # drop each row's own index (or, where round-off or duplicates pushed it out, the last column)
                drop = I == np.arange(len(data))[:, None]
                drop[~drop.any(axis=1), -1] = True
                keep = ~drop
                return np.sqrt(np.maximum(D[keep], 0)).reshape(len(data), k), I[keep].reshape(len(data), k)

            small = np.ascontiguousarray(X[:WARMUP_ROWS])
            m = self.measure(lambda: search(X), warmup=lambda: search(small))
            dist, idx = m.result
            row = [
                f"faiss {faiss.__version__} GpuIndexFlatL2 search(k + 1)",
                fmt(m.seconds),
                m.memory(),
                f"{2.0 * n * n * d / m.seconds / 1e9:.0f} GFLOP/s (2 n^2 d)",
                f"{m.seconds / base:.2f}x" if base else "",
                f"{same_sets(ref[1], idx):.4%}" if ref is not None else "",
                f"{kth_rel_diff(ref[0], dist):.1e}" if ref is not None else "",
            ]
            res = None
            return row
        except Exception as exc:
            return ["faiss GpuIndexFlatL2", "failed", error_text(exc), "", "", "", ""]

    # -- 4. PRDC --------------------------------------------------------------------------------------

    def prdc(self):
        cp = self.cp
        n, m_, d, k = self.size("prdc")
        real, fake = host_pair(n, m_, d)
        rg, fg = self.to_gpu(real), self.to_gpu(fake)
        rs, fs = rg[:WARMUP_ROWS], fg[:WARMUP_ROWS]
        print(
            f"\n### PRDC, n = m = {n:,}, d = {d}, k = {k}, float32"
            if n == m_
            else f"\n### PRDC, n = {n:,}, m = {m_:,}, d = {d}, k = {k}, float32"
        )
        self.report_skipped_backends("prdc")
        results, times, rows = {}, {}, []
        for name in self.gpu_backends:
            try:
                m = self.measure(
                    lambda: gm.prdc(rg, fg, k=k, backend=name), warmup=lambda: gm.prdc(rs, fs, k=k, backend=name)
                )
                results[name] = {key: float(getattr(m.result, key)) for key in KEYS}
                times[name] = m.seconds
                rows.append(
                    [
                        f"genmetrics prdc, backend {name} (CuPy inputs)",
                        fmt(m.seconds),
                        m.memory(),
                        *(f"{results[name][key]:.6f}" for key in KEYS),
                    ]
                )
            except Exception as exc:
                rows.append([f"genmetrics prdc, backend {name}", "failed", error_text(exc), "", "", "", ""])
        cpu_ok, cpu_why = self.status.get("cpu", (False, "unknown"))
        if self.args.skip_cpu:
            skipped("the CPU engine's PRDC", "--skip-cpu")
        elif not cpu_ok:
            skipped("the CPU engine's PRDC", cpu_why)
        else:
            try:
                t_cpu, mem_cpu, res = measure(lambda: gm.prdc(real, fake, k=k, backend="cpu"))
                results["cpu"] = {key: float(getattr(res, key)) for key in KEYS}
                times["cpu"] = t_cpu
                rows.append(
                    [
                        f"genmetrics prdc, backend cpu (NumPy inputs, {len(os.sched_getaffinity(0))} cores, 1 run)",
                        fmt(t_cpu),
                        f"{mem_cpu:.0f} MB host",
                        *(f"{results['cpu'][key]:.6f}" for key in KEYS),
                    ]
                )
            except Exception as exc:
                rows.append(["genmetrics prdc, backend cpu", "failed", error_text(exc), "", "", "", ""])
        if rows:
            show(rows, ["", "time", "memory above input", *KEYS])
        if "cpu" in times:
            for name in self.gpu_backends:
                if name in times:
                    note(f"CPU engine / backend {name}: {times['cpu'] / times[name]:.1f}x.")
        names = list(results)
        if len(names) > 1:
            first = names[0]
            units = {"precision": m_, "recall": n, "density": k * m_, "coverage": n}
            for other in names[1:]:
                if results[other] == results[first]:
                    note(f"The four numbers of {other} and {first} are identical.")
                else:
                    diff = ", ".join(
                        f"{key} {abs(results[other][key] - results[first][key]) * u:.0f}" for key, u in units.items()
                    )
                    note(f"**{other} and {first} differ** (in boundary points: {diff}).")
        flops = float(n) * n * d + float(m_) * m_ * d + 2.0 * n * m_ * d
        rate = self.fp32_rate()
        floor = f"; at the FP32 matmul rate ({rate:.0f} GFLOP/s): {fmt(flops / (rate * 1e9))}" if rate else ""
        note(f"Exact PRDC does n^2 d + m^2 d + 2 n m d = {flops:.3g} flops of distance tiles{floor}.")
        rg = fg = rs = fs = None
        free_pool(cp)

    # -- 5. Nystrom -----------------------------------------------------------------------------------

    def nystrom(self):
        cp = self.cp
        n, d, rank = self.size("nystrom")
        X = host_data(n, d, 30)
        sigma = bandwidth_for(X)
        Xg = self.to_gpu(X)
        small = Xg[: max(WARMUP_ROWS, 2 * rank)]
        print(
            f"\n### Nystrom Vendi (q = 2, rbf, sigma = {sigma:.4g}, rank {rank}, seed 0) against the exact RKE, "
            f"n = {n:,}, d = {d}, float32"
        )
        self.report_skipped_backends("nystrom")
        rows = []
        for name in self.gpu_backends:
            try:
                ny = self.measure(
                    lambda: gm.vendi(
                        Xg, q=2, kernel="rbf", bandwidth=sigma, method="nystrom", rank=rank, seed=0, backend=name
                    ),
                    warmup=lambda: gm.vendi(
                        small, q=2, kernel="rbf", bandwidth=sigma, method="nystrom", rank=rank, seed=0, backend=name
                    ),
                )
                ex = self.measure(
                    lambda: gm.rke(Xg, kernel="rbf", bandwidth=sigma, backend=name),
                    warmup=lambda: gm.rke(small, kernel="rbf", bandwidth=sigma, backend=name),
                )
                approx, exact = float(ny.result), float(ex.result)
                residual = getattr(ny.result, "residual_mass", None)
                rows.append(
                    [
                        name,
                        fmt(ny.seconds),
                        ny.memory(),
                        f"{approx:.6g}",
                        f"{exact:.6g}",
                        f"{abs(approx - exact) / exact:.2e}",
                        f"{residual:.2e}" if residual is not None else "",
                        fmt(ex.seconds),
                        f"{ex.seconds / ny.seconds:.1f}x",
                    ]
                )
            except Exception as exc:
                rows.append([name, "failed", error_text(exc), "", "", "", "", "", ""])
            free_pool(cp)
        if rows:
            show(
                rows,
                [
                    "backend",
                    "Nystrom time",
                    "device memory above input",
                    "Nystrom VS_2",
                    "exact RKE (VS_2)",
                    "relative error",
                    "residual mass",
                    "exact RKE time",
                    "exact / Nystrom time",
                ],
            )
        note(
            f"Bandwidth chosen once on the host (genmetrics' median heuristic, seeded 1,000-row subsample) and passed "
            f"explicitly to both. Input {X.nbytes / MB:.0f} MB."
        )
        Xg = small = None  # free the device copies before the next section
        free_pool(cp)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--only", choices=SECTIONS, help="run one section")
    parser.add_argument("--skip-cpu", action="store_true", help="PRDC: skip the CPU engine's run (minutes)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each GPU call, best reported (default 2)")
    parser.add_argument(
        "--backends",
        default=",".join(GPU_BACKENDS),
        help="genmetrics GPU backends to run, comma-separated (default cuda,cupy)",
    )
    args = parser.parse_args()

    cupy, why = probe_cupy()
    if cupy is None:
        print(f"GPU benchmarks skipped: no GPU/CuPy available here: {why}.")
        return 0

    bench = Bench(cupy, args)
    info = device_summary(cupy)
    print(f"## {datetime.date.today()} — GPU benchmarks, {info['name']}")
    print(
        f"\nDevice: {info['name']} (compute capability {info['cc']}, {info['sms']} SMs, "
        f"{info['memory_gib']:.1f} GiB); host: {machine()}."
    )
    print(f"CuPy {info['cupy']}, CUDA runtime {info['runtime']}, driver {info['driver']}; NumPy {np.__version__}.")
    print(f"Command: `python {' '.join(sys.argv)}`.")
    print(
        "Data: Gaussian mixtures (`bench/_common.py: mixture`), float32, generated on the host and copied to the "
        "device outside the timings."
    )
    status = ", ".join(f"{name} ({'yes' if ok else 'no: ' + why})" for name, (ok, why) in bench.status.items())
    print(f"genmetrics {gm.__version__} backends: {status}.")
    if _TF32_ENV is not None:
        print(
            f"\n*CUPY_TF32={_TF32_ENV} was set; it was cleared for this process (its float32 matmuls, the CuPy "
            "fallback's included, run in FP32); TF32 is measured in a child process.*"
        )
    if os.environ.get("NVIDIA_TF32_OVERRIDE") is not None:
        print(
            f"\n*NVIDIA_TF32_OVERRIDE={os.environ['NVIDIA_TF32_OVERRIDE']} is set: it changes what cuBLAS does "
            "in FP32 and TF32 modes.*"
        )

    for name in SECTIONS:
        if args.only not in (None, name):
            continue
        try:
            getattr(bench, name)()
        except Exception as exc:
            print(f"\n**Section {name} failed: {error_text(exc)}**")
            traceback.print_exc(file=sys.stderr)
        finally:
            sys.stdout.flush()
            try:
                free_pool(cupy)
            except Exception:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
