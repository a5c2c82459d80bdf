"""Average precision (mAP): exact, scikit-learn-identical, and a bounded binned variant."""

from __future__ import annotations

import numpy as np
from scipy.special import digamma

from ._inputs import (
    Prepared,
    Probabilities,
    check_input_format,
    check_n_bins,
    check_option,
    prepare,
    warn,
)
from ._sorted_stats import row_stats
from .calibration import bin_stats

AVERAGES = (None, "macro", "micro", "weighted", "samples")
EMPTY_POLICIES = ("exclude", "zero", "nan")
_LAYOUT = {"samples": "rows", "micro": "flat"}


def average_precision(
    y_true, y_score, *, average="macro", empty_labels="exclude", ignore_mask=None
):
    r"""Average precision (area under the step-wise precision-recall curve), per label or averaged.

    For one binary problem with scores :math:`s` and labels :math:`y` (:math:`P` positives),

    .. math::

        \mathrm{AP} = \sum_n (R_n - R_{n-1})\, P_n
                    = \frac{1}{P} \sum_{j:\,y_j = 1}
                      \frac{\#\{k : y_k = 1,\ s_k \ge s_j\}}{\#\{k : s_k \ge s_j\}},

    where :math:`P_n, R_n` are precision and recall at the n-th distinct score threshold
    (predicted positive iff ``score >= threshold``). This is scikit-learn's
    ``average_precision_score``: not interpolated (unlike PASCAL VOC's AP, which takes the
    maximum precision to the right and is never smaller) and not the trapezoidal area (which
    can be too optimistic). A block of tied scores enters the curve at once and every positive
    in it gets the precision at the end of the block, so the result does not depend on the
    order of tied entries (it is *not* the expectation over random tie-breaking: one positive
    tied with one negative gives 0.5, not 0.75).

    Parameters
    ----------
    y_true : array of shape (n_samples, n_labels) or (n_samples,)
        Hard labels in {0, 1} (bool, int or float). Soft or label-smoothed targets raise.
    y_score : array of the same shape
        Real-valued scores: probabilities, logits or any monotone transform (AP only uses their
        order, so pass logits directly; they are never squashed). ``±inf`` are allowed and rank
        above / below every finite score (scikit-learn rejects them); NaN raises.
    average : {"macro", "micro", "weighted", "samples", None}, default "macro"
        ``None``: per-label array. ``"macro"``: unweighted mean over labels. ``"weighted"``:
        mean weighted by each label's number of positives. ``"micro"``: one problem made of
        every (sample, label) entry. ``"samples"``: AP of each sample's row over the labels,
        then the mean. Ignored for 1-D input (one binary problem).
    empty_labels : {"exclude", "zero", "nan"}, default "exclude"
        What a problem without positives (a label for macro / weighted / None, a sample for
        ``"samples"``, everything for ``"micro"``) contributes; its AP is undefined because
        recall is. ``"exclude"``: NaN in the per-label output and left out of the average (what
        most mAP papers report). ``"zero"``: 0.0 and included, reproducing scikit-learn exactly
        (it warns and uses 0, which drags the macro mean down). ``"nan"``: NaN, propagating
        into the average. A warning reports how many problems were empty.
    ignore_mask : bool array of the same shape, optional
        ``True`` marks an unknown label: the entry is removed from its problem (its ``y_true``
        and ``y_score`` values are not even validated).

    Returns
    -------
    float or ndarray of shape (n_labels,)
        Python float, or a float64 array for ``average=None`` with 2-D input.

    Notes
    -----
    Exact and fast: scores are encoded as sortable integers with the label in the low bit and
    sorted by value (no ``argsort``), see ``_sorted_stats``; CUDA tensors are processed on
    their device with ``torch.sort``. Matches scikit-learn to about 1e-15. With
    ``average="weighted"`` and no positive anywhere, scikit-learn returns the int ``0``; this
    returns ``0.0`` under ``empty_labels="zero"`` and NaN otherwise.

    References
    ----------
    .. [1] scikit-learn, ``sklearn.metrics.average_precision_score`` (v0.19+ non-interpolated
       definition; recall set to 1 without positives since PR #19085).
    .. [2] M. Zhu, "Recall, Precision and Average Precision", University of Waterloo, 2004.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
    >>> s = np.array([[0.9, 0.2], [0.9, 0.8], [0.5, 0.1], [0.1, 0.3]])
    >>> average_precision(y, s, average=None)
    array([0.58333333, 1.        ])
    >>> round(average_precision(y, s), 6)
    0.791667
    """
    check_option(average, "average", AVERAGES)
    check_option(empty_labels, "empty_labels", EMPTY_POLICIES)
    return ap_from_prepared(prepare(y_true, y_score, ignore_mask), average, empty_labels)


