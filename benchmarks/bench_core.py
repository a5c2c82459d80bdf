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

Load. Users' machines are shared (DataLoader workers, other jobs), so every time is measured
idle and under ``k`` busy-loop processes that the script starts before and stops after each
condition (``--loads 0 1 2 3``), with ``--threads`` intra-op threads (``torch.set_num_threads``).
The ratio is to the naive composition measured in the same condition; ``floor`` is the memory-bandwidth floor
(read the logits, read a 1-byte target, write the gradient) at the copy bandwidth measured
(``dst.copy_(src)`` of 256 MiB, 2 bytes moved per byte) in the same condition.

Usage::

    python benchmarks/bench_core.py [--shapes 4096x1000 256x32768] [--reps 7] [--csv out.csv]
        [--loads 0 3] [--threads 1 2] [--no-memory]
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import multiprocessing as mp
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


def _busy() -> None:  # a busy-loop process (the load)
    while True:
        pass


def start_load(k: int) -> list:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_busy, daemon=True) for _ in range(k)]
    for p in procs:
        p.start()
    time.sleep(0.5 if k else 0.0)
    return procs


def stop_load(procs: list) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.join()


def copy_bandwidth(reps: int = 5) -> float:
    """Bytes moved per second by ``dst.copy_(src)`` of 256 MiB (read + write), median."""
    src = torch.empty(64 << 20, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    dst.copy_(src)
    t = time_it(lambda: dst.copy_(src), reps)
    return 2 * src.numel() * 4 / t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="+", default=["4096x1000", "512x32768", "16x670091"])
    ap.add_argument("--strategies", nargs="+", default=list(mlls.STRATEGIES))
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--positives", type=float, default=5.0, help="mean positives per row")
    ap.add_argument("--csv", type=Path, default=None)
    ap.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--loads", nargs="+", type=int, default=[0], help="busy processes")
    ap.add_argument("--threads", nargs="+", type=int, default=[torch.get_num_threads()])
    ap.add_argument("--no-memory", action="store_true", help="skip the memory child process")
    args = ap.parse_args()
    torch.manual_seed(0)
    memory = {}
    if not args.memory_only and not args.no_memory:
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
        cmd = [sys.executable, __file__, "--memory-only", "--shapes", *args.shapes]
        cmd += ["--strategies", *args.strategies, "--positives", str(args.positives)]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        for line in res.stdout.splitlines():
            if line.startswith("{"):
                d = json.loads(line)
                memory[(d["shape"], d["strategy"])] = d["mem"]
    print(f"torch {torch.__version__}, eps {EPS}, cores {os.cpu_count()}")
    header = (
        "load",
        "threads",
        "shape",
        "strategy",
        "naive ms",
        "ours ms",
        "ours/naive",
        "floor ms",
        "ours/floor",
        "first call ms",
        "naive mem",
        "ours mem",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    rows = []
    data = {}
    for shape in args.shapes:
        B, N = (int(v) for v in shape.split("x"))
        x = torch.randn(B, N).requires_grad_()
        y = torch.rand(B, N) < args.positives / N
        y[:, 0], y[:, 1] = True, False  # every row defined for every strategy
        data[shape] = (x, y)
    for load in args.loads:
        procs = start_load(load)
        try:
            for threads in args.threads:
                torch.set_num_threads(threads)
                bw = copy_bandwidth()
                for shape, (x, y) in data.items():
                    rows += _condition(args, load, threads, bw, shape, x, y, memory)
        finally:
            stop_load(procs)
    if args.csv:
        new = not args.csv.exists()
        with args.csv.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow((*header, "torch"))
            for r in rows:
                w.writerow((*r, torch.__version__))


def _condition(args, load, threads, bw, shape, x, y, memory) -> list:
    """Time every strategy at one (load, threads, shape); print and return the rows."""
    rows = []
    logit_bytes = x.numel() * x.element_size()
    floor = (2 * logit_bytes + x.numel()) / bw  # read x, read a 1-byte y, write g
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

        t0 = time.perf_counter()
        ours()  # first call (lazy initialisation; nothing is compiled)
        first = time.perf_counter() - t0
        for fn in (naive, ours):  # warm up (allocator, lazy init)
            fn()
        if args.memory_only:
            mem = [min(peak_extra_bytes(f) for _ in range(2)) / logit_bytes for f in (naive, ours)]
            print(json.dumps({"shape": shape, "strategy": strategy, "mem": mem}), flush=True)
            continue
        mem_naive, mem_ours = memory.get((shape, strategy), (float("nan"), float("nan")))
        t_naive = time_it(naive, args.reps)
        t_ours = time_it(ours, args.reps)
        row = (load, threads, shape, strategy, t_naive * 1e3, t_ours * 1e3, t_ours / t_naive,
               floor * 1e3, t_ours / floor, first * 1e3, mem_naive, mem_ours)  # fmt: skip
        rows.append(row)
        print(
            f"| {load} | {threads} | {shape} | {strategy} | {row[4]:.1f} | {row[5]:.1f} | "
            f"{row[6]:.2f} | {row[7]:.2f} | {row[8]:.1f} | {row[9]:.0f} | {mem_naive:.2f}x | "
            f"{mem_ours:.2f}x |",
            flush=True,
        )
    return rows


if __name__ == "__main__":
    main()
