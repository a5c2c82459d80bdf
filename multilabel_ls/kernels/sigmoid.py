"""Fused sigmoid-family loss (``binary``, ``binary_uniform``, ``mass_preserving``, ``asymmetric``,
``prior``): Triton kernels, host launcher and autograd Function.

Per label, with the target ``t = a u + c + (b - c) y`` of :mod:`multilabel_ls.strategies`::

    l = w [pw t softplus(-x) + (1 - t) softplus(x)]          (derivation D2.3, elementwise)
    g = s w [σ(x) (1 + (pw - 1) t) - pw t]                    (derivation D2.2)

with ``s`` the row's scale (``valid / count`` for ``"mean"``, ``valid`` for ``"sum"``).

Passes (``"mean"``/``"sum"``):

1. *Row counts* (only when needed): one read of the 1-byte target/mask, giving ``n, N, U`` per
   row; skipped when the coefficients do not depend on them (``binary``, ``binary_uniform``,
   ``asymmetric``, ``prior`` with "keep" policies, no mask, bool target).
   The coefficients ``a, b, c`` then come from :func:`multilabel_ls.strategies.row_coefficients`
   (the same code as the PyTorch path: same policies, same errors).
2. *One pass over the logits*: read ``x`` and ``y``, write the gradient ``g`` (logits dtype,
   scaled by ``s`` already) and one partial loss sum per (row, chunk).

The gradient of ``"mean"``/``"sum"`` is known in forward up to the upstream scalar ``go``, so it
is written there; backward multiplies it in place by ``go`` with a kernel that exits at once when
``go == 1`` (no host sync, no traffic), which is what ``loss.backward()`` passes. Recomputing it in
backward instead would read the logits and the target twice (about 1.56x the HBM floor for fp32);
scaling unconditionally would read and write the gradient again (about 1.9x). Peak extra memory is
the gradient (1x the logits) plus per-row vectors. A second backward through the same graph
(``retain_graph=True``) recomputes the gradient from the saved logits.

``"none"``: forward writes the elementwise loss; backward reads ``x``, ``y`` and the elementwise
upstream gradient and writes ``g``.

Sparse targets (:class:`~multilabel_ls.PositiveIndices`): the dense pass runs with ``y = 0``;
a per-row kernel then visits only the positives and rewrites the loss term, the gradient and the
elementwise loss there (derivation ``D1.6``: ``Σ_j y_j h_j = Σ_{j ∈ pos} h_j``), so no dense
target is ever built or read.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch.autograd.function import once_differentiable

from ..strategies import row_coefficients
from ._common import (
    SPARSE_BLOCK,
    Prepared,
    constant_stats,
    launch,
    load_target,
    needs_row_counts,
    raise_target_error,
    row_stats,
    scale_,
    softplus_sigmoid,
)


@triton.jit
def _sigmoid_terms(x, t, w, pw, HAS_W: tl.constexpr, HAS_PW: tl.constexpr):
    """Elementwise loss and unscaled gradient (D2.2, D2.3) for targets ``t``."""
    sp_pos, sp_neg, sig = softplus_sigmoid(x)
    if HAS_PW:
        loss = pw * t * sp_neg + (1.0 - t) * sp_pos
        grad = sig * (1.0 + (pw - 1.0) * t) - pw * t
    else:
        loss = (1.0 - t) * sp_pos + t * sp_neg  # = softplus(x) - t x, without cancellation
        grad = sig - t
    if HAS_W:
        loss = loss * w
        grad = grad * w
    return loss, grad


@triton.jit
def _sigmoid_kernel(
    x_ptr,
    y_ptr,
    ign_ptr,
    mask_ptr,
    u_ptr,
    w_ptr,
    pw_ptr,
    a_ptr,
    b_ptr,
    c_ptr,
    scale_ptr,
    valid_ptr,
    go_ptr,
    g_ptr,
    loss_ptr,
    part_ptr,
    N,
    R,
    chunk,
    nchunks,
    BLOCK: tl.constexpr,
    CDT: tl.constexpr,
    HAS_Y: tl.constexpr,
    SOFT: tl.constexpr,
    HAS_IGN: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_U: tl.constexpr,
    HAS_W: tl.constexpr,
    HAS_PW: tl.constexpr,
    ACC_LOSS: tl.constexpr,
    LOSS_ELEM: tl.constexpr,
    WRITE_GRAD: tl.constexpr,
    GO_ELEM: tl.constexpr,
):
    """One (row, chunk): loss partial sum and/or elementwise loss and/or gradient."""
    row = tl.program_id(0).to(tl.int64)
    ch = tl.program_id(1)
    base = (row // R) * N * R + row % R
    a = tl.load(a_ptr + row).to(CDT)
    b = tl.load(b_ptr + row).to(CDT)
    c = tl.load(c_ptr + row).to(CDT)
    delta = b - c
    scale = tl.load(scale_ptr + row).to(CDT)
    valid = tl.load(valid_ptr + row).to(CDT)
    col0 = ch * chunk
    col1 = tl.minimum(col0 + chunk, N)
    acc = tl.full([BLOCK], 0.0, dtype=CDT)
    for start in range(col0, col1, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        inb = cols < col1
        offs = base + cols.to(tl.int64) * R
        x = tl.load(x_ptr + offs, mask=inb, other=0.0).to(CDT)
        # the target values were checked by the row-count pass: VALIDATE is False here
        y, known, _ = load_target(
            y_ptr, ign_ptr, mask_ptr, offs, inb, BLOCK, CDT, HAS_Y, SOFT, HAS_IGN, HAS_MASK,
            False,
        )  # fmt: skip
        # target t = a u + c + (b - c) y   (strategies.py; D2.3)
        if HAS_U:
            t = a * tl.load(u_ptr + cols, mask=inb, other=0.0).to(CDT) + c + delta * y
        else:
            t = a + c + delta * y
        w = 1.0
        pw = 1.0
        if HAS_W:
            w = tl.load(w_ptr + cols, mask=inb, other=0.0).to(CDT)
        if HAS_PW:
            pw = tl.load(pw_ptr + cols, mask=inb, other=1.0).to(CDT)
        loss, grad = _sigmoid_terms(x, t, w, pw, HAS_W, HAS_PW)
        loss = tl.where(known, loss, 0.0)
        if ACC_LOSS:
            acc += loss
        if LOSS_ELEM:
            tl.store(loss_ptr + offs, tl.where(valid != 0, loss, 0.0), mask=inb)
        if WRITE_GRAD:
            grad = grad * scale  # D2.2, scaled by valid/count ("mean") or valid
            if GO_ELEM:
                grad = grad * tl.load(go_ptr + offs, mask=inb, other=0.0).to(CDT)
            grad = tl.where(known, grad, 0.0)
            tl.store(g_ptr + offs, grad.to(g_ptr.dtype.element_ty), mask=inb)
    if ACC_LOSS:
        tl.store(part_ptr + row * nchunks + ch, tl.sum(acc, 0))


@triton.jit
def _sigmoid_sparse_kernel(
    x_ptr,
    off_ptr,
    idx_ptr,
    mask_ptr,
    u_ptr,
    w_ptr,
    pw_ptr,
    a_ptr,
    b_ptr,
    c_ptr,
    scale_ptr,
    valid_ptr,
    go_ptr,
    g_ptr,
    loss_ptr,
    rowloss_ptr,
    N,
    SBLOCK: tl.constexpr,
    CDT: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_U: tl.constexpr,
    HAS_W: tl.constexpr,
    HAS_PW: tl.constexpr,
    ACC_LOSS: tl.constexpr,
    LOSS_ELEM: tl.constexpr,
    WRITE_GRAD: tl.constexpr,
    GO_ELEM: tl.constexpr,
):
    """The positives of one row (CSR), after the dense pass ran with ``y = 0`` (D1.6).

    Adds ``l(t_pos) - l(t_neg)`` to the row's loss and overwrites the elementwise loss and the
    gradient at the (known) positives with their ``y = 1`` values. Indices within a row are
    distinct (validated by PositiveIndices), so no two lanes write one element.
    """
    row = tl.program_id(0).to(tl.int64)
    a = tl.load(a_ptr + row).to(CDT)
    b = tl.load(b_ptr + row).to(CDT)
    c = tl.load(c_ptr + row).to(CDT)
    scale = tl.load(scale_ptr + row).to(CDT)
    valid = tl.load(valid_ptr + row).to(CDT)
    lo = tl.load(off_ptr + row)
    hi = tl.load(off_ptr + row + 1)
    acc = tl.full([SBLOCK], 0.0, dtype=CDT)
    for s in range(lo, hi, SBLOCK):
        k = s + tl.arange(0, SBLOCK)
        ok = k < hi
        j = tl.load(idx_ptr + k, mask=ok, other=0)
        offs = row * N + j
        if HAS_MASK:
            ok = ok & (tl.load(mask_ptr + offs, mask=ok, other=1) == 0)
        x = tl.load(x_ptr + offs, mask=ok, other=0.0).to(CDT)
        if HAS_U:
            au = a * tl.load(u_ptr + j, mask=ok, other=0.0).to(CDT)
        else:
            au = a + tl.full([SBLOCK], 0.0, dtype=CDT)
        w = 1.0
        pw = 1.0
        if HAS_W:
            w = tl.load(w_ptr + j, mask=ok, other=0.0).to(CDT)
        if HAS_PW:
            pw = tl.load(pw_ptr + j, mask=ok, other=1.0).to(CDT)
        loss1, grad1 = _sigmoid_terms(x, au + b, w, pw, HAS_W, HAS_PW)
        if ACC_LOSS:
            loss0, _ = _sigmoid_terms(x, au + c, w, pw, HAS_W, HAS_PW)
            acc += tl.where(ok, loss1 - loss0, 0.0)
        if LOSS_ELEM:
            tl.store(loss_ptr + offs, tl.where(valid != 0, loss1, 0.0), mask=ok)
        if WRITE_GRAD:
            grad1 = grad1 * scale
            if GO_ELEM:
                grad1 = grad1 * tl.load(go_ptr + offs, mask=ok, other=0.0).to(CDT)
            tl.store(g_ptr + offs, grad1.to(g_ptr.dtype.element_ty), mask=ok)
    if ACC_LOSS:
        tl.store(rowloss_ptr + row, tl.sum(acc, 0))


def _launch(p: Prepared, coef, scale, valid, *, go=None, g=None, loss=None, acc=False):
    """Run the dense pass (and the sparse fix-up) in the mode the given outputs select.

    Returns the per-row loss sums when ``acc``, else None.
    """
    geo, dev = p.geo, p.x.device
    part = torch.empty((p.rows, geo.chunks), dtype=p.work, device=dev) if acc else None
    flags = {
        "HAS_U": p.u is not None,
        "HAS_W": p.w is not None,
        "HAS_PW": p.pw is not None,
        "ACC_LOSS": acc,
        "LOSS_ELEM": loss is not None,
        "WRITE_GRAD": g is not None,
        "GO_ELEM": go is not None,
    }
    launch(
        _sigmoid_kernel,
        (p.rows, geo.chunks),
        p.x,
        *p.target_args(),
        p.ptr(p.u),
        p.ptr(p.w),
        p.ptr(p.pw),
        coef.a,
        coef.b,
        coef.c,
        scale,
        valid,
        p.ptr(go),
        p.ptr(g),
        p.ptr(loss),
        p.ptr(part),
        geo.N,
        geo.R,
        geo.chunk,
        geo.chunks,
        BLOCK=geo.block,
        CDT=p.cdt,
        num_warps=geo.num_warps,
        HAS_Y=p.y is not None,
        SOFT=p.soft,
        HAS_IGN=p.ign is not None,
        HAS_MASK=p.mask is not None,
        **flags,
    )
    rowloss = part.sum(1) if acc else None
    if p.offsets is not None:
        extra = torch.empty((p.rows,), dtype=p.work, device=dev) if acc else None
        launch(
            _sigmoid_sparse_kernel,
            (p.rows,),
            p.x,
            p.offsets,
            p.indices,
            p.ptr(p.mask),
            p.ptr(p.u),
            p.ptr(p.w),
            p.ptr(p.pw),
            coef.a,
            coef.b,
            coef.c,
            scale,
            valid,
            p.ptr(go),
            p.ptr(g),
            p.ptr(loss),
            p.ptr(extra),
            geo.N,
            SBLOCK=SPARSE_BLOCK,
            CDT=p.cdt,
            HAS_MASK=p.mask is not None,
            num_warps=2,
            **flags,
        )
        if acc:
            rowloss = rowloss + extra
    return rowloss


class _Coef:
    """Per-row coefficients as flat contiguous arrays in the compute dtype."""

    def __init__(self, coef, work):
        self.a, self.b, self.c = (
            v.reshape(-1).to(work).contiguous() for v in (coef.a, coef.b, coef.c)
        )
        self.valid = coef.valid.reshape(-1)


def plan(p: Prepared, config):
    """Row counts (reading the target only if needed) and the per-row coefficients.

    Returns ``(coef, N)``; raises like the PyTorch path for invalid targets and rows.
    """
    if p.offsets is not None:  # sparse: n from the offsets, unless a mask hides positives
        read = p.mask is not None
    else:
        read = needs_row_counts(config) or p.mask is not None or p.ign is not None or p.validate
    if read:
        n, N, U, bad = row_stats(p)
        if p.validate and bool((bad > 0).any()):
            raise_target_error(p)
    else:
        n, N, U = constant_stats(p)
    coef = row_coefficients(config, n, N, U)  # same code, policies and errors as the torch path
    return _Coef(coef, p.work), N


class SigmoidLoss(torch.autograd.Function):
    """``apply(logits, prepared, config, reduction, need_grad)`` -> loss (see module docstring)."""

    @staticmethod
    def forward(ctx, logits, p: Prepared, config, reduction: str, need_grad: bool):
        coef, N = plan(p, config)
        valid = coef.valid.to(p.work)
        count = (N * valid).sum(dtype=torch.float64)  # known elements of valid rows
        if reduction == "mean":
            scale = valid / count.clamp(min=1.0).to(p.work)
        else:
            scale = valid
        ctx.p, ctx.coef, ctx.valid, ctx.scale, ctx.reduction = p, coef, valid, scale, reduction
        ctx.save_for_backward(logits)
        ctx.grad = None
        if reduction == "none":
            loss = torch.empty(p.x.shape, dtype=p.work, device=p.x.device)
            _launch(p, coef, scale, valid, loss=loss)
            return loss.view(p.shape)
        g = torch.empty(p.x.shape, dtype=logits.dtype, device=p.x.device) if need_grad else None
        rowloss = _launch(p, coef, scale, valid, g=g, acc=True)
        ctx.grad = g
        total = torch.where(coef.valid, rowloss, 0.0).sum(dtype=torch.float64)
        if reduction == "mean":
            total = total / count.clamp(min=1.0)
        return total.to(p.work)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        (logits,) = ctx.saved_tensors  # raises if the logits were modified in place
        p = ctx.p
        if ctx.reduction == "none":
            go = grad_out.to(p.work).reshape(p.x.shape).contiguous()
            g = torch.empty(p.x.shape, dtype=logits.dtype, device=logits.device)
            _launch(p, ctx.coef, ctx.valid, ctx.valid, go=go, g=g)
        elif ctx.grad is not None:  # written in forward: scale by go in place (free if go == 1)
            g, ctx.grad = ctx.grad, None
            scale_(g, grad_out.to(p.work), p.cdt)
        else:  # a second backward (retain_graph=True): recompute with the scale folded in
            g = torch.empty(p.x.shape, dtype=logits.dtype, device=logits.device)
            _launch(p, ctx.coef, ctx.scale * grad_out.to(p.work), ctx.valid, g=g)
        return g.view(p.shape), None, None, None, None
