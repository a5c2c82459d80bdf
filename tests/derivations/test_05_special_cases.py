"""Proofs of derivations/05_special_cases.md (D5.x): reductions to Szegedy et al.'s smoothing and
other special cases; with ties to the shipped code and to PyTorch's own losses."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from . import _sym as S
from . import _tie as T

E, N, n = S.eps, S.N, S.n
K = sp.Symbol("K", positive=True)
delta = sp.Symbol("delta", nonnegative=True)  # onehot entry: 1 for the labelled class, else 0


def szegedy(eps, k):
    """Szegedy et al. (2016), section 7: q'(k) = (1 - eps) delta_{k,y} + eps / K."""
    return (1 - eps) * delta + eps / k


def _one_positive(N_, B, seed):
    rng = np.random.default_rng(seed)
    y = np.zeros((B, N_), dtype=np.int64)
    y[np.arange(B), rng.integers(0, N_, B)] = 1
    return rng.normal(0, 2, (B, N_)), y


# --- D5.1 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "strategy", ["uniform", "unnormalized", "binary_uniform", "mass_preserving", "prior_softmax"]
)
def test_D5_1_one_positive_is_szegedy(strategy):
    subs = {n: 1, N: K, S.pi: 1 / K, S.U: 1}  # prior_softmax with a uniform prior
    assert S.is_zero(S.target(strategy, delta).subs(subs) - szegedy(E, K))
    if strategy in S.SOFTMAX:
        assert S.is_zero(S.target_sum(strategy).subs(subs) - 1)


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_D5_1_code_uniform_with_one_positive_is_torch_label_smoothing(eps):
    x, y = _one_positive(9, 6, 51)
    for s in ("uniform", "unnormalized"):
        loss, _ = T.shipped(s, {"epsilon": eps}, x, y, reduction="none")
        ref = F.cross_entropy(
            torch.tensor(x), torch.tensor(y.argmax(1)), label_smoothing=eps, reduction="none"
        )
        np.testing.assert_allclose(loss, ref.numpy(), rtol=1e-12)


# --- D5.2 ----------------------------------------------------------------------------------------
def test_D5_2_one_positive_positive_split_is_exclusive_convention():
    t = S.target("positive_split", delta).subs({n: 1, N: K})
    exclusive = (1 - E) * delta + E / (K - 1) * (1 - delta)
    assert S.is_zero(t - exclusive)
    # = Szegedy with eps' = eps K / (K - 1)
    assert S.is_zero(t - szegedy(E * K / (K - 1), K))


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_D5_2_code_positive_split_with_one_positive(eps):
    x, y = _one_positive(6, 5, 52)
    t = T.shipped_targets("positive_split", {"epsilon": eps}, y)
    np.testing.assert_allclose(t, np.where(y == 1, 1 - eps, eps / 5), rtol=1e-12)
    l1, _ = T.shipped("positive_split", {"epsilon": eps}, x, y, reduction="none")
    ref = F.cross_entropy(
        torch.tensor(x), torch.tensor(y.argmax(1)), label_smoothing=eps * 6 / 5, reduction="none"
    )
    np.testing.assert_allclose(l1, ref.numpy(), rtol=1e-12)


# --- D5.3 ----------------------------------------------------------------------------------------
def test_D5_3_binary_is_szegedy_with_two_classes():
    t_present = S.target("binary", delta)
    t_absent = 1 - t_present
    assert S.is_zero(t_present - szegedy(E, 2))
    assert S.is_zero(t_absent - szegedy(E, 2).subs(delta, 1 - delta))
    # BCE(x, t) = two-class softmax CE with logits (x, 0) and target (t, 1 - t)
    z = sp.Symbol("z", positive=True)
    lx = sp.log(z)
    two_class = S.ce([lx, sp.Integer(0)], [S.t, 1 - S.t])
    assert S.logs_vanish(sp.expand_log(sp.expand(S.bce(lx, S.t) - two_class), force=True))


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_D5_3_code_binary_equals_torch_two_class_label_smoothing(eps):
    rng = np.random.default_rng(53)
    x = rng.normal(0, 2, (5, 7))
    y = (rng.random((5, 7)) < 0.4).astype(np.int64)
    loss, _ = T.shipped("binary", {"epsilon": eps}, x, y, reduction="none")
    two = torch.stack([torch.tensor(x), torch.zeros(5, 7, dtype=torch.float64)], dim=1)
    ref = F.cross_entropy(two, torch.tensor(1 - y), label_smoothing=eps, reduction="none")
    np.testing.assert_allclose(loss, ref.numpy(), rtol=1e-12)


