"""Diversity guidance steps: genmetrics.torch against plain-PyTorch autograd, and the collapsed-batch gradients.

    python bench/guidance.py             # batch 64 against a bank of 10,000, d = 1,024 (SPARKE/c-VSG sizes)
    python bench/guidance.py --quick     # batch 64, bank 2,000, d = 256: a smoke run of a few seconds
    python bench/guidance.py --no-gram   # skip the n x n eigvalsh reference (one step is ~1 min at full size)

One guidance step is the forward pass and the backward pass to the batch (d log S / dX) for
(a) the Vendi score of order 1 with the cosine kernel and (b) RKE with the rbf kernel (bandwidth fixed once by the
median heuristic), each computed three ways:

* genmetrics, stateless: ``gmt.vendi(X, memory_bank=bank)`` / ``gmt.rke(...)`` (the bank's part recomputed per call);
* genmetrics ``DiversityGuidance`` (the bank's part cached at the first call; steady-state steps timed after it);
* plain PyTorch as users write it today, differentiated by autograd: Vendi from ``torch.linalg.eigvalsh`` of the
  cosine Gram of [X; bank] (the d x d dual U^T U, and the (n + m) x (n + m) matrix U U^T) and its entropy; RKE from
  the full (n + m) x (n + m) rbf matrix, trace(K)^2 / sum(K^2).

Then the gradients at a collapsed batch (64 identical rows; and a batch of duplicated bank rows) for several
plain formulations of the Vendi score against genmetrics: finite or not, and how far from genmetrics' gradient.
Prints markdown tables for bench/RESULTS.md. Times are medians of a few steps.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time

import numpy as np
import torch

import genmetrics as gm
from _common import fmt, gemm_rate, machine, mixture, table
from genmetrics import torch as gmt


def timed(fn, repeat: int) -> tuple[float, object]:
    """(median wall time in s over ``repeat`` calls, the last result)."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def leaf(X: torch.Tensor) -> torch.Tensor:
    return X.detach().clone().requires_grad_(True)


def step(score):
    """A function of X giving d log score(X) / dX by autograd (forward + backward), the stateless way."""

    def run(X):
        Y = leaf(X)
        torch.log(score(Y)).backward()
        return Y.grad

    return run


# ----------------------------------------------------------------------------------------------------
# the plain-PyTorch references, written as users write them


def plain_vendi_dual(X, bank):
    """exp(entropy) of the eigenvalues of the d x d dual U^T U / (n + m), U the unit rows of [X; bank]."""
    U = torch.nn.functional.normalize(torch.cat([X, bank]), dim=1)
    w = torch.linalg.eigvalsh(U.T @ U / U.shape[0])
    p = w[w > 0]
    p = p / p.sum()
    return torch.exp(-(p * torch.log(p)).sum())


def plain_vendi_gram(X, bank):
    """The same from the (n + m) x (n + m) cosine Gram matrix (as vendi_score.score_K)."""
    U = torch.nn.functional.normalize(torch.cat([X, bank]), dim=1)
    w = torch.linalg.eigvalsh(U @ U.T / U.shape[0])
    p = w[w > 0]
    p = p / p.sum()
    return torch.exp(-(p * torch.log(p)).sum())


def plain_rke(X, bank, sigma):
    """trace(K)^2 / sum(K^2) of the full rbf matrix of [X; bank]."""
    Z = torch.cat([X, bank])
    K = torch.exp(-torch.cdist(Z, Z).pow(2) / (2 * sigma**2))
    return K.trace() ** 2 / (K**2).sum()


# the collapsed-batch formulations of VS_1 (n x n cosine Gram of [X; bank], trace-normalised)


def _gram(X, bank):
    Z = X if bank is None else torch.cat([X, bank])
    U = torch.nn.functional.normalize(Z, dim=1)
    K = U @ U.T
    return K / K.trace()


def entropy_filtered(X, bank):  # vendi_score's entropy_q: only the positive eigenvalues
    w = torch.linalg.eigvalsh(_gram(X, bank))
    p = w[w > 0]
    return torch.exp(-(p * torch.log(p)).sum())


def entropy_xlogy(X, bank):  # clamp the round-off negatives, 0 log 0 = 0
    w = torch.linalg.eigvalsh(_gram(X, bank)).clamp_min(0)
    return torch.exp(-torch.xlogy(w, w).sum())


def entropy_unguarded(X, bank):  # the textbook formula on eigvalsh's output
    w = torch.linalg.eigvalsh(_gram(X, bank))
    return torch.exp(-(w * torch.log(w)).sum())


def entropy_matrix_log(X, bank):  # -tr(A log A), log A = V diag(log w) V^T from eigh (eigenvectors differentiated)
    A = _gram(X, bank)
    w, V = torch.linalg.eigh(A)
    log_A = V @ torch.diag(torch.log(w.clamp_min(1e-30))) @ V.T
    return torch.exp(-torch.trace(A @ log_A))


