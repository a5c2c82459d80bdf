"""Mulan data sets: ARFF files (dense or sparse) plus an XML file naming the label attributes.

Format (Tsoumakas et al., JMLR 2011): ``<name>.xml`` lists ``<label name="..."/>`` elements
(possibly nested, for hierarchies); every ARFF attribute whose name appears there is a label,
every other attribute is a feature. The official split is shipped as two files,
``<name>-train.arff`` and ``<name>-test.arff``.

**Label order.** Labels are returned in the ARFF column order, not the XML order (the two differ
for yeast and enron, for instance). The XML order is kept in ``metadata["xml_label_order"]``.

ARFF parsing uses ``liac-arff`` (``scipy.io.arff`` cannot read the sparse ``{index value, ...}``
rows of medical or enron). Sparse rows follow Weka's convention: an omitted entry takes the
attribute's first declared value (``0`` for ``{0,1}`` and for numeric attributes).
"""

from __future__ import annotations

import io
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import arff
import numpy as np

from .dataset import MultiLabelDataset

__all__ = ["ArffFormatError", "load_mulan", "read_mulan_arff", "read_mulan_xml"]

PathLike = str | os.PathLike

_TRAIN_SUFFIXES = ("-train", "_train", "-training", "_training")
_TEST_SUFFIXES = ("-test", "_test")
_LABEL_VALUE_SETS = ({"0", "1"}, {"false", "true"})


class ArffFormatError(ValueError):
    """A malformed or unsupported ARFF file.

    Attributes
    ----------
    path : str
        The file.
    line : int or None
        1-based line number where the parser stopped (``None`` when the problem is not tied to
        a line, e.g. an unsupported attribute type found after parsing).
    """

    def __init__(self, path: PathLike, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"malformed ARFF file {where}: {message}")


def read_mulan_xml(path: PathLike) -> list[str]:
    """Read the label names of a Mulan ``.xml`` file, in document order.

    Every ``label`` element (any namespace, any nesting depth) contributes its ``name``
    attribute, so hierarchical label files give all their labels, parents included.

    Parameters
    ----------
    path : str or path-like
        The XML file.

    Returns
    -------
    list of str
        Label names in XML document order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the XML is malformed, has no labels, a label without ``name`` or a duplicate name.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Mulan label file not found: {path}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ValueError(f"malformed Mulan XML file {path}: {e}") from e
    names: list[str] = []
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.rsplit("}", 1)[-1] == "label":
            name = el.get("name")
            if name is None:
                raise ValueError(f"Mulan XML file {path}: a <label> element has no name")
            names.append(name)
    if not names:
        raise ValueError(f"Mulan XML file {path} names no labels")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"Mulan XML file {path} lists labels more than once: {dup}")
    return names


def _decode_arff(path: Path) -> dict[str, Any]:
    """Run liac-arff on ``path``; nominal values come back as indices into the declared values."""
    if not path.is_file():
        raise FileNotFoundError(f"ARFF file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # tolerate a byte-order mark
    except UnicodeDecodeError:
        # Older Weka tools wrote Latin-1; every byte sequence decodes, so this never fails.
        text = raw.decode("latin-1")
    try:
        # A file object keeps liac-arff's line counter equal to the file's line numbers
        # (arff.loads strips leading blank lines first, which would shift them).
        return arff.load(io.StringIO(text), encode_nominal=True, return_type=arff.DENSE)
    except arff.ArffException as e:
        line = e.line if isinstance(getattr(e, "line", None), int) and e.line > 0 else None
        raise ArffFormatError(path, line, str(e)) from e


def _nominal_table(values: list[str]) -> np.ndarray | None:
    """Numeric values of a nominal attribute's categories, or None if any is not a number."""
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return None


def _data_line(path: Path, row: int) -> int | None:
    """1-based line number of data row ``row`` (0-based) of an ARFF file, or None.

    Counts as liac-arff does (lines split at ``\\n``): after the ``@data`` line, every line
    that is neither blank nor a ``%`` comment is one data row. Only called on an error path (it
    re-reads the file).
    """
    text = path.read_bytes().decode("latin-1")  # the line structure is the same in any encoding
    seen, in_data = -1, False
    for number, raw in enumerate(text.split("\n"), start=1):
        if not in_data:
            in_data = raw.strip(" \r\n").upper().startswith("@DATA")
            continue
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        seen += 1
        if seen == row:
            return number
    return None


