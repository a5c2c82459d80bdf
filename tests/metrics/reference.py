"""Slow textbook implementations: loops over thresholds, pairs and bins, written from the definitions.

They share no code with ``multilabel_ls.metrics`` and use plain Python arithmetic, so they are
independent references for the fast kernels (and for the conventions the library documents).
"""

from __future__ import annotations

import math

import numpy as np


def ap_textbook(y, s) -> float:
    """Step-wise AP: sum over distinct thresholds t (descending) of (R(t) - R(t_prev)) * P(t)."""
    y = [bool(v) for v in np.asarray(y).ravel()]
    s = [float(v) for v in np.asarray(s).ravel()]
    n_pos = sum(y)
    if n_pos == 0:
        return float("nan")
    ap, prev_recall = 0.0, 0.0
    for t in sorted(set(s), reverse=True):
        tp = sum(1 for yi, si in zip(y, s, strict=True) if si >= t and yi)
        fp = sum(1 for yi, si in zip(y, s, strict=True) if si >= t and not yi)
        recall = tp / n_pos
        ap += (recall - prev_recall) * (tp / (tp + fp))
        prev_recall = recall
    return ap


def lrap_textbook(Y, S) -> float:
    out = []
    for y, s in zip(np.asarray(Y), np.asarray(S), strict=True):
        pos = [j for j in range(len(y)) if y[j]]
        if len(pos) in (0, len(y)):
            out.append(1.0)
            continue
        terms = []
        for j in pos:
            rank = sum(1 for k in range(len(y)) if s[k] >= s[j])
            rank_pos = sum(1 for k in pos if s[k] >= s[j])
            terms.append(rank_pos / rank)
        out.append(sum(terms) / len(terms))
    return sum(out) / len(out)


def ranking_loss_textbook(Y, S) -> float:
    out = []
    for y, s in zip(np.asarray(Y), np.asarray(S), strict=True):
        pos = [j for j in range(len(y)) if y[j]]
        neg = [k for k in range(len(y)) if not y[k]]
        if not pos or not neg:
            out.append(0.0)
            continue
        bad = sum(1 for j in pos for k in neg if s[j] <= s[k])
        out.append(bad / (len(pos) * len(neg)))
    return sum(out) / len(out)


def coverage_textbook(Y, S) -> float:
    out = []
    for y, s in zip(np.asarray(Y), np.asarray(S), strict=True):
        pos = [s[j] for j in range(len(y)) if y[j]]
        out.append(0 if not pos else sum(1 for v in s if v >= min(pos)))
    return sum(out) / len(out)


def one_error_textbook(Y, S, ties="pessimistic") -> float:
    out = []
    for y, s in zip(np.asarray(Y), np.asarray(S), strict=True):
        top = [k for k in range(len(y)) if s[k] == max(s)]
        wrong = [k for k in top if not y[k]]
        out.append(float(bool(wrong)) if ties == "pessimistic" else len(wrong) / len(top))
    return sum(out) / len(out)


def edges_textbook(n_bins: int, dtype=np.float64) -> list[float]:
    """Edges i / M rounded to ``dtype`` (the library's documented convention)."""
    return [float(dtype(i / n_bins)) for i in range(n_bins + 1)]


def bin_of(p: float, edges: list[float], right_closed: bool) -> int:
    """Index of the bin holding p: [a, b) with the last closed, or (a, b] with the first closed."""
    m = len(edges) - 1
    for i in range(m):
        lo, hi = edges[i], edges[i + 1]
        if right_closed:
            if (lo < p <= hi) or (i == 0 and p == lo):
                return i
        elif (lo <= p < hi) or (i == m - 1 and p == hi):
            return i
    raise AssertionError(f"{p} is in no bin")


def ece_textbook(y, p, n_bins=10, norm="l1", right_closed=False, debias=False, edges=None):
    """Binned calibration error of one binary problem, loop over bins (Kumar et al. for debias)."""
    dtype = np.asarray(p).dtype.type
    y = [int(v) for v in np.asarray(y).ravel()]
    p = [float(v) for v in np.asarray(p).ravel()]
    edges = edges if edges is not None else edges_textbook(n_bins, dtype)
    bins: list[list[tuple[float, int]]] = [[] for _ in range(len(edges) - 1)]
    for pi, yi in zip(p, y, strict=True):
        bins[bin_of(pi, edges, right_closed)].append((pi, yi))
    n = len(p)
    total, worst = 0.0, 0.0
    for b in bins:
        if not b:
            continue
        conf = sum(v[0] for v in b) / len(b)
        acc = sum(v[1] for v in b) / len(b)
        gap = abs(acc - conf)
        worst = max(worst, gap)
        if norm == "l1":
            total += len(b) / n * gap
        elif debias:
            if len(b) >= 2:
                total += len(b) / n * (gap**2 - acc * (1 - acc) / (len(b) - 1))
        else:
            total += len(b) / n * gap**2
    if norm == "max":
        return worst
    return total if norm == "l1" else math.sqrt(max(total, 0.0))


def multiclass_reading_ece_textbook(Y, P, n_bins=10) -> float:
    """What a multiclass library computes on (N, L) multi-hot input: a top-label ECE.

    The labels are read as one-hot (the class is ``argmax_k y_ik``: the first positive, or
    label 0 when there is none), the confidence is ``max_k p_ik`` and a sample is correct when
    ``argmax_k p_ik`` is that class.
    """
    P, Y = np.asarray(P, float), np.asarray(Y)
    correct = P.argmax(1) == Y.argmax(1)
    return ece_textbook(correct, P.max(1), n_bins)


def brier_textbook(Y, P) -> float:
    vals = [(float(p) - float(y)) ** 2 for y, p in zip(np.ravel(Y), np.ravel(P), strict=True)]
    return sum(vals) / len(vals)


def log_loss_textbook(Y, P) -> float:
    eps = float(np.finfo(float).eps)
    vals = []
    for y, p in zip(np.ravel(Y), np.ravel(P), strict=True):
        q = min(max(float(p), eps), 1 - eps)
        vals.append(-math.log(q) if y else -math.log(1 - q))
    return sum(vals) / len(vals)
