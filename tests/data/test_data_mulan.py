"""Mulan ARFF + XML loader: the shared real data sets against the manifest, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from multilabel_ls.data import (
    ArffFormatError,
    label_stats,
    load_mulan,
    read_mulan_arff,
    read_mulan_xml,
)

DATASETS = ["yeast", "emotions", "scene", "medical", "enron"]


@pytest.fixture(scope="module")
def manifest(shared_datasets: Path) -> dict:
    return json.loads((shared_datasets / "manifest.json").read_text())


@pytest.fixture(scope="module")
def loaded(shared_datasets: Path) -> dict:
    return {name: load_mulan(shared_datasets / name) for name in DATASETS}


@pytest.mark.parametrize("name", DATASETS)
def test_official_splits_match_manifest(name, loaded, manifest):
    """Shapes, label counts, cardinality (3 decimals) and distinct label sets per split file."""
    ds = loaded[name]
    for split in ("train", "test"):
        facts = manifest[name]["files"][f"{name}-{split}.arff"]
        X, Y = ds.split(split)
        assert X.shape == (facts["n"], facts["n_features"])
        assert Y.shape == (facts["n"], facts["n_labels"])
        assert X.dtype == np.float32 and Y.dtype == np.uint8
        stats = label_stats(Y)
        assert round(stats["cardinality"], 3) == pytest.approx(facts["cardinality"], abs=1e-9)
        assert stats["n_distinct_labelsets"] == facts["distinct_labelsets"]
    assert ds.n_labels == manifest[name]["n_labels_xml"]
    assert ds.metadata["split"] == "official"


@pytest.mark.parametrize("name", ["yeast", "emotions", "medical", "enron"])
def test_full_files_match_manifest(name, shared_datasets, manifest):
    """The full ``<name>.arff`` files (present for four sets), read with ``read_mulan_arff``."""
    labels = read_mulan_xml(shared_datasets / name / f"{name}.xml")
    X, Y, _, arff_labels = read_mulan_arff(shared_datasets / name / f"{name}.arff", labels)
    facts = manifest[name]["files"][f"{name}.arff"]
    assert X.shape == (facts["n"], facts["n_features"])
    stats = label_stats(Y)
    assert round(stats["cardinality"], 3) == pytest.approx(facts["cardinality"], abs=1e-9)
    assert stats["n_distinct_labelsets"] == facts["distinct_labelsets"]
    assert sorted(arff_labels) == sorted(labels)


@pytest.mark.parametrize("name", DATASETS)
def test_label_order_is_arff_order(name, loaded, manifest, shared_datasets):
    ds = loaded[name]
    xml = read_mulan_xml(shared_datasets / name / f"{name}.xml")
    assert ds.metadata["xml_label_order"] == xml
    assert sorted(ds.label_names) == sorted(xml)
    # In the shared files the labels are the last L attributes of the header.
    header = [
        line.split()[1]
        for line in (shared_datasets / name / f"{name}-train.arff").read_text().splitlines()
        if line.lower().startswith("@attribute")
    ]
    assert list(ds.label_names) == header[-ds.n_labels :]
    assert list(ds.feature_names) == header[: -ds.n_labels]
    same = manifest[name]["files"][f"{name}-train.arff"]["xml_order_matches_arff"]
    assert (list(ds.label_names) == xml) == same


def test_sparse_and_dense_agree_with_raw_text(loaded, shared_datasets):
    """Spot-check values against the raw text: a dense row of yeast, a sparse row of enron."""
    line = (shared_datasets / "yeast" / "yeast-train.arff").read_text().split("@data")[1]
    first = [float(v) for v in line.strip().splitlines()[0].split(",")]
    ds = loaded["yeast"]
    np.testing.assert_array_equal(ds.X_train[0], np.float32(first[:103]))
    np.testing.assert_array_equal(ds.Y_train[0], np.uint8(first[103:]))

    body = (shared_datasets / "enron" / "enron-test.arff").read_text().split("@data")[1]
    row = body.strip().splitlines()[4].strip().strip("{}")
    expected = np.zeros(1001 + 53)
    for item in row.split(","):
        idx, val = item.split()
        expected[int(idx)] = float(val)
    en = loaded["enron"]
    np.testing.assert_array_equal(en.X_test[4], expected[:1001])
    np.testing.assert_array_equal(en.Y_test[4], expected[1001:])


def test_real_sets_have_no_empty_rows_but_report_them(loaded):
    for ds in loaded.values():
        d = ds.describe()
        assert d["train"]["n_empty_rows"] == 0 and d["test"]["n_empty_rows"] == 0


def test_path_forms(shared_datasets):
    d = shared_datasets / "emotions"
    a = load_mulan(d)
    b = load_mulan(d / "emotions.xml")
    c = load_mulan(d / "emotions-train.arff")
    e = load_mulan(d / "emotions-train.arff", test_path=d / "emotions-test.arff", name="emo")
    for other in (b, c, e):
        np.testing.assert_array_equal(a.X_test, other.X_test)
        np.testing.assert_array_equal(a.Y_train, other.Y_train)
    assert e.name == "emo" and a.name == "emotions"


# --------------------------------------------------------------------------- synthetic files

HEADER = """% a comment
@relation toy

