"""Every metric with its streaming class and options: one table for the cross-metric tests."""

from __future__ import annotations

from multilabel_ls import metrics as M

# (id, function, streaming class, keyword options shared by both, kind)
# kind: "rank" (order-only: invariant to monotone maps), "prob" (probabilities), "thr"
CASES = [
    *[(f"ap-{a}", M.average_precision, M.AveragePrecision, {"average": a}, "rank")
      for a in (None, "macro", "micro", "weighted", "samples")],
    ("ap-binned", M.binned_average_precision, M.AveragePrecision,
     {"input_format": "probs", "n_bins": 40, "average": None}, "prob"),
    ("ap-binned-micro", M.binned_average_precision, M.AveragePrecision,
     {"input_format": "probs", "n_bins": 40, "average": "micro"}, "prob"),
    ("lrap", M.label_ranking_average_precision, M.LabelRankingAveragePrecision, {}, "rank"),
    ("ranking-loss", M.label_ranking_loss, M.LabelRankingLoss, {}, "rank"),
    ("coverage", M.coverage_error, M.CoverageError, {}, "rank"),
    ("one-error", M.one_error, M.OneError, {}, "rank"),
    ("one-error-average", M.one_error, M.OneError, {"ties": "average"}, "rank"),
    *[(f"f1-{a}", M.f1_score, M.F1Score, {"average": a, "zero_division": 0.0}, "thr")
      for a in (None, "micro", "macro", "weighted", "samples")],
    ("hamming", M.hamming_loss, M.HammingLoss, {"threshold": 0.3}, "thr"),
    *[(f"ece-{n}-{a}", M.calibration_error, M.CalibrationError,
       {"input_format": "probs", "norm": n, "average": a, "n_bins": 10}, "prob")
      for n in ("l1", "l2", "max") for a in ("classwise", "pooled", None)],
    ("ece-debias-right", M.calibration_error, M.CalibrationError,
     {"input_format": "probs", "norm": "l2", "debias": True, "right_closed": True}, "prob"),
    ("ece-logits", M.calibration_error, M.CalibrationError, {"input_format": "logits"}, "logit"),
    *[(f"brier-{a}", M.brier_score, M.BrierScore, {"input_format": "probs", "average": a}, "prob")
      for a in ("classwise", "pooled", None)],
    *[(f"logloss-{a}", M.log_loss, M.LogLoss, {"input_format": "probs", "average": a}, "prob")
      for a in ("classwise", "pooled", None)],
    ("logloss-logits", M.log_loss, M.LogLoss, {"input_format": "logits"}, "logit"),
]  # fmt: skip

IDS = [c[0] for c in CASES]
