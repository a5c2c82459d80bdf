"""Fused sigmoid-family loss (``binary``, ``binary_uniform``, ``mass_preserving``, ``asymmetric``,
``prior``): Triton kernels, host launcher and autograd Function.

Per label, with the target ``t = a u + c + (b - c) y`` of :mod:`multilabel_ls.strategies`::

    l = w [pw t softplus(-x) + (1 - t) softplus(x)]          (derivation D2.3, elementwise)
    g = s w [σ(x) (1 + (pw - 1) t) - pw t]                    (derivation D2.2)

with ``s`` the row's scale (``valid / count`` for ``"mean"``, ``valid`` for ``"sum"``).

Passes (``"mean"``/``"sum"``):

1. *Coefficients.* When they read neither ``n`` nor ``U`` (``binary``, ``binary_uniform``,
   ``asymmetric``, ``prior`` with "keep" policies) and every label is known (no mask, no
   ``ignore_index``, a bool target or ``validate=False``), every row has the same ``a, b, c``:
   :func:`multilabel_ls.strategies.row_coefficients` runs once on the host on one-element
   tensors and the kernel gets scalars (float32 only). Otherwise a *row-count pass* reads the
   1-byte target and/or mask once (never the logits) for ``n, N, U`` and the target check, and
   ``row_coefficients`` runs on the per-row vectors. Either way it is the same code as the
   PyTorch path: same policies, same errors.
2. *One pass over the logits*: read ``x`` and ``y``, write the gradient ``g`` (logits dtype,
   scaled by ``s`` already) and one partial loss sum per (row, chunk), already multiplied by
   ``s``, so the loss is the sum of the partials.

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
    times,
)


@triton.jit
def _sigmoid_terms(x, t, w, pw, HAS_W: tl.constexpr, HAS_PW: tl.constexpr):
    """Elementwise loss and unscaled gradient (D2.2, D2.3) for targets ``t``."""
    sp_pos, sp_neg, sig = softplus_sigmoid(x)
    # = softplus(x) - t x without cancellation; a zero factor gives 0 next to an infinite logit
    if HAS_PW:
        loss = times(pw * t, sp_neg) + times(1.0 - t, sp_pos)
        grad = sig * (1.0 + (pw - 1.0) * t) - pw * t
    else:
        loss = times(t, sp_neg) + times(1.0 - t, sp_pos)
        grad = sig - t
    if HAS_W:
        loss = times(w, loss)
        grad = grad * w
    return loss, grad


@triton.jit
def _row_coefficients(
    row, a_ptr, b_ptr, c_ptr, scale_ptr, valid_ptr, a_s, b_s, c_s, scale_s, valid_s,
    CDT: tl.constexpr, ROW_COEF: tl.constexpr,
):  # fmt: skip
    """``(a, b, c, scale, valid)`` of a row: from per-row arrays, or the scalars every row shares."""
    if ROW_COEF:
        a = tl.load(a_ptr + row).to(CDT)
        b = tl.load(b_ptr + row).to(CDT)
        c = tl.load(c_ptr + row).to(CDT)
        scale = tl.load(scale_ptr + row).to(CDT)
        valid = tl.load(valid_ptr + row).to(CDT)
    else:  # float32 scalars (this path is only taken for float32 compute)
        a = a_s
        b = b_s
        c = c_s
        scale = scale_s
        valid = valid_s
    return a, b, c, scale, valid


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
    a_s,
    b_s,
    c_s,
    scale_s,
    valid_s,
    go_ptr,
    g_ptr,
    loss_ptr,
    part_ptr,
    N,
    R,
    chunk,
    nchunks,
    BLOCK: tl.constexpr,
    SEG: tl.constexpr,
    ROW_COEF: tl.constexpr,
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
    """One (row, chunk): loss partial sum and/or elementwise loss and/or gradient.

    The partial loss is stored multiplied by the row's scale (``valid / count`` for "mean",
    ``valid`` for "sum"), so the loss is the plain sum of the partials.
    """
    row = tl.program_id(0).to(tl.int64)
    ch = tl.program_id(1)
    if SEG:  # (B, N, R): labels at stride R
        base = (row // R) * N * R + row % R
    else:
        base = row * N
    a, b, c, scale, valid = _row_coefficients(
        row, a_ptr, b_ptr, c_ptr, scale_ptr, valid_ptr, a_s, b_s, c_s, scale_s, valid_s, CDT,
        ROW_COEF,
    )  # fmt: skip
    delta = b - c
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
        tl.store(part_ptr + row * nchunks + ch, tl.where(valid != 0, tl.sum(acc, 0) * scale, 0.0))


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
    a_s,
    b_s,
    c_s,
    scale_s,
    valid_s,
    go_ptr,
    g_ptr,
    loss_ptr,
    part_ptr,
    N,
    nchunks,
    SBLOCK: tl.constexpr,
    ROW_COEF: tl.constexpr,
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

    Adds ``l(t_pos) - l(t_neg)`` (scaled) to the row's first loss partial and overwrites the
    elementwise loss and the gradient at the (known) positives with their ``y = 1`` values.
    Indices within a row are distinct (validated by PositiveIndices), so no two lanes write one
    element; the dense pass ran before (stream order).
    """
    row = tl.program_id(0).to(tl.int64)
    a, b, c, scale, valid = _row_coefficients(
        row, a_ptr, b_ptr, c_ptr, scale_ptr, valid_ptr, a_s, b_s, c_s, scale_s, valid_s, CDT,
        ROW_COEF,
    )  # fmt: skip
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
        extra = tl.where(valid != 0, tl.sum(acc, 0) * scale, 0.0)
        tl.store(part_ptr + row * nchunks, tl.load(part_ptr + row * nchunks) + extra)


