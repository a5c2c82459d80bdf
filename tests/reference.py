"""Slow textbook float64 implementations, written straight from the formulation table.

Nothing here calls the package: loops over rows and labels, targets from the issue's table,
losses from their definitions (``-[t log σ(x) + (1-t) log(1-σ(x))]`` and
``-Σ t log softmax(x)``). Used as the independent reference for the package's fast paths.
"""

from __future__ import annotations

import torch

SIGMOID = ("binary", "binary_uniform", "mass_preserving", "asymmetric", "prior")
SOFTMAX = ("uniform", "positive_split", "unnormalized", "asymmetric_softmax", "prior_softmax")


def row_targets(y, known, strategy, eps=0.0, eps_pos=0.0, eps_neg=0.0, prior=None):
    """Targets of one row (lists of floats); unknown labels get 0. Returns None if undefined."""
    K = [j for j in range(len(y)) if known[j]]
    N = len(K)
    n = sum(y[j] for j in K)
    t = [0.0] * len(y)
    for j in K:
        yj = y[j]
        if strategy == "binary":
            v = yj * (1 - eps / 2) + (1 - yj) * (eps / 2)
        elif strategy in ("binary_uniform", "unnormalized"):
            v = yj * (1 - eps + eps / N) + (1 - yj) * (eps / N)
        elif strategy == "mass_preserving":
            v = yj * (1 - eps + eps * n / N) + (1 - yj) * (eps * n / N)
        elif strategy in ("asymmetric", "asymmetric_softmax"):
            v = yj * (1 - eps_pos) + (1 - yj) * eps_neg
        elif strategy == "prior":
            v = (1 - eps) * yj + eps * prior[j]
        elif strategy == "uniform":
            if n == 0:
                return None
            v = (1 - eps) * yj / n + eps / N
        elif strategy == "positive_split":
            if n == 0 or n == N:
                return None
            v = (1 - eps) * yj / n + eps * (1 - yj) / (N - n)
        elif strategy == "prior_softmax":
            if n == 0:
                return None
            v = (1 - eps) * yj / n + eps * prior[j] / sum(prior[k] for k in K)
        else:
            raise KeyError(strategy)
        t[j] = v
    return t


def textbook_loss(
    x,
    y,
    strategy,
    *,
    eps=0.0,
    eps_pos=0.0,
    eps_neg=0.0,
    prior=None,
    known=None,
    weight=None,
    pos_weight=None,
    reduction="mean",
):
    """Loss of 2-D float64 logits ``x`` (B, N) against 2-D targets ``y`` (lists or tensors).

    Differentiable in ``x`` (plain autograd ops on scalars). Rows whose target is undefined
    raise ValueError. Returns a scalar tensor or a list per element/row for reduction="none".
    """
    B, N = x.shape
    y = [[float(v) for v in row] for row in torch.as_tensor(y).tolist()]
    known = [[True] * N for _ in range(B)] if known is None else torch.as_tensor(known).tolist()
    w = [1.0] * N if weight is None else [float(v) for v in weight]
    pw = [1.0] * N if pos_weight is None else [float(v) for v in pos_weight]
    pri = None if prior is None else [float(v) for v in prior]
    terms, count = [], 0
    for i in range(B):
        t = row_targets(y[i], known[i], strategy, eps, eps_pos, eps_neg, pri)
        if t is None:
            raise ValueError("undefined row")
        K = [j for j in range(N) if known[i][j]]
        if strategy in SIGMOID:
            row = []
            for j in range(N):
                if not known[i][j]:
                    row.append(torch.zeros((), dtype=x.dtype))
                    continue
                s = torch.sigmoid(x[i, j])
                val = -w[j] * (pw[j] * t[j] * torch.log(s) + (1 - t[j]) * torch.log(1 - s))
                row.append(val)
                count += 1
            terms.append(row)
        else:
            if not K:
                terms.append(torch.zeros((), dtype=x.dtype))
                continue
            z = torch.log(sum(torch.exp(x[i, k]) for k in K))
            terms.append(sum(-w[j] * t[j] * (x[i, j] - z) for j in K))
            count += 1
    if reduction == "none":
        return terms
    flat = [v for row in terms for v in row] if strategy in SIGMOID else terms
    total = sum(flat, torch.zeros((), dtype=x.dtype))
    if reduction == "sum":
        return total
    return total / max(count, 1)
