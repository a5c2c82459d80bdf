"""Reliability diagrams: the data agree with the calibration errors; the figure has its parts."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from multilabel_ls.metrics import (
    ReliabilityDiagram,
    calibration_error,
    plot_reliability_diagram,
    reliability_diagram,
)


def data(seed=0, n=400, l=3):
    rng = np.random.default_rng(seed)
    p = rng.random((n, l)) ** 3  # most mass near 0, as pooled multi-label outputs
    return rng.random((n, l)) < np.sqrt(p), p


@pytest.mark.parametrize("right_closed", [False, True])
def test_data_agree_with_calibration_error(right_closed):
    y, p = data()
    pooled = reliability_diagram(y, p, input_format="probs", right_closed=right_closed)
    for norm in ("l1", "l2", "max"):
        ref = calibration_error(y, p, input_format="probs", norm=norm, average="pooled",
                                right_closed=right_closed)  # fmt: skip
        assert pooled.calibration_error(norm) == pytest.approx(ref, abs=1e-12)
    per = calibration_error(y, p, input_format="probs", average=None, right_closed=right_closed)
    for k in range(3):
        d = reliability_diagram(y, p, input_format="probs", label=k, right_closed=right_closed)
        assert d.calibration_error() == pytest.approx(per[k], abs=1e-12)
        assert d.count.sum() == len(y)
    assert pooled.count.sum() == y.size
    np.testing.assert_allclose(pooled.edges, np.arange(16) / 15)


def test_empty_bins_and_gap_sign():
    d = reliability_diagram([1, 0, 1, 1], [0.1, 0.15, 0.85, 0.95], input_format="probs", n_bins=4)
    np.testing.assert_array_equal(d.count, [2, 0, 0, 2])
    assert np.isnan(d.confidence[1]) and np.isnan(d.frequency[2])
    assert d.gap[0] == pytest.approx(0.125 - 0.5)  # under-confident: negative gap
    assert d.gap[3] == pytest.approx(0.9 - 1.0)


def test_figure_has_reliability_and_count_panels():
    y, p = data(n=3000)
    p **= 7  # pile the entries up near 0, as pooled multi-label outputs do
    fig = plot_reliability_diagram(y, p, input_format="probs", n_bins=10, title="pooled")
    top, bottom = fig.axes
    d = reliability_diagram(y, p, input_format="probs", n_bins=10)
    full = int((d.count > 0).sum())
    assert len(top.patches) == 2 * full  # fraction-of-positives bars and gap bars
    heights = sorted(round(b.get_height(), 12) for b in top.patches[:full])
    assert heights == sorted(round(v, 12) for v in d.frequency[d.count > 0])
    assert top.get_ylabel() == "Fraction of positives" and top.get_title() == "pooled"
    assert any("ECE" in t.get_text() for t in top.texts)
    assert [line.get_xydata().tolist() for line in top.lines] == [[[0, 0], [1, 1]]]
    assert d.count[d.count > 0].max() > 100 * d.count[d.count > 0].min()
    assert len(bottom.patches) == 10 and bottom.get_yscale() == "log"  # counts span decades
    assert bottom.get_xlabel() == "Predicted probability"
    plt.close(fig)


def test_plot_on_given_axes_and_linear_counts():
    fig, axes = plt.subplots(2, 1)
    d = reliability_diagram([0, 1, 1, 0], [0.2, 0.4, 0.6, 0.8], input_format="probs", n_bins=4)
    assert d.plot(axes, log_counts=False) is fig
    assert axes[1].get_yscale() == "linear"
    plt.close(fig)


def test_label_argument_checks_and_logits():
    y, p = data()
    with pytest.raises(ValueError, match="label must be in"):
        reliability_diagram(y, p, input_format="probs", label=3)
    with pytest.raises(TypeError, match="label must be an int"):
        reliability_diagram(y, p, input_format="probs", label="a")
    z = np.log(p) - np.log1p(-p)
    a = reliability_diagram(y, z, input_format="logits", label=-1)
    b = reliability_diagram(y, p, input_format="probs", label=2)
    np.testing.assert_array_equal(a.count, b.count)
    assert isinstance(a, ReliabilityDiagram)
