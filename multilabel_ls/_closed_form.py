"""The closed-form loss and gradient in PyTorch, block by block (the CPU path).

Every strategy's target is affine in ``y`` with per-row coefficients,
``t_j = a u_j + b y_j + c (1 - y_j)`` (:mod:`.strategies`), and both loss families are affine in
``t``. So the loss of a row needs only a few row sums, which one pass over the logits collects.
Each sum has non-negative terms and a non-negative coefficient, so no huge term cancels against
another and absorbs the rest (derivations ``D2.8`` and ``D3.9``):

* sigmoid, with ``A_j = w_j pw_j softplus(-x_j)`` and ``B_j = w_j softplus(x_j)``::

      loss = a Σ u_j A_j + b Σ y_j A_j + c Σ (1 - y_j) A_j
             + (1 - a - b) Σ y_j B_j + (1 - a - c) Σ (1 - y_j) B_j + a Σ (1 - u_j) B_j

  (``u = 1``: the ``u`` sums merge into the others);

* softmax, with ``h_j = w_j ((M - x_j) + L) >= 0`` (``M`` the row max and
  ``L = log Σ_k exp(x_k - M)`` over the known labels, so the log-sum-exp is never formed and
  subtracted)::

      loss = Σ_j t_j h_j = a Σ_j u_j h_j + b Σ_j y_j h_j + c Σ_j (1 - y_j) h_j

The gradient is written straight into the output buffer, block by block (``D2.2``, ``D3.2``)::

      sigmoid:  g_j = w_j (σ(x_j) (1 + (pw_j - 1) t_j) - pw_j t_j)
      softmax:  g_j = S_w p_j - w_j t_j,   p_j = exp((x_j - M) - L),   S_w = Σ_k w_k t_k

So nothing of size ``B x N`` is allocated except the output (the gradient, or the elementwise
loss of ``reduction="none"``), and nothing of that size is kept for backward beyond the inputs:
a block's temporaries are at most a few times ``BLOCK_ELEMENTS``.

Infinite logits. A row whose loss from the row sums is not finite (an infinite logit, or a NaN)
is recomputed label by label with the convention that a term whose coefficient is exactly 0
contributes 0 (its limit), so the loss is ``+inf`` exactly where the target gives weight to what
an infinite logit rules out (as in PyTorch), ``0`` for such a label where PyTorch's own losses
give ``0 · inf = NaN`` (a target of exactly 1 at ``x = +inf``, exactly 0 at ``x = -inf``), and NaN
only for NaN logits. The gradient is the limit of the formulas above and always finite for
finite targets: ``σ(±inf) ∈ {0, 1}``; a softmax row with ``k`` logits at ``+inf`` has ``p = 1/k``
on them (the limit of ``k`` equal logits growing together) and 0 elsewhere.

Second-order gradients. ``backward`` under ``create_graph=True`` (a gradient penalty, a
Hessian-vector product) computes the same gradient with differentiable PyTorch operations on
a dense target (derivations ``D2.4``, ``D3.4``: its derivative in ``x`` is
``w σ(x)(1 - σ(x))(1 + (pw - 1) t)`` per label, and ``S_w (diag p - p pᵀ)`` per row), so the
Hessian term is never dropped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._blocks import SparseBlock, canonical_view, iter_blocks, label_view, row_shape
from .strategies import RowCoefficients, SmoothingConfig, row_coefficients
from .targets import Source, block_targets, row_counts, row_totals


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Accumulation dtype: float64 stays float64, everything else computes in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def softplus(x: torch.Tensor) -> torch.Tensor:
    """``log(1 + exp(x))``, stable; exact in float64 (F.softplus returns x above 20)."""
    if x.dtype == torch.float64:
        return x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))
    return F.softplus(x)


def _rowsum(h: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
    """``Σ_j h_j v_j`` per row (keepdim); a matrix-vector product for 2-D blocks (no temporary)."""
    if v is None:
        return h.sum(1, keepdim=True)
    if h.ndim == 2:
        return (h @ v.view(-1)).view(-1, 1)
    return (h * v).sum(1, keepdim=True)


def _dot_neg(blk, h: torch.Tensor) -> torch.Tensor:
    """``Σ_j (1 - y_j) h_j`` per row, for ``h`` already 0 at unknown labels.

    Summed directly (never as ``Σ h - Σ y h``, which a huge positive term would absorb). For a
    sparse block ``h`` is overwritten (0 at the positives): call it last.
    """
    if isinstance(blk, SparseBlock):
        h.index_put_((blk.rows, blk.labels), torch.zeros((), dtype=h.dtype, device=h.device))
        return h.sum(1, keepdim=True)
    if blk.y.dtype == torch.bool:
        return torch.where(blk.y, 0.0, h).sum(1, keepdim=True)
    return ((1.0 - blk.yf) * h).sum(1, keepdim=True)


def _times(coef: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``coef · v`` with ``0 · v = 0`` for every ``v`` (also ``±inf``; NaN stays NaN)."""
    prod = coef * v
    return torch.where(coef == 0, torch.where(torch.isnan(v), v, 0.0), prod)


