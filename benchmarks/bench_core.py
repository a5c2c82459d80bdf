"""CPU benchmark: multilabel_smoothing_loss vs the naive eager composition, forward + backward.

The naive composition is what a user writes today: build the dense smoothed target with tensor
ops, then call the PyTorch loss (``F.binary_cross_entropy_with_logits`` for the sigmoid family,
``-(t * log_softmax(x)).sum(1).mean()`` for the softmax family) and backpropagate. Both are run
in the same process, on the same inputs; the script prints times, peak extra memory (as a
multiple of the logits' size) and the ratios ours / naive.

Peak extra memory is read from the process's resident-set high-water mark (``VmHWM``, reset
through ``/proc/self/clear_refs``) with glibc's mmap threshold lowered to 64 KiB, so every
tensor buffer is its own mapping and is returned to the OS when freed: the high-water mark
minus the resident size before the call is the peak of live allocations during the call,
gradient included. Linux only. Memory is measured in a child process that has
``MALLOC_MMAP_THRESHOLD_`` set; times are measured in this process, with the default allocator
(the low threshold turns every temporary into fresh page faults, which is not how training runs).

Usage::

    python benchmarks/bench_core.py [--shapes 4096x1000 256x32768] [--reps 7] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import multilabel_ls as mlls

EPS = 0.1


def naive_targets(y: torch.Tensor, strategy: str, eps: float, prior: torch.Tensor | None):
    """Dense smoothed targets, written as a user would (full-size tensor ops)."""
    y = y.float()
    N = y.shape[1]
    n = y.sum(1, keepdim=True)
    if strategy == "binary":
        return y * (1 - eps) + eps / 2
    if strategy in ("binary_uniform", "unnormalized"):
        return y * (1 - eps) + eps / N
    if strategy == "mass_preserving":
        return y * (1 - eps) + eps * n / N
    if strategy in ("asymmetric", "asymmetric_softmax"):
        return y * (1 - eps) + (1 - y) * (eps / 10)
    if strategy == "prior":
        return y * (1 - eps) + eps * prior
    if strategy == "uniform":
        return y / n * (1 - eps) + eps / N
    if strategy == "positive_split":
        return y / n * (1 - eps) + (1 - y) * eps / (N - n)
    if strategy == "prior_softmax":
        return y / n * (1 - eps) + eps * prior
    raise KeyError(strategy)


def naive_step(x, y, strategy, prior):
    t = naive_targets(y, strategy, EPS, prior)
    if mlls.get_strategy(strategy).family == "sigmoid":
        loss = F.binary_cross_entropy_with_logits(x, t)
    else:
        loss = -(t * F.log_softmax(x, dim=1)).sum(1).mean()
    loss.backward()


def ours_step(x, y, strategy, prior):
    kw = (
        {"epsilon_pos": EPS, "epsilon_neg": EPS / 10}
        if strategy.startswith("asym")
        else {"epsilon": EPS}
    )
    if prior is not None:
        kw["prior"] = prior
    loss = mlls.multilabel_smoothing_loss(x, y, strategy=strategy, **kw)
    loss.backward()


def _status() -> tuple[int, int]:
    vals = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmHWM", "VmRSS")):
                vals[line.split(":")[0]] = int(line.split()[1]) * 1024
    return vals["VmHWM"], vals["VmRSS"]


def peak_extra_bytes(fn) -> int:
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the high-water mark to the current resident size
    _, before = _status()
    fn()
    peak, _ = _status()
    return peak - before


def time_it(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="+", default=["4096x1000", "512x32768", "16x670091"])
    ap.add_argument("--strategies", nargs="+", default=list(mlls.STRATEGIES))
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--positives", type=float, default=5.0, help="mean positives per row")
    ap.add_argument("--csv", type=Path, default=None)
    ap.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.manual_seed(0)
    memory = {}
    if not args.memory_only:
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
        cmd = [sys.executable, __file__, "--memory-only", "--shapes", *args.shapes]
        cmd += ["--strategies", *args.strategies, "--positives", str(args.positives)]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        for line in res.stdout.splitlines():
            if line.startswith("{"):
                d = json.loads(line)
                memory[(d["shape"], d["strategy"])] = d["mem"]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, eps {EPS}")
    header = (
        "shape",
        "strategy",
        "naive ms",
        "ours ms",
        "time ratio",
        "naive mem",
        "ours mem",
        "mem ratio",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    rows = []
    for shape in args.shapes:
        B, N = (int(v) for v in shape.split("x"))
        x = torch.randn(B, N).requires_grad_()
        y = torch.rand(B, N) < args.positives / N
        y[:, 0], y[:, 1] = True, False  # every row defined for every strategy
        logit_bytes = x.numel() * x.element_size()
        for strategy in args.strategies:
            prior = None
            if strategy.startswith("prior"):
                prior = y.float().mean(0).clamp(min=1e-4)
                prior = prior / prior.sum() if strategy == "prior_softmax" else prior

            def naive(x=x, y=y, strategy=strategy, prior=prior):
                naive_step(x, y, strategy, prior)
                x.grad = None

            def ours(x=x, y=y, strategy=strategy, prior=prior):
                ours_step(x, y, strategy, prior)
                x.grad = None

            for fn in (naive, ours):  # warm up (allocator, lazy init)
                fn()
            if args.memory_only:
                mem = [
                    min(peak_extra_bytes(f) for _ in range(2)) / logit_bytes for f in (naive, ours)
                ]
                print(json.dumps({"shape": shape, "strategy": strategy, "mem": mem}), flush=True)
                continue
            mem_naive, mem_ours = memory[(shape, strategy)]
            t_naive = time_it(naive, args.reps)
            t_ours = time_it(ours, args.reps)
            row = (shape, strategy, t_naive * 1e3, t_ours * 1e3, t_ours / t_naive, mem_naive, mem_ours,
                   mem_ours / mem_naive)  # fmt: skip
            rows.append(row)
            print(
                f"| {shape} | {strategy} | {row[2]:.1f} | {row[3]:.1f} | {row[4]:.2f} | "
                f"{mem_naive:.2f}x | {mem_ours:.2f}x | {row[7]:.2f} |",
                flush=True,
            )
    if args.csv:
        new = not args.csv.exists()
        with args.csv.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow((*header, "torch"))
            for r in rows:
                w.writerow((*r, torch.__version__))


if __name__ == "__main__":
    main()
