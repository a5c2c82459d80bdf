"""Worker for the 2-process gloo test: each rank streams its shard, then ``compute()`` merges."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from .registry import CASES
from .test_streaming import make_data

N_TOTAL, SHARD_0 = 90, 37  # uneven shards


def shard(rank: int, y, s):
    return (y[:SHARD_0], s[:SHARD_0]) if rank == 0 else (y[SHARD_0:], s[SHARD_0:])


def run(rank: int, world: int, port: int, out_dir: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    torch.set_num_threads(1)
    results = {}
    try:
        for name, _fn, cls, kw, kind, _ref in CASES:
            y, s = make_data(kind, n=N_TOTAL)
            yr, sr = shard(rank, y, s)
            m = cls(**kw)
            for yb, sb in zip(np.array_split(yr, 3), np.array_split(sr, 3), strict=True):
                m.update(yb, sb)
            results[name] = m.compute()
            local = cls(sync_on_compute=False, **kw)
            local.update(yr, sr)
            results[name + "/local"] = local.compute()
        # a rank that saw no data still takes part (it contributes zeros of the right shape)
        y, s = make_data("prob", n=N_TOTAL)
        for key, m in [
            ("calibration-rank0-only", _cal(cls_kw={"input_format": "probs"})),
            ("ap-rank0-only", _ap()),
        ]:
            if rank == 0:
                m.update(y[:SHARD_0], s[:SHARD_0])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results[key] = m.compute()
    finally:
        dist.destroy_process_group()
    Path(out_dir, f"rank{rank}.pkl").write_bytes(pickle.dumps(results))


def _cal(cls_kw):
    from multilabel_ls.metrics import CalibrationError

    return CalibrationError(**cls_kw)


def _ap():
    from multilabel_ls.metrics import AveragePrecision

    return AveragePrecision(average=None)
