"""The notebooks: committed with outputs, and executable headless with small parameters.

The slow tests execute every notebook top to bottom with papermill (the ``parameters`` cell
convention) and ``quick=True`` (a tiny model on a 2 × 2 × 2 grid), writing the executed copies and
the result store to a temporary directory — never over the committed notebooks. A cell that raises
fails the test; two tests check that it does (a tiny failing notebook, and a real notebook given a
bad parameter). The kernel is a temporary kernelspec that runs this interpreter, so a ``python3``
kernel of another environment cannot be picked up by accident.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import pytest

from .conftest import REPO, SHARED_DATASETS


def _require(module: str):
    """Import ``module``; skip without it locally, but fail in CI (``CI`` set), where the
    notebook dependencies are part of the test install and a skip would hide a broken set-up."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


nbformat = _require("nbformat")

NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = ["01_formulations.ipynb", "02_benchmark.ipynb", "03_label_noise.ipynb",
            "04_calibration.ipynb"]  # fmt: skip
#: Keep the committed notebooks light enough for the repository view (figures at low dpi).
MAX_BYTES = 2_000_000
#: Parameters every notebook takes (the papermill interface of issue 7).
COMMON = ("dataset", "data_dir", "store_dir", "quick")


def _read(name: str):
    return nbformat.read(NOTEBOOK_DIR / name, as_version=4)


def _parameters(nb) -> dict[str, str]:
    """Names assigned in the cell tagged ``parameters`` (name -> source line)."""
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, "exactly one cell must be tagged 'parameters'"
    assert cells[0].cell_type == "code"
    out = {}
    for line in cells[0].source.splitlines():
        name = line.split("=", 1)[0].strip()
        if "=" in line and name.isidentifier():
            out[name] = line
    return out


# --------------------------------------------------------------------------- committed notebooks


def test_the_four_notebooks_are_there():
    assert NOTEBOOKS == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_committed_notebook_is_executed_clean_and_light(name):
    path = NOTEBOOK_DIR / name
    assert path.stat().st_size < MAX_BYTES, f"{name}: {path.stat().st_size} bytes"
    nb = _read(name)
    nbformat.validate(nb)
    params = _parameters(nb)
    assert set(COMMON) <= set(params), f"{name}: parameters {sorted(params)}"
    assert "quick = False" in params["quick"] and 'dataset = "yeast"' in params["dataset"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), f"{name}: not every code cell was executed"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], f"{name}: error output"
    assert not [o for o in outputs if o.get("name") == "stderr"], f"{name}: stderr output"
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{name}: no inline figure"
    # executed with the committed defaults (no injected parameters), volatile metadata stripped
    assert not [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "papermill" not in nb.metadata
    assert not [c for c in nb.cells if "execution" in c.metadata or "papermill" in c.metadata]


# --------------------------------------------------------------------------- execution


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A kernelspec for this interpreter, found first through JUPYTER_PATH."""
    _require("papermill")
    _require("ipykernel")
    share = tmp_path_factory.mktemp("jupyter")
    spec = share / "kernels" / "mlls-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "multilabel_ls tests", "language": "python",
    }))  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(share))
        yield "mlls-test"


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """One store directory for the module: notebook 04 reuses the runs of 02, as in the repo."""
    return tmp_path_factory.mktemp("stores")


def execute(kernel: str, src: Path, out: Path, **parameters):
    import papermill

    return papermill.execute_notebook(
        str(src), str(out), parameters=parameters, kernel_name=kernel, cwd=str(src.parent),
        progress_bar=False, log_output=False, execution_timeout=600,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_headless(name, kernel, stores, tmp_path):
    out = tmp_path / name
    committed = (NOTEBOOK_DIR / name).read_bytes()
    nb = execute(kernel, NOTEBOOK_DIR / name, out, quick=True, store_dir=str(stores), workers=1)
    assert out.is_file() and (NOTEBOOK_DIR / name).read_bytes() == committed  # not overwritten
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    if name != "01_formulations.ipynb":  # the others trained (or reused) runs in the tmp store
        assert (stores / "yeast" / "results.sqlite").is_file()


@pytest.mark.slow
def test_a_failing_cell_fails_the_run(kernel, tmp_path):
    import papermill

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("expected = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("assert expected == 1, 'boom: the cell failed'")]
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    src = tmp_path / "tiny.ipynb"
    nbformat.write(nb, src)
    execute(kernel, src, tmp_path / "ok.ipynb", expected=1)  # the notebook itself is fine
    with pytest.raises(papermill.PapermillExecutionError, match="boom: the cell failed"):
        execute(kernel, src, tmp_path / "failed.ipynb", expected=2)
    failed = nbformat.read(tmp_path / "failed.ipynb", as_version=4)
    assert any(o.output_type == "error" for c in failed.cells for o in c.get("outputs", []))


@pytest.mark.slow
def test_a_bad_parameter_fails_a_real_notebook(kernel, tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match="no-such-dataset"):
        execute(kernel, NOTEBOOK_DIR / "02_benchmark.ipynb", tmp_path / "02.ipynb",
                dataset="no-such-dataset", quick=True, store_dir=str(tmp_path), workers=1)  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(SHARED_DATASETS is None, reason="shared Mulan datasets not found")
def test_benchmark_reruns_on_another_dataset(kernel, tmp_path):
    """``-p dataset emotions`` (a Mulan data set by name under ``data_dir``) reruns the study."""
    execute(kernel, NOTEBOOK_DIR / "02_benchmark.ipynb", tmp_path / "02.ipynb",
            dataset="emotions", data_dir=str(SHARED_DATASETS), quick=True,
            store_dir=str(tmp_path), workers=1)  # fmt: skip
    assert (tmp_path / "emotions" / "results.sqlite").is_file()
    text = (tmp_path / "02.ipynb").read_text()
    assert "emotions: 391 training rows" in text
