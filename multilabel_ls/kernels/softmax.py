"""Fused softmax-family loss (``uniform``, ``positive_split``, ``unnormalized``,
``asymmetric_softmax``, ``prior_softmax``): Triton kernels, host launcher and autograd Function.

Per row, over the known labels, with ``t = a u + c + (b - c) y`` and ``h_j = w_j (lse - x_j)``::

    loss = Σ_j t_j h_j = α Σ u_j h_j + γ Σ h_j + δ Σ y_j h_j      (derivation D3.3)
    g_j  = s (S_w softmax(x)_j - w_j t_j),   S_w = Σ_j w_j t_j    (derivation D3.2)

(``α = a``, ``γ = c``, ``δ = b - c``; ``s`` the row's scale). The row sums do not need the
coefficients, so the first pass over the logits needs no earlier pass over the target:

1. *Pass 1* (grid rows × chunks): one read of ``x`` and ``y`` with an online log-sum-exp.
   Every lane keeps its running max ``m`` and, for each part ``v ∈ {1, y, u}``,
   ``S_v = Σ w v`` and ``A_v = Σ w v (m - x) >= 0``; when ``m`` grows by ``Δ``, ``A_v += Δ S_v``
   (all terms non-negative: no cancellation). The row counts ``n, N, U`` and the target check
   ride along. A per-row kernel merges lanes and chunks into ``M`` (the row max), ``log d``
   (``d = Σ exp(x - M)``) and ``Σ v h = S_v log d + A_v``; ``lse = M + log d`` is never formed,
   so nothing huge is subtracted from a huge number (derivation D3.9): the gradient uses
   ``softmax(x)_j = exp((x_j - M) - log d)``.
2. :func:`multilabel_ls.strategies.row_coefficients` on the per-row vectors (the same code,
   policies and errors as the PyTorch path; its policy checks synchronise with the host).
3. *Pass 2* (grid rows × chunks), still in forward for ``"mean"``/``"sum"``: the row losses
   and ``S_w`` from the row sums, then one read of ``x`` and ``y`` and one write of ``g``. Putting
   it in forward means that everything after the host synchronisation of step 2 is one launch,
   so the GPU does not wait for the host's autograd bookkeeping before the big pass. Backward
   multiplies ``g`` in place by the upstream scalar with a kernel that exits at once when it
   is 1 (no host sync). ``"none"`` (an upstream gradient per row) and a second backward
   (``retain_graph=True``) run pass 2 in backward instead.

So the logits are read twice and the 1-byte target twice and the gradient written once:
about 1.56x the HBM floor for fp32 and 1.6x for bf16 by bytes. Nothing of size ``B x N`` exists
but the gradient.

Sparse targets: pass 1 runs with ``y = 0`` and the merge kernel adds ``Σ_{pos} w (lse - x)`` and
``Σ_{pos} w`` from the CSR indices (derivation ``D1.6``); after pass 2 a per-row kernel
rewrites the gradient at the positives.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..strategies import row_coefficients
from ._common import (
    SPARSE_BLOCK,
    Prepared,
    launch,
    load_target,
    raise_target_error,
    scale_,
    times,
)

#: Fields of a (row, chunk) partial: max, Σexp, then (A, S) for the parts 1, y, u, then counts,
#: then (A, S) for the part 1 - y.
_PARTS = 14
#: Fields of a merged row: M (the row max; 0 without a known label), Σh, Σw, Σyh, Σwy, Σuh,
#: Σwu, n, N, U, bad, log d (d = Σ exp(x - M)), Σ(1-y)h; log-probabilities are
#: (x - M) - log d (D3.9).
_ROW = 13


@triton.jit
def _softmax_sums_kernel(
    x_ptr,
    y_ptr,
    ign_ptr,
    mask_ptr,
    u_ptr,
    w_ptr,
    part_ptr,
    N,
    R,
    chunk,
    nchunks,
    BLOCK: tl.constexpr,
    SEG: tl.constexpr,
    CDT: tl.constexpr,
    HAS_Y: tl.constexpr,
    SOFT: tl.constexpr,
    HAS_IGN: tl.constexpr,
    HAS_MASK: tl.constexpr,
    VALIDATE: tl.constexpr,
    HAS_U: tl.constexpr,
    HAS_W: tl.constexpr,
    PARTS: tl.constexpr,
):
    """Pass 1 of one (row, chunk): online max, Σ exp and the max-relative row sums (D3.3)."""
    row = tl.program_id(0).to(tl.int64)
    ch = tl.program_id(1)
    if SEG:  # (B, N, R): labels at stride R
        base = (row // R) * N * R + row % R
    else:
        base = row * N
    col0 = ch * chunk
    col1 = tl.minimum(col0 + chunk, N)
    m = tl.full([BLOCK], float("-inf"), dtype=CDT)
    d = tl.full([BLOCK], 0.0, dtype=CDT)
    a1 = tl.full([BLOCK], 0.0, dtype=CDT)
    s1 = tl.full([BLOCK], 0.0, dtype=CDT)
    ay = tl.full([BLOCK], 0.0, dtype=CDT)
    sy = tl.full([BLOCK], 0.0, dtype=CDT)
    a0 = tl.full([BLOCK], 0.0, dtype=CDT)
    s0 = tl.full([BLOCK], 0.0, dtype=CDT)
    au = tl.full([BLOCK], 0.0, dtype=CDT)
    su = tl.full([BLOCK], 0.0, dtype=CDT)
    n = tl.full([BLOCK], 0.0, dtype=CDT)
    k = tl.full([BLOCK], 0.0, dtype=CDT)
    uk = tl.full([BLOCK], 0.0, dtype=CDT)
    nbad = tl.full([BLOCK], 0.0, dtype=CDT)
    for start in range(col0, col1, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        inb = cols < col1
        offs = base + cols.to(tl.int64) * R
        x = tl.load(x_ptr + offs, mask=inb, other=0.0).to(CDT)
        y, known, bad = load_target(
            y_ptr, ign_ptr, mask_ptr, offs, inb, BLOCK, CDT, HAS_Y, SOFT, HAS_IGN, HAS_MASK,
            VALIDATE,
        )  # fmt: skip
        nbad += bad
        k += tl.where(known, 1.0, 0.0).to(CDT)
        if HAS_W:
            wk = tl.where(known, tl.load(w_ptr + cols, mask=inb, other=0.0).to(CDT), 0.0)
        else:
            wk = tl.where(known, 1.0, 0.0).to(CDT)
        m_new = tl.maximum(m, tl.where(known, x, float("-inf")))
        ref = tl.where(m_new == float("-inf"), 0.0, m_new)  # finite stand-in for an empty lane
        old = tl.where(m == float("-inf"), ref, m)
        shift = ref - old  # >= 0: rebase the sums of the lane to the new max
        xs = tl.where(known, x, ref)
        dist = ref - xs  # m - x >= 0 at known labels, 0 elsewhere
        d = d * tl.exp(old - ref) + tl.where(known, tl.exp(xs - ref), 0.0)
        a1 = a1 + shift * s1 + times(wk, dist)
        s1 += wk
        if HAS_Y:
            wy = wk * y
            ay = ay + shift * sy + times(wy, dist)  # 0 · inf = 0 at a -inf logit
            sy += wy
            n += y
            w0 = wk - wy  # w (1 - y), summed directly: never Σh - Σyh
            a0 = a0 + shift * s0 + times(w0, dist)
            s0 += w0
        if HAS_U:
            uv = tl.load(u_ptr + cols, mask=inb, other=0.0).to(CDT)
            wu = wk * uv
            au = au + shift * su + times(wu, dist)
            su += wu
            uk += tl.where(known, uv, 0.0)
        m = m_new
    # merge the lanes at the program's max M
    M = tl.max(m, 0)
    Mref = tl.where(M == float("-inf"), 0.0, M)
    mo = tl.where(m == float("-inf"), Mref, m)
    f = tl.exp(mo - Mref)
    sh = Mref - mo
    o = part_ptr + (row * nchunks + ch) * PARTS
    tl.store(o, M)
    tl.store(o + 1, tl.sum(d * f, 0))
    tl.store(o + 2, tl.sum(a1 + sh * s1, 0))
    tl.store(o + 3, tl.sum(s1, 0))
    tl.store(o + 4, tl.sum(ay + sh * sy, 0))
    tl.store(o + 5, tl.sum(sy, 0))
    tl.store(o + 6, tl.sum(au + sh * su, 0))
    tl.store(o + 7, tl.sum(su, 0))
    tl.store(o + 8, tl.sum(n, 0))
    tl.store(o + 9, tl.sum(k, 0))
    tl.store(o + 10, tl.sum(uk, 0))
    tl.store(o + 11, tl.sum(nbad, 0))
    tl.store(o + 12, tl.sum(a0 + sh * s0, 0))
    tl.store(o + 13, tl.sum(s0, 0))


@triton.jit
def _softmax_rows_kernel(
    part_ptr,
    x_ptr,
    off_ptr,
    idx_ptr,
    mask_ptr,
    w_ptr,
    out_ptr,
    N,
    nchunks,
    nrows,
    CB: tl.constexpr,
    SBLOCK: tl.constexpr,
    CDT: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_W: tl.constexpr,
    SPARSE: tl.constexpr,
    PARTS: tl.constexpr,
):
    """Merge a row's chunk partials into ``M``, ``log d`` and the row sums ``Σ v h`` (D3.3,
    D3.9); for a sparse target add the positives' ``Σ w ((M - x) + log d)``, ``Σ w`` and their
    count (D1.6)."""
    row = tl.program_id(0).to(tl.int64)
    m = tl.full([CB], float("-inf"), dtype=CDT)
    d = tl.full([CB], 0.0, dtype=CDT)
    a1 = tl.full([CB], 0.0, dtype=CDT)
    s1 = tl.full([CB], 0.0, dtype=CDT)
    ay = tl.full([CB], 0.0, dtype=CDT)
    sy = tl.full([CB], 0.0, dtype=CDT)
    a0 = tl.full([CB], 0.0, dtype=CDT)
    s0 = tl.full([CB], 0.0, dtype=CDT)
    au = tl.full([CB], 0.0, dtype=CDT)
    su = tl.full([CB], 0.0, dtype=CDT)
    n = tl.full([CB], 0.0, dtype=CDT)
    k = tl.full([CB], 0.0, dtype=CDT)
    uk = tl.full([CB], 0.0, dtype=CDT)
    nb = tl.full([CB], 0.0, dtype=CDT)
    for c0 in range(0, nchunks, CB):
        cc = c0 + tl.arange(0, CB)
        ok = cc < nchunks
        P = part_ptr + (row * nchunks + cc) * PARTS
        pm = tl.load(P, mask=ok, other=float("-inf")).to(CDT)
        m_new = tl.maximum(m, pm)
        ref = tl.where(m_new == float("-inf"), 0.0, m_new)
        mo = tl.where(m == float("-inf"), ref, m)
        po = tl.where(pm == float("-inf"), ref, pm)
        so = ref - mo
        sp = ref - po
        d = d * tl.exp(mo - ref) + tl.load(P + 1, mask=ok, other=0.0) * tl.exp(po - ref)
        ps = tl.load(P + 3, mask=ok, other=0.0)
        a1 = a1 + so * s1 + tl.load(P + 2, mask=ok, other=0.0) + sp * ps
        s1 += ps
        ps = tl.load(P + 5, mask=ok, other=0.0)
        ay = ay + so * sy + tl.load(P + 4, mask=ok, other=0.0) + sp * ps
        sy += ps
        ps = tl.load(P + 13, mask=ok, other=0.0)
        a0 = a0 + so * s0 + tl.load(P + 12, mask=ok, other=0.0) + sp * ps
        s0 += ps
        ps = tl.load(P + 7, mask=ok, other=0.0)
        au = au + so * su + tl.load(P + 6, mask=ok, other=0.0) + sp * ps
        su += ps
        n += tl.load(P + 8, mask=ok, other=0.0)
        k += tl.load(P + 9, mask=ok, other=0.0)
        uk += tl.load(P + 10, mask=ok, other=0.0)
        nb += tl.load(P + 11, mask=ok, other=0.0)
        m = m_new
    M = tl.max(m, 0)
    Mref = tl.where(M == float("-inf"), 0.0, M)
    mo = tl.where(m == float("-inf"), Mref, m)
    sh = Mref - mo
    D = tl.sum(d * tl.exp(mo - Mref), 0)
    logd = tl.log(tl.where(M == float("-inf"), 1.0, D))  # D >= 1 when the row has a known label
    # Σ_j v_j w_j (lse - x_j) = S_v log d + A_v: both terms >= 0 (D3.3)
    S1 = tl.sum(s1, 0)
    SY = tl.sum(sy, 0)
    SU = tl.sum(su, 0)
    H1 = S1 * logd + tl.sum(a1 + sh * s1, 0)
    HY = SY * logd + tl.sum(ay + sh * sy, 0)
    HU = SU * logd + tl.sum(au + sh * su, 0)
    H0 = tl.sum(s0, 0) * logd + tl.sum(a0 + sh * s0, 0)
    npos = tl.sum(n, 0)
    if SPARSE:
        lo = tl.load(off_ptr + row)
        hi = tl.load(off_ptr + row + 1)
        hy = tl.full([SBLOCK], 0.0, dtype=CDT)
        wy = tl.full([SBLOCK], 0.0, dtype=CDT)
        cnt = tl.full([SBLOCK], 0.0, dtype=CDT)
        for s in range(lo, hi, SBLOCK):
            kk = s + tl.arange(0, SBLOCK)
            ok = kk < hi
            j = tl.load(idx_ptr + kk, mask=ok, other=0)
            offs = row * N + j
            if HAS_MASK:
                ok = ok & (tl.load(mask_ptr + offs, mask=ok, other=1) == 0)
            x = tl.load(x_ptr + offs, mask=ok, other=0.0).to(CDT)
            if HAS_W:
                w = tl.where(ok, tl.load(w_ptr + j, mask=ok, other=0.0).to(CDT), 0.0)
            else:
                w = tl.where(ok, 1.0, 0.0).to(CDT)
            hy += w * tl.where(ok, (Mref - x) + logd, 0.0)  # never lse - x (D3.9)
            wy += w
            cnt += tl.where(ok, 1.0, 0.0).to(CDT)
        HY = tl.sum(hy, 0)
        SY = tl.sum(wy, 0)
        npos = tl.sum(cnt, 0)
        H0 = H1 - HY  # the dense pass saw y = 0; this difference can cancel (sparse only)
    # field-major (12, rows): every field is a contiguous per-row vector for the host
    tl.store(out_ptr + row, Mref)
    tl.store(out_ptr + nrows + row, H1)
    tl.store(out_ptr + 2 * nrows + row, S1)
    tl.store(out_ptr + 3 * nrows + row, HY)
    tl.store(out_ptr + 4 * nrows + row, SY)
    tl.store(out_ptr + 5 * nrows + row, HU)
    tl.store(out_ptr + 6 * nrows + row, SU)
    tl.store(out_ptr + 7 * nrows + row, npos)
    tl.store(out_ptr + 8 * nrows + row, tl.sum(k, 0))
    tl.store(out_ptr + 9 * nrows + row, tl.sum(uk, 0))
    tl.store(out_ptr + 10 * nrows + row, tl.sum(nb, 0))
    tl.store(out_ptr + 11 * nrows + row, logd)
    tl.store(out_ptr + 12 * nrows + row, H0)


@triton.jit
def _softmax_finish_kernel(
    x_ptr,
    y_ptr,
    ign_ptr,
    mask_ptr,
    u_ptr,
    w_ptr,
    rs_ptr,
    a_ptr,
    b_ptr,
    c_ptr,
    valid_ptr,
    count_ptr,
    go_ptr,
    g_ptr,
    loss_ptr,
    mass_ptr,
    sc_ptr,
    N,
    R,
    chunk,
    nrows,
    BLOCK: tl.constexpr,
    SEG: tl.constexpr,
    CDT: tl.constexpr,
    HAS_Y: tl.constexpr,
    SOFT: tl.constexpr,
    HAS_IGN: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_U: tl.constexpr,
    HAS_W: tl.constexpr,
    MEAN: tl.constexpr,
    GO_MODE: tl.constexpr,
    WRITE_LOSS: tl.constexpr,
    WRITE_GRAD: tl.constexpr,
    SPARSE: tl.constexpr,
):
    """After the coefficients: the row loss (chunk 0) and pass 2 of one (row, chunk).

    ``loss = α Σuh + γ Σh + δ Σyh`` (D3.3), ``S_w = α Σwu + γ Σw + δ Σwy`` and
    ``g = s (S_w softmax(x) - w t)`` at known labels (D3.2), with the row scale
    ``s = valid · go [/ count]`` (``GO_MODE``: 0 no upstream factor, 1 a scalar, 2 per row).
    """
    row = tl.program_id(0).to(tl.int64)
    ch = tl.program_id(1)
    a = tl.load(a_ptr + row).to(CDT)
    b = tl.load(b_ptr + row).to(CDT)
    c = tl.load(c_ptr + row).to(CDT)
    delta = b - c
    valid = tl.load(valid_ptr + row).to(CDT)
    M = tl.load(rs_ptr + row)
    logd = tl.load(rs_ptr + 11 * nrows + row)
    H1 = tl.load(rs_ptr + nrows + row)
    W1 = tl.load(rs_ptr + 2 * nrows + row)
    HY = tl.load(rs_ptr + 3 * nrows + row)
    WY = tl.load(rs_ptr + 4 * nrows + row)
    H0 = tl.load(rs_ptr + 12 * nrows + row)
    if HAS_U:
        HU = tl.load(rs_ptr + 5 * nrows + row)
        WU = tl.load(rs_ptr + 6 * nrows + row)
    else:  # u = 1
        HU = H1
        WU = W1
    mass = a * WU + c * W1 + delta * WY  # S_w = Σ w t (D3.2)
    sc = valid
    if MEAN:
        inv = 1.0 / tl.maximum(tl.load(count_ptr).to(CDT), 1.0)
        sc = sc * inv
    if GO_MODE == 1:
        sc = sc * tl.load(go_ptr).to(CDT)
    if GO_MODE == 2:
        sc = sc * tl.load(go_ptr + row).to(CDT)
    if ch == 0:
        if WRITE_LOSS:
            # D3.9: a, b, c >= 0 times sums of h >= 0 (never γΣh + δΣyh, which subtracts when
            # b < c); a zero coefficient contributes 0 even against an infinite sum
            if HAS_U:
                loss = times(a, HU) + times(b, HY) + times(c, H0)
            else:
                loss = times(a + b, HY) + times(a + c, H0)
            loss = tl.where(valid != 0, loss, 0.0)
            if MEAN:
                loss = loss * inv
            tl.store(loss_ptr + row, loss)
        if WRITE_GRAD and SPARSE:  # for the sparse fix-up kernel, which runs next
            tl.store(mass_ptr + row, mass)
            tl.store(sc_ptr + row, sc)
    if WRITE_GRAD:
        if SEG:  # (B, N, R): labels at stride R
            base = (row // R) * N * R + row % R
        else:
            base = row * N
        col0 = ch * chunk
        col1 = tl.minimum(col0 + chunk, N)
        for start in range(col0, col1, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            inb = cols < col1
            offs = base + cols.to(tl.int64) * R
            x = tl.load(x_ptr + offs, mask=inb, other=0.0).to(CDT)
            y, known, _ = load_target(
                y_ptr, ign_ptr, mask_ptr, offs, inb, BLOCK, CDT, HAS_Y, SOFT, HAS_IGN, HAS_MASK,
                False,
            )  # fmt: skip
            if HAS_U:
                t = a * tl.load(u_ptr + cols, mask=inb, other=0.0).to(CDT) + c + delta * y
            else:
                t = a + c + delta * y
            if HAS_W:
                t = t * tl.load(w_ptr + cols, mask=inb, other=0.0).to(CDT)
            p = tl.exp((tl.where(known, x, M) - M) - logd)  # D3.9: never x - lse
            g = tl.where(known, sc * (mass * p - t), 0.0)
            tl.store(g_ptr + offs, g.to(g_ptr.dtype.element_ty), mask=inb)


@triton.jit
def _softmax_sparse_grad_kernel(
    x_ptr,
    off_ptr,
    idx_ptr,
    mask_ptr,
    u_ptr,
    w_ptr,
    a_ptr,
    b_ptr,
    m_ptr,
    logd_ptr,
    mass_ptr,
    sc_ptr,
    g_ptr,
    N,
    SBLOCK: tl.constexpr,
    CDT: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_U: tl.constexpr,
    HAS_W: tl.constexpr,
):
    """Rewrite the gradient at a row's known positives with ``y = 1`` (D3.2, D1.6)."""
    row = tl.program_id(0).to(tl.int64)
    a = tl.load(a_ptr + row).to(CDT)
    b = tl.load(b_ptr + row).to(CDT)
    M = tl.load(m_ptr + row).to(CDT)
    logd = tl.load(logd_ptr + row).to(CDT)
    mass = tl.load(mass_ptr + row).to(CDT)
    sc = tl.load(sc_ptr + row).to(CDT)
    lo = tl.load(off_ptr + row)
    hi = tl.load(off_ptr + row + 1)
    for s in range(lo, hi, SBLOCK):
        kk = s + tl.arange(0, SBLOCK)
        ok = kk < hi
        j = tl.load(idx_ptr + kk, mask=ok, other=0)
        offs = row * N + j
        if HAS_MASK:
            ok = ok & (tl.load(mask_ptr + offs, mask=ok, other=1) == 0)
        x = tl.load(x_ptr + offs, mask=ok, other=0.0).to(CDT)
        if HAS_U:
            t = a * tl.load(u_ptr + j, mask=ok, other=0.0).to(CDT) + b
        else:
            t = a + b + tl.full([SBLOCK], 0.0, dtype=CDT)
        if HAS_W:
            t = t * tl.load(w_ptr + j, mask=ok, other=0.0).to(CDT)
        p = tl.exp((tl.where(ok, x, M) - M) - logd)  # D3.9
        tl.store(g_ptr + offs, (sc * (mass * p - t)).to(g_ptr.dtype.element_ty), mask=ok)


