"""Figures of the notebooks: curves with confidence intervals, effect heat maps.

Built on :class:`matplotlib.figure.Figure` directly (no pyplot state), like
:mod:`multilabel_ls.plots`; a notebook displays a returned figure inline. Reliability diagrams
come from :func:`multilabel_ls.plots.plot_reliability_grid`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from multilabel_ls.strategies import STRATEGIES, get_strategy

from .tables import RunTable

#: Line style per loss family (softmax dashed), as in :mod:`multilabel_ls.plots`.
_STYLE = {"sigmoid": "-", "softmax": "--"}


def _style(line: str, value: object) -> str:
    if line == "strategy" and value in STRATEGIES:
        return _STYLE[get_strategy(str(value)).family]
    return "-"


def plot_curves(
    table: RunTable,
    value: str | Sequence[str],
    *,
    x: str = "epsilon",
    line: str = "strategy",
    panel: str | None = None,
    labels: Mapping[str, str] | None = None,
    hline: float | None = None,
    title: str | None = None,
    ncols: int = 3,
    panel_size: tuple[float, float] = (4.2, 3.0),
    sharey: bool = False,
) -> Figure:
    """Small multiples of ``value`` against ``x``, one line per ``line``, with interval bars.

    Parameters
    ----------
    table : RunTable
        A :func:`~multilabel_ls.analysis.summarize` or
        :func:`~multilabel_ls.analysis.paired_effects` table. Bars span ``<value>_lo`` to
        ``<value>_hi`` (or ``lo``/``hi`` for ``value="diff"``) where those columns exist.
    value : str or sequence of str
        The column(s) plotted; several values give one panel each.
    x, line : str
        Columns on the x-axis and of the lines (strategies: softmax dashed). Each line keeps
        its colour in every panel; the legend sits below the panels.
    panel : str, optional
        With a single ``value``: one panel per value of this column.
    labels : mapping, optional
        Display names of columns (axis labels).
    hline : float, optional
        A reference line (e.g. 0 for differences).
    title : str, optional
    ncols : int
        Panels per row.
    panel_size : (float, float)
        Inches per panel.
    sharey : bool
        One y-axis for all panels (differences on a common scale).

    Returns
    -------
    matplotlib.figure.Figure
    """
    values = [value] if isinstance(value, str) else list(value)
    if panel is not None and len(values) != 1:
        raise ValueError("panel= needs a single value column")
    panels = [(v, None) for v in values] if panel is None else [
        (values[0], p) for p in table.unique(panel)
    ]  # fmt: skip
    ncols = max(1, min(ncols, len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(panel_size[0] * ncols, panel_size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=sharey).ravel()
    names = labels or {}
    lines = table.unique(line)
    colour = {name: f"C{i % 10}" for i, name in enumerate(lines)}  # one colour per line everywhere
    handles = {}
    for k, (ax, (v, p)) in enumerate(zip(axes, panels, strict=False)):
        t = table if p is None else table.filter(**{panel: p})
        lo, hi = (f"{v}_lo", f"{v}_hi") if f"{v}_lo" in t else ("lo", "hi")
        for name in t.unique(line):
            s = t.filter(**{line: name})
            order = np.argsort(s[x].astype(np.float64), kind="stable")
            xs, ys = s[x].astype(np.float64)[order], s[v].astype(np.float64)[order]
            err = None
            if lo in s and hi in s:
                err = np.nan_to_num(
                    (s[hi].astype(np.float64) - s[lo].astype(np.float64))[order] / 2
                )
            handles[name] = ax.errorbar(xs, ys, yerr=err, ls=_style(line, name), marker="o", ms=3,
                                        capsize=2, color=colour[name], label=str(name))  # fmt: skip
        if hline is not None:
            ax.axhline(hline, color="0.4", lw=0.8, zorder=0)
        ax.set_xlabel(names.get(x, x))
        if not sharey or k % ncols == 0:
            ax.set_ylabel(names.get(v, v))
        if p is not None:
            ax.set_title(f"{p}", fontsize="medium")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    if len(lines) > 1:
        fig.legend([handles[n] for n in lines if n in handles], [str(n) for n in lines if n in handles],
                   loc="outside lower center", ncols=min(len(lines), 6), fontsize="small")  # fmt: skip
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def plot_effect_heatmap(
    effects: RunTable,
    *,
    rows: Sequence[str] = ("strategy", "epsilon"),
    col: str = "noise",
    direction: str = "higher",
    alpha: float = 0.05,
    scale: float = 100.0,
    title: str | None = None,
) -> Figure:
    """Heat map of paired effects: cell colour = difference, text = difference and significance.

    Parameters
    ----------
    effects : RunTable
        From :func:`~multilabel_ls.analysis.paired_effects` (columns ``diff``, ``p``,
        ``p_holm``).
    rows : sequence of str
        Columns whose value combinations form the rows.
    col : str
        Column whose values form the columns.
    direction : {"higher", "lower"}
        Which sign of ``diff`` is an improvement: improvements are blue, deteriorations red.
    alpha : float
        Level for the markers: ``**`` Holm-adjusted p < alpha, ``*`` unadjusted p < alpha.
    scale : float
        Differences are printed times ``scale`` (default: in hundredths, i.e. points of a
        metric in [0, 1]).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    keys = list(dict.fromkeys(zip(*(effects[r].tolist() for r in rows), strict=True)))
    cols = list(dict.fromkeys(effects[col].tolist()))
    grid = np.full((len(keys), len(cols)), np.nan)
    text = [["" for _ in cols] for _ in keys]
    rk = {k: i for i, k in enumerate(keys)}
    ck = {c: j for j, c in enumerate(cols)}
    for r in effects.rows():
        i, j = rk[tuple(r[x] for x in rows)], ck[r[col]]
        grid[i, j] = r["diff"]
        mark = "**" if r["p_holm"] < alpha else "*" if r["p"] < alpha else ""
        text[i][j] = f"{scale * r['diff']:+.2f}{mark}"
    sign = 1.0 if direction == "higher" else -1.0
    lim = np.nanmax(np.abs(grid)) if np.isfinite(grid).any() else 1.0
    fig = Figure(figsize=(1.0 + 1.05 * len(cols), 0.8 + 0.26 * len(keys)), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(sign * grid, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(len(keys)):
        for j in range(len(cols)):
            ax.text(j, i, text[i][j], ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(cols)), [str(c) for c in cols], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(keys)), [" ".join(f"{v:g}" if isinstance(v, float) else str(v)
                                              for v in k) for k in keys], fontsize=8)  # fmt: skip
    cb = fig.colorbar(im, ax=ax, shrink=0.6)
    cb.set_ticks([])
    cb.set_label("red: worse · blue: better", fontsize="small")
    ax.set_title(
        (title + "\n" if title else "")
        + f"difference ×{scale:g}; ** Holm p < {alpha}, * p < {alpha}",
        fontsize="small",
    )
    return fig
