"""Repository hygiene: lint, the README's commands, and CI running exactly the README's test command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from multilabel_ls import describe_strategies

from .conftest import REPO

README = (REPO / "README.md").read_text()


def _code_blocks(section: str) -> list[str]:
    m = re.search(rf"^## {section}\n(.*?)(?=^## |\Z)", README, flags=re.S | re.M)
    assert m, f"README has no section {section!r}"
    return re.findall(r"```bash\n(.*?)```", m.group(1), flags=re.S)


def test_ci_runs_the_readme_test_command():
    (block,) = _code_blocks("Test")
    ci = (REPO / ".ci" / "run").read_text()
    for line in block.strip().splitlines():
        assert line in ci.splitlines(), f"README test command {line!r} is not in .ci/run"


def test_readme_table_lists_every_strategy():
    for row in describe_strategies():
        assert f"| `{row['strategy']}` | {row['positive']} | {row['negative']} |" in README
        assert row["sum"] in README


@pytest.mark.slow
def test_readme_run_command_works(tmp_path):
    """The README's main job, exactly as written, in a fresh directory (about 3 minutes)."""
    (block,) = _code_blocks("Run")
    (cmd,) = [line for line in block.strip().splitlines() if line.strip()]
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    out = subprocess.run(
        cmd, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=1500, env=env
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = (tmp_path / "results" / "yeast" / "report.md").read_text()
    assert "150 finished runs" in report
    for strategy in (
        "binary",
        "binary_uniform",
        "mass_preserving",
        "uniform",
        "positive_split",
        "unnormalized",
    ):
        assert f"| {strategy} |" in report


def test_python_m_comparison_runs():
    out = subprocess.run(
        [sys.executable, "-m", "multilabel_ls", "--labels", "6", "--positives", "2"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "| uniform | softmax |" in out.stdout


def test_ruff_clean():
    pytest.importorskip("ruff")
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(REPO)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