def _row_sums(p: Prepared) -> torch.Tensor:
    """Pass 1 and the per-row merge: a ``(_ROW, rows)`` tensor of the fields in :data:`_ROW`."""
    geo, dev = p.geo, p.x.device
    part = torch.empty((p.rows, geo.chunks, _PARTS), dtype=p.work, device=dev)
    launch(
        _softmax_sums_kernel,
        (p.rows, geo.chunks),
        p.x,
        *p.target_args(),
        p.ptr(p.u),
        p.ptr(p.w),
        part,
        geo.N,
        geo.R,
        geo.chunk,
        geo.chunks,
        BLOCK=geo.block,
        SEG=geo.R > 1,
        CDT=p.cdt,
        HAS_U=p.u is not None,
        HAS_W=p.w is not None,
        PARTS=_PARTS,
        num_warps=geo.num_warps,
        **p.target_meta(),
    )
    out = torch.empty((_ROW, p.rows), dtype=p.work, device=dev)
    launch(
        _softmax_rows_kernel,
        (p.rows,),
        part,
        p.x,
        p.ptr(p.offsets),
        p.ptr(p.indices),
        p.ptr(p.mask),
        p.ptr(p.w),
        out,
        geo.N,
        geo.chunks,
        p.rows,
        CB=min(max(triton.next_power_of_2(geo.chunks), 16), 64),
        SBLOCK=SPARSE_BLOCK,
        CDT=p.cdt,
        HAS_MASK=p.mask is not None,
        HAS_W=p.w is not None,
        SPARSE=p.offsets is not None,
        PARTS=_PARTS,
        num_warps=1,
    )
    return out


