"""The offline ``yeast`` default: river's copy of Mulan's yeast plus the official split.

The ``river`` distribution ships ``river/datasets/yeast.csv.gz``: the full Mulan ``yeast.arff``
(Elisseeff & Weston, NIPS 2001) as CSV, value-identical and in the same row order (2417 rows,
103 numeric features ``Att1..Att103``, 14 labels ``Class1..Class14``), but without the official
train/test split. The split (1500/917) was recovered once by matching rows against Mulan's
``yeast-train.arff`` and ``yeast-test.arff`` (script: ``multilabel_ls/data/_make_yeast_split.py``)
and is shipped as ``yeast_split.json``: the 0-based CSV row indices of the train rows and of the
test rows, each in the order of the official file (it happens that the CSV holds the 917 test
rows first, then the 1500 train rows; no two rows are identical). Loading therefore reproduces
the official ARFF split row for row.

The CSV is read as package data of the installed ``river`` distribution (``importlib.resources``);
river's Python API is not used. A checksum of the parsed values guards against a future river
release changing the file.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from importlib import metadata, resources
from typing import Any

import numpy as np

from .dataset import MultiLabelDataset

__all__ = ["load_yeast", "read_river_yeast_csv", "values_sha256"]

_SPLIT_FILE = "yeast_split.json"
_N_FEATURES = 103
_N_LABELS = 14


def values_sha256(values: np.ndarray) -> str:
    """SHA-256 of a float64 matrix's little-endian C-order bytes (a format-independent checksum)."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<f8").tobytes()).hexdigest()


def read_river_yeast_csv() -> tuple[np.ndarray, list[str]]:
    """Read ``river/datasets/yeast.csv.gz`` from the installed ``river`` distribution.

    Returns
    -------
    values : ndarray of shape (2417, 117), float64
        The CSV values in file order: 103 features then 14 labels.
    columns : list of str
        The 117 header names.

    Raises
    ------
    ModuleNotFoundError
        If ``river`` is not installed (the message says how to proceed).
    FileNotFoundError
        If the installed river has no ``datasets/yeast.csv.gz``.
    """
    try:
        ref = resources.files("river").joinpath("datasets/yeast.csv.gz")
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            "the offline 'yeast' data set is read from the 'river' package's data; install it "
            "(pip install river) or load Mulan's yeast files with load_mulan(path)"
        ) from e
    if not ref.is_file():
        raise FileNotFoundError(
            "the installed 'river' package has no datasets/yeast.csv.gz; load Mulan's yeast "
            "files with load_mulan(path) instead"
        )
    text = gzip.decompress(ref.read_bytes()).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    columns, body = rows[0], [r for r in rows[1:] if r]
    return np.array(body, dtype=np.float64), columns


def _split_record() -> dict[str, Any]:
    ref = resources.files(__package__).joinpath(_SPLIT_FILE)
    return json.loads(ref.read_text(encoding="utf-8"))


def load_yeast() -> MultiLabelDataset:
    """Load yeast (Mulan) offline with the official 1500/917 train/test split.

    No network and no shared files are needed: values come from ``river``'s package data, the
    split from ``multilabel_ls/data/yeast_split.json``.

    Returns
    -------
    MultiLabelDataset
        ``name="yeast"``; ``X_train`` (1500, 103), ``X_test`` (917, 103) float32; ``Y_*`` uint8
        with 14 labels ``Class1..Class14`` (ARFF column order; Mulan's ``yeast.xml`` lists
        them in a different order). Rows are in the order of the official
        ``yeast-train.arff`` / ``yeast-test.arff`` files. Label cardinality 4.228 (train) /
        4.252 (test); no rows without labels.

    Raises
    ------
    ModuleNotFoundError, FileNotFoundError
        If river or its yeast file is unavailable.
    ValueError
        If the CSV's shape, header or value checksum differ from the ones the split was made
        for (a changed river release); load Mulan's files with ``load_mulan`` then.
    """
    values, columns = read_river_yeast_csv()
    rec = _split_record()
    expected_cols = [f"Att{i}" for i in range(1, _N_FEATURES + 1)] + [
        f"Class{i}" for i in range(1, _N_LABELS + 1)
    ]
    if columns != expected_cols or values.shape != (rec["n_rows"], _N_FEATURES + _N_LABELS):
        raise ValueError(
            f"river's yeast.csv.gz has shape {values.shape} and an unexpected header; the "
            f"shipped split expects {rec['n_rows']} rows and columns Att1..Att103, "
            "Class1..Class14"
        )
    digest = values_sha256(values)
    if digest != rec["values_sha256"]:
        raise ValueError(
            "river's yeast.csv.gz values differ from the ones the shipped split was recovered "
            f"for (sha256 {digest[:12]}... != {rec['values_sha256'][:12]}...); load Mulan's "
            "yeast files with load_mulan(path)"
        )
    tr = np.asarray(rec["train"], dtype=np.intp)
    te = np.asarray(rec["test"], dtype=np.intp)
    try:
        river_version = metadata.version("river")
    except metadata.PackageNotFoundError:  # pragma: no cover - vendored river without metadata
        river_version = "unknown"
    X, Y = values[:, :_N_FEATURES], values[:, _N_FEATURES:]
    return MultiLabelDataset(
        name="yeast",
        X_train=X[tr],
        Y_train=Y[tr],
        X_test=X[te],
        Y_test=Y[te],
        feature_names=columns[:_N_FEATURES],
        label_names=columns[_N_FEATURES:],
        source=(
            f"river {river_version} package data river/datasets/yeast.csv.gz (Mulan yeast, "
            "Elisseeff & Weston 2001); official Mulan train/test split from "
            "multilabel_ls/data/yeast_split.json"
        ),
        metadata={
            "format": "river-csv",
            "split": "official",
            "label_order": "arff",
            "river_version": river_version,
        },
    )
