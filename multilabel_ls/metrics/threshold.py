"""Metrics of thresholded predictions: Hamming loss and F1 (micro, macro, weighted, samples).

An entry is predicted positive iff ``y_score > threshold`` (strict, as torchmetrics and
scikit-learn's linear models' ``predict`` do). The threshold is in the units of the scores:
``0.5`` for probabilities, ``0.0`` for logits; 0/1 predictions work with the default.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._inputs import Array, Prepared, check_option, is_torch, prepare, to_numpy, warn

F1_AVERAGES = (None, "micro", "macro", "weighted", "samples")


class Counts(NamedTuple):
    """Sufficient statistics (NumPy, int64): per label, and F1 per sample for ``"samples"``."""

    tp: np.ndarray  # (n_labels,)
    fp: np.ndarray
    fn: np.ndarray
    n_used: np.ndarray  # used (unmasked) entries per label
    sample_f1_sum: float  # sum of per-sample F1 over samples whose F1 is defined
    sample_defined: int  # samples with a defined F1 (and at least one used label)
    sample_undefined: int  # samples with no true and no predicted positive


def check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)):
        raise TypeError(f"threshold must be a real number; got {threshold!r}")
    if not math.isfinite(float(threshold)):
        raise ValueError(f"threshold must be finite; got {threshold!r}")
    return float(threshold)


def check_zero_division(zero_division):
    if isinstance(zero_division, str):
        check_option(zero_division, "zero_division", ("warn",))
        return zero_division
    if isinstance(zero_division, (int, float)) and not isinstance(zero_division, bool):
        if zero_division in (0, 1) or math.isnan(zero_division):
            return float(zero_division)
    raise ValueError(f"zero_division must be 'warn', 0.0, 1.0 or nan; got {zero_division!r}")


def _sum(x: Array, axis: int | None = None) -> np.ndarray:
    if is_torch(x):
        return to_numpy(x.sum() if axis is None else x.sum(dim=axis)).astype(np.int64)
    return np.asarray(x.sum(axis=axis), dtype=np.int64)


def counts(data: Prepared, threshold: float, zero_division) -> Counts:
    """Confusion counts of one batch (the core shared with :class:`F1Score`)."""
    y, valid = data.y_true, data.valid
    pred = data.y_score > threshold
    if valid is not None:
        pred = pred & valid
    tp_m, fp_m, fn_m = pred & y, pred & ~y, ~pred & y
    n_labels = data.shape[1]
    n_used = np.full(n_labels, data.shape[0], np.int64) if valid is None else _sum(valid, 0)
    # samples-F1: F1 of every row, averaged later (zero_division for rows without positives)
    tp_r, fp_r, fn_r = _sum(tp_m, 1), _sum(fp_m, 1), _sum(fn_m, 1)
    used_r = np.full(data.shape[0], n_labels) if valid is None else _sum(valid, 1)
    denom = 2 * tp_r + fp_r + fn_r
    defined = (denom > 0) & (used_r > 0)
    undefined = (denom == 0) & (used_r > 0)
    f1_r = np.divide(2.0 * tp_r, denom, out=np.zeros(denom.shape), where=defined)
    return Counts(
        _sum(tp_m, 0), _sum(fp_m, 0), _sum(fn_m, 0), n_used,
        float(f1_r[defined].sum()), int(defined.sum()), int(undefined.sum()),
    )  # fmt: skip


def _zero_value(zero_division) -> float:
    return 0.0 if zero_division == "warn" else float(zero_division)


def _warn_f1(n: int, what: str) -> None:
    warn(
        f"F-score is ill-defined and set to 0.0 for {n} {what} with no true nor predicted "
        "positive; use zero_division to control this."
    )


def _nanmean(x: np.ndarray, w: np.ndarray | None = None) -> float:
    keep = ~np.isnan(x)
    if not keep.any():
        return float("nan")
    if w is None or w[keep].sum() == 0:  # scikit-learn: all-zero weights -> plain mean
        return float(x[keep].mean())
    return float(np.sum(x[keep] * w[keep]) / w[keep].sum())


def f1_from_counts(c: Counts, average, zero_division):
    """F1 from confusion counts with scikit-learn's ``zero_division`` semantics."""
    z = _zero_value(zero_division)
    if average == "samples":
        n_total = c.sample_defined + c.sample_undefined
        if n_total == 0:
            return float("nan")
        if c.sample_undefined and zero_division == "warn":
            _warn_f1(c.sample_undefined, "samples")
        if math.isnan(z):
            return c.sample_f1_sum / c.sample_defined if c.sample_defined else float("nan")
        return (c.sample_f1_sum + z * c.sample_undefined) / n_total
    tp, fp, fn = c.tp, c.fp, c.fn
    if average == "micro":
        tp, fp, fn = tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True)
    denom = 2 * tp + fp + fn
    zero = denom == 0
    f1 = np.divide(2.0 * tp, denom, out=np.full(denom.shape, z), where=~zero)
    if zero.any() and zero_division == "warn":
        _warn_f1(int(zero.sum()), "labels")
    if average is None:
        return f1
    if average == "micro":
        return float(f1[0])
    return _nanmean(f1, (c.tp + c.fn).astype(np.float64) if average == "weighted" else None)


