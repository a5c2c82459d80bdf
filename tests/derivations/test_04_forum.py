"""Proofs of derivations/04_forum.md (D4.x): the fastai forum's formulations, the lin_comb pattern,
PyTorch's unnormalised targets and ClassyVision's parameter; with ties to the shipped code."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F

from . import _sym as S
from . import _tie as T

E, N, n = S.eps, S.N, S.n
# P = sum of -log p over the positives, Q = over the negatives; l_i = -log p of one label
P, Q, li, R = sp.symbols("P Q ell_i R", real=True)


def _nll(x):
    """-log softmax(x) per label (float64 NumPy)."""
    m = x.max(1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(1, keepdims=True))) - x


def _rows(N_, n_list, seed):
    rng = np.random.default_rng(seed)
    y = np.zeros((len(n_list), N_), dtype=np.int64)
    for i, k in enumerate(n_list):
        y[i, rng.permutation(N_)[:k]] = 1
    return rng.normal(0, 2, y.shape), y


# --- D4.1 ----------------------------------------------------------------------------------------
def test_D4_1_single_label_identity():
    # R = sum of -log p over the other N - 1 classes
    lhs = (1 - (N - 1) * E / N) * li + (E / N) * R
    rhs = (1 - E) * li + (E / N) * (li + R)
    assert sp.expand(lhs - rhs) == 0


@pytest.mark.parametrize("eps", [0.1, 0.4])
def test_D4_1_code_matches_torch_index_label_smoothing(eps):
    x, y = _rows(7, [1] * 5, 41)
    loss, _ = T.shipped("uniform", {"epsilon": eps}, x, y, reduction="none")
    nll = _nll(x)
    jeremy = (1 - eps) * (nll * y).sum(1) + eps / 7 * nll.sum(1)
    np.testing.assert_allclose(loss, jeremy, rtol=1e-12)
    ref = F.cross_entropy(
        torch.tensor(x), torch.tensor(y.argmax(1)), label_smoothing=eps, reduction="none"
    )
    np.testing.assert_allclose(loss, ref.numpy(), rtol=1e-12)


# --- D4.2 ----------------------------------------------------------------------------------------
def test_D4_2_forum_B_equals_C_equals_uniform():
    B = (1 - (N - n) * E / N) / n * P + (E / N) * Q
    C = (1 - E) * P / n + (E / N) * (P + Q)
    assert S.is_zero(B - C)
    # ... = -sum t log p with t = (1 - eps) y/n + eps/N (the `uniform` target)
    as_targets = S.t_pos("uniform") * P + S.t_neg("uniform") * Q
    assert S.is_zero(C - as_targets)


@pytest.mark.parametrize("eps", [0.1, 0.4])
def test_D4_2_code_uniform_is_forum_C(eps):
    x, y = _rows(8, [1, 2, 3, 5], 42)
    loss, _ = T.shipped("uniform", {"epsilon": eps}, x, y, reduction="none")
    nll = _nll(x)
    nn = y.sum(1)
    C = (1 - eps) * (nll * y).sum(1) / nn + eps / 8 * nll.sum(1)
    np.testing.assert_allclose(loss, C, rtol=1e-12)


# --- D4.3 ----------------------------------------------------------------------------------------
def test_D4_3_forum_A_minus_C():
    dpos = S.t_pos("positive_split") - S.t_pos("uniform")
    dneg = S.t_neg("positive_split") - S.t_neg("uniform")
    assert S.is_zero(dpos + E / N)
    assert S.is_zero(dneg - E * n / (N * (N - n)))
    assert S.is_zero(n * dpos + (N - n) * dneg)  # both are distributions
    L_A = S.t_pos("positive_split") * P + S.t_neg("positive_split") * Q
    L_C = S.t_pos("uniform") * P + S.t_neg("uniform") * Q
    stated = (E * n / N) * (Q / (N - n) - P / n)  # (eps n/N)(mean_neg - mean_pos)
    assert S.is_zero(L_A - L_C - stated)


@pytest.mark.parametrize("eps", [0.1, 0.4])
def test_D4_3_code_positive_split_minus_uniform(eps):
    x, y = _rows(8, [1, 2, 3, 5], 43)
    la, ga = T.shipped("positive_split", {"epsilon": eps}, x, y, reduction="none")
    lc, gc = T.shipped("uniform", {"epsilon": eps}, x, y, reduction="none")
    nll = _nll(x)
    nn = y.sum(1)
    mean_pos = (nll * y).sum(1) / nn
    mean_neg = (nll * (1 - y)).sum(1) / (8 - nn)
    np.testing.assert_allclose(la - lc, eps * nn / 8 * (mean_neg - mean_pos), rtol=1e-10)
    # the gradients differ by -(t_A - t_C): +eps/N at positives, -eps n/(N(N-n)) at negatives
    dt = np.where(y == 1, eps / 8, -eps * nn[:, None] / (8 * (8 - nn[:, None])))
    np.testing.assert_allclose(ga - gc, dt, rtol=1e-10, atol=1e-14)


# --- D4.4 ----------------------------------------------------------------------------------------
def test_D4_4_simplified_loss_decomposition():
    C = (1 - E) * P / n + (E / N) * (P + Q)
    ce_y_over_n = P / n  # CE(y/n) = -sum (y_j/n) log p_j
    ce_uniform = (P + Q) / N  # CE(1/N) = -sum (1/N) log p_j
    assert S.is_zero(C - ((1 - E) * ce_y_over_n + E * ce_uniform))
    assert S.is_zero(
        sp.diff(C, E) - (ce_uniform - ce_y_over_n)
    )  # eps moves weight from CE(y/n) to CE(u)


@pytest.mark.parametrize("eps", [0.1, 0.4])
def test_D4_4_code_uniform_is_mixture_of_two_cross_entropies(eps):
    x, y = _rows(6, [1, 2, 4], 44)
    loss, _ = T.shipped("uniform", {"epsilon": eps}, x, y, reduction="none")
    nll = _nll(x)
    ce_y = (nll * y).sum(1) / y.sum(1)
    ce_u = nll.mean(1)
    np.testing.assert_allclose(loss, (1 - eps) * ce_y + eps * ce_u, rtol=1e-12)


# --- D4.5 ----------------------------------------------------------------------------------------
def lin_comb(v1, v2, beta):
    """fastai: beta * v1 + (1 - beta) * v2."""
    return beta * v1 + (1 - beta) * v2


def test_D4_5_lin_comb_pattern():
    c = sp.Symbol("c", positive=True)
    loss = P + Q  # fastai's `loss`: the sum of -log p over the classes
    C = (1 - E) * P / n + (E / N) * (P + Q)
    # correct: nll = CE(y/n) (mean over positives) and c = N
    assert S.is_zero(lin_comb(loss / N, P / n, E) - C)
    # nll summed over the positives: the `unnormalized` target (1 - eps) y + eps/N
    summed = lin_comb(loss / N, P, E)
    assert S.is_zero(summed - (S.t_pos("unnormalized") * P + S.t_neg("unnormalized") * Q))
    assert not S.is_zero(summed - C)
    assert S.is_zero(summed.subs(n, 1) - C.subs(n, 1))  # ... the same when n = 1
    # arguments swapped: smoothing 1 - eps
    swapped = lin_comb(P / n, loss / N, E)
    assert S.is_zero(swapped - C.subs(E, 1 - E))
    # c != N: the smoothing term is scaled by N / c
    assert S.is_zero(lin_comb(loss / c, P / n, E) - C - E * (P + Q) * (1 / c - 1 / N))


@pytest.mark.parametrize("eps", [0.1, 0.4])
def test_D4_5_code_lin_comb(eps):
    x, y = _rows(6, [1, 2, 4], 45)
    nll = _nll(x)
    loss_sum = nll.sum(1)
    uni, _ = T.shipped("uniform", {"epsilon": eps}, x, y, reduction="none")
    unn, _ = T.shipped("unnormalized", {"epsilon": eps}, x, y, reduction="none")
    mean_pos = (nll * y).sum(1) / y.sum(1)
    sum_pos = (nll * y).sum(1)
    np.testing.assert_allclose(uni, lin_comb(loss_sum / 6, mean_pos, eps), rtol=1e-12)
    np.testing.assert_allclose(unn, lin_comb(loss_sum / 6, sum_pos, eps), rtol=1e-12)


# --- D4.6 ----------------------------------------------------------------------------------------
def test_D4_6_unnormalized_is_weighted_uniform():
    Ssum = n * (1 - E) + E
    eps_eff = E / Ssum
    assert S.is_zero(S.target_sum("unnormalized") - Ssum)
    for tt in ("t_pos", "t_neg"):
        unn = getattr(S, tt)("unnormalized")
        uni = getattr(S, tt)("uniform").subs(E, eps_eff)
        assert S.is_zero(unn - Ssum * uni)
    # the loss and gradient are affine in t: L_unn(eps) = S L_uniform(eps/S), grad likewise
    L_unn = S.t_pos("unnormalized") * P + S.t_neg("unnormalized") * Q
    L_uni = (S.t_pos("uniform") * P + S.t_neg("uniform") * Q).subs(E, eps_eff)
    assert S.is_zero(L_unn - Ssum * L_uni)
    # eps_eff <= eps, with equality iff n = 1 (for 0 < eps < 1); S grows with n
    m, e, f = sp.symbols("m e f", nonnegative=True)
    dom = {E: e / (e + f), n: 1 + m}
    assert S.certify_nonnegative(E - eps_eff, dom)
    assert S.is_zero((E - eps_eff).subs(n, 1))
    assert sp.diff(Ssum, n) == 1 - E


@pytest.mark.parametrize("eps", [0.1, 0.4])
def test_D4_6_code_unnormalized_is_weighted_uniform(eps):
    x, y = _rows(7, [1, 2, 3, 6], 46)
    lu, gu = T.shipped("unnormalized", {"epsilon": eps}, x, y, reduction="none")
    ref = F.cross_entropy(
        torch.tensor(x), torch.tensor(y, dtype=torch.float64), label_smoothing=eps, reduction="none"
    )
    np.testing.assert_allclose(lu, ref.numpy(), rtol=1e-12)  # PyTorch's own form
    for i, k in enumerate(y.sum(1)):
        Ssum = k * (1 - eps) + eps
        l1, g1 = T.shipped(
            "uniform", {"epsilon": eps / Ssum}, x[i : i + 1], y[i : i + 1], reduction="none"
        )
        assert lu[i] == pytest.approx(Ssum * l1[0], rel=1e-12)
        np.testing.assert_allclose(gu[i], Ssum * g1[0], rtol=1e-11, atol=1e-14)


# --- D4.7 ----------------------------------------------------------------------------------------
def test_D4_7_classyvision_parameter():
    s, yy = sp.symbols("s y", nonnegative=True)
    classy = (yy / n + s / N) / (1 + s)
    assert S.is_zero(classy - S.target("uniform", yy).subs(E, s / (1 + s)))
    assert S.is_zero((s / (1 + s)).subs(s, E / (1 - E)) - E)  # inverse map


def test_D4_7_code_classyvision_test_vectors():
    # ClassyVision's own test vectors (test/losses_label_smoothing_cross_entropy_loss_test.py)
    for y, s, want in (
        ([1, 0, 0, 0, 1], 0.5, [6 / 15, 1 / 15, 1 / 15, 1 / 15, 6 / 15]),
        ([0, 0, 0, 0, 1], 0.1, [0.2 / 11] * 4 + [10.2 / 11]),
    ):
        got = T.shipped_targets("uniform", {"epsilon": s / (1 + s)}, np.array([y]))
        np.testing.assert_allclose(got[0], want, rtol=1e-12)
