"""One run: determinism per seed, pairing across ε, row policies, priors, noise, the CNN."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from multilabel_ls.experiments.evaluate import METRICS
from multilabel_ls.experiments.prepare import prepare_data
from multilabel_ls.experiments.training import loss_kwargs, resolve_row_policies, run_one

from .conftest import tiny_config


def _spec(strategy="binary", eps=0.2, seed=0, **kw):
    cfg = tiny_config(strategies=(strategy,), epsilons=(eps,), seeds=(seed,), **kw)
    return cfg.expand()[0]


def test_same_seed_same_logits_bit_for_bit():
    a, b = run_one(_spec()), run_one(_spec())
    np.testing.assert_array_equal(a["test_logits"], b["test_logits"])
    assert a["metrics"] == b["metrics"] and a["history"] == b["history"]
    c = run_one(_spec(seed=1))
    assert not np.array_equal(a["test_logits"], c["test_logits"])


def test_result_record():
    r = run_one(_spec("uniform", 0.1))
    assert set(r["metrics"]) == set(METRICS)
    assert all(np.isfinite(v) for v in r["metrics"].values())
    assert r["family"] == "softmax" and r["model"] == "mlp"
    assert r["loss"] == {"strategy": "uniform", "empty_rows": "skip", "full_rows": "keep",
                         "epsilon": 0.1, "prior": None}  # fmt: skip
    assert r["data"]["n_fit"] + r["data"]["n_val"] == 1500 and r["data"]["n_test"] == 917
    assert r["history"]["epochs"] == 4 and 1 <= r["history"]["best_epoch"] <= 4
    assert r["test_logits"].shape == (917, 14) and r["test_labels"].shape == (917, 14)
    assert 0 < r["metrics"]["map_macro"] < 1


def test_seed_fixes_split_noise_and_init_across_epsilon():
    """Cells of one seed are paired: same carve, same noise draw, same initial weights."""
    a = prepare_data(_spec(eps=0.0, noise=("missing:0.3",)))
    b = prepare_data(_spec("uniform", eps=0.3, noise=("missing:0.3",)))
    np.testing.assert_array_equal(a.Y_fit, b.Y_fit)
    np.testing.assert_array_equal(a.X_val, b.X_val)
    # standardised on the fit rows only
    np.testing.assert_allclose(a.X_fit.mean(0), 0, atol=1e-5)
    assert a.info["noise"]["spec"] == "missing:0.3" and a.info["noise"]["n_dropped"] > 0


def test_clean_validation_keeps_validation_labels_clean():
    from multilabel_ls.data import load_yeast, validation_split

    spec = _spec(noise=("flip:0.2",), train={"clean_validation": True})
    d = prepare_data(spec)
    _, val_idx = validation_split(1500, fraction=0.2, seed=0)
    np.testing.assert_array_equal(d.Y_val, load_yeast().Y_train[val_idx])
    noisy = prepare_data(_spec(noise=("flip:0.2",)))
    assert not np.array_equal(noisy.Y_val, d.Y_val)


def test_row_policies_and_empty_rows_from_noise():
    assert resolve_row_policies("positive_split", tiny_config().train) == ("skip", "skip")
    assert resolve_row_policies("binary", tiny_config().train) == ("keep", "keep")
    # heavy missing-positive noise creates rows with no label: softmax strategies skip them
    r = run_one(_spec("positive_split", 0.1, noise=("missing:0.7",)))
    assert r["data"]["n_empty_fit_rows"] > 50
    assert np.isfinite(r["metrics"]["map_macro"])
    with pytest.raises(ValueError, match="empty_rows"):
        run_one(_spec("uniform", 0.1, noise=("missing:0.7",), train={"empty_rows": "error"}))


@pytest.mark.parametrize("strategy", ["prior", "prior_softmax", "asymmetric"])
def test_prior_and_asymmetric_strategies_run(strategy):
    spec = tiny_config(strategies=(strategy,), epsilons=(0.1,), seeds=(0,),
                       asymmetric_epsilons=[[0.1, 0.01]]).expand()[0]  # fmt: skip
    kw = loss_kwargs(spec, prepare_data(spec).Y_fit)
    if strategy.startswith("prior"):
        assert kw["prior"].shape == (14,)
        if strategy == "prior_softmax":
            assert abs(float(kw["prior"].sum()) - 1) < 1e-12
    else:
        assert (kw["epsilon_pos"], kw["epsilon_neg"]) == (0.1, 0.01) and "epsilon" not in kw
    r = run_one(spec)
    assert np.isfinite(r["metrics"]["nll"])


def test_cnn_on_digits_multi():
    spec = tiny_config(datasets=("digits-multi",), strategies=("binary",), epsilons=(0.1,),
                       seeds=(0,), train={"channels": (4,), "max_epochs": 1}).expand()[0]  # fmt: skip
    r = run_one(spec)
    assert r["model"] == "cnn" and r["test_logits"].shape == (1000, 10)
    with pytest.raises(ValueError, match=r"train\.model='cnn'"):
        run_one(dataclasses.replace(_spec(), train=dataclasses.replace(spec.train, model="cnn")))
