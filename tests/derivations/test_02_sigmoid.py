"""Proofs of derivations/02_sigmoid.md (D2.x) and their ties to the shipped sigmoid losses."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from multilabel_ls import multilabel_smoothing_loss, smooth_targets

from . import _sym as S
from . import _tie as T

z = sp.Symbol("z", positive=True)  # z = exp(x)
LX = sp.log(z)


def H(tt):
    """Binary entropy (nats)."""
    return -tt * sp.log(tt) - (1 - tt) * sp.log(1 - tt)


def _rational(expr):
    """``expr`` with x = log z: exp/log of x become rational in z."""
    return sp.simplify(expr.subs(S.x, LX))


# --- D2.1 ----------------------------------------------------------------------------------------
def test_D2_1_sigmoid_loss_forms():
    a = S.bce(LX, S.t, S.w, S.pw)
    b = S.bce_log_form(LX, S.t, S.w, S.pw)
    assert S.logs_vanish(sp.expand_log(a - b, force=True))
    # pw = 1: w (softplus(x) - t x)
    c = S.w * (S.softplus(LX) - S.t * LX)
    assert S.logs_vanish(sp.expand_log(S.bce(LX, S.t, S.w, 1) - c, force=True))


@pytest.mark.parametrize("strategy", S.SIGMOID)
def test_D2_1_code_sigmoid_loss(strategy):
    rng = np.random.default_rng(21)
    x, y, known = T.random_problem(rng, 6, 8, masked=True)
    kw = T.draw_params(strategy, rng, 8)
    w, pw = rng.uniform(0.3, 2.0, 8), rng.uniform(0.3, 3.0, 8)
    for opts in ({}, {"weight": w}, {"weight": w, "pos_weight": pw}):
        loss, _ = T.shipped(strategy, kw, x, y, reduction="none", ignore_mask=~known, **opts)
        _, want, _, _ = T.expected(
            strategy, kw, x, y, known, w=opts.get("weight"), pw=opts.get("pos_weight")
        )
        np.testing.assert_allclose(loss, want, rtol=1e-12, atol=1e-14)
        mean, _ = T.shipped(strategy, kw, x, y, reduction="mean", ignore_mask=~known, **opts)
        assert float(mean) == pytest.approx(want.sum() / known.sum(), rel=1e-12)


# --- D2.2 ----------------------------------------------------------------------------------------
def test_D2_2_sigmoid_gradient():
    loss = S.bce(S.x, S.t, S.w, S.pw)
    d = sp.diff(loss, S.x) - S.bce_grad(S.x, S.t, S.w, S.pw)
    assert S.is_zero(d.subs(S.x, LX))
    # pw = 1: w (sigma(x) - t)
    assert S.is_zero((S.bce_grad(S.x, S.t, S.w, 1) - S.w * (S.sigma(S.x) - S.t)).subs(S.x, LX))


@pytest.mark.parametrize("strategy", S.SIGMOID)
def test_D2_2_code_sigmoid_gradient(strategy):
    rng = np.random.default_rng(22)
    x, y, known = T.random_problem(rng, 6, 8, masked=True)
    kw = T.draw_params(strategy, rng, 8)
    w, pw = rng.uniform(0.3, 2.0, 8), rng.uniform(0.3, 3.0, 8)
    for opts in ({}, {"weight": w}, {"weight": w, "pos_weight": pw}):
        _, grad = T.shipped(strategy, kw, x, y, reduction="sum", ignore_mask=~known, **opts)
        _, _, want, _ = T.expected(
            strategy, kw, x, y, known, w=opts.get("weight"), pw=opts.get("pos_weight")
        )
        np.testing.assert_allclose(grad, want, rtol=1e-12, atol=1e-14)
        _, gmean = T.shipped(strategy, kw, x, y, reduction="mean", ignore_mask=~known, **opts)
        np.testing.assert_allclose(gmean, want / known.sum(), rtol=1e-12, atol=1e-15)


# --- D2.3 ----------------------------------------------------------------------------------------
alpha, gamma, delta, u, y = sp.symbols("alpha gamma delta u y")


def _h(xx, ww, pww):
    return ww * ((pww - 1) * S.softplus(-xx) - xx)


def test_D2_3_sigmoid_row_sum_form():
    # softplus(-x) = softplus(x) - x (used to get h from one softplus)
    assert S.logs_vanish(sp.expand_log(S.softplus(-LX) - (S.softplus(LX) - LX), force=True))
    # per label: loss = w softplus(x) + t h, with t = alpha u + gamma + delta y
    tt = alpha * u + gamma + delta * y
    per = S.bce(LX, tt, S.w, S.pw) - (S.w * S.softplus(LX) + tt * _h(LX, S.w, S.pw))
    assert S.logs_vanish(sp.expand_log(sp.expand(per), force=True))
    # the row: SP + alpha sum u h + gamma sum h + delta sum y h (4 labels, symbolic everything)
    k = 4
    zs = S.vec("z", k, positive=True)
    xs = [sp.log(v) for v in zs]
    us, ys, ws, pws = S.vec("u", k), S.vec("y", k), S.vec("w", k), S.vec("pw", k)
    ts = [alpha * us[j] + gamma + delta * ys[j] for j in range(k)]
    hs = [_h(xs[j], ws[j], pws[j]) for j in range(k)]
    row = sum(S.bce(xs[j], ts[j], ws[j], pws[j]) for j in range(k))
    form = (
        sum(ws[j] * S.softplus(xs[j]) for j in range(k))
        + alpha * sum(us[j] * hs[j] for j in range(k))
        + gamma * sum(hs)
        + delta * sum(ys[j] * hs[j] for j in range(k))
    )
    assert S.logs_vanish(sp.expand_log(sp.expand(row - form), force=True))


_SP = sp.lambdify(S.x, S.softplus(S.x), "numpy")


@pytest.mark.parametrize("strategy", S.SIGMOID)
def test_D2_3_code_row_sums(strategy):
    rng = np.random.default_rng(23)
    x, y, known = T.random_problem(rng, 6, 8, masked=True)
    kw = T.draw_params(strategy, rng, 8)
    w, pw = rng.uniform(0.3, 2.0, 8), rng.uniform(0.3, 3.0, 8)
    loss, _ = T.shipped(
        strategy, kw, x, y, reduction="none", ignore_mask=~known, weight=w, pos_weight=pw
    )
    u_ = np.asarray(kw["prior"]) if strategy in S.PRIOR else np.ones(8)
    for i in range(6):
        K = known[i]
        a, b, c, _ = T.coefficients(strategy, kw, y[i, K].sum(), K.sum(), u_[K].sum())
        h = w[K] * ((pw[K] - 1) * _SP(-x[i, K]) - x[i, K])
        sp_sum = (w[K] * _SP(x[i, K])).sum()
        want = sp_sum + a * (u_[K] * h).sum() + c * h.sum() + (b - c) * (y[i, K] * h).sum()
        assert loss[i].sum() == pytest.approx(want, rel=1e-12)


# --- D2.4 ----------------------------------------------------------------------------------------
def test_D2_4_sigmoid_convexity():
    sig = S.sigma(S.x)
    second = sp.diff(S.bce(S.x, S.t, S.w, S.pw), S.x, 2)
    stated = S.w * sig * (1 - sig) * ((1 - S.t) + S.pw * S.t)
    assert S.is_zero((second - stated).subs(S.x, LX))
    # non-negative for w, pw >= 0 and t in [0, 1]: sigma(1 - sigma) = z/(1+z)^2 > 0
    q, r, a, b = sp.symbols("q r a b", nonnegative=True)
    dom = {S.t: q / (q + r), S.w: a, S.pw: b}
    assert S.certify_nonnegative(stated.subs(S.x, LX), dom)
    # the Hessian of a row is diagonal: labels do not interact
    xs = S.vec("x", 3, real=True)
    ts = S.vec("t", 3)
    row = sum(S.bce(xs[j], ts[j]) for j in range(3))
    assert all(sp.diff(row, xs[i], xs[j]) == 0 for i in range(3) for j in range(3) if i != j)


@pytest.mark.parametrize("strategy", S.SIGMOID)
def test_D2_4_code_curvature(strategy):
    rng = np.random.default_rng(24)
    x, y, _ = T.random_problem(rng, 3, 6)
    kw = T.draw_params(strategy, rng, 6)
    pw = rng.uniform(0.3, 3.0, 6)
    t, *_ = T.expected(strategy, kw, x, y, np.ones_like(y, bool))
    h = 1e-5
    _, gp = T.shipped(strategy, kw, x + h, y, pos_weight=pw)
    _, gm = T.shipped(strategy, kw, x - h, y, pos_weight=pw)
    second = (gp - gm) / (2 * h)  # the Hessian is diagonal (D2.4): one shift probes all labels
    s = 1 / (1 + np.exp(-x))
    want = s * (1 - s) * ((1 - t) + pw * t)
    np.testing.assert_allclose(second, want, rtol=1e-6, atol=1e-9)
    assert (second > 0).all()


# --- D2.5 ----------------------------------------------------------------------------------------
def test_D2_5_sigmoid_minimiser():
    xstar = sp.log(S.pw * S.t / (1 - S.t))
    g = S.bce_grad(xstar, S.t, S.w, S.pw)
    assert S.is_zero(g)
    assert S.is_zero(S.sigma(xstar) - S.pw * S.t / (1 + (S.pw - 1) * S.t))
    # the only stationary point (solve for sigma = s)
    s = sp.Symbol("s", positive=True)
    sol = sp.solve(sp.Eq(s * (1 + (S.pw - 1) * S.t) - S.pw * S.t, 0), s)
    assert len(sol) == 1 and S.is_zero(sol[0] - S.pw * S.t / (1 + (S.pw - 1) * S.t))
    # pw = 1: x* = logit(t) and the minimum is w H(t), the binary entropy (a floor > 0)
    tt = sp.Symbol("tau", positive=True)
    val = S.bce(sp.log(tt / (1 - tt)), tt, S.w, 1) - S.w * H(tt)
    val = sp.expand_log(
        sp.expand(val.subs(tt, 1 / (1 + sp.Symbol("k", positive=True)))), force=True
    )
    assert S.logs_vanish(val)


@pytest.mark.parametrize("strategy", S.SIGMOID)
def test_D2_5_code_minimiser(strategy):
    rng = np.random.default_rng(25)
    _, y, _ = T.random_problem(rng, 4, 7)
    kw = T.draw_params(strategy, rng, 7)
    if "epsilon" in kw:
        kw["epsilon"] = max(kw["epsilon"], 0.05)
    if strategy == "asymmetric":
        kw = {"epsilon_pos": 0.1, "epsilon_neg": 0.07}
    t, *_ = T.expected(strategy, kw, np.zeros(y.shape), y, np.ones_like(y, bool))
    xstar = np.log(t / (1 - t))
    loss, grad = T.shipped(strategy, kw, xstar, y, reduction="none")
    np.testing.assert_allclose(grad, 0.0, atol=1e-13)
    ent = -(t * np.log(t) + (1 - t) * np.log(1 - t))
    np.testing.assert_allclose(loss, ent, rtol=1e-12)


# --- D2.6 ----------------------------------------------------------------------------------------
E, Nn, n_, P = S.eps, S.N, S.n, S.pi
OPTIMAL_LOGITS = {  # (logit of a positive, logit of a negative), as the note states them
    "binary": (sp.log((2 - E) / E), -sp.log((2 - E) / E)),
    "binary_uniform": (sp.log((Nn * (1 - E) + E) / (E * (Nn - 1))), sp.log(E / (Nn - E))),
    "mass_preserving": (
        sp.log((Nn * (1 - E) + E * n_) / (E * (Nn - n_))),
        sp.log(E * n_ / (Nn - E * n_)),
    ),
    "asymmetric": (sp.log((1 - S.eps_pos) / S.eps_pos), sp.log(S.eps_neg / (1 - S.eps_neg))),
    "prior": (sp.log((1 - E + E * P) / (E * (1 - P))), sp.log(E * P / (1 - E * P))),
}


@pytest.mark.parametrize("strategy", S.SIGMOID)
def test_D2_6_optimal_logits(strategy):
    for tt, stated in zip(
        (S.t_pos(strategy), S.t_neg(strategy)), OPTIMAL_LOGITS[strategy], strict=True
    ):
        logit = sp.log(tt / (1 - tt))
        assert S.is_zero(sp.exp(logit) - sp.exp(stated))  # exp is injective on the reals
    if strategy == "binary":
        assert S.is_zero(OPTIMAL_LOGITS["binary"][0] + OPTIMAL_LOGITS["binary"][1])
    # the numbers quoted in the note's table (eps = 0.1; binary_uniform at N = 1000)
    quoted = {"binary": (2.944, -2.944), "binary_uniform": (2.198, -9.210)}
    if strategy in quoted:
        at = {S.eps: sp.Rational(1, 10), S.N: 1000}
        for expr, q in zip(OPTIMAL_LOGITS[strategy], quoted[strategy], strict=True):
            assert round(float(expr.subs(at)), 3) == q


@pytest.mark.parametrize("strategy", S.SIGMOID)
def test_D2_6_code_gradient_vanishes_at_stated_logits(strategy):
    rng = np.random.default_rng(26)
    N = 7
    _, y, _ = T.random_problem(rng, 5, N)
    kw = T.draw_params(strategy, rng, N)
    if strategy == "asymmetric":
        kw = {"epsilon_pos": 0.12, "epsilon_neg": 0.03}
    x = np.zeros(y.shape)
    pos, neg = (
        sp.lambdify((S.eps, S.eps_pos, S.eps_neg, S.N, S.n, S.pi), e)
        for e in OPTIMAL_LOGITS[strategy]
    )
    pri = np.asarray(kw.get("prior", np.full(N, 0.5)))
    for i in range(5):
        args = (
            kw.get("epsilon", 0),
            kw.get("epsilon_pos", 0),
            kw.get("epsilon_neg", 0),
            N,
            y[i].sum(),
        )
        for j in range(N):
            x[i, j] = (pos if y[i, j] else neg)(*args, pri[j])
    _, grad = T.shipped(strategy, kw, x, y)
    np.testing.assert_allclose(grad, 0.0, atol=1e-13)


# --- D2.7 ----------------------------------------------------------------------------------------
def test_D2_7_dependence_on_n_and_N():
    m, k, e, f = sp.symbols("m k e f", nonnegative=True)
    dom = {S.eps: e / (e + f), S.n: m, S.N: 1 + m + k}  # 0 <= n < N
    # binary and asymmetric: constants (no N, no n); prior: only pi_j
    for s in ("binary", "asymmetric"):
        assert not ({S.N, S.n} & set().union(*(o.free_symbols for o in OPTIMAL_LOGITS[s])))
    assert not ({S.N, S.n} & set().union(*(o.free_symbols for o in OPTIMAL_LOGITS["prior"])))
    # binary_uniform: the negative target eps/N and its logit fall as N grows
    assert S.certify_nonnegative(-sp.diff(S.t_neg("binary_uniform"), S.N), dom)
    assert S.certify_nonnegative(-sp.diff(sp.exp(OPTIMAL_LOGITS["binary_uniform"][1]), S.N), dom)
    # mass_preserving: a negative's optimal probability eps n/N rises with the row's positives,
    # a positive's 1 - eps + eps n/N too; both lose their smoothing at n = 0 / n = N
    for tt in (S.t_pos("mass_preserving"), S.t_neg("mass_preserving")):
        assert S.is_zero(sp.diff(tt, S.n) - S.eps / S.N)
    assert S.t_neg("mass_preserving").subs(S.n, 0) == 0
    assert S.is_zero(S.t_pos("mass_preserving").subs(S.n, S.N) - 1)
    # the margin (logit gap) of mass_preserving is smallest at n = N/2:
    # e^gap(n) - e^gap(N/2) = (1 - eps)(N - 2n)^2 / (n (N - n)) / eps^2 >= 0
    gap = OPTIMAL_LOGITS["mass_preserving"][0] - OPTIMAL_LOGITS["mass_preserving"][1]
    eg = sp.exp(gap)
    stated = (1 - S.eps) * (S.N - 2 * S.n) ** 2 / (S.n * (S.N - S.n)) / S.eps**2
    assert S.is_zero(eg - eg.subs(S.n, S.N / 2) - stated)


@pytest.mark.parametrize("n_pos", [1, 3, 5])
def test_D2_7_code_mass_preserving_negative_tracks_n(n_pos):
    N, eps = 6, 0.2
    y = np.zeros((1, N), dtype=np.int64)
    y[0, :n_pos] = 1
    t = T.shipped_targets("mass_preserving", {"epsilon": eps}, y)
    neg = np.log(t[0, -1] / (1 - t[0, -1]))
    stated = float(OPTIMAL_LOGITS["mass_preserving"][1].subs({S.eps: eps, S.N: N, S.n: n_pos}))
    assert neg == pytest.approx(stated, rel=1e-12)


# --- D2.8 ----------------------------------------------------------------------------------------
ka, kb, kc = sp.symbols("a b c", real=True)  # the row's coefficients, t = a u + b y + c (1 - y)
t1, t0 = ka + kb, ka + kc  # the targets of a positive and a negative (u = 1)
AU, A1, A0, B1, B0, BV = sp.symbols("A_U A_1 A_0 B_1 B_0 B_V")  # the row sums of the note
ROW_FORM = (
    ka * AU + kb * A1 + kc * A0 + (1 - ka - kb) * B1 + (1 - ka - kc) * B0 + ka * BV
)  # fmt: skip
ROW_FORM_U1 = t1 * A1 + t0 * A0 + (1 - t1) * B1 + (1 - t0) * B0


def _A(xx, ww, pww):
    return ww * pww * S.softplus(-xx)


def _B(xx, ww):
    return ww * S.softplus(xx)


def _row_sums(xs, ys, us, ws, pws):
    """The six row sums of D2.8 (symbolic or numeric, from the per-label A_j and B_j)."""
    k = len(xs)
    A = [_A(xs[j], ws[j], pws[j]) for j in range(k)]
    B = [_B(xs[j], ws[j]) for j in range(k)]
    return {
        AU: sum(us[j] * A[j] for j in range(k)),
        A1: sum(ys[j] * A[j] for j in range(k)),
        A0: sum((1 - ys[j]) * A[j] for j in range(k)),
        B1: sum(ys[j] * B[j] for j in range(k)),
        B0: sum((1 - ys[j]) * B[j] for j in range(k)),
        BV: sum((1 - us[j]) * B[j] for j in range(k)),
    }


def test_D2_8_cancellation_free_row_sum_form():
    tt = ka * u + kb * y + kc * (1 - y)
    # the identity behind the B sums
    assert sp.expand((1 - tt) - ((1 - ka - kb) * y + (1 - ka - kc) * (1 - y) + ka * (1 - u))) == 0
    # per label: loss = t A + (1 - t) B = the six terms
    per = S.bce(LX, tt, S.w, S.pw) - ROW_FORM.subs(_row_sums([LX], [y], [u], [S.w], [S.pw]))
    assert S.logs_vanish(sp.expand_log(sp.expand(per), force=True))
    # a row of 4 labels, symbolic everything
    k = 4
    xs = [sp.log(v) for v in S.vec("z", k, positive=True)]
    us, ys, ws, pws = S.vec("u", k), S.vec("y", k), S.vec("w", k), S.vec("pw", k)
    row = sum(
        S.bce(xs[j], ka * us[j] + kb * ys[j] + kc * (1 - ys[j]), ws[j], pws[j]) for j in range(k)
    )
    sums = _row_sums(xs, ys, us, ws, pws)
    assert S.logs_vanish(sp.expand_log(sp.expand(row - ROW_FORM.subs(sums)), force=True))
    # u = 1: the u sums merge into the others (B_V = 0, A_U = A_1 + A_0): the four-sum form
    ones = [sp.Integer(1)] * k
    sums1 = _row_sums(xs, ys, ones, ws, pws)
    assert sums1[BV] == 0 and sp.expand(sums1[AU] - sums1[A1] - sums1[A0]) == 0
    row1 = row.subs(dict(zip(us, ones, strict=True)))
    assert S.logs_vanish(sp.expand_log(sp.expand(row1 - ROW_FORM_U1.subs(sums1)), force=True))
    assert sp.expand(ROW_FORM.subs(BV, 0).subs(AU, A1 + A0) - ROW_FORM_U1) == 0


#: The coefficients of the six sums per sigmoid strategy, as the note's table states them:
#: (a, b, c, 1 - a - b, 1 - a - c).
SIX_COEFFICIENTS = {
    "binary": (E / 2, 1 - E, 0, E / 2, 1 - E / 2),
    "binary_uniform": (E / Nn, 1 - E, 0, E * (Nn - 1) / Nn, 1 - E / Nn),
    "mass_preserving": (E * n_ / Nn, 1 - E, 0, E * (Nn - n_) / Nn, 1 - E * n_ / Nn),
    "asymmetric": (0, 1 - S.eps_pos, S.eps_neg, S.eps_pos, 1 - S.eps_neg),
    "prior": (E, 1 - E, 0, 0, 1 - E),
}


@pytest.mark.parametrize("strategy", S.SIGMOID)
def test_D2_8_coefficients_nonnegative(strategy):
    a, b, c = S.COEF[strategy]
    stated = SIX_COEFFICIENTS[strategy]
    assert all(
        S.is_zero(got - want)
        for got, want in zip((a, b, c, 1 - a - b, 1 - a - c), stated, strict=True)
    )
    # every coefficient is >= 0 on the strategy's domain: eps, eps_pos, eps_neg in [0, 1] with
    # eps_pos + eps_neg <= 1, N >= 1 and 0 <= n <= N (n real: soft targets)
    e, f, g, k, q, r = sp.symbols("e f g k q r", nonnegative=True)
    dom = {
        S.eps: e / (e + f),
        S.eps_pos: e / (e + f + g),
        S.eps_neg: f / (e + f + g),
        S.N: 1 + k,
        S.n: (1 + k) * q / (q + r),
    }
    assert all(S.certify_nonnegative(s, dom) for s in stated)
    # ... so with u, y in [0, 1] so are t and 1 - t (the per-label coefficients of A and B)
    yy, uu = q / (q + r), sp.Symbol("v", nonnegative=True)
    dom_u = {**dom, u: uu / (uu + g), y: yy}
    tt = a * u + b * y + c * (1 - y)
    assert S.certify_nonnegative(tt, dom_u) and S.certify_nonnegative(1 - tt, dom_u)
    # A_j, B_j >= 0: softplus(+-x) = log of an argument >= 1 (x = log z, z > 0)
    assert S.certify_nonnegative(sp.exp(S.softplus(LX)) - 1, {})
    assert S.certify_nonnegative(sp.exp(S.softplus(-LX)) - 1, {})
    if strategy == "binary":  # the note's example: eps = 0 zeroes the coefficient of sum y B
        assert stated[3].subs(E, 0) == 0


_A_NUM = sp.lambdify((S.x, S.w, S.pw), _A(S.x, S.w, S.pw), "numpy")
_B_NUM = sp.lambdify((S.x, S.w), _B(S.x, S.w), "numpy")
_FORM = sp.lambdify((ka, kb, kc, AU, A1, A0, B1, B0, BV), ROW_FORM, "numpy")
_FORM_U1 = sp.lambdify((ka, kb, kc, A1, A0, B1, B0), ROW_FORM_U1, "numpy")


@pytest.mark.parametrize("strategy", S.SIGMOID)
def test_D2_8_code_row_sums(strategy):
    rng = np.random.default_rng(28)
    B_, N_ = 6, 8
    x, y, known = T.random_problem(rng, B_, N_, masked=True)
    kw = T.draw_params(strategy, rng, N_)
    w, pw = rng.uniform(0.3, 2.0, N_), rng.uniform(0.3, 3.0, N_)
    u_ = np.asarray(kw["prior"]) if strategy in S.PRIOR else np.ones(N_)
    for soft in (False, True):
        yv = y * rng.uniform(0.2, 1.0, y.shape) if soft else y
        for opts in ({}, {"weight": w}, {"weight": w, "pos_weight": pw}):
            got, _ = T.shipped(
                strategy, kw, x, yv, reduction="sum", ignore_mask=~known, backend="torch",
                soft_targets=soft, **opts,
            )  # fmt: skip
            ww = opts.get("weight", np.ones(N_))
            pww = opts.get("pos_weight", np.ones(N_))
            want = want_u1 = 0.0
            for i in range(B_):
                K = known[i]
                yk = yv[i, K].astype(float)
                a, b, c, _ = T.coefficients(strategy, kw, yk.sum(), K.sum(), u_[K].sum())
                A = _A_NUM(x[i, K], ww[K], pww[K])
                Bv = _B_NUM(x[i, K], ww[K])
                sums = (
                    (u_[K] * A).sum(), (yk * A).sum(), ((1 - yk) * A).sum(),
                    (yk * Bv).sum(), ((1 - yk) * Bv).sum(), ((1 - u_[K]) * Bv).sum(),
                )  # fmt: skip
                want += _FORM(a, b, c, *sums)
                want_u1 += _FORM_U1(a, b, c, *sums[1:5])
            assert float(got) == pytest.approx(want, rel=1e-12)
            if strategy not in S.PRIOR:  # u = 1: the four-sum form too
                assert float(got) == pytest.approx(want_u1, rel=1e-12)


def test_D2_8_code_float32_huge_correct_logit():
    # A correct positive at x = 1e30 (binary, eps = 0): the loss is the 2 log 2 of the negatives.
    F = torch.nn.functional
    x = torch.tensor([[1e30, 0.0, 0.0]], dtype=torch.float32, requires_grad=True)
    yt = torch.tensor([[1, 0, 0]])
    loss = multilabel_smoothing_loss(
        x, yt, strategy="binary", epsilon=0.0, reduction="sum", backend="torch"
    )
    loss.backward()
    xr = x.detach().clone().requires_grad_(True)
    ref = F.binary_cross_entropy_with_logits(xr, yt.float(), reduction="sum")
    ref.backward()
    assert loss.dtype == torch.float32
    assert float(loss.detach()) == pytest.approx(2 * np.log(2), rel=1e-6)
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-6)
    torch.testing.assert_close(x.grad, xr.grad)
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.5, 0.5]], atol=1e-7)
    # ... while the D2.3 form SP + delta sum y h (alpha = gamma = 0, delta = 1) cancels to 0:
    xd = x.detach()
    SP = F.softplus(xd).sum()
    hy = -(xd * yt).sum()  # h = (pw - 1) softplus(-x) - x = -x
    assert float(SP + hy) == 0.0


_LARGE_CASES = [
    ("binary", {"epsilon": 0.0}),
    ("binary", {"epsilon": 0.1}),
    ("binary_uniform", {"epsilon": 0.1}),
    ("mass_preserving", {"epsilon": 0.2}),
    ("asymmetric", {"epsilon_pos": 0.0, "epsilon_neg": 0.1}),
    ("prior", {"epsilon": 0.2, "prior": [0.1, 0.5, 0.3, 0.9, 0.05, 0.2, 0.7, 0.4]}),
]


@pytest.mark.parametrize("scale", [1e4, 1e7])
@pytest.mark.parametrize(("strategy", "kw"), _LARGE_CASES, ids=[c[0] for c in _LARGE_CASES])
def test_D2_8_code_float32_large_logits(strategy, kw, scale):
    # Huge logits mixed with moderate ones: all correct in the first row (whose loss is small, so a
    # cancellation would show), one wrong in the second. Each row is its own call (reduction sum).
    s = scale
    xs = torch.tensor(
        [[s, -s, 0.5, -1.0, 2.0, s, -s, 0.0], [s, -s, -s, 0.5, 1.5, -0.7, s, 0.0]],
        dtype=torch.float32,
    )
    ys = torch.tensor([[1, 0, 1, 0, 0, 1, 0, 1], [1, 0, 1, 0, 1, 0, 1, 0]])
    kwt = {k: torch.tensor(v, dtype=torch.float32) if k == "prior" else v for k, v in kw.items()}
    for i in range(2):
        x, yt = xs[i : i + 1], ys[i : i + 1]
        xa = x.clone().requires_grad_(True)
        loss = multilabel_smoothing_loss(
            xa, yt, strategy=strategy, reduction="sum", backend="torch", **kwt
        )
        loss.backward()
        t = smooth_targets(yt, strategy=strategy, dtype=torch.float32, **kwt)
        xr = x.clone().requires_grad_(True)
        ref = torch.nn.functional.binary_cross_entropy_with_logits(xr, t, reduction="sum")
        ref.backward()
        assert loss.dtype == torch.float32
        assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-6)
        t64 = smooth_targets(yt, strategy=strategy, dtype=torch.float64, **kwt).numpy()
        exact = _BCE64(x.double().numpy(), t64).sum()
        assert float(loss.detach()) == pytest.approx(exact, rel=1e-6)
        torch.testing.assert_close(xa.grad, xr.grad, rtol=1e-6, atol=1e-6)


def _BCE64(xx, tt):
    """D2.1 in float64 with a stable softplus (the lambdified form overflows exp at 1e7)."""

    def spl(v):
        return np.maximum(v, 0) + np.log1p(np.exp(-np.abs(v)))

    return tt * spl(-xx) + (1 - tt) * spl(xx)
