"""One evaluation entry point for the experiments: :func:`evaluate`.

Every number in the store and the report comes from :mod:`multilabel_ls.metrics` through this
function, on the scores of :mod:`.scores` (ranking: logit or log-softmax; calibration: σ or the
cardinality-scaled softmax proxy). The metrics themselves are never re-implemented here.

Rare labels
-----------
A label is *rare* when its base rate in the **training** labels is below
:data:`RARE_THRESHOLD` (5 %); :func:`rare_labels` selects them from a vector of training base
rates (the runner passes the rates of the data set's training split, so the set is fixed per
data set and never looks at the test split). The ``*_rare`` metrics of :func:`evaluate` are the
ordinary metrics restricted to those label columns, plus calibration-in-the-large.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from multilabel_ls import metrics as M

from .scores import presence_probabilities, ranking_scores

#: AP of a label without test positives is undefined; "exclude" leaves it out of the macro mean
#: (none of yeast / emotions / scene has such a test label, so there it equals scikit-learn).
EMPTY_LABELS = "exclude"


#: Names of the metrics :func:`evaluate` returns, in report order, with their direction.
METRICS: dict[str, str] = {
    "map_macro": "higher",
    "map_micro": "higher",
    "lrap": "higher",
    "ranking_loss": "lower",
    "coverage_error": "lower",
    "one_error": "lower",
    "hamming_loss": "lower",
    "f1_micro": "higher",
    "f1_macro": "higher",
    "f1_samples": "higher",
    "ece_classwise": "lower",
    "ece_pooled": "lower",
    "brier": "lower",
    "nll": "lower",
    "map_macro_rare": "higher",
    "ece_classwise_rare": "lower",
    "brier_rare": "lower",
    "citl_rare": "zero",
    "citl_abs_rare": "lower",
}
"""Directions: ``"higher"`` / ``"lower"`` is better; ``"zero"``: a signed error, better when
closer to 0 (a paired "win" is a smaller absolute value)."""

#: Metrics restricted to the rare labels (NaN when no label is rare or no rates are given).
RARE_METRICS = ("map_macro_rare", "ece_classwise_rare", "brier_rare", "citl_rare", "citl_abs_rare")

#: A label is rare when its training base rate is below this (strictly).
RARE_THRESHOLD = 0.05


def rare_labels(train_rates, threshold: float = RARE_THRESHOLD) -> np.ndarray:
    """Indices of the labels whose training base rate is below ``threshold``.

    Parameters
    ----------
    train_rates : array of shape (n_labels,)
        Base rate of every label in the training labels (share of training rows in which the
        label is positive). Never pass test-split rates: the set would then depend on the data
        the model is evaluated on.
    threshold : float
        Strict upper bound on the base rate of a rare label, in (0, 1].

    Returns
    -------
    ndarray of int
        Sorted label indices ``j`` with ``train_rates[j] < threshold``.

    Raises
    ------
    ValueError
        If ``train_rates`` is not a 1-D vector of finite values in [0, 1] or ``threshold`` is
        not in (0, 1].

    Examples
    --------
    >>> rare_labels([0.3, 0.01, 0.05, 0.0]).tolist()
    [1, 3]
    """
    r = np.asarray(train_rates, dtype=np.float64)
    if r.ndim != 1 or not np.isfinite(r).all() or (r < 0).any() or (r > 1).any():
        raise ValueError("train_rates must be a 1-D vector of base rates in [0, 1]")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ValueError(f"threshold must be a number in (0, 1], got {threshold!r}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be a number in (0, 1], got {threshold!r}")
    return np.flatnonzero(r < threshold)


def calibration_input(logits, family: str, *, cardinality: float | None = None):
    """``(y_score, input_format)`` for the calibration metrics of :mod:`multilabel_ls.metrics`.

    Sigmoid: the logits themselves with ``input_format="logits"`` (the metrics apply a float64
    sigmoid, and the NLL is evaluated exactly from the logit). Softmax: the cardinality-scaled
    proxy of :func:`.scores.presence_probabilities` with ``input_format="probs"``.
    """
    if family == "sigmoid":
        return np.asarray(logits, dtype=np.float64), "logits"
    return presence_probabilities(logits, family, cardinality=cardinality), "probs"


def evaluate(
    y_true,
    logits,
    family: str,
    *,
    cardinality: float | None = None,
    threshold: float = 0.5,
    n_bins: int = 15,
    train_rates=None,
    rare_threshold: float = RARE_THRESHOLD,
) -> dict[str, float]:
    """Evaluate logits against hard labels with every available metric.

    Parameters
    ----------
    y_true : array of shape (n_samples, n_labels)
        Hard 0/1 test labels.
    logits : array or tensor of the same shape
        The model's raw outputs.
    family : {"sigmoid", "softmax"}
        The loss family of the strategy that produced ``logits`` (decides the score convention,
        see :mod:`multilabel_ls.experiments.scores`).
    cardinality : float, optional
        Training label cardinality ``c̄`` for the softmax probability proxy; required for the
        softmax family.
    threshold : float
        Decision threshold on the presence probability (Hamming loss, F1).
    n_bins : int
        Equal-width bins of the calibration errors.
    train_rates : array of shape (n_labels,), optional
        Training base rate of every label; selects the rare labels (:func:`rare_labels`).
        Without it the ``*_rare`` metrics are NaN.
    rare_threshold : float
        A label is rare when its training base rate is ``< rare_threshold``.

    Returns
    -------
    dict of str to float
        The keys of :data:`METRICS`: mAP (macro and micro; labels without test positives
        excluded), LRAP, ranking loss, coverage error, one-error (pessimistic ties)
        on the ranking scores; Hamming loss and F1 (micro, macro, samples; 0/0 counts 0) of
        ``probability > threshold``; classwise and pooled ECE (l1, ``n_bins`` equal-width
        bins, ``[a, b)`` with the last bin closed), Brier score and NLL (classwise means) of
        the presence probabilities.

        On the rare labels ``R`` (``|R| = K``; NaN if ``K = 0``), with presence probabilities
        ``p_ij`` and test labels ``y_ij`` over the ``n`` test rows:

        * ``map_macro_rare``: macro AP over the rare labels that have a test positive (the
          others are left out, as in ``map_macro``; NaN if none has one).
        * ``ece_classwise_rare``: ``(1/K) Σ_{j∈R} ECE_j``, the classwise ECE of ``evaluate``
          restricted to the rare columns (same bins).
        * ``brier_rare``: ``(1/K) Σ_{j∈R} (1/n) Σ_i (p_ij - y_ij)²``.
        * ``citl_rare``: signed calibration-in-the-large,
          ``(1/K) Σ_{j∈R} (p̄_j - ȳ_j)`` with ``p̄_j = (1/n) Σ_i p_ij`` the mean predicted
          probability and ``ȳ_j`` the observed test rate of label ``j``; > 0 means the rare
          labels are over-predicted on average.
        * ``citl_abs_rare``: ``(1/K) Σ_{j∈R} |p̄_j - ȳ_j|`` (errors of opposite sign do not
          cancel); per label this is the ECE with a single bin, and it is computed as such.

    Raises
    ------
    ValueError
        If ``train_rates`` is given but is not a vector of rates of length ``n_labels``.
    """
    y = np.asarray(y_true)
    s = ranking_scores(logits, family)
    p = presence_probabilities(logits, family, cardinality=cardinality)
    c, fmt = calibration_input(logits, family, cardinality=cardinality)
    ap = functools.partial(M.average_precision, y, s, empty_labels=EMPTY_LABELS)
    f1 = functools.partial(M.f1_score, y, p, threshold=threshold, zero_division=0.0)
    ce = functools.partial(M.calibration_error, y, c, input_format=fmt, n_bins=n_bins)
    with warnings.catch_warnings():
        # Undefined cases (a label without test positives, a sample without positives, F1
        # 0/0) get the documented values of the metrics package; the warnings are noise here.
        warnings.simplefilter("ignore", M.UndefinedMetricWarning)
        out = {
            "map_macro": ap(average="macro"),
            "map_micro": ap(average="micro"),
            "lrap": M.label_ranking_average_precision(y, s),
            "ranking_loss": M.label_ranking_loss(y, s),
            "coverage_error": M.coverage_error(y, s),
            "one_error": M.one_error(y, s),
            "hamming_loss": M.hamming_loss(y, p, threshold=threshold),
            "f1_micro": f1(average="micro"),
            "f1_macro": f1(average="macro"),
            "f1_samples": f1(average="samples"),
            "ece_classwise": ce(average="classwise"),
            "ece_pooled": ce(average="pooled"),
            "brier": M.brier_score(y, c, input_format=fmt),
            "nll": M.log_loss(y, c, input_format=fmt),
        }
        out.update(_rare_metrics(y, s, p, c, fmt, n_bins, train_rates, rare_threshold))
    return {k: float(v) for k, v in out.items()}


def _rare_metrics(y, s, p, c, fmt, n_bins, train_rates, rare_threshold) -> dict[str, float]:
    """The ``*_rare`` entries of :func:`evaluate` (NaN without rates or rare labels)."""
    if train_rates is None:
        return dict.fromkeys(RARE_METRICS, math.nan)
    if np.shape(train_rates) != (y.shape[1],):
        raise ValueError(
            f"train_rates must have one rate per label ({y.shape[1]}), got shape "
            f"{np.shape(train_rates)}"
        )
    idx = rare_labels(train_rates, rare_threshold)
    if len(idx) == 0:
        return dict.fromkeys(RARE_METRICS, math.nan)
    yr, cr = y[:, idx], c[:, idx]
    ce = functools.partial(M.calibration_error, yr, cr, input_format=fmt, average="classwise")
    ap = M.average_precision(yr, s[:, idx], average="macro", empty_labels=EMPTY_LABELS)
    return {
        "map_macro_rare": ap,
        "ece_classwise_rare": ce(n_bins=n_bins),
        "brier_rare": M.brier_score(yr, cr, input_format=fmt),
        "citl_rare": float(np.mean(p[:, idx].mean(axis=0) - yr.mean(axis=0))),
        "citl_abs_rare": ce(n_bins=1),
    }


def validation_map(y_true, logits, family: str) -> float:
    """Macro mAP on the ranking scores: the early-stopping criterion (NaN-safe: -inf if undefined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = M.average_precision(
            np.asarray(y_true), ranking_scores(logits, family), average="macro",
            empty_labels=EMPTY_LABELS,
        )  # fmt: skip
    return float(v) if np.isfinite(v) else float("-inf")
