"""Issue 8: choose training settings per data set by VALIDATION macro mAP only (never the test split).

For each data set, every candidate setting (the default and a small grid around it) is trained
with plain BCE (strategy ``binary`` at ε = 0, which every sigmoid strategy equals at ε = 0, so
the choice favours no strategy) on seeds 0-4. Each seed carves its own validation rows from the
training split exactly as ``mlls run`` does (:func:`multilabel_ls.experiments.prepare.prepare_data`)
and :func:`multilabel_ls.experiments.training.fit` early-stops on the validation macro mAP; the
score of a setting is the mean over seeds of its best validation macro mAP. No test prediction
is made: ``fit`` sees the fit and validation rows only.

Decision rule (fixed before looking at the numbers): keep the default setting unless the best
candidate beats it by more than ``--margin`` (0.01) mean validation mAP; then take the best.

    nice -n 10 python benchmarks/issue8_tune.py --data-dir /work/shared/datasets \\
        --out results/issue8/tuning.json

Prints one table per data set and the choice; writes every score to ``--out`` (JSON).
This is a script, not a test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

#: The candidate grid around the default (lr 1e-3, dropout 0.6, weight decay 1e-3, batch 128).
GRID = {
    "lr": (1e-3, 3e-3),
    "dropout": (0.3, 0.6),
    "weight_decay": (1e-4, 1e-3),
    "batch_size": (32, 128),
}
SEEDS = (0, 1, 2, 3, 4)


def _candidates() -> list[dict]:
    keys = list(GRID)
    return [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*GRID.values())]


def _validation_score(job: tuple[str, str, dict, int]) -> tuple[str, str, int, float, int]:
    """Best validation macro mAP of one (data set, setting, seed); no test prediction."""
    import torch

    from multilabel_ls.experiments.config import ExperimentConfig
    from multilabel_ls.experiments.models import build_model
    from multilabel_ls.experiments.prepare import prepare_data
    from multilabel_ls.experiments.training import fit, loss_kwargs

    dataset, data_dir, train, seed = job
    torch.set_num_threads(1)
    cfg = ExperimentConfig(datasets=[dataset], data_dir=data_dir, strategies=["binary"],
                           epsilons=[0.0], seeds=[seed], train=train)  # fmt: skip
    (spec,) = cfg.expand()
    data = prepare_data(spec)
    torch.manual_seed(spec.seed)
    model = build_model(spec.train, data.X_fit.shape[1], data.Y_fit.shape[1], data.image_shape)
    hist = fit(model, data, loss_kwargs(spec, data.Y_fit), spec.train, spec.seed)
    return (
        dataset,
        json.dumps(train, sort_keys=True),
        seed,
        hist["best_val_map"],
        hist["best_epoch"],
    )


def main(argv: list[str] | None = None) -> int:
    """Run the validation grid and print the choice per data set."""
    from multilabel_ls.experiments.config import TrainConfig

    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--datasets", default="medical,enron,yeast")
    p.add_argument("--data-dir", default="/work/shared/datasets")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--margin", type=float, default=0.01)
    p.add_argument("--out", type=Path, default=Path("results/issue8/tuning.json"))
    args = p.parse_args(argv)
    datasets = [d for d in args.datasets.split(",") if d]
    default = {k: getattr(TrainConfig(), k) for k in GRID}
    cands = _candidates()
    jobs = [(d, args.data_dir, c, s) for d in datasets for c in cands for s in SEEDS]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn")) as pool:
        results = list(pool.map(_validation_score, jobs))
    scores: dict[tuple[str, str], list[tuple[int, float, int]]] = {}
    for d, c, s, v, e in results:
        scores.setdefault((d, c), []).append((s, v, e))
    out = {"grid": GRID, "seeds": SEEDS, "margin": args.margin, "default": default,
           "seconds": time.perf_counter() - t0, "datasets": {}}  # fmt: skip
    for d in datasets:
        rows = []
        for c in cands:
            v = [x[1] for x in scores[(d, json.dumps(c, sort_keys=True))]]
            ep = [x[2] for x in scores[(d, json.dumps(c, sort_keys=True))]]
            rows.append({"train": c, "val_map_mean": float(np.mean(v)),
                         "val_map_sd": float(np.std(v, ddof=1)), "val_map": v,
                         "best_epoch_mean": float(np.mean(ep))})  # fmt: skip
        rows.sort(key=lambda r: -r["val_map_mean"])
        base = next(r for r in rows if r["train"] == default)
        best = rows[0]
        chosen = best if best["val_map_mean"] > base["val_map_mean"] + args.margin else base
        out["datasets"][d] = {"candidates": rows, "default": base, "chosen": chosen["train"]}
        print(f"\n{d}: mean ± sd of the best validation macro mAP over seeds {SEEDS}")
        print(f"{'lr':>7} {'dropout':>7} {'wd':>7} {'batch':>5} {'val mAP':>16} {'epoch':>6}")
        for r in rows:
            t = r["train"]
            tag = " default" if t == default else ""
            tag += " <- chosen" if t == chosen["train"] else ""
            print(f"{t['lr']:>7g} {t['dropout']:>7g} {t['weight_decay']:>7g} "
                  f"{t['batch_size']:>5d} {r['val_map_mean']:>8.4f} ± {r['val_map_sd']:.4f} "
                  f"{r['best_epoch_mean']:>6.1f}{tag}")  # fmt: skip
        changed = {k: v for k, v in chosen["train"].items() if default[k] != v}
        print(f"{d}: chosen {chosen['train']} ({'default' if not changed else changed})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(f"\n{len(jobs)} fits in {out['seconds']:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
