"""The report: cell statistics, the paired test against ε = 0, tables, CSV and figures."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import stats

from multilabel_ls.experiments.evaluate import METRICS
from multilabel_ls.experiments.report import write_report
from multilabel_ls.experiments.runner import run_grid
from multilabel_ls.experiments.store import ResultStore
from multilabel_ls.experiments.summary import baseline_of, cells_from_runs, compare

from .conftest import tiny_config


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "results.sqlite"
    cfg = tiny_config(strategies=("binary", "uniform", "asymmetric"), seeds=(0, 1, 2),
                      asymmetric_epsilons=[[0, 0], [0.1, 0.01]])  # fmt: skip
    assert run_grid(cfg, path, workers=1, progress=False).ok
    return path


def test_cells_and_paired_test_match_scipy(store):
    with ResultStore(store, readonly=True) as st:
        runs = list(st.runs())
    cells = cells_from_runs(runs)
    assert [(c.strategy, c.eps_label) for c in cells] == [
        ("binary", "0"), ("binary", "0.2"), ("asymmetric", "ε₊=0, ε₋=0"),
        ("asymmetric", "ε₊=0.1, ε₋=0.01"), ("uniform", "0"), ("uniform", "0.2")]  # fmt: skip
    cell = cells[5]
    base = baseline_of(cell, cells)
    assert base is cells[4] and cell.seeds == base.seeds == [0, 1, 2]
    by = {(r["strategy"], r["epsilon"], r["seed"]): r["metrics"] for r in runs}
    a = [by[("uniform", 0.2, s)]["map_macro"] for s in range(3)]
    b = [by[("uniform", 0.0, s)]["map_macro"] for s in range(3)]
    assert cell.mean("map_macro") == pytest.approx(np.mean(a))
    assert cell.sd("map_macro") == pytest.approx(np.std(a, ddof=1))
    cmp = compare(cell, base, "map_macro")
    assert cmp.p == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert cmp.diff == pytest.approx(np.mean(np.subtract(a, b)))
    assert cmp.wins == sum(x > y for x, y in zip(a, b, strict=True))
    # lower is better for ECE: a win is a smaller value
    e = compare(cell, base, "ece_classwise")
    ea = cell.values["ece_classwise"]
    eb = base.values["ece_classwise"]
    assert e.wins == sum(x < y for x, y in zip(ea, eb, strict=True))
    assert np.isnan(compare(base, base, "map_macro").p)  # no spread: undefined, not 1 or 0


def test_report_contents(store, tmp_path):
    path = write_report(store, tmp_path)
    text = path.read_text()
    assert text.startswith("# experiment: multi-label label smoothing results")
    assert "18 finished runs" in text
    for row in ("| binary | sigmoid | 0 | 3 |", "| binary | sigmoid | 0.2 | 3 |",
                "| uniform | softmax | 0.2 | 3 |", "| asymmetric | sigmoid | ε₊=0.1, ε₋=0.01 | 3 |"):  # fmt: skip
        assert row in text
    assert "paired t-test" in text and "4 degrees of freedom" in text
    assert "clip(c̄·softmax(x), 0, 1)" in text
    uniform_row = next(
        line for line in text.splitlines() if line.startswith("| uniform | softmax | 0.2")
    )
    assert uniform_row.count("†") == 1 and "(p=" in uniform_row and "/3)" in uniform_row
    binary_row = next(
        line for line in text.splitlines() if line.startswith("| binary | sigmoid | 0.2")
    )
    assert "†" not in binary_row
    assert "| uniform | softmax | skip | keep |" in text  # row policies recorded
    figs = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert len(figs) == 4 and any("reliability" in f for f in figs)
    for f in figs:
        assert f"](figures/{f})" in text
        assert (tmp_path / "figures" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (tmp_path / "summary.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 * len(METRICS)
    assert {
        r["p_paired_t"] for r in rows if r["epsilon"] == "0.0" and r["strategy"] == "binary"
    } == {""}


def test_report_errors(store, tmp_path):
    with pytest.raises(ValueError, match="headline metric 'auc'"):
        write_report(store, tmp_path, headline=("auc",))
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "none.sqlite", tmp_path)
    ResultStore(tmp_path / "empty.sqlite").close()
    with pytest.raises(ValueError, match="holds no finished run"):
        write_report(tmp_path / "empty.sqlite", tmp_path)
