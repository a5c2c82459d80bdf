"""multilabel_ls.analysis: tables, statistics over seeds, post-hoc calibration of stored runs."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy import stats

from multilabel_ls import analysis as A
from multilabel_ls.experiments import ResultStore, run_grid
from multilabel_ls.experiments.scores import presence_probabilities

from .experiments.conftest import tiny_config

# --------------------------------------------------------------------------- tables


def test_run_table_filter_unique_take_and_views():
    t = A.RunTable(
        {"strategy": ["uniform", "binary", "binary"], "epsilon": [0.1, 0.0, 0.1],
         "eps_pos": [None, None, 0.2], "v": [1.0, float("nan"), 3.0]}
    )  # fmt: skip
    assert len(t) == 3 and t.names == ["strategy", "epsilon", "eps_pos", "v"] and "v" in t
    assert t.unique("strategy") == ["binary", "uniform"]  # registry order, not appearance
    assert t.unique("epsilon") == [0.0, 0.1]
    assert t.filter(strategy="binary", epsilon=0.1)["v"].tolist() == [3.0]
    assert len(t.filter(epsilon=[0.0, 0.1])) == 3 and len(t.filter(eps_pos=None)) == 2
    assert t.take(np.array([2, 0]))["strategy"].tolist() == ["binary", "uniform"]
    assert t.rows()[0] == {"strategy": "uniform", "epsilon": 0.1, "eps_pos": None, "v": 1.0}
    md = t.to_markdown(["strategy", "v"], digits=1).splitlines()
    assert md[0] == "| strategy | v |" and md[3] == "| binary | — |"
    assert "<td>uniform</td>" in t._repr_html_() and "3 rows" in repr(t)
    with pytest.raises(KeyError, match="no column 'nope'"):
        t.filter(nope=1)
    with pytest.raises(ValueError, match="different lengths"):
        A.RunTable({"a": [1, 2], "b": [1]})


def test_store_path_resolves_from_the_repository_root(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert A.store_path("yeast") == tmp_path / "results/notebooks/yeast/results.sqlite"
    assert A.store_path("mulan:/x/my data", "out") == tmp_path / "out/my_data/results.sqlite"
    assert A.store_path("scene", tmp_path / "abs") == tmp_path / "abs/scene/results.sqlite"


# --------------------------------------------------------------------------- statistics


def test_mean_ci_is_the_student_t_interval():
    v = [0.41, 0.45, 0.43, 0.47, 0.40]
    m, lo, hi = A.mean_ci(v, confidence=0.9)
    ref = stats.t.interval(0.9, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert m == pytest.approx(np.mean(v)) and (lo, hi) == pytest.approx(ref)
    m1 = A.mean_ci([0.5])
    assert m1[0] == 0.5 and math.isnan(m1[1]) and math.isnan(m1[2])
    assert all(math.isnan(x) for x in A.mean_ci([]))


def test_paired_difference_matches_scipy_and_counts_wins_by_direction():
    a, b = [0.50, 0.55, 0.52, 0.58], [0.49, 0.51, 0.53, 0.50]
    r = A.paired_difference(a, b)
    assert r.p == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert r.diff == pytest.approx(np.mean(np.subtract(a, b))) and r.n == 4 and r.wins == 3
    assert r.low < r.diff < r.high
    assert r.mean_a == pytest.approx(np.mean(a)) and r.mean_b == pytest.approx(np.mean(b))
    assert A.paired_difference(a, b, direction="lower").wins == 1
    assert A.paired_difference([0.1, -0.3], [0.2, 0.2], direction="zero").wins == 1
    assert math.isnan(A.paired_difference([1.0, 2.0], [0.0, 1.0]).p)  # constant difference
    assert math.isnan(A.paired_difference([1.0], [0.0]).p)
    with pytest.raises(ValueError, match="equal length"):
        A.paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="direction"):
        A.paired_difference([1.0], [1.0], direction="up")


def test_holm_step_down():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    np.testing.assert_allclose(A.holm(p), [0.03, 0.06, 0.06, 0.02])
    assert A.holm([0.9, 0.02]).tolist() == [0.9, 0.04]
    assert np.isnan(A.holm([float("nan")])).all() and A.holm([]).size == 0


def _grid_table():
    """2 strategies × ε ∈ {0, 0.1} × noise ∈ {none, missing} × 3 seeds, with known effects."""
    cols = {k: [] for k in (*A.CELL, "seed", "m")}
    for noise in ("none", "missing:0.2"):
        for strategy in ("binary", "uniform"):
            for eps in (0.0, 0.1):
                for seed in range(3):
                    row = dict(dataset="yeast", setting="s", noise=noise, strategy=strategy,
                               epsilon=eps, epsilon_pos=None, epsilon_neg=None, seed=seed)  # fmt: skip
                    # effect of ε: +0.01 clean, +0.03 under noise (binary); 0 for uniform
                    gain = (0.01 if noise == "none" else 0.03) if strategy == "binary" else 0.0
                    row["m"] = 0.5 + 0.01 * seed + (gain + 0.001 * seed) * (eps > 0)
                    for k, v in row.items():
                        cols[k].append(v)
    return A.RunTable(cols)


def test_summarize_effects_and_difference_in_differences():
    t = _grid_table()
    s = A.summarize(t, ["m"], by=("noise", "strategy", "epsilon"))
    assert len(s) == 8 and s["n"].tolist() == [3] * 8
    row = s.filter(noise="none", strategy="binary", epsilon=0.0)
    assert row["m"][0] == pytest.approx(0.51) and row["m_lo"][0] < 0.51 < row["m_hi"][0]
    md = row.to_markdown(["strategy", "m"], digits=2, labels={"m": "metric"}).splitlines()
    assert md[0] == "| strategy | metric |" and md[2].startswith("| binary | 0.51 [0.")
    assert "m_lo" not in row.to_html() and "0.5100 [" in row._repr_html_()
    assert "m_lo" in row.to_markdown(["m", "m_lo"], intervals=False)

    e = A.paired_effects(t, "m")
    assert len(e) == 4  # one per (noise, strategy) at ε = 0.1; ε = 0 is the baseline
    b = e.filter(noise="missing:0.2", strategy="binary")
    assert b["diff"][0] == pytest.approx(0.031) and b["wins"][0] == 3 and b["n"][0] == 3
    assert b["p"][0] < 0.01 and b["p_holm"][0] >= b["p"][0]
    u = e.filter(noise="none", strategy="uniform")
    assert u["diff"][0] == pytest.approx(0.001)

    d = A.seed_differences(t, "m")
    assert len(d) == 12 and set(d.names) == {*A.CELL, "seed", "m"}
    did = A.paired_effects(d, "m", baseline={"noise": "none"})
    assert len(did) == 2
    np.testing.assert_allclose(did.filter(strategy="binary")["diff"], [0.02])
    assert math.isnan(did.filter(strategy="uniform")["p"][0])  # identical differences

    x, y, err = A.series(s.filter(noise="none"), "m", low="m_lo", high="m_hi")["binary"]
    assert x.tolist() == [0.0, 0.1] and y[0] == pytest.approx(0.51) and (err > 0).all()
    assert (A.series(s, "m", line="noise")["none"][2] == 0).all()
    with pytest.raises(ValueError, match="baseline fields"):
        A.paired_effects(t, "m", baseline={"seed": 0})


def test_epsilon_zero_baseline_leaves_none_fields_alone():
    cols = {k: [] for k in (*A.CELL, "seed", "m")}
    for strategy, eps, ep, en, m in [
        ("binary", 0.0, None, None, 1.0), ("binary", 0.2, None, None, 2.0),
        ("asymmetric", 0.0, 0.0, 0.0, 5.0), ("asymmetric", 0.0, 0.1, 0.0, 7.0),
    ]:  # fmt: skip
        for k, v in zip(A.CELL, ("d", "s", "none", strategy, eps, ep, en), strict=True):
            cols[k].append(v)
        cols["seed"].append(0)
        cols["m"].append(m)
    e = A.paired_effects(A.RunTable(cols), "m")
    assert e["strategy"].tolist() == ["binary", "asymmetric"] and e["diff"].tolist() == [1.0, 2.0]


# --------------------------------------------------------------------------- post-hoc


def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 1.5, size=(6000, 4))
    y = (rng.random(z.shape) < 1 / (1 + np.exp(-z))).astype(np.uint8)
    assert A.fit_temperature(2.5 * z, y) == pytest.approx(2.5, rel=0.05)
    assert A.fit_temperature(0.5 * z, y) == pytest.approx(0.5, rel=0.05)
    t = A.fit_temperature(z, y, "softmax", cardinality=float(y.sum(1).mean()))
    assert A.TEMPERATURE_BOUNDS[0] <= t <= A.TEMPERATURE_BOUNDS[1]
    with pytest.raises(ValueError, match="one shape"):
        A.fit_temperature(z, y[:10])
    with pytest.raises(ValueError, match="bounds"):
        A.fit_temperature(z, y, bounds=(2.0, 1.0))
    with pytest.raises(ValueError, match="cardinality"):
        A.fit_temperature(z, y, "softmax")


def test_denoise_probabilities_inverts_each_noise_model():
    q = np.array([[0.0, 0.2, 0.5, 1.0]])
    np.testing.assert_allclose(A.denoise_probabilities(q, "none"), q)
    np.testing.assert_allclose(A.denoise_probabilities(q, "missing:0.5"), [[0, 0.4, 1, 1]])
    np.testing.assert_allclose(A.denoise_probabilities(q, "spurious:0.2"), [[0, 0, 0.375, 1]])
    np.testing.assert_allclose(A.denoise_probabilities(q, "flip:0.1"), [[0, 0.125, 0.5, 1]])
    per_label = '{"model": "class_conditional", "drop": [0, 0, 0.5, 0.5], "add": 0.0}'
    np.testing.assert_allclose(A.denoise_probabilities(q, per_label), [[0, 0.2, 1, 1]])
    # forward model then inverse = identity
    eta = np.linspace(0, 1, 11)[None]
    noisy = (1 - 0.3) * eta + 0.05 * (1 - eta)
    cc = "class_conditional:drop=0.3,add=0.05"
    np.testing.assert_allclose(A.denoise_probabilities(noisy, cc), eta, atol=1e-12)
    with pytest.raises(ValueError, match="not known"):
        A.denoise_probabilities(q, "spurious_per_row:1")
    with pytest.raises(ValueError, match="not invertible"):
        A.denoise_probabilities(q, "flip:0.5")


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    """A tiny grid (binary + uniform, ε ∈ {0, 0.2}, 2 seeds) trained into a fresh store."""
    path = tmp_path_factory.mktemp("analysis") / "r.sqlite"
    summary = run_grid(tiny_config(), path, workers=1, progress=False)
    assert summary.ok and summary.completed == 8
    return path


def test_load_runs_reads_every_run_and_metric(tiny_store):
    t = A.load_runs(tiny_store)
    with ResultStore(tiny_store, readonly=True) as st:
        stored = {r["key"]: r for r in st.runs()}
    assert len(t) == 8 and set(t["key"].tolist()) == set(stored)
    i = 3
    assert t["map_macro"][i] == stored[t["key"][i]]["metrics"]["map_macro"]
    assert t.unique("strategy") == ["binary", "uniform"] and t.unique("seed") == [0, 1]
    assert (t["cardinality"] > 1).all()


def test_raw_posthoc_scores_reproduce_the_stored_metrics(tiny_store):
    t = A.load_runs(tiny_store)
    p = A.posthoc_calibration(tiny_store, methods=("raw",))
    assert len(p) == 8 and p["key"].tolist() == t["key"].tolist()
    for m in ("ece_classwise", "ece_pooled", "brier", "nll"):
        np.testing.assert_allclose(p[m], t[m], rtol=1e-9, atol=1e-12, err_msg=m)


def test_temperature_is_fitted_on_validation_only(tiny_store):
    runs = list(A.iter_stored_runs(tiny_store))
    run = next(r for r in runs if r.family == "sigmoid" and r.epsilon > 0)
    with ResultStore(tiny_store, readonly=True) as st:
        val_logits, val_labels = st.validation(run.key)
    expected = A.fit_temperature(val_logits, val_labels)
    ph = A.posthoc_scores(run, "temperature")
    assert ph.temperature == pytest.approx(expected) and ph.input_format == "logits"
    np.testing.assert_allclose(ph.score, run.test_logits.astype(np.float64) / expected)
    # The test split plays no part in the fit: other test logits and labels, same T.
    other = dataclasses.replace(run, test_logits=-run.test_logits, y_test=1 - run.y_test)
    assert A.posthoc_scores(other, "temperature").temperature == ph.temperature
    soft = next(r for r in runs if r.family == "softmax")
    ps = A.posthoc_scores(soft, "temperature")
    assert ps.input_format == "probs" and ps.temperature == pytest.approx(
        A.fit_temperature(soft.val_logits, soft.val_labels, "softmax", cardinality=soft.cardinality)
    )
    with pytest.raises(ValueError, match="without validation logits"):
        A.posthoc_scores(dataclasses.replace(run, val_logits=None), "temperature")
    with pytest.raises(ValueError, match="method"):
        A.posthoc_scores(run, "platt")


def test_desmooth_applies_the_derivation_maps(tiny_store):
    runs = list(A.iter_stored_runs(tiny_store))
    b = next(r for r in runs if r.strategy == "binary" and r.epsilon == 0.2)
    p = torch.sigmoid(torch.from_numpy(b.test_logits).double()).numpy()
    expected = np.clip((p - 0.1) / 0.8, 0, 1)  # D7.2: (p - ε/2) / (1 - ε)
    np.testing.assert_allclose(A.posthoc_scores(b, "desmooth").score, expected, atol=1e-12)
    # without noise the backward correction is the de-smoothing alone
    np.testing.assert_array_equal(
        A.posthoc_scores(b, "backward").score, A.posthoc_scores(b, "desmooth").score
    )
    u = next(r for r in runs if r.strategy == "uniform" and r.epsilon == 0.2)
    s = torch.softmax(torch.from_numpy(u.test_logits).double(), 1).numpy()
    n, N = u.cardinality, s.shape[1]
    expected = np.clip(n * (s - 0.2 / N) / 0.8, 0, 1)  # D7.3 with n = c̄
    np.testing.assert_allclose(A.posthoc_scores(u, "desmooth").score, expected, atol=1e-12)
    # at ε = 0 de-smoothing is the identity on the raw read-out (σ, or the c̄·softmax proxy)
    u0 = next(r for r in runs if r.strategy == "uniform" and r.epsilon == 0)
    proxy = presence_probabilities(u0.test_logits, "softmax", cardinality=u0.cardinality)
    np.testing.assert_allclose(A.posthoc_scores(u0, "desmooth").score, proxy, atol=1e-12)
    np.testing.assert_allclose(A.posthoc_scores(u0, "raw").score, proxy)
    with pytest.raises(ValueError, match="without its prior"):
        A.posthoc_scores(dataclasses.replace(b, strategy="prior", prior=None), "desmooth")


def test_posthoc_calibration_table(tiny_store):
    sub = A.load_runs(tiny_store).filter(strategy="binary", seed=0)
    p = A.posthoc_calibration(tiny_store, sub, methods=A.METHODS)
    assert len(p) == 2 * len(A.METHODS)
    assert set(p.names) >= {*A.CELL, "key", "seed", "method", "temperature", "ece_classwise"}
    assert p.filter(method="raw")["temperature"].tolist() == [1.0, 1.0]
    assert (p.filter(method="temperature")["temperature"] != 1.0).all()
    assert np.isfinite(p["ece_classwise"].astype(float)).all()


# --------------------------------------------------------------------------- studies


def test_run_study_trains_through_the_runner_and_resumes(tmp_path):
    kw = dict(dataset="yeast", strategies=["binary", "uniform"], epsilons=[0.0, 0.2], seeds=1,
              store_dir=tmp_path, workers=1, quick=True)  # fmt: skip
    study = A.run_study(**kw)
    assert study.store == tmp_path / "yeast" / "results.sqlite"
    assert study.summary.completed == 4 and len(study.keys) == 4
    assert set(study.runs()["key"].tolist()) == study.keys
    assert study.config.train.hidden == A.QUICK_TRAIN["hidden"]
    again = A.run_study(**kw)  # finished runs are skipped
    assert (again.summary.completed, again.summary.skipped) == (0, 4)
    # another study in the same store sees only its own runs
    other = A.run_study(**{**kw, "strategies": ["binary"], "epsilons": [0.0]})
    assert len(other.runs()) == 1 and other.summary.skipped == 1


def test_run_study_rejects_bad_input_before_training(tmp_path, monkeypatch):
    from multilabel_ls.experiments import ConfigError
    from multilabel_ls.experiments import runner as runner_mod

    kw = dict(dataset="yeast", strategies=["binary"], epsilons=[0.0], seeds=1,
              store_dir=tmp_path, workers=1, quick=True)  # fmt: skip
    with pytest.raises(ValueError, match="seeds must be a positive integer"):
        A.run_study(**{**kw, "seeds": 0})
    with pytest.raises(ConfigError, match="no-such-data"):
        A.run_study(**{**kw, "dataset": "no-such-data"})

    def broken(spec, **_):
        raise RuntimeError("boom")

    monkeypatch.setattr(runner_mod, "run_one", broken)
    with pytest.raises(RuntimeError, match=r"1 of 1 runs failed.*boom"):
        A.run_study(**kw)


def test_tuned_effects_choose_epsilon_on_validation_only():
    cols = {k: [] for k in (*A.CELL, "seed", "m", "val_map")}
    # seed 0: validation prefers ε = 0.2, seed 1: ε = 0.1; the test metric would prefer others
    for seed, eps, val, test in [(0, 0.0, 0.5, 0.40), (0, 0.1, 0.6, 0.90), (0, 0.2, 0.7, 0.41),
                                 (1, 0.0, 0.5, 0.42), (1, 0.1, 0.8, 0.45), (1, 0.2, 0.1, 0.99)]:  # fmt: skip
        for k, v in zip(A.CELL, ("d", "s", "none", "binary", eps, None, None), strict=True):
            cols[k].append(v)
        cols["seed"].append(seed)
        cols["m"].append(test)
        cols["val_map"].append(val)
    e = A.tuned_effects(A.RunTable(cols), "m")
    assert len(e) == 1 and e["chosen"][0] == "0.2, 0.1"
    assert e["diff"][0] == pytest.approx(((0.41 - 0.40) + (0.45 - 0.42)) / 2)
    assert e["wins"][0] == 2 and "epsilon" not in e


def test_pooled_reliability_pools_runs_and_labels(tiny_store):
    t = A.load_runs(tiny_store)
    sub = t.filter(strategy="binary", epsilon=0.2)
    d = A.pooled_reliability(tiny_store, sub, n_bins=10)
    runs = list(A.iter_stored_runs(tiny_store, sub["key"].tolist()))
    assert d.count.sum() == sum(r.y_test.size for r in runs) and len(d.count) == 10
    y = np.concatenate([r.y_test for r in runs])
    p = np.concatenate([1 / (1 + np.exp(-r.test_logits.astype(np.float64))) for r in runs])
    ref = A.calibration_metrics(y, p, input_format="probs", n_bins=10)["ece_pooled"]
    assert d.calibration_error() == pytest.approx(ref)
    soft = A.pooled_reliability(tiny_store, t.filter(strategy="uniform"), method="temperature")
    assert soft.count.sum() == 4 * runs[0].y_test.size
    with pytest.raises(ValueError, match="no runs"):
        A.pooled_reliability(tiny_store, t.filter(strategy="nope"))


def test_figures(tiny_store):
    t = A.load_runs(tiny_store)
    s = A.summarize(t, ["map_macro", "ece_classwise"], by=("strategy", "epsilon"))
    fig = A.plot_curves(s, ["map_macro", "ece_classwise"], labels={"map_macro": "macro mAP"})
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert len(axes) == 2 and axes[0].get_ylabel() == "macro mAP"
    styles = [c.lines[0].get_linestyle() for c in axes[0].containers]
    assert styles == ["-", "--"]  # binary solid, uniform (softmax) dashed
    e = A.paired_effects(t, "map_macro")
    assert len(A.plot_curves(e, "diff", panel="strategy", hline=0).axes) == 2
    with pytest.raises(ValueError, match="single value"):
        A.plot_curves(s, ["map_macro", "ece_classwise"], panel="strategy")
    h = A.plot_effect_heatmap(e, rows=("strategy",), col="epsilon", title="t")
    texts = [x.get_text() for x in h.axes[0].texts]
    assert len(texts) == 2 and all(x[0] in "+-" for x in texts)