@attribute f1 numeric
@attribute f2 {0,1}
@attribute colour {red,green}
@attribute B {0,1}
@attribute A {1,0}
"""
XML = """<?xml version="1.0" encoding="utf-8"?>
<labels xmlns="http://mulan.sourceforge.net/labels">
<label name="A"></label>
<label name="B"></label>
</labels>
"""


def _toy(tmp_path: Path, train_rows: str, test_rows: str = "0.5,1,red,1,0\n") -> Path:
    d = tmp_path / "toy"
    d.mkdir(parents=True)
    (d / "toy.xml").write_text(XML)
    (d / "toy-train.arff").write_text(HEADER + "@data\n" + train_rows)
    (d / "toy-test.arff").write_text(HEADER + "@data\n" + test_rows)
    return d


def test_toy_dense_nominal_and_label_order(tmp_path):
    ds = load_mulan(_toy(tmp_path, "1.5,0,green,0,1\n-2,1,red,1,0\n0,0,red,0,0\n"))
    assert ds.label_names == ("B", "A")  # ARFF order, not XML order
    assert ds.feature_names == ("f1", "f2", "colour")
    # nominal {red,green} -> declaration index; label A declared {1,0} still maps '1' -> 1
    np.testing.assert_array_equal(ds.X_train, [[1.5, 0, 1], [-2, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(ds.Y_train, [[0, 1], [1, 0], [0, 0]])
    assert ds.describe()["train"]["n_empty_rows"] == 1  # kept, counted


def test_toy_sparse_rows_use_weka_defaults(tmp_path):
    # Omitted sparse entries take the first declared value: 0 for numeric/{0,1}, 'red' (0),
    # and for label A declared {1,0} the value '1'.
    ds = load_mulan(_toy(tmp_path, "{0 2.5, 3 1}\n{}\n{2 green, 4 0}\n"))
    np.testing.assert_array_equal(ds.X_train, [[2.5, 0, 0], [0, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(ds.Y_train, [[1, 1], [0, 1], [0, 0]])


def test_malformed_arff_names_file_and_line(tmp_path):
    d = _toy(tmp_path, "1,0,red,0,1\n1,0,red,0\n")  # second data row has 4 values
    bad_line = (d / "toy-train.arff").read_text().splitlines().index("1,0,red,0") + 1
    with pytest.raises(ArffFormatError) as info:
        load_mulan(d)
    msg = str(info.value)
    assert "toy-train.arff" in msg and f"line {bad_line}:" in msg
    assert info.value.line == bad_line and info.value.path.endswith("toy-train.arff")
    assert isinstance(info.value, ValueError)


def test_bad_numeric_and_bad_nominal_values(tmp_path):
    first_data_line = HEADER.count("\n") + 2  # header, "@data", then the row
    with pytest.raises(ArffFormatError, match=rf"toy-train.arff, line {first_data_line}:"):
        load_mulan(_toy(tmp_path / "a", "abc,0,red,0,1\n"))
    with pytest.raises(ArffFormatError, match=rf"toy-train.arff, line {first_data_line}:"):
        load_mulan(_toy(tmp_path / "b", "1,0,blue,0,1\n"))


def test_missing_value_rejected(tmp_path):
    with pytest.raises(ArffFormatError, match="missing values"):
        load_mulan(_toy(tmp_path, "?,0,red,0,1\n"))


def test_labels_missing_from_arff_are_listed(tmp_path):
    d = _toy(tmp_path, "1,0,red,0,1\n")
    (d / "toy.xml").write_text(
        XML.replace('<label name="A"></label>', '<label name="Z1"/><label name="Z2"/>')
    )
    with pytest.raises(ValueError, match=r"\['Z1', 'Z2'\]"):
        load_mulan(d)


def test_non_binary_label_rejected(tmp_path):
    d = _toy(tmp_path, "1,0,red,0,1\n")
    (d / "toy.xml").write_text(XML.replace('name="A"', 'name="colour"'))
    with pytest.raises(ValueError, match="colour"):
        load_mulan(d)


def test_train_test_header_mismatch(tmp_path):
    d = _toy(tmp_path, "1,0,red,0,1\n")
    (d / "toy-test.arff").write_text(HEADER.replace("f1", "g1") + "@data\n1,0,red,0,1\n")
    with pytest.raises(ValueError, match="different attributes"):
        load_mulan(d)


def test_missing_files_and_bad_xml(tmp_path):
    with pytest.raises(FileNotFoundError, match="Mulan data set path not found"):
        load_mulan(tmp_path / "nope")
    d = _toy(tmp_path, "1,0,red,0,1\n")
    (d / "toy-test.arff").unlink()
    with pytest.raises(FileNotFoundError, match=r"toy-test\.arff"):
        load_mulan(d)
    (d / "toy.xml").write_text("<labels><label name='A'>")
    with pytest.raises(ValueError, match="malformed Mulan XML"):
        read_mulan_xml(d / "toy.xml")
    (d / "toy.xml").write_text("<labels/>")
    with pytest.raises(ValueError, match="names no labels"):
        read_mulan_xml(d / "toy.xml")
    (d / "toy.xml").write_text("<labels><label name='A'/><label name='A'/></labels>")
    with pytest.raises(ValueError, match="more than once"):
        read_mulan_xml(d / "toy.xml")


def test_hierarchical_xml_collects_nested_labels(tmp_path):
    p = tmp_path / "h.xml"
    p.write_text(
        '<labels xmlns="http://mulan.sourceforge.net/labels"><label name="top">'
        '<label name="child"/></label><label name="other"/></labels>'
    )
    assert read_mulan_xml(p) == ["top", "child", "other"]
