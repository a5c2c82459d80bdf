"""Numeric side of the proofs: the notes' sympy expressions, lambdified, against the shipped code.

The expected values are computed here from the symbolic coefficient table and the symbolic losses
and gradients of :mod:`._sym` (lambdified to float64 NumPy); the shipped package is only ever the
thing under test.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp
import torch

from multilabel_ls import PositiveIndices, multilabel_smoothing_loss, smooth_targets

from . import _sym as S

_ARGS = (S.eps, S.eps_pos, S.eps_neg, S.n, S.N, S.U)
_COEF = {s: sp.lambdify(_ARGS, list(S.COEF[s]), "math") for s in S.STRATEGIES}
_BCE = sp.lambdify((S.x, S.t, S.w, S.pw), S.bce(S.x, S.t, S.w, S.pw), "numpy")
_BCE_GRAD = sp.lambdify((S.x, S.t, S.w, S.pw), S.bce_grad(S.x, S.t, S.w, S.pw), "numpy")


@cache
def _ce(k: int):
    xs, ts, ws = S.vec("x", k, real=True), S.vec("t", k), S.vec("w", k)
    loss = sp.lambdify((xs, ts, ws), S.ce(xs, ts, ws), "numpy")
    grad = sp.lambdify((xs, ts, ws), S.ce_grad(xs, ts, ws), "numpy")
    return loss, grad


def draw_params(strategy: str, rng: np.random.Generator, N: int) -> dict:
    """Random smoothing parameters for ``strategy`` (package keyword names)."""
    if strategy in S.ASYMMETRIC:
        return {
            "epsilon_pos": float(rng.uniform(0, 0.5)),
            "epsilon_neg": float(rng.uniform(0, 0.5)),
        }
    kw = {"epsilon": float(rng.uniform(0.01, 0.9))}
    if strategy in S.PRIOR:
        p = rng.uniform(0.01, 0.9, N)
        kw["prior"] = p / p.sum() if strategy == "prior_softmax" else p
    return kw


def coefficients(strategy, kw, n, N, U, empty="keep", full="keep"):
    """(a, b, c, valid) of one row from the notes' table and the row policies of D1.7."""
    if N == 0:
        return 0.0, 0.0, 0.0, False
    degenerate = empty if n == 0 else full if n == N else "keep"
    if degenerate == "skip":
        return 0.0, 0.0, 0.0, False
    if degenerate == "renormalize":
        return (1.0 / U, 0.0, 0.0, True) if n == 0 else (0.0, 1.0 / n, 0.0, True)
    if degenerate != "keep":
        raise ValueError(degenerate)
    a, b, c = _COEF[strategy](
        kw.get("epsilon", 0.0), kw.get("epsilon_pos", 0.0), kw.get("epsilon_neg", 0.0), n, N, U
    )
    return a, b, c, True


def expected(strategy, kw, x, y, known, w=None, pw=None, empty="keep", full="keep"):
    """Targets, loss and gradient (reduction="sum") from the notes, row by row.

    Returns ``(t, loss, grad, valid)``: ``t`` and ``grad`` of shape (B, N) (0 at unknown labels and
    invalid rows); ``loss`` elementwise (sigmoid, (B, N)) or per row (softmax, (B,)).
    """
    B, Nall = x.shape
    w = np.ones(Nall) if w is None else np.asarray(w, dtype=float)
    pw = np.ones(Nall) if pw is None else np.asarray(pw, dtype=float)
    u = np.asarray(kw["prior"], dtype=float) if strategy in S.PRIOR else np.ones(Nall)
    t = np.zeros((B, Nall))
    grad = np.zeros((B, Nall))
    loss = np.zeros((B, Nall)) if strategy in S.SIGMOID else np.zeros(B)
    valid = np.zeros(B, dtype=bool)
    for i in range(B):
        K = np.flatnonzero(known[i])
        yk = y[i, K].astype(float)
        a, b, c, ok = coefficients(
            strategy, kw, float(yk.sum()), len(K), float(u[K].sum()), empty, full
        )
        valid[i] = ok
        if not ok:
            continue
        tk = a * u[K] + b * yk + c * (1 - yk)
        t[i, K] = tk
        if strategy in S.SIGMOID:
            loss[i, K] = _BCE(x[i, K], tk, w[K], pw[K])
            grad[i, K] = _BCE_GRAD(x[i, K], tk, w[K], pw[K])
        else:
            f, g = _ce(len(K))
            loss[i] = f(list(x[i, K]), list(tk), list(w[K]))
            grad[i, K] = g(list(x[i, K]), list(tk), list(w[K]))
    return t, loss, grad, valid


def shipped(strategy, kw, x, y, *, reduction="sum", sparse=False, **options):
    """The package's loss and its autograd gradient (the closed-form backward), float64."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(y)  # a copy: the caller's array is never shared with the package
    target = PositiveIndices.from_dense(yt.bool()) if sparse else yt
    kw = {
        k: (torch.as_tensor(v, dtype=torch.float64) if k == "prior" else v) for k, v in kw.items()
    }
    for k in ("weight", "pos_weight"):
        if options.get(k) is not None:
            options[k] = torch.tensor(options[k], dtype=torch.float64)
    if isinstance(options.get("ignore_mask"), np.ndarray):
        options["ignore_mask"] = torch.tensor(options["ignore_mask"])
    loss = multilabel_smoothing_loss(
        xt, target, strategy=strategy, reduction=reduction, **kw, **options
    )
    loss.backward(torch.ones_like(loss))
    return loss.detach().numpy(), xt.grad.numpy()


def shipped_targets(strategy, kw, y, **options):
    kw = {
        k: (torch.as_tensor(v, dtype=torch.float64) if k == "prior" else v) for k, v in kw.items()
    }
    return smooth_targets(
        torch.tensor(y), strategy=strategy, dtype=torch.float64, **kw, **options
    ).numpy()


def random_problem(rng, B, N, *, p=0.35, masked=False, defined=True):
    """Logits, hard targets and a known-label mask (at least one positive and one negative known)."""
    x = rng.normal(0.0, 2.0, (B, N))
    y = (rng.random((B, N)) < p).astype(np.int64)
    known = np.ones((B, N), dtype=bool)
    if masked:
        known = rng.random((B, N)) > 0.3
    if defined:
        known[:, :2] = True
        y[:, 0], y[:, 1] = 1, 0
    return x, y, known
