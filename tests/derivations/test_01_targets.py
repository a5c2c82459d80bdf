"""Proofs of derivations/01_targets.md (D1.x): targets, sums, ranges, mixing, unknown labels,
the sparse identity, degenerate rows; and the ties of each claim to the shipped code."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from . import _sym as S
from . import _tie as T

# The formula of each strategy as its source writes it (y: the label's value, possibly soft).
Y = sp.Symbol("y", nonnegative=True)
SOURCE = {
    # Keras binary_crossentropy: y_true * (1 - ls) + 0.5 * ls
    "binary": Y * (1 - S.eps) + S.eps / 2,
    # timm BinaryCrossEntropy: on = 1 - eps + eps/N, off = eps/N
    "binary_uniform": Y * (1 - S.eps + S.eps / S.N) + (1 - Y) * S.eps / S.N,
    # transformers PR #48713: y (1 - eps) + eps * (sum_j y_j) / K
    "mass_preserving": Y * (1 - S.eps) + S.eps * S.n / S.N,
    "asymmetric": Y * (1 - S.eps_pos) + (1 - Y) * S.eps_neg,
    # issue 8: (1 - eps) y + eps pi
    "prior": (1 - S.eps) * Y + S.eps * S.pi,
    # fastai forum 46673, formulation C: (1 - eps) y/n + eps/N
    "uniform": (1 - S.eps) * Y / S.n + S.eps / S.N,
    # fastai forum 46673, formulation A: (1 - eps)/n on positives, eps/(N - n) on negatives
    "positive_split": Y * (1 - S.eps) / S.n + (1 - Y) * S.eps / (S.N - S.n),
    # PyTorch LossNLL.cpp: target * (1 - label_smoothing) + label_smoothing / n_classes
    "unnormalized": Y * (1 - S.eps) + S.eps / S.N,
    "asymmetric_softmax": Y * (1 - S.eps_pos) + (1 - Y) * S.eps_neg,
    # issue 8: (1 - eps) y/n + eps pi, pi renormalised over the known labels
    "prior_softmax": (1 - S.eps) * Y / S.n + S.eps * S.pi / S.U,
}

# The sums of the targets as the note states them (D1.2).
STATED_SUM = {
    "binary": S.n * (1 - S.eps) + S.N * S.eps / 2,
    "binary_uniform": S.n * (1 - S.eps) + S.eps,
    "mass_preserving": S.n,
    "asymmetric": S.n * (1 - S.eps_pos) + (S.N - S.n) * S.eps_neg,
    "prior": S.n * (1 - S.eps) + S.eps * S.U,
    "uniform": sp.Integer(1),
    "positive_split": sp.Integer(1),
    "unnormalized": S.n * (1 - S.eps) + S.eps,
    "asymmetric_softmax": S.n * (1 - S.eps_pos) + (S.N - S.n) * S.eps_neg,
    "prior_softmax": sp.Integer(1),
}


# --- D1.1 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D1_1_affine_form_equals_source_formula(strategy):
    assert S.is_zero(S.target(strategy, Y) - SOURCE[strategy])


def _check_targets(strategy, rng, *, masked, soft, by_index):
    x, y, known = T.random_problem(rng, 7, 9, masked=masked)
    kw = T.draw_params(strategy, rng, 9)
    yv = y * rng.uniform(0.2, 1.0, y.shape) if soft else y.astype(np.float64)
    yv[:, 0] = 1.0  # keep one full positive so that n > 0 for every row
    opts = {"soft_targets": soft}
    if masked and by_index:
        yin, opts["ignore_index"] = np.where(known, yv, -1.0), -1.0
    else:
        yin = yv
        if masked:
            opts["ignore_mask"] = torch.tensor(~known)
    got = T.shipped_targets(strategy, kw, yin, **opts)
    want, *_ = T.expected(strategy, kw, x, yv, known)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D1_1_code_smooth_targets_match_table(strategy):
    rng = np.random.default_rng(11)
    for masked, soft, by_index in (
        (False, False, False),
        (True, False, True),
        (True, False, False),
        (True, True, False),
    ):
        _check_targets(strategy, rng, masked=masked, soft=soft, by_index=by_index)


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D1_1_code_soft_targets_with_ignore_index(strategy):
    _check_targets(strategy, np.random.default_rng(11), masked=True, soft=True, by_index=True)


# --- D1.2 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D1_2_target_sum(strategy):
    # General form S = aU + bn + c(N - n) equals the stated closed form (symbolic N, n).
    assert S.is_zero(S.target_sum(strategy) - STATED_SUM[strategy])
    # ... and it is the sum of the row's targets: a row of 5 labels with symbolic soft values.
    ys, pis = S.vec("y", 5), S.vec("pi", 5)
    nn, UU = sum(ys), sum(pis) if strategy in S.PRIOR else 5
    total = sum(
        S.target(strategy, yj, pj if strategy in S.PRIOR else 1)
        for yj, pj in zip(ys, pis, strict=True)
    )
    stated = STATED_SUM[strategy].subs({S.n: nn, S.N: 5, S.U: UU})
    assert S.is_zero(total.subs({S.n: nn, S.N: 5, S.U: UU}) - stated)


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D1_2_code_target_sums(strategy):
    rng = np.random.default_rng(12)
    _, y, known = T.random_problem(rng, 9, 8, masked=True)
    kw = T.draw_params(strategy, rng, 8)
    got = T.shipped_targets(strategy, kw, np.where(known, y, -1), ignore_index=-1).sum(1)
    u = kw["prior"] if strategy in S.PRIOR else np.ones(8)
    f = sp.lambdify((S.eps, S.eps_pos, S.eps_neg, S.n, S.N, S.U), STATED_SUM[strategy])
    for i in range(9):
        K = known[i]
        want = f(
            kw.get("epsilon", 0),
            kw.get("epsilon_pos", 0),
            kw.get("epsilon_neg", 0),
            y[i, K].sum(),
            K.sum(),
            u[K].sum(),
        )
        assert got[i] == pytest.approx(want, rel=1e-12)


# --- D1.3 ----------------------------------------------------------------------------------------
def _domain(strategy):
    m, k, q, r, s1, s2 = sp.symbols("m k q r s1 s2", nonnegative=True)
    if strategy == "positive_split":
        d = S.domain()  # 1 <= n <= N - 1
    elif strategy in ("uniform", "prior_softmax"):
        d = S.domain(n=1 + m, N=1 + m + k)  # 1 <= n <= N
    else:
        d = S.domain(n=(1 + k) * s1 / (s1 + s2), N=1 + k)  # 0 <= n <= N, N >= 1
    if strategy == "prior_softmax":
        d[S.pi] = q
        d[S.U] = q + r  # U = pi_j + (prior of the other known labels)
    return d


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D1_3_targets_in_unit_interval_and_ordered(strategy):
    d = _domain(strategy)
    for tt in (S.t_pos(strategy), S.t_neg(strategy)):
        assert S.certify_nonnegative(tt, d)
        assert S.certify_nonnegative(1 - tt, d)
    gap = S.t_pos(strategy) - S.t_neg(strategy)
    if strategy == "positive_split":
        # Not ordered in general: the sign of N(1 - eps) - n decides.
        assert S.is_zero(gap - (S.N * (1 - S.eps) - S.n) / (S.n * (S.N - S.n)))
        assert not S.certify_nonnegative(gap, d) and not S.certify_nonnegative(-gap, d)
        at = gap.subs(S.eps, (S.N - S.n) / S.N)
        assert S.is_zero(at)
    else:
        assert S.certify_nonnegative(gap, d)


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D1_3_code_targets_in_unit_interval(strategy):
    rng = np.random.default_rng(13)
    for _ in range(5):
        _, y, _ = T.random_problem(rng, 16, 7)
        kw = T.draw_params(strategy, rng, 7)
        if "epsilon" in kw:
            kw["epsilon"] = float(rng.choice([0.0, 1.0, kw["epsilon"]]))
        got = T.shipped_targets(strategy, kw, y)
        assert (got >= 0).all() and (got <= 1 + 1e-15).all()


# --- D1.4 ----------------------------------------------------------------------------------------
LINEAR = (
    "binary",
    "binary_uniform",
    "mass_preserving",
    "asymmetric",
    "prior",
    "unnormalized",
    "asymmetric_softmax",
)
lam, y2, n2 = sp.symbols("lambda y2 n2", nonnegative=True)


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D1_4_mixing_soft_targets(strategy):
    def t_of(yy, nn):
        return S.target(strategy, yy).subs(S.n, nn)

    mixed = t_of(lam * Y + (1 - lam) * y2, lam * S.n + (1 - lam) * n2)
    diff = mixed - (lam * t_of(Y, S.n) + (1 - lam) * t_of(y2, n2))
    if strategy in LINEAR:
        assert S.is_zero(diff)
    elif strategy in ("uniform", "prior_softmax"):
        nbar = lam * S.n + (1 - lam) * n2
        stated = (
            lam * (1 - lam) * (1 - S.eps) * (S.n - n2) * (n2 * Y - S.n * y2) / (S.n * n2 * nbar)
        )
        assert S.is_zero(diff - stated)
    else:  # positive_split: both parts renormalise
        point = {
            S.eps: sp.Rational(1, 5),
            S.N: 7,
            S.n: 2,
            n2: 3,
            lam: sp.Rational(1, 3),
            Y: 1,
            y2: 0,
        }
        assert diff.subs(point) != 0  # nonzero at a point: mixing does not commute
        assert S.is_zero(diff.subs(n2, S.n))  # equal masses: mixing commutes again


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D1_4_code_soft_target_mixing(strategy):
    rng = np.random.default_rng(14)
    _, y1, _ = T.random_problem(rng, 6, 8)
    _, y2_, _ = T.random_problem(rng, 6, 8)
    lam_ = 0.3
    kw = T.draw_params(strategy, rng, 8)
    mix = lam_ * y1 + (1 - lam_) * y2_
    got = T.shipped_targets(strategy, kw, mix.astype(float), soft_targets=True)
    if strategy in LINEAR:
        want = lam_ * T.shipped_targets(strategy, kw, y1) + (1 - lam_) * T.shipped_targets(
            strategy, kw, y2_
        )
    else:  # the formula applied to the mixed target with n = its own mass
        want, *_ = T.expected(strategy, kw, np.zeros(mix.shape), mix, np.ones(mix.shape, bool))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


# --- D1.5 ----------------------------------------------------------------------------------------
def test_D1_5_unknown_labels_restricted_row():
    xs, ts = S.vec("x", 4, real=True), S.vec("t", 4)
    known = xs[:3]
    # Rule of the note: the softmax runs over the known labels; the unknown label has no term.
    L = S.ce(known, ts[:3])
    assert sp.diff(L, xs[3]) == 0
    # The other convention (softmax over all labels, target 0 at the unknown one) differs by
    # S log(1 + e^{x4} / sum_known e^x) and pulls the unknown logit down with S p_4.
    Ssum = sum(ts[:3])
    assert S.is_zero(sp.diff(S.ce(xs, [*ts[:3], 0]), xs[3]) - Ssum * S.softmax(xs)[3])
    lx, zs = S.log_logits(4)
    gap = S.ce(lx, [*ts[:3], 0]) - S.ce(lx[:3], ts[:3])
    assert S.logs_vanish(gap - Ssum * sp.log(1 + zs[3] / sum(zs[:3])))
    # prior_softmax: with U = sum of pi over the known labels the smoothing part sums to eps.
    pis = S.vec("pi", 4)
    U_known = sum(pis[:3])
    part = sum(S.COEF["prior_softmax"][0].subs(S.U, U_known) * p for p in pis[:3])
    assert S.is_zero(part - S.eps)


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D1_5_code_unknown_labels_equal_restricted_row(strategy):
    rng = np.random.default_rng(15)
    x, y, known = T.random_problem(rng, 5, 9, masked=True)
    kw = T.draw_params(strategy, rng, 9)
    w = rng.uniform(0.5, 2.0, 9)
    loss, grad = T.shipped(strategy, kw, x, y, reduction="none", ignore_mask=~known, weight=w)
    _, want_loss, want_grad, _ = T.expected(strategy, kw, x, y, known, w=w)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-11, atol=1e-13)
    assert (grad[~known] == 0).all()
    for i in range(5):  # the masked row equals the row restricted to its known labels
        K = np.flatnonzero(known[i])
        kwr = dict(kw)
        if strategy in S.PRIOR:
            kwr["prior"] = np.asarray(kw["prior"])[K]
            if strategy == "prior_softmax":
                kwr["prior"] = kwr["prior"] / kwr["prior"].sum()
        lr, gr = T.shipped(
            strategy, kwr, x[i : i + 1, K], y[i : i + 1, K], reduction="none", weight=w[K]
        )
        np.testing.assert_allclose(lr.sum(), loss[i].sum(), rtol=1e-11)
        np.testing.assert_allclose(gr[0], grad[i, K], rtol=1e-11, atol=1e-13)


# --- D1.6 ----------------------------------------------------------------------------------------
def test_D1_6_sparse_identity():
    k = 5
    hs, us, ws = S.vec("h", k), S.vec("u", k), S.vec("w", k)
    alpha, gamma, delta = sp.symbols("alpha gamma delta")
    for row in S.all_rows(k):
        P = [j for j in range(k) if row[j]]
        dense = sum(row[j] * hs[j] for j in range(k))
        assert sp.expand(dense - sum(hs[j] for j in P)) == 0
        # The loss needs sum_j t_j h_j with t = alpha u + gamma + delta y: three row sums.
        tt = [alpha * us[j] + gamma + delta * row[j] for j in range(k)]
        full = sum(tt[j] * hs[j] for j in range(k))
        sums = alpha * sum(u * h for u, h in zip(us, hs, strict=True)) + gamma * sum(hs)
        assert sp.expand(full - sums - delta * sum(hs[j] for j in P)) == 0
        # The gradient's y-term -w_j delta y_j is a scatter of -delta w_j at the positives.
        for j in range(k):
            wt = ws[j] * tt[j]
            dense_part = ws[j] * (alpha * us[j] + gamma)
            scatter = delta * ws[j] if j in P else 0
            assert sp.expand(wt - dense_part - scatter) == 0


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D1_6_code_sparse_equals_dense_equals_notes(strategy):
    rng = np.random.default_rng(16)
    x, y, known = T.random_problem(rng, 6, 10, masked=True)
    kw = T.draw_params(strategy, rng, 10)
    w = rng.uniform(0.5, 2.0, 10)
    opts = {"ignore_mask": ~known, "weight": w}
    ls, gs = T.shipped(strategy, kw, x, y, reduction="none", sparse=True, **opts)
    ld, gd = T.shipped(strategy, kw, x, y, reduction="none", **opts)
    _, want_loss, want_grad, _ = T.expected(strategy, kw, x, y, known, w=w)
    np.testing.assert_allclose(ls, want_loss, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(gs, want_grad, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(ls, ld, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gs, gd, rtol=1e-12, atol=1e-14)


# --- D1.7 ----------------------------------------------------------------------------------------
UNDEFINED = {"uniform": {0}, "positive_split": {0, "N"}, "prior_softmax": {0}}


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D1_7_degenerate_rows(strategy):
    a, b, c = S.COEF[strategy]
    y = sp.Symbol("y", nonnegative=True)
    for where, nval in ((0, sp.Integer(0)), ("N", S.N)):
        tt = S.target(strategy, y).subs(S.n, nval)
        undefined = tt.has(sp.zoo, sp.nan) or any(
            sp.denom(sp.together(e)).subs(S.n, nval) == 0 for e in (a, b, c)
        )
        assert undefined == (where in UNDEFINED.get(strategy, set()))
    if strategy in ("uniform", "positive_split", "prior_softmax"):
        # renormalize at n = 0: the defined part (smoothing) rescaled to sum 1 is u / U.
        k = 4
        pis = S.vec("pi", k)
        us = pis if strategy == "prior_softmax" else [1] * k
        UU = sum(us)
        subs = {S.N: k, S.U: UU}
        if strategy == "positive_split":
            part = [c.subs({S.n: 0, **subs}) for _ in range(k)]  # eps/(N - 0) on every label
        else:
            part = [(a * u).subs(subs) for u in us]
        tot = sum(part)
        assert S.is_zero(tot - S.eps)
        for pj, u in zip(part, us, strict=True):
            assert S.is_zero(pj / tot - u / UU)
    if strategy == "positive_split":
        # renormalize at n = N: the defined part (1 - eps) y/n rescaled is y/n = 1/N: uniform.
        k = 4
        part = [b.subs({S.n: k, S.N: k}) for _ in range(k)]
        assert all(S.is_zero(p / sum(part) - sp.Rational(1, k)) for p in part)


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D1_7_code_row_policies(strategy):
    rng = np.random.default_rng(17)
    N = 6
    x = rng.normal(0, 2, (6, N))
    y = np.array([[0] * N, [1] * N, [1, 0, 0, 1, 0, 0], [0] * N, [1, 1, 0, 0, 0, 0], [0] * N])
    known = np.ones((6, N), bool)
    known[3, :4] = False  # row 3: empty among its known labels
    known[5, :] = False  # row 5: no known label at all (N = 0)
    kw = T.draw_params(strategy, rng, N)
    policies = ["skip", "error"]
    policies += ["renormalize"] if strategy in S.SOFTMAX else []
    policies += (
        ["keep"]
        if strategy in S.SIGMOID or strategy in ("unnormalized", "asymmetric_softmax")
        else []
    )
    for empty in policies:
        for full in policies if strategy == "positive_split" else [full_default(strategy)]:
            if "error" in (empty, full):
                with pytest.raises(ValueError, match="row"):
                    T.shipped(
                        strategy,
                        kw,
                        x,
                        y,
                        reduction="sum",
                        ignore_mask=~known,
                        empty_rows=empty,
                        full_rows=full,
                    )
                continue
            opts = {"ignore_mask": ~known, "empty_rows": empty, "full_rows": full}
            loss, grad = T.shipped(strategy, kw, x, y, reduction="none", **opts)
            _, wl, wg, valid = T.expected(strategy, kw, x, y, known, empty=empty, full=full)
            np.testing.assert_allclose(loss, wl, rtol=1e-11, atol=1e-13)
            np.testing.assert_allclose(grad, wg, rtol=1e-11, atol=1e-13)
            assert not valid[5] and (grad[5] == 0).all()
            mean, _ = T.shipped(strategy, kw, x, y, reduction="mean", **opts)
            count = valid.sum() if strategy in S.SOFTMAX else (known & valid[:, None]).sum()
            assert float(mean) == pytest.approx(wl.sum() / count, rel=1e-11)


def full_default(strategy):
    return "keep"


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D1_5_code_positions_of_dense_outputs_are_rows(strategy):
    # (B, N, R) logits: every position r of every example is one row of N labels (labels on dim 1)
    rng = np.random.default_rng(151)
    B, N, R = 3, 6, 4
    x = rng.normal(0, 2, (B, N, R))
    y = (rng.random((B, N, R)) < 0.4).astype(np.int64)
    y[:, 0], y[:, 1] = 1, 0
    known = rng.random((B, N, R)) > 0.3
    known[:, :2] = True
    kw = T.draw_params(strategy, rng, N)
    w = rng.uniform(0.5, 2.0, N)
    loss, grad = T.shipped(strategy, kw, x, y, reduction="none", ignore_mask=~known, weight=w)

    def rows(a):
        return a.transpose(0, 2, 1).reshape(-1, N)

    _, want_loss, want_grad, _ = T.expected(strategy, kw, rows(x), rows(y), rows(known), w=w)
    got_loss = rows(loss) if strategy in S.SIGMOID else loss.reshape(-1)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(rows(grad), want_grad, rtol=1e-11, atol=1e-13)
