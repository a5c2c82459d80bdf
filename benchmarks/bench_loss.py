"""GPU benchmark of the fused loss kernels: forward + backward against the HBM floor.

For every shape, dtype and strategy, one run times forward + backward of

* ``eager``: the naive composition (dense smoothed target with tensor ops, then
  ``F.binary_cross_entropy_with_logits`` / ``-(t * log_softmax(x)).sum(1).mean()``);
* ``compile``: ``torch.compile`` of that naive loss (backward through AOTAutograd);
* ``closed_form``: :func:`multilabel_ls.losses.smoothing_loss_from_config` with
  ``backend="torch"`` (the blockwise PyTorch path);
* ``triton``: the same with ``backend="triton"`` (:mod:`multilabel_ls.kernels`), dense bool
  target;
* ``triton_sparse``: the kernels with the target as :class:`~multilabel_ls.PositiveIndices`.

Reported per row: median time and inter-quartile range over ``--reps`` runs (CUDA events; L2
flushed before each run by writing a 256 MiB buffer outside the timed region), the time the
GPU spends in kernels during one run (``torch.profiler``; the difference is host overhead:
launches and the host synchronisation some row policies need), the HBM floor

    floor = (read the logits + read a 1-byte target + write the gradient) / copy bandwidth,

with the copy bandwidth measured in the same run (``dst.copy_(src)`` of 1 GiB, 2 bytes moved
per byte copied), the ratios time / floor and kernel time / floor, and the peak extra memory (``max_memory_allocated``
during the step minus the allocation before it, the gradient included) as a multiple of the
logits' size. The issue's bar: ``triton`` at most 1.3x the floor (sigmoid strategies) and 2x
(softmax) at 128 x 670,091 and 1024 x 32,768, fp32 and bf16, with peak extra memory at most
1.05x the logits; the ``bar`` column says whether a row meets it.

Rows are appended to a CSV (``--csv``, default ``benchmarks/results/bench_loss.csv``) with the
GPU name, torch and triton versions and the git SHA.

Without CUDA the script says so and exits (status 0). ``--cpu-smoke`` instead runs tiny shapes
on the CPU (wall-clock timing, Triton's interpreter for the kernels) to exercise the script
itself; its numbers mean nothing.

Run time: the timed part is seconds per row; ``torch.compile`` of the naive loss compiles once
per (shape, strategy), tens of seconds each, so all methods on all 5 shapes x 10 strategies take
of the order of half an hour on an H100. ``--methods triton closed_form eager`` skips compiling.

Usage::

    python benchmarks/bench_loss.py                      # everything (compile takes a while)
    python benchmarks/bench_loss.py --methods triton closed_form --strategies binary uniform
    python benchmarks/bench_loss.py --cpu-smoke --csv /tmp/smoke.csv
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if "--cpu-smoke" in sys.argv:  # Triton decides interpreter vs compiler at import time
    os.environ.setdefault("TRITON_INTERPRET", "1")

import torch
import torch.nn.functional as F

import multilabel_ls as mlls
from multilabel_ls.losses import smoothing_loss_from_config
from multilabel_ls.strategies import make_config

REPO = Path(__file__).resolve().parents[1]
EPS = 0.1
SHAPES = ["128x670091:float32", "128x670091:bfloat16", "1024x32768:float32",
          "1024x32768:bfloat16", "8192x1000:float32"]  # fmt: skip
SMOKE_SHAPES = ["4x3000:float32", "8x100:bfloat16"]
METHODS = ("eager", "compile", "closed_form", "triton", "triton_sparse")
#: Shapes the issue's bar applies to.
BAR_SHAPES = {(128, 670091), (1024, 32768)}
BAR = {"sigmoid": 1.3, "softmax": 2.0}
BAR_MEMORY = 1.05


def smoothing_kwargs(strategy: str) -> dict:
    if strategy.startswith("asym"):
        return {"epsilon_pos": EPS, "epsilon_neg": EPS / 10}
    return {"epsilon": EPS}


def naive_targets(y: torch.Tensor, strategy: str, prior: torch.Tensor | None) -> torch.Tensor:
    """Dense smoothed targets written with full-size tensor ops (what users write today)."""
    dt = torch.float32
    y = y.to(dt)
    N = y.shape[1]
    n = y.sum(1, keepdim=True)
    e = EPS
    if strategy == "binary":
        return y * (1 - e) + e / 2
    if strategy in ("binary_uniform", "unnormalized"):
        return y * (1 - e) + e / N
    if strategy == "mass_preserving":
        return y * (1 - e) + e * n / N
    if strategy in ("asymmetric", "asymmetric_softmax"):
        return y * (1 - e) + (1 - y) * (e / 10)
    if strategy == "prior":
        return y * (1 - e) + e * prior
    if strategy == "uniform":
        return y / n * (1 - e) + e / N
    if strategy == "positive_split":
        return y / n * (1 - e) + (1 - y) * e / (N - n)
    if strategy == "prior_softmax":
        return y / n * (1 - e) + e * prior
    raise KeyError(strategy)


def naive_loss(x, y, strategy: str, prior):
    t = naive_targets(y, strategy, prior)
    if mlls.get_strategy(strategy).family == "sigmoid":
        return F.binary_cross_entropy_with_logits(x, t.to(x.dtype))
    return -(t * F.log_softmax(x.float(), dim=1)).sum(1).mean()


@dataclasses.dataclass
class Env:
    device: torch.device
    smoke: bool
    flush: torch.Tensor | None


def sync(env: Env) -> None:
    if env.device.type == "cuda":
        torch.cuda.synchronize()


def time_step(fn, env: Env, reps: int, warmup: int = 3) -> list[float]:
    """Milliseconds per call of ``fn`` (forward + backward), one value per rep."""
    for _ in range(warmup):
        fn()
    sync(env)
    times = []
    for _ in range(reps):
        if env.device.type == "cuda":
            env.flush.zero_()  # evict the inputs from L2 (outside the timed region)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def peak_extra(fn, env: Env) -> float | None:
    """Peak bytes allocated during one call beyond what was allocated before it (CUDA only)."""
    if env.device.type != "cuda":
        return None
    sync(env)
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    sync(env)
    return torch.cuda.max_memory_allocated() - base


def kernel_time(fn, env: Env) -> float | None:
    """Milliseconds the GPU spends in kernels (and copies) during one call, from the profiler.

    Next to the event time it separates device work from host overhead (launches, the host
    synchronisation of the row policies), which dominates when the floor is tens of µs.
    """
    if env.device.type != "cuda":
        return None
    from torch.profiler import ProfilerActivity, profile

    env.flush.zero_()
    sync(env)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        sync(env)
    return sum(e.self_device_time_total for e in prof.key_averages()) / 1e3


def copy_bandwidth(env: Env) -> float | None:
    """Device-to-device copy bandwidth in bytes/s (read + write counted), median of 10."""
    if env.device.type != "cuda":
        return None
    nbytes = 1 << 30
    src = torch.empty(nbytes, dtype=torch.uint8, device=env.device)
    dst = torch.empty_like(src)
    times = time_step(lambda: dst.copy_(src), env, reps=10)
    return 2 * nbytes / (statistics.median(times) * 1e-3)


def git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                             capture_output=True, text=True, check=True)  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "multilabel_ls"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> dict:
    try:
        import triton

        tv = triton.__version__
    except ImportError:
        tv = "not installed"
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (smoke)"
    return {"gpu": gpu, "torch": torch.__version__, "triton": tv, "git": git_sha()}


def make_methods(x, y, strategy, prior, methods, compile_cache):
    """name -> zero-argument callable running forward + backward (and dropping x.grad)."""
    config = make_config(strategy, prior=None if prior is None else prior.double().cpu(),
                         **smoothing_kwargs(strategy))  # fmt: skip
    if prior is not None:  # the prior as a device tensor: no host copy per call (as the module)
        config = dataclasses.replace(config, prior=prior.double())
    sparse = mlls.PositiveIndices.from_dense(y) if "triton_sparse" in methods else None
    out = {}

    def wrap(loss_fn):
        def step():
            loss_fn().backward()
            x.grad = None

        return step

    for m in methods:
        if m == "eager":
            out[m] = wrap(lambda: naive_loss(x, y, strategy, prior))
        elif m == "compile":
            key = (strategy, tuple(x.shape), x.dtype)
            if key not in compile_cache:
                torch._dynamo.reset()
                compile_cache.clear()
                compile_cache[key] = torch.compile(naive_loss, dynamic=False)
            fn = compile_cache[key]
            out[m] = wrap(lambda fn=fn: fn(x, y, strategy, prior))
        elif m == "closed_form":
            out[m] = wrap(lambda: smoothing_loss_from_config(x, y, config, backend="torch"))
        elif m == "triton":
            out[m] = wrap(lambda: smoothing_loss_from_config(x, y, config, backend="triton"))
        elif m == "triton_sparse":
            out[m] = wrap(lambda: smoothing_loss_from_config(x, sparse, config, backend="triton"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="+", default=None, help="BxN:dtype, e.g. 1024x32768:bfloat16")
    ap.add_argument("--strategies", nargs="+", default=list(mlls.STRATEGIES))
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--positives", type=float, default=5.0, help="mean positives per row")
    ap.add_argument("--csv", type=Path, default=REPO / "benchmarks" / "results" / "bench_loss.csv")
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny CPU run of the script itself")
    args = ap.parse_args()
    if not torch.cuda.is_available() and not args.cpu_smoke:
        print("bench_loss: no CUDA device; the GPU benchmark did not run (use --cpu-smoke to "
              "exercise the script on the CPU).")  # fmt: skip
        return 0
    smoke = not torch.cuda.is_available()
    device = torch.device("cpu" if smoke else "cuda")
    if smoke:
        methods = [m for m in args.methods if m != "compile"]  # minutes of compile for nothing
        shapes = args.shapes or SMOKE_SHAPES
        reps = min(args.reps, 2)
    else:
        methods, shapes, reps = args.methods, args.shapes or SHAPES, args.reps
    from multilabel_ls.kernels import triton_available

    if not triton_available():
        print("bench_loss: triton is not installed; the kernel methods are left out.")
        methods = [m for m in methods if not m.startswith("triton")]
    flush = None if smoke else torch.empty(256 << 20, dtype=torch.uint8, device=device)
    env = Env(device, smoke, flush)
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    info = versions()
    bw = copy_bandwidth(env)
    print(f"{info['gpu']} | torch {info['torch']} | triton {info['triton']} | git {info['git']}")
    print("copy bandwidth: " + (f"{bw / 1e9:.0f} GB/s" if bw else "n/a (CPU smoke)"))
    header = ["shape", "dtype", "strategy", "method", "median ms", "IQR ms", "kernel ms",
              "floor ms", "x floor", "kernel x floor", "peak mem x logits", "bar"]  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    rows = []
    compile_cache: dict = {}
    torch.manual_seed(0)
    for spec in shapes:
        dims, _, dname = spec.partition(":")
        B, N = (int(v) for v in dims.split("x"))
        dtype = getattr(torch, dname or "float32")
        x = torch.randn(B, N, device=device).to(dtype).requires_grad_()
        y = torch.rand(B, N, device=device) < args.positives / N
        y[:, 0], y[:, 1] = True, False  # every row defined for every strategy
        logit_bytes = x.numel() * x.element_size()
        floor_bytes = 2 * logit_bytes + x.numel()  # logits + 1-byte target + gradient
        floor_ms = None if bw is None else floor_bytes / bw * 1e3
        for strategy in args.strategies:
            family = mlls.get_strategy(strategy).family
            prior = None
            if strategy.startswith("prior"):
                prior = y.float().mean(0).clamp(min=1e-4)
                prior = prior / prior.sum() if strategy == "prior_softmax" else prior
            fns = make_methods(x, y, strategy, prior, methods, compile_cache)
            for m, fn in fns.items():
                try:
                    times = time_step(fn, env, reps)
                    mem = peak_extra(fn, env)
                    kms = kernel_time(fn, env)
                except torch.cuda.OutOfMemoryError:
                    print(f"| {dims} | {dname} | {strategy} | {m} | out of memory |")
                    x.grad = None
                    torch.cuda.empty_cache()
                    continue
                med = statistics.median(times)
                q = statistics.quantiles(times, n=4) if len(times) >= 2 else [med, med, med]
                ratio = None if floor_ms is None else med / floor_ms
                kratio = None if floor_ms is None or kms is None else kms / floor_ms
                memx = None if mem is None else mem / logit_bytes
                bar = ""
                if m == "triton" and (B, N) in BAR_SHAPES and ratio is not None:
                    ok = ratio <= BAR[family] and memx <= BAR_MEMORY
                    bar = "meets" if ok else f"misses (<= {BAR[family]}x, mem <= {BAR_MEMORY}x)"
                row = {"shape": dims, "dtype": dname, "strategy": strategy, "method": m,
                       "median_ms": med, "p25_ms": q[0], "p75_ms": q[2], "kernel_ms": kms,
                       "floor_ms": floor_ms, "ratio_to_floor": ratio,
                       "kernel_ratio_to_floor": kratio, "peak_extra_x_logits": memx,
                       "bar": bar}  # fmt: skip
                rows.append(row)
                fmt = lambda v, f: "n/a" if v is None else format(v, f)  # noqa: E731
                print(f"| {dims} | {dname} | {strategy} | {m} | {med:.3f} | {q[2] - q[0]:.3f} | "
                      f"{fmt(kms, '.3f')} | {fmt(floor_ms, '.3f')} | {fmt(ratio, '.2f')} | "
                      f"{fmt(kratio, '.2f')} | {fmt(memx, '.2f')} | {bar} |", flush=True)  # fmt: skip
        del x, y
        compile_cache.clear()
        if not smoke:
            torch.cuda.empty_cache()
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    new = not args.csv.exists()
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    extra = {"time_utc": stamp, **info, "copy_gbps": None if bw is None else bw / 1e9,
             "epsilon": EPS, "positives": args.positives, "reps": reps}  # fmt: skip
    with args.csv.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*extra, *rows[0]] if rows else list(extra))
        if new:
            w.writeheader()
        for r in rows:
            w.writerow({**extra, **r})
    print(f"appended {len(rows)} rows to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
