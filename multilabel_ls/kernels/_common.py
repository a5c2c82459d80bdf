"""What the sigmoid and softmax kernels share: target loading, row counts, launch geometry.

Layout. Logits are viewed in the canonical layout ``(B, N, R)`` of :mod:`multilabel_ls._blocks`
(``R = 1`` for ``(B, N)``), contiguous. A *row* is one ``(b, r)`` pair, ``rows = B·R``, row id
``b·R + r``; element ``(b, j, r)`` sits at ``b·N·R + j·R + r``. Triton specialises an integer
argument equal to 1, so for 2-D logits the ``·R`` vanish at compile time.

Grid. Every streaming kernel runs on a 2-D grid ``(rows, chunks)``: a program owns one row and
one chunk of ``chunk`` consecutive labels (a multiple of ``BLOCK``) and loops over it in
``BLOCK``-wide blocks, so ``N`` is arbitrary (not a power of two, ``N > 65,536``) and a few long
rows (128 × 670,091) still give enough programs to fill the GPU. Per-program partial results go
to a small ``(rows, chunks, K)`` buffer that a per-row step merges.

Runtime versus compile time. Only *structural* choices are ``tl.constexpr`` (which inputs exist,
dtypes, block size); ε, the prior, the weights and the per-row coefficients ``a, b, c`` reach the
kernels as tensors, so an ε sweep never recompiles.
"""

from __future__ import annotations

import dataclasses

import torch
import triton
import triton.language as tl

from .._blocks import DenseSource, SparseSource, canonical_view, iter_blocks

#: Labels per block: 2048 keeps 8 fp32 (two 16-byte vectors) per thread at 8 warps.
MAX_BLOCK = 2048
#: Programs to aim for: several per SM on a 132-SM H100, so one row per program is not the limit.
TARGET_PROGRAMS = 1024
#: Positives per block in the sparse (CSR) kernels: rows have a handful to a few hundred.
SPARSE_BLOCK = 64
#: The largest grid extent on axes 1 and 2 (CUDA limit); rows go on axis 0 (2^31 - 1).
MAX_GRID_YZ = 65535

INTERPRETED = bool(triton.knobs.runtime.interpret)
"""Whether the kernels of this process were built by Triton's CPU interpreter (``TRITON_INTERPRET=1``
when :mod:`multilabel_ls.kernels` was first imported)."""

#: When a list, every launch appends ``(kernel name, constexpr dict)`` (tests: no recompiles).
LAUNCH_LOG: list | None = None


def launch(kernel, grid, *args, **meta):
    """``kernel[grid](*args, **meta)``, recording the compile-time arguments when asked."""
    if LAUNCH_LOG is not None:
        LAUNCH_LOG.append((kernel.fn.__name__, dict(meta)))
    kernel[grid](*args, **meta)


def compute_dtype(dtype: torch.dtype):
    """Accumulation dtype (torch, triton): float64 stays float64, everything else float32."""
    if dtype == torch.float64:
        return torch.float64, tl.float64
    return torch.float32, tl.float32


@dataclasses.dataclass
class Geometry:
    """Launch geometry for ``rows`` rows of ``N`` labels."""

    rows: int
    N: int
    R: int
    block: int
    chunk: int
    chunks: int
    num_warps: int


def geometry(rows: int, N: int, R: int) -> Geometry:
    """Block size and chunking: about :data:`TARGET_PROGRAMS` programs, at least a block each."""
    block = min(max(triton.next_power_of_2(N), 32), MAX_BLOCK)  # at least a warp's width
    blocks = triton.cdiv(N, block)
    chunks = min(blocks, max(1, triton.cdiv(TARGET_PROGRAMS, max(rows, 1))), MAX_GRID_YZ)
    chunk = triton.cdiv(blocks, chunks) * block
    chunks = triton.cdiv(N, chunk)
    num_warps = 8 if block >= 2048 else 4 if block >= 512 else 2 if block >= 128 else 1
    return Geometry(rows, N, R, block, chunk, chunks, num_warps)


