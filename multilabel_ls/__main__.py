"""``python -m multilabel_ls``: compare every strategy's targets, loss and gradient on one batch.

Prints, for a fixed random batch (B rows, N labels, about n positives per row), each strategy's
target of a positive and of a negative in the first row, the row's target sum, the batch loss
and the gradient at a positive and at a negative logit.
"""

from __future__ import annotations

import argparse

import torch

from . import STRATEGIES, get_strategy, multilabel_smoothing_loss, smooth_targets


def _kwargs(strategy: str, eps: float, prior: torch.Tensor) -> dict:
    if strategy.startswith("asymmetric"):
        return {"epsilon_pos": eps, "epsilon_neg": eps / 10}
    kw = {"epsilon": eps}
    if strategy == "prior":
        kw["prior"] = prior
    elif strategy == "prior_softmax":
        kw["prior"] = prior / prior.sum()
    return kw


def compare(
    batch: int = 8, labels: int = 6, positives: int = 2, epsilon: float = 0.1, seed: int = 0
):
    """Rows of (strategy, family, t_pos, t_neg, row sum, loss, grad_pos, grad_neg)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, labels, generator=g, dtype=torch.float64)
    y = torch.zeros(batch, labels, dtype=torch.int64)
    for i in range(batch):
        y[i, torch.randperm(labels, generator=g)[:positives]] = 1
    prior = y.double().mean(0).clamp(min=0.05)  # label base rates of this batch
    pos = int(y[0].nonzero()[0])
    neg = int((1 - y[0]).nonzero()[0])
    rows = []
    for s in STRATEGIES:
        kw = _kwargs(s, epsilon, prior)
        t = smooth_targets(y, strategy=s, dtype=torch.float64, **kw)
        xi = x.clone().requires_grad_()
        loss = multilabel_smoothing_loss(xi, y, strategy=s, **kw)
        (grad,) = torch.autograd.grad(loss, xi)
        rows.append(
            (s, get_strategy(s).family, t[0, pos].item(), t[0, neg].item(), t[0].sum().item(),
             loss.item(), grad[0, pos].item(), grad[0, neg].item())
        )  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m multilabel_ls", description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--labels", type=int, default=6)
    ap.add_argument("--positives", type=int, default=2)
    ap.add_argument("--epsilon", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    print(
        f"B={a.batch} rows, N={a.labels} labels, n={a.positives} positives per row, "
        f"epsilon={a.epsilon} (asymmetric: epsilon_pos={a.epsilon}, epsilon_neg={a.epsilon / 10})"
    )
    head = ("strategy", "family", "t(pos)", "t(neg)", "row sum", "loss", "dL/dx(pos)", "dL/dx(neg)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in compare(a.batch, a.labels, a.positives, a.epsilon, a.seed):
        print(f"| {r[0]} | {r[1]} | " + " | ".join(f"{v:.4f}" for v in r[2:]) + " |")


if __name__ == "__main__":
    main()
