"""Merging across 2 real processes (torch.distributed, gloo, CPU) equals one pass over all data."""

from __future__ import annotations

import pickle
import socket
import time

import numpy as np
import pytest
import torch.multiprocessing as mp
from sklearn.metrics import average_precision_score

from ._ddp_worker import N_TOTAL, SHARD_0, run, shard
from .conftest import quiet
from .reference import ece_textbook
from .registry import CASES, IDS
from .test_streaming import assert_same, make_data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    ctx = mp.spawn(run, args=(2, _free_port(), str(out)), nprocs=2, join=False)
    deadline = time.monotonic() + 240  # two fresh interpreters importing torch, then ~60 metrics
    while not ctx.join(timeout=5):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.terminate()
            pytest.fail("distributed workers did not finish in time")
    return [pickle.loads((out / f"rank{r}.pkl").read_bytes()) for r in range(2)]


@pytest.mark.parametrize(
    ("name", "fn", "kw", "kind", "reference"),
    [(c[0], c[1], c[3], c[4], c[5]) for c in CASES],
    ids=IDS,
)
def test_merged_processes_equal_one_pass(ddp_results, name, fn, kw, kind, reference):
    y, s = make_data(kind, n=N_TOTAL)
    ref = reference(y, s)  # independent: scikit-learn or a textbook loop
    for rank in (0, 1):
        assert_same(ddp_results[rank][name], ref)
        local_ref = quiet(fn, *shard(rank, y, s), **kw)  # a shard may lack a label's positives
        assert_same(ddp_results[rank][name + "/local"], local_ref)


def test_a_rank_without_data(ddp_results):
    y, s = make_data("prob", n=N_TOTAL)
    ref_cal = np.mean([ece_textbook(y[:SHARD_0, k], s[:SHARD_0, k], 15) for k in range(5)])
    ref_ap = [quiet(average_precision_score, y[:SHARD_0, k], s[:SHARD_0, k]) for k in range(5)]
    for rank in (0, 1):
        assert_same(ddp_results[rank]["calibration-rank0-only"], ref_cal)
        np.testing.assert_allclose(ddp_results[rank]["ap-rank0-only"], ref_ap, atol=1e-12)
