"""multilabel_ls: label smoothing for multi-label classification.

One ``strategy`` argument selects a formulation; :func:`smooth_targets` is the pure target
transform and :func:`multilabel_smoothing_loss` / :class:`MultiLabelSmoothingLoss` the loss.
"""

from .desmooth import NotIdentifiableError, desmooth_probabilities, desmooth_shares
from .losses import MultiLabelSmoothingLoss, multilabel_smoothing_loss
from .priors import label_priors
from .sparse import PositiveIndices
from .strategies import (
    SIGMOID_STRATEGIES,
    SOFTMAX_STRATEGIES,
    STRATEGIES,
    describe_strategies,
    get_strategy,
    make_config,
)
from .targets import smooth_targets

__version__ = "0.1.0"

__all__ = [
    "SIGMOID_STRATEGIES",
    "SOFTMAX_STRATEGIES",
    "STRATEGIES",
    "MultiLabelSmoothingLoss",
    "NotIdentifiableError",
    "PositiveIndices",
    "describe_strategies",
    "desmooth_probabilities",
    "desmooth_shares",
    "get_strategy",
    "label_priors",
    "make_config",
    "multilabel_smoothing_loss",
    "smooth_targets",
]