class _Options:
    """Everything the forward and backward share, resolved once."""

    def __init__(self, logits, config, source, weight, pos_weight, reduction):
        self.x = canonical_view(logits)
        self.work = work_dtype(logits.dtype)
        nd, dev = self.x.ndim, logits.device
        self.config, self.source, self.reduction = config, source, reduction
        self.softmax = config.family == "softmax"
        self.u = label_view(config.prior, nd, self.work, dev)
        self.w = label_view(weight, nd, self.work, dev)
        self.pw = label_view(pos_weight, nd, self.work, dev)
        self.rows = row_shape(self.x.shape)


def _forward_sums(o: _Options):
    """One pass: the row counts and the row sums the loss needs (and the softmax's M, L)."""
    x, work, rows, dev = o.x, o.work, o.rows, o.x.device
    names = ["n", "N", "U"]
    if o.softmax:
        names += ["M", "L", "H0", "HY", "W1", "WY"] + (["HU", "WU"] if o.u is not None else [])
    else:
        names += ["A1", "A0", "B1", "B0"] + (["AU", "BV"] if o.u is not None else [])
    acc = {k: torch.empty(rows, dtype=work, device=dev) for k in names}
    one_minus_u = None if o.u is None or o.softmax else 1.0 - o.u
    for idx in iter_blocks(x.shape):
        blk = o.source.block(idx, work)
        acc["n"][idx], acc["N"][idx], acc["U"][idx] = row_counts(blk, o.u)
        xb = x[idx].to(work)
        if o.softmax:
            xm = xb if blk.known is None else xb.masked_fill(~blk.known, float("-inf"))
            M = xm.amax(1, keepdim=True)
            M = M.masked_fill_(M == float("-inf"), 0.0)  # rows with no known label
            # L = log Σ exp(x - M) >= 0 (the max term is exp(0) = 1; 1 stands in for empty rows)
            L = torch.sub(xm, M).exp_().sum(1, keepdim=True).clamp_(min=1.0).log_()
            acc["M"][idx], acc["L"][idx] = M, L
            h = torch.sub(M, xb).add_(L)  # -log softmax = (M - x) + L >= 0, never lse - x
            if o.w is not None:
                h.mul_(o.w)
            blk.mask(h)
            if o.w is None:
                acc["W1"][idx] = acc["N"][idx]
                acc["WY"][idx] = acc["n"][idx]
                if o.u is not None:
                    acc["WU"][idx] = acc["U"][idx]
            else:
                acc["W1"][idx] = blk.known_sum(o.w)
                acc["WY"][idx] = blk.dot(o.w.expand_as(xb))
                if o.u is not None:
                    acc["WU"][idx] = blk.known_sum(o.w * o.u)
            acc["HY"][idx] = blk.dot(h)
            if o.u is not None:
                acc["HU"][idx] = _rowsum(h, o.u)
            acc["H0"][idx] = _dot_neg(blk, h)  # last: overwrites h for a sparse block
        else:
            sp = softplus(xb)  # B = w softplus(x)
            sn = softplus(-xb)  # A = w pw softplus(-x)
            if o.pw is not None:
                sn.mul_(o.pw)
            if o.w is not None:
                sp.mul_(o.w)
                sn.mul_(o.w)
            blk.mask(sp)
            blk.mask(sn)
            if o.u is not None:
                acc["AU"][idx] = _rowsum(sn, o.u)
                acc["BV"][idx] = _rowsum(sp, one_minus_u)
            acc["A1"][idx] = blk.dot(sn)
            acc["B1"][idx] = blk.dot(sp)
            acc["A0"][idx] = _dot_neg(blk, sn)
            acc["B0"][idx] = _dot_neg(blk, sp)
    return acc