def entropy_rayleigh(X, bank):  # eigenvalues recovered as v_i^T A v_i (eigenvectors differentiated)
    A = _gram(X, bank)
    _, V = torch.linalg.eigh(A)
    p = torch.einsum("ji,jk,ki->i", V, A, V).clamp_min(0)
    return torch.exp(torch.special.entr(p).sum())


FORMULATIONS = {
    "eigvalsh, p[p > 0] (vendi_score style)": entropy_filtered,
    "eigvalsh, clamp_min(0) + xlogy": entropy_xlogy,
    "eigvalsh, w * log(w) unguarded": entropy_unguarded,
    "eigh, -tr(A log A) with V": entropy_matrix_log,
    "eigh, Rayleigh quotients v^T A v": entropy_rayleigh,
}


# ----------------------------------------------------------------------------------------------------


def vendi_steps(X, bank, rate, repeat, gram):
    n, d = X.shape
    m = bank.shape[0]
    t_stateless, g_stateless = timed(
        lambda: step(lambda Y: gmt.vendi(Y, q=1, kernel="cosine", memory_bank=bank))(X), repeat
    )
    guidance = gmt.DiversityGuidance(score="vendi", q=1, kernel="cosine", memory_bank=bank)
    t_first, _ = timed(lambda: guidance.gradient(X), 1)
    t_steady, g_guidance = timed(lambda: guidance.gradient(X), repeat)
    t_dual, g_dual = timed(lambda: step(lambda Y: plain_vendi_dual(Y, bank))(X), repeat)
    rows = [
        ["genmetrics DiversityGuidance, steady step", fmt(t_steady), "1", ""],
        ["genmetrics DiversityGuidance, first call", fmt(t_first), f"{t_first / t_steady:.1f}x", "caches U_B^T U_B"],
        ["genmetrics gmt.vendi(X, memory_bank=bank)", fmt(t_stateless), f"{t_stateless / t_steady:.1f}x", ""],
        ["plain autograd, eigvalsh of d x d dual (f32)", fmt(t_dual), f"{t_dual / t_steady:.1f}x", ""],
    ]
    if gram:
        t_gram, g_gram = timed(lambda: step(lambda Y: plain_vendi_gram(Y, bank))(X), 1)
        rows.append(
            [f"plain autograd, eigvalsh of {n + m} x {n + m} (f32)", fmt(t_gram), f"{t_gram / t_steady:.0f}x", "1 run"]
        )
    print(f"\n### (a) Vendi q = 1, cosine: one step d log VS / dX, batch {n}, bank {m}, d = {d}, float32\n")
    table(rows, ["method", "time (median)", "time / guidance step", ""])
    # the guidance step: U_X^T U_X (n d^2 flops as a syrk) and dU_X = 2 U_X G (2 n d^2), then a d x d eigh
    U = torch.nn.functional.normalize(torch.cat([X, bank]), dim=1).double()
    G = U.T @ U
    t_eigh, _ = timed(lambda: torch.linalg.eigh(G / G.trace()), 3)  # the step's own d x d matrix
    flops = 3 * n * d * d
    print(
        f"\nFloor of a guidance step: {flops:.2g} GEMM flops ({flops / rate / 1e9 * 1e3:.2g} ms at the GEMM rate) + a "
        f"{d} x {d} float64 eigh ({fmt(t_eigh)} measured alone): genmetrics is "
        f"{t_steady / (flops / rate / 1e9 + t_eigh):.1f}x that floor."
    )
    reference = g_guidance.double()
    for name, g in [("gmt.vendi", g_stateless), ("plain dual", g_dual)]:
        error = float((g.double() - reference).norm() / reference.norm())
        print(f"- relative difference of the gradient, {name} against DiversityGuidance: {error:.2e}")


