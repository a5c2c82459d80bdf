"""Tiny grids for the experiment tests: yeast (offline), a few epochs, a narrow MLP."""

from __future__ import annotations

import socket

import pytest

from multilabel_ls.experiments.config import ExperimentConfig, TrainConfig

#: A tiny model and a few epochs: every run trains in well under a second.
TINY_TRAIN = {"hidden": (16,), "max_epochs": 4, "patience": 10, "batch_size": 256}


def tiny_config(**kw) -> ExperimentConfig:
    """Yeast, binary + uniform, ε ∈ {0, 0.2}, seeds 0 and 1, tiny training (overridable)."""
    train = {**TINY_TRAIN, **kw.pop("train", {})}
    base = {
        "strategies": ("binary", "uniform"),
        "epsilons": (0.0, 0.2),
        "seeds": (0, 1),
        "train": TrainConfig(**train),
    }
    return ExperimentConfig(**{**base, **kw})


@pytest.fixture
def tiny():
    return tiny_config()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