@dataclasses.dataclass
class Prepared:
    """Kernel-ready inputs: contiguous canonical views, flags and placeholder pointers."""

    x: torch.Tensor  # (B, N, R) logits, contiguous
    shape: torch.Size  # the caller's logits shape
    work: torch.dtype
    cdt: object  # triton compute dtype
    rows: int
    geo: Geometry
    y: torch.Tensor | None  # dense target (bool viewed as uint8), contiguous
    soft: bool
    ign: torch.Tensor | None  # ignore_index as a 1-element tensor of the comparison dtype
    mask: torch.Tensor | None  # ignore_mask as uint8 (1 = unknown), contiguous
    offsets: torch.Tensor | None  # CSR row offsets (sparse target)
    indices: torch.Tensor | None  # CSR label indices (sparse target)
    validate: bool  # check target values in the kernel (non-bool dense targets)
    u: torch.Tensor | None  # prior, (N,) in the compute dtype
    w: torch.Tensor | None  # weight
    pw: torch.Tensor | None  # pos_weight
    source: DenseSource | SparseSource
    dummy: torch.Tensor  # stands in for absent pointer arguments

    def ptr(self, t: torch.Tensor | None) -> torch.Tensor:
        return self.dummy if t is None else t

    def target_args(self) -> tuple:
        """Pointer arguments of :func:`load_target`: ``y, ign, mask``."""
        return self.ptr(self.y), self.ptr(self.ign), self.ptr(self.mask)

    def target_meta(self) -> dict:
        """Compile-time flags of :func:`load_target`."""
        return {
            "HAS_Y": self.y is not None,
            "SOFT": self.soft,
            "HAS_IGN": self.ign is not None,
            "HAS_MASK": self.mask is not None,
            "VALIDATE": self.validate,
        }


_DUMMIES: dict = {}


