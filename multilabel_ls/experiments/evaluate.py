"""One evaluation entry point for the experiments: :func:`evaluate`.

Every number in the store and the report comes from :mod:`multilabel_ls.metrics` through this
function, on the scores of :mod:`.scores` (ranking: logit or log-softmax; calibration: σ or the
cardinality-scaled softmax proxy). The metrics themselves are never re-implemented here.
"""

from __future__ import annotations

import functools
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
}


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

    Returns
    -------
    dict of str to float
        The keys of :data:`METRICS`: mAP (macro and micro; labels without test positives
        excluded), LRAP, ranking loss, coverage error, one-error (pessimistic ties)
        on the ranking scores; Hamming loss and F1 (micro, macro, samples; 0/0 counts 0) of
        ``probability > threshold``; classwise and pooled ECE (l1, ``n_bins`` equal-width
        bins, ``[a, b)`` with the last bin closed), Brier score and NLL (classwise means) of
        the presence probabilities.
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
    return {k: float(v) for k, v in out.items()}


def validation_map(y_true, logits, family: str) -> float:
    """Macro mAP on the ranking scores: the early-stopping criterion (NaN-safe: -inf if undefined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = M.average_precision(
            np.asarray(y_true), ranking_scores(logits, family), average="macro",
            empty_labels=EMPTY_LABELS,
        )  # fmt: skip
    return float(v) if np.isfinite(v) else float("-inf")
