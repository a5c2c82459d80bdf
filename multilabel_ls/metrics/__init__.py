"""Evaluation metrics for multi-label classification: exact, fast, streaming, DDP-ready.

Functions take the data first and options as keywords, accept NumPy arrays and torch tensors
(CPU or CUDA; CUDA data is processed on its device), and return Python floats or float64
NumPy arrays (per label).

Ranking: :func:`average_precision` (scikit-learn-identical mAP),
:func:`binned_average_precision`, :func:`label_ranking_average_precision`,
:func:`label_ranking_loss`, :func:`coverage_error`, :func:`one_error`.
Thresholded: :func:`f1_score`, :func:`hamming_loss`.
Calibration: :func:`calibration_error` (ECE / RMSCE / MCE, classwise or pooled),
:func:`brier_score`, :func:`log_loss`, :func:`reliability_diagram`,
:func:`plot_reliability_diagram`.
Streaming and distributed: :class:`AveragePrecision`, :class:`LabelRankingAveragePrecision`,
:class:`LabelRankingLoss`, :class:`CoverageError`, :class:`OneError`, :class:`F1Score`,
:class:`HammingLoss`, :class:`CalibrationError`, :class:`BrierScore`, :class:`LogLoss`.
"""

from ._inputs import UndefinedMetricWarning
from .average_precision import average_precision, binned_average_precision
from .calibration import brier_score, calibration_error, log_loss
from .ranking import coverage_error, label_ranking_average_precision, label_ranking_loss, one_error
from .reliability import ReliabilityDiagram, plot_reliability_diagram, reliability_diagram
from .streaming import (
    AveragePrecision,
    BrierScore,
    CalibrationError,
    CoverageError,
    F1Score,
    HammingLoss,
    LabelRankingAveragePrecision,
    LabelRankingLoss,
    LogLoss,
    Metric,
    OneError,
)
from .threshold import f1_score, hamming_loss

__all__ = [
    "AveragePrecision",
    "BrierScore",
    "CalibrationError",
    "CoverageError",
    "F1Score",
    "HammingLoss",
    "LabelRankingAveragePrecision",
    "LabelRankingLoss",
    "LogLoss",
    "Metric",
    "OneError",
    "ReliabilityDiagram",
    "UndefinedMetricWarning",
    "average_precision",
    "binned_average_precision",
    "brier_score",
    "calibration_error",
    "coverage_error",
    "f1_score",
    "hamming_loss",
    "label_ranking_average_precision",
    "label_ranking_loss",
    "log_loss",
    "one_error",
    "plot_reliability_diagram",
    "reliability_diagram",
]