def _dummy(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A one-element tensor standing in for absent pointer arguments (never read or written)."""
    key = (dtype, device)
    if key not in _DUMMIES:
        _DUMMIES[key] = torch.zeros(1, dtype=dtype, device=device)
    return _DUMMIES[key]


def _label_vector(v, work, device):
    return None if v is None else v.detach().to(device=device, dtype=work).contiguous()


def prepare(logits, config, source, weight, pos_weight) -> Prepared:
    """Views and flags for the kernels. Copies only what is not contiguous already."""
    x = canonical_view(logits)
    if not x.is_contiguous():
        x = x.contiguous()
    work, cdt = compute_dtype(logits.dtype)
    dev = logits.device
    B, N = x.shape[0], x.shape[1]
    R = x.shape[2] if x.ndim == 3 else 1
    y = ign = mask = offsets = indices = None
    soft = validate = False
    if source.mask is not None:
        mask = canonical_view(source.mask).contiguous().view(torch.uint8)
    if isinstance(source, SparseSource):
        offsets, indices = source.target.offsets, source.target.indices
    else:
        y = source.target.contiguous()
        soft = bool(source.soft)
        if y.dtype == torch.bool:
            y = y.view(torch.uint8)  # same bytes; the kernel reads 0/1
        else:
            validate = bool(source.validate)
        if source.ignore_index is not None:
            # compare in the dtype PyTorch would use for `target != ignore_index`
            cmp = torch.result_type(source.target, source.ignore_index)
            ign = torch.full((1,), source.ignore_index, dtype=cmp, device=dev)
    return Prepared(
        x=x,
        shape=logits.shape,
        work=work,
        cdt=cdt,
        rows=B * R,
        geo=geometry(B * R, N, R),
        y=y,
        soft=soft,
        ign=ign,
        mask=mask,
        offsets=offsets,
        indices=indices,
        validate=validate,
        u=_label_vector(config.prior, work, dev),
        w=_label_vector(weight, work, dev),
        pw=_label_vector(pos_weight, work, dev),
        source=source,
        dummy=_dummy(work, dev),
    )


def raise_target_error(p: Prepared) -> None:
    """A kernel counted invalid target values: re-run the PyTorch check for its exact message."""
    for idx in iter_blocks(p.source.shape):
        p.source.block(idx, p.work)  # raises the ValueError of the closed-form path
    raise ValueError("target contains values outside {0, 1} (or [0, 1] with soft_targets=True)")


# --- device helpers -------------------------------------------------------------------------


@triton.jit
def load_target(
    y_ptr,
    ign_ptr,
    mask_ptr,
    offs,
    inb,
    BLOCK: tl.constexpr,
    CDT: tl.constexpr,
    HAS_Y: tl.constexpr,
    SOFT: tl.constexpr,
    HAS_IGN: tl.constexpr,
    HAS_MASK: tl.constexpr,
    VALIDATE: tl.constexpr,
):
    """``(y, known, bad)`` of one block, as :class:`multilabel_ls._blocks.DenseSource` reads it.

    ``known``: in range, not masked, not ``ignore_index``. ``y``: hard targets ``raw == 1``,
    soft targets ``raw``; 0 at unknown labels. ``bad``: 1 where the value check of the PyTorch
    path fails (NaN anywhere; outside {0, 1} or [0, 1] at a known label).
    """
    known = inb
    if HAS_MASK:
        mk = tl.load(mask_ptr + offs, mask=inb, other=1)
        known = known & (mk == 0)
    y = tl.full([BLOCK], 0.0, dtype=CDT)
    bad = tl.full([BLOCK], 0.0, dtype=CDT)
    if HAS_Y:
        raw = tl.load(y_ptr + offs, mask=inb, other=0)
        if HAS_IGN:
            ign = tl.load(ign_ptr)
            known = known & (raw.to(ign_ptr.dtype.element_ty) != ign)
        if SOFT:
            y = tl.where(known, raw.to(CDT), 0.0).to(CDT)
        else:
            y = tl.where(known & (raw == 1), 1.0, 0.0).to(CDT)
        if VALIDATE:
            if SOFT:
                invalid = (raw < 0) | (raw > 1)
            else:
                invalid = (raw != 0) & (raw != 1)
            bad = tl.where((inb & (raw != raw)) | (known & invalid), 1.0, 0.0).to(CDT)
    return y, known, bad


@triton.jit
def times(coef, v):
    """``coef · v``, and 0 when ``coef == 0`` even for an infinite ``v`` (NaN stays NaN).

    The convention of the closed-form path: a term whose coefficient is exactly 0 (a target of
    exactly 0 or 1, a weight of 0) contributes its limit 0 next to an infinite logit.
    """
    return tl.where((coef == 0) & (v == v), 0.0, coef * v)


@triton.jit
def softplus_sigmoid(x):
    """``(softplus(x), softplus(-x), sigmoid(x))`` from one ``exp`` and one ``log``.

    ``log1p(e)`` for ``e = exp(-|x|)`` uses Goldberg's correction ``log(1+e)·e/((1+e)-1)``, exact
    to rounding where ``1 + e`` rounds (no ``log1p`` in ``triton.language``).
    """
    e = tl.exp(-tl.abs(x))
    one_e = 1.0 + e
    den = tl.where(one_e == 1.0, 1.0, one_e - 1.0)
    lp = tl.where(one_e == 1.0, e, tl.log(one_e) * (e / den))
    sp_pos = tl.maximum(x, 0.0) + lp
    sp_neg = tl.maximum(-x, 0.0) + lp
    r = 1.0 / one_e
    sig = tl.where(x >= 0, r, e * r)
    return sp_pos, sp_neg, sig


@triton.jit
def _row_stats_kernel(
    y_ptr,
    ign_ptr,
    mask_ptr,
    u_ptr,
    off_ptr,
    idx_ptr,
    out_ptr,
    N,
    R,
    chunk,
    nchunks,
    BLOCK: tl.constexpr,
    SEG: tl.constexpr,
    SBLOCK: tl.constexpr,
    CDT: tl.constexpr,
    HAS_Y: tl.constexpr,
    SOFT: tl.constexpr,
    HAS_IGN: tl.constexpr,
    HAS_MASK: tl.constexpr,
    VALIDATE: tl.constexpr,
    HAS_U: tl.constexpr,
    SPARSE: tl.constexpr,
):
    """Partial row counts ``(n, N_known, U, bad)`` of one (row, chunk) into ``out[row, chunk, :]``.

    Reads the 1-byte target (and mask), never the logits. With ``SPARSE`` the known positives
    are counted from the CSR indices by chunk 0 (derivation ``D1.6``: only positives carry y).
    """
    row = tl.program_id(0).to(tl.int64)
    ch = tl.program_id(1)
    if SEG:  # (B, N, R): labels at stride R
        base = (row // R) * N * R + row % R
    else:
        base = row * N
    col0 = ch * chunk
    col1 = tl.minimum(col0 + chunk, N)
    n = tl.full([BLOCK], 0.0, dtype=CDT)
    k = tl.full([BLOCK], 0.0, dtype=CDT)
    uu = tl.full([BLOCK], 0.0, dtype=CDT)
    nbad = tl.full([BLOCK], 0.0, dtype=CDT)
    for start in range(col0, col1, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        inb = cols < col1
        offs = base + cols.to(tl.int64) * R
        y, known, bad = load_target(
            y_ptr, ign_ptr, mask_ptr, offs, inb, BLOCK, CDT, HAS_Y, SOFT, HAS_IGN, HAS_MASK,
            VALIDATE,
        )  # fmt: skip
        n += y
        k += tl.where(known, 1.0, 0.0).to(CDT)
        nbad += bad
        if HAS_U:
            uu += tl.where(known, tl.load(u_ptr + cols, mask=inb, other=0.0), 0.0).to(CDT)
    npos = tl.sum(n, 0)
    if SPARSE:
        if ch == 0:
            lo = tl.load(off_ptr + row)
            hi = tl.load(off_ptr + row + 1)
            cnt = tl.full([SBLOCK], 0.0, dtype=CDT)
            for s in range(lo, hi, SBLOCK):
                kk = s + tl.arange(0, SBLOCK)
                ok = kk < hi
                j = tl.load(idx_ptr + kk, mask=ok, other=0)
                if HAS_MASK:
                    ok = ok & (tl.load(mask_ptr + row * N + j, mask=ok, other=1) == 0)
                cnt += tl.where(ok, 1.0, 0.0).to(CDT)
            npos += tl.sum(cnt, 0)
    o = out_ptr + (row * nchunks + ch) * 4
    tl.store(o, npos)
    tl.store(o + 1, tl.sum(k, 0))
    tl.store(o + 2, tl.sum(uu, 0))
    tl.store(o + 3, tl.sum(nbad, 0))


def row_stats(p: Prepared) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n, N, U`` per row (1-D, work dtype) and the number of invalid target values per row.

    One read of the 1-byte target and/or mask; nothing of the logits.
    """
    g = p.geo
    part = torch.empty((p.rows, g.chunks, 4), dtype=p.work, device=p.x.device)
    launch(
        _row_stats_kernel,
        (p.rows, g.chunks),
        *p.target_args(),
        p.ptr(p.u),
        p.ptr(p.offsets),
        p.ptr(p.indices),
        part,
        g.N,
        g.R,
        g.chunk,
        g.chunks,
        BLOCK=g.block,
        SEG=g.R > 1,
        SBLOCK=SPARSE_BLOCK,
        CDT=p.cdt,
        HAS_U=p.u is not None,
        SPARSE=p.offsets is not None,
        num_warps=g.num_warps,
        **p.target_meta(),
    )
    s = part.sum(1)
    return s[:, 0], s[:, 1], s[:, 2], s[:, 3]


def constant_stats(p: Prepared) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n, N, U`` without reading the target: every label known; ``n`` from the CSR offsets
    (sparse) or 0 (dense, only used where the strategy's coefficients do not depend on ``n``)."""
    dev, N = p.x.device, p.geo.N
    Nt = torch.full((p.rows,), float(N), dtype=p.work, device=dev)
    U = Nt if p.u is None else p.u.sum().expand(p.rows)
    if p.offsets is not None:
        n = (p.offsets[1:] - p.offsets[:-1]).to(p.work)
    else:
        n = torch.zeros((p.rows,), dtype=p.work, device=dev)
    return n, Nt, U


#: Strategies whose coefficients a, b, c read n (the others read only N and U).
N_DEPENDENT = ("mass_preserving", "uniform", "positive_split", "prior_softmax")


def needs_row_counts(config) -> bool:
    """Whether the per-row coefficients depend on ``n`` (strategy or a non-"keep" row policy)."""
    return config.name in N_DEPENDENT or config.empty_rows != "keep" or config.full_rows != "keep"


@triton.jit
def _scale_kernel(g_ptr, go_ptr, numel, BLOCK: tl.constexpr, CDT: tl.constexpr):
    """``g *= go`` in place, with ``go`` a device scalar; a no-op (no memory traffic) if go == 1."""
    go = tl.load(go_ptr).to(CDT)
    if go != 1.0:
        step = tl.num_programs(0).to(tl.int64) * BLOCK
        for start in range(tl.program_id(0).to(tl.int64) * BLOCK, numel, step):
            offs = start + tl.arange(0, BLOCK)
            m = offs < numel
            g = tl.load(g_ptr + offs, mask=m, other=0.0).to(CDT)
            tl.store(g_ptr + offs, (g * go).to(g_ptr.dtype.element_ty), mask=m)


#: Programs of the in-place scale: a grid-stride loop, so ``go == 1`` costs a small launch.
SCALE_PROGRAMS = 1024


def scale_(g: torch.Tensor, go: torch.Tensor, cdt) -> torch.Tensor:
    """Multiply our own gradient buffer by the upstream scalar, without a host sync.

    Training calls backward with ``go = 1``: every program then reads one scalar and exits.
    """
    block = 4096
    launch(
        _scale_kernel,
        (max(1, min(triton.cdiv(g.numel(), block), SCALE_PROGRAMS)),),
        g,
        go.reshape(1),
        g.numel(),
        BLOCK=block,
        CDT=cdt,
        num_warps=8,
    )
    return g
