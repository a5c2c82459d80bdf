"""``benchmarks/bench_loss.py`` runs: it says so and exits without CUDA, and its CPU smoke mode
(Triton's interpreter) writes CSV rows with the versions and the git SHA."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "bench_loss.py"


def _run(*args, timeout=300):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_without_cuda_it_says_so_and_exits_cleanly():
    res = _run()
    assert res.returncode == 0, res.stderr
    assert "no CUDA device" in res.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="the smoke mode is for machines without CUDA")
def test_cpu_smoke_appends_csv_rows(tmp_path):
    out = tmp_path / "bench.csv"
    args = ["--cpu-smoke", "--csv", str(out), "--shapes", "3x40:float32",
            "--strategies", "binary", "uniform", "--reps", "1"]  # fmt: skip
    res = _run(*args)
    assert res.returncode == 0, res.stdout + res.stderr
    _run(*args)  # a second run appends (no second header)
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 * 4  # two runs x two strategies x four methods (no compile)
    assert {r["method"] for r in rows} == {"eager", "closed_form", "triton", "triton_sparse"}
    assert all(r["git"] and r["torch"] == torch.__version__ for r in rows)
