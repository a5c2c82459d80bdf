"""``python -m multilabel_ls``: compare every strategy's targets, loss and gradient on one batch.

Prints, for a fixed random batch (B rows, N labels, about n positives per row), each strategy's
target of a positive and of a negative in the first row, the row's target sum, the batch loss
and the gradient at a positive and at a negative logit.
"""

from __future__ import annotations

import argparse
import math

import torch

from . import STRATEGIES, get_strategy, multilabel_smoothing_loss, smooth_targets

_SEEDS = (-(2**63), 2**64 - 1)  # what torch.Generator.manual_seed accepts


def _asymmetric(eps: float) -> tuple[float, float]:
    """``(epsilon_pos, epsilon_neg)`` shown for the asymmetric strategies at ``epsilon = eps``.

    ``epsilon_neg = eps / 10``, capped at ``1 - eps`` so that ``epsilon_pos + epsilon_neg <= 1``
    holds for every ``eps`` in ``[0, 1]`` (above ``eps = 10/11``).
    """
    return eps, min(eps / 10, 1.0 - eps)


def _kwargs(strategy: str, eps: float, prior: torch.Tensor) -> dict:
    if strategy.startswith("asymmetric"):
        ep, en = _asymmetric(eps)
        return {"epsilon_pos": ep, "epsilon_neg": en}
    kw = {"epsilon": eps}
    if strategy == "prior":
        kw["prior"] = prior
    elif strategy == "prior_softmax":
        kw["prior"] = prior / prior.sum()
    return kw


def _problems(batch: int, labels: int, positives: int, epsilon: float, seed: int) -> list:
    """``(argument, message)`` for every argument of :func:`compare` that cannot be shown."""
    out = []
    if batch < 1:
        out.append(("batch", f"must be at least 1, got {batch}"))
    if labels < 2:
        out.append(("labels", f"must be at least 2 (a positive and a negative), got {labels}"))
    if positives < 1:
        out.append(("positives", f"must be at least 1 (row 0 needs a positive), got {positives}"))
    elif positives >= labels >= 2:
        out.append(
            (
                "positives",
                f"must be below labels={labels} (row 0 needs a negative), got {positives}",
            )
        )
    if not (math.isfinite(epsilon) and 0.0 <= epsilon <= 1.0):
        out.append(("epsilon", f"must be a finite number in [0, 1], got {epsilon!r}"))
    if not _SEEDS[0] <= seed <= _SEEDS[1]:
        out.append(("seed", f"must lie in [-2**63, 2**64 - 1], got {seed}"))
    return out


def compare(
    batch: int = 8, labels: int = 6, positives: int = 2, epsilon: float = 0.1, seed: int = 0
):
    """Rows of (strategy, family, t_pos, t_neg, row sum, loss, grad_pos, grad_neg).

    ``batch``, ``labels``, ``positives`` and ``seed`` are ints with ``batch >= 1`` and
    ``1 <= positives < labels`` (the rows show a positive and a negative of row 0); ``epsilon``
    is a float in ``[0, 1]`` (the asymmetric strategies get ``epsilon_pos = epsilon`` and
    ``epsilon_neg = min(epsilon / 10, 1 - epsilon)``). Anything else raises ``ValueError``.
    """
    problems = _problems(batch, labels, positives, epsilon, seed)
    if problems:
        raise ValueError("; ".join(f"{arg} {msg}" for arg, msg in problems))
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
    ap.add_argument("--batch", type=int, default=8, help="rows B (>= 1)")
    ap.add_argument("--labels", type=int, default=6, help="labels N (>= 2)")
    ap.add_argument("--positives", type=int, default=2, help="positives per row (1 .. N-1)")
    ap.add_argument("--epsilon", type=float, default=0.1, help="smoothing, in [0, 1]")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    problems = _problems(a.batch, a.labels, a.positives, a.epsilon, a.seed)
    if problems:  # argparse's own form: usage, then "argument --x: ...", exit status 2
        ap.error("; ".join(f"argument --{arg}: {msg}" for arg, msg in problems))
    ep, en = _asymmetric(a.epsilon)
    print(
        f"B={a.batch} rows, N={a.labels} labels, n={a.positives} positives per row, "
        f"epsilon={a.epsilon} (asymmetric: epsilon_pos={ep}, epsilon_neg={en})"
    )
    head = ("strategy", "family", "t(pos)", "t(neg)", "row sum", "loss", "dL/dx(pos)", "dL/dx(neg)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in compare(a.batch, a.labels, a.positives, a.epsilon, a.seed):
        print(f"| {r[0]} | {r[1]} | " + " | ".join(f"{v:.4f}" for v in r[2:]) + " |")


if __name__ == "__main__":
    main()
