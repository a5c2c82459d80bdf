"""Calibration of multi-label probabilities: binned calibration errors, Brier score, log loss.

Every (sample, label) entry is one binary prediction ``p`` of the event ``y = 1``. The
binned estimators need only, per label and bin, the count, the sum of ``p`` and the sum of
``y`` (:class:`BinStats`), so streaming and distributed versions merge by summation.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ._bins import bin_index, quantile_edges, uniform_bin_index, uniform_interior_edges
from ._inputs import (
    Prepared,
    Probabilities,
    check_n_bins,
    check_option,
    is_torch,
    prepare,
    to_numpy,
    warn,
)

CAL_AVERAGES = ("classwise", "pooled", None)
NORMS = ("l1", "l2", "max")
# Probabilities are clipped to [eps, 1 - eps] in the log loss, eps = float64 machine epsilon
# (what scikit-learn's log_loss uses for float64 input): a confident mistake costs 36.04.
LOG_EPS = float(np.finfo(np.float64).eps)
_LOG_LO, _LOG_HI = -np.log1p(-LOG_EPS), -np.log(LOG_EPS)
_ROW_CHUNK = 1 << 20  # entries binned at once: bounds the int64 temporaries to ~8 MiB


class BinStats(NamedTuple):
    """Per-row (label, or one pooled row) and per-bin sufficient statistics, float64."""

    count: np.ndarray  # (R, M)
    sum_p: np.ndarray
    sum_y: np.ndarray
    edges: np.ndarray  # (R, M + 1), outer edges 0 and 1


def _accumulate(b, p, y, valid, n_rows: int, n_bins: int, per_label: bool, need_p: bool):
    """Sum count, p and y per (row, bin) for a chunk; rows are labels or a single pooled row."""
    if is_torch(b):
        lab = torch.arange(b.shape[1], device=b.device) if per_label else 0
        flat = (b + n_bins * lab).reshape(-1)
        pv = p.reshape(-1).to(torch.float64)
        w = torch.ones_like(pv)
        if valid is not None:  # masked entries may hold NaN: select, never multiply
            w = valid.reshape(-1).to(torch.float64)
            pv = torch.where(valid.reshape(-1), pv, 0.0)
        yv = y.reshape(-1).to(torch.float64)
        size = n_rows * n_bins
        out = [torch.zeros(size, dtype=torch.float64, device=b.device) for _ in range(3)]
        for o, v in zip(out, (w, pv, yv), strict=True):
            if need_p or v is not pv:
                o.index_add_(0, flat, v)
        return [to_numpy(o).reshape(n_rows, n_bins) for o in out]
    lab = np.arange(b.shape[1]) if per_label else 0
    flat = b + n_bins * lab
    pv = p if valid is None else np.where(valid, p, 0)
    idx = flat if valid is None else flat[valid]
    size = n_rows * n_bins
    cnt = np.bincount(idx.reshape(-1), minlength=size)
    sp = np.zeros(size)
    if need_p:
        sp = np.bincount(
            flat.reshape(-1), weights=pv.reshape(-1).astype(np.float64), minlength=size
        )
    sy = np.bincount(flat[y].reshape(-1), minlength=size)
    return [a.astype(np.float64).reshape(n_rows, n_bins) for a in (cnt, sp, sy)]


def _bin_sums(
    p, data: Prepared, binner, n_bins: int, per_label: bool, cols=slice(None), need_p=True
) -> list:
    """Count, sum of p and sum of y per (label, bin), or per bin pooled, over row chunks.

    ``p`` is anything indexable by rows (an array, or :class:`Probabilities`, which turns
    logits into probabilities one chunk at a time).
    """
    n, L = data.y_true[:, cols].shape
    out_size = (L if per_label else 1) * n_bins  # chunks big enough to amortise the outputs
    rows = max(1, max(_ROW_CHUNK, 4 * out_size) // L)
    total = None
    for r0 in range(0, n, rows):
        sl = slice(r0, r0 + rows)
        pc = p[sl] if cols == slice(None) else p[sl][:, cols]
        v = None if data.valid is None else data.valid[sl, cols]
        part = _accumulate(binner(pc), pc, data.y_true[sl, cols], v, L if per_label else 1,
                           n_bins, per_label, need_p)  # fmt: skip
        total = part if total is None else [t + q for t, q in zip(total, part, strict=True)]
    return total


def _quantile_interior(used, n_bins: int) -> np.ndarray:
    n_used = used.numel() if is_torch(used) else used.size
    return quantile_edges(used, n_bins)[1:-1] if n_used else np.zeros(n_bins - 1)


def _with_outer(interior: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], interior, [1.0]])


def bin_stats(
    probs: Probabilities, data: Prepared, *, n_bins: int, binning: str, right_closed: bool,
    pooled: bool, need_p: bool = True,
) -> BinStats:  # fmt: skip
    """Per-label (or pooled) bin statistics of the probabilities (the calibration core)."""
    valid = data.valid
    L = data.shape[1]
    if binning == "uniform":
        stats = _bin_sums(probs, data, lambda pc: uniform_bin_index(pc, n_bins, right_closed),
                          n_bins, True, need_p=need_p)  # fmt: skip
        if pooled:
            stats = [s.sum(0, keepdims=True) for s in stats]
        edges = _with_outer(uniform_interior_edges(n_bins, probs.dtype))
        return BinStats(*stats, np.broadcast_to(edges, (stats[0].shape[0], n_bins + 1)))
    p = probs.full()  # equal-mass edges need every probability
    if pooled:
        interior = _quantile_interior(p.reshape(-1) if valid is None else p[valid], n_bins)
        stats = _bin_sums(p, data, lambda pc: bin_index(pc, interior, right_closed), n_bins, False)
        return BinStats(*stats, _with_outer(interior)[None, :])
    count, sum_p, sum_y, edges = [], [], [], []
    for k in range(L):
        pk = p[:, k]
        interior = _quantile_interior(pk if valid is None else pk[valid[:, k]], n_bins)
        c, sp, sy = _bin_sums(p, data, lambda pc, e=interior: bin_index(pc, e, right_closed),
                              n_bins, True, cols=slice(k, k + 1))  # fmt: skip
        count.append(c[0]), sum_p.append(sp[0]), sum_y.append(sy[0])
        edges.append(_with_outer(interior))
    return BinStats(np.stack(count), np.stack(sum_p), np.stack(sum_y), np.stack(edges))


def ce_from_stats(count, sum_p, sum_y, norm: str, debias: bool) -> np.ndarray:
    """Calibration error of every row of bin statistics (NaN for a row without entries)."""
    n = count.sum(1)
    gap = np.abs(sum_y - sum_p)  # = n_b |acc_b - conf_b|
    with np.errstate(divide="ignore", invalid="ignore"):
        if norm == "l1":
            return gap.sum(1) / n
        if norm == "max":
            ratio = np.where(count > 0, gap / count, -np.inf)
            return np.where(n > 0, ratio.max(1), np.nan)
        sq = np.where(count > 0, gap**2 / count, 0.0)  # n_b (acc_b - conf_b)^2
        if debias:  # Kumar et al. (2019): minus the variance of acc_b; bins with n_b < 2 add 0
            acc = np.where(count > 0, sum_y / count, 0.0)
            var = np.where(count >= 2, count * acc * (1 - acc) / (count - 1), 0.0)
            sq = np.where(count >= 2, sq - var, 0.0)
            return np.where(n > 0, np.sqrt(np.maximum(sq.sum(1) / n, 0.0)), np.nan)
        return np.sqrt(sq.sum(1) / n)


def _reduce(per_row: np.ndarray, average, name: str):
    if average is None:
        return per_row
    if average == "pooled":
        return float(per_row[0])
    empty = np.isnan(per_row)
    if empty.all():
        return float("nan")
    if empty.any():
        warn(f"{int(empty.sum())} labels have no unmasked entry; left out of the {name}.")
    return float(per_row[~empty].mean())


def calibration_error(
    y_true,
    y_score,
    *,
    input_format,
    n_bins=15,
    binning="uniform",
    norm="l1",
    average="classwise",
    right_closed=False,
    debias=False,
    ignore_mask=None,
):
    r"""Binned calibration error (ECE, RMSCE, MCE) of multi-label probabilities.

    With bins :math:`B_b`, :math:`n_b` entries, confidence
    :math:`\bar p_b = \frac{1}{n_b}\sum_{B_b} p` and frequency
    :math:`\bar y_b = \frac{1}{n_b}\sum_{B_b} y` of one binary problem with :math:`n` entries,

    * ``norm="l1"`` (ECE): :math:`\sum_b \frac{n_b}{n} |\bar y_b - \bar p_b|`,
    * ``norm="l2"`` (RMSCE): :math:`\sqrt{\sum_b \frac{n_b}{n} (\bar y_b - \bar p_b)^2}`,
    * ``norm="max"`` (MCE): :math:`\max_{b:\, n_b > 0} |\bar y_b - \bar p_b|`.

    Empty bins contribute nothing. ``debias=True`` (``norm="l2"`` only) subtracts the
    sampling variance :math:`\bar y_b(1-\bar y_b)/(n_b-1)` inside the sum (bins with
    :math:`n_b < 2` add 0) and clips at 0 before the root, as in Kumar et al. (2019).

    Multi-label: ``average="classwise"`` computes the error of every label over the samples
    and averages the labels (the classwise-ECE of Kull et al. 2019, Nixon et al.'s SCE);
    ``"pooled"`` treats all (sample, label) entries as one binary problem (torchmetrics'
    ``binary_calibration_error`` on an (N, L) input) and is dominated by the easy negatives
    near 0; ``None`` returns the per-label array. A top-label ECE is not meaningful for
    multi-label outputs and is not offered.

    Bins. ``binning="uniform"``: ``n_bins`` equal-width bins with edges ``i / n_bins``,
    evaluated as a correctly rounded division and rounded to the dtype of the probabilities
    (float64 for logits; float16 / bfloat16 are widened to float32), so 0.3 typed in float32
    or float64 sits exactly on the edge 3/10 (``np.linspace`` would give
    0.30000000000000004). Default left-closed ``[a, b)`` with the last bin ``[a, 1]``
    closed (NumPy / netcal): p = 0 is in the first bin, p = 1 in the last, an exact edge in the
    bin to its right. ``right_closed=True``: ``(a, b]`` with the first bin ``[0, b]`` closed
    (Guo et al.'s code, scikit-learn's ``calibration_curve``, Kumar et al.): an exact edge goes
    to the bin on its left. torchmetrics is left-closed but gives p = 1 an extra bin of its
    own. ``binning="quantile"``: equal-mass edges ``np.quantile(p, i / n_bins)`` per label
    (pooled: over all entries), as ``calibration_curve(strategy="quantile")``; tied
    probabilities can leave bins empty.

    Parameters
    ----------
    y_true : array of shape (n_samples, n_labels) or (n_samples,)
        Hard 0/1 labels (never the smoothed training targets).
    y_score : array of the same shape
        Probabilities or logits, as declared by ``input_format``.
    input_format : {"probs", "logits"}
        Required. ``"probs"``: checked to lie in [0, 1]. ``"logits"``: mapped through a
        float64 sigmoid (never guessed from the value range, unlike torchmetrics).
    n_bins : int, default 15
        Number of bins (15 as in Guo et al. 2017).
    binning : {"uniform", "quantile"}, default "uniform"
    norm : {"l1", "l2", "max"}, default "l1"
    average : {"classwise", "pooled", None}, default "classwise"
    right_closed : bool, default False
    debias : bool, default False
    ignore_mask : bool array of the same shape, optional
        ``True`` removes the entry; a label without any entry left is NaN and left out of the
        classwise mean (with a warning).

    Returns
    -------
    float, or ndarray of shape (n_labels,) for ``average=None``

    References
    ----------
    .. [1] M. P. Naeini, G. Cooper, M. Hauskrecht, "Obtaining Well Calibrated Probabilities
       Using Bayesian Binning", AAAI 2015.
    .. [2] C. Guo, G. Pleiss, Y. Sun, K. Q. Weinberger, "On Calibration of Modern Neural
       Networks", ICML 2017.
    .. [3] A. Kumar, P. Liang, T. Ma, "Verified Uncertainty Calibration", NeurIPS 2019.
    .. [4] M. Kull et al., "Beyond temperature scaling: Obtaining well-calibrated multiclass
       probabilities with Dirichlet calibration", NeurIPS 2019.
    .. [5] J. Nixon et al., "Measuring Calibration in Deep Learning", CVPR Workshops 2019.

    Examples
    --------
    p = 1 is in the last bin (torchmetrics gives it a bin of its own and returns 0.7 here):

    >>> round(calibration_error([1, 0], [0.6, 1.0], input_format="probs", n_bins=2), 4)
    0.3

    An exact edge goes right by default, left with ``right_closed=True``:

    >>> y, p = [1, 0], [0.5, 0.2]
    >>> round(calibration_error(y, p, input_format="probs", n_bins=2), 4)
    0.35
    >>> round(calibration_error(y, p, input_format="probs", n_bins=2, right_closed=True), 4)
    0.15
    """
    check_option(binning, "binning", ("uniform", "quantile"))
    check_option(norm, "norm", NORMS)
    check_option(average, "average", CAL_AVERAGES)
    n_bins = check_n_bins(n_bins)
    if debias and norm != "l2":
        raise ValueError(f"debias=True is defined for norm='l2' only; got norm={norm!r}")
    data = prepare(y_true, y_score, ignore_mask)
    st = bin_stats(
        Probabilities(data, input_format), data, n_bins=n_bins, binning=binning, right_closed=bool(right_closed),
        pooled=average == "pooled",
    )  # fmt: skip
    per_row = ce_from_stats(st.count, st.sum_p, st.sum_y, norm, debias)
    if data.was_1d:
        return float(per_row[0])
    return _reduce(per_row, average, "classwise calibration error")


def _entry_loss(probs: Probabilities, sl: slice, data: Prepared, which: str):
    """Brier or log loss of every entry of a chunk of rows, float64 (NumPy or torch)."""
    y = data.y_true[sl]
    tt = is_torch(y)
    if which == "log" and probs.logits:  # exact log(1 + exp(-+z)), capped like the probs path
        s = data.y_score[sl]
        z = s.to(torch.float64) if tt else s.astype(np.float64)
        zz = torch.where(y, -z, z) if tt else np.where(y, -z, z)
        if tt:
            return torch.logaddexp(torch.zeros_like(zz), zz).clamp(_LOG_LO, _LOG_HI)
        return np.clip(np.logaddexp(0.0, zz), _LOG_LO, _LOG_HI)
    p = probs[sl]
    p = p.to(torch.float64) if tt else p.astype(np.float64)
    if which == "brier":
        d = p - (y.to(torch.float64) if tt else y)
        return d * d
    if tt:
        return -torch.log(torch.where(y, p, 1 - p).clamp(LOG_EPS, 1 - LOG_EPS))
    return -np.log(np.clip(np.where(y, p, 1 - p), LOG_EPS, 1 - LOG_EPS))


def loss_sums(data: Prepared, input_format: str, which: str):
    """Per-label sums of the entry losses and counts of used entries (NumPy float64)."""
    probs = Probabilities(data, input_format)  # validates probabilities once
    n, L = data.shape
    rows = max(1, _ROW_CHUNK // L)
    total = np.zeros(L)
    for r0 in range(0, n, rows):
        sl = slice(r0, r0 + rows)
        loss = _entry_loss(probs, sl, data, which)
        if data.valid is not None:
            v = data.valid[sl]
            loss = torch.where(v, loss, 0.0) if is_torch(loss) else np.where(v, loss, 0.0)
        total += to_numpy(loss.sum(0))
    if data.valid is not None:
        n_used = to_numpy(data.valid.sum(0)).astype(np.float64)
    else:
        n_used = np.full(L, float(n))
    return total, n_used


def loss_from_sums(total, n, average, was_1d: bool, name: str):
    with np.errstate(divide="ignore", invalid="ignore"):
        if average == "pooled" or was_1d:
            return float(total.sum() / n.sum())
        return _reduce(total / n, average, name)


def brier_score(y_true, y_score, *, input_format, average="classwise", ignore_mask=None):
    r"""Brier score (mean squared error of the probabilities) of multi-label predictions.

    .. math:: \mathrm{BS}_k = \frac{1}{n_k}\sum_i (p_{ik} - y_{ik})^2

    per label; ``"classwise"`` averages the labels, ``"pooled"`` averages all entries (the
    same without a mask), ``None`` returns the per-label array. This is
    ``brier_score_loss(y.ravel(), p.ravel())``; scikit-learn's ``brier_score_loss`` on the
    2-D (N, L) matrix instead treats it as multiclass and returns L times this value.

    Parameters
    ----------
    y_true, y_score, input_format, ignore_mask
        As in :func:`calibration_error`.
    average : {"classwise", "pooled", None}, default "classwise"

    Returns
    -------
    float or ndarray of shape (n_labels,)

    References
    ----------
    .. [1] G. W. Brier, "Verification of forecasts expressed in terms of probability",
       Monthly Weather Review 78(1), 1950.

    Examples
    --------
    >>> round(brier_score([[1, 0], [0, 1]], [[0.9, 0.2], [0.4, 0.7]], input_format="probs"), 4)
    0.075
    """
    check_option(average, "average", CAL_AVERAGES)
    data = prepare(y_true, y_score, ignore_mask)
    total, n = loss_sums(data, input_format, "brier")
    return loss_from_sums(total, n, average, data.was_1d, "Brier score")


def log_loss(y_true, y_score, *, input_format, average="classwise", ignore_mask=None):
    r"""Negative log-likelihood (binary cross-entropy) of multi-label predictions.

    .. math:: \mathrm{NLL}_k = -\frac{1}{n_k}\sum_i \left[y_{ik}\log p_{ik} +
        (1 - y_{ik})\log(1 - p_{ik})\right]

    per label, averaged as in :func:`brier_score`. It is
    ``sklearn.metrics.log_loss(y.ravel(), p.ravel())`` for float64 input: probabilities are
    clipped to :math:`[\epsilon, 1-\epsilon]`, :math:`\epsilon` = float64 machine epsilon, so
    a confident mistake costs :math:`-\log\epsilon \approx 36.04`. Logits are evaluated
    exactly as :math:`\log(1 + e^{\mp z})` and capped the same way. scikit-learn's
    ``log_loss`` on the 2-D matrix is a multiclass loss that ignores the negatives.

    Parameters
    ----------
    y_true, y_score, input_format, ignore_mask
        As in :func:`calibration_error`.
    average : {"classwise", "pooled", None}, default "classwise"

    Returns
    -------
    float or ndarray of shape (n_labels,)

    References
    ----------
    .. [1] I. J. Good, "Rational Decisions", Journal of the Royal Statistical Society B 14(1),
       1952.
    .. [2] scikit-learn, ``sklearn.metrics.log_loss``.

    Examples
    --------
    >>> round(log_loss([1, 0], [0.0, 0.0], input_format="probs"), 4)
    18.0218
    >>> round(log_loss([1, 0], [2.0, -1.0], input_format="logits"), 4)
    0.2201
    """
    check_option(average, "average", CAL_AVERAGES)
    data = prepare(y_true, y_score, ignore_mask)
    total, n = loss_sums(data, input_format, "log")
    return loss_from_sums(total, n, average, data.was_1d, "log loss")