def ap_from_prepared(data: Prepared, average, empty_labels: str):
    """Exact AP of validated data (shared by the function and the streaming class)."""
    layout = "columns" if data.was_1d else _LAYOUT.get(average, "columns")
    st = row_stats(data, layout)
    with np.errstate(divide="ignore", invalid="ignore"):
        ap = st.ap_sum / st.n_pos
    return average_scores(ap, st.n_pos, average, empty_labels, data.was_1d)


def _empty_message(n_empty: int, total: int, average, empty_labels: str, binary: bool) -> str:
    if binary or average == "micro":
        what = "y_true has no positive entry"
        effect = {"zero": "the AP is set to 0 (scikit-learn's convention)"}.get(
            empty_labels, "the AP is undefined (NaN)"
        )
        return f"{what}; {effect}."
    what = "samples" if average == "samples" else "labels"
    effect = {
        "zero": "their AP is set to 0 (scikit-learn's convention)",
        "exclude": "their AP is undefined and they are left out of the average "
        "(scikit-learn would count them as 0: pass empty_labels='zero')",
        "nan": "their AP is NaN",
    }[empty_labels]
    return f"{n_empty} of {total} {what} have no positive example; {effect}."


def average_scores(ap, n_pos, average, empty_labels: str, binary: bool, *, warn_empty=True):
    """Apply the empty-problem policy to per-problem AP values, then the average."""
    ap = np.asarray(ap, dtype=np.float64).copy()
    n_pos = np.asarray(n_pos)
    empty = n_pos == 0
    n_empty = int(empty.sum())
    if n_empty:
        ap[empty] = 0.0 if empty_labels == "zero" else np.nan
        if warn_empty:
            warn(_empty_message(n_empty, ap.size, average, empty_labels, binary))
    if binary:
        return float(ap[0])
    if average is None:
        return ap
    if average == "weighted":
        w = n_pos.astype(np.float64)
        if w.sum() == 0:
            return 0.0 if empty_labels == "zero" else float("nan")
        keep = ~empty if empty_labels == "exclude" else slice(None)
        return float(np.sum(ap[keep] * w[keep]) / w.sum())
    vals = ap[~empty] if empty_labels == "exclude" else ap
    return float(vals.mean()) if vals.size else float("nan")


# ----------------------------------------------------------------------------- binned