class _Coef:
    """Per-row coefficients: flat arrays in the compute dtype, or scalars shared by every row."""

    def __init__(self, a, b, c, scale, valid, rows: bool):
        self.a, self.b, self.c, self.scale, self.valid, self.rows = a, b, c, scale, valid, rows

    def args(self, p: Prepared) -> tuple:
        if self.rows:
            return (self.a, self.b, self.c, self.scale, self.valid, 0.0, 0.0, 0.0, 0.0, 0.0)
        d = p.dummy
        return (d, d, d, d, d, self.a, self.b, self.c, self.scale, self.valid)

    def with_scale(self, scale, p: Prepared) -> _Coef:
        """The same coefficients with another (per-row tensor) scale."""
        if self.rows:
            return _Coef(self.a, self.b, self.c, scale, self.valid, True)
        full = [torch.full((p.rows,), v, dtype=p.work, device=p.x.device)
                for v in (self.a, self.b, self.c, self.valid)]  # fmt: skip
        return _Coef(full[0], full[1], full[2], scale * full[3], full[3], True)


def _launch(p: Prepared, coef: _Coef, *, go=None, g=None, loss=None, part=None):
    """Run the dense pass (and the sparse fix-up) in the mode the given outputs select."""
    geo = p.geo
    flags = {
        "HAS_U": p.u is not None,
        "HAS_W": p.w is not None,
        "HAS_PW": p.pw is not None,
        "ACC_LOSS": part is not None,
        "LOSS_ELEM": loss is not None,
        "WRITE_GRAD": g is not None,
        "GO_ELEM": go is not None,
        "ROW_COEF": coef.rows,
    }
    cargs = coef.args(p)
    launch(
        _sigmoid_kernel,
        (p.rows, geo.chunks),
        p.x,
        *p.target_args(),
        p.ptr(p.u),
        p.ptr(p.w),
        p.ptr(p.pw),
        *cargs,
        p.ptr(go),
        p.ptr(g),
        p.ptr(loss),
        p.ptr(part),
        geo.N,
        geo.R,
        geo.chunk,
        geo.chunks,
        BLOCK=geo.block,
        SEG=geo.R > 1,
        CDT=p.cdt,
        num_warps=geo.num_warps,
        HAS_Y=p.y is not None,
        SOFT=p.soft,
        HAS_IGN=p.ign is not None,
        HAS_MASK=p.mask is not None,
        **flags,
    )
    if p.offsets is not None:
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
            *cargs,
            p.ptr(go),
            p.ptr(g),
            p.ptr(loss),
            p.ptr(part),
            geo.N,
            geo.chunks,
            SBLOCK=SPARSE_BLOCK,
            CDT=p.cdt,
            HAS_MASK=p.mask is not None,
            num_warps=2,
            **flags,
        )


