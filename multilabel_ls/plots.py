"""Figures of the experiments: metric against ε, and grids of reliability diagrams.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state, no GUI
backend needed), so they can be made in worker processes and on headless machines. Each
reliability panel is drawn by :meth:`multilabel_ls.metrics.ReliabilityDiagram.plot`, the
metrics package's own figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

#: Line style per loss family, so sigmoid and softmax strategies are told apart at a glance.
FAMILY_STYLE = {"sigmoid": "-", "softmax": "--"}


def plot_metric_vs_epsilon(
    series: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float]]],
    *,
    metric: str,
    families: Mapping[str, str] | None = None,
    title: str | None = None,
    ylabel: str | None = None,
    reference: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    hline: float | None = None,
) -> Figure:
    """One line per strategy: the mean of ``metric`` against ε, with ± sd error bars.

    Parameters
    ----------
    series : mapping of strategy -> (epsilons, means, sds)
        Values to plot (NaN sds draw no bar).
    metric : str
        Metric name (default y-axis label).
    families : mapping of strategy -> {"sigmoid", "softmax"}, optional
        Softmax strategies are drawn dashed.
    title, ylabel : str, optional
    reference : mapping of strategy -> (epsilons, values), optional
        A predicted curve per strategy (e.g. a derivation's value), drawn dotted without
        markers in the colour of that strategy's measured line.
    hline : float, optional
        Draw a thin horizontal line at this value (e.g. 0 for a signed error).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for name, (eps, mean, sd) in series.items():
        order = np.argsort(eps)
        e, m, s = (np.asarray(v, dtype=float)[order] for v in (eps, mean, sd))
        style = FAMILY_STYLE.get((families or {}).get(name, "sigmoid"), "-")
        bars = ax.errorbar(e, m, yerr=np.nan_to_num(s), ls=style, marker="o", ms=3, capsize=2,
                           label=name)  # fmt: skip
        if reference and name in reference:
            re_, rv = (np.asarray(v, dtype=float) for v in reference[name])
            o = np.argsort(re_)
            ax.plot(re_[o], rv[o], ls=":", lw=1.5, color=bars.lines[0].get_color())
    if hline is not None:
        ax.axhline(hline, color="0.5", lw=0.8, zorder=0)
    ax.set_xlabel("ε")
    ax.set_ylabel(ylabel or metric)
    if title:
        ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncols=2)
    return fig


def plot_reliability_grid(
    diagrams: Mapping[tuple[str, str], object],
    *,
    titles: Mapping[tuple[str, str], str] | None = None,
    title: str | None = None,
) -> Figure:
    """A grid of reliability diagrams: one row per strategy, one column per ε label.

    Parameters
    ----------
    diagrams : mapping of (row label, column label) -> ReliabilityDiagram
        From :func:`multilabel_ls.metrics.reliability_diagram`; missing cells stay blank.
    titles : mapping of (row label, column label) -> str, optional
        Panel titles (default ``"<row>\\n<column>"``).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = list(dict.fromkeys(r for r, _ in diagrams))
    cols = list(dict.fromkeys(c for _, c in diagrams))
    fig = Figure(figsize=(3.3 * len(cols), 3.6 * len(rows)), layout="constrained")
    outer = fig.add_gridspec(len(rows), len(cols))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            d = diagrams.get((r, c))
            inner = outer[i, j].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.05)
            ax = fig.add_subplot(inner[0])
            axc = fig.add_subplot(inner[1], sharex=ax)
            if d is None:
                ax.set_axis_off()
                axc.set_axis_off()
                continue
            d.plot((ax, axc), title=(titles or {}).get((r, c), f"{r}\n{c}"))
            ax.title.set_fontsize("small")
            ax.tick_params(labelbottom=False)
            if ax.get_legend() is not None and (i, j) != (0, 0):
                ax.get_legend().remove()
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig
