"""The closed-form loss and gradient in PyTorch, block by block (the CPU path).

Every strategy's target is affine in ``y`` with per-row coefficients,
``t_j = α u_j + γ + δ y_j`` (``α = a``, ``γ = c``, ``δ = b - c`` of :mod:`.strategies`), and
both loss families are affine in ``t``. So the loss of a row needs only a few row sums, which
one pass over the logits collects (derivations ``D2.3`` and ``D3.3``):

* sigmoid, with ``h_j = w_j ((pw_j - 1) softplus(-x_j) - x_j)``::

      loss = Σ_j w_j softplus(x_j) + Σ_j t_j h_j
           = SP + α Σ_j u_j h_j + γ Σ_j h_j + δ Σ_j y_j h_j

* softmax, with ``h_j = w_j (lse - x_j) >= 0`` (``lse`` over the known labels)::

      loss = Σ_j t_j h_j = α Σ_j u_j h_j + γ Σ_j h_j + δ Σ_j y_j h_j

The gradient is written straight into the output buffer, block by block (``D2.2``, ``D3.2``)::

      sigmoid:  g_j = w_j (σ(x_j) (1 + (pw_j - 1) t_j) - pw_j t_j)
      softmax:  g_j = S_w softmax(x)_j - w_j t_j,   S_w = Σ_k w_k t_k

So nothing of size ``B x N`` is allocated except the output (the gradient, or the elementwise
loss of ``reduction="none"``), and nothing of that size is kept for backward beyond the inputs:
a block's temporaries are at most a few times ``BLOCK_ELEMENTS``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ._blocks import canonical_view, iter_blocks, label_view, row_shape
from .strategies import RowCoefficients, SmoothingConfig, row_coefficients
from .targets import Source, block_targets, row_counts


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
    """One pass: the row counts and the row sums the loss needs (and the softmax's lse)."""
    x, work, rows, dev = o.x, o.work, o.rows, o.x.device
    names = ["n", "N", "U", "H1", "HY"] + (["HU"] if o.u is not None else [])
    names += ["lse", "W1", "WY"] + (["WU"] if o.u is not None else []) if o.softmax else ["SP"]
    acc = {k: torch.empty(rows, dtype=work, device=dev) for k in names}
    for idx in iter_blocks(x.shape):
        blk = o.source.block(idx, work)
        acc["n"][idx], acc["N"][idx], acc["U"][idx] = row_counts(blk, o.u)
        xb = x[idx].to(work)
        if o.softmax:
            xm = xb if blk.known is None else xb.masked_fill(~blk.known, float("-inf"))
            lse = torch.logsumexp(xm, dim=1, keepdim=True)
            lse = lse.masked_fill_(torch.isinf(lse), 0.0)  # rows with no known label
            acc["lse"][idx] = lse
            h = torch.sub(lse, xb)  # -log softmax >= 0: no cancellation in the sums
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
        else:
            sp = softplus(xb)
            if o.pw is None:
                h = torch.neg(xb)
            else:  # softplus(-x) = softplus(x) - x
                h = torch.sub(sp, xb).mul_(o.pw - 1.0).sub_(xb)
            if o.w is not None:
                sp.mul_(o.w)
                h.mul_(o.w)
            acc["SP"][idx] = _rowsum(blk.mask(sp))
            blk.mask(h)
        acc["H1"][idx] = _rowsum(h)
        acc["HY"][idx] = blk.dot(h)
        if o.u is not None:
            acc["HU"][idx] = _rowsum(h, o.u)
    return acc


def _combine(coef: RowCoefficients, acc: dict, softmax: bool):
    """Row losses (and, for softmax, the weighted target mass S_w) from the row sums."""
    alpha, gamma, delta = coef.a, coef.c, coef.b - coef.c
    HU = acc.get("HU", acc["H1"])
    loss = alpha * HU + gamma * acc["H1"] + delta * acc["HY"]
    mass = None
    if softmax:
        WU = acc.get("WU", acc["W1"])
        mass = alpha * WU + gamma * acc["W1"] + delta * acc["WY"]
    else:
        loss = loss + acc["SP"]
    zero = torch.zeros((), dtype=loss.dtype, device=loss.device)
    loss = torch.where(coef.valid, loss, zero)
    return loss, mass


def _sigmoid_elementwise(o: _Options, coef: RowCoefficients) -> torch.Tensor:
    """``reduction="none"`` for the sigmoid family: the loss of every element."""
    out = torch.empty(o.x.shape, dtype=o.work, device=o.x.device)
    for idx in iter_blocks(o.x.shape):
        blk = o.source.block(idx, o.work, check=False)  # validated by the first pass
        xb = o.x[idx].to(o.work)
        t = block_targets(blk, coef, idx, o.u, torch.empty_like(xb))
        if o.pw is None:
            loss = softplus(xb).sub_(t * xb)
        else:
            loss = o.pw * t * softplus(-xb) + (1.0 - t) * softplus(xb)
        if o.w is not None:
            loss.mul_(o.w)
        blk.mask(loss)
        out[idx] = loss.mul_(coef.valid[idx])
    return out


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
        if o.softmax:
            count = coef.valid.sum(dtype=torch.float64)
        else:
            count = (acc["N"] * coef.valid).sum(dtype=torch.float64)
        ctx.opts, ctx.coef, ctx.count = o, coef, count
        ctx.lse, ctx.mass = acc.get("lse"), mass
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
    @once_differentiable
    def backward(ctx, grad_out):
        o, coef = ctx.opts, ctx.coef
        (logits,) = ctx.saved_tensors
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
                torch.sub(xb.to(work), ctx.lse[idx], out=g)
                g.exp_()
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
