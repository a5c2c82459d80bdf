"""The :class:`MultiLabelDataset` container and label statistics.

Every loader in :mod:`multilabel_ls.data` returns a :class:`MultiLabelDataset`: an official (or
documented) train/test split of a multi-label data set with features as ``float32`` and labels as
``uint8`` 0/1 indicator matrices.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["MultiLabelDataset", "label_stats"]


def _as_label_matrix(Y: Any, argname: str) -> np.ndarray:
    """Validate a 0/1 label matrix and return it as ``uint8`` (no copy if already ``uint8``)."""
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise ValueError(f"{argname} must be 2-D (n_rows, n_labels); got shape {Y.shape}")
    if Y.dtype == np.uint8:
        bad = Y > 1
    elif Y.dtype == np.bool_:
        return Y.astype(np.uint8)
    elif np.issubdtype(Y.dtype, np.number):
        bad = (Y != 0) & (Y != 1)
    else:
        raise TypeError(f"{argname} must hold numbers or booleans; got dtype {Y.dtype}")
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{argname} must contain only 0 and 1; found {Y[i, j]!r} at row {i}, label {j}"
        )
    return Y.astype(np.uint8, copy=False)


def label_stats(Y: Any) -> dict[str, Any]:
    """Summary statistics of a 0/1 label matrix.

    Parameters
    ----------
    Y : array_like of shape (n_rows, n_labels)
        Indicator matrix with entries in {0, 1} (bool or any numeric dtype).

    Returns
    -------
    dict
        JSON-serialisable, with keys

        - ``n_rows``, ``n_labels`` : ints.
        - ``n_positives`` : total number of ones.
        - ``cardinality`` : mean number of positive labels per row, ``n_positives / n_rows``.
        - ``density`` : ``cardinality / n_labels`` (the fraction of ones).
        - ``n_empty_rows`` : rows with no positive label (legal data; never dropped).
        - ``n_distinct_labelsets`` : number of distinct rows of ``Y`` (the empty set counts).
        - ``base_rates`` : list of ``n_labels`` floats, the fraction of rows positive per label.
        - ``label_counts`` : list of ``n_labels`` ints, the positive count per label.

        With ``n_rows == 0`` the rates are ``nan`` (``None`` is not used so that the value stays
        a float); with ``n_labels == 0`` the density is ``nan``.

    Raises
    ------
    ValueError
        If ``Y`` is not 2-D or holds values other than 0 and 1.
    TypeError
        If ``Y`` is not numeric or boolean.
    """
    Y = _as_label_matrix(Y, "Y")
    n, L = Y.shape
    counts = Y.sum(axis=0, dtype=np.int64)
    n_pos = int(counts.sum())
    card = n_pos / n if n else float("nan")
    if n:
        distinct = int(np.unique(Y, axis=0).shape[0])
    else:
        distinct = 0
    return {
        "n_rows": int(n),
        "n_labels": int(L),
        "n_positives": n_pos,
        "cardinality": float(card),
        "density": float(card / L) if L and n else float("nan"),
        "n_empty_rows": int((Y.sum(axis=1) == 0).sum()),
        "n_distinct_labelsets": distinct,
        "base_rates": [float(c / n) if n else float("nan") for c in counts],
        "label_counts": [int(c) for c in counts],
    }


def _check_names(names: Sequence[str], argname: str) -> tuple[str, ...]:
    if isinstance(names, str):
        raise TypeError(f"{argname} must be a sequence of str, not a single str ({names!r})")
    out = tuple(str(n) for n in names)
    if len(set(out)) != len(out):
        seen: set[str] = set()
        dup = sorted({n for n in out if n in seen or seen.add(n)})
        raise ValueError(f"{argname} contains duplicate names: {dup}")
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class MultiLabelDataset:
    """A multi-label data set with a fixed train/test split.

    Construction validates and normalises the arrays: features are converted to ``float32`` and
    labels to ``uint8`` (copies are made only when the dtype differs). Rows with no positive
    label are legal and kept; :meth:`describe` counts them per split. The arrays are ordinary
    writable numpy arrays; nothing in this package modifies them in place (noise models and
    helpers return new arrays or new datasets, see :func:`dataclasses.replace`).

    Parameters
    ----------
    name : str
        Short identifier, e.g. ``"yeast"``.
    X_train, X_test : ndarray of shape (n_train, n_features), (n_test, n_features)
        Features, converted to ``float32``. Always 2-D; image data sets also set
        ``image_shape`` so that :meth:`as_images` can give the ``(n, C, H, W)`` view.
    Y_train, Y_test : ndarray of shape (n_train, n_labels), (n_test, n_labels)
        0/1 label indicators (bool or numeric input), converted to ``uint8``.
    feature_names : sequence of str
        ``n_features`` names.
    label_names : sequence of str
        ``n_labels`` names, in the column order of ``Y_*``.
    source : str
        Human-readable provenance (files, package data, seed, split).
    image_shape : tuple of int (C, H, W), optional
        Set for image data; ``C * H * W`` must equal ``n_features``.
    metadata : mapping, optional
        JSON-serialisable extras (e.g. ``{"split": "official"}``); copied into a dict.

    Raises
    ------
    ValueError
        On inconsistent shapes, non-0/1 labels, wrong name counts, non-finite features or an
        ``image_shape`` that does not match ``n_features``.
    TypeError
        If labels are not numeric/boolean or features are not numeric.
    """

    name: str
    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    feature_names: tuple[str, ...]
    label_names: tuple[str, ...]
    source: str = ""
    image_shape: tuple[int, int, int] | None = None
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        def put(field: str, value: Any) -> None:
            object.__setattr__(self, field, value)

        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty str; got {self.name!r}")
        for split in ("train", "test"):
            X = np.asarray(getattr(self, f"X_{split}"))
            if X.ndim != 2:
                raise ValueError(f"X_{split} must be 2-D (n_rows, n_features); got {X.shape}")
            if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
                raise TypeError(f"X_{split} must be numeric; got dtype {X.dtype}")
            X = X.astype(np.float32, copy=False)
            if not np.isfinite(X).all():
                raise ValueError(f"X_{split} contains NaN or infinite values")
            Y = _as_label_matrix(getattr(self, f"Y_{split}"), f"Y_{split}")
            if X.shape[0] != Y.shape[0]:
                raise ValueError(
                    f"X_{split} has {X.shape[0]} rows but Y_{split} has {Y.shape[0]} rows"
                )
            put(f"X_{split}", X)
            put(f"Y_{split}", Y)
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise ValueError(
                f"X_train has {self.X_train.shape[1]} features but X_test has "
                f"{self.X_test.shape[1]}"
            )
        if self.Y_train.shape[1] != self.Y_test.shape[1]:
            raise ValueError(
                f"Y_train has {self.Y_train.shape[1]} labels but Y_test has {self.Y_test.shape[1]}"
            )
        put("feature_names", _check_names(self.feature_names, "feature_names"))
        put("label_names", _check_names(self.label_names, "label_names"))
        if len(self.feature_names) != self.n_features:
            raise ValueError(
                f"feature_names has {len(self.feature_names)} entries; expected {self.n_features}"
            )
        if len(self.label_names) != self.n_labels:
            raise ValueError(
                f"label_names has {len(self.label_names)} entries; expected {self.n_labels}"
            )
        if self.image_shape is not None:
            shape = tuple(int(s) for s in self.image_shape)
            if len(shape) != 3 or int(np.prod(shape)) != self.n_features:
                raise ValueError(
                    f"image_shape must be (C, H, W) with C*H*W == n_features ({self.n_features});"
                    f" got {self.image_shape!r}"
                )
            put("image_shape", shape)
        put("metadata", dict(self.metadata))

    # ------------------------------------------------------------------ sizes
    @property
    def n_train(self) -> int:
        """Number of training rows."""
        return int(self.X_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test rows."""
        return int(self.X_test.shape[0])

    @property
    def n_features(self) -> int:
        """Number of feature columns (``C * H * W`` for images)."""
        return int(self.X_train.shape[1])

    @property
    def n_labels(self) -> int:
        """Number of labels ``N``."""
        return int(self.Y_train.shape[1])

    # ------------------------------------------------------------------ views
    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(X, Y)`` of the ``"train"`` or ``"test"`` split (the stored arrays, no copy).

        Raises
        ------
        ValueError
            If ``which`` is not ``"train"`` or ``"test"``.
        """
        if which not in ("train", "test"):
            raise ValueError(f"which must be 'train' or 'test'; got {which!r}")
        return getattr(self, f"X_{which}"), getattr(self, f"Y_{which}")

    def as_images(self, X: np.ndarray) -> np.ndarray:
        """Reshape flat features ``(n, C*H*W)`` to images ``(n, C, H, W)`` (a view when possible).

        Works on any row subset or transformed copy of ``X_train``/``X_test`` (e.g. after a
        validation carve or standardisation), as long as it has ``n_features`` columns.

        Raises
        ------
        ValueError
            If the data set has no ``image_shape`` or ``X`` has the wrong number of columns.
        """
        if self.image_shape is None:
            raise ValueError(f"dataset {self.name!r} is not an image data set (image_shape=None)")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must have shape (n, {self.n_features}); got {X.shape}")
        return X.reshape(X.shape[0], *self.image_shape)

    # ------------------------------------------------------------------ summaries
    def describe(self) -> dict[str, Any]:
        """JSON-serialisable summary of the data set.

        Returns
        -------
        dict
            ``name``, ``source``, ``n_train``, ``n_test``, ``n_features``, ``n_labels``,
            ``feature_kind`` (``"image"`` or ``"tabular"``), ``image_shape`` (list or None),
            ``label_names``, ``metadata``, and ``"train"``/``"test"``: the
            :func:`label_stats` of each split (cardinality, density, number of rows with no
            labels, distinct label sets, per-label base rates and counts).
        """
        return {
            "name": self.name,
            "source": self.source,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "n_features": self.n_features,
            "n_labels": self.n_labels,
            "feature_kind": "image" if self.image_shape is not None else "tabular",
            "image_shape": list(self.image_shape) if self.image_shape is not None else None,
            "label_names": list(self.label_names),
            "metadata": dict(self.metadata),
            "train": label_stats(self.Y_train),
            "test": label_stats(self.Y_test),
        }

    def summary(self) -> str:
        """Multi-line human-readable summary (what ``mlls datasets`` can print).

        Shows sizes, then per split: label cardinality, density, rows with no labels and
        distinct label sets, then a per-label table of train/test base rates.
        """
        d = self.describe()
        tr, te = d["train"], d["test"]
        shape = f" images {tuple(self.image_shape)}" if self.image_shape else ""
        lines = [
            f"{self.name}: {self.n_train} train / {self.n_test} test, "
            f"{self.n_features} features{shape}, {self.n_labels} labels",
            f"  source: {self.source}",
            f"  {'split':<6}{'card.':>8}{'density':>9}{'empty rows':>12}{'labelsets':>11}",
        ]
        for nm, s in (("train", tr), ("test", te)):
            lines.append(
                f"  {nm:<6}{s['cardinality']:>8.3f}{s['density']:>9.4f}"
                f"{s['n_empty_rows']:>12d}{s['n_distinct_labelsets']:>11d}"
            )
        width = max(8, *(len(n) for n in self.label_names)) if self.label_names else 8
        lines.append(f"  {'label':<{width}}{'train':>8}{'test':>8}")
        for j, nm in enumerate(self.label_names):
            lines.append(f"  {nm:<{width}}{tr['base_rates'][j]:>8.3f}{te['base_rates'][j]:>8.3f}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"MultiLabelDataset(name={self.name!r}, n_train={self.n_train}, "
            f"n_test={self.n_test}, n_features={self.n_features}, n_labels={self.n_labels})"
        )

    def with_train_labels(self, Y_train: Any, **metadata: Any) -> MultiLabelDataset:
        """Return a copy with ``Y_train`` replaced (e.g. by noisy labels); test split untouched.

        Parameters
        ----------
        Y_train : array_like of shape (n_train, n_labels)
            New 0/1 training labels.
        **metadata
            Extra entries merged into ``metadata`` of the copy.

        Raises
        ------
        ValueError
            If the shape differs from the current ``Y_train`` or values are not 0/1.
        """
        Y = _as_label_matrix(Y_train, "Y_train")
        if Y.shape != self.Y_train.shape:
            raise ValueError(f"Y_train must have shape {self.Y_train.shape}; got {Y.shape}")
        return dataclasses.replace(self, Y_train=Y, metadata={**self.metadata, **metadata})
