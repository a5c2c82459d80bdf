"""Symbolic objects of the derivation notes (``derivations/``), written from the notes.

Nothing here imports the package: the coefficient table, the losses and the stated gradients are
typed in from the notes, so that the proofs (sympy) and the code ties (shipped code evaluated
numerically against these expressions) test the package against an independent statement.
"""

from __future__ import annotations

import itertools

import sympy as sp

# --- symbols ---------------------------------------------------------------------------------
eps = sp.Symbol("epsilon", nonnegative=True)
eps_pos = sp.Symbol("epsilon_p", nonnegative=True)
eps_neg = sp.Symbol("epsilon_m", nonnegative=True)
N = sp.Symbol("N", positive=True)  # known labels of the row
n = sp.Symbol("n", nonnegative=True)  # known positives (real for soft targets)
U = sp.Symbol("U", positive=True)  # sum of the base vector over the known labels
pi = sp.Symbol("pi", nonnegative=True)  # a label's prior / base rate
x = sp.Symbol("x", real=True)
t = sp.Symbol("t", nonnegative=True)
w = sp.Symbol("w", nonnegative=True)
pw = sp.Symbol("pw", nonnegative=True)

SIGMOID = ("binary", "binary_uniform", "mass_preserving", "asymmetric", "prior")
SOFTMAX = ("uniform", "positive_split", "unnormalized", "asymmetric_softmax", "prior_softmax")
STRATEGIES = SIGMOID + SOFTMAX
ASYMMETRIC = ("asymmetric", "asymmetric_softmax")
PRIOR = ("prior", "prior_softmax")

#: The coefficient table of derivations/01_targets.md (D1.1): t_j = a u_j + b y_j + c (1 - y_j).
#: u_j = 1 except for the prior strategies (u_j = pi_j, U = sum of pi over the known labels).
COEF: dict[str, tuple[sp.Expr, sp.Expr, sp.Expr]] = {
    "binary": (eps / 2, 1 - eps, sp.Integer(0)),
    "binary_uniform": (eps / N, 1 - eps, sp.Integer(0)),
    "mass_preserving": (eps * n / N, 1 - eps, sp.Integer(0)),
    "asymmetric": (sp.Integer(0), 1 - eps_pos, eps_neg),
    "prior": (eps, 1 - eps, sp.Integer(0)),
    "uniform": (eps / N, (1 - eps) / n, sp.Integer(0)),
    "positive_split": (sp.Integer(0), (1 - eps) / n, eps / (N - n)),
    "unnormalized": (eps / N, 1 - eps, sp.Integer(0)),
    "asymmetric_softmax": (sp.Integer(0), 1 - eps_pos, eps_neg),
    "prior_softmax": (eps / U, (1 - eps) / n, sp.Integer(0)),
}


def family(strategy: str) -> str:
    return "sigmoid" if strategy in SIGMOID else "softmax"


def base(strategy: str) -> sp.Expr:
    """The base-vector entry u_j of a label (pi for the prior strategies, else 1)."""
    return pi if strategy in PRIOR else sp.Integer(1)


def target(strategy: str, y, u=None) -> sp.Expr:
    """t = a u + b y + c (1 - y) for one label with value ``y`` (D1.1)."""
    a, b, c = COEF[strategy]
    u = base(strategy) if u is None else u
    return a * u + b * y + c * (1 - y)


def t_pos(strategy: str, u=None) -> sp.Expr:
    return target(strategy, 1, u)


def t_neg(strategy: str, u=None) -> sp.Expr:
    return target(strategy, 0, u)


def target_sum(strategy: str) -> sp.Expr:
    """S = a U + b n + c (N - n) (U = N without a prior)."""
    a, b, c = COEF[strategy]
    UU = U if strategy in PRIOR else N
    return a * UU + b * n + c * (N - n)


# --- losses as the notes define them ----------------------------------------------------------
def softplus(z):
    return sp.log(1 + sp.exp(z))


def sigma(z):
    return 1 / (1 + sp.exp(-z))


def bce(z, tt, ww=1, pww=1):
    """D2.1: w [pw t softplus(-x) + (1 - t) softplus(x)]."""
    return ww * (pww * tt * softplus(-z) + (1 - tt) * softplus(z))


def bce_log_form(z, tt, ww=1, pww=1):
    """D2.1, textbook form: -w [pw t log sigma(x) + (1 - t) log(1 - sigma(x))]."""
    return -ww * (pww * tt * sp.log(sigma(z)) + (1 - tt) * sp.log(1 - sigma(z)))


def bce_grad(z, tt, ww=1, pww=1):
    """D2.2: w (sigma(x) (1 + (pw - 1) t) - pw t)."""
    return ww * (sigma(z) * (1 + (pww - 1) * tt) - pww * tt)


def lse(xs):
    return sp.log(sum(sp.exp(v) for v in xs))


def softmax(xs):
    Z = sum(sp.exp(v) for v in xs)
    return [sp.exp(v) / Z for v in xs]


def ce(xs, ts, ws=None):
    """D3.1: sum_j w_j t_j (lse(x) - x_j) = -sum_j w_j t_j log softmax(x)_j."""
    ws = [1] * len(xs) if ws is None else ws
    L = lse(xs)
    return sum(wj * tj * (L - xj) for xj, tj, wj in zip(xs, ts, ws, strict=True))


