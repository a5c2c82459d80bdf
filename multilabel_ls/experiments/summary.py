"""Aggregate stored runs: mean ± sd over seeds and a paired test against ε = 0.

A *cell* is one (dataset, setting, noise, strategy, ε) combination; its runs differ only in the
seed. Every cell is compared with the ε = 0 cell of the same dataset, setting, noise and
strategy (``(ε₊, ε₋) = (0, 0)`` for the asymmetric strategies) on the seeds both have: the
same seed means the same validation carve, noise draw, initialisation and batch order, so the
per-seed differences isolate the effect of ε.

Test: the two-sided **paired t-test** on those per-seed differences
(:func:`scipy.stats.ttest_rel`). With few seeds (5 → 4 degrees of freedom) it has little
power and leans on the differences being roughly normal; its p-values are not corrected for
the many comparisons of a grid. The sign count (on how many seeds ε beat ε = 0) is reported
next to it; note that an exact sign or Wilcoxon signed-rank test cannot go below p = 0.0625
with 5 pairs, which is why it is not the headline test.

Strategies are compared with each other the same way (:func:`strategy_pairs`, then
:func:`compare` with the second strategy's cell as the base): two strategies at the same data
set, setting, noise and ε share every seed-driven choice, so the per-seed differences isolate
the effect of the strategy.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy import stats

from multilabel_ls.strategies import STRATEGIES

from .evaluate import METRICS


@dataclasses.dataclass
class Cell:
    """One grid cell aggregated over seeds.

    Attributes
    ----------
    dataset, setting, noise, strategy, family : str
    epsilon : float
        ε (0 for the asymmetric strategies, whose smoothing is ``epsilon_pos/neg``).
    epsilon_pos, epsilon_neg : float or None
    seeds : list of int
    values : dict of metric -> list of float (in ``seeds`` order)
    keys : list of str
        Store keys of the runs, in ``seeds`` order.
    """

    dataset: str
    setting: str
    noise: str
    strategy: str
    family: str
    epsilon: float
    epsilon_pos: float | None
    epsilon_neg: float | None
    seeds: list[int]
    values: dict[str, list[float]]
    keys: list[str]

    @property
    def eps_label(self) -> str:
        """``"0.1"``, or ``"ε₊=0.1, ε₋=0.01"`` for the asymmetric strategies."""
        if self.epsilon_pos is not None:
            return f"ε₊={self.epsilon_pos:g}, ε₋={self.epsilon_neg:g}"
        return f"{self.epsilon:g}"

    @property
    def eps_text(self) -> str:
        """``"ε = 0.1"``, or ``"ε₊=0.1, ε₋=0.01"`` for the asymmetric strategies."""
        return self.eps_label if self.epsilon_pos is not None else f"ε = {self.eps_label}"

    @property
    def is_baseline(self) -> bool:
        """True for the ε = 0 cell (``(0, 0)`` for the asymmetric strategies)."""
        return self.epsilon == 0 and not self.epsilon_pos and not self.epsilon_neg

    def mean(self, metric: str) -> float:
        """Mean over seeds."""
        return float(np.mean(self.values[metric]))

    def sd(self, metric: str) -> float:
        """Sample standard deviation over seeds (``ddof=1``; NaN with one seed)."""
        v = self.values[metric]
        return float(np.std(v, ddof=1)) if len(v) > 1 else math.nan

    def group(self) -> tuple[str, str, str]:
        """``(dataset, setting, noise)``: the cells that share one results table."""
        return self.dataset, self.setting, self.noise


@dataclasses.dataclass
class Comparison:
    """A cell against a base cell (its ε = 0 baseline, or another strategy) on the shared seeds.

    ``diff`` is the mean of (cell − base); ``wins`` counts the seeds where the cell is
    better in the metric's direction (for a signed error, direction ``"zero"``: smaller in
    absolute value); ``p`` is the paired t-test p-value (NaN when undefined: fewer than 2
    shared seeds, or all differences equal).
    """

    n: int
    diff: float
    p: float
    wins: int


def cells_from_runs(runs: Iterable[dict[str, Any]]) -> list[Cell]:
    """Group store rows (:meth:`~.store.ResultStore.runs`) into cells, seeds sorted."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        k = (r["dataset"], r["setting"], r["noise"], r["strategy"], r["family"], r["epsilon"],
             r["epsilon_pos"], r["epsilon_neg"])  # fmt: skip
        groups[k].append(r)
    cells = []
    for k, rs in groups.items():
        rs = sorted(rs, key=lambda r: r["seed"])
        values = {m: [float(r["metrics"].get(m, math.nan)) for r in rs] for m in METRICS}
        cells.append(Cell(*k, [r["seed"] for r in rs], values, [r["key"] for r in rs]))
    order = {name: i for i, name in enumerate(STRATEGIES)}  # table order of the registry
    cells.sort(key=lambda c: (c.group(), order.get(c.strategy, len(order)), c.epsilon,
                              c.epsilon_pos or 0, c.epsilon_neg or 0))  # fmt: skip
    return cells


def baseline_of(cell: Cell, cells: list[Cell]) -> Cell | None:
    """The ε = 0 cell of the same dataset, setting, noise and strategy (None if absent)."""
    for c in cells:
        if c.is_baseline and c.group() == cell.group() and c.strategy == cell.strategy:
            return c
    return None


def strategy_pairs(cells: list[Cell], a: str, b: str) -> list[tuple[Cell, Cell]]:
    """``(cell of a, cell of b)`` for every group and ε at which both strategies have a cell.

    Parameters
    ----------
    cells : list of Cell
        From :func:`cells_from_runs`.
    a, b : str
        Strategy names; ``a`` is compared against ``b`` (``diff = a − b``).

    Returns
    -------
    list of (Cell, Cell)
        In the order of ``a``'s cells; cells match on data set, setting, noise, ε, ε₊ and ε₋.
    """

    def key(c: Cell) -> tuple:
        return c.group(), c.epsilon, c.epsilon_pos, c.epsilon_neg

    of_b = {key(c): c for c in cells if c.strategy == b}
    return [(c, of_b[key(c)]) for c in cells if c.strategy == a and key(c) in of_b]


def compare(cell: Cell, base: Cell, metric: str) -> Comparison:
    """Paired comparison of ``cell`` with ``base`` on their shared seeds (see module docstring)."""
    shared = sorted(set(cell.seeds) & set(base.seeds))
    a = np.array([cell.values[metric][cell.seeds.index(s)] for s in shared])
    b = np.array([base.values[metric][base.seeds.index(s)] for s in shared])
    d = a - b
    direction = METRICS.get(metric, "higher")
    if direction == "zero":
        wins = int((np.abs(a) < np.abs(b)).sum())
    else:
        wins = int(((1.0 if direction == "higher" else -1.0) * d > 0).sum())
    if len(d) < 2 or not np.isfinite(d).all() or np.ptp(d) == 0:
        p = math.nan  # the t statistic is undefined (no spread) or there are too few pairs
    else:
        p = float(stats.ttest_rel(a, b).pvalue)
    return Comparison(len(d), float(d.mean()) if len(d) else math.nan, p, wins)
