"""Stored runs as a column table: :class:`RunTable`, :func:`load_runs`, :func:`store_path`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from multilabel_ls.experiments.evaluate import METRICS
from multilabel_ls.experiments.store import ResultStore
from multilabel_ls.strategies import STRATEGIES

#: The fields that name a grid cell (its runs differ only in the seed).
CELL = ("dataset", "setting", "noise", "strategy", "epsilon", "epsilon_pos", "epsilon_neg")
STRATEGY_ORDER = {s: i for i, s in enumerate(STRATEGIES)}


def _column(values: Sequence[Any]) -> np.ndarray:
    values = list(values)
    if any(v is None for v in values):
        return np.array(values, dtype=object)
    return np.asarray(values)


def _fmt(v: Any, digits: int) -> str:
    if isinstance(v, (float, np.floating)):
        return "—" if math.isnan(v) else f"{v:.{digits}f}"
    return "—" if v is None else str(v)


def _is_bound(name: str, columns: Mapping[str, Any]) -> bool:
    """True for ``m_lo`` / ``m_hi`` when ``m`` is a column too."""
    for suffix in ("_lo", "_hi"):
        if name.endswith(suffix) and name[: -len(suffix)] in columns:
            return True
    return False


class RunTable:
    """A column table: equal-length 1-D arrays by name.

    Parameters
    ----------
    columns : mapping of str to sequence
        The columns (converted with :func:`numpy.asarray`; a column holding None becomes an
        object array, so None compares equal to None).

    Raises
    ------
    ValueError
        If the columns have different lengths.

    Examples
    --------
    >>> t = RunTable({"strategy": ["binary", "uniform", "binary"], "map": [0.5, 0.4, 0.6]})
    >>> len(t.filter(strategy="binary")), t.unique("strategy")
    (2, ['binary', 'uniform'])
    >>> print(t.filter(map=[0.4, 0.6]).to_markdown(digits=2))
    | strategy | map |
    |---|---|
    | uniform | 0.40 |
    | binary | 0.60 |
    """

    def __init__(self, columns: Mapping[str, Sequence[Any]]):
        self.columns = {str(k): _column(v) for k, v in columns.items()}
        lengths = {len(v) for v in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns have different lengths: {sorted(lengths)}")
        self._n = lengths.pop() if lengths else 0

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    @property
    def names(self) -> list[str]:
        """Column names, in order."""
        return list(self.columns)

    def take(self, index: np.ndarray) -> RunTable:
        """Rows at ``index`` (integer positions or a boolean mask)."""
        return RunTable({k: v[index] for k, v in self.columns.items()})

    def filter(self, **equal: Any) -> RunTable:
        """Rows whose column equals the value (a list, tuple or set: is one of the values)."""
        mask = np.ones(len(self), dtype=bool)
        for name, want in equal.items():
            if name not in self.columns:
                raise KeyError(f"no column {name!r}; columns: {', '.join(self.columns)}")
            col = self.columns[name]
            if isinstance(want, (list, tuple, set, frozenset)):
                mask &= np.array([v in want for v in col], dtype=bool)
            else:
                mask &= np.array([v == want for v in col], dtype=bool)
        return self.take(mask)

    def unique(self, name: str) -> list[Any]:
        """Distinct values of a column: strategies in registry order, numbers sorted."""
        vals = list(dict.fromkeys(self.columns[name].tolist()))
        if name == "strategy":
            return sorted(vals, key=lambda s: STRATEGY_ORDER.get(s, len(STRATEGY_ORDER)))
        if all(isinstance(v, (int, float)) for v in vals):
            return sorted(vals)
        return vals

    def rows(self) -> list[dict[str, Any]]:
        """The table as a list of dicts (Python scalars)."""
        cols = {k: v.tolist() for k, v in self.columns.items()}
        return [{k: cols[k][i] for k in cols} for i in range(len(self))]

    def _cells(self, columns, digits: int, intervals: bool) -> tuple[list[str], list[list[str]]]:
        """Column names and formatted cells; ``m`` with ``m_lo``/``m_hi`` as ``mean [lo, hi]``."""
        if columns is None:
            columns = [c for c in self.columns if not _is_bound(c, self.columns)]
        columns = list(columns)
        rows = self.rows()
        out = []
        for r in rows:
            cells = []
            for c in columns:
                lo, hi = f"{c}_lo", f"{c}_hi"
                if intervals and lo in r and hi in r and not math.isnan(r[lo]):
                    cells.append(
                        f"{_fmt(r[c], digits)} [{_fmt(r[lo], digits)}, {_fmt(r[hi], digits)}]"
                    )
                else:
                    cells.append(_fmt(r[c], digits))
            out.append(cells)
        return columns, out

    def to_markdown(
        self,
        columns: Sequence[str] | None = None,
        *,
        digits: int = 4,
        intervals: bool = True,
        labels: Mapping[str, str] | None = None,
    ) -> str:
        """A GitHub Markdown table.

        Parameters
        ----------
        columns : sequence of str, optional
            Columns to show (default: all but the interval bounds ``*_lo``/``*_hi``).
        digits : int
            Decimals of floats (NaN and None show as "—").
        intervals : bool
            Show a column ``m`` that has ``m_lo`` and ``m_hi`` as ``mean [lo, hi]``.
        labels : mapping, optional
            Header text per column name.
        """
        columns, rows = self._cells(columns, digits, intervals)
        head = [(labels or {}).get(c, c) for c in columns]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)

    def to_html(
        self,
        columns: Sequence[str] | None = None,
        *,
        digits: int = 4,
        intervals: bool = True,
        labels: Mapping[str, str] | None = None,
    ) -> str:
        """An HTML table (what notebooks display); arguments as :meth:`to_markdown`."""
        columns, rows = self._cells(columns, digits, intervals)
        head = "".join(f"<th>{escape((labels or {}).get(c, c))}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return f"RunTable({len(self)} rows: {', '.join(self.columns)})"


def load_runs(store: str | Path | ResultStore) -> RunTable:
    """Every stored run as one row: grid coordinates, ``cardinality`` and the metrics.

    Parameters
    ----------
    store : path or ResultStore
        A result store (opened read-only when given as a path).

    Returns
    -------
    RunTable
        Columns ``key``, the fields of :data:`CELL`, ``family``, ``seed``, ``cardinality``
        (label cardinality of the rows the run was fitted on), ``val_map`` (the best
        validation macro mAP, the early-stopping criterion), ``best_epoch``, and one column
        per metric of :data:`multilabel_ls.experiments.METRICS` (NaN where a run lacks it).
    """
    with open_store(store) as st:
        runs = list(st.runs(with_record=True))
    extra = ("cardinality", "val_map", "best_epoch")
    cols: dict[str, list[Any]] = {k: [] for k in ("key", *CELL, "family", "seed", *extra)}
    cols.update({m: [] for m in METRICS})
    for r in runs:
        for k in ("key", *CELL, "family", "seed"):
            cols[k].append(r[k])
        history = r["record"].get("history", {})
        cols["cardinality"].append(float(r["record"]["data"]["train_cardinality"]))
        cols["val_map"].append(float(history.get("best_val_map", math.nan)))
        cols["best_epoch"].append(int(history.get("best_epoch", 0)))
        for m in METRICS:
            cols[m].append(float(r["metrics"].get(m, math.nan)))
    return RunTable(cols)


class open_store:
    """Context manager: a store given as a path is opened read-only and closed after."""

    def __init__(self, store: str | Path | ResultStore):
        self.given = store if isinstance(store, ResultStore) else None
        self.path = None if self.given is not None else store

    def __enter__(self) -> ResultStore:
        if self.given is not None:
            return self.given
        self.opened = ResultStore(self.path, readonly=True)
        return self.opened

    def __exit__(self, *exc: object) -> None:
        if self.given is None:
            self.opened.close()