# --- D5.4 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D5_4_no_smoothing(strategy):
    yy = sp.Symbol("y", nonnegative=True)
    t = S.target(strategy, yy).subs({E: 0, S.eps_pos: 0, S.eps_neg: 0})
    normalising = strategy in ("uniform", "positive_split", "prior_softmax")
    assert S.is_zero(t - (yy / n if normalising else yy))


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D5_4_code_no_smoothing(strategy):
    rng = np.random.default_rng(54)
    x = rng.normal(0, 2, (5, 6))
    y = (rng.random((5, 6)) < 0.4).astype(np.int64)
    y[:, 0], y[:, 1] = 1, 0
    kw = T.draw_params(strategy, rng, 6)
    kw.update({k: 0.0 for k in ("epsilon", "epsilon_pos", "epsilon_neg") if k in kw})
    loss, _ = T.shipped(strategy, kw, x, y, reduction="none")
    xt, yt = torch.tensor(x), torch.tensor(y, dtype=torch.float64)
    if strategy in S.SIGMOID:
        ref = F.binary_cross_entropy_with_logits(xt, yt, reduction="none")
    elif strategy in ("uniform", "positive_split", "prior_softmax"):
        ref = F.cross_entropy(xt, yt / yt.sum(1, keepdim=True), reduction="none")
    else:
        ref = F.cross_entropy(xt, yt, reduction="none")
    np.testing.assert_allclose(loss, ref.numpy(), rtol=1e-12, atol=1e-14)


# --- D5.5 ----------------------------------------------------------------------------------------
def test_D5_5_asymmetric_special_cases():
    yy, s = sp.symbols("y s", nonnegative=True)

    def asym(strategy, ep, en):
        return S.target(strategy, yy).subs({S.eps_pos: ep, S.eps_neg: en}, simultaneous=True)

    assert S.is_zero(asym("asymmetric", E / 2, E / 2) - S.target("binary", yy))
    assert S.is_zero(asym("asymmetric", E - E / N, E / N) - S.target("binary_uniform", yy))
    assert S.is_zero(asym("asymmetric_softmax", E - E / N, E / N) - S.target("unnormalized", yy))
    luxonis = yy * (1 - s) + s * (1 - yy)  # luxonis-train SmoothBCEWithLogitsLoss
    assert S.is_zero(luxonis - S.target("binary", yy).subs(E, 2 * s))


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_D5_5_code_asymmetric_special_cases(eps):
    rng = np.random.default_rng(55)
    x = rng.normal(0, 2, (4, 6))
    y = (rng.random((4, 6)) < 0.4).astype(np.int64)
    y[:, 0] = 1
    pairs = (
        ("asymmetric", {"epsilon_pos": eps / 2, "epsilon_neg": eps / 2}, "binary"),
        ("asymmetric", {"epsilon_pos": eps - eps / 6, "epsilon_neg": eps / 6}, "binary_uniform"),
        (
            "asymmetric_softmax",
            {"epsilon_pos": eps - eps / 6, "epsilon_neg": eps / 6},
            "unnormalized",
        ),
    )
    for s, kw, other in pairs:
        la, ga = T.shipped(s, kw, x, y, reduction="none")
        lb, gb = T.shipped(other, {"epsilon": eps}, x, y, reduction="none")
        np.testing.assert_allclose(la, lb, rtol=1e-12)
        np.testing.assert_allclose(ga, gb, rtol=1e-12, atol=1e-15)
