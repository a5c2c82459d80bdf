"""Issue 8 diagnostic: rare-label calibration-in-the-large on fit, validation and test rows.

D8.2 predicts the mean smoothed *target* of a label of base rate π (binary: π + ε(½ − π)). A
model at the smoothed optimum matches it on the distribution it was fitted to; this script
shows how far the trained networks are from that on the rows they were fitted on and on unseen
rows. For each strategy and ε it retrains the runs of ``mlls run`` (same preparation, model,
seeds and early stopping; the settings of ``benchmarks/run_issue8.sh``) and prints, averaged
over the rare labels (training base rate < 5 %) and the seeds:

* ``target``: mean smoothed training target − fit-row base rate (D8.2's bias, exactly),
* ``fit`` / ``val`` / ``test``: mean predicted probability (eval mode) − observed rate,
* ``fit, dropout``: the same on the fit rows in training mode (dropout on, 20 draws), where
  the loss is stationary.

    nice -n 10 python benchmarks/issue8_citl_split.py medical --tuned

This is a script, not a test.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from multilabel_ls import smooth_targets
from multilabel_ls.experiments.config import ExperimentConfig
from multilabel_ls.experiments.models import build_model
from multilabel_ls.experiments.prepare import prepare_data
from multilabel_ls.experiments.training import fit, loss_kwargs, predict

TUNED = {"lr": 3e-3, "weight_decay": 1e-4, "batch_size": 32}  # medical, enron (issue8_tune.py)


def _citl(p: np.ndarray, y: np.ndarray, rare: np.ndarray) -> float:
    return float(np.mean(p[:, rare].mean(axis=0) - y[:, rare].mean(axis=0)))


def one_run(dataset: str, data_dir: str, strategy: str, eps: float, seed: int, train: dict):
    """``[target, fit, val, test, fit with dropout, best epoch]`` of one run."""
    cfg = ExperimentConfig(datasets=[dataset], data_dir=data_dir, strategies=[strategy],
                           epsilons=[eps], seeds=[seed], train=train)  # fmt: skip
    (spec,) = cfg.expand()
    d = prepare_data(spec)
    rare = np.asarray(d.info["rare"]["labels"])
    torch.manual_seed(seed)
    model = build_model(spec.train, d.X_fit.shape[1], d.Y_fit.shape[1], d.image_shape)
    kw = loss_kwargs(spec, d.Y_fit)
    hist = fit(model, d, kw, spec.train, seed)
    tkw = {k: v for k, v in kw.items() if k not in ("empty_rows", "full_rows")}
    target = smooth_targets(torch.from_numpy(d.Y_fit), **tkw).numpy()
    row = [_citl(target, d.Y_fit, rare)]
    for X, Y in ((d.X_fit, d.Y_fit), (d.X_val, d.Y_val), (d.X_test, d.Y_test)):
        row.append(_citl(torch.sigmoid(predict(model, torch.from_numpy(X))).numpy(), Y, rare))
    model.train()
    with torch.no_grad():
        X = torch.from_numpy(d.X_fit)
        p = np.mean([torch.sigmoid(model(X)).numpy() for _ in range(20)], axis=0)
    return [*row, _citl(p, d.Y_fit, rare), hist["best_epoch"]]


def main(argv: list[str] | None = None) -> int:
    """Print the table for one data set."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("dataset")
    ap.add_argument("--data-dir", default="/work/shared/datasets")
    ap.add_argument("--tuned", action="store_true", help="lr 3e-3, weight decay 1e-4, batch 32")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epsilons", default="0,0.1")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    train = TUNED if args.tuned else {}
    seeds = [int(s) for s in args.seeds.split(",")]
    print("rare-label CITL (mean p − rate), mean over rare labels and seeds " + str(seeds))
    print(f"{'strategy':<15} {'ε':>4} {'target':>8} {'fit':>8} {'val':>8} {'test':>8} "
          f"{'fit,drop':>8} {'epoch':>5}")  # fmt: skip
    for strategy in ("binary", "binary_uniform", "prior"):
        for eps in (float(e) for e in args.epsilons.split(",")):
            rows = [one_run(args.dataset, args.data_dir, strategy, eps, s, train) for s in seeds]
            r = np.mean(rows, axis=0)
            print(f"{strategy:<15} {eps:>4g} " + " ".join(f"{v:>+8.4f}" for v in r[:5])
                  + f" {r[5]:>5.0f}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