def read_mulan_arff(
    path: PathLike, label_names: list[str] | tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Read one Mulan ARFF file and separate features from labels.

    Parameters
    ----------
    path : str or path-like
        Dense or sparse ARFF file.
    label_names : sequence of str
        Names of the label attributes (from :func:`read_mulan_xml`); the order does not matter.

    Returns
    -------
    X : ndarray of shape (n_rows, n_features), float32
        Numeric attributes as numbers; nominal attributes whose categories are all numbers
        (e.g. ``{0,1}``) by those numbers; other nominal attributes by the 0-based index of the
        category in the declaration (Weka's internal coding).
    Y : ndarray of shape (n_rows, n_labels), uint8
        Labels in ARFF column order. Label attributes must be nominal ``{0,1}`` (or
        ``{false,true}``, any case, any declaration order) or numeric with values in {0, 1}.
    feature_names : list of str
        In ARFF column order.
    arff_label_names : list of str
        The label names in ARFF column order (the column order of ``Y``).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ArffFormatError
        (a ``ValueError``) if liac-arff rejects the file (message names the file and line), if
        a feature is a STRING attribute, if any value is missing (``?``) or not finite
        (``inf``, ``-inf``, ``nan``), or if a feature value does not fit in float32; the
        message names the file, the line, the data row and the attribute of the first one.
    ValueError
        If labels named in ``label_names`` are not attributes of the file (all missing names are
        listed), or a label attribute is not binary.
    """
    path = Path(path)
    obj = _decode_arff(path)
    attributes: list[tuple[str, Any]] = obj["attributes"]
    attr_names = [a[0] for a in attributes]
    wanted = set(label_names)
    missing = [n for n in label_names if n not in set(attr_names)]
    if missing:
        raise ValueError(
            f"{len(missing)} label(s) named in the XML are not attributes of {path}: {missing}"
        )
    label_idx = [i for i, n in enumerate(attr_names) if n in wanted]
    feat_idx = [i for i, n in enumerate(attr_names) if n not in wanted]

    for i in feat_idx:
        if attributes[i][1] == "STRING":
            raise ArffFormatError(
                path, None, f"feature attribute {attr_names[i]!r} is of type STRING (unsupported)"
            )
    n_attr = len(attributes)
    rows = obj["data"]
    try:
        data = np.array(rows, dtype=np.float64) if rows else np.zeros((0, n_attr))
    except (ValueError, TypeError) as e:  # liac-arff lets some unconvertible values through
        raise ArffFormatError(path, None, f"non-numeric data value ({e})") from e
    if data.ndim != 2 or data.shape[1] != n_attr:
        raise ArffFormatError(path, None, f"data rows do not all have {n_attr} values")
    finite = np.isfinite(data)
    if not finite.all():
        r, j = (int(v) for v in np.argwhere(~finite)[0])  # first in file order
        line = _data_line(path, r)
        at = f"data row {r + 1}, attribute {attr_names[j]!r}"
        if rows[r][j] is None:  # liac-arff's missing value '?'
            missing = np.array([[v is None for v in row] for row in rows]).any(axis=0)
            first = [attr_names[i] for i in np.flatnonzero(missing)[:5]]
            raise ArffFormatError(
                path,
                line,
                f"missing values ('?') in {int(missing.sum())} attribute(s), e.g. {first} "
                f"(first at {at}); impute them before loading",
            )
        raise ArffFormatError(
            path,
            line,
            f"non-finite value {rows[r][j]!r} at {at}; feature and label values must be finite "
            "numbers (replace or drop them before loading)",
        )

    # Nominal columns hold category indices (encode_nominal=True): map them to numbers.
    for i, (name, kind) in enumerate(attributes):
        if not isinstance(kind, list):
            continue
        if name in wanted:
            lowered = [v.strip().lower() for v in kind]
            if set(lowered) not in _LABEL_VALUE_SETS or len(lowered) != 2:
                raise ValueError(
                    f"label attribute {name!r} in {path} must be nominal {{0,1}}; "
                    f"declared values are {kind}"
                )
            positive = lowered.index("1" if "1" in lowered else "true")
            data[:, i] = data[:, i] == positive
        else:
            table = _nominal_table(kind)
            if table is not None:
                data[:, i] = table[data[:, i].astype(np.intp)]

    Yf = data[:, label_idx]
    if not np.isin(Yf, (0.0, 1.0)).all():
        bad = [attr_names[label_idx[j]] for j in np.flatnonzero(~np.isin(Yf, (0, 1)).all(0))]
        raise ValueError(f"label attribute(s) {bad} in {path} hold values other than 0 and 1")
    with np.errstate(over="ignore"):  # an overflow is reported below, with its location
        X = data[:, feat_idx].astype(np.float32)
    finite = np.isfinite(X)
    if not finite.all():  # finite in float64 but too large for float32 (or a nominal category)
        r, c = (int(v) for v in np.argwhere(~finite)[0])
        j = feat_idx[c]
        raise ArffFormatError(
            path,
            _data_line(path, r),
            f"value {float(data[r, j])!r} at data row {r + 1}, attribute {attr_names[j]!r} "
            f"does not fit in float32 (largest magnitude {float(np.finfo(np.float32).max):.4g})",
        )
    Y = Yf.astype(np.uint8)
    return X, Y, [attr_names[i] for i in feat_idx], [attr_names[i] for i in label_idx]


def _find(directory: Path, stem: str, suffixes: tuple[str, ...], what: str) -> Path:
    tried = [directory / f"{stem}{s}.arff" for s in suffixes]
    for p in tried:
        if p.is_file():
            return p
    raise FileNotFoundError(
        f"no {what} file for Mulan data set {stem!r}; tried {[str(p) for p in tried]}"
    )


def _resolve(
    path: Path, test_path: PathLike | None, xml_path: PathLike | None, name: str | None
) -> tuple[Path, Path, Path, str]:
    """Work out (train, test, xml, stem) from the arguments of :func:`load_mulan`."""
    if path.is_dir():
        if name is not None:
            xml = path / f"{name}.xml"
        elif xml_path is not None:
            xml = Path(xml_path)
        else:
            xmls = sorted(path.glob("*.xml"))
            if len(xmls) != 1:
                raise FileNotFoundError(
                    f"expected exactly one Mulan .xml file in {path}, found "
                    f"{[p.name for p in xmls]}; pass name= or xml_path="
                )
            xml = xmls[0]
        stem = xml.stem if name is None else name
        train = _find(path, stem, _TRAIN_SUFFIXES, "train")
        test = (
            Path(test_path) if test_path is not None else _find(path, stem, _TEST_SUFFIXES, "test")
        )
    elif path.suffix.lower() == ".xml":
        xml, stem = path, path.stem
        train = _find(path.parent, stem, _TRAIN_SUFFIXES, "train")
        test = (
            Path(test_path)
            if test_path is not None
            else _find(path.parent, stem, _TEST_SUFFIXES, "test")
        )
    elif path.suffix.lower() == ".arff":
        train = path
        base = path.stem
        stem = next((base[: -len(s)] for s in _TRAIN_SUFFIXES if base.endswith(s)), None)
        if test_path is not None:
            test = Path(test_path)
        elif stem is not None:
            test = _find(path.parent, stem, _TEST_SUFFIXES, "test")
        else:
            raise ValueError(
                f"cannot infer the test file for {path}: name the train file "
                "'<name>-train.arff' or pass test_path="
            )
        stem = stem if stem is not None else base
        xml = Path(xml_path) if xml_path is not None else path.parent / f"{stem}.xml"
    else:
        if not path.exists():
            raise FileNotFoundError(f"Mulan data set path not found: {path}")
        raise ValueError(
            f"path must be a directory, a .xml or a -train.arff file; got {str(path)!r}"
        )
    if xml_path is not None:
        xml = Path(xml_path)
    return train, test, xml, (name or stem)


def load_mulan(
    path: PathLike,
    *,
    test_path: PathLike | None = None,
    xml_path: PathLike | None = None,
    name: str | None = None,
) -> MultiLabelDataset:
    """Load a Mulan data set with its official train/test split.

    Parameters
    ----------
    path : str or path-like
        One of

        - a directory holding ``<name>.xml``, ``<name>-train.arff`` and ``<name>-test.arff``
          (``_train``/``-training``/``_training`` and ``_test`` are also recognised); if the
          directory holds several ``.xml`` files pass ``name``;
        - the ``<name>.xml`` file (train/test files are looked up next to it);
        - the train ARFF file (the test file and XML are inferred from a ``-train`` suffix, or
          given with ``test_path`` / ``xml_path``).
    test_path, xml_path : str or path-like, optional
        Explicit test ARFF / label XML file, overriding the inferred ones.
    name : str, optional
        Data set name; defaults to the XML file's stem.

    Returns
    -------
    MultiLabelDataset
        Labels in ARFF column order (``metadata["xml_label_order"]`` keeps the XML order);
        ``metadata`` also records the file paths and ``split="official"``.

    Raises
    ------
    FileNotFoundError
        If a needed file cannot be found (the message lists the names tried).
    ArffFormatError
        (a ``ValueError``) for a malformed ARFF file, or one with missing (``?``), non-finite
        or float32-overflowing values, naming file and line (and the data row and attribute of
        a bad value).
    ValueError
        If labels named in the XML are missing from an ARFF file (listed), label attributes are
        not binary, or the train and test files disagree on their attributes.
    """
    train, test, xml, ds_name = _resolve(Path(path), test_path, xml_path, name)
    labels = read_mulan_xml(xml)
    Xtr, Ytr, ftr, ltr = read_mulan_arff(train, labels)
    Xte, Yte, fte, lte = read_mulan_arff(test, labels)
    if ftr != fte or ltr != lte:
        raise ValueError(
            f"train file {train} and test file {test} declare different attributes "
            "(names or order differ)"
        )
    return MultiLabelDataset(
        name=ds_name,
        X_train=Xtr,
        Y_train=Ytr,
        X_test=Xte,
        Y_test=Yte,
        feature_names=ftr,
        label_names=ltr,
        source=f"Mulan ARFF {train} + {test}, labels from {xml}",
        metadata={
            "format": "mulan",
            "split": "official",
            "label_order": "arff",
            "xml_label_order": labels,
            "train_file": str(train),
            "test_file": str(test),
            "xml_file": str(xml),
        },
    )
