"""The closed-form loss and gradient, in PyTorch, block by block (the CPU path).

Forward and backward walk the logits in blocks of whole rows (:func:`targets.iter_blocks`):
each block's smoothed targets are rebuilt from the raw target on the fly, so nothing of size
``B x N`` is allocated except the output (the gradient in backward, or the elementwise loss for
``reduction="none"``) and nothing of that size is kept for backward: only the logits, the raw
target and two numbers per row (softmax family: the log-partition and the target mass).

Sigmoid family, per label (derivations ``D2.1``-``D2.2``)::

    loss = w (pw t softplus(-x) + (1 - t) softplus(x))
    grad = w (sigmoid(x) (pw t + 1 - t) - pw t)          (= w (sigmoid(x) - t) for pw = 1)

Softmax family, per row over the known labels (derivations ``D3.1``-``D3.2``)::

    loss = sum_j w_j t_j (lse - x_j),   lse = logsumexp_j x_j
    grad_j = S_w softmax(x)_j - w_j t_j,  S_w = sum_k w_k t_k
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .strategies import SmoothingConfig
from .targets import Source, block_targets, canonical_view, iter_blocks, prior_view


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Accumulation dtype: float64 stays float64, everything else computes in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _softplus(x: torch.Tensor) -> torch.Tensor:
    if x.dtype == torch.float64:  # exact (F.softplus switches to x above 20: 2e-9 off in fp64)
        return x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))
    return F.softplus(x)


def _label_view(v: torch.Tensor | None, ndim: int, dtype: torch.dtype) -> torch.Tensor | None:
    if v is None:
        return None
    v = v.to(dtype)
    return v.view(1, -1) if ndim == 2 else v.view(1, -1, 1)


class ClosedFormLoss(torch.autograd.Function):
    """Autograd function: ``apply(logits, config, source, weight, pos_weight, reduction)``."""

    @staticmethod
    def forward(
        ctx, logits, config: SmoothingConfig, source: Source, weight, pos_weight, reduction
    ):
        x = canonical_view(logits)
        work = work_dtype(x.dtype)
        nd = x.ndim
        u = prior_view(config, nd, x.device, work)
        w = _label_view(weight, nd, work)
        pw = _label_view(pos_weight, nd, work)
        softmax = config.family == "softmax"
        row_shape = (x.shape[0], 1, *x.shape[2:])
        if softmax:
            lse_all = torch.zeros(row_shape, dtype=work, device=x.device)
            mass_all = torch.zeros(row_shape, dtype=work, device=x.device)
        out = None
        if reduction == "none":
            out = torch.zeros(row_shape if softmax else x.shape, dtype=work, device=x.device)
        total = torch.zeros((), dtype=torch.float64, device=x.device)
        count = torch.zeros((), dtype=torch.float64, device=x.device)
        zero = torch.zeros((), dtype=work, device=x.device)

        for idx in iter_blocks(x.shape):
            blk = block_targets(config, source, idx, work, u)
            xb = x[idx].to(work)
            t, valid, known = blk.target, blk.coef.valid, blk.known
            keep = valid if known is None else known & valid
            if not softmax:
                if pw is None:
                    loss = _softplus(xb) - t * xb
                else:
                    loss = pw * t * _softplus(-xb) + (1.0 - t) * _softplus(xb)
                if w is not None:
                    loss = loss * w
                loss = torch.where(keep, loss, zero)
                count += keep.expand_as(xb).sum(dtype=torch.float64)
            else:
                xm = xb if known is None else xb.masked_fill(~known, float("-inf"))
                lse = torch.where(valid, torch.logsumexp(xm, dim=1, keepdim=True), zero)
                wt = t if w is None else t * w  # t is 0 at unknown labels and invalid rows
                loss = (wt * (lse - xb)).sum(1, keepdim=True)
                lse_all[idx] = lse
                mass_all[idx] = wt.sum(1, keepdim=True)
                count += valid.sum(dtype=torch.float64)
            if out is not None:
                out[idx] = loss
            else:
                total += loss.sum(dtype=torch.float64)

        ctx.config, ctx.source, ctx.reduction = config, source, reduction
        ctx.count = count
        saved = [logits, weight, pos_weight]
        if softmax:
            saved += [lse_all, mass_all]
        ctx.save_for_backward(*saved)
        if out is not None:
            if softmax:
                return out.view(logits.shape[0], *logits.shape[2:])
            return out.view(logits.shape)
        if reduction == "mean":
            total = total / count.clamp(min=1.0)
        return total.to(work)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        config, source, reduction = ctx.config, ctx.source, ctx.reduction
        logits, weight, pos_weight, *rest = ctx.saved_tensors
        x = canonical_view(logits)
        work = work_dtype(x.dtype)
        nd = x.ndim
        u = prior_view(config, nd, x.device, work)
        w = _label_view(weight, nd, work)
        pw = _label_view(pos_weight, nd, work)
        softmax = config.family == "softmax"
        grad = torch.empty(logits.shape, dtype=logits.dtype, device=logits.device)
        grad_c = canonical_view(grad)
        if reduction == "none":
            go = grad_out.to(work)
            go = go.reshape(x.shape[0], 1, *x.shape[2:]) if softmax else canonical_view(go)
        else:
            scale = grad_out.to(work)
            if reduction == "mean":
                scale = scale / ctx.count.clamp(min=1.0).to(work)
        zero = torch.zeros((), dtype=work, device=x.device)

        for idx in iter_blocks(x.shape):
            blk = block_targets(config, source, idx, work, u)
            xb = x[idx].to(work)
            t, valid, known = blk.target, blk.coef.valid, blk.known
            keep = valid if known is None else known & valid
            if not softmax:
                s = torch.sigmoid(xb)
                g = s - t if pw is None else s * (pw * t + 1.0 - t) - pw * t
                if w is not None:
                    g = g * w
            else:
                lse_all, mass_all = rest
                p = torch.exp(xb - lse_all[idx])
                wt = t if w is None else t * w
                g = mass_all[idx] * p - wt
            g = torch.where(keep, g, zero)
            g = g * (go[idx] if reduction == "none" else scale)
            grad_c[idx] = g
        return grad, None, None, None, None, None
