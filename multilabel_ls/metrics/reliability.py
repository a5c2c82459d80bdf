"""Reliability diagrams: the per-bin data, and the two-panel figure used in papers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._inputs import Probabilities, check_n_bins, check_option, prepare
from .calibration import NORMS, bin_stats, ce_from_stats


@dataclass(frozen=True)
class ReliabilityDiagram:
    """Per-bin statistics of one binary problem (a label, or all entries pooled).

    Attributes
    ----------
    edges : ndarray of shape (n_bins + 1,)
        Bin edges, from 0 to 1 (see :func:`calibration_error` for which bin an edge is in).
    count : ndarray of shape (n_bins,)
        Number of entries in each bin.
    confidence : ndarray of shape (n_bins,)
        Mean predicted probability in each bin (NaN for an empty bin).
    frequency : ndarray of shape (n_bins,)
        Fraction of positives in each bin, the "accuracy" of a multi-label reliability
        diagram (NaN for an empty bin).
    right_closed : bool
        Whether the bins are ``(a, b]`` (else ``[a, b)``).
    """

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    frequency: np.ndarray
    right_closed: bool = False

    @classmethod
    def from_sums(cls, edges, count, sum_p, sum_y, right_closed=False) -> ReliabilityDiagram:
        count = np.asarray(count, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            conf = np.where(count > 0, sum_p / count, np.nan)
            freq = np.where(count > 0, sum_y / count, np.nan)
        return cls(np.asarray(edges, np.float64), count.astype(np.int64), conf, freq, right_closed)

    @property
    def gap(self) -> np.ndarray:
        """Signed gap ``confidence - frequency`` per bin: > 0 over-confident, < 0 under-."""
        return self.confidence - self.frequency

    def calibration_error(self, norm: str = "l1") -> float:
        """ECE (``"l1"``), RMSCE (``"l2"``) or MCE (``"max"``) of these bins."""
        check_option(norm, "norm", NORMS)
        c = self.count.astype(np.float64)[None]
        sp = np.nan_to_num(self.confidence * self.count)[None]
        sy = np.nan_to_num(self.frequency * self.count)[None]
        return float(ce_from_stats(c, sp, sy, norm, False)[0])

    def plot(self, axes=None, *, title=None, log_counts=None):
        """Draw the diagram; returns the matplotlib ``Figure``.

        Top panel: the fraction of positives per bin as bars over the bin, the signed gap to the
        mean confidence as hatched red bars (from the frequency up to the confidence: bars
        going up are over-confidence, down under-confidence), the diagonal of perfect
        calibration and the ECE. Bottom panel: the number of entries per bin, on a log scale
        when counts span more than two decades (pooled multi-label entries pile up near 0).

        Parameters
        ----------
        axes : pair of matplotlib Axes, optional
            ``(reliability_axes, count_axes)``; a new figure is made if omitted.
        title : str, optional
        log_counts : bool, optional
            Force the count axis to a log (True) or linear (False) scale.
        """
        import matplotlib.pyplot as plt

        if axes is None:
            fig, axes = plt.subplots(
                2, 1, sharex=True, figsize=(4.5, 5.5), gridspec_kw={"height_ratios": [3, 1]}
            )
        ax, axc = axes
        fig = ax.figure
        left, width = self.edges[:-1], np.diff(self.edges)
        full = self.count > 0
        ax.plot([0, 1], [0, 1], ls="--", color="0.4", lw=1, label="Perfect calibration")
        ax.bar(left[full], self.frequency[full], width=width[full], align="edge",
               color="tab:blue", edgecolor="black", lw=0.5, label="Fraction of positives")  # fmt: skip
        ax.bar(left[full], self.gap[full], bottom=self.frequency[full], width=width[full],
               align="edge", color="tab:red", alpha=0.35, hatch="//", edgecolor="tab:red",
               lw=0.5, label="Gap to mean confidence")  # fmt: skip
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_ylabel("Fraction of positives")
        ece = self.calibration_error("l1")
        ax.text(0.97, 0.04, f"ECE = {100 * ece:.2f}%", ha="right", va="bottom",
                transform=ax.transAxes)  # fmt: skip
        ax.legend(loc="upper left", fontsize="small", frameon=False)
        if title:
            ax.set_title(title)
        axc.bar(left, self.count, width=width, align="edge", color="0.5", edgecolor="black", lw=0.5)
        positive = self.count[full]
        if log_counts is None:
            log_counts = positive.size > 0 and positive.max() > 100 * positive.min()
        if log_counts:
            axc.set_yscale("log")
        axc.set_ylabel("Count")
        axc.set_xlabel("Predicted probability")
        return fig


def reliability_diagram(
    y_true,
    y_score,
    *,
    input_format,
    n_bins=15,
    binning="uniform",
    right_closed=False,
    label=None,
    ignore_mask=None,
) -> ReliabilityDiagram:
    """Data of a reliability diagram: per-bin count, mean confidence and fraction of positives.

    Bins follow :func:`calibration_error` (same edges and edge convention), so
    ``reliability_diagram(...).calibration_error()`` equals the pooled (``label=None``) or
    that label's calibration error. With ``right_closed=True`` the non-empty bins reproduce
    scikit-learn's ``calibration_curve(y, p, n_bins=n_bins)`` (``prob_pred`` = confidence,
    ``prob_true`` = frequency), which drops empty bins.

    Parameters
    ----------
    y_true, y_score, input_format, n_bins, binning, right_closed, ignore_mask
        As in :func:`calibration_error`.
    label : int, optional
        Column of a 2-D input to diagram; ``None`` pools all (sample, label) entries.

    Returns
    -------
    ReliabilityDiagram
        Call ``.plot()`` for the figure.

    References
    ----------
    .. [1] M. H. DeGroot, S. E. Fienberg, "The Comparison and Evaluation of Forecasters",
       The Statistician 32, 1983.
    .. [2] C. Guo et al., "On Calibration of Modern Neural Networks", ICML 2017.

    Examples
    --------
    >>> d = reliability_diagram([0, 1, 1, 0], [0.1, 0.35, 0.8, 0.9], input_format="probs",
    ...                         n_bins=2)
    >>> d.count, d.confidence, d.frequency
    (array([2, 2]), array([0.225, 0.85 ]), array([0.5, 0.5]))
    >>> round(d.calibration_error(), 4)
    0.3125
    """
    check_option(binning, "binning", ("uniform", "quantile"))
    n_bins = check_n_bins(n_bins)
    data = prepare(y_true, y_score, ignore_mask)
    if label is not None:
        n_labels = data.shape[1]
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise TypeError(f"label must be an int column index or None; got {label!r}")
        if not -n_labels <= label < n_labels:
            raise ValueError(f"label must be in [-{n_labels}, {n_labels}); got {label}")
        k = int(label) % n_labels
        data = prepare(
            data.y_true[:, k], data.y_score[:, k],
            None if data.valid is None else ~data.valid[:, k],
        )  # fmt: skip
    st = bin_stats(
        Probabilities(data, input_format),
        data,
        n_bins=n_bins,
        binning=binning,
        right_closed=bool(right_closed),
        pooled=True,
    )
    return ReliabilityDiagram.from_sums(
        st.edges[0], st.count[0], st.sum_p[0], st.sum_y[0], bool(right_closed)
    )


def plot_reliability_diagram(y_true, y_score, *, input_format, axes=None, title=None, **kwargs):
    """Reliability diagram figure: ``reliability_diagram(...).plot(axes, title=title)``.

    Keyword arguments are those of :func:`reliability_diagram`. Returns the matplotlib
    ``Figure`` (reliability panel with gap bars above, counts below; see
    :meth:`ReliabilityDiagram.plot`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p = rng.random((500, 4))
    >>> y = rng.random((500, 4)) < p**2  # over-confident scores
    >>> fig = plot_reliability_diagram(y, p, input_format="probs", n_bins=10, title="pooled")
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['Fraction of positives', 'Count']
    """
    diagram = reliability_diagram(y_true, y_score, input_format=input_format, **kwargs)
    return diagram.plot(axes, title=title)
