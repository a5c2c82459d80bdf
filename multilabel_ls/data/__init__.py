"""Multi-label data: real benchmark sets offline, file loaders and train-only preprocessing.

Every loader returns a :class:`MultiLabelDataset` (float32 features, uint8 0/1 labels, a fixed
train/test split, names and provenance; ``describe()`` gives label cardinality, density, rows
with no labels and per-label base rates per split).

Loaders
-------
load_dataset(name_or_path, *, data_dir=None, **kw)
    One entry point: ``"yeast"``, ``"digits-multi"``, ``"mulan:<path>"``,
    ``"libsvm:<train>,<test>"``, ``"openml:<name|id>"``, a Mulan name under ``data_dir`` or a
    path.
list_datasets(data_dir=None)
    Built-in names plus the Mulan directories found in ``data_dir``.
load_yeast()
    Mulan yeast, offline (river's package data) with the official 1500/917 split.
load_digits_multi(*, n_train=2000, n_test=1000, seed=0, ...)
    16x16 images of 2-4 real handwritten digits, labels = digits present (N = 10).
load_mulan(path, *, test_path=None, xml_path=None, name=None)
    Mulan ARFF (dense or sparse) + XML, official train/test files; labels in ARFF order.
load_libsvm(train_path, test_path, *, name=None, label_ids=None, zero_based="auto")
    Multi-label LIBSVM files.
load_openml(name=None, *, data_id=None, data_home=None, timeout=10.0, ...)
    OpenML with a local cache; offline without a cache raises ``OpenMLUnavailableError``.

Helpers
-------
label_stats(Y), Standardizer, standardize(dataset), validation_split(n_rows, *, fraction, seed),
read_mulan_arff(path, label_names), read_mulan_xml(path).
"""

from .dataset import MultiLabelDataset, label_stats
from .digits_multi import load_digits_multi
from .libsvm import load_libsvm
from .mulan import ArffFormatError, load_mulan, read_mulan_arff, read_mulan_xml
from .openml import OpenMLUnavailableError, load_openml
from .preprocessing import Standardizer, standardize, validation_split
from .registry import BUILTIN_DATASETS, list_datasets, load_dataset
from .yeast import load_yeast

__all__ = [
    "BUILTIN_DATASETS",
    "ArffFormatError",
    "MultiLabelDataset",
    "OpenMLUnavailableError",
    "Standardizer",
    "label_stats",
    "list_datasets",
    "load_dataset",
    "load_digits_multi",
    "load_libsvm",
    "load_mulan",
    "load_openml",
    "load_yeast",
    "read_mulan_arff",
    "read_mulan_xml",
    "standardize",
    "validation_split",
]