def ce_grad(xs, ts, ws=None):
    """D3.2: S_w softmax(x)_j - w_j t_j with S_w = sum_k w_k t_k."""
    ws = [1] * len(xs) if ws is None else ws
    S = sum(wj * tj for tj, wj in zip(ts, ws, strict=True))
    return [S * p - wj * tj for p, tj, wj in zip(softmax(xs), ts, ws, strict=True)]


def vec(name: str, k: int, **assumptions) -> list[sp.Symbol]:
    return list(sp.symbols(f"{name}1:{k + 1}", **assumptions))


# --- a certificate of non-negativity on a box ---------------------------------------------------
def certify_nonnegative(expr: sp.Expr, subs: dict) -> bool:
    """True if ``expr`` is >= 0 wherever it is defined, by a sign certificate.

    ``subs`` maps the free symbols to expressions in new symbols that range over [0, inf) (a
    parametrisation of the domain, e.g. ``eps -> e/(e+f)``, ``n -> 1+m``). After substitution the
    expression is a ratio of polynomials in non-negative variables; if numerator and denominator
    each have coefficients of a single sign (and the signs agree), the ratio is >= 0 wherever the
    denominator does not vanish. A ``False`` answer proves nothing.
    """
    e = sp.together(sp.sympify(expr).subs(subs, simultaneous=True))
    num, den = sp.fraction(sp.factor(e))
    gens = sorted(e.free_symbols, key=str)

    def sign(p):
        p = sp.expand(p)
        if p == 0:
            return 0
        if not gens:
            return 1 if p > 0 else -1
        coeffs = sp.Poly(p, *gens).coeffs()
        if all(c >= 0 for c in coeffs):
            return 1
        if all(c <= 0 for c in coeffs):
            return -1
        return None

    sn, sd = sign(num), sign(den)
    if sn == 0:
        return True
    return sn is not None and sd is not None and sd != 0 and sn == sd


# Parametrisations of the domains (all new symbols range over [0, inf)).
_e, _f, _g, _m, _k, _q, _r = sp.symbols("e f g m k q r", nonnegative=True)
#: eps in [0, 1]; eps_pos, eps_neg >= 0 with eps_pos + eps_neg <= 1; n >= 1; N >= n + 1;
#: pi in [0, 1]; U > 0.
DOMAIN = {
    eps: _e / (_e + _f),
    eps_pos: _e / (_e + _f + _g),
    eps_neg: _f / (_e + _f + _g),
    n: 1 + _m,
    N: 2 + _m + _k,
    pi: _q / (_q + _r),
    U: 1 + _k,  # only used where U is a free positive scale
}


def domain(**override) -> dict:
    d = dict(DOMAIN)
    for key, val in override.items():
        d[{"eps": eps, "n": n, "N": N, "U": U, "pi": pi}[key]] = val
    return d


def is_zero(expr: sp.Expr) -> bool:
    """Exact zero test by cancellation (no floating point)."""
    return sp.cancel(sp.expand(sp.together(expr))) == 0


def all_rows(k: int):
    """Every hard multi-hot row of length k."""
    return list(itertools.product((0, 1), repeat=k))


def _log_factors(arg: sp.Expr) -> dict:
    """``log(arg)`` as a sum of multiplicities of irreducible factors (and primes)."""
    out: dict = {}
    num, den = sp.fraction(sp.factor(sp.together(arg)))
    for part, sign in ((num, 1), (den, -1)):
        const, factors = sp.factor_list(part)
        const = sp.Rational(abs(const))
        for prime, m in sp.factorint(const.p).items():
            out[sp.Integer(prime)] = out.get(sp.Integer(prime), 0) + sign * m
        for prime, m in sp.factorint(const.q).items():
            out[sp.Integer(prime)] = out.get(sp.Integer(prime), 0) - sign * m
        for f, m in factors:
            out[f] = out.get(f, 0) + sign * m
    return out


def logs_vanish(expr: sp.Expr) -> bool:
    """Exact test that ``sum_i c_i log(A_i) + r`` is zero, for positive arguments ``A_i``.

    Every argument is factored into irreducible polynomials (and primes), ``log A`` is split into
    the logs of its factors, and the coefficient of each distinct factor's log, and the log-free
    remainder ``r``, must cancel to 0. Use it after substituting ``x_j -> log z_j`` with positive
    ``z_j`` (so every argument is a positive rational function and ``exp(x_j) = z_j``).
    """
    coeff: dict = {}
    rest = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(expr)):
        logs = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.log)]
        if not logs:
            rest += term
            continue
        if len(logs) != 1:
            return False
        c = term / logs[0]
        for f, m in _log_factors(logs[0].args[0]).items():
            coeff[f] = coeff.get(f, 0) + m * c
    return is_zero(rest) and all(is_zero(c) for c in coeff.values())


def log_logits(k: int):
    """Logits ``x_j = log z_j`` with positive ``z_j`` (so that exp/log identities are exact)."""
    zs = vec("z", k, positive=True)
    return [sp.log(z) for z in zs], zs