class _Rows:
    """What the finishing pass needs per row: the row sums, coefficients, validity, count."""

    def __init__(self, rs, coef, work):
        self.rs = rs
        self.a, self.b, self.c = (v.to(work).contiguous() for v in (coef.a, coef.b, coef.c))
        self.valid = coef.valid.to(work)
        self.count = self.valid.sum().reshape(1)


def _finish(p: Prepared, r: _Rows, *, mean: bool, loss=None, g=None, go=None, go_mode=0):
    """Launch the finishing pass (row losses and/or gradient) and the sparse fix-up."""
    geo = p.geo
    sparse_grad = g is not None and p.offsets is not None
    mass = torch.empty((p.rows,), dtype=p.work, device=p.x.device) if sparse_grad else None
    sc = torch.empty((p.rows,), dtype=p.work, device=p.x.device) if sparse_grad else None
    launch(
        _softmax_finish_kernel,
        (p.rows, geo.chunks if g is not None else 1),
        p.x,
        *p.target_args(),
        p.ptr(p.u),
        p.ptr(p.w),
        r.rs,
        r.a,
        r.b,
        r.c,
        r.valid,
        r.count,
        p.ptr(go),
        p.ptr(g),
        p.ptr(loss),
        p.ptr(mass),
        p.ptr(sc),
        geo.N,
        geo.R,
        geo.chunk,
        p.rows,
        BLOCK=geo.block,
        SEG=geo.R > 1,
        CDT=p.cdt,
        HAS_Y=p.y is not None,
        SOFT=p.soft,
        HAS_IGN=p.ign is not None,
        HAS_MASK=p.mask is not None,
        HAS_U=p.u is not None,
        HAS_W=p.w is not None,
        MEAN=mean,
        GO_MODE=go_mode,
        WRITE_LOSS=loss is not None,
        WRITE_GRAD=g is not None,
        SPARSE=sparse_grad,
        num_warps=geo.num_warps,
    )
    if sparse_grad:
        launch(
            _softmax_sparse_grad_kernel,
            (p.rows,),
            p.x,
            p.offsets,
            p.indices,
            p.ptr(p.mask),
            p.ptr(p.u),
            p.ptr(p.w),
            r.a,
            r.b,
            r.rs[0],  # field 0: M
            r.rs[11],  # field 11: log d
            mass,
            sc,
            g,
            geo.N,
            SBLOCK=SPARSE_BLOCK,
            CDT=p.cdt,
            HAS_MASK=p.mask is not None,
            HAS_U=p.u is not None,
            HAS_W=p.w is not None,
            num_warps=2,
        )


