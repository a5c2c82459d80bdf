"""The notebooks' front end to the experiment runner: :func:`run_study`, :func:`store_path`.

A study is one grid (data set × strategies × ε × noise × seeds) trained by
:func:`multilabel_ls.experiments.run_grid` into a result store that several notebooks share
(runs already in the store are skipped, so notebook 04 reuses the runs of notebook 02).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path

from multilabel_ls.experiments import ExperimentConfig, GridSummary, TrainConfig, run_grid
from multilabel_ls.strategies import get_strategy

from .tables import RunTable, load_runs

#: Training of ``quick=True`` (CI): a narrow MLP and a few epochs, well under a second per run.
QUICK_TRAIN = {"hidden": (16,), "max_epochs": 5, "patience": 5, "batch_size": 256}


def store_path(dataset: str, store_dir: str | Path = "results/notebooks") -> Path:
    """The store file the notebooks use for ``dataset``: ``<store_dir>/<name>/results.sqlite``.

    A relative ``store_dir`` is taken from the repository root (the nearest parent of the
    working directory holding ``pyproject.toml``; the working directory if there is none), so
    a notebook run from ``notebooks/`` and one run from the root share a store. ``<name>`` is
    the data set's name, or the last part of its path.

    Examples
    --------
    >>> store_path("mulan:/data/emotions", "/tmp/s").as_posix()
    '/tmp/s/emotions/results.sqlite'
    """
    base = Path(store_dir)
    if not base.is_absolute():
        here = Path(os.getcwd()).resolve()
        root = next((p for p in (here, *here.parents) if (p / "pyproject.toml").is_file()), here)
        base = root / base
    name = Path(str(dataset).split(":", 1)[-1]).name or "dataset"
    return base / re.sub(r"[^A-Za-z0-9._-]+", "_", name) / "results.sqlite"


@dataclasses.dataclass
class Study:
    """A trained grid: its configuration, its store and the runner's summary.

    Attributes
    ----------
    config : ExperimentConfig
    store : Path
        The SQLite store (it may hold other studies' runs too).
    summary : GridSummary
        What :func:`~multilabel_ls.experiments.run_grid` did (trained, skipped, failed).
    """

    config: ExperimentConfig
    store: Path
    summary: GridSummary

    @property
    def keys(self) -> set[str]:
        """Store keys of this study's runs."""
        return {r.key for r in self.config.expand()}

    def runs(self) -> RunTable:
        """This study's runs (:func:`~multilabel_ls.analysis.load_runs`, filtered to its keys)."""
        return load_runs(self.store).filter(key=self.keys)


def quick_grid(
    strategies: Sequence[str], epsilons: Sequence[float], seeds: int
) -> tuple[list[str], list[float], int]:
    """The CI grid: the first sigmoid and the first softmax strategy, ε = 0 and the largest ε,
    at most 2 seeds (every code path of a notebook runs, in seconds).

    Examples
    --------
    >>> quick_grid(["binary", "binary_uniform", "uniform"], [0.0, 0.1, 0.3], 5)
    (['binary', 'uniform'], [0.0, 0.3], 2)
    """
    picked = []
    for fam in ("sigmoid", "softmax"):
        picked += [s for s in strategies if get_strategy(s).family == fam][:1]
    return picked, sorted({0.0, float(max(epsilons))}), min(int(seeds), 2)


def run_study(
    *,
    dataset: str,
    strategies: Sequence[str],
    epsilons: Sequence[float],
    seeds: int,
    noise: Sequence[str] = ("none",),
    data_dir: str | None = None,
    store_dir: str | Path = "results/notebooks",
    workers: int = 2,
    quick: bool = False,
    name: str = "notebook study",
    progress: bool = False,
) -> Study:
    """Train a grid with the experiment runner into the notebooks' store; skip finished runs.

    Parameters
    ----------
    dataset : str
        Anything :func:`multilabel_ls.data.load_dataset` takes.
    strategies, epsilons : sequences
        The grid (include ε = 0, the paired baseline).
    seeds : int
        Seeds ``0 .. seeds-1``.
    noise : sequence of str
        Noise specs (:func:`multilabel_ls.noise.parse_noise_spec`).
    data_dir : str, optional
        Directory of Mulan data sets for plain names.
    store_dir : str or Path
        See :func:`store_path`.
    workers : int
        Worker processes of the runner.
    quick : bool
        Train with :data:`QUICK_TRAIN` (a CI smoke run: its numbers mean nothing).
    name : str
        Experiment name recorded in the store.
    progress : bool
        Show the runner's progress bar.

    Returns
    -------
    Study

    Raises
    ------
    ValueError
        If ``seeds`` is not a positive integer.
    multilabel_ls.experiments.ConfigError
        For an invalid grid or a data set that cannot be loaded (before any training).
    RuntimeError
        If runs failed (they are logged in the store and retried by the next call).
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer (seeds 0..seeds-1), got {seeds!r}")
    train = TrainConfig(**QUICK_TRAIN) if quick else TrainConfig()
    config = ExperimentConfig(
        name=name, datasets=(dataset,), data_dir=data_dir, strategies=tuple(strategies),
        epsilons=tuple(epsilons), noise=tuple(noise), seeds=tuple(range(seeds)), train=train,
    )  # fmt: skip
    path = store_path(dataset, store_dir)
    summary = run_grid(config, path, workers=workers, progress=progress)
    if not summary.ok:
        first = summary.failed[0]
        raise RuntimeError(
            f"{len(summary.failed)} of {summary.total} runs failed (logged in {path}); "
            f"first: {first['label']}: {first['error']}"
        )
    return Study(config, path, summary)
