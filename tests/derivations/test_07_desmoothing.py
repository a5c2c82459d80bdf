"""Proofs of derivations/07_desmoothing.md (D7.x): the population optimum of every strategy, the
de-smoothing maps, and where the clean-label probabilities are not identifiable; with ties to the
shipped loss (minimised numerically) and to multilabel_ls.desmooth."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from multilabel_ls import multilabel_smoothing_loss
from multilabel_ls.desmooth import NotIdentifiableError, desmooth_probabilities, desmooth_shares

from . import _sym as S
from . import _tie as T

E, EP, EM = S.eps, S.eps_pos, S.eps_neg
K = 3  # labels in the symbolic population proofs
ROWS = S.all_rows(K)
Q = sp.symbols(f"q0:{len(ROWS)}", nonnegative=True)  # P(row r | x)
NORMALISE = {Q[-1]: 1 - sum(Q[:-1])}


def _expect(f):
    """E[f(row)] under the symbolic row distribution Q (rows with n = 0 get probability 0 where
    ``f`` returns None)."""
    return sum(q * v for q, v in zip(Q, (f(r) for r in ROWS), strict=True) if v is not None)


def _targets(strategy, row, pis=None):
    nn = sum(row)
    if nn == 0 and strategy in ("uniform", "positive_split", "prior_softmax"):
        return None
    if nn == K and strategy == "positive_split":
        return None
    sub = {S.N: K, S.n: nn}
    if strategy in S.PRIOR:
        sub[S.U] = sum(pis)
    return [
        S.target(strategy, row[j], pis[j] if strategy in S.PRIOR else 1).subs(sub) for j in range(K)
    ]


def _eta():
    return [_expect(lambda r, j=j: r[j]) for j in range(K)]


# --- D7.1 ----------------------------------------------------------------------------------------
def test_D7_1_population_optimum():
    # sigmoid: the expected loss is the loss of the expected target (affine in t)
    x_ = sp.Symbol("x", real=True)
    q = sp.Symbol("q", nonnegative=True)
    t1, t2 = sp.symbols("t1 t2", nonnegative=True)
    mix = q * S.bce(x_, t1) + (1 - q) * S.bce(x_, t2) - S.bce(x_, q * t1 + (1 - q) * t2)
    assert S.is_zero(sp.expand(mix))
    # softmax: grad of E[L] is E[S] p - E[t], zero at p = E[t] / E[S] (unnormalised targets)
    xs = S.vec("x", K, real=True)
    EL = _expect(lambda r: S.ce(xs, _targets("unnormalized", r)))
    Et = [_expect(lambda r, j=j: _targets("unnormalized", r)[j]) for j in range(K)]
    ES = sum(Et)
    p = S.softmax(xs)
    lx, _ = S.log_logits(K)
    for j in range(K):
        d = sp.diff(EL, xs[j]) - (ES * p[j] - Et[j])
        assert S.is_zero(d.subs(dict(zip(xs, lx, strict=True))))
        at = (ES * p[j] - Et[j]).subs(dict(zip(xs, [sp.log(v) for v in Et], strict=True)))
        assert S.is_zero(at)


def _population(seed, N, B=40, fixed_n=None):
    rng = np.random.default_rng(seed)
    y = np.zeros((B, N), dtype=np.int64)
    for i in range(B):
        k = fixed_n if fixed_n is not None else int(rng.integers(1, N))
        y[i, rng.permutation(N)[:k]] = 1
    # label-dependent rates: make label 0 frequent
    y[: B // 2, 0] = 1
    if fixed_n is not None:  # keep n fixed after forcing label 0
        for i in range(B // 2):
            extra = np.flatnonzero(y[i, 1:]) + 1
            if y[i].sum() > fixed_n:
                y[i, extra[0]] = 0
    return y


def _fit(strategy, kw, y):
    """Minimise the shipped mean loss over one logit vector shared by all rows (float64)."""
    B, N = y.shape
    theta = torch.zeros(1, N, dtype=torch.float64, requires_grad=True)
    kwt = {k: torch.tensor(v) if k == "prior" else v for k, v in kw.items()}
    opt = torch.optim.LBFGS(
        [theta], lr=1, max_iter=500, tolerance_grad=1e-13, tolerance_change=0, history_size=50
    )
    yt = torch.tensor(y)

    def closure():
        opt.zero_grad()
        loss = multilabel_smoothing_loss(theta.expand(B, N), yt, strategy=strategy, **kwt)
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    th = theta.detach()
    return (torch.sigmoid(th) if strategy in S.SIGMOID else torch.softmax(th, 1)).numpy()[0]


@pytest.mark.parametrize("strategy", S.STRATEGIES)
def test_D7_1_code_population_optimum(strategy):
    N = 5
    y = _population(71, N, fixed_n=2 if strategy == "positive_split" else None)
    kw = T.draw_params(strategy, np.random.default_rng(7), N)
    if strategy in S.ASYMMETRIC:
        kw["epsilon_neg"] = max(kw["epsilon_neg"], 0.02)
    t, *_ = T.expected(strategy, kw, np.zeros(y.shape), y, np.ones_like(y, bool))
    p = _fit(strategy, kw, y)
    Et = t.mean(0)
    want = Et if strategy in S.SIGMOID else Et / Et.sum()
    np.testing.assert_allclose(p, want, rtol=1e-6, atol=1e-9)


# --- D7.2 ----------------------------------------------------------------------------------------
def _forward_sigmoid(strategy, eta, pis=None):
    """E[t_j] as a function of the marginals (the note's D7.2 forward maps)."""
    N_ = len(eta)
    if strategy == "binary":
        return [(1 - E) * e + E / 2 for e in eta]
    if strategy == "binary_uniform":
        return [(1 - E) * e + E / N_ for e in eta]
    if strategy == "mass_preserving":
        return [(1 - E) * e + (E / N_) * sum(eta) for e in eta]
    if strategy == "asymmetric":
        return [EM + (1 - EP - EM) * e for e in eta]
    return [(1 - E) * e + E * pj for e, pj in zip(eta, pis, strict=True)]  # prior


def _inverse_sigmoid(strategy, p, pis=None):
    N_ = len(p)
    if strategy == "binary":
        return [(v - E / 2) / (1 - E) for v in p]
    if strategy == "binary_uniform":
        return [(v - E / N_) / (1 - E) for v in p]
    if strategy == "mass_preserving":
        return [(v - (E / N_) * sum(p)) / (1 - E) for v in p]
    if strategy == "asymmetric":
        return [(v - EM) / (1 - EP - EM) for v in p]
    return [(v - E * pj) / (1 - E) for v, pj in zip(p, pis, strict=True)]


@pytest.mark.parametrize("strategy", S.SIGMOID)
def test_D7_2_sigmoid_desmoothing(strategy):
    pis = S.vec("pi", K, positive=True)
    eta = _eta()
    Et = [_expect(lambda r, j=j: _targets(strategy, r, pis)[j]) for j in range(K)]
    fwd = _forward_sigmoid(strategy, eta, pis)
    assert all(S.is_zero((a - b).subs(NORMALISE)) for a, b in zip(Et, fwd, strict=True))
    ps = S.vec("p", K)
    etas = S.vec("eta", K)
    back = _inverse_sigmoid(strategy, _forward_sigmoid(strategy, etas, pis), pis)
    assert all(S.is_zero(a - b) for a, b in zip(back, etas, strict=True))
    back = _forward_sigmoid(strategy, _inverse_sigmoid(strategy, ps, pis), pis)
    assert all(S.is_zero(a - b) for a, b in zip(back, ps, strict=True))


@pytest.mark.parametrize("strategy", S.SIGMOID)
def test_D7_2_code_desmooth_sigmoid(strategy):
    rng = np.random.default_rng(72)
    N = 6
    kw = T.draw_params(strategy, rng, N)
    eta = rng.uniform(0, 1, (5, N))
    pis = sp.symbols(f"pi0:{N}")
    etas = S.vec("eta", N)
    fwd = sp.lambdify((E, EP, EM, etas, pis), _forward_sigmoid(strategy, etas, list(pis)), "numpy")
    pri = kw.get("prior", np.zeros(N))
    args = (kw.get("epsilon", 0), kw.get("epsilon_pos", 0), kw.get("epsilon_neg", 0))
    p = np.array([fwd(*args, list(row), list(pri)) for row in eta])
    got = desmooth_probabilities(torch.tensor(p), strategy=strategy, **kw)
    np.testing.assert_allclose(got.numpy(), eta, rtol=1e-10, atol=1e-12)
    # end to end: minimise the shipped loss on a population, de-smooth, recover the marginals
    y = _population(720, 5)
    kw = T.draw_params(strategy, np.random.default_rng(8), 5)
    p_fit = _fit(strategy, kw, y)
    got = desmooth_probabilities(p_fit[None], strategy=strategy, **kw)[0]
    np.testing.assert_allclose(got, y.mean(0), rtol=1e-6, atol=1e-8)


# --- D7.3 ----------------------------------------------------------------------------------------
def _exchangeable(k_pos):
    """Uniform over the rows with exactly k_pos positives (as probabilities of ROWS)."""
    rows = [r for r in ROWS if sum(r) == k_pos]
    return {r: sp.Rational(1, len(rows)) for r in rows}


def _expect_under(dist, f):
    return sum(prob * f(r) for r, prob in dist.items())


@pytest.mark.parametrize("strategy", ["uniform", "prior_softmax"])
def test_D7_3_normalised_softmax_identifies_shares(strategy):
    pis = S.vec("pi", K, positive=True)
    U = sum(pis)
    rho = [_expect(lambda r, j=j: sp.Rational(r[j], sum(r)) if sum(r) else None) for j in range(K)]
    Et = [_expect(lambda r, j=j: (_targets(strategy, r, pis) or [None] * K)[j]) for j in range(K)]
    base = [1 / sp.Integer(K)] * K if strategy == "uniform" else [pj / U for pj in pis]
    # rows with n = 0 have probability 0 (or are skipped)
    no_empty = {Q[0]: 0, Q[-1]: 1 - sum(Q[1:-1])}
    for j in range(K):  # E[S] = 1: p_j = (1 - eps) rho_j + eps u_j / U
        assert S.is_zero((Et[j] - ((1 - E) * rho[j] + E * base[j])).subs(no_empty))
    # eta is not identifiable: n = 1 and n = 2 exchangeable rows give the same outputs
    if strategy == "uniform":
        outs = []
        etas = []
        for k_pos in (1, 2):
            d = _exchangeable(k_pos)
            outs.append(
                [_expect_under(d, lambda r, j=j: _targets(strategy, r)[j]) for j in range(K)]
            )
            etas.append([_expect_under(d, lambda r, j=j: r[j]) for j in range(K)])
        assert outs[0] == outs[1] and etas[0] != etas[1]
        # ... nor with E[n] known: same rho and same E[n], different eta (N = 3)
        s = sp.Rational(1, 20)
        base6 = {r: sp.Rational(1, 6) for r in ROWS if 0 < sum(r) < K}
        other = dict(base6)
        other[(1, 0, 0)] += s
        other[(0, 1, 0)] -= s
        other[(0, 1, 1)] += 2 * s
        other[(1, 0, 1)] -= 2 * s
        for dist in (base6, other):
            assert sum(dist.values()) == 1
        stats = []
        for dist in (base6, other):
            rho_ = [_expect_under(dist, lambda r, j=j: sp.Rational(r[j], sum(r))) for j in range(K)]
            eta_ = [_expect_under(dist, lambda r, j=j: r[j]) for j in range(K)]
            stats.append((rho_, sum(eta_), eta_))
        assert stats[0][0] == stats[1][0] and stats[0][1] == stats[1][1]
        assert stats[0][2] != stats[1][2]
    # with n fixed by x: eta_j = n rho_j
    k_pos = 2
    d = _exchangeable(k_pos)
    eta_ = [_expect_under(d, lambda r, j=j: r[j]) for j in range(K)]
    rho_ = [_expect_under(d, lambda r, j=j: sp.Rational(r[j], k_pos)) for j in range(K)]
    assert all(e == k_pos * r for e, r in zip(eta_, rho_, strict=True))


@pytest.mark.parametrize("strategy", ["uniform", "prior_softmax"])
def test_D7_3_code_desmooth_shares(strategy):
    N = 5
    y = _population(73, N)
    kw = T.draw_params(strategy, np.random.default_rng(9), N)
    p = _fit(strategy, kw, y)
    rho = (y / y.sum(1, keepdims=True)).mean(0)
    np.testing.assert_allclose(desmooth_shares(p[None], strategy=strategy, **kw)[0], rho, rtol=1e-6)
    with pytest.raises(NotIdentifiableError, match=strategy):
        desmooth_probabilities(p[None], strategy=strategy, **kw)
    y2 = _population(74, N, fixed_n=2)
    p2 = _fit(strategy, kw, y2)
    got = desmooth_probabilities(p2[None], strategy=strategy, num_positives=2, **kw)[0]
    np.testing.assert_allclose(got, y2.mean(0), rtol=1e-6, atol=1e-8)


# --- D7.4 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["unnormalized", "asymmetric_softmax"])
def test_D7_4_unnormalised_softmax_needs_expected_count(strategy):
    eta = _eta()
    nu = sum(eta)  # E[n | x]
    Et = [_expect(lambda r, j=j: _targets(strategy, r)[j]) for j in range(K)]
    ES = sum(Et)
    if strategy == "unnormalized":
        fwd_t, fwd_S = [(1 - E) * e + E / K for e in eta], (1 - E) * nu + E
        inv = [(sp.Symbol(f"p{j}") * ((1 - E) * nu + E) - E / K) / (1 - E) for j in range(K)]
    else:
        fwd_t = [EM + (1 - EP - EM) * e for e in eta]
        fwd_S = K * EM + (1 - EP - EM) * nu
        inv = [(sp.Symbol(f"p{j}") * fwd_S - EM) / (1 - EP - EM) for j in range(K)]
    assert all(S.is_zero((a - b).subs(NORMALISE)) for a, b in zip(Et, fwd_t, strict=True))
    assert S.is_zero((ES - fwd_S).subs(NORMALISE))
    # the inverse, given nu, returns eta
    back = [
        v.subs({sp.Symbol(f"p{j}"): fwd_t[j] / fwd_S for j in range(K)}) for j, v in enumerate(inv)
    ]
    assert all(S.is_zero((b - e).subs(NORMALISE)) for b, e in zip(back, eta, strict=True))
    # without nu: exchangeable rows with n = 1 and n = 2 give the same outputs 1/K
    for k_pos in (1, 2):
        d = _exchangeable(k_pos)
        t_ = [_expect_under(d, lambda r, j=j: _targets(strategy, r)[j]) for j in range(K)]
        assert all(S.is_zero(v / sum(t_) - sp.Rational(1, K)) for v in t_)


@pytest.mark.parametrize("strategy", ["unnormalized", "asymmetric_softmax"])
def test_D7_4_code_desmooth_with_expected_count(strategy):
    N = 5
    y = _population(75, N)
    kw = T.draw_params(strategy, np.random.default_rng(10), N)
    if strategy == "asymmetric_softmax":
        kw["epsilon_neg"] = max(kw["epsilon_neg"], 0.02)
    p = _fit(strategy, kw, y)
    with pytest.raises(NotIdentifiableError, match=strategy):
        desmooth_probabilities(p[None], strategy=strategy, **kw)
    got = desmooth_probabilities(p[None], strategy=strategy, num_positives=y.sum(1).mean(), **kw)
    np.testing.assert_allclose(got[0], y.mean(0), rtol=1e-6, atol=1e-8)


# --- D7.5 ----------------------------------------------------------------------------------------
def test_D7_5_positive_split():
    m = sp.Symbol("m", positive=True)  # n, fixed by x
    eta_j = sp.Symbol("eta_j", nonnegative=True)
    N = S.N
    # with n = m fixed: p_j = eta_j (1 - eps)/m + (1 - eta_j) eps/(N - m)
    p = eta_j * (1 - E) / m + (1 - eta_j) * E / (N - m)
    inv = (p - E / (N - m)) / ((1 - E) / m - E / (N - m))
    assert S.is_zero(inv - eta_j)
    # singular where both targets are 1/N: eps = (N - m)/N
    den = ((1 - E) / m - E / (N - m)).subs(E, (N - m) / N)
    assert S.is_zero(den)
    assert S.is_zero(p.subs(E, (N - m) / N) - 1 / N)
    # with random n, even E[n] does not identify eta (N = 3, eps = 1/10): same p, same E[n]
    eps = sp.Rational(1, 10)
    c = (2 - 3 * eps) / (1 - 3 * eps)
    s = sp.Rational(1, 60)
    base6 = {r: sp.Rational(1, 6) for r in ROWS if 0 < sum(r) < K}
    other = dict(base6)
    other[(1, 0, 0)] += s
    other[(0, 1, 0)] -= s
    other[(0, 1, 1)] += c * s
    other[(1, 0, 1)] -= c * s
    assert all(v > 0 for v in other.values()) and sum(other.values()) == 1
    stats = []
    for dist in (base6, other):
        t_ = [
            _expect_under(dist, lambda r, j=j: _targets("positive_split", r)[j].subs(E, eps))
            for j in range(K)
        ]
        eta_ = [_expect_under(dist, lambda r, j=j: r[j]) for j in range(K)]
        stats.append((t_, sum(eta_), eta_))
    assert stats[0][0] == stats[1][0] and stats[0][1] == stats[1][1]
    assert stats[0][2] != stats[1][2]


def test_D7_5_code_desmooth_positive_split():
    N = 5
    y = _population(76, N, fixed_n=2)
    kw = {"epsilon": 0.2}
    p = _fit("positive_split", kw, y)
    got = desmooth_probabilities(p[None], strategy="positive_split", num_positives=2, **kw)
    np.testing.assert_allclose(got[0], y.mean(0), rtol=1e-6, atol=1e-8)
    with pytest.raises(NotIdentifiableError, match="positive_split"):
        desmooth_probabilities(
            np.full((1, N), 1 / N), strategy="positive_split", epsilon=3 / 5, num_positives=2
        )


# --- D7.6 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("L", [2, 3, 4, 5])
def test_D7_6_smearing_matrix_inverse(L):
    a = sp.Symbol("alpha", nonnegative=True)
    I, J = sp.eye(L), sp.ones(L, L)
    M = (1 - a) * I + (a / L) * J
    Minv = (I - (a / L) * J) / (1 - a)
    assert (M * Minv - I).applyfunc(sp.cancel) == sp.zeros(L, L)
    # binary is M with L = 2 on (present, absent); mass_preserving maps eta by M with L = N
    if L == 2:  # binary: M acting on (present, absent) gives (1 - eps) eta + eps/2
        eta = sp.Symbol("eta")
        assert S.is_zero((M[0, 0] * eta + M[0, 1] * (1 - eta)).subs(a, E) - ((1 - E) * eta + E / 2))
    etas = S.vec("eta", L)
    fwd = list(M.subs(a, E) * sp.Matrix(etas))
    assert all(
        S.is_zero(f - g)
        for f, g in zip(fwd, _forward_sigmoid("mass_preserving", etas), strict=True)
    )


def test_D7_6_code_desmooth_is_backward_correction():
    rng = np.random.default_rng(77)
    N, eps = 6, 0.3
    p = rng.uniform(0.1, 0.9, (3, N))
    Minv = (np.eye(N) - eps / N * np.ones((N, N))) / (1 - eps)
    got = desmooth_probabilities(torch.tensor(p), strategy="mass_preserving", epsilon=eps)
    np.testing.assert_allclose(got.numpy(), p @ Minv.T, rtol=1e-12)