def rke_steps(X, bank, rate, repeat):
    n, d = X.shape
    m = bank.shape[0]
    sigma = float(gm.rke(torch.cat([X, bank]).numpy()).bandwidth)  # the median heuristic, fixed once
    t_stateless, g_stateless = timed(
        lambda: step(lambda Y: gmt.rke(Y, kernel="rbf", bandwidth=sigma, memory_bank=bank))(X), repeat
    )
    guidance = gmt.DiversityGuidance(score="rke", kernel="rbf", bandwidth=sigma, memory_bank=bank)
    t_first, _ = timed(lambda: guidance.gradient(X), 1)
    t_steady, g_guidance = timed(lambda: guidance.gradient(X), repeat)
    t_plain, g_plain = timed(lambda: step(lambda Y: plain_rke(Y, bank, sigma))(X), max(1, repeat // 2))
    print(
        f"\n### (b) RKE, rbf (sigma = {sigma:.4g}, median heuristic): one step d log RKE / dX, batch {n}, "
        f"bank {m}, d = {d}, float32\n"
    )
    table(
        [
            ["genmetrics DiversityGuidance, steady step", fmt(t_steady), "1", ""],
            [
                "genmetrics DiversityGuidance, first call",
                fmt(t_first),
                f"{t_first / t_steady:.1f}x",
                "bank's sum k^2 (fused engine)",
            ],
            ["genmetrics gmt.rke(X, memory_bank=bank)", fmt(t_stateless), f"{t_stateless / t_steady:.1f}x", ""],
            [f"plain autograd, full {n + m} x {n + m} rbf", fmt(t_plain), f"{t_plain / t_steady:.0f}x", ""],
        ],
        ["method", "time (median)", "time / guidance step", ""],
    )
    flops = 2 * n * (n + m) * d * 3  # K_X[XB] forward, and its two backward products (only dX is needed: 2)
    print(
        f"\nFloor of a guidance step: {flops:.2g} flops (the n x (n + m) block forward, its backward to X) = "
        f"{fmt(flops / rate / 1e9)} at the GEMM rate: genmetrics is {t_steady / (flops / rate / 1e9):.1f}x that floor."
    )
    reference = g_guidance.double()
    for name, g in [("gmt.rke", g_stateless), ("plain", g_plain)]:
        error = float((g.double() - reference).norm() / reference.norm())
        print(f"- relative difference of the gradient, {name} against DiversityGuidance: {error:.2e}")


def collapsed(bank_full, d, seed=0):
    bank = bank_full[:256]
    cases = {
        "64 identical rows, no bank": (bank[:1].repeat(64, 1), None),
        "64 identical rows + bank of 256": (bank[:1].repeat(64, 1), bank),
        "bank rows 0-31 twice + bank of 256": (bank[:32].repeat(2, 1), bank),
    }
    print(
        f"\n### Collapsed batches: d log VS_1 / dX through the {64}-row batch (+ bank) cosine Gram, d = {d}, float32\n"
    )
    print(
        "Each cell: the score, then the NaN/inf entries of the gradient (64 x d), or its relative difference from "
        "genmetrics' (float64 eigensolver; where that gradient is exactly 0, the norm of the plain one).\n"
    )
    rows = []
    references = {}
    for case, (X, bank_part) in cases.items():
        Y = leaf(X)
        torch.log(gmt.vendi(Y, q=1, kernel="cosine", memory_bank=bank_part)).backward()
        references[case] = Y.grad.double()
    for name, fn in [("genmetrics gmt.vendi", None), *FORMULATIONS.items()]:
        row = [name]
        for case, (X, bank_part) in cases.items():
            if fn is None:
                g = references[case]
                value = float(gmt.vendi(X, q=1, kernel="cosine", memory_bank=bank_part))
            else:
                Y = leaf(X)
                score = fn(Y, bank_part)
                torch.log(score).backward()
                g, value = Y.grad.double(), float(score.detach())
            bad = int((~torch.isfinite(g)).sum())
            if bad:
                row.append(f"VS {value:.4g}, **{bad} NaN/inf**")
            elif float(references[case].norm()) < 1e-12:  # the exact gradient is 0 (VS = 1 is the minimum)
                row.append(f"VS {value:.4g}, finite, norm {float(g.norm()):.1e}")
            else:
                ref = references[case]
                row.append(f"VS {value:.4g}, finite, rel {float((g - ref).norm() / ref.norm()):.1e}")
        rows.append(row)
    table(rows, ["formulation", *cases])
    guidance = gmt.DiversityGuidance(score="vendi", q=1, kernel="cosine", memory_bank=bank_full)
    g = guidance.gradient(bank_full[:1].repeat(64, 1))
    print(
        f"\nDiversityGuidance (vendi, cosine) against the full bank of {bank_full.shape[0]}, at 64 copies of a bank "
        f"row: gradient finite = {bool(torch.isfinite(g).all())}, norm {float(g.norm()):.3g}."
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="bank 2,000, d = 256: a smoke run")
    parser.add_argument("--no-gram", action="store_true", help="skip the (n + m) x (n + m) eigvalsh reference")
    parser.add_argument("--repeat", type=int, default=None, help="steps per median (default 5, --quick 3)")
    args = parser.parse_args()
    n, m, d = (64, 2000, 256) if args.quick else (64, 10_000, 1024)
    repeat = args.repeat or (3 if args.quick else 5)
    torch.manual_seed(0)
    rate = gemm_rate()
    print(f"## Diversity guidance steps, {datetime.date.today()}, {machine()}")
    print(
        f"\nfloat32 GEMM rate (NumPy matmul 4096 x 2048 x 4096): {rate:.0f} GFLOP/s; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    data = mixture(n + m, d, modes=100, seed=0)
    X = torch.from_numpy(data[:n].copy())
    bank = torch.from_numpy(np.ascontiguousarray(data[n:]))
    vendi_steps(X, bank, rate, repeat, gram=not args.no_gram)
    rke_steps(X, bank, rate, repeat)
    collapsed(bank, d)


if __name__ == "__main__":
    main()
