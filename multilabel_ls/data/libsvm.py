"""LIBSVM / svmlight multi-label files (``label1,label2 idx:val idx:val ...``).

Read with scikit-learn's ``load_svmlight_files(..., multilabel=True)`` so that the train and test
files share one feature space. Features are returned dense (``float32``), which suits the small
and medium data sets this toolkit targets.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .dataset import MultiLabelDataset

__all__ = ["load_libsvm"]

PathLike = str | os.PathLike


def _indicator(label_sets: Sequence[tuple[float, ...]], ids: np.ndarray, path: Path) -> np.ndarray:
    pos = {v: j for j, v in enumerate(ids.tolist())}
    Y = np.zeros((len(label_sets), len(ids)), dtype=np.uint8)
    for i, labels in enumerate(label_sets):
        for v in labels:
            j = pos.get(float(v))
            if j is None:
                raise ValueError(f"{path}: row {i} has label {v:g}, not in label_ids")
            Y[i, j] = 1
    return Y


def load_libsvm(
    train_path: PathLike,
    test_path: PathLike,
    *,
    name: str | None = None,
    label_ids: Sequence[int] | None = None,
    zero_based: bool | str = "auto",
) -> MultiLabelDataset:
    """Load a multi-label LIBSVM train/test pair.

    Parameters
    ----------
    train_path, test_path : str or path-like
        The two files (plain, ``.gz`` or ``.bz2``, as scikit-learn reads them). A row may have no
        label (an empty label field); such rows are kept.
    name : str, optional
        Data set name; defaults to the train file's stem.
    label_ids : sequence of int, optional
        The label ids, in column order. By default the sorted union of the ids seen in either
        file (a label that never occurs in either file is then absent; pass ``label_ids`` to
        keep it, e.g. ``range(n_labels)``).
    zero_based : bool or "auto", default "auto"
        Whether feature indices start at 0; passed to ``load_svmlight_files``.

    Returns
    -------
    MultiLabelDataset
        Dense ``float32`` features named ``"f<j>"`` by 0-based column ``j`` (file index ``j`` if
        the files are zero-based, ``j + 1`` if one-based), labels ``uint8`` named by their id
        (``"3"`` for id 3).

    Raises
    ------
    FileNotFoundError
        If a file is missing.
    ValueError
        If scikit-learn cannot parse a file (the message names both files), a label is not in
        ``label_ids``, or ``label_ids`` has duplicates.
    """
    from sklearn.datasets import load_svmlight_files

    paths = [Path(train_path), Path(test_path)]
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"LIBSVM file not found: {p}")
    try:
        Xtr, ytr, Xte, yte = load_svmlight_files(
            [str(p) for p in paths], multilabel=True, zero_based=zero_based, dtype=np.float32
        )
    except ValueError as e:
        raise ValueError(f"cannot parse LIBSVM files {paths[0]}, {paths[1]}: {e}") from e
    if label_ids is None:
        ids = np.array(sorted({float(v) for s in (*ytr, *yte) for v in s}), dtype=np.float64)
    else:
        ids = np.asarray([float(v) for v in label_ids], dtype=np.float64)
        if len(np.unique(ids)) != len(ids):
            raise ValueError(f"label_ids has duplicates: {list(label_ids)}")
    Ytr = _indicator(ytr, ids, paths[0])
    Yte = _indicator(yte, ids, paths[1])
    return MultiLabelDataset(
        name=name or paths[0].name.split(".")[0],
        X_train=Xtr.toarray(),
        Y_train=Ytr,
        X_test=Xte.toarray(),
        Y_test=Yte,
        feature_names=[f"f{j}" for j in range(Xtr.shape[1])],
        label_names=[f"{v:g}" for v in ids],
        source=f"LIBSVM {paths[0]} + {paths[1]}",
        metadata={"format": "libsvm", "split": "files", "label_ids": [float(v) for v in ids]},
    )