def shared_coefficients(p: Prepared, config) -> bool:
    """Whether every row has the same ``a, b, c`` and needs no pass over the target.

    True for the strategies whose coefficients read neither ``n`` nor ``U`` (``binary``,
    ``binary_uniform``, ``asymmetric``, ``prior``; "keep" policies), with every label known and
    no target check to run (bool target or ``validate=False``), in float32. The coefficients are
    then computed once on the host by :func:`~multilabel_ls.strategies.row_coefficients` on
    one-element tensors and passed to the kernel as scalars: a handful of host operations
    instead of a dozen small device ones (kernel launches dominate at 1024 x 32,768).
    """
    return (
        p.work == torch.float32
        and not needs_row_counts(config)
        and p.mask is None
        and p.ign is None
        and not p.validate
    )


def plan(p: Prepared, config, reduction: str) -> _Coef:
    """Row counts (reading the target only if needed), coefficients and the row scale.

    Raises like the PyTorch path for invalid targets and rows.
    """
    mean = reduction == "mean"
    if shared_coefficients(p, config):
        N = torch.full((1,), float(p.geo.N), dtype=p.work)
        coef = row_coefficients(config, torch.zeros_like(N), N, N)  # n, U not read (tested)
        valid = float(coef.valid[0])
        count = p.rows * p.geo.N * valid
        scale = valid / max(count, 1.0) if mean else valid
        return _Coef(float(coef.a[0]), float(coef.b[0]), float(coef.c[0]), scale, valid, False)
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
    valid = coef.valid.to(p.work)
    if mean:
        count = (N * valid).sum(dtype=torch.float64)  # known elements of valid rows
        scale = valid / count.clamp(min=1.0).to(p.work)
    else:
        scale = valid
    a, b, c = (v.reshape(-1).to(p.work).contiguous() for v in (coef.a, coef.b, coef.c))
    return _Coef(a, b, c, scale.contiguous(), valid.contiguous(), True)


class SigmoidLoss(torch.autograd.Function):
    """``apply(logits, prepared, config, reduction, need_grad)`` -> loss (see module docstring)."""

    @staticmethod
    def forward(ctx, logits, p: Prepared, config, reduction: str, need_grad: bool):
        coef = plan(p, config, reduction)
        ctx.p, ctx.coef, ctx.reduction, ctx.grad = p, coef, reduction, None
        ctx.config = config
        ctx.save_for_backward(logits)
        if reduction == "none":
            loss = torch.empty(p.x.shape, dtype=p.work, device=p.x.device)
            _launch(p, coef, loss=loss)
            return loss.view(p.shape)
        g = torch.empty(p.x.shape, dtype=logits.dtype, device=p.x.device) if need_grad else None
        part = torch.empty((p.rows, p.geo.chunks), dtype=p.work, device=p.x.device)
        _launch(p, coef, g=g, part=part)
        ctx.grad = g
        return part.sum(dtype=torch.float64).to(p.work)

    @staticmethod
    def backward(ctx, grad_out):
        (logits,) = ctx.saved_tensors  # raises if the logits were modified in place
        if torch.is_grad_enabled():  # create_graph=True: a differentiable gradient (D2.4, D3.4)
            from .._closed_form import gradient_with_graph

            p = ctx.p
            g = gradient_with_graph(
                logits, ctx.config, p.source, p.w, p.pw, ctx.reduction, grad_out
            )
            return g, None, None, None, None
        p, coef = ctx.p, ctx.coef
        if ctx.reduction == "none":  # the scale is the validity, the upstream is elementwise
            go = grad_out.to(p.work).reshape(p.x.shape).contiguous()
            g = torch.empty(p.x.shape, dtype=logits.dtype, device=logits.device)
            _launch(p, _Coef(coef.a, coef.b, coef.c, coef.valid, coef.valid, coef.rows), go=go, g=g)
        elif ctx.grad is not None:  # written in forward: scale by go in place (free if go == 1)
            g, ctx.grad = ctx.grad, None
            scale_(g, grad_out.to(p.work), p.cdt)
        else:  # a second backward (retain_graph=True): recompute with the scale folded in
            g = torch.empty(p.x.shape, dtype=logits.dtype, device=logits.device)
            scale = (
                coef.scale
                if coef.rows
                else torch.full((p.rows,), coef.scale, dtype=p.work, device=p.x.device)
            )
            _launch(p, coef.with_scale(scale * grad_out.to(p.work), p), g=g)
        return g.view(p.shape), None, None, None, None
