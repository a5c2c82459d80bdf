"""Proofs of derivations/06_label_noise.md (D6.x): value and gradient of the loss at a mislabeled
example, evaluated at the optimum for the clean labels; with ties to the shipped code."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy as sp

from . import _sym as S
from . import _tie as T

E, N, n = S.eps, S.N, S.n
a_, b_ = sp.symbols("a b", positive=True)


def KL(a, b):
    """Bernoulli KL divergence KL(a || b)."""
    return a * sp.log(a / b) + (1 - a) * sp.log((1 - a) / (1 - b))


def t_of(strategy, y, nn):
    return S.target(strategy, y).subs(n, nn)


# --- D6.1 ----------------------------------------------------------------------------------------
FLIP_GRADIENT = {  # (at the flipped label, at every other label) for a false positive (0 -> 1)
    "binary": (-(1 - E), 0),
    "binary_uniform": (-(1 - E), 0),
    "asymmetric": (-(1 - S.eps_pos - S.eps_neg), 0),
    "prior": (-(1 - E), 0),
    "mass_preserving": (-(1 - E + E / N), -E / N),
}


@pytest.mark.parametrize("strategy", S.SIGMOID)
def test_D6_1_sigmoid_flip_gradient_at_clean_optimum(strategy):
    # at the clean optimum sigma(x_k) = t_k(clean), so g_k = t_k(clean) - t_k(noisy)
    g_flip = t_of(strategy, 0, n) - t_of(strategy, 1, n + 1)
    others = [t_of(strategy, y, n) - t_of(strategy, y, n + 1) for y in (0, 1)]
    want_flip, want_other = FLIP_GRADIENT[strategy]
    assert S.is_zero(g_flip - want_flip)
    assert all(S.is_zero(o - want_other) for o in others)
    # a false negative (1 -> 0) is the mirror image
    assert S.is_zero(t_of(strategy, 1, n + 1) - t_of(strategy, 0, n) + want_flip)
    # total pull |g|_1: 1 - eps for the per-label strategies, exactly 1 for mass_preserving
    total = -want_flip - (N - 1) * want_other
    if strategy == "mass_preserving":
        assert S.is_zero(total - 1)
    # the largest gradient over all logits is max(t, 1 - t) < 1 for 0 < t < 1
    assert S.is_zero(sp.limit(S.bce_grad(S.x, S.t), S.x, -sp.oo) + S.t)
    assert S.is_zero(sp.limit(S.bce_grad(S.x, S.t), S.x, sp.oo) - (1 - S.t))


@pytest.mark.parametrize("strategy", S.SIGMOID)
def test_D6_1_code_flip_gradient(strategy):
    rng = np.random.default_rng(61)
    Nn = 7
    _, y, _ = T.random_problem(rng, 4, Nn)
    kw = T.draw_params(strategy, rng, Nn)
    t_clean, *_ = T.expected(strategy, kw, np.zeros(y.shape), y, np.ones_like(y, bool))
    x_clean = np.log(t_clean / (1 - t_clean))
    noisy = y.copy()
    noisy[:, 1] = 1  # column 1 is a negative in every row (random_problem): a false positive
    _, grad = T.shipped(strategy, kw, x_clean, noisy)
    vals = {E: kw.get("epsilon", 0), S.eps_pos: kw.get("epsilon_pos", 0)}
    vals.update({S.eps_neg: kw.get("epsilon_neg", 0), N: Nn})
    flip, other = (float(sp.sympify(v).subs(vals)) for v in FLIP_GRADIENT[strategy])
    np.testing.assert_allclose(grad[:, 1], flip, rtol=1e-11)
    np.testing.assert_allclose(np.delete(grad, 1, axis=1), other, atol=1e-12)


# --- D6.2 ----------------------------------------------------------------------------------------
def test_D6_2_sigmoid_flip_excess_loss():
    # loss at logit(b) with target a, minus the minimum H(a), is KL(a || b)
    b = sp.Symbol("b", positive=True)
    lx = sp.log(b / (1 - b))
    ent = -a_ * sp.log(a_) - (1 - a_) * sp.log(1 - a_)
    val = S.bce(lx, a_) - ent - KL(a_, b)
    val = val.subs(b, 1 / (1 + sp.Symbol("k", positive=True)))
    assert S.logs_vanish(sp.expand_log(sp.expand(val), force=True))
    # binary: KL(1 - eps/2 || eps/2) = KL(eps/2 || 1 - eps/2) = (1 - eps) log((2 - eps)/eps)
    tp, tn = S.t_pos("binary"), S.t_neg("binary")
    stated = (1 - E) * sp.log((2 - E) / E)
    for d in (KL(tp, tn) - stated, KL(tn, tp) - stated):
        e = sp.Symbol("e", positive=True)  # eps = 2e/(1+e) keeps every argument positive
        assert S.logs_vanish(sp.expand_log(sp.expand(d.subs(E, 2 * e / (1 + e))), force=True))
    assert sp.limit(stated, E, 0, "+") == sp.oo  # no smoothing: unbounded
    assert round(float(stated.subs(E, sp.Rational(1, 10))), 2) == 2.65  # the note's number


@pytest.mark.parametrize("strategy", S.SIGMOID)
def test_D6_2_code_flip_excess(strategy):
    rng = np.random.default_rng(62)
    Nn = 6
    _, y, _ = T.random_problem(rng, 3, Nn)
    kw = T.draw_params(strategy, rng, Nn)
    ones = np.ones_like(y, bool)
    noisy = y.copy()
    noisy[:, 1] = 1
    tc, *_ = T.expected(strategy, kw, np.zeros(y.shape), y, ones)
    tn, *_ = T.expected(strategy, kw, np.zeros(y.shape), noisy, ones)
    at_clean, _ = T.shipped(strategy, kw, np.log(tc / (1 - tc)), noisy, reduction="sum")
    at_noisy, _ = T.shipped(strategy, kw, np.log(tn / (1 - tn)), noisy, reduction="sum")
    kl = tn * np.log(tn / tc) + (1 - tn) * np.log((1 - tn) / (1 - tc))
    assert float(at_clean - at_noisy) == pytest.approx(kl.sum(), rel=1e-10)
    if strategy == "binary":
        e = kw["epsilon"]
        assert float(at_clean - at_noisy) == pytest.approx(
            3 * (1 - e) * np.log((2 - e) / e), rel=1e-10
        )


# --- D6.3 ----------------------------------------------------------------------------------------
SWAP_DELTA = {  # delta = b - c: the swap gradient at the clean optimum is delta (e_i - e_k)
    "uniform": (1 - E) / n,
    "positive_split": (1 - E) / n - E / (N - n),
    "unnormalized": 1 - E,
    "asymmetric_softmax": 1 - S.eps_pos - S.eps_neg,
    "prior_softmax": (1 - E) / n,
}


@pytest.mark.parametrize("strategy", S.SOFTMAX)
def test_D6_3_softmax_swap_gradient(strategy):
    k = 5
    pis = S.vec("pi", k, positive=True)
    yc = [1, 1, 0, 0, 0]  # clean: positives 0, 1
    yn = [0, 1, 1, 0, 0]  # noisy: positive 0 swapped for negative 2
    sub = {N: k, n: 2, S.U: sum(pis)}

    def targets(y):
        return [
            S.target(strategy, y[j], pis[j] if strategy in S.PRIOR else 1).subs(sub)
            for j in range(k)
        ]

    tc, tn = targets(yc), targets(yn)
    assert S.is_zero(sum(tc) - sum(tn))  # a swap keeps n and so the target mass S
    lx = [sp.log(v) for v in tc]  # the clean optimum
    g = S.ce_grad(lx, tn)
    d = SWAP_DELTA[strategy].subs(sub)
    want = [d, 0, -d, 0, 0]
    assert all(S.is_zero(gj - wj) for gj, wj in zip(g, want, strict=True))


@pytest.mark.parametrize("strategy", S.SOFTMAX)
def test_D6_3_code_swap_gradient(strategy):
    rng = np.random.default_rng(63)
    Nn = 6
    kw = T.draw_params(strategy, rng, Nn)
    y = np.array([[1, 1, 0, 0, 0, 0], [1, 0, 1, 0, 1, 0]])
    noisy = np.array([[0, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 0]])  # label 0 swapped with 2 / 3
    tc, *_ = T.expected(strategy, kw, np.zeros(y.shape), y, np.ones_like(y, bool))
    _, grad = T.shipped(strategy, kw, np.log(tc), noisy)
    for i in range(2):
        vals = {E: kw.get("epsilon", 0), S.eps_pos: kw.get("epsilon_pos", 0)}
        vals.update({S.eps_neg: kw.get("epsilon_neg", 0), N: Nn, n: y[i].sum()})
        d = float(SWAP_DELTA[strategy].subs(vals))
        want = d * (y[i] - noisy[i])
        np.testing.assert_allclose(grad[i], want, rtol=1e-11, atol=1e-13)


# --- D6.4 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", [s for s in S.SOFTMAX if s != "prior_softmax"])
def test_D6_4_softmax_swap_excess(strategy):
    k = 5
    sub = {N: k, n: 2}
    tp, tm = S.t_pos(strategy).subs(sub), S.t_neg(strategy).subs(sub)
    yc, yn = [1, 1, 0, 0, 0], [0, 1, 1, 0, 0]
    tc = [tp if v else tm for v in yc]
    tn = [tp if v else tm for v in yn]
    # excess = L(clean optimum; noisy) - min L(.; noisy) = sum t_n log(t_n / t_c)
    excess = S.ce([sp.log(v) for v in tc], tn) - S.ce([sp.log(v) for v in tn], tn)
    stated = (tp - tm) * sp.log(tp / tm)
    e = sp.Symbol("e", positive=True)
    sub_e = {E: e / (1 + e), S.eps_pos: e / (2 + e), S.eps_neg: 1 / (2 + e)}
    d = sp.expand_log(sp.expand((excess - stated).subs(sub_e)), force=True)
    assert S.logs_vanish(d)
    if strategy == "uniform":  # = (1 - eps)/n * log(1 + N (1 - eps) / (n eps)): delta x gap
        gap = sp.log(1 + N * (1 - E) / (n * E)).subs(sub)
        d = (stated - ((1 - E) / n).subs(sub) * gap).subs(E, e / (1 + e))
        assert S.logs_vanish(sp.expand_log(d, force=True))
        assert sp.limit(stated, E, 0, "+") == sp.oo


def test_D6_4_prior_softmax_swap_excess():
    k = 4
    pis = S.vec("pi", k, positive=True)
    U = sum(pis)
    Ai, Ak = (1 - E) / 2 + E * pis[0] / U, (1 - E) / 2 + E * pis[2] / U
    tc = [Ai, (1 - E) / 2 + E * pis[1] / U, E * pis[2] / U, E * pis[3] / U]
    tn = [E * pis[0] / U, tc[1], Ak, tc[3]]
    excess = S.ce([sp.log(v) for v in tc], tn) - S.ce([sp.log(v) for v in tn], tn)
    stated = E * pis[0] / U * sp.log(E * pis[0] / (U * Ai)) + Ak * sp.log(Ak * U / (E * pis[2]))
    e = sp.Symbol("e", positive=True)
    d = sp.expand_log(sp.expand((excess - stated).subs(E, e / (1 + e))), force=True)
    assert S.logs_vanish(d)


@pytest.mark.parametrize("strategy", S.SOFTMAX)
def test_D6_4_code_swap_excess(strategy):
    rng = np.random.default_rng(64)
    Nn = 6
    kw = T.draw_params(strategy, rng, Nn)
    if strategy in S.ASYMMETRIC:
        kw["epsilon_neg"] = max(kw["epsilon_neg"], 0.01)
    y = np.array([[1, 1, 0, 0, 0, 0]])
    noisy = np.array([[0, 1, 1, 0, 0, 0]])
    ones = np.ones_like(y, bool)
    tc, *_ = T.expected(strategy, kw, np.zeros(y.shape), y, ones)
    tn, *_ = T.expected(strategy, kw, np.zeros(y.shape), noisy, ones)
    at_clean, _ = T.shipped(strategy, kw, np.log(tc), noisy, reduction="sum")
    at_noisy, _ = T.shipped(strategy, kw, np.log(tn), noisy, reduction="sum")
    if strategy == "prior_softmax":
        want = (tn * np.log(tn / tc)).sum()
    else:
        tp, tm = tc[0, 0], tc[0, 5]
        want = (tp - tm) * np.log(tp / tm)
    assert float(at_clean - at_noisy) == pytest.approx(want, rel=1e-10)


# --- D6.5 ----------------------------------------------------------------------------------------
def test_D6_5_value_bounds():
    # sigmoid: -a log b - (1 - a) log(1 - b) <= max(-log b, -log(1 - b)) (a convex combination)
    # binary: clean optimum b in {eps/2, 1 - eps/2}, so every label costs at most log(2/eps)
    tmin = sp.Min(S.t_neg("binary"), 1 - S.t_pos("binary"))
    assert S.is_zero(tmin - E / 2)
    # softmax: at the clean optimum q = t_c / S_c, -sum t_n log q <= S_n log(1 / min q);
    # uniform: min q = eps / N, so any noisy row costs at most log(N / eps). Exhaustive, N = 4:
    k, eps = 4, sp.Rational(1, 10)
    bound = sp.log(k / eps)
    rows = [r for r in S.all_rows(k) if sum(r) > 0]
    for yc, yn in itertools.product(rows, rows):
        q = [S.target("uniform", v).subs({E: eps, N: k, n: sum(yc)}) for v in yc]
        assert min(q) >= eps / k
        tn = [S.target("uniform", v).subs({E: eps, N: k, n: sum(yn)}) for v in yn]
        value = -sum(tj * sp.log(qj) for tj, qj in zip(tn, q, strict=True))
        assert sp.N(bound - value, 30) >= 0


@pytest.mark.parametrize("eps", [0.05, 0.2])
def test_D6_5_code_value_bounds(eps):
    rng = np.random.default_rng(65)
    Nn = 8
    for _ in range(20):
        yc = (rng.random((1, Nn)) < 0.4).astype(np.int64)
        yn = (rng.random((1, Nn)) < 0.4).astype(np.int64)
        yc[0, 0] = yn[0, 1] = 1
        tc = T.shipped_targets("uniform", {"epsilon": eps}, yc)
        loss, _ = T.shipped("uniform", {"epsilon": eps}, np.log(tc), yn, reduction="sum")
        assert float(loss) <= np.log(Nn / eps) + 1e-12
        tb = T.shipped_targets("binary", {"epsilon": eps}, yc)
        lb, _ = T.shipped("binary", {"epsilon": eps}, np.log(tb / (1 - tb)), yn, reduction="none")
        assert (lb <= np.log(2 / eps) + 1e-12).all()
