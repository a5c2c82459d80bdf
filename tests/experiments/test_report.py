"""The report: cell statistics, paired tests (against ε = 0, between strategies), rare labels."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import stats

from multilabel_ls.experiments.evaluate import METRICS
from multilabel_ls.experiments.report import predicted_citl_shift, write_report
from multilabel_ls.experiments.runner import run_grid
from multilabel_ls.experiments.store import ResultStore
from multilabel_ls.experiments.summary import (
    baseline_of,
    cells_from_runs,
    compare,
    strategy_pairs,
)

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
    assert len(figs) == 5 and any("reliability" in f for f in figs)
    assert any(f.endswith("_citl_rare_vs_eps.png") for f in figs)  # yeast has 1 rare label
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


# --------------------------------------------------------------------------- strategy pairs

SYN_STRATEGIES = ("prior", "binary", "binary_uniform")
SYN_RARE = {"threshold": 0.05, "source": "synthetic", "n": 2, "labels": [3, 7],
            "names": ["l3", "l7"], "train_rates": [0.01, 0.03], "n_with_test_positives": 2}  # fmt: skip


def _syn_result(strategy, eps, seed, metrics):
    spec = {"dataset": "syn", "strategy": strategy, "epsilon": eps, "epsilon_pos": None,
            "epsilon_neg": None, "noise": "none", "seed": seed, "train": {"lr": 1e-3},
            "eval": {"n_bins": 15, "threshold": 0.5}}  # fmt: skip
    data = {"n_fit": 8, "n_val": 2, "n_test": 4, "n_labels": 10, "train_cardinality": 1.5,
            "n_empty_fit_rows": 0, "noise": {"realised_drop_rate": None,
            "realised_add_rate": None}, "rare": SYN_RARE}  # fmt: skip
    return {"key": f"{strategy}-{eps}-{seed}", "spec": spec, "family": "sigmoid",
            "metrics": metrics, "loss": {"strategy": strategy, "empty_rows": "keep",
            "full_rows": "keep"}, "data": data, "seconds": 1.0, "test_logits": None,
            "test_labels": np.eye(4, 10, dtype=np.uint8)}  # fmt: skip


@pytest.fixture(scope="module")
def syn_store(tmp_path_factory):
    """A synthetic store: random metrics; binary lacks seed 4 at ε = 0.1 (4 shared seeds)."""
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("syn") / "results.sqlite"
    raw = {}
    with ResultStore(path) as st:
        for strategy in SYN_STRATEGIES:
            for eps in (0.0, 0.1):
                for seed in range(5):
                    if (strategy, eps, seed) == ("binary", 0.1, 4):
                        continue
                    m = {k: float(rng.normal(0.3, 0.05)) for k in METRICS}
                    m["citl_rare"] = float(rng.normal(0.0, 0.05))  # signed, either side of 0
                    raw[(strategy, eps, seed)] = m
                    st.put(_syn_result(strategy, eps, seed, m))
    return path, raw


def test_strategy_comparison_matches_scipy_on_shared_seeds(syn_store, tmp_path):
    path, raw = syn_store
    with ResultStore(path, readonly=True) as st:
        cells = cells_from_runs(st.runs())
    pairs = strategy_pairs(cells, "prior", "binary")
    assert [(a.strategy, b.strategy, a.epsilon) for a, b in pairs] == [
        ("prior", "binary", 0.0), ("prior", "binary", 0.1)]  # fmt: skip
    write_report(path, tmp_path, reliability=False,
                 compare_pairs=[("prior", "binary"), ("prior", "binary_uniform")])  # fmt: skip
    with (tmp_path / "comparisons.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 2 * len(METRICS)  # 2 pairs × 2 ε × every metric
    for r in rows:
        a, b, eps, m = r["strategy_a"], r["strategy_b"], float(r["epsilon"]), r["metric"]
        seeds = [s for s in range(5) if (a, eps, s) in raw and (b, eps, s) in raw]
        assert int(r["n"]) == len(seeds) == (4 if (b, eps) == ("binary", 0.1) else 5)
        va = np.array([raw[(a, eps, s)][m] for s in seeds])
        vb = np.array([raw[(b, eps, s)][m] for s in seeds])
        assert float(r["diff_a_minus_b"]) == pytest.approx(np.mean(va - vb), rel=1e-12)
        assert float(r["p_paired_t"]) == pytest.approx(stats.ttest_rel(va, vb).pvalue, rel=1e-9)
        if m == "citl_rare":  # signed error: A wins when it is closer to 0
            wins = int((np.abs(va) < np.abs(vb)).sum())
        elif METRICS[m] == "higher":
            wins = int((va > vb).sum())
        else:
            wins = int((va < vb).sum())
        assert int(r["wins_a"]) == wins
        assert float(r["mean_a"]) == pytest.approx(np.mean([raw[(a, eps, s)][m] for s in range(5)
                                                            if (a, eps, s) in raw]))  # fmt: skip
    text = (tmp_path / "report.md").read_text()
    assert "## Paired comparisons between strategies" in text
    assert "### prior vs binary" in text and "### prior vs binary_uniform" in text
    line = next(
        x for x in text.splitlines() if x.startswith("| syn | none |") and "| 0.1 | 4 |" in x
    )
    va = [raw[("prior", 0.1, s)]["map_macro"] for s in range(4)]
    vb = [raw[("binary", 0.1, s)]["map_macro"] for s in range(4)]
    p = stats.ttest_rel(va, vb).pvalue
    assert f"{np.mean(np.subtract(va, vb)):+.4f} (p={p:.3f}, " in line
    assert "**Strategy comparisons.**" in text


def test_rare_section_with_the_d8_2_prediction(syn_store, tmp_path):
    path, _ = syn_store
    text = write_report(path, tmp_path, reliability=False).read_text()
    assert "comparisons" not in [p.stem for p in tmp_path.iterdir()]
    assert "### Rare labels of syn: training base rate < 0.05" in text
    assert (
        "| syn | none | 8 / 2 / 4 | 10 | 1.500 | 0.0 | — / — | 2 (2 with a test positive) |" in text
    )
    rows = {tuple(x.split(" | ")[:2]): x for x in text.splitlines() if x.count("|") == 11}
    # D8.2 at mean rare rate π = 0.02, ε = 0.1, N = 10: binary ε(½ − π), binary_uniform ε(1/N − π)
    assert rows[("| binary", "0.1")].endswith("| +0.0480 |")
    assert rows[("| binary_uniform", "0.1")].endswith("| +0.0080 |")
    assert rows[("| prior", "0.1")].endswith("| +0.0000 |")
    assert rows[("| prior", "0")].endswith("| — | — |")
    with ResultStore(path, readonly=True) as st:
        cells = cells_from_runs(st.runs())
    cell = next(c for c in cells if c.strategy == "binary" and c.epsilon == 0.1)
    rec = {"data": {"rare": SYN_RARE, "n_labels": 10, "train_cardinality": 1.5}}
    assert predicted_citl_shift(cell, rec) == pytest.approx(0.1 * (0.5 - 0.02))
    assert predicted_citl_shift(cell, {"data": {}}) is None
    assert any(p.name.endswith("_citl_rare_vs_eps.png") for p in (tmp_path / "figures").iterdir())


def test_compare_pairs_errors_and_missing_pairs(syn_store, tmp_path):
    path, _ = syn_store
    for bad, msg in (([("prior", "binray")], "unknown strategy 'binray'"),
                     ([("prior", "prior")], "against itself"),
                     (["prior:binary"], "expected \\(strategy_a, strategy_b\\) pairs")):  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            write_report(path, tmp_path, reliability=False, compare_pairs=bad)
    text = write_report(path, tmp_path, reliability=False,
                        compare_pairs=[("uniform", "binary")]).read_text()  # fmt: skip
    assert "No data set and ε at which the store holds both `uniform` and `binary`." in text
