"""Train-only preprocessing: feature standardisation and a seeded validation carve.

Both helpers look only at training data, so nothing about the test split leaks into training.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np

from .dataset import MultiLabelDataset

__all__ = ["Standardizer", "standardize", "validation_split"]


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """Per-feature affine map ``(X - mean) / scale`` fitted on training rows.

    ``scale`` is the population standard deviation (``ddof=0``), replaced by 1 for constant
    features (std below ``1e-12``: such columns are only centred, so they map to 0 instead of
    dividing by ~0). Statistics are computed in float64.

    Attributes
    ----------
    mean, scale : ndarray of shape (n_features,), float64
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: Any) -> Standardizer:
        """Fit on ``X`` of shape (n_rows, n_features), ``n_rows >= 1``.

        Raises
        ------
        ValueError
            If ``X`` is not 2-D, has no rows, or holds NaN/inf.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"X must be 2-D with at least one row; got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinite values")
        mean = X.mean(axis=0)
        std = X.std(axis=0)
        return cls(mean=mean, scale=np.where(std < 1e-12, 1.0, std))

    def transform(self, X: Any) -> np.ndarray:
        """Return ``(X - mean) / scale`` as a new float32 array of the same shape.

        Raises
        ------
        ValueError
            If ``X`` is not 2-D with ``len(mean)`` columns.
        """
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.mean.shape[0]:
            raise ValueError(f"X must have shape (n, {self.mean.shape[0]}); got {X.shape}")
        return ((X - self.mean) / self.scale).astype(np.float32)


def standardize(dataset: MultiLabelDataset) -> tuple[MultiLabelDataset, Standardizer]:
    """Standardise both splits with statistics of ``dataset.X_train`` only.

    Returns
    -------
    (MultiLabelDataset, Standardizer)
        A new data set (labels and names shared, features transformed,
        ``metadata["standardized"] = True``) and the fitted map. The input is not modified.
        If you carve a validation set with :func:`validation_split`, fitting on the remaining
        training rows only (``Standardizer.fit(X_train[fit_idx])``) is the stricter choice.
    """
    if not isinstance(dataset, MultiLabelDataset):
        raise TypeError(f"dataset must be a MultiLabelDataset; got {type(dataset).__name__}")
    st = Standardizer.fit(dataset.X_train)
    out = dataclasses.replace(
        dataset,
        X_train=st.transform(dataset.X_train),
        X_test=st.transform(dataset.X_test),
        metadata={**dataset.metadata, "standardized": True},
    )
    return out, st


def validation_split(
    n_rows: int, *, fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``range(n_rows)`` (training rows) into fit and validation parts.

    Parameters
    ----------
    n_rows : int
        Number of training rows, ``>= 2``.
    fraction : float, default 0.2
        Validation fraction in (0, 1); the validation size is ``round(fraction * n_rows)``
        clipped to ``[1, n_rows - 1]``.
    seed : int, default 0
        Non-negative seed; the split is ``numpy.random.default_rng(seed).permutation``.

    Returns
    -------
    fit_idx, val_idx : ndarray of int64, sorted
        Disjoint, together ``range(n_rows)``. Index ``X_train``/``Y_train`` with them.

    Raises
    ------
    TypeError
        If ``n_rows`` or ``seed`` is not an int.
    ValueError
        If ``n_rows < 2``, ``seed < 0`` or ``fraction`` is outside (0, 1).
    """
    for argname, v in (("n_rows", n_rows), ("seed", seed)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{argname} must be an int; got {v!r}")
    if n_rows < 2:
        raise ValueError(f"n_rows must be >= 2 to carve a validation set; got {n_rows}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0; got {seed}")
    if not isinstance(fraction, numbers.Real) or not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"fraction must be in (0, 1); got {fraction!r}")
    n_val = min(max(round(float(fraction) * n_rows), 1), int(n_rows) - 1)
    perm = np.random.default_rng(int(seed)).permutation(int(n_rows))
    return np.sort(perm[n_val:]).astype(np.int64), np.sort(perm[:n_val]).astype(np.int64)