def _combine(coef: RowCoefficients, acc: dict, softmax: bool):
    """Row losses (and, for softmax, the weighted target mass S_w) from the row sums."""
    a, b, c = coef.a, coef.b, coef.c
    mass = None
    if softmax:
        # a, b, c >= 0 multiply sums of h >= 0 (b - c may be negative: never Σh - Σyh)
        if "HU" in acc:
            loss = a * acc["HU"] + b * acc["HY"] + c * acc["H0"]
        else:
            loss = (a + b) * acc["HY"] + (a + c) * acc["H0"]
        WU = acc.get("WU", acc["W1"])
        mass = a * WU + c * acc["W1"] + (b - c) * acc["WY"]
    elif "AU" in acc:  # t = a u + b y + c (1 - y); 1 - t = (1-a-b) y + (1-a-c)(1-y) + a (1-u)
        loss = (
            a * acc["AU"] + b * acc["A1"] + c * acc["A0"]
            + (1 - a - b) * acc["B1"] + (1 - a - c) * acc["B0"] + a * acc["BV"]
        )  # fmt: skip
    else:  # u = 1: the targets of a positive and a negative, t1 = a + b and t0 = a + c
        t1, t0 = a + b, a + c
        loss = t1 * acc["A1"] + t0 * acc["A0"] + (1 - t1) * acc["B1"] + (1 - t0) * acc["B0"]
    zero = torch.zeros((), dtype=loss.dtype, device=loss.device)
    loss = torch.where(coef.valid, loss, zero)
    return loss, mass


def _sigmoid_exact(o: _Options, blk, xb, coef: RowCoefficients, idx) -> torch.Tensor:
    """Elementwise ``w [pw t softplus(-x) + (1 - t) softplus(x)]``, 0 at unknown labels.

    Each product with a zero factor is 0 (also against ``±inf``); NaN logits stay NaN.
    """
    t = block_targets(blk, coef, idx, o.u, torch.empty_like(xb))
    pt = t if o.pw is None else t * o.pw
    loss = _times(pt, softplus(-xb)).add_(_times(1.0 - t, softplus(xb)))
    if o.w is not None:
        loss = _times(o.w.expand_as(loss), loss)
    return blk.mask(loss)


def _softmax_exact(o: _Options, blk, xb):
    """``(log p, p)`` of a block's rows over the known labels, with the limit at ``+inf``.

    A row with ``k >= 1`` known logits at ``+inf`` gets ``p = 1/k`` on them and 0 elsewhere (the
    limit of ``k`` equal logits growing together); other rows ``log_softmax`` (``-inf`` logits
    get ``p = 0``); rows without a known label ``p = 0``.
    """
    known = torch.ones_like(xb, dtype=torch.bool) if blk.known is None else blk.known
    pinf = (xb == float("inf")) & known
    k = pinf.sum(1, keepdim=True)
    empty = ~known.any(1, keepdim=True)
    xm = xb.masked_fill(~known, float("-inf")).masked_fill(empty, 0.0)
    logp = torch.log_softmax(xm.masked_fill(k > 0, 0.0), dim=1)
    lim = torch.where(pinf, -torch.log(k.clamp(min=1).to(xb.dtype)), float("-inf"))
    logp = torch.where(k > 0, lim, logp).masked_fill(~known, float("-inf"))
    return logp, logp.exp()


def _fix_nonfinite(o: _Options, coef: RowCoefficients, row_loss: torch.Tensor):
    """Recompute, label by label, the rows whose loss from the row sums is not finite.

    Returns the per-row mask of those rows (None when there are none); ``row_loss`` is updated
    in place. See the module docstring for the convention at infinite logits.
    """
    bad = ~torch.isfinite(row_loss)
    if not bool(bad.any()):
        return None
    for idx in iter_blocks(o.x.shape):
        if not bool(bad[idx].any()):
            continue
        blk = o.source.block(idx, o.work, check=False)
        xb = o.x[idx].to(o.work)
        if o.softmax:
            logp, _ = _softmax_exact(o, blk, xb)
            t = block_targets(blk, coef, idx, o.u, torch.empty_like(xb))
            wt = t if o.w is None else t * o.w
            ell = blk.mask(_times(wt, -logp))
        else:
            ell = _sigmoid_exact(o, blk, xb, coef, idx)
        exact = torch.where(coef.valid[idx], ell.sum(1, keepdim=True), 0.0)
        row_loss[idx] = torch.where(bad[idx], exact, row_loss[idx])
    return bad