def binned_average_precision(
    y_true,
    y_score,
    *,
    input_format,
    n_bins=1000,
    average="macro",
    empty_labels="exclude",
    ignore_mask=None,
    return_bounds=False,
):
    r"""Average precision of probabilities quantised into equal-width bins, with a certified bound.

    Every probability is replaced by its bin (``n_bins`` equal-width bins, left-closed with the
    last bin closed, see :func:`calibration_error`), and the exact AP of :func:`average_precision`
    is computed with entries of a bin tied. Only per-bin counts of positives and negatives are
    needed, so :class:`AveragePrecision` with ``n_bins`` keeps ``2 * n_labels * n_bins``
    integers whatever the amount of data, and merges across processes by summation.

    Error bound. Let bin :math:`b` hold :math:`n^+_b` positives and :math:`n^-_b` negatives,
    with :math:`A_b` positives and :math:`C_b` entries in the bins above it. Whatever the order
    (and ties) of the original scores inside the bins, their exact AP lies in
    :math:`[\mathrm{LO}, \mathrm{HI}]` with

    .. math::

        \mathrm{HI} = \frac{1}{P}\sum_b n^+_b \frac{A_b + n^+_b}{C_b + n^+_b},\qquad
        \mathrm{LO} = \frac{1}{P}\sum_b \sum_{k=1}^{n^+_b} \frac{A_b + k}{C_b + n^-_b + k},

    because the k-th positive of a bin is evaluated with at least :math:`A_b + k` true and at
    most :math:`C_b - A_b + n^-_b` false positives above it (LO), and with at most
    :math:`A_b + n^+_b` true and at least :math:`C_b - A_b` false positives (HI). The binned
    value lies in the same interval, so ``|binned - exact| <= max(HI - binned, binned - LO)``.
    The width shrinks with finer bins and is 0 when every bin holding a positive holds
    nothing else; saturated scores (many probabilities in one bin) widen it.

    Parameters
    ----------
    y_true, y_score, ignore_mask
        As in :func:`average_precision`; ``y_score`` must be probabilities or logits as
        declared by ``input_format`` (logits go through a float64 sigmoid).
    input_format : {"probs", "logits"}
        Required: how to read ``y_score``.
    n_bins : int, default 1000
        Number of equal-width probability bins.
    average, empty_labels
        As in :func:`average_precision`, except that ``"samples"`` is not available.
    return_bounds : bool, default False
        Also return ``(lower, upper)`` bounds on the exact AP (same shape as the value).

    Returns
    -------
    float or ndarray, or a tuple (value, lower, upper)

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1, 0, 1, 0])
    >>> p = np.array([0.95, 0.93, 0.42, 0.10])  # 0.95 and 0.93 share the bin [0.9, 1]
    >>> v, lo, hi = binned_average_precision(y, p, input_format="probs", n_bins=10,
    ...                                      return_bounds=True)
    >>> round(v, 4), round(lo, 4), round(hi, 4)
    (0.5833, 0.5833, 0.8333)
    >>> round(average_precision(y, p), 4)
    0.8333
    """
    check_option(average, "average", (None, "macro", "micro", "weighted"))
    check_option(empty_labels, "empty_labels", EMPTY_POLICIES)
    check_input_format(input_format)
    n_bins = check_n_bins(n_bins)
    data = prepare(y_true, y_score, ignore_mask)
    pos, tot = binned_counts(data, input_format, n_bins)
    return binned_ap_from_counts(pos, tot, average, empty_labels, data.was_1d, return_bounds)


def binned_counts(data: Prepared, input_format: str, n_bins: int):
    """Per (label, bin) counts of positives and of all used entries, as int64 arrays."""
    st = bin_stats(Probabilities(data, input_format), data, n_bins=n_bins, binning="uniform",
                   right_closed=False, pooled=False, need_p=False)  # fmt: skip
    return st.sum_y.astype(np.int64), st.count.astype(np.int64)


def _binned_sums(pos: np.ndarray, tot: np.ndarray):
    """Per-row sums (tied, lower, upper) of precision over positives, bins in descending order."""
    pos = pos[:, ::-1].astype(np.float64)
    tot = tot[:, ::-1].astype(np.float64)
    above_pos = np.cumsum(pos, axis=1) - pos
    above_tot = np.cumsum(tot, axis=1) - tot
    neg = tot - pos
    has = pos > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        tied = np.where(has, pos * (above_pos + pos) / (above_tot + tot), 0.0).sum(1)
        upper = np.where(has, pos * (above_pos + pos) / (above_tot + pos), 0.0).sum(1)
        c = above_tot + neg
        harmonic = digamma(c + pos + 1) - digamma(c + 1)  # sum_{k=1}^{n+} 1 / (c + k)
        lower = np.where(has, pos - (c - above_pos) * harmonic, 0.0).sum(1)
    return tied, lower, upper


def binned_ap_from_counts(pos, tot, average, empty_labels, binary, return_bounds):
    if average == "micro" and not binary:
        pos, tot = pos.sum(0, keepdims=True), tot.sum(0, keepdims=True)
    n_pos = pos.sum(1)
    tied, lower, upper = _binned_sums(pos, tot)
    with np.errstate(divide="ignore", invalid="ignore"):
        vals = [tied / n_pos, lower / n_pos, upper / n_pos]
    out = [
        average_scores(v, n_pos, average, empty_labels, binary, warn_empty=i == 0)
        for i, v in enumerate(vals)
    ]
    return tuple(out) if return_bounds else out[0]
