"""Macro average precision: scikit-learn vs torchmetrics (exact) vs multilabel_ls, one run.

Random scores with ties (float32 rounded to 3 decimals) and 5% positives, at 50,000 x 1,000
and 20,000 x 100, on the CPU and, when one is visible, on CUDA. Every measurement runs in a
fresh subprocess so that its peak memory (peak RSS above the process's footprint once the
data exist; ``torch.cuda.max_memory_allocated`` above the data on a GPU) is its own.

Prints a table of median wall times (and the spread over the repeats), the CPU time of
the process (all threads: multilabel_ls uses up to one thread per core, scikit-learn one),
ratios of wall times to scikit-learn and to torchmetrics on the same device, peak memory,
and the difference of the macro AP from scikit-learn's. On a shared machine other
processes inflate the wall times; the ratios are taken within one run. ``--csv PATH`` appends the rows with the versions and the git SHA.

    python benchmarks/bench_metrics.py [--sizes 50000x1000,20000x100] [--repeats 5] [--csv out.csv]

This is a script, not a test.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def make_data(n: int, l: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random((n, l), dtype=np.float32), 3)  # 1001 distinct values: ties
    labels = rng.random((n, l), dtype=np.float32) < 0.05
    return labels, scores


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak_rss() -> int:
    """Reset the peak RSS to the current RSS (Linux >= 4.0); return the current RSS in bytes."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # then the peak below is the process's lifetime peak
        pass
    return _status_kib("VmRSS") * 1024


def _peak_rss_bytes() -> int:
    try:
        return _status_kib("VmHWM") * 1024
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(lib: str, n: int, l: int, device: str, repeats: int) -> dict:
    """Time one library in this (fresh) process and report JSON."""
    import torch

    warnings.simplefilter("ignore")
    labels, scores = make_data(n, l)
    full = (labels, scores)
    small = (labels[:200], scores[:200])  # warms imports and code paths, not the allocator
    data = {"y": None, "s": None}

    def use(pair):
        y, s = pair
        if lib == "sklearn":
            data["y"], data["s"] = y, s
        elif lib == "torchmetrics":
            data["y"], data["s"] = (
                torch.from_numpy(y).long().to(device),
                torch.from_numpy(s).to(device),
            )
        else:
            data["y"] = torch.from_numpy(y).to(device) if device != "cpu" else y
            data["s"] = torch.from_numpy(s).to(device) if device != "cpu" else s

    if lib == "sklearn":
        from sklearn.metrics import average_precision_score

        def run():
            return average_precision_score(data["y"], data["s"], average="macro")

    elif lib == "torchmetrics":
        from torchmetrics.functional.classification import multilabel_average_precision

        def run():
            return float(multilabel_average_precision(data["s"], data["y"], num_labels=l,
                                                      average="macro", thresholds=None))  # fmt: skip

    else:
        from multilabel_ls.metrics import average_precision

        def run():
            return average_precision(data["y"], data["s"], average="macro", empty_labels="zero")

    cuda = device.startswith("cuda")
    use(small)
    run()
    use(full)
    # memory: the first full run, with nothing cached from an earlier one
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        base_gpu = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    base = _reset_peak_rss()
    t0 = time.perf_counter()
    value = run()
    if cuda:
        torch.cuda.synchronize()
    first = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() - base_gpu) if cuda else _peak_rss_bytes() - base
    times, cpu_times = [], []
    for _ in range(repeats if first < 5 else 1):  # a slow library is timed once more only
        if cuda:
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        value = run()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)  # all threads of this process
    return {
        "lib": lib, "n": n, "l": l, "device": device, "value": float(value),
        "median_s": float(np.median(times)), "min_s": float(np.min(times)),
        "max_s": float(np.max(times)), "runs": len(times), "peak_mib": max(peak, 0) / 2**20,
        "cpu_s": float(np.median(cpu_times)),
        "data_mib": scores.nbytes / 2**20,
    }  # fmt: skip


def measure(lib: str, n: int, l: int, device: str, repeats: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", lib, str(n), str(l), device, str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{lib} {n}x{l} {device} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _versions() -> dict:
    import sklearn
    import torch
    import torchmetrics

    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=REPO, check=False).stdout.strip()  # fmt: skip
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else ""
    return {"numpy": np.__version__, "torch": torch.__version__, "sklearn": sklearn.__version__,
            "torchmetrics": torchmetrics.__version__, "git_sha": sha, "cpus": os.cpu_count(),
            "machine": platform.machine(), "gpu": gpu}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000x1000,20000x100")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--csv", type=Path, default=None)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        lib, n, l, device, repeats = args.worker
        print(json.dumps(worker(lib, int(n), int(l), device, int(repeats))))
        return

    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    versions = _versions()
    print(f"macro AP, random scores with ties, 5% positives; {versions}")
    header = (f"{'size':>13} {'device':>6} {'library':>13} {'median s':>9} {'spread s':>15} "
              f"{'cpu s':>7} {'vs sklearn':>10} {'vs tm':>7} {'peak MiB':>9} {'x data':>7} "
              f"{'|dAP|':>8}")  # fmt: skip
    print(header)
    print("-" * len(header))
    rows = []
    for size in args.sizes.split(","):
        n, l = (int(v) for v in size.lower().split("x"))
        sk = measure("sklearn", n, l, "cpu", args.repeats)
        rows.append(sk)
        for device in devices:
            tm = measure("torchmetrics", n, l, device, args.repeats)
            ours = measure("multilabel_ls", n, l, device, args.repeats)
            rows += [tm, ours]
            for r in ([sk] if device == "cpu" else []) + [tm, ours]:
                spread = f"{r['min_s']:.3f}-{r['max_s']:.3f}"
                vs_tm = f"{tm['median_s'] / r['median_s']:.1f}x" if r is not sk else ""
                print(f"{n:>6}x{l:<6} {device:>6} {r['lib']:>13} {r['median_s']:>9.3f} "
                      f"{spread:>15} {r['cpu_s']:>7.2f} {sk['median_s'] / r['median_s']:>9.1f}x {vs_tm:>7} "
                      f"{r['peak_mib']:>9.0f} {r['peak_mib'] / r['data_mib']:>6.2f}x "
                      f"{abs(r['value'] - sk['value']):>8.1e}")  # fmt: skip
    if args.csv:
        new = not args.csv.exists()
        with args.csv.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=[*rows[0].keys(), *versions.keys()])
            if new:
                w.writeheader()
            for r in rows:
                w.writerow({**r, **versions})


if __name__ == "__main__":
    main()
