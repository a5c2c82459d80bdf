"""CITATION.cff is valid Citation File Format 1.2.0 and agrees with the package metadata.

The checks follow the CFF 1.2.0 schema (https://citation-file-format.github.io/1.2.0/schema):
required keys, their types and patterns, persons/entities, references, and no unknown top-level
keys. PyYAML parses the file; jsonschema is not needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

import multilabel_ls

REPO = Path(__file__).resolve().parents[2]
CFF = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))

TOP_LEVEL = {  # the keys CFF 1.2.0 allows at the top level
    "abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi",
    "identifiers", "keywords", "license", "license-url", "message", "preferred-citation",
    "references", "repository", "repository-artifact", "repository-code", "title", "type", "url",
    "version",
}  # fmt: skip
PERSON = {
    "address", "affiliation", "alias", "city", "country", "email", "family-names", "fax",
    "given-names", "name-particle", "name-suffix", "orcid", "post-code", "region", "tel", "website",
}  # fmt: skip
ENTITY = {
    "address", "alias", "city", "country", "date-end", "date-start", "email", "fax", "location",
    "name", "orcid", "post-code", "region", "tel", "website",
}  # fmt: skip
REFERENCE_TYPES = {
    "article",
    "book",
    "conference-paper",
    "generic",
    "report",
    "software",
    "website",
}
DATE = re.compile(r"^[0-9]{4}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])$")
URL = re.compile(r"^(https|http|ftp|sftp)://.+")


def _nonempty_str(v) -> bool:
    return isinstance(v, str) and len(v) >= 1


def _check_author(a) -> None:
    assert isinstance(a, dict) and a, f"author must be a non-empty mapping: {a!r}"
    if "name" in a:  # an entity
        assert set(a) <= ENTITY, f"unknown entity keys {set(a) - ENTITY}"
        assert _nonempty_str(a["name"])
    else:  # a person
        assert set(a) <= PERSON, f"unknown person keys {set(a) - PERSON}"
        assert _nonempty_str(a.get("family-names")) and _nonempty_str(a.get("given-names"))
    for k, v in a.items():
        assert _nonempty_str(v), f"author field {k} must be a non-empty string"


def test_required_keys_and_types():
    assert set(CFF) <= TOP_LEVEL, f"unknown top-level keys {set(CFF) - TOP_LEVEL}"
    for key in ("cff-version", "message", "title", "authors"):  # required by the schema
        assert key in CFF
    assert CFF["cff-version"] == "1.2.0"
    assert _nonempty_str(CFF["message"]) and _nonempty_str(CFF["title"])
    assert isinstance(CFF["authors"], list) and CFF["authors"]
    for a in CFF["authors"]:
        _check_author(a)
    assert CFF.get("type", "software") in ("software", "dataset")
    # the date must be a quoted string (an unquoted YAML date parses to a date object)
    assert isinstance(CFF["date-released"], str) and DATE.match(CFF["date-released"])
    assert isinstance(CFF["version"], str) and CFF["version"]
    assert CFF["license"] == "BSD-3-Clause"
    assert all(_nonempty_str(k) for k in CFF["keywords"])
    assert len(set(CFF["keywords"])) == len(CFF["keywords"])


def test_references():
    refs = CFF["references"]
    assert isinstance(refs, list) and refs
    for r in refs:
        for key in ("type", "title", "authors"):  # required for a reference
            assert key in r, f"reference without {key}: {r.get('title')!r}"
        assert r["type"] in REFERENCE_TYPES
        for a in r["authors"]:
            _check_author(a)
        if "year" in r:
            assert isinstance(r["year"], int)
        if "url" in r:
            assert URL.match(r["url"])
    titles = " ".join(r["title"] for r in refs)
    for must in ("Inception", "When does label smoothing help", "label noise", "off by eps/N"):
        assert must in titles


def test_agrees_with_package_metadata():
    pyproject = (REPO / "pyproject.toml").read_text()  # tomllib needs Python 3.11
    version = re.search(r'^version = "([^"]+)"', pyproject, flags=re.M).group(1)
    license_ = re.search(r'^license = \{ text = "([^"]+)" \}', pyproject, flags=re.M).group(1)
    assert CFF["version"] == version == multilabel_ls.__version__ == "0.1.0"
    assert license_ == CFF["license"]


def test_readme_how_to_cite_matches():
    readme = (REPO / "README.md").read_text()
    m = re.search(r"^## How to cite\n(.*?)(?=^## |\Z)", readme, flags=re.S | re.M)
    assert m, "README has no '## How to cite' section"
    section = m.group(1)
    assert "CITATION.cff" in section and "derivations/" in section
    bib = re.search(r"```bibtex\n(.*?)```", section, flags=re.S)
    assert bib, "no BibTeX block"
    entry = bib.group(1)
    assert re.search(r"version\s*=\s*\{" + re.escape(CFF["version"]) + r"\}", entry)
    assert re.search(r"year\s*=\s*\{" + CFF["date-released"][:4] + r"\}", entry)
    assert entry.count("{") == entry.count("}")
