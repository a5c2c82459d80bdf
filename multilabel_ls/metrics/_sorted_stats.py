"""Sorted-row statistics: the one core behind average precision and the ranking metrics.

Each *problem* is a row of scores with binary labels (a label's column for macro AP, a
sample's row for LRAP / ranking loss / coverage / one-error and samples-AP, every entry for
micro AP). For a positive entry ``j`` with score ``s_j`` let

* ``cnt_j = #{k : s_k >= s_j}``   (entries scored at least as high; ties included),
* ``tp_j  = #{k positive : s_k >= s_j}``.

Every metric here is a reduction of these two numbers over the positives:

* ``ap_sum   = sum_j tp_j / cnt_j``      (AP = ap_sum / n_pos; LRAP likewise per sample),
* ``rl_sum   = sum_j (cnt_j - tp_j)``    (mis-ordered positive/negative pairs, ties counted),
* ``coverage = max_j cnt_j``,
* ``top_pos``, ``top_cnt``: positives in, and size of, the top tie group.

A block of tied scores therefore enters at once and is evaluated at its end, exactly as
scikit-learn's ``precision_recall_curve`` (distinct thresholds) and ``rankdata(..., "max")``
do; the order of entries inside a tie never matters.

How they are computed
---------------------
NumPy (CPU): a score is mapped to a *sortable integer* (two's complement of the IEEE
sign-magnitude bits, so the integer order is the float order and -0.0 and +0.0 both map to
0); the label is packed into the low bit (0 for a positive, so that positives come first
inside a tie). A plain value sort (``ndarray.sort``, ~10x faster than ``argsort`` here)
then carries the labels along, ties stay adjacent, and the statistics come from the
positions of the positives alone. The encoding is lossless: float32 scores take 33 bits,
stored as uint32 after subtracting the block's minimum when the sortable values span less
than 2**31 (any probabilities) and as int64 otherwise; float64 scores are used as float32
when that is exact, as a 63-bit offset key when their spread allows (any one-signed data),
or after cutting out the unused low exponents (mixed-sign logits), and otherwise (subnormals
or infinities next to large values) go through an ``argsort``. Masked entries get a key below every real score
and never count. Labels become rows in cache-sized tiles (macro AP) and blocks of labels
are spread over threads (NumPy's sort and ufuncs release the GIL).

torch (CUDA): ``torch.sort`` returns indices anyway, so scores are sorted as sortable
integers of their own width, the labels gathered, and the statistics computed densely (no
host synchronisation), a bounded number of rows at a time.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import torch

from ._inputs import Prepared

# Work unit for the NumPy kernels: about 4 MiB of int64 keys, which keeps the elementwise
# passes in cache while amortising Python overhead per chunk.
_CHUNK_ELEMENTS = 1 << 19
# Labels turned into rows at once for macro AP (128 labels x 50,000 samples: 25 MiB of
# uint32 keys); wider blocks amortise the per-tile overhead.
_TRANSPOSE_BLOCK = 128
# Bytes of a tile transposed while in cache (fits in L2).
_TILE_BYTES = 1 << 17
# Below this many entries threads cost more than they save.
_PARALLEL_MIN_ELEMENTS = 1 << 20
# torch: at most this many entries sorted at once (about 40 bytes of temporaries each:
# 160 MiB, below the 200 MiB of float32 scores of a 50,000 x 1,000 problem).
_TORCH_CHUNK_ELEMENTS = 1 << 22

_MASKED_F32 = np.int64(-(2**31) - 1) * 2 + 1  # below every (sortable float32) * 2 + bit


class RowStats(NamedTuple):
    """Per-problem statistics (NumPy arrays of length ``n_problems``)."""

    n_pos: np.ndarray
    ap_sum: np.ndarray
    rl_sum: np.ndarray
    coverage: np.ndarray
    top_pos: np.ndarray
    top_cnt: np.ndarray


def row_stats(data: Prepared, layout: str) -> RowStats:
    """Statistics of every problem. ``layout``: ``"columns"``, ``"rows"`` or ``"flat"``."""
    if data.torch:
        return _torch_row_stats(data.y_score, data.y_true, data.valid, layout)
    return _numpy_row_stats(data.y_score, data.y_true, data.valid, layout, data.nonneg)


# ----------------------------------------------------------------------------- NumPy


def _sortable_i64_from_f64(s: np.ndarray) -> np.ndarray:
    i = s.view(np.int64)
    m = i >> 63
    u = i & np.int64(0x7FFF_FFFF_FFFF_FFFF)
    u ^= m
    u -= m  # -|bits| for negative floats: integer order == float order, -0.0 -> 0
    return u


def _as_float32_if_exact(s: np.ndarray, v: np.ndarray | None) -> np.ndarray | None:
    """``s`` as float32 when no used entry changes (a lossless, faster key), else None."""
    if s.dtype == np.float32:
        return s
    with np.errstate(over="ignore"):
        s32 = s.astype(np.float32)
    exact = (s32 == s) if v is None else ((s32 == s) | ~v)
    return s32 if exact.all() else None


def _encode_and_sort(s, y, v, nonneg: bool = False) -> tuple:
    """Statistics of contiguous rows, through the cheapest lossless key encoding."""
    s32 = _as_float32_if_exact(s, v)
    if s32 is not None:
        keys = _keys_f32(s32, y, v, _NONNEG if nonneg else _u32_offset(s32))
    else:
        u = _sortable_i64_from_f64(np.ascontiguousarray(s))
        lo = _offset_if_room(u, v)
        if lo is None:
            u = _squeeze_exponents(s, u, v)
            lo = None if u is None else _offset_if_room(u, v)
        if lo is None:  # no spare bit for the label: sort indices instead
            keys = _sortable_i64_from_f64(np.ascontiguousarray(s))
            if v is not None:
                np.copyto(keys, np.iinfo(np.int64).min, where=~v)
            order = np.argsort(keys, axis=1)
            return _dense_stats_np(
                np.take_along_axis(keys, order, 1), np.take_along_axis(y, order, 1)
            )
        keys = _keys_u64(u, y, v, lo)
    keys.sort(axis=1)
    return _packed_stats(keys)


def _offset_if_room(u: np.ndarray, v: np.ndarray | None) -> int | None:
    """min(u) when ``(u - min + 1) * 2 + bit`` fits in a uint64, else None."""
    used = u if v is None else u[v]
    if used.size == 0:
        return 0
    lo, hi = int(used.min()), int(used.max())
    return lo if hi - lo + 1 < 2**63 else None


def _squeeze_exponents(s: np.ndarray, u: np.ndarray, v: np.ndarray | None) -> np.ndarray | None:
    """Sortable keys with the unused low exponents cut out, or None if that cannot help.

    Mixed-sign float64 scores (e.g. logits) need 64 bits plus the sign, but real data use a
    narrow window of exponents. Subtracting ``(e_min - 1) << 52`` from the magnitude of every
    non-zero score (``e_min``: the smallest exponent of a non-zero used score) is strictly
    increasing on the values present and leaves zero at 0, so the order and the ties are
    unchanged; the keys then fit when ``e_max - e_min < 1022``.
    """
    a = np.abs(s) if v is None else np.where(v, np.abs(s), np.inf)
    a = np.where(a == 0, np.inf, a)
    smallest = a.min()
    if not np.isfinite(smallest):
        return None
    e_min = int(np.frexp(smallest)[1]) + 1022  # the biased exponent field of `smallest`
    if e_min <= 1:  # subnormals: nothing to cut
        return None
    cut = np.int64((e_min - 1) << 52)
    return u - np.sign(u) * cut


def _tiles(n: int, width: int, itemsize: int):
    rows = max(64, _TILE_BYTES // (itemsize * width))
    return [slice(r0, r0 + rows) for r0 in range(0, n, rows)]


def _transposed(a: np.ndarray) -> np.ndarray:
    """``a.T`` as a contiguous array, copied tile by tile (NumPy's plain copy thrashes caches)."""
    out = np.empty(a.shape[::-1], a.dtype)
    for sl in _tiles(a.shape[0], a.shape[1], a.itemsize):
        out[:, sl] = a[sl].T
    return out


def _transposed_keys_f32(s, y, v, offset: int | str | None = None) -> np.ndarray:
    """Packed keys of the columns of ``s`` as rows, encoded tile by tile while in cache."""
    offset = _u32_offset(s) if offset is None else offset
    out = np.empty(s.shape[::-1], np.int64 if offset is None else np.uint32)
    for sl in _tiles(s.shape[0], s.shape[1], out.itemsize):
        out[:, sl] = _keys_f32(s[sl], y[sl], None if v is None else v[sl], offset).T
    return out


_NONNEG = "nonneg"


def _u32_offset(s: np.ndarray) -> int | str | None:
    """How float32 keys of ``s`` fit in 32 bits: ``"nonneg"``, an offset, or None (int64).

    Non-negative scores (probabilities): the float bits shifted left by one are already in
    order, -0.0 and +0.0 both become 0 (the shift drops the sign bit), and +inf's bits
    (0x7F800000) leave room for the label bit and a masked key. Otherwise
    ``(sortable(s) - min + 1) * 2 + bit`` fits when the sortable values span less than
    2**31 - 1. Either way the sort then moves half the bytes. Masked entries count too
    (conservative); NaN there: None.
    """
    if s.size == 0:
        return None
    ends = np.array([s.min(), s.max()], dtype=np.float32)
    if np.isnan(ends).any():
        return None
    if ends[0] >= 0:
        return _NONNEG
    lo, hi = (int(v) for v in _sortable_i32(ends))
    return lo if hi - lo < 2**31 - 1 else None


def _sortable_i32(s: np.ndarray) -> np.ndarray:
    i = s.view(np.int32)
    m = i >> 31
    u = i & np.int32(0x7FFF_FFFF)
    u ^= m
    u -= m  # -|bits| for negative floats: integer order == float order, -0.0 -> 0
    return u


def _keys_f32(s, y, v, offset: int | str | None = None) -> np.ndarray:
    """Packed keys of float32 scores: uint32 for an ``offset`` from _u32_offset, else int64."""
    if offset == _NONNEG:
        k = np.left_shift(s.view(np.uint32), np.uint32(1))  # 2 * bits; both zeros -> 0
        k += np.uint32(2)  # 0 and 1 stay free for masked entries
    elif offset is not None:
        k = _sortable_i32(s)
        k -= np.int32(offset - 1)  # now in [1, 2**31 - 1]
        k = k.view(np.uint32)
        k <<= np.uint32(1)
    else:
        k = _sortable_i32(s).astype(np.int64)
        k <<= 1
    k |= (~y).view(np.uint8)
    if v is not None:
        np.copyto(k, k.dtype.type(1) if k.dtype == np.uint32 else _MASKED_F32, where=~v)
    return k


def _keys_u64(u: np.ndarray, y: np.ndarray, v: np.ndarray | None, lo: int) -> np.ndarray:
    """Packed uint64 keys from sortable int64 values ``u`` whose spread was checked."""
    u = u - np.int64(lo - 1)  # in [1, 2**63)
    k = u.view(np.uint64)
    k <<= np.uint64(1)
    k |= (~y).view(np.uint8)
    if v is not None:
        np.copyto(k, np.uint64(1), where=~v)  # below every real key, labelled negative
    return k


def _packed_stats(k: np.ndarray) -> tuple:
    """Statistics from rows of ascending packed keys (positives first inside a tie)."""
    R, M = k.shape
    if sys.byteorder == "little" and k.flags.c_contiguous:
        low = k.view(np.uint8)[:, :: k.itemsize]  # the byte holding the label bit
        flat = np.flatnonzero((low & 1) == 0)
    else:
        flat = np.flatnonzero((k & 1) == 0)
    row = flat // M
    pos = flat - row * M
    n_pos = np.bincount(row, minlength=R)
    ap_sum = np.zeros(R)
    rl_sum = np.zeros(R)
    coverage = np.zeros(R, np.int64)
    top_pos = np.zeros(R, np.int64)
    top_cnt = np.ones(R, np.int64)
    if flat.size == 0:
        return n_pos, ap_sum, rl_sum, coverage, top_pos, top_cnt
    kp = k.ravel()[flat]
    new = np.empty(flat.size, bool)
    new[0] = True
    np.not_equal(kp[1:], kp[:-1], out=new[1:])
    new[1:] |= row[1:] != row[:-1]
    g = np.flatnonzero(new)  # first positive of each tie group that holds positives
    grow = row[g]
    first_in_row = np.cumsum(n_pos) - n_pos
    tp = (n_pos[grow] - (g - first_in_row[grow])).astype(np.float64)
    cnt = (M - pos[g]).astype(np.float64)
    npos_g = np.diff(g, append=flat.size)
    ap_sum = np.bincount(grow, weights=npos_g * (tp / cnt), minlength=R)
    rl_sum = np.bincount(grow, weights=npos_g * (cnt - tp), minlength=R)
    row_change = np.empty(g.size, bool)
    row_change[0] = True
    np.not_equal(grow[1:], grow[:-1], out=row_change[1:])
    first_g = np.flatnonzero(row_change)
    coverage[grow[first_g]] = cnt[first_g]  # lowest positive group has the largest count
    last_g = np.append(first_g[1:] - 1, g.size - 1)
    rows_l = grow[last_g]
    in_top = (k[rows_l, M - 1] >> 1) == (kp[g[last_g]] >> 1)
    top_pos[rows_l[in_top]] = npos_g[last_g[in_top]]
    top_cnt[rows_l[in_top]] = cnt[last_g[in_top]].astype(np.int64)
    return n_pos, ap_sum, rl_sum, coverage, top_pos, top_cnt


def _dense_stats_np(sk: np.ndarray, ys: np.ndarray) -> tuple:
    """Statistics from sorted keys and labels gathered in that order (any order in a tie)."""
    R, M = sk.shape
    start = np.ones((R, M), bool)
    np.not_equal(sk[:, 1:], sk[:, :-1], out=start[:, 1:])
    gs = np.where(start, np.arange(M), 0)
    np.maximum.accumulate(gs, axis=1, out=gs)  # start of each entry's tie group
    ys = ys.astype(np.int64)
    cpos = np.cumsum(ys, axis=1)
    n_pos = cpos[:, -1].copy()
    cex = cpos - ys
    tp = n_pos[:, None] - np.take_along_axis(cex, gs, 1)
    cnt = M - gs
    yb = ys.astype(bool)
    ap_sum = np.where(yb, tp / cnt, 0.0).sum(1)
    rl_sum = np.where(yb, cnt - tp, 0).sum(1).astype(np.float64)
    coverage = np.where(yb, cnt, 0).max(1)
    gl = gs[:, -1]
    top_cnt = M - gl
    top_pos = n_pos - cex[np.arange(R), gl]
    return n_pos, ap_sum, rl_sum, coverage, top_pos, top_cnt


def _numpy_row_stats(s, y, valid, layout: str, nonneg: bool = False) -> RowStats:
    if layout == "flat":
        s, y = s.reshape(1, -1), y.reshape(1, -1)
        valid = None if valid is None else valid.reshape(1, -1)
        layout = "rows"
    R, M = (s.shape[1], s.shape[0]) if layout == "columns" else s.shape
    out = [np.zeros(R, np.int64), np.zeros(R), np.zeros(R), np.zeros(R, np.int64)]
    out += [np.zeros(R, np.int64), np.ones(R, np.int64)]
    chunk = max(1, min(R, _CHUNK_ELEMENTS // max(M, 1)))
    workers = min(os.cpu_count() or 1, 8) if R * M >= _PARALLEL_MIN_ELEMENTS else 1

    def put(r0: int, res: tuple) -> None:
        for o, r in zip(out, res, strict=True):
            o[r0 : r0 + len(r)] = r

    def rows(b0: int, b1: int) -> None:
        for c0 in range(b0, b1, chunk):
            c1 = min(b1, c0 + chunk)
            vc = None if valid is None else np.ascontiguousarray(valid[c0:c1])
            put(c0, _encode_and_sort(np.ascontiguousarray(s[c0:c1]),
                                     np.ascontiguousarray(y[c0:c1]), vc, nonneg))  # fmt: skip

    def columns(b0: int, b1: int) -> None:
        # Labels b0:b1 become rows: keys are built in cache-sized tiles of the (N, L) input
        # and written transposed, then sorted and reduced in chunks of rows.
        sb, yb = s[:, b0:b1], y[:, b0:b1]
        vb = None if valid is None else valid[:, b0:b1]
        s32 = _as_float32_if_exact(sb, vb)
        if s32 is not None:
            keys = _transposed_keys_f32(s32, yb, vb, _NONNEG if nonneg else None)
            for c0 in range(0, b1 - b0, chunk):
                kc = keys[c0 : c0 + chunk]
                kc.sort(axis=1)
                put(b0 + c0, _packed_stats(kc))
            return
        st, yt = _transposed(sb), _transposed(yb)
        vt = None if vb is None else _transposed(vb)
        for c0 in range(0, b1 - b0, chunk):
            c = slice(c0, c0 + chunk)
            put(b0 + c0, _encode_and_sort(st[c], yt[c], None if vt is None else vt[c]))

    work = columns if layout == "columns" else rows
    block = chunk
    if layout == "columns":  # blocks of labels are the unit of parallel work
        block = max(chunk, min(_TRANSPOSE_BLOCK, -(-R // workers)))
    bounds = [(r0, min(R, r0 + block)) for r0 in range(0, R, block)]
    if workers > 1 and len(bounds) > 1:
        with ThreadPoolExecutor(min(workers, len(bounds))) as ex:  # NumPy releases the GIL
            for f in [ex.submit(work, *b) for b in bounds]:
                f.result()
    else:
        for b in bounds:
            work(*b)
    return RowStats(*out)


# ----------------------------------------------------------------------------- torch


def _sortable_torch(s: torch.Tensor) -> torch.Tensor:
    """Sortable integers of the scores' own width (in place after the first op)."""
    if s.dtype == torch.float64:
        i, mask = s.view(torch.int64), 0x7FFF_FFFF_FFFF_FFFF
    else:
        i, mask = s.to(torch.float32).view(torch.int32), 0x7FFF_FFFF  # f16 / bf16 widen
    m = i >> (i.element_size() * 8 - 1)
    u = i & mask
    u ^= m
    u -= m  # -|bits| for negative floats, -0.0 -> 0
    return u


def _dense_stats_torch(gs: torch.Tensor, ys: torch.Tensor) -> tuple:
    """Statistics from each entry's tie-group start ``gs`` (int64, overwritten) and int32
    labels, both in sorted order; no host sync, about 30 bytes of temporaries per entry."""
    M = gs.shape[1]
    cex = torch.cumsum(ys, dim=1, dtype=torch.int32)
    n_pos = cex[:, -1].to(torch.int64)
    cex -= ys  # positives strictly before each entry
    tp = cex.gather(1, gs).neg_().add_(n_pos[:, None].to(torch.int32))  # positives >= s_j
    gl = gs[:, -1].clone()
    cnt = gs.neg_().add_(M)  # entries >= s_j (reuses gs)
    ratio = tp.double().div_(cnt).mul_(ys)
    ap_sum = ratio.sum(1)
    del ratio
    cnt *= ys  # cnt of positives, 0 elsewhere
    coverage = cnt.amax(1)
    rl_sum = (cnt.sum(1) - tp.mul_(ys).sum(1, dtype=torch.int64)).double()
    top_cnt = M - gl
    top_pos = n_pos - cex.gather(1, gl[:, None])[:, 0]
    return n_pos, ap_sum, rl_sum, coverage, top_pos, top_cnt


def _torch_row_stats(s, y, valid, layout: str) -> RowStats:
    if layout == "columns":
        s, y = s.T, y.T
        valid = None if valid is None else valid.T
    elif layout == "flat":
        s, y = s.reshape(1, -1), y.reshape(1, -1)
        valid = None if valid is None else valid.reshape(1, -1)
    R, M = s.shape
    # a quarter of the input per chunk, within bounds, so temporaries stay a fraction of it
    budget = min(max(R * M // 4, _TORCH_CHUNK_ELEMENTS // 4), _TORCH_CHUNK_ELEMENTS)
    chunk = max(1, min(R, budget // max(M, 1)))
    parts = []
    for r0 in range(0, R, chunk):
        keys = _sortable_torch(s[r0 : r0 + chunk].contiguous())
        if valid is not None:
            keys = keys.masked_fill(~valid[r0 : r0 + chunk], torch.iinfo(keys.dtype).min)
        sk, order = torch.sort(keys, dim=1)
        del keys
        ys = y[r0 : r0 + chunk].to(torch.int32).gather(1, order)
        del order
        gs = torch.searchsorted(sk, sk, side="left")  # first index of each tie group
        del sk
        parts.append(_dense_stats_torch(gs, ys))
        del gs, ys
    cols = [torch.cat([p[i] for p in parts]) for i in range(6)]
    return RowStats(*[c.cpu().numpy() for c in cols])