def _sigmoid_elementwise(o: _Options, coef: RowCoefficients) -> torch.Tensor:
    """``reduction="none"`` for the sigmoid family: the loss of every element."""
    out = torch.empty(o.x.shape, dtype=o.work, device=o.x.device)
    for idx in iter_blocks(o.x.shape):
        blk = o.source.block(idx, o.work, check=False)  # validated by the first pass
        xb = o.x[idx].to(o.work)
        loss = _sigmoid_exact(o, blk, xb, coef, idx)
        out[idx] = torch.where(coef.valid[idx], loss, 0.0)
    return out


def _dense_targets(o: _Options, coef: RowCoefficients):
    """The smoothed target ``t`` of every element (0 at unknown labels) and the known mask."""
    t = torch.empty(o.x.shape, dtype=o.work, device=o.x.device)
    known = torch.ones(o.x.shape, dtype=torch.bool, device=o.x.device)
    for idx in iter_blocks(o.x.shape):
        blk = o.source.block(idx, o.work, check=False)
        block_targets(blk, coef, idx, o.u, t[idx])
        if blk.known is not None:
            known[idx] = blk.known
    return t, known


def differentiable_gradient(
    logits: torch.Tensor,
    o: _Options,
    coef: RowCoefficients,
    count: torch.Tensor,
    grad_out: torch.Tensor,
) -> torch.Tensor:
    """The loss gradient as differentiable operations of ``logits`` and ``grad_out``.

    Used by ``backward`` under ``create_graph=True``, so that double backward (gradient
    penalties, Hessian-vector products) sees the loss Hessian (derivations ``D2.4``, ``D3.4``).
    It builds the dense target (``B x N`` memory); the first-order path never does.
    """
    t, known = _dense_targets(o, coef)
    x = canonical_view(logits).to(o.work)
    valid = coef.valid.to(o.work)
    if o.reduction == "none":
        go = grad_out.to(o.work)
        go = go.reshape(o.rows) if o.softmax else canonical_view(go)
        scale = valid * go
    else:
        s = grad_out.to(o.work)
        if o.reduction == "mean":
            s = s / count.clamp(min=1.0).to(o.work)
        scale = valid * s
    if o.softmax:
        empty = ~known.any(1, keepdim=True)
        xm = x.masked_fill(~known, float("-inf")).masked_fill(empty, 0.0)
        p = torch.softmax(xm, dim=1).masked_fill(~known, 0.0)
        wt = t if o.w is None else t * o.w
        g = wt.sum(1, keepdim=True) * p - wt
    else:
        sig = torch.sigmoid(x)
        g = sig - t if o.pw is None else sig * (1.0 + (o.pw - 1.0) * t) - o.pw * t
        if o.w is not None:
            g = g * o.w
    g = (g * scale).masked_fill(~known, 0.0)
    return g.to(logits.dtype).view(logits.shape)


def gradient_with_graph(
    logits, config, source, weight, pos_weight, reduction, grad_out
) -> torch.Tensor:
    """:func:`differentiable_gradient` from the loss's inputs (for the kernels' backward)."""
    o = _Options(logits, config, source, weight, pos_weight, reduction)
    n, N, U = row_totals(source, o.work, o.u)
    coef = row_coefficients(config, n, N, U)
    return differentiable_gradient(logits, o, coef, _mean_count(o, coef, N), grad_out)


def _mean_count(o: _Options, coef: RowCoefficients, N: torch.Tensor) -> torch.Tensor:
    """The divisor of ``"mean"``: valid rows (softmax) or known elements of valid rows."""
    if o.softmax:
        return coef.valid.sum(dtype=torch.float64)
    return (N * coef.valid).sum(dtype=torch.float64)


