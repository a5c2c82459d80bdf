"""Experiments: train every strategy × ε × noise × seed on real data, store, report.

Pipeline
--------
:class:`ExperimentConfig` (from flags, :func:`load_config` on TOML/JSON, or code) →
:meth:`ExperimentConfig.expand` (one :class:`RunSpec` per run, keyed by a digest of everything
that changes its result) → :func:`run_grid` (skips runs already in the store; worker
processes or torchrun/DDP) → :func:`run_one` (seeded validation carve, noise, standardisation,
MLP/CNN, early stopping on validation macro mAP) → :func:`evaluate` (every metric of
:mod:`multilabel_ls.metrics`, on the score conventions of :mod:`.scores`, also restricted to
the rare labels of :func:`rare_labels`) → :class:`ResultStore` (SQLite, one atomic row per
run) → :func:`write_report` (Markdown, CSV, PNG figures; mean ± sd over seeds, a paired t-test
against ε = 0, and paired tests between strategies at equal ε).

The ``mlls`` command line (:mod:`multilabel_ls.cli`) drives the same functions.
"""

from .config import (
    ConfigError,
    EvalConfig,
    ExperimentConfig,
    RunSpec,
    TrainConfig,
    config_from_dict,
    load_config,
)
from .distributed import DistContext, init_from_env
from .evaluate import METRICS, RARE_METRICS, RARE_THRESHOLD, evaluate, rare_labels
from .report import write_report
from .runner import GridSummary, run_grid
from .scores import presence_probabilities, ranking_scores
from .store import ResultStore, StoreError
from .training import run_one

__all__ = [
    "METRICS",
    "RARE_METRICS",
    "RARE_THRESHOLD",
    "ConfigError",
    "DistContext",
    "EvalConfig",
    "ExperimentConfig",
    "GridSummary",
    "ResultStore",
    "RunSpec",
    "StoreError",
    "TrainConfig",
    "config_from_dict",
    "evaluate",
    "init_from_env",
    "load_config",
    "presence_probabilities",
    "ranking_scores",
    "rare_labels",
    "run_grid",
    "run_one",
    "write_report",
]
