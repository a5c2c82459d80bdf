"""Shared fixtures: the location of the shared Mulan datasets (never baked into the package)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_datasets() -> Path | None:
    candidates = []
    if os.environ.get("MLLS_SHARED_DATASETS"):
        candidates.append(Path(os.environ["MLLS_SHARED_DATASETS"]))
    candidates += [REPO.parent / "shared" / "datasets", Path("/work/shared/datasets")]
    for c in candidates:
        if (c / "manifest.json").is_file():
            return c
    return None


SHARED_DATASETS = _shared_datasets()


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """Directory of the shared Mulan ARFF files (env MLLS_SHARED_DATASETS, else ../shared/datasets)."""
    if SHARED_DATASETS is None:
        pytest.skip("shared datasets not found (set MLLS_SHARED_DATASETS)")
    return SHARED_DATASETS