def f1_score(
    y_true, y_score, *, threshold=0.5, average="macro", zero_division="warn", ignore_mask=None
):
    r"""F1 score of thresholded predictions, identical to scikit-learn's ``f1_score``.

    Per label, :math:`F_1 = 2\,TP / (2\,TP + FP + FN)` with predictions
    ``y_score > threshold`` (strict). ``"micro"`` pools the counts of all labels,
    ``"macro"`` averages the per-label values, ``"weighted"`` weights them by support
    (:math:`TP + FN`; all-zero support falls back to the plain mean, as in scikit-learn), and
    ``"samples"`` averages the F1 of every sample's row.

    Parameters
    ----------
    y_true : array of shape (n_samples, n_labels) or (n_samples,)
        Hard 0/1 labels.
    y_score : array of the same shape
        Scores, probabilities, logits or 0/1 predictions.
    threshold : float, default 0.5
        Predicted positive iff ``y_score > threshold``; use 0.0 for logits.
    average : {"macro", "micro", "weighted", "samples", None}, default "macro"
    zero_division : {"warn", 0.0, 1.0, nan}, default "warn"
        Value where F1 is 0/0 (no true and no predicted positive): ``"warn"`` uses 0.0 and
        warns once, ``nan`` leaves the label (or sample) out of the average.
    ignore_mask : bool array of the same shape, optional
        ``True`` removes the entry from every count.

    Returns
    -------
    float or ndarray of shape (n_labels,) for ``average=None``

    References
    ----------
    .. [1] C. J. van Rijsbergen, "Information Retrieval", 2nd ed., Butterworths, 1979.
    .. [2] scikit-learn, ``sklearn.metrics.f1_score``.

    Examples
    --------
    >>> y = [[1, 0, 1], [0, 1, 0]]
    >>> p = [[0.8, 0.6, 0.3], [0.1, 0.7, 0.2]]
    >>> f1_score(y, p, average="micro")
    0.6666666666666666
    >>> f1_score(y, p, average=None)
    array([1.        , 0.66666667, 0.        ])
    """
    check_option(average, "average", F1_AVERAGES)
    zero_division = check_zero_division(zero_division)
    threshold = check_threshold(threshold)
    data = prepare(y_true, y_score, ignore_mask)
    result = f1_from_counts(counts(data, threshold, zero_division), average, zero_division)
    if data.was_1d and average is None:
        return float(result[0])
    return result


def hamming_loss(y_true, y_score, *, threshold=0.5, ignore_mask=None) -> float:
    r"""Hamming loss: the fraction of (sample, label) entries predicted wrongly.

    .. math:: \frac{1}{|U|} \sum_{(i, k) \in U} \mathbb{1}[\hat y_{ik} \ne y_{ik}],
        \qquad \hat y_{ik} = \mathbb{1}[s_{ik} > \text{threshold}],

    with :math:`U` the unmasked entries; identical to scikit-learn's ``hamming_loss`` on the
    thresholded predictions.

    Parameters
    ----------
    y_true, y_score, threshold, ignore_mask
        As in :func:`f1_score`.

    Returns
    -------
    float

    References
    ----------
    .. [1] R. E. Schapire, Y. Singer, "Improved boosting algorithms using confidence-rated
       predictions", Machine Learning 37, 1999.

    Examples
    --------
    >>> hamming_loss([[1, 0, 1], [0, 1, 0]], [[0.8, 0.6, 0.3], [0.1, 0.7, 0.2]])
    0.3333333333333333
    """
    threshold = check_threshold(threshold)
    c = counts(prepare(y_true, y_score, ignore_mask), threshold, 0.0)
    return hamming_from_counts(c)


def hamming_from_counts(c: Counts) -> float:
    n = int(c.n_used.sum())
    if n == 0:
        warn("every entry is masked by ignore_mask; the Hamming loss is NaN.")
        return float("nan")
    return float((c.fp.sum() + c.fn.sum()) / n)
