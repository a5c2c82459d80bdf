"""Evaluation metrics for multi-label classification."""

from .average_precision import average_precision, binned_average_precision

__all__ = ["average_precision", "binned_average_precision"]
