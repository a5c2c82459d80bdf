"""The notes and their tests stay in step: every claim ID in derivations/ has a sympy proof and a
code tie named after it, every test names a claim some note defines, the index lists every claim,
every cited ID and anchor exists, and the Markdown math avoids constructs GitHub mis-renders."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DERIV = REPO / "derivations"
TESTS = Path(__file__).resolve().parent
NOTES = sorted(DERIV.glob("[0-9][0-9]_*.md"))
INDEX = DERIV / "README.md"

CLAIM = re.compile(r'<a id="D(\d+)-(\d+)"></a>\s*\n\s*### D(\d+)\.(\d+) \S')
ANCHOR = re.compile(r'<a id="(D\d+-\d+)"></a>')
TEST_NAME = re.compile(r"^test_D(\d+)_(\d+)_(\w+)$")
CITED = re.compile(r"(?<![\w.])D(\d+)\.(\d+)(?![\d])")
LINK = re.compile(r"\]\(([\w.]*\.md)?#(D\d+-\d+)\)")


def _defined() -> dict[str, Path]:
    """Claim ID -> note, from the anchor + heading pairs."""
    out: dict[str, Path] = {}
    for note in NOTES:
        text = note.read_text()
        for m in CLAIM.finditer(text):
            assert m.group(1, 2) == m.group(3, 4), (
                f"{note.name}: anchor and heading disagree at {m.group()}"
            )
            cid = f"D{m.group(1)}.{m.group(2)}"
            assert cid not in out, f"{cid} defined twice"
            out[cid] = note
    return out


def _tests() -> dict[str, list[str]]:
    """Claim ID -> names of the test functions named after it."""
    out: dict[str, list[str]] = {}
    for f in sorted(TESTS.glob("test_*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.FunctionDef) and (m := TEST_NAME.match(node.name)):
                out.setdefault(f"D{m.group(1)}.{m.group(2)}", []).append(node.name)
    return out


DEFINED = _defined()
TEST_NAMES = _tests()


def test_notes_exist_and_define_claims():
    assert [n.name for n in NOTES][:7] == [
        "01_targets.md",
        "02_sigmoid.md",
        "03_softmax.md",
        "04_forum.md",
        "05_special_cases.md",
        "06_label_noise.md",
        "07_desmoothing.md",
    ]
    for note in NOTES:
        text = note.read_text()
        ids = [m.group(1) for m in ANCHOR.finditer(text)]
        assert ids, f"{note.name} defines no claim"
        prefix = f"D{int(note.name[:2])}-"
        assert all(i.startswith(prefix) for i in ids), f"{note.name}: IDs must start with {prefix}"
        assert len(ids) == len(CLAIM.findall(text)), f"{note.name}: an anchor lacks its heading"
        assert "## References" in text, f"{note.name} has no References section"


@pytest.mark.parametrize("cid", sorted(DEFINED))
def test_every_claim_has_a_proof_and_a_code_tie(cid):
    names = TEST_NAMES.get(cid, [])
    proofs = [n for n in names if "_code_" not in n]
    ties = [n for n in names if "_code_" in n]
    assert proofs, (
        f"{cid} ({DEFINED[cid].name}) has no sympy proof test named test_{cid.replace('.', '_')}_..."
    )
    assert ties, (
        f"{cid} ({DEFINED[cid].name}) has no code-tie test named test_{cid.replace('.', '_')}_code_..."
    )


def test_every_test_names_a_defined_claim():
    unknown = sorted(set(TEST_NAMES) - set(DEFINED))
    assert not unknown, f"tests name claims no note defines: {unknown}"


def test_test_names_quoted_in_the_notes_exist():
    all_names = {n for names in TEST_NAMES.values() for n in names}
    for note in NOTES:
        for name in re.findall(r"`(test_D\d+_\d+_\w+)`", note.read_text()):
            assert name in all_names, f"{note.name} cites a test that does not exist: {name}"


def _cited_ids(text: str) -> set[str]:
    return {f"D{a}.{b}" for a, b in CITED.findall(text)}


def test_every_cited_claim_exists():
    sources = [*NOTES, INDEX, REPO / "README.md", *sorted((REPO / "multilabel_ls").rglob("*.py"))]
    for path in sources:
        missing = _cited_ids(path.read_text()) - set(DEFINED)
        assert not missing, f"{path.relative_to(REPO)} cites undefined claims {sorted(missing)}"


def test_every_anchor_link_resolves():
    anchors = {note.name: set(ANCHOR.findall(note.read_text())) for note in NOTES}
    for path in [*NOTES, INDEX]:
        for target, anchor in LINK.findall(path.read_text()):
            target = target or path.name
            assert anchor in anchors.get(target, set()), (
                f"{path.name}: broken link {target}#{anchor}"
            )


def test_index_lists_every_claim():
    text = INDEX.read_text()
    for cid, note in DEFINED.items():
        anchor = cid.replace(".", "-")
        row = re.search(rf"^\| {re.escape(cid)} \|(.+)$", text, flags=re.M)
        assert row, f"derivations/README.md has no index row for {cid}"
        assert f"({note.name}#{anchor})" in row.group(1), (
            f"index row {cid} does not link its anchor"
        )
        test_file = f"test_{note.stem}.py"
        assert f"(../tests/derivations/{test_file})" in row.group(1), (
            f"index row {cid} lacks its tests"
        )
        assert (TESTS / test_file).is_file()


# The IDs the shipped code cites, with the meaning the code relies on.
CODE_CITATIONS = {
    "D1.5": "unknown labels",
    "D1.6": "sparse identity",
    "D2.1": "loss",
    "D2.2": "gradient",
    "D2.3": "row-sum",
    "D3.1": "loss",
    "D3.2": "gradient",
    "D3.3": "row-sum",
}


@pytest.mark.parametrize("cid", sorted(CODE_CITATIONS))
def test_ids_cited_by_the_code_keep_their_meaning(cid):
    text = DEFINED[cid].read_text()
    heading = re.search(rf"^### {re.escape(cid)} (.+)$", text, flags=re.M).group(1)
    assert CODE_CITATIONS[cid] in heading.lower(), f"{cid} is now {heading!r}"


# --- math that renders on GitHub ------------------------------------------------------------------
def _math_segments(text: str) -> list[str]:
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # fenced code
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans
    blocks = re.findall(r"\$\$(.*?)\$\$", text, flags=re.S)
    rest = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)
    inline = []
    for line in rest.splitlines():
        assert line.count("$") % 2 == 0, f"unbalanced inline math: {line!r}"
        inline += re.findall(r"\$([^$]+)\$", line)
    return blocks + inline


@pytest.mark.parametrize("note", [*NOTES, INDEX], ids=lambda p: p.name)
def test_math_avoids_constructs_github_misrenders(note):
    text = note.read_text()
    assert text.count("$$") % 2 == 0, "unbalanced $$"
    for seg in _math_segments(text):
        assert "*" not in seg, f"'*' in math (use \\star or \\cdot): {seg!r}"
        assert "\\{" not in seg and "\\}" not in seg, f"use \\lbrace/\\rbrace: {seg!r}"
        assert "\\_" not in seg and "\\texttt" not in seg, f"no escaped underscores: {seg!r}"
        assert not re.search(r"(?<!\\)\|", seg.replace("\\|", "")), f"use \\lvert/\\Vert: {seg!r}"
        assert not seg.startswith(" ") or "\n" in seg, (
            f"inline math must not start with a space: {seg!r}"
        )
        assert "<" not in seg and ">" not in seg, (
            f"use \\lt, \\gt (raw < > can read as HTML): {seg!r}"
        )
