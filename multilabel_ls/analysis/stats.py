"""Statistics over seeds: intervals, paired tests, Holm's adjustment, cell-level tables.

Runs of one seed share the validation carve, the noise draw, the initialisation and the batch
order, so two cells of one grid are compared **paired on the seed**: the per-seed differences
isolate the effect of what differs between the cells (ε, the strategy, the noise).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from multilabel_ls.experiments.evaluate import METRICS

from .tables import CELL, STRATEGY_ORDER, RunTable

#: Baseline of :func:`paired_effects`: the same cell without smoothing (fields that are None in
#: a cell, such as ``epsilon_pos`` of a symmetric strategy, are left alone).
EPSILON_ZERO = {"epsilon": 0.0, "epsilon_pos": 0.0, "epsilon_neg": 0.0}


def mean_ci(values: Sequence[float], *, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval ``(mean, low, high)``.

    ``mean ± t_{(1+c)/2, n-1} · s / √n`` with ``s`` the sample standard deviation (the seeds
    are the sample). With one value the interval is ``(nan, nan)``.

    Examples
    --------
    >>> [round(v, 4) for v in mean_ci([1.0, 2.0, 3.0])]
    [2.0, -0.4841, 4.4841]
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan, math.nan
    m = float(v.mean())
    if v.size < 2:
        return m, math.nan, math.nan
    half = stats.t.ppf((1 + confidence) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return m, float(m - half), float(m + half)


@dataclasses.dataclass(frozen=True)
class Paired:
    """A paired comparison of ``a`` with ``b`` (see :func:`paired_difference`)."""

    n: int
    mean_a: float
    mean_b: float
    diff: float
    low: float
    high: float
    p: float
    wins: int


def paired_difference(
    a: Sequence[float], b: Sequence[float], *, direction: str = "higher", confidence: float = 0.95
) -> Paired:
    """Paired t-test of ``a`` against ``b`` (same seeds, same order).

    Parameters
    ----------
    a, b : sequences of float of equal length
        The metric of two cells on the same seeds.
    direction : {"higher", "lower", "zero"}
        Which way is better; ``wins`` counts the pairs where ``a`` is better (``"zero"``:
        smaller absolute value).
    confidence : float
        Level of the t-interval of the mean difference ``a - b``.

    Returns
    -------
    Paired
        ``diff`` = mean of ``a - b`` with its interval ``(low, high)``; ``p`` the two-sided
        paired t-test (:func:`scipy.stats.ttest_rel`), NaN with fewer than 2 pairs or when
        all differences are equal.

    Examples
    --------
    >>> r = paired_difference([0.52, 0.55, 0.50], [0.50, 0.52, 0.49])
    >>> round(r.diff, 4), r.wins, round(r.p, 3)
    (0.02, 3, 0.074)
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"a and b must be 1-D of equal length, got {x.shape} and {y.shape}")
    if direction not in ("higher", "lower", "zero"):
        raise ValueError(f"direction must be 'higher', 'lower' or 'zero', got {direction!r}")
    d = x - y
    diff, low, high = mean_ci(d, confidence=confidence)
    if direction == "zero":
        wins = int((np.abs(x) < np.abs(y)).sum())
    else:
        wins = int(((1.0 if direction == "higher" else -1.0) * d > 0).sum())
    if d.size < 2 or not np.isfinite(d).all() or np.ptp(d) == 0:
        p = math.nan  # the t statistic is undefined (no spread) or there are too few pairs
    else:
        p = float(stats.ttest_rel(x, y).pvalue)
    mean_a = float(x.mean()) if x.size else math.nan
    mean_b = float(y.mean()) if y.size else math.nan
    return Paired(int(d.size), mean_a, mean_b, diff, low, high, p, wins)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), NaN entries left out and kept.

    Examples
    --------
    >>> holm([0.01, 0.04, float("nan"), 0.03]).round(3).tolist()
    [0.03, 0.06, nan, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    order = idx[np.argsort(p[idx], kind="stable")]
    m = len(order)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        out[j] = running
    return out


def _groups(table: RunTable, by: Sequence[str]) -> dict[tuple, np.ndarray]:
    keys = list(zip(*(table[b].tolist() for b in by), strict=True)) if len(table) else []
    groups: dict[tuple, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    return {k: np.array(v) for k, v in groups.items()}


def _sort_key(by: Sequence[str], key: tuple) -> tuple:
    out = []
    for name, v in zip(by, key, strict=True):
        if name == "strategy":
            out.append((0, STRATEGY_ORDER.get(v, len(STRATEGY_ORDER)), ""))
        elif isinstance(v, (int, float)):
            out.append((0, v, ""))
        else:
            out.append((1, 0, str(v)))
    return tuple(out)


def summarize(
    table: RunTable,
    metrics: Sequence[str],
    *,
    by: Sequence[str] = CELL,
    confidence: float = 0.95,
) -> RunTable:
    """Mean and t-interval over seeds of each metric, one row per group of ``by``.

    Returns
    -------
    RunTable
        The ``by`` columns, ``n`` (runs in the group) and for every metric ``m`` the columns
        ``m`` (mean), ``m_lo`` and ``m_hi`` (interval; NaN with one run). Rows are sorted by
        strategy (registry order) and the numeric fields.
    """
    groups = _groups(table, by)
    cols: dict[str, list[Any]] = {b: [] for b in by}
    cols["n"] = []
    for m in metrics:
        cols.update({m: [], f"{m}_lo": [], f"{m}_hi": []})
    for key in sorted(groups, key=lambda k: _sort_key(by, k)):
        rows = groups[key]
        for b, v in zip(by, key, strict=True):
            cols[b].append(v)
        cols["n"].append(len(rows))
        for m in metrics:
            mean, lo, hi = mean_ci(table[m][rows].astype(np.float64), confidence=confidence)
            cols[m].append(mean)
            cols[f"{m}_lo"].append(lo)
            cols[f"{m}_hi"].append(hi)
    return RunTable(cols)


def _pairs(table: RunTable, baseline: Mapping[str, Any], by: Sequence[str]):
    """``(cell key, base key, {seed: row} of the cell, {seed: row} of the base)`` per cell."""
    unknown = set(baseline) - set(by)
    if unknown:
        raise ValueError(f"baseline fields {sorted(unknown)} are not among by={list(by)}")
    groups = _groups(table, by)
    seeds = table["seed"].tolist()
    for key in sorted(groups, key=lambda k: _sort_key(by, k)):
        base = tuple(
            baseline[b] if b in baseline and v is not None else v
            for b, v in zip(by, key, strict=True)
        )
        if base == key or base not in groups:
            continue
        yield key, base, {seeds[i]: i for i in groups[key]}, {seeds[i]: i for i in groups[base]}


def seed_differences(
    table: RunTable,
    metric: str,
    *,
    baseline: Mapping[str, Any] = EPSILON_ZERO,
    by: Sequence[str] = CELL,
) -> RunTable:
    """Per-seed difference of ``metric`` between each cell and its baseline cell.

    The baseline of a cell is the cell with the fields of ``baseline`` replaced (default: the
    same cell at ε = 0). Cells that are their own baseline, or whose baseline is missing, are
    left out. The result has the ``by`` columns, ``seed`` and ``metric`` (the difference), so
    it can be passed to :func:`paired_effects` again: with ``baseline={"noise": "none"}`` that
    gives the difference in differences (does ε help more under noise than without?).
    """
    cols: dict[str, list[Any]] = {b: [] for b in (*by, "seed", metric)}
    vals = table[metric].astype(np.float64)
    for key, _, mine, base in _pairs(table, baseline, by):
        for s in sorted(set(mine) & set(base)):
            for b, v in zip(by, key, strict=True):
                cols[b].append(v)
            cols["seed"].append(s)
            cols[metric].append(float(vals[mine[s]] - vals[base[s]]))
    return RunTable(cols)


def paired_effects(
    table: RunTable,
    metric: str,
    *,
    baseline: Mapping[str, Any] = EPSILON_ZERO,
    by: Sequence[str] = CELL,
    direction: str | None = None,
    confidence: float = 0.95,
) -> RunTable:
    """Each cell against its baseline cell on the shared seeds (paired t-test, Holm-adjusted).

    Parameters
    ----------
    table : RunTable
        Runs (:func:`load_runs`) or per-seed differences (:func:`seed_differences`).
    metric : str
        The column compared.
    baseline : mapping
        Fields replaced to find a cell's baseline (see :func:`seed_differences`).
    by : sequence of str
        Fields that define a cell.
    direction : {"higher", "lower", "zero"}, optional
        Default: the metric's direction in :data:`~multilabel_ls.experiments.METRICS`
        (``"higher"`` for an unknown name).
    confidence : float
        Level of the interval of the mean difference.

    Returns
    -------
    RunTable
        The ``by`` columns and ``n`` (shared seeds), ``mean`` (the cell), ``base`` (its
        baseline), ``diff`` (mean of cell − baseline) with ``lo``/``hi``, ``p`` (paired t-test),
        ``p_holm`` (Holm-adjusted over all rows of this table) and ``wins`` (seeds on which
        the cell is better).
    """
    direction = direction or METRICS.get(metric, "higher")
    vals = table[metric].astype(np.float64)
    cols: dict[str, list[Any]] = {b: [] for b in by}
    for c in ("n", "mean", "base", "diff", "lo", "hi", "p", "wins"):
        cols[c] = []
    for key, _, mine, base in _pairs(table, baseline, by):
        shared = sorted(set(mine) & set(base))
        a = [vals[mine[s]] for s in shared]
        b = [vals[base[s]] for s in shared]
        r = paired_difference(a, b, direction=direction, confidence=confidence)
        for name, v in zip(by, key, strict=True):
            cols[name].append(v)
        for c, v in (("n", r.n), ("mean", r.mean_a), ("base", r.mean_b), ("diff", r.diff),
                     ("lo", r.low), ("hi", r.high), ("p", r.p), ("wins", r.wins)):  # fmt: skip
            cols[c].append(v)
    cols["p_holm"] = holm(cols["p"]).tolist()
    return RunTable(cols)


def series(
    table: RunTable,
    value: str,
    *,
    line: str = "strategy",
    x: str = "epsilon",
    low: str | None = None,
    high: str | None = None,
) -> dict[Any, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{line value: (x, y, half-width)}`` for :func:`multilabel_ls.plots.plot_metric_vs_epsilon`.

    ``half-width`` is ``(high - low) / 2`` (the t-intervals here are symmetric), zeros without
    ``low``/``high``.
    """
    out = {}
    for name in table.unique(line):
        t = table.filter(**{line: name})
        order = np.argsort(t[x].astype(np.float64), kind="stable")
        y = t[value].astype(np.float64)[order]
        err = (
            (t[high].astype(np.float64) - t[low].astype(np.float64))[order] / 2
            if low and high
            else np.zeros_like(y)
        )
        out[name] = (t[x].astype(np.float64)[order], y, err)
    return out


def tuned_effects(
    table: RunTable,
    metric: str,
    *,
    over: str = "epsilon",
    score: str = "val_map",
    baseline: Any = 0.0,
    by: Sequence[str] = CELL,
    confidence: float = 0.95,
) -> RunTable:
    """Tune ``over`` per seed on a validation score, then compare with ``over = baseline``.

    For every group of ``by`` without ``over`` and every seed, the run with the highest
    ``score`` (default: the best validation macro mAP, the early-stopping criterion, so the
    test split plays no part in the choice) is compared with the run of the same seed at
    ``over == baseline`` (default ε = 0), paired on the seed. Groups without a baseline run
    are left out.

    Returns
    -------
    RunTable
        The ``by`` columns except ``over``, ``chosen`` (the chosen value of ``over`` per seed,
        as text), and the columns of :func:`paired_effects`.
    """
    direction = METRICS.get(metric, "higher")
    rest = [b for b in by if b != over]
    vals, sc = table[metric].astype(np.float64), table[score].astype(np.float64)
    seeds, overs = table["seed"].tolist(), table[over].tolist()
    cols: dict[str, list[Any]] = {b: [] for b in rest}
    for c in ("chosen", "n", "mean", "base", "diff", "lo", "hi", "p", "wins"):
        cols[c] = []
    for key, rows in sorted(_groups(table, rest).items(), key=lambda kv: _sort_key(rest, kv[0])):
        base = {seeds[i]: i for i in rows if overs[i] == baseline}
        best: dict[Any, int] = {}
        for i in rows:
            if seeds[i] not in best or sc[i] > sc[best[seeds[i]]]:
                best[seeds[i]] = i
        shared = sorted(set(best) & set(base))
        if not shared:
            continue
        r = paired_difference([vals[best[s]] for s in shared], [vals[base[s]] for s in shared],
                              direction=direction, confidence=confidence)  # fmt: skip
        for b, v in zip(rest, key, strict=True):
            cols[b].append(v)
        cols["chosen"].append(", ".join(f"{overs[best[s]]:g}" for s in shared))
        for c, v in (("n", r.n), ("mean", r.mean_a), ("base", r.mean_b), ("diff", r.diff),
                     ("lo", r.low), ("hi", r.high), ("p", r.p), ("wins", r.wins)):  # fmt: skip
            cols[c].append(v)
    cols["p_holm"] = holm(cols["p"]).tolist()
    return RunTable(cols)
