"""Every metric with its streaming class, options and an independent reference: one table.

The references are scikit-learn where it has the metric (on flattened input for the pooled
calibration losses) and the textbook loops of ``reference.py`` elsewhere; they are valid for
the data of ``test_streaming.make_data`` (every label and every sample has a positive and a
negative, so no empty-problem policy is involved).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn import metrics as skm

from multilabel_ls import metrics as M

from .reference import (
    bin_of,
    ece_textbook,
    edges_textbook,
    log_loss_textbook,
    one_error_textbook,
)


def _per_label(fn, average):
    def ref(y, p):
        vals = np.array([fn(y[:, k], p[:, k]) for k in range(y.shape[1])])
        if average is None:
            return vals
        return float(vals.mean()) if average == "classwise" else fn(y.ravel(), p.ravel())

    return ref


def _binned_ap(n_bins, average):
    def ref(y, p):
        edges = edges_textbook(n_bins, p.dtype.type)
        q = np.vectorize(lambda v: bin_of(float(v), edges, False))(p).astype(float)
        return skm.average_precision_score(y, q, average=average)

    return ref


def _ece(norm, average, n_bins=15, right_closed=False, debias=False, logits=False):
    def one(y, p):
        return ece_textbook(y, p, n_bins, norm, right_closed, debias)

    def ref(y, s):
        return _per_label(one, average)(y, expit(s) if logits else s)

    return ref


def _log_loss(y, p):
    return skm.log_loss(y, p, labels=[0, 1])


# (id, function, streaming class, keyword options shared by both, kind, reference)
# kind: "rank" (order-only: invariant to monotone maps), "prob", "logit", "thr"
CASES = [
    *[(f"ap-{a}", M.average_precision, M.AveragePrecision, {"average": a}, "rank",
       lambda y, s, a=a: skm.average_precision_score(y, s, average=a))
      for a in (None, "macro", "micro", "weighted", "samples")],
    ("ap-binned", M.binned_average_precision, M.AveragePrecision,
     {"input_format": "probs", "n_bins": 40, "average": None}, "prob", _binned_ap(40, None)),
    ("ap-binned-micro", M.binned_average_precision, M.AveragePrecision,
     {"input_format": "probs", "n_bins": 40, "average": "micro"}, "prob", _binned_ap(40, "micro")),
    ("lrap", M.label_ranking_average_precision, M.LabelRankingAveragePrecision, {}, "rank",
     skm.label_ranking_average_precision_score),
    ("ranking-loss", M.label_ranking_loss, M.LabelRankingLoss, {}, "rank", skm.label_ranking_loss),
    ("coverage", M.coverage_error, M.CoverageError, {}, "rank", skm.coverage_error),
    ("one-error", M.one_error, M.OneError, {}, "rank", one_error_textbook),
    ("one-error-average", M.one_error, M.OneError, {"ties": "average"}, "rank",
     lambda y, s: one_error_textbook(y, s, "average")),
    *[(f"f1-{a}", M.f1_score, M.F1Score, {"average": a, "zero_division": 0.0}, "thr",
       lambda y, s, a=a: skm.f1_score(y, s > 0.5, average=a, zero_division=0.0))
      for a in (None, "micro", "macro", "weighted", "samples")],
    ("hamming", M.hamming_loss, M.HammingLoss, {"threshold": 0.3}, "thr",
     lambda y, s: skm.hamming_loss(y, s > 0.3)),
    *[(f"ece-{n}-{a}", M.calibration_error, M.CalibrationError,
       {"input_format": "probs", "norm": n, "average": a, "n_bins": 10}, "prob",
       _ece(n, a, n_bins=10))
      for n in ("l1", "l2", "max") for a in ("classwise", "pooled", None)],
    ("ece-debias-right", M.calibration_error, M.CalibrationError,
     {"input_format": "probs", "norm": "l2", "debias": True, "right_closed": True}, "prob",
     _ece("l2", "classwise", right_closed=True, debias=True)),
    ("ece-logits", M.calibration_error, M.CalibrationError, {"input_format": "logits"}, "logit",
     _ece("l1", "classwise", logits=True)),
    *[(f"brier-{a}", M.brier_score, M.BrierScore, {"input_format": "probs", "average": a}, "prob",
       _per_label(skm.brier_score_loss, a)) for a in ("classwise", "pooled", None)],
    *[(f"logloss-{a}", M.log_loss, M.LogLoss, {"input_format": "probs", "average": a}, "prob",
       _per_label(_log_loss, a)) for a in ("classwise", "pooled", None)],
    ("logloss-logits", M.log_loss, M.LogLoss, {"input_format": "logits"}, "logit",
     lambda y, s: log_loss_textbook(y, expit(s))),
]  # fmt: skip

IDS = [c[0] for c in CASES]
