"""multilabel_ls: label smoothing for multi-label classification."""

__version__ = "0.1.0"
