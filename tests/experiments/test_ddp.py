"""Data-parallel training under torchrun (gloo, 2 CPU processes) equals one process.

The equivalence holds up to float rounding when dropout is 0 (dropout masks are drawn per
rank, so with dropout the two are equal only in distribution). Uneven shards (a batch of 101
split 51/50) and softmax rows skipped by the row policy (missing-positive noise makes empty
rows) exercise the global loss normaliser.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from multilabel_ls.experiments.store import ResultStore

from .conftest import free_port

FLAGS = ["--strategies", "binary,uniform", "--epsilons", "0.1", "--seed-list", "0",
         "--noise", "missing:0.5", "--hidden", "16", "--dropout", "0", "--max-epochs", "4",
         "--patience", "10", "--batch-size", "101", "--no-report", "--no-progress"]  # fmt: skip


@pytest.mark.skipif(sys.platform == "win32", reason="gloo over TCP on Linux/macOS")
def test_torchrun_two_processes_equals_single_process(tmp_path):
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           "-m", "multilabel_ls.cli", "run", "--out", str(ddp), *FLAGS]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("2 runs trained") == 1  # rank 0 alone reports and writes
    cmd = [sys.executable, "-m", "multilabel_ls.cli", "run", "--out", str(single),
           "--workers", "1", *FLAGS]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    with ResultStore(ddp / "results.sqlite") as a, ResultStore(single / "results.sqlite") as b:
        ra = {r["key"]: r for r in a.runs(with_record=True)}
        rb = {r["key"]: r for r in b.runs(with_record=True)}
        assert ra.keys() == rb.keys() and len(ra) == 2
        for k in ra:
            assert ra[k]["record"]["data"]["n_empty_fit_rows"] > 0
            np.testing.assert_allclose(a.logits(k), b.logits(k), rtol=0, atol=1e-4)
            assert (
                ra[k]["record"]["history"]["best_epoch"] == rb[k]["record"]["history"]["best_epoch"]
            )
            for m, v in ra[k]["metrics"].items():
                assert v == pytest.approx(rb[k]["metrics"][m], abs=1e-4), m
