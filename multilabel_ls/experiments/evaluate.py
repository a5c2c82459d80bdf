"""One evaluation entry point for the experiments: :func:`evaluate`.

Every number in the store and the report comes from :mod:`multilabel_ls.metrics` through this
function, on the scores of :mod:`.scores` (ranking: logit or log-softmax; calibration: σ or the
cardinality-scaled softmax proxy). The metrics themselves are never re-implemented here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from multilabel_ls import metrics as M

from .scores import presence_probabilities, ranking_scores

#: AP of a label without test positives is undefined; "exclude" leaves it out of the macro mean
#: (none of yeast / emotions / scene has such a test label, so there it equals scikit-learn).
EMPTY_LABELS = "exclude"


def _ap(average: str) -> Callable:
    def f(y, s, p, cfg):
        return M.average_precision(y, s, average=average, empty_labels=EMPTY_LABELS)

    return f


def _metric_table() -> dict[str, tuple[str | None, Callable]]:
    """name -> (function of multilabel_ls.metrics it needs, callable(y, scores, probs, cfg))."""
    return {
        "map_macro": ("average_precision", _ap("macro")),
        "map_micro": ("average_precision", _ap("micro")),
        "map_samples": ("average_precision", _ap("samples")),
    }


def available_metrics() -> list[str]:
    """Names of the metrics :func:`evaluate` can compute with the installed metrics package."""
    return [k for k, (fn, _) in _metric_table().items() if fn is None or hasattr(M, fn)]


def missing_metrics() -> list[str]:
    """Names of the metrics :func:`evaluate` skips because ``multilabel_ls.metrics`` lacks them."""
    return [k for k, (fn, _) in _metric_table().items() if fn is not None and not hasattr(M, fn)]


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
        ``map_macro``, ``map_micro``, ``map_samples`` (AP, empty labels excluded), and the
        ranking, threshold and calibration metrics listed by :func:`available_metrics`.
    """
    y = np.asarray(y_true)
    scores = ranking_scores(logits, family)
    probs = presence_probabilities(logits, family, cardinality=cardinality)
    cfg = {"threshold": threshold, "n_bins": n_bins}
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore",
            M.UndefinedMetricWarning if hasattr(M, "UndefinedMetricWarning") else UserWarning,
        )
        for name, (fn, f) in _metric_table().items():
            if fn is not None and not hasattr(M, fn):
                continue
            out[name] = float(f(y, scores, probs, cfg))
    return out


def validation_map(y_true, logits, family: str) -> float:
    """Macro mAP on the ranking scores: the early-stopping criterion (NaN-safe: -inf if undefined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = M.average_precision(
            np.asarray(y_true), ranking_scores(logits, family), average="macro",
            empty_labels=EMPTY_LABELS,
        )  # fmt: skip
    return float(v) if np.isfinite(v) else float("-inf")
