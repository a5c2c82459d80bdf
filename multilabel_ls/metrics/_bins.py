"""Probability bins shared by calibration errors, reliability diagrams and binned AP.

Convention (documented in :func:`multilabel_ls.metrics.calibration_error`): bin ``i`` of
``M`` equal-width bins has edges ``e_i = i / M`` evaluated as a correctly rounded division
and rounded to the floating dtype of the probabilities, so a probability typed as ``0.7``
sits exactly on the edge ``7/10`` in float32 and in float64 alike (``np.linspace(0, 1, 11)``
instead gives ``0.30000000000000004`` for ``e_3``). Bins are left-closed ``[e_i, e_{i+1})``
with the last one closed ``[e_{M-1}, 1]`` by default; ``right_closed=True`` gives
``(e_i, e_{i+1}]`` with the first one closed ``[0, e_1]``. Either way 0 and 1 are in a bin
and there are exactly ``M`` bins.
"""

from __future__ import annotations

import numpy as np
import torch

from ._inputs import Array, is_torch


def uniform_interior_edges(n_bins: int, dtype) -> np.ndarray:
    """``fl_dtype(i / n_bins)`` for ``i = 1 .. n_bins - 1``, returned as float64 values."""
    e = np.arange(1, n_bins, dtype=np.int64) / n_bins  # correctly rounded float64 division
    if is_torch_dtype(dtype):
        return torch.from_numpy(e).to(dtype).to(torch.float64).numpy()
    # float64 -> float32 double rounding is innocuous for a quotient (53 >= 2 * 24 + 2 bits)
    return e.astype(dtype).astype(np.float64)


def is_torch_dtype(dtype) -> bool:
    return isinstance(dtype, torch.dtype)


def bin_index(p: Array, interior: np.ndarray, right_closed: bool) -> Array:
    """Bin of every probability, given the ``M - 1`` interior edges (ascending)."""
    if is_torch(p):
        e = torch.as_tensor(interior, device=p.device).to(p.dtype)
        return torch.bucketize(p, e, right=not right_closed)
    e = interior.astype(p.dtype)  # exact: the edges are representable in p's dtype
    return np.searchsorted(e, p, side="left" if right_closed else "right")


def uniform_bin_index(p: Array, n_bins: int, right_closed: bool) -> Array:
    """Bin of every probability for ``n_bins`` equal-width bins (same result as ``bin_index``).

    NumPy: ``x = p * M`` in float64 is exact for float32 ``p`` and within one rounding for
    float64, and the edges are within half an ulp of ``i / M``; so ``floor(x)`` is the bin
    unless ``x`` lies within ``4 M eps`` of an integer, and only those few entries are
    compared with the actual edges. This avoids a binary search per entry.
    """
    interior = uniform_interior_edges(n_bins, p.dtype)
    if is_torch(p):
        return bin_index(p, interior, right_closed)
    with np.errstate(invalid="ignore"):  # NaN may sit under an ignore_mask
        x = p * np.float64(n_bins)
        b = x.astype(np.intp)  # p >= 0: truncation is floor
    np.clip(b, 0, n_bins - 1, out=b)
    frac = x - b
    tol = 4 * n_bins * float(np.finfo(p.dtype).eps)
    near = np.nonzero((frac < tol) | (frac > 1 - tol))  # index tuples: any memory layout
    if near[0].size:
        edges = np.concatenate([[-np.inf], interior, [np.inf]]).astype(p.dtype)
        pn, bn = p[near], b[near]
        lo, hi = edges[bn], edges[bn + 1]
        if right_closed:  # (e_b, e_{b+1}]
            bn = bn - (pn <= lo) + (pn > hi)
        else:  # [e_b, e_{b+1})
            bn = bn - (pn < lo) + (pn >= hi)
        b[near] = bn
    return b


def _numpy_linear_quantile_positions(n: int, qs: np.ndarray):
    # Same arithmetic as NumPy's method="linear" (its _compute_virtual_index with
    # alpha = beta = 1), so the torch path reproduces np.quantile bit for bit.
    virtual = n * qs + (1 + qs * (1 - 1 - 1)) - 1
    prev = np.floor(virtual)
    gamma = virtual - prev
    prev = np.clip(prev, 0, n - 1).astype(np.int64)
    nxt = np.clip(prev + 1, 0, n - 1)
    return prev, nxt, gamma


def quantile_edges(v: Array, n_bins: int) -> np.ndarray:
    """Equal-mass edges: ``np.quantile(v, i / n_bins)`` (linear interpolation), float64.

    The same edges as ``sklearn.calibration.calibration_curve(strategy="quantile")``.
    """
    qs = np.linspace(0.0, 1.0, n_bins + 1)
    if not is_torch(v):
        return np.quantile(v.astype(np.float64), qs)
    sv = torch.sort(v.reshape(-1).to(torch.float64)).values
    prev, nxt, gamma = _numpy_linear_quantile_positions(sv.numel(), qs)
    a = sv[torch.from_numpy(prev).to(sv.device)].cpu().numpy()
    b = sv[torch.from_numpy(nxt).to(sv.device)].cpu().numpy()
    diff = b - a
    out = a + diff * gamma
    hi = gamma >= 0.5
    out[hi] = b[hi] - diff[hi] * (1 - gamma[hi])
    return out
