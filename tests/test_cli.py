"""The ``mlls`` command line: exit codes, messages, a tiny end-to-end run and its report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from multilabel_ls.cli import main

TINY = ["--strategies", "binary,uniform", "--epsilons", "0,0.2", "--seeds", "2", "--hidden", "16",
        "--max-epochs", "3", "--workers", "1", "--no-progress"]  # fmt: skip


def test_console_script_is_installed():
    exe = shutil.which("mlls") or shutil.which(
        "mlls", path=str(__import__("pathlib").Path(sys.executable).parent)
    )
    if exe is None:
        pytest.skip("mlls console script not on PATH (package not installed)")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "run" in out.stdout and "datasets" in out.stdout


def test_run_then_report_then_resume(tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path), *TINY]) == 0
    out = capsys.readouterr().out
    assert "8 runs trained, 0 already in the store, 0 failed" in out
    report = tmp_path / "report.md"
    assert f"report: {report}" in out and report.is_file()
    assert (tmp_path / "results.sqlite").is_file() and (tmp_path / "summary.csv").is_file()
    assert main(["run", "--out", str(tmp_path), *TINY, "--no-report"]) == 0
    assert "0 runs trained, 8 already in the store" in capsys.readouterr().out
    other = tmp_path / "again"
    argv = ["report", str(tmp_path), "--out", str(other), "--no-reliability"]
    assert main([*argv, "--compare", "uniform:binary"]) == 0
    text = (other / "report.md").read_text()
    assert "| uniform | softmax | 0.2 | 2 |" in text
    assert "### uniform vs binary" in text and (other / "comparisons.csv").is_file()
    assert not list((other / "figures").glob("*reliability*"))


def test_config_file_with_flag_overrides(tmp_path, capsys):
    cfg = tmp_path / "grid.toml"
    cfg.write_text('strategies = ["binary"]\nepsilons = [0.0, 0.1]\nseeds = [0, 1, 2]\n'
                   '[train]\nhidden = [8]\nmax_epochs = 2\n')  # fmt: skip
    assert main(["run", "--config", str(cfg), "--seed-list", "5", "--dry-run"]) == 0
    from multilabel_ls.cli import _parser, build_config

    args = _parser().parse_args(["run", "--config", str(cfg), "--channels", "8,8", "--lr", "0.01"])
    c = build_config(args)
    assert (c.train.channels, c.train.lr, c.train.hidden, c.seeds) == (
        (8, 8),
        0.01,
        (8,),
        (0, 1, 2),
    )
    out = capsys.readouterr().out
    assert out.startswith("2 runs -> results/results.sqlite") or "2 runs ->" in out
    assert "yeast/binary/eps=0.1/none/seed=5" in out and "seed=0" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--strategies", "binary,softmaxx"], "strategies[1]: unknown strategy 'softmaxx'"),
        (["run", "--epsilons", "0,1.5"], "epsilons[1] must lie in [0, 1]"),
        (["run", "--noise", "missing:p=2"], "noise[0]"),
        (["run", "--lr", "-1"], "train.lr must lie in"),
        (["run", "--seeds", "0"], "--seeds must be >= 1"),
        (["run", "--dataset", "nope", "--seeds", "1"], "datasets[0]: cannot load 'nope'"),
        (["run", "--config", "missing.toml"], "config file 'missing.toml' does not exist"),
        (["run", "--workers", "0", "--seeds", "1", "--epsilons", "0"], "workers must be"),
        (["report", "no/such/dir"], "no result store at"),
        (["report", ".", "--compare", "prior:binray"], "--compare prior:binray: unknown strategy"),
        (["run", "--compare", "prior:prior", "--seeds", "1"], "cannot be compared with itself"),
        (["datasets", "describe", "nope"], "unknown dataset 'nope'; known names:"),
    ],
)
def test_errors_exit_2_with_a_message_naming_the_problem(
    argv, message, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlls: error: ") and message in err


def test_bad_config_field_is_named(tmp_path, capsys):
    cfg = tmp_path / "grid.json"
    cfg.write_text(json.dumps({"train": {"dropuot": 0.1}}))
    assert main(["run", "--config", str(cfg)]) == 2
    assert (
        "unknown field train.'dropuot' (did you mean train.'dropout'?)" in capsys.readouterr().err
    )


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--epsilons", "a,b"])
    assert e.value.code == 2 and "comma-separated numbers" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["run", "--seeds", "2", "--seed-list", "1"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["report", ".", "--compare", "prior"])
    assert e.value.code == 2 and "expected STRATEGY_A:STRATEGY_B" in capsys.readouterr().err


def test_failed_runs_exit_1(tmp_path, capsys, monkeypatch):
    import multilabel_ls.experiments.runner as runner_mod

    def boom(spec, **kw):
        raise RuntimeError("injected")

    monkeypatch.setattr(runner_mod, "run_one", boom)
    assert main(["run", "--out", str(tmp_path), *TINY]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: injected" in err and "holds no finished run" in err


def test_datasets_list_and_describe(shared_datasets, capsys):
    assert main(["datasets", "list", "--data-dir", str(shared_datasets)]) == 0
    out = capsys.readouterr().out
    assert "card." in out and "empty rows" in out
    yeast = next(line for line in out.splitlines() if line.startswith("yeast"))
    assert yeast.split()[1:7] == ["1500", "917", "103", "14", "4.228", "0/0"]
    assert any(line.startswith("emotions") for line in out.splitlines())
    assert main(["datasets", "describe", "yeast", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_labels"] == 14 and d["train"]["n_empty_rows"] == 0
    assert round(d["train"]["cardinality"], 3) == 4.228
    assert main(["datasets", "describe", "emotions", "--data-dir", str(shared_datasets)]) == 0
    assert "emotions: 391 train / 202 test" in capsys.readouterr().out
    assert main(["datasets", "list", "--data-dir", "/no/such/dir"]) == 2