class SoftmaxLoss(torch.autograd.Function):
    """``apply(logits, prepared, config, reduction, need_grad)`` -> loss (see module docstring)."""

    @staticmethod
    def forward(ctx, logits, p: Prepared, config, reduction: str, need_grad: bool):
        rs = _row_sums(p)
        _, _, _, _, _, _, _, n, N, U, bad, _, _ = rs.unbind(0)
        if p.validate and bool((bad > 0).any()):
            raise_target_error(p)
        if p.u is None:  # u = 1
            U = N
        coef = row_coefficients(config, n, N, U)  # same code, policies and errors as torch
        r = _Rows(rs, coef, p.work)
        ctx.p, ctx.r, ctx.reduction, ctx.grad = p, r, reduction, None
        ctx.config = config
        ctx.save_for_backward(logits)
        loss = torch.empty((p.rows,), dtype=p.work, device=p.x.device)
        if reduction == "none":
            _finish(p, r, mean=False, loss=loss)
            return loss.view(p.shape[0], *p.shape[2:])
        # mean/sum: the gradient is known up to the upstream scalar: write it now (pass 2)
        g = torch.empty(p.x.shape, dtype=logits.dtype, device=p.x.device) if need_grad else None
        _finish(p, r, mean=reduction == "mean", loss=loss, g=g)
        ctx.grad = g
        return loss.sum(dtype=torch.float64).to(p.work)

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
        p, r = ctx.p, ctx.r
        if ctx.reduction != "none" and ctx.grad is not None:  # scale in place (free if go == 1)
            g, ctx.grad = ctx.grad, None
            scale_(g, grad_out.to(p.work), p.cdt)
            return g.view(p.shape), None, None, None, None
        go = grad_out.to(p.work).reshape(-1).contiguous()
        g = torch.empty(p.x.shape, dtype=logits.dtype, device=logits.device)
        if ctx.reduction == "none":
            _finish(p, r, mean=False, g=g, go=go, go_mode=2)
        else:  # a second backward (retain_graph=True): recompute
            _finish(p, r, mean=ctx.reduction == "mean", g=g, go=go, go_mode=1)
        return g.view(p.shape), None, None, None, None