class ClosedFormLoss(torch.autograd.Function):
    """``apply(logits, config, source, weight, pos_weight, reduction)`` -> loss."""

    @staticmethod
    def forward(
        ctx, logits, config: SmoothingConfig, source: Source, weight, pos_weight, reduction
    ):
        o = _Options(logits, config, source, weight, pos_weight, reduction)
        acc = _forward_sums(o)
        coef = row_coefficients(config, acc["n"], acc["N"], acc["U"])
        row_loss, mass = _combine(coef, acc, o.softmax)
        special = _fix_nonfinite(o, coef, row_loss)
        count = _mean_count(o, coef, acc["N"])
        ctx.opts, ctx.coef, ctx.count = o, coef, count
        ctx.M, ctx.L, ctx.mass, ctx.special = acc.get("M"), acc.get("L"), mass, special
        ctx.save_for_backward(logits)
        if reduction == "none":
            if o.softmax:
                return row_loss.view(logits.shape[0], *logits.shape[2:])
            return _sigmoid_elementwise(o, coef).view(logits.shape)
        total = row_loss.sum(dtype=torch.float64)
        if reduction == "mean":
            total = total / count.clamp(min=1.0)
        return total.to(o.work)

    @staticmethod
    def backward(ctx, grad_out):
        o, coef = ctx.opts, ctx.coef
        (logits,) = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: a differentiable gradient
            g = differentiable_gradient(logits, o, coef, ctx.count, grad_out)
            return g, None, None, None, None, None
        x, work = o.x, o.work
        if o.reduction == "none":
            go = (
                grad_out.to(work).reshape(o.rows)
                if o.softmax
                else canonical_view(grad_out.to(work))
            )
            scale = coef.valid.to(work)
        else:
            s = grad_out.to(work)
            if o.reduction == "mean":
                s = s / ctx.count.clamp(min=1.0).to(work)
            scale = coef.valid.to(work) * s
            go = None
        alpha, gamma, delta = coef.a, coef.c, coef.b - coef.c
        grad = torch.empty(logits.shape, dtype=logits.dtype, device=logits.device)
        grad_c = canonical_view(grad)
        direct = logits.dtype == work
        has_alpha = bool((alpha != 0).any())
        has_gamma = bool((gamma != 0).any())
        for idx in iter_blocks(x.shape):
            blk = o.source.block(idx, work, check=False)  # validated in forward
            xb = x[idx]
            g = grad_c[idx] if direct else torch.empty(xb.shape, dtype=work, device=xb.device)
            sc = scale[idx]
            if go is not None:  # per-element (sigmoid) or per-row (softmax) upstream gradient
                sc = sc * go[idx]
            if o.softmax:
                torch.sub(xb.to(work), ctx.M[idx], out=g)
                g.sub_(ctx.L[idx]).exp_()  # p = exp((x - M) - L)
                if ctx.special is not None and bool(ctx.special[idx].any()):
                    _, p = _softmax_exact(o, blk, xb.to(work))
                    g.copy_(torch.where(ctx.special[idx], p, g))
                blk.mask(g)
                g.mul_(ctx.mass[idx] * sc)
                # - w t sc = - sc w (α u + γ + δ y), masked to the known labels
                wu = o.u if o.w is None else (o.w if o.u is None else o.w * o.u)
                if has_alpha and wu is None:
                    g.sub_(sc * alpha[idx])
                elif has_alpha:
                    g.addcmul_(sc * alpha[idx], wu, value=-1.0)
                if has_gamma and o.w is None:
                    g.sub_(sc * gamma[idx])
                elif has_gamma:
                    g.addcmul_(sc * gamma[idx], o.w, value=-1.0)
                if has_alpha or has_gamma:
                    blk.mask(g)
                blk.add_to(g, -sc * delta[idx], o.w)
            elif o.pw is None:  # g = sc w (σ(x) - t)
                torch.sigmoid(xb.to(work), out=g)
                if o.u is None:
                    g.sub_(alpha[idx] + gamma[idx])
                else:
                    g.sub_(gamma[idx]).addcmul_(alpha[idx], o.u, value=-1.0)
                blk.add_to(g, -delta[idx])
                g.mul_(sc)
                if o.w is not None:
                    g.mul_(o.w)
                blk.mask(g)
            else:  # g = sc w (σ(x)(1 + (pw - 1) t) - pw t)
                t = block_targets(
                    blk, coef, idx, o.u, torch.empty(xb.shape, dtype=work, device=xb.device)
                )
                sig = torch.sigmoid(xb.to(work))
                g.copy_(sig * (1.0 + (o.pw - 1.0) * t) - o.pw * t)
                g.mul_(sc)
                if o.w is not None:
                    g.mul_(o.w)
                blk.mask(g)
            if not direct:
                grad_c[idx] = g
        return grad, None, None, None, None, None
