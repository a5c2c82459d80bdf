"""Per-run data preparation: load (cached), carve validation, add noise, standardise.

Order, all seeded by the run's seed and looking only at training rows:

1. ``validation_split(n_train, fraction=val_fraction, seed=seed)`` → fit / validation rows.
2. Label noise on the training labels (:func:`multilabel_ls.noise.apply_noise`, seed = run
   seed). By default the whole training split is corrupted before the carve, so validation
   labels are noisy as they would be in practice; ``clean_validation=True`` corrupts the fit
   rows only. The test split is never touched.
3. Standardisation with statistics of the fit rows (per feature; one mean/std for images).

The rare-label set of the evaluation (:func:`.evaluate.rare_labels`) is fixed per data set: the
base rates are those of the whole training split as loaded (fit + validation rows, before any
label noise), so every seed, ε, strategy and noise model of a data set is scored on the same
labels, and the test split is never consulted to choose them.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from multilabel_ls.data import MultiLabelDataset, Standardizer, load_dataset, validation_split
from multilabel_ls.noise import apply_noise

from .config import RunSpec
from .evaluate import RARE_THRESHOLD, rare_labels


@functools.lru_cache(maxsize=8)
def cached_dataset(name: str, data_dir: str | None) -> MultiLabelDataset:
    """:func:`multilabel_ls.data.load_dataset`, memoised per process (grids reuse one data set)."""
    return load_dataset(name, data_dir=data_dir)


@dataclasses.dataclass
class PreparedData:
    """Arrays of one run (float32 features, float32 0/1 labels) and what was done to them.

    ``train_rates`` (float64, one per label) are the base rates of the data set's training
    split, which select the rare labels of the evaluation.
    """

    X_fit: np.ndarray
    Y_fit: np.ndarray
    X_val: np.ndarray
    Y_val: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    image_shape: tuple[int, int, int] | None
    cardinality: float
    info: dict[str, Any]
    train_rates: np.ndarray | None = None


def _scale(X_fit: np.ndarray, image: bool) -> tuple[np.ndarray, np.ndarray]:
    if not image:
        st = Standardizer.fit(X_fit)
        return st.mean, st.scale
    # Images: one mean and std over all pixels, so the spatial structure is kept.
    mean, std = float(X_fit.mean(dtype=np.float64)), float(X_fit.std(dtype=np.float64))
    return np.float64(mean), np.float64(std if std > 1e-12 else 1.0)


def prepare_data(spec: RunSpec, dataset: MultiLabelDataset | None = None) -> PreparedData:
    """Carve, corrupt and standardise the data of ``spec`` (see the module docstring).

    Parameters
    ----------
    spec : RunSpec
        The run; its ``seed`` drives the carve and the noise.
    dataset : MultiLabelDataset, optional
        Use this data set instead of loading ``spec.dataset``.
    """
    ds = dataset if dataset is not None else cached_dataset(spec.dataset, spec.data_dir)
    tr = spec.train
    fit_idx, val_idx = validation_split(ds.n_train, fraction=tr.val_fraction, seed=spec.seed)
    Y = ds.Y_train
    if tr.clean_validation:
        Y_fit, record = apply_noise(Y[fit_idx], spec.noise, seed=spec.seed)
        Y_val = Y[val_idx]
    else:
        Y_noisy, record = apply_noise(Y, spec.noise, seed=spec.seed)
        Y_fit, Y_val = Y_noisy[fit_idx], Y_noisy[val_idx]
    X_fit, X_val, X_test = ds.X_train[fit_idx], ds.X_train[val_idx], ds.X_test
    if tr.standardize:
        mean, scale = _scale(X_fit, ds.image_shape is not None)
        X_fit, X_val, X_test = (
            ((X - mean) / scale).astype(np.float32) for X in (X_fit, X_val, X_test)
        )
    cardinality = float(Y_fit.sum(axis=1).mean())
    rates = np.asarray(ds.Y_train, dtype=np.float64).mean(axis=0)
    rare = rare_labels(rates, RARE_THRESHOLD)
    info = {
        "dataset": ds.name,
        "n_fit": len(fit_idx),
        "n_val": len(val_idx),
        "n_test": ds.n_test,
        "n_features": ds.n_features,
        "n_labels": ds.n_labels,
        "train_cardinality": cardinality,
        "n_empty_fit_rows": int((Y_fit.sum(axis=1) == 0).sum()),
        "n_full_fit_rows": int((Y_fit.sum(axis=1) == ds.n_labels).sum()),
        "noise": {k: v for k, v in record.items() if not k.startswith("per_label")},
        "rare": {
            "threshold": RARE_THRESHOLD,
            "source": "training split (fit + validation rows, before label noise)",
            "n": len(rare),
            "labels": rare.tolist(),
            "names": [ds.label_names[j] for j in rare],
            "train_rates": rates[rare].tolist(),
            "n_with_test_positives": int((np.asarray(ds.Y_test)[:, rare].sum(axis=0) > 0).sum()),
        },
    }
    f32 = np.float32
    return PreparedData(
        X_fit.astype(f32, copy=False), Y_fit.astype(f32), X_val.astype(f32, copy=False),
        Y_val.astype(f32), X_test.astype(f32, copy=False), ds.Y_test.astype(f32),
        ds.image_shape, cardinality, info, rates,
    )  # fmt: skip
