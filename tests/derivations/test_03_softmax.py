"""Proofs of derivations/03_softmax.md (D3.x) and their ties to the shipped softmax losses."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import sympy as sp
import torch

from multilabel_ls import multilabel_smoothing_loss, smooth_targets

from . import _sym as S
from . import _tie as T


# --- D3.1 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_D3_1_softmax_loss(k):
    lx, zs = S.log_logits(k)
    ts, ws = S.vec("t", k), S.vec("w", k)
    p = S.softmax(lx)
    textbook = -sum(ws[j] * ts[j] * sp.log(p[j]) for j in range(k))
    assert S.logs_vanish(sp.expand_log(S.ce(lx, ts, ws) - textbook, force=True))
    # invariant to adding a constant c to every logit (z -> e^c z)
    c = sp.Symbol("C", positive=True)
    shifted = S.ce([sp.log(c * v) for v in zs], ts, ws)
    assert S.logs_vanish(sp.expand_log(shifted - S.ce(lx, ts, ws), force=True))


@pytest.mark.parametrize("strategy", S.SOFTMAX)
def test_D3_1_code_softmax_loss(strategy):
    rng = np.random.default_rng(31)
    x, y, known = T.random_problem(rng, 6, 8, masked=True)
    kw = T.draw_params(strategy, rng, 8)
    w = rng.uniform(0.3, 2.0, 8)
    for opts in ({}, {"weight": w}):
        loss, _ = T.shipped(strategy, kw, x, y, reduction="none", ignore_mask=~known, **opts)
        _, want, _, _ = T.expected(strategy, kw, x, y, known, w=opts.get("weight"))
        np.testing.assert_allclose(loss, want, rtol=1e-12, atol=1e-14)
        mean, _ = T.shipped(strategy, kw, x, y, reduction="mean", ignore_mask=~known, **opts)
        assert float(mean) == pytest.approx(want.sum() / 6, rel=1e-12)
        shifted, _ = T.shipped(
            strategy, kw, x + 3.7, y, reduction="none", ignore_mask=~known, **opts
        )
        np.testing.assert_allclose(shifted, loss, rtol=1e-12)


# --- D3.2 ----------------------------------------------------------------------------------------
def test_D3_2_softmax_gradient_general_N():
    Nsym = sp.Symbol("N", integer=True, positive=True)
    j, k, m = sp.symbols("j k m", integer=True, positive=True)
    x, t, w = sp.IndexedBase("x"), sp.IndexedBase("t"), sp.IndexedBase("w")
    Z = sp.Sum(sp.exp(x[k]), (k, 1, Nsym))
    L = sp.Sum(w[m] * t[m] * (sp.log(Z) - x[m]), (m, 1, Nsym))
    g = sp.diff(L, x[j]).doit()
    # sympy answers with a Piecewise on 1 <= j <= N; the branch for a label of the row:
    (branch, cond), *_ = g.args
    assert cond == (Nsym >= j)
    Sw = sp.Sum(w[m] * t[m], (m, 1, Nsym))
    stated = Sw * sp.exp(x[j]) / Z - w[j] * t[j]
    assert sp.simplify(sp.factor_terms(branch) - stated) == 0


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_D3_2_softmax_gradient(k):
    xs, ts, ws = S.vec("x", k, real=True), S.vec("t", k), S.vec("w", k)
    lx, _ = S.log_logits(k)
    L = S.ce(xs, ts, ws)
    for j, gj in enumerate(S.ce_grad(xs, ts, ws)):
        d = sp.diff(L, xs[j]) - gj
        assert S.is_zero(d.subs(dict(zip(xs, lx, strict=True))))


@pytest.mark.parametrize("strategy", S.SOFTMAX)
def test_D3_2_code_softmax_gradient(strategy):
    rng = np.random.default_rng(32)
    x, y, known = T.random_problem(rng, 6, 8, masked=True)
    kw = T.draw_params(strategy, rng, 8)
    w = rng.uniform(0.3, 2.0, 8)
    for opts in ({}, {"weight": w}):
        _, grad = T.shipped(strategy, kw, x, y, reduction="sum", ignore_mask=~known, **opts)
        _, _, want, _ = T.expected(strategy, kw, x, y, known, w=opts.get("weight"))
        np.testing.assert_allclose(grad, want, rtol=1e-12, atol=1e-14)
        _, gmean = T.shipped(strategy, kw, x, y, reduction="mean", ignore_mask=~known, **opts)
        np.testing.assert_allclose(gmean, want / 6, rtol=1e-12, atol=1e-15)


# --- D3.3 ----------------------------------------------------------------------------------------
def test_D3_3_softmax_row_sum_form():
    k = 4
    lx, _ = S.log_logits(k)
    alpha, gamma, delta = sp.symbols("alpha gamma delta")
    us, ys, ws = S.vec("u", k), S.vec("y", k), S.vec("w", k)
    ts = [alpha * us[j] + gamma + delta * ys[j] for j in range(k)]
    L = S.lse(lx)
    hs = [ws[j] * (L - lx[j]) for j in range(k)]
    form = (
        alpha * sum(us[j] * hs[j] for j in range(k))
        + gamma * sum(hs)
        + delta * sum(ys[j] * hs[j] for j in range(k))
    )
    assert S.logs_vanish(sp.expand_log(sp.expand(S.ce(lx, ts, ws) - form), force=True))
    Sw = sum(ws[j] * ts[j] for j in range(k))
    mass = (
        alpha * sum(ws[j] * us[j] for j in range(k))
        + gamma * sum(ws)
        + delta * sum(ws[j] * ys[j] for j in range(k))
    )
    assert sp.expand(Sw - mass) == 0


@pytest.mark.parametrize("strategy", S.SOFTMAX)
def test_D3_3_code_row_sums(strategy):
    rng = np.random.default_rng(33)
    x, y, known = T.random_problem(rng, 6, 8, masked=True)
    kw = T.draw_params(strategy, rng, 8)
    w = rng.uniform(0.3, 2.0, 8)
    loss, _ = T.shipped(strategy, kw, x, y, reduction="none", ignore_mask=~known, weight=w)
    u = np.asarray(kw["prior"]) if strategy in S.PRIOR else np.ones(8)
    for i in range(6):
        K = known[i]
        a, b, c, _ = T.coefficients(strategy, kw, y[i, K].sum(), K.sum(), u[K].sum())
        xk = x[i, K]
        lse = np.log(np.exp(xk - xk.max()).sum()) + xk.max()
        h = w[K] * (lse - xk)
        want = a * (u[K] * h).sum() + c * h.sum() + (b - c) * (y[i, K] * h).sum()
        assert loss[i] == pytest.approx(want, rel=1e-12)


# --- D3.4 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [2, 3, 4])
def test_D3_4_softmax_hessian(k):
    xs, ts, ws = S.vec("x", k, real=True), S.vec("t", k), S.vec("w", k)
    lx, _ = S.log_logits(k)
    sub = dict(zip(xs, lx, strict=True))
    L = S.ce(xs, ts, ws)
    p = S.softmax(xs)
    Sw = sum(ws[j] * ts[j] for j in range(k))
    for i in range(k):
        for j in range(k):
            stated = Sw * ((p[i] if i == j else 0) - p[i] * p[j])
            assert S.is_zero((sp.diff(L, xs[i], xs[j]) - stated).subs(sub))
    # the constant direction is in the kernel: H 1 = 0
    for i in range(k):
        row = sum(Sw * ((p[i] if i == j else 0) - p[i] * p[j]) for j in range(k))
        assert S.is_zero(row.subs(sub))
    # v' (diag p - p p') v = sum_j p_j (v_j - p.v)^2 >= 0 (a variance), for any distribution p
    ps, vs = S.vec("p", k, positive=True), S.vec("v", k, real=True)
    last = 1 - sum(ps[:-1])  # impose sum p = 1
    ps = [*ps[:-1], last]
    quad = sum(ps[j] * vs[j] ** 2 for j in range(k)) - sum(ps[j] * vs[j] for j in range(k)) ** 2
    mean = sum(ps[j] * vs[j] for j in range(k))
    var = sum(ps[j] * (vs[j] - mean) ** 2 for j in range(k))
    assert sp.expand(quad - var) == 0


@pytest.mark.parametrize("strategy", S.SOFTMAX)
def test_D3_4_code_curvature_and_shift(strategy):
    rng = np.random.default_rng(34)
    x, y, _ = T.random_problem(rng, 3, 6)
    kw = T.draw_params(strategy, rng, 6)
    t, *_ = T.expected(strategy, kw, x, y, np.ones_like(y, bool))
    v = rng.normal(size=x.shape)
    h = 1e-5
    _, gp = T.shipped(strategy, kw, x + h * v, y)
    _, gm = T.shipped(strategy, kw, x - h * v, y)
    Hv = (gp - gm) / (2 * h)
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    Sw = t.sum(1, keepdims=True)
    want = Sw * (p * v - p * (p * v).sum(1, keepdims=True))
    np.testing.assert_allclose(Hv, want, rtol=1e-6, atol=1e-9)
    assert ((v * Hv).sum(1) >= 0).all()
    _, g = T.shipped(strategy, kw, x, y)
    np.testing.assert_allclose(g.sum(1), 0.0, atol=1e-13)  # gradient is orthogonal to 1


# --- D3.5 ----------------------------------------------------------------------------------------
def test_D3_5_softmax_minimiser():
    k = 3
    ts, ws = S.vec("t", k, positive=True), S.vec("w", k, positive=True)
    xstar = [sp.log(ws[j] * ts[j]) for j in range(k)]  # plus any constant
    for g in S.ce_grad(xstar, ts, ws):
        assert S.is_zero(g)
    Sw = sum(ws[j] * ts[j] for j in range(k))
    p = S.softmax(xstar)
    assert all(S.is_zero(p[j] - ws[j] * ts[j] / Sw) for j in range(k))
    # minimum value: -sum w t log(w t / S_w) = S_w H(q), q = w t / S_w
    value = S.ce(xstar, ts, ws) + sum(ws[j] * ts[j] * sp.log(ws[j] * ts[j] / Sw) for j in range(k))
    assert S.logs_vanish(sp.expand_log(sp.expand(value), force=True))
    # a zero target has no finite minimiser: the loss keeps falling as its logit goes to -inf
    xs = S.vec("x", k, real=True)
    d = sp.diff(S.ce(xs, [0, *ts[1:]], ws), xs[0])
    assert S.is_zero(d - (ws[1] * ts[1] + ws[2] * ts[2]) * S.softmax(xs)[0])


@pytest.mark.parametrize("strategy", S.SOFTMAX)
def test_D3_5_code_minimiser(strategy):
    rng = np.random.default_rng(35)
    _, y, _ = T.random_problem(rng, 4, 7)
    kw = T.draw_params(strategy, rng, 7)
    if strategy in S.ASYMMETRIC:
        kw["epsilon_neg"] = max(kw["epsilon_neg"], 0.01)
    w = rng.uniform(0.5, 2.0, 7)
    t, *_ = T.expected(strategy, kw, np.zeros(y.shape), y, np.ones_like(y, bool))
    xstar = np.log(w * t) + rng.normal(size=(4, 1))  # any shift per row
    loss, grad = T.shipped(strategy, kw, xstar, y, reduction="none", weight=w)
    np.testing.assert_allclose(grad, 0.0, atol=1e-13)
    q = w * t / (w * t).sum(1, keepdims=True)
    np.testing.assert_allclose(loss, -(w * t * np.log(q)).sum(1), rtol=1e-12)


# --- D3.6 ----------------------------------------------------------------------------------------
E, Nn, n_, P, Pk, UU = S.eps, S.N, S.n, S.pi, sp.Symbol("pi_k", positive=True), S.U
OPTIMUM = {  # (p*_pos, p*_neg, gap = x*_pos - x*_neg), as the note states them
    "uniform": ((1 - E) / n_ + E / Nn, E / Nn, sp.log(1 + Nn * (1 - E) / (n_ * E))),
    "positive_split": ((1 - E) / n_, E / (Nn - n_), sp.log((1 - E) * (Nn - n_) / (E * n_))),
    "unnormalized": (
        (1 - E + E / Nn) / (n_ * (1 - E) + E),
        (E / Nn) / (n_ * (1 - E) + E),
        sp.log(1 + Nn * (1 - E) / E),
    ),
    "asymmetric_softmax": (
        (1 - S.eps_pos) / (n_ * (1 - S.eps_pos) + (Nn - n_) * S.eps_neg),
        S.eps_neg / (n_ * (1 - S.eps_pos) + (Nn - n_) * S.eps_neg),
        sp.log((1 - S.eps_pos) / S.eps_neg),
    ),
    # a positive j (prior pi) against a negative k (prior pi_k)
    "prior_softmax": (
        (1 - E) / n_ + E * P / UU,
        E * Pk / UU,
        sp.log((UU * (1 - E) / n_ + E * P) / (E * Pk)),
    ),
}


@pytest.mark.parametrize("strategy", S.SOFTMAX)
def test_D3_6_softmax_optimum_per_strategy(strategy):
    Ssum = S.target_sum(strategy)
    ppos = S.t_pos(strategy) / Ssum
    pneg = S.t_neg(strategy, u=Pk if strategy == "prior_softmax" else 1) / Ssum
    sp_pos, sp_neg, gap = OPTIMUM[strategy]
    assert S.is_zero(ppos - sp_pos) and S.is_zero(pneg - sp_neg)
    assert S.is_zero(sp.exp(gap) - ppos / pneg)  # x*_j = log p*_j + c


@pytest.mark.parametrize("strategy", S.SOFTMAX)
@pytest.mark.parametrize("n_pos", [1, 2, 4])
def test_D3_6_code_optimum_by_minimisation(strategy, n_pos):
    N = 6
    y = np.zeros((1, N), dtype=np.int64)
    y[0, :n_pos] = 1
    kw = {"epsilon_pos": 0.2, "epsilon_neg": 0.05} if strategy in S.ASYMMETRIC else {"epsilon": 0.2}
    if strategy == "prior_softmax":
        kw["prior"] = np.full(N, 1 / N)  # uniform prior: comparable with `uniform`
    xt = torch.zeros(1, N, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([xt], lr=1, max_iter=200, tolerance_grad=1e-14, tolerance_change=0)
    kwt = {k: torch.tensor(v) if k == "prior" else v for k, v in kw.items()}

    def closure():
        opt.zero_grad()
        loss = multilabel_smoothing_loss(xt, torch.tensor(y), strategy=strategy, **kwt)
        loss.backward()
        return loss

    opt.step(closure)
    p = torch.softmax(xt.detach(), 1).numpy()[0]
    vals = {
        S.eps: kw.get("epsilon", 0),
        S.eps_pos: kw.get("epsilon_pos", 0),
        S.eps_neg: kw.get("epsilon_neg", 0),
        S.N: N,
        S.n: n_pos,
        S.pi: 1 / N,
        Pk: 1 / N,
        S.U: 1,
    }
    ppos, pneg, _ = (float(e.subs(vals)) for e in OPTIMUM[strategy])
    np.testing.assert_allclose(p[:n_pos], ppos, rtol=1e-7)
    np.testing.assert_allclose(p[n_pos:], pneg, rtol=1e-7)


# --- D3.7 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", S.SOFTMAX)
def test_D3_7_optimum_depends_on_n(strategy):
    g, q, r = sp.symbols("g q r", nonnegative=True)
    dom = S.domain()  # 1 <= n <= N - 1, eps in [0, 1], eps_pos + eps_neg <= 1
    dom[P], dom[Pk], dom[UU] = q, r, q + r + g
    sp_pos, _, gap = OPTIMUM[strategy]
    # the optimal probability of a positive falls as the row gets more positives
    assert S.certify_nonnegative(-sp.diff(sp_pos, S.n), dom)
    dgap = sp.diff(sp.exp(gap), S.n)
    if strategy in ("unnormalized", "asymmetric_softmax"):
        assert dgap == 0  # ... while the logit gap does not depend on n
    else:
        assert S.certify_nonnegative(-dgap, dom)  # ... and the gap shrinks with n
    if strategy == "uniform":  # with one positive: 1 - eps + eps/N; with n: (1 - eps)/n + eps/N
        assert S.is_zero(sp_pos.subs(S.n, 1) - (1 - E + E / Nn))
        at = {E: sp.Rational(1, 10), Nn: 10}  # the note's numbers: 0.91 and 0.19
        assert sp_pos.subs({**at, S.n: 1}) == sp.Rational(91, 100)
        assert sp_pos.subs({**at, S.n: 5}) == sp.Rational(19, 100)


@pytest.mark.parametrize("strategy", S.SOFTMAX)
def test_D3_7_code_same_label_different_rows(strategy):
    # The same label, positive in a row with 1 positive and in a row with 3: the shipped gradient
    # vanishes at the stated optimum of each row, so one logit cannot fit both rows.
    N = 5
    kw = {"epsilon_pos": 0.2, "epsilon_neg": 0.05} if strategy in S.ASYMMETRIC else {"epsilon": 0.2}
    if strategy == "prior_softmax":
        kw["prior"] = np.full(N, 1 / N)
    y = np.array([[1, 0, 0, 0, 0], [1, 1, 1, 0, 0]])
    t, *_ = T.expected(strategy, kw, np.zeros(y.shape), y, np.ones_like(y, bool))
    xstar = np.log(t)
    _, grad = T.shipped(strategy, kw, xstar, y)
    np.testing.assert_allclose(grad, 0.0, atol=1e-13)
    p = t / t.sum(1, keepdims=True)
    assert p[0, 0] > p[1, 0] + 0.1


# --- D3.8 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", [s for s in S.SOFTMAX if s != "prior_softmax"])
def test_D3_8_degenerate_rows_have_uniform_optimum(strategy):
    k = 4
    sub = {S.N: k}
    if strategy != "positive_split":  # n = N, formula (renormalize for positive_split below)
        full = [S.target(strategy, 1).subs({**sub, S.n: k})] * k
        assert all(S.is_zero(v / sum(full) - sp.Rational(1, k)) for v in full)
    if strategy in ("unnormalized", "asymmetric_softmax"):  # n = 0, formula
        empty = [S.target(strategy, 0).subs({**sub, S.n: 0})] * k
        assert all(S.is_zero(v / sum(empty) - sp.Rational(1, k)) for v in empty)
    # at equal logits the gradient S (p - t/S) vanishes for any target proportional to 1
    xs = [sp.Integer(0)] * k
    tc = sp.Symbol("tc", positive=True)
    assert all(S.is_zero(g) for g in S.ce_grad(xs, [tc] * k))


@pytest.mark.parametrize("strategy", S.SOFTMAX)
def test_D3_8_code_degenerate_rows(strategy):
    N = 5
    rng = np.random.default_rng(38)
    kw = T.draw_params(strategy, rng, N)
    y = np.array([[1] * N, [0] * N])
    opts = {"empty_rows": "renormalize", "full_rows": "renormalize"}
    x = np.zeros((2, N))
    _, grad = T.shipped(strategy, kw, x, y, **opts)
    if strategy == "prior_softmax":  # n = 0: optimum pi / U; n = N: (1 - eps)/N + eps pi
        pri, e = np.asarray(kw["prior"]), kw["epsilon"]
        xstar = np.log(np.vstack([(1 - e) / N + e * pri, pri]))
        _, g2 = T.shipped(strategy, kw, xstar, y, empty_rows="renormalize", full_rows="keep")
        np.testing.assert_allclose(g2, 0.0, atol=1e-13)
    else:
        np.testing.assert_allclose(grad, 0.0, atol=1e-13)


# --- D3.9 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_D3_9_max_relative_form(k):
    lx, zs = S.log_logits(k)
    ws, ts = S.vec("w", k), S.vec("t", k)
    for m in range(k):  # label m is the row's maximum: z_j = z_m q_j / (q_j + r_j) <= z_m
        M = lx[m]
        L = sp.log(sum(sp.exp(v - M) for v in lx))
        p = S.softmax(lx)
        for j in range(k):
            # -log softmax_j = lse - x_j = (M - x_j) + L, and p_j = exp((x_j - M) - L)
            assert S.logs_vanish(sp.expand_log((S.lse(lx) - lx[j]) - ((M - lx[j]) + L), force=True))
            assert S.is_zero(sp.exp((lx[j] - M) - L) - p[j])
        # the loss of D3.1 with h_j = w_j ((M - x_j) + L)
        form = sum(ws[j] * ts[j] * ((M - lx[j]) + L) for j in range(k))
        assert S.logs_vanish(sp.expand_log(sp.expand(S.ce(lx, ts, ws) - form), force=True))
        # both terms are >= 0 and L <= log N (signs of exp(.) - 1 and of N - exp(L))
        qs, rs = S.vec("q", k, nonnegative=True), S.vec("r", k, nonnegative=True)
        dom = {zs[j]: zs[m] * qs[j] / (qs[j] + rs[j]) for j in range(k) if j != m}
        for j in range(k):
            assert S.certify_nonnegative(sp.exp(M - lx[j]) - 1, dom)
        assert S.certify_nonnegative(sp.exp(L) - 1, dom)
        assert S.certify_nonnegative(k - sp.exp(L), dom)


@pytest.mark.parametrize("strategy", S.SOFTMAX)
def test_D3_9_coefficient_signs(strategy):
    # alpha = a >= 0, gamma = c >= 0; delta = b - c >= 0 except positive_split, eps > (N - n)/N
    a, b, c = S.COEF[strategy]
    dom = S.domain()  # 1 <= n <= N - 1, eps in [0, 1], eps_pos + eps_neg <= 1, U > 0
    assert S.certify_nonnegative(a, dom) and S.certify_nonnegative(c, dom)
    if strategy == "positive_split":
        # delta = (N (N - n)/N - eps N) / (n (N - n)): the sign of (N - n)/N - eps
        assert S.is_zero(b - c - S.N * ((S.N - S.n) / S.N - S.eps) / (S.n * (S.N - S.n)))
        # eps = theta (N - n)/N with theta in [0, 1]: delta >= 0; eps above the threshold: <= 0
        e, f, m, k = sp.symbols("e f m k", nonnegative=True)
        nn, NN, th = 1 + m, 2 + m + k, e / (e + f)
        below = {S.n: nn, S.N: NN, S.eps: th * (NN - nn) / NN}
        above = {S.n: nn, S.N: NN, S.eps: (NN - nn) / NN + th * nn / NN}
        assert S.certify_nonnegative(b - c, below)
        assert S.certify_nonnegative(c - b, above)
    else:
        assert S.certify_nonnegative(b - c, dom)


@cache
def _max_relative(k: int):
    """Lambdified D3.9: (h_1..h_k, p_1..p_k) of a row of k logits with weights."""
    xs, ws = S.vec("x", k, real=True), S.vec("w", k)
    Msym = sp.Symbol("M", real=True)
    L = sp.log(sum(sp.exp(v - Msym) for v in xs))
    h = [ws[j] * ((Msym - xs[j]) + L) for j in range(k)]
    p = [sp.exp((xs[j] - Msym) - L) for j in range(k)]
    return sp.lambdify((xs, ws, Msym), [h, p], "numpy")


@pytest.mark.parametrize("strategy", S.SOFTMAX)
def test_D3_9_code_max_relative_sums(strategy):
    rng = np.random.default_rng(39)
    B_, N_ = 6, 8
    x, y, known = T.random_problem(rng, B_, N_, masked=True)
    x = x + rng.normal(0.0, 30.0, (B_, 1))  # rows far from 0: lse and x_j are both large
    kw = T.draw_params(strategy, rng, N_)
    w = rng.uniform(0.3, 2.0, N_)
    u = np.asarray(kw["prior"]) if strategy in S.PRIOR else np.ones(N_)
    opts = {"ignore_mask": ~known, "weight": w, "backend": "torch"}
    loss, _ = T.shipped(strategy, kw, x, y, reduction="none", **opts)
    _, grad = T.shipped(strategy, kw, x, y, reduction="sum", **opts)
    for i in range(B_):
        K = known[i]
        xk, yk, wk, uk = x[i, K], y[i, K], w[K], u[K]
        a, b, c, _ = T.coefficients(strategy, kw, yk.sum(), K.sum(), uk.sum())
        h, p = (np.asarray(v) for v in _max_relative(int(K.sum()))(list(xk), list(wk), xk.max()))
        assert (h >= 0).all()
        want = a * (uk * h).sum() + c * h.sum() + (b - c) * (yk * h).sum()
        assert loss[i] == pytest.approx(want, rel=1e-12)
        tk = a * uk + b * yk + c * (1 - yk)
        Sw = a * (wk * uk).sum() + c * wk.sum() + (b - c) * (wk * yk).sum()
        np.testing.assert_allclose(grad[i, K], Sw * p - wk * tk, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(grad[i, ~K], 0.0)


def test_D3_9_code_float32_tied_logits():
    F = torch.nn.functional
    x = torch.tensor([[1e8, 1e8, 0.0, 0.0]], dtype=torch.float32)
    yt = torch.tensor([[1, 0, 0, 0]])
    # lse - x_1 loses the log 2 in float32 (lse = 1e8 + log 2 rounds to 1e8) ...
    assert float(torch.logsumexp(x, 1)[0] - x[0, 0]) == 0.0
    # ... the shipped loss (max-relative: M - x_1 = 0, L = log 2) keeps it, as PyTorch's CE does
    xa = x.clone().requires_grad_(True)
    loss = multilabel_smoothing_loss(
        xa, yt, strategy="uniform", epsilon=0.0, reduction="sum", backend="torch"
    )
    loss.backward()
    t = smooth_targets(yt, strategy="uniform", epsilon=0.0, dtype=torch.float32)
    xr = x.clone().requires_grad_(True)
    ref = F.cross_entropy(xr, t, reduction="sum")
    ref.backward()
    assert loss.dtype == torch.float32
    assert float(loss.detach()) == pytest.approx(np.log(2), rel=1e-6)
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-6)
    np.testing.assert_allclose(xa.grad.numpy(), [[-0.5, 0.5, 0.0, 0.0]], atol=1e-7)
    torch.testing.assert_close(xa.grad, xr.grad)
    # p = grad + t (S_w = 1): (1/2, 1/2, 0, 0)
    np.testing.assert_allclose((xa.grad + t).numpy(), [[0.5, 0.5, 0.0, 0.0]], atol=1e-7)


def test_D3_9_code_positive_split_no_cancellation():
    """positive_split at ε = 1 (b = 0, δ < 0): a huge h at a positive must not absorb the
    negatives' loss (the D3.3 combination γΣh + δΣyh gives 0 here in float32)."""
    F = torch.nn.functional
    x = torch.tensor([[-1e8, 0.0, 0.0, 0.0]], dtype=torch.float32)
    yt = torch.tensor([[1, 0, 0, 0]])
    t = smooth_targets(yt, strategy="positive_split", epsilon=1.0, dtype=torch.float32)
    assert float(t[0, 0]) == 0.0  # b = 0: the positive's target vanishes
    xa = x.clone().requires_grad_(True)
    loss = multilabel_smoothing_loss(
        xa, yt, strategy="positive_split", epsilon=1.0, reduction="sum", backend="torch"
    )
    loss.backward()
    xr = x.clone().requires_grad_(True)
    ref = F.cross_entropy(xr, t, reduction="sum")
    ref.backward()
    assert float(loss.detach()) == pytest.approx(np.log(3), rel=1e-6)
    assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-6)
    torch.testing.assert_close(xa.grad, xr.grad)
