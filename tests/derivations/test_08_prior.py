"""Proofs of derivations/08_prior.md (D8.x): smoothing toward the label prior preserves the base
rate; the bias of the other sigmoid strategies at a base rate; the optimum of `prior`; the
label-frequency prior of `prior_softmax`. Ties to the shipped targets, loss and label_priors."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from multilabel_ls import label_priors, multilabel_smoothing_loss

from . import _sym as S
from . import _tie as T

E, N, P = S.eps, S.N, S.pi
pibar = sp.Symbol("pibar", nonnegative=True)  # mean base rate of the row's labels


def _labels(seed, B=200, N_=6):
    rng = np.random.default_rng(seed)
    rates = np.array([0.02, 0.04, 0.1, 0.3, 0.5, 0.8])[:N_]
    y = (rng.random((B, N_)) < rates).astype(np.int64)
    y[0] = 1  # every label seen at least once
    return y


# --- D8.1 ----------------------------------------------------------------------------------------
def test_D8_1_prior_preserves_the_base_rate():
    # y_j ~ Bernoulli(pi_j): E[t_j] = pi t_pos + (1 - pi) t_neg = pi_j for `prior`, any eps
    Et = P * S.t_pos("prior") + (1 - P) * S.t_neg("prior")
    assert S.is_zero(Et - P)
    # t = a pi_j + b y_j + c (1 - y_j) preserves every base rate iff c = 0 and a + b = 1
    a, b, c = sp.symbols("a b c")
    Et = P * (a * P + b) + (1 - P) * (a * P + c)
    sol = sp.solve(sp.Poly(sp.expand(Et - P), P).coeffs(), [a, b, c], dict=True)
    assert sol == [{a: 1 - b, c: 0}]


def test_D8_1_code_mean_target_is_the_training_base_rate():
    y = _labels(81)
    mask = np.random.default_rng(1).random(y.shape) < 0.2
    mask[0] = False
    for eps in (0.1, 0.4):
        pri = label_priors(torch.tensor(y), ignore_mask=torch.tensor(mask))
        t = T.shipped_targets(
            "prior", {"epsilon": eps, "prior": pri.numpy()}, y, ignore_mask=torch.tensor(mask)
        )
        known = ~mask
        mean_t = (t * known).sum(0) / known.sum(0)
        np.testing.assert_allclose(mean_t, pri.numpy(), rtol=1e-12)


# --- D8.2 ----------------------------------------------------------------------------------------
BIAS = {  # E[t_j] - pi_j at base rate pi_j (mass_preserving: pibar = mean base rate of the row)
    "binary": E * (sp.Rational(1, 2) - P),
    "binary_uniform": E * (1 / N - P),
    "mass_preserving": E * (pibar - P),
}


@pytest.mark.parametrize("strategy", list(BIAS))
def test_D8_2_bias_of_the_other_sigmoid_strategies(strategy):
    if strategy == "mass_preserving":
        # E[t_j] = (1 - eps) pi_j + (eps/N) E[n], E[n] = sum_k pi_k = N pibar (D7.2)
        Et = (1 - E) * P + (E / N) * (N * pibar)
    else:
        Et = P * S.t_pos(strategy) + (1 - P) * S.t_neg(strategy)
    assert S.is_zero(Et - P - BIAS[strategy])
    if strategy == "binary":
        # relative bias eps (1/(2 pi) - 1): at pi = 5 % and eps = 0.1 the target mean is 1.9 pi
        rel = (BIAS["binary"] / P).subs({E: sp.Rational(1, 10), P: sp.Rational(1, 20)})
        assert rel == sp.Rational(9, 10)
    if strategy == "binary_uniform":  # the note's table: +10 % at N = 10, -eps as N -> oo
        rel = BIAS["binary_uniform"] / P
        assert rel.subs({E: sp.Rational(1, 10), P: sp.Rational(1, 20), N: 10}) == sp.Rational(1, 10)
        assert sp.limit(rel, N, sp.oo) == -E


@pytest.mark.parametrize("strategy", list(BIAS))
def test_D8_2_code_bias(strategy):
    y = _labels(82)
    eps = 0.1
    t = T.shipped_targets(strategy, {"epsilon": eps}, y)
    pi_hat = y.mean(0)
    Nn = y.shape[1]
    f = sp.lambdify((E, N, P, pibar), BIAS[strategy])
    if strategy == "mass_preserving":
        want = f(eps, Nn, pi_hat, pi_hat.mean())
    else:
        want = f(eps, Nn, pi_hat, 0.0)
    np.testing.assert_allclose(t.mean(0) - pi_hat, want, rtol=1e-10, atol=1e-15)


# --- D8.3 ----------------------------------------------------------------------------------------
def test_D8_3_prior_optimum():
    xp = sp.log((1 - E + E * P) / (E * (1 - P)))
    xn = sp.log(E * P / (1 - E * P))
    for tt, xs in ((S.t_pos("prior"), xp), (S.t_neg("prior"), xn)):
        assert S.is_zero(S.sigma(xs) - tt)
    # population optimum sigma(x*) = (1 - eps) eta + eps pi; averaged over x (E[eta] = pi): pi
    eta = sp.Symbol("eta", nonnegative=True)
    opt = (1 - E) * eta + E * P
    assert S.is_zero(opt.subs(eta, P) - P)
    # a rare label's negatives: logit log(eps pi/(1 - eps pi)) vs binary's log(eps/(2 - eps))
    diff = sp.exp(xn) - sp.exp(-sp.log((2 - E) / E))
    assert S.is_zero(diff - (E * P / (1 - E * P) - E / (2 - E)))


def test_D8_3_code_prior_fit_mean_prediction():
    y = _labels(83, B=120)
    pri = label_priors(torch.tensor(y))
    theta = torch.zeros(1, y.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([theta], lr=1, max_iter=300, tolerance_grad=1e-13, tolerance_change=0)
    yt = torch.tensor(y)

    def closure():
        opt.zero_grad()
        loss = multilabel_smoothing_loss(
            theta.expand(*y.shape), yt, strategy="prior", epsilon=0.2, prior=pri
        )
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(torch.sigmoid(theta.detach())[0].numpy(), pri.numpy(), rtol=1e-7)


# --- D8.4 ----------------------------------------------------------------------------------------
def test_D8_4_prior_softmax_mean_target():
    # mean target over rows: (1 - eps) rhobar_j + eps pi_j; equals pi_j iff rhobar_j = pi_j
    rhobar = sp.Symbol("rhobar", nonnegative=True)
    mean_t = (1 - E) * rhobar + E * P
    assert S.is_zero(mean_t - P - (1 - E) * (rhobar - P))
    # with the label-frequency prior pi_j = sum_i y_ij / sum_i n_i and n constant,
    # rhobar_j = mean(y_ij / n) = pi_j: two concrete rows sets (exact rationals)
    rows = [(1, 1, 0, 0), (1, 0, 1, 0), (0, 1, 0, 1)]
    pi_ = [sp.Rational(sum(r[j] for r in rows), sum(sum(r) for r in rows)) for j in range(4)]
    rho_ = [sp.Rational(sum(sp.Rational(r[j], sum(r)) for r in rows), len(rows)) for j in range(4)]
    assert pi_ == rho_
    rows = [(1, 0, 0, 0), (1, 1, 1, 0)]  # varying n: not equal
    pi_ = [sp.Rational(sum(r[j] for r in rows), sum(sum(r) for r in rows)) for j in range(4)]
    rho_ = [sp.Rational(sum(sp.Rational(r[j], sum(r)) for r in rows), len(rows)) for j in range(4)]
    assert pi_ != rho_


@pytest.mark.parametrize("constant_n", [True, False])
def test_D8_4_code_prior_softmax_mean_target(constant_n):
    rng = np.random.default_rng(84)
    B, Nn, eps = 60, 5, 0.3
    y = np.zeros((B, Nn), dtype=np.int64)
    for i in range(B):
        k = 2 if constant_n else int(rng.integers(1, Nn))
        y[i, rng.choice(Nn, k, replace=False, p=[0.4, 0.3, 0.15, 0.1, 0.05])] = 1
    pri = label_priors(torch.tensor(y), kind="softmax").numpy()
    t = T.shipped_targets("prior_softmax", {"epsilon": eps, "prior": pri}, y)
    rhobar = (y / y.sum(1, keepdims=True)).mean(0)
    np.testing.assert_allclose(t.mean(0) - pri, (1 - eps) * (rhobar - pri), atol=1e-14)
    if constant_n:
        np.testing.assert_allclose(t.mean(0), pri, rtol=1e-12)
