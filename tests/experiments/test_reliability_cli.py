"""Reliability of ``mlls run`` / ``mlls report``: signals, store and output problems, foreign
databases, comparisons of strategies without runs.

* A signal to the parent (SIGTERM like Ctrl-C; SIGKILL) leaves no worker behind and nothing that
  holds the parent's stdout.
* A damaged, foreign or unsupported store, an unusable ``--out`` or ``--store`` and a failing
  disk give a one-line error naming the file (exit 2), and leave the files as they were.
* ``--compare`` with a strategy that has no runs is an error, not a silently missing section.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import multilabel_ls.experiments.store as store_mod
from multilabel_ls.cli import main
from multilabel_ls.experiments.runner import run_grid
from multilabel_ls.experiments.store import ResultStore

from .conftest import tiny_config

# ------------------------------------------------------------------------------------ helpers

#: A grid that runs for a while (16 runs of about a second each), so a signal lands mid-grid.
SIGNAL_FLAGS = ["--strategies", "binary,uniform", "--epsilons", "0,0.1,0.2,0.3", "--seed-list",
                "0,1", "--hidden", "32", "--max-epochs", "50", "--patience", "200",
                "--batch-size", "128", "--no-report", "--no-progress", "--workers", "2"]  # fmt: skip

#: The smallest real grid: one run, one epoch, trained in this process.
ONE_RUN = ["--strategies", "binary", "--epsilons", "0", "--seed-list", "0", "--hidden", "8",
           "--max-epochs", "1", "--workers", "1", "--no-progress"]  # fmt: skip


def _descendants(pid: int) -> set[int]:
    try:
        import psutil
    except ImportError:  # scan /proc for the process tree
        parents = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        parents[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        out, todo = set(), [pid]
        while todo:
            p = todo.pop()
            kids = {c for c, pp in parents.items() if pp == p} - out
            out |= kids
            todo += kids
        return out
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def _alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _stored(path) -> int:
    if not path.exists():
        return 0
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0
    finally:
        con.close()


def _start_grid(tmp_path):
    """``mlls run`` in its own session with piped stdio, once it has stored a run and has workers."""
    store = tmp_path / "results.sqlite"
    cmd = [sys.executable, "-m", "multilabel_ls.cli", "run", "--out", str(tmp_path), *SIGNAL_FLAGS]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and _stored(store) < 1:
        time.sleep(0.05)
    assert proc.poll() is None, "the grid ended before the signal"
    assert _stored(store) >= 1, "no run stored in time"
    kids = _descendants(proc.pid)
    assert len(kids) >= 2, f"expected worker processes, found {kids}"
    return proc, store, kids


def _cleanup(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the session
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _wait_gone(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while (left := {p for p in pids if _alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _read_to_eof(stream, seconds: float) -> bytes | None:
    """The whole stream, or None if it did not reach EOF in ``seconds`` (someone holds it)."""
    out: list[bytes] = []
    t = threading.Thread(target=lambda: out.append(stream.read()), daemon=True)
    t.start()
    t.join(seconds)
    return None if t.is_alive() else out[0]


# ---------------------------------------------------------------------------------- signals


@pytest.mark.slow
def test_sigterm_is_handled_like_ctrl_c_and_leaves_no_process(tmp_path):
    proc, store, kids = _start_grid(tmp_path)
    try:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("mlls run did not exit within 60 s of SIGTERM (its stdio is held)")
        assert proc.returncode == 130, err.decode()[-2000:]
        assert b"interrupted; finished runs are kept" in err
        assert b"Traceback" not in err
        assert not _wait_gone(kids, 15), "worker processes outlived the parent"
    finally:
        _cleanup(proc)
    n = _stored(store)
    assert 1 <= n < 16
    con = sqlite3.connect(store)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    with ResultStore(store) as st:  # the store is consistent and resumable
        assert len(st) == n and len(st.done_keys()) == n


@pytest.mark.slow
def test_sigkill_leaves_no_worker_holding_stdout(tmp_path):
    proc, store, kids = _start_grid(tmp_path)
    try:
        proc.kill()
        proc.wait(timeout=10)
        out = _read_to_eof(proc.stdout, 30)
        assert out is not None, "stdout still held 30 s after SIGKILL of the parent"
        assert _read_to_eof(proc.stderr, 10) is not None, "stderr still held"
        assert not _wait_gone(kids, 10), "worker processes outlived the parent"
    finally:
        _cleanup(proc)
    con = sqlite3.connect(store)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()


# ------------------------------------------------------------------ store and output problems


@pytest.fixture(scope="module")
def good_store(tmp_path_factory):
    """A real store of 4 tiny runs (binary and uniform, ε ∈ {0, 0.2}, seed 0)."""
    path = tmp_path_factory.mktemp("good") / "results.sqlite"
    assert run_grid(tiny_config(seeds=(0,)), path, workers=1, progress=False).ok
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file
    con.close()
    return path


def _one_line_error(capsys, *names) -> str:
    """The one error line on stderr (besides progress bars), naming ``names``."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip() and "it/s]" not in ln]  # no tqdm bars
    assert len(lines) == 1 and lines[0].startswith("mlls: error: "), err
    for name in names:
        assert str(name) in lines[0], err
    return lines[0]


def _flip(data: bytes, offset: int) -> bytes:
    b = bytearray(data)
    b[offset] ^= 0x10
    return bytes(b)


def _damaged(kind: str, good: bytes, good_path) -> bytes:
    if kind == "garbage":
        return bytes(np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8))
    if kind == "text":
        return b"dataset,strategy,epsilon\nyeast,binary,0.1\n" * 50
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "flipped-header":  # the first page's b-tree header
        return _flip(good, 100)
    if kind == "flipped-btree":  # the runs table's root page: only an integrity check sees it
        con = sqlite3.connect(good_path)
        root, size = (con.execute("SELECT rootpage FROM sqlite_master WHERE name='runs'")
                      .fetchone()[0], con.execute("PRAGMA page_size").fetchone()[0])  # fmt: skip
        con.close()
        return _flip(good, (root - 1) * size + 5)
    raise AssertionError(kind)


DAMAGE = ("garbage", "text", "truncated", "flipped-header", "flipped-btree")


@pytest.mark.parametrize("kind", DAMAGE)
@pytest.mark.parametrize("command", ["run", "report"])
def test_damaged_store_is_a_one_line_error_and_left_unchanged(
    good_store, tmp_path, capsys, kind, command
):
    good = good_store.read_bytes()
    path = tmp_path / "results.sqlite"
    bad = _damaged(kind, good, good_store)
    path.write_bytes(bad)
    argv = ["run", "--out", str(tmp_path), *ONE_RUN] if command == "run" else [
        "report", str(tmp_path), "--no-reliability"]  # fmt: skip
    assert main(argv) == 2
    _one_line_error(capsys, path)
    assert path.read_bytes() == bad
    assert not (tmp_path / "report.md").exists()


def test_damaged_logits_in_the_report_are_a_one_line_error(good_store, tmp_path, capsys):
    good = good_store.read_bytes()
    con = sqlite3.connect(good_store)
    blob = con.execute("SELECT test_logits FROM runs ORDER BY rowid LIMIT 1").fetchone()[0]
    con.close()
    at = good.find(blob[200:260])
    assert at > 0
    path = tmp_path / "results.sqlite"
    path.write_bytes(_flip(good, at + 10))  # inside the compressed logits
    assert main(["report", str(path), "--out", str(tmp_path / "rep")]) == 2
    _one_line_error(capsys, path)


def test_unsupported_schema_is_a_one_line_error(good_store, tmp_path, capsys):
    path = tmp_path / "results.sqlite"
    shutil.copy(good_store, path)
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value='99' WHERE name='schema_version'")
    con.commit()
    con.close()
    before = path.read_bytes()
    assert main(["run", "--out", str(tmp_path), *ONE_RUN]) == 2
    assert "unsupported store schema '99'" in _one_line_error(capsys, path)
    assert main(["report", str(tmp_path)]) == 2
    assert "unsupported store schema '99'" in _one_line_error(capsys, path)
    assert path.read_bytes() == before


def test_unusable_out_and_store_paths(good_store, tmp_path, capsys):
    proc_dir = "/proc/mlls-no-such-dir"
    if os.path.isdir("/proc"):
        assert main(["run", "--out", proc_dir, *ONE_RUN]) == 2
        _one_line_error(capsys, proc_dir)
        assert main(["run", "--out", proc_dir, *ONE_RUN, "--no-report"]) == 2
        _one_line_error(capsys, proc_dir)
    a_file = tmp_path / "notes.txt"
    a_file.write_bytes(b"my notes\n")
    for extra in ([], ["--no-report"]):
        assert main(["run", "--out", str(a_file), *ONE_RUN, *extra]) == 2
        _one_line_error(capsys, a_file)
    a_dir = tmp_path / "adir"
    a_dir.mkdir()
    assert main(["run", "--out", str(tmp_path / "o"), "--store", str(a_dir), *ONE_RUN]) == 2
    _one_line_error(capsys, a_dir)
    assert list(a_dir.iterdir()) == []
    assert main(["report", str(good_store), "--out", str(a_file)]) == 2
    _one_line_error(capsys, a_file)
    assert a_file.read_bytes() == b"my notes\n"


def _limited_connect(real, pages: int):
    def connect(*args, **kw):
        con = real(*args, **kw)
        con.execute(f"PRAGMA max_page_count = {pages}")  # a disk that is full
        return con

    return connect


def _io_error(*args, **kw):
    raise sqlite3.OperationalError("disk I/O error")


@pytest.mark.parametrize("fault", ["full", "io"])
def test_failing_disk_is_a_one_line_error_and_the_store_stays_consistent(
    tmp_path, capsys, monkeypatch, fault
):
    path = tmp_path / "results.sqlite"
    ResultStore(path).close()
    if fault == "full":  # room for the schema and small rows, not for a run's logits
        monkeypatch.setattr(store_mod.sqlite3, "connect",
                            _limited_connect(sqlite3.connect, 12))  # fmt: skip
        problem = "database or disk is full"
    else:
        monkeypatch.setattr(store_mod, "_now", _io_error)  # raised inside the write
        problem = "disk I/O error"
    assert main(["run", "--out", str(tmp_path), *ONE_RUN]) == 2
    assert problem in _one_line_error(capsys, path)
    monkeypatch.undo()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    with ResultStore(path) as st:
        assert len(st) == 0 and st.failures() == []


# -------------------------------------------------------------------------- foreign databases


def _foreign_db(path, app_id: int = 0, tables: bool = True):
    con = sqlite3.connect(path)
    if tables:
        con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        con.execute("INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace')")
    if app_id:
        con.execute(f"PRAGMA application_id = {app_id}")
    con.commit()
    con.close()
    return path.read_bytes()


@pytest.mark.parametrize(("app_id", "tables"), [(0, True), (0x12345678, False), (7, True)])
def test_foreign_sqlite_database_is_refused_and_left_unchanged(tmp_path, capsys, app_id, tables):
    path = tmp_path / "results.sqlite"
    before = _foreign_db(path, app_id, tables)
    for readonly in (False, True):
        with pytest.raises(ValueError, match="not a multilabel_ls result store"):
            ResultStore(path, readonly=readonly)
    assert main(["run", "--out", str(tmp_path), *ONE_RUN]) == 2
    assert "not a multilabel_ls result store" in _one_line_error(capsys, path)
    assert main(["report", str(tmp_path)]) == 2
    _one_line_error(capsys, path)
    assert path.read_bytes() == before
    assert {p.name for p in tmp_path.iterdir()} == {"results.sqlite"}


def _header(path) -> tuple[int, int]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return (con.execute("PRAGMA application_id").fetchone()[0],
                con.execute("PRAGMA user_version").fetchone()[0])  # fmt: skip
    finally:
        con.close()


def test_new_stores_are_stamped_and_unstamped_ones_still_open(tmp_path):
    new = tmp_path / "new.sqlite"
    ResultStore(new).close()
    assert _header(new) == (store_mod.APPLICATION_ID, int(store_mod.SCHEMA_VERSION))
    empty = tmp_path / "empty.sqlite"  # an empty SQLite file (no tables) becomes a store
    _foreign_db(empty, tables=False)
    ResultStore(empty).close()
    assert _header(empty)[0] == store_mod.APPLICATION_ID

    # A schema 2 store as written before stores were stamped: recognised by its tables.
    old = tmp_path / "old.sqlite"
    con = sqlite3.connect(old)
    con.executescript(store_mod._SCHEMA)
    con.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    con.execute("INSERT INTO runs (key, dataset, strategy, family, epsilon, noise, seed, setting, "
                "metrics, record, created_at) VALUES ('k', 'yeast', 'binary', 'sigmoid', 0.1, "
                "'none', 0, 's', '{}', '{}', 't')")  # fmt: skip
    con.commit()
    con.close()
    before = old.read_bytes()
    with ResultStore(old, readonly=True) as st:
        assert st.done_keys() == {"k"}
    assert old.read_bytes() == before and _header(old) == (0, 0)  # read-only: untouched
    with ResultStore(old) as st:
        assert st.done_keys() == {"k"}
    assert _header(old) == (store_mod.APPLICATION_ID, int(store_mod.SCHEMA_VERSION))
    with ResultStore(old) as st:
        assert len(st) == 1


# ---------------------------------------------------------------------------------- --compare


def _syn_result(strategy, eps, seed):
    spec = {"dataset": "syn", "strategy": strategy, "epsilon": eps, "epsilon_pos": None,
            "epsilon_neg": None, "noise": "none", "seed": seed, "train": {"lr": 1e-3},
            "eval": {"n_bins": 15, "threshold": 0.5}}  # fmt: skip
    data = {"n_fit": 8, "n_val": 2, "n_test": 4, "n_labels": 10, "train_cardinality": 1.5,
            "n_empty_fit_rows": 0, "noise": {"realised_drop_rate": None,
            "realised_add_rate": None}}  # fmt: skip
    from multilabel_ls.experiments.evaluate import METRICS

    metrics = {m: 0.3 + 0.01 * seed for m in METRICS}
    return {"key": f"{strategy}-{eps}-{seed}", "spec": spec, "family": "sigmoid",
            "metrics": metrics, "loss": {"strategy": strategy, "empty_rows": "keep",
            "full_rows": "keep"}, "data": data, "seconds": 1.0, "test_logits": None,
            "test_labels": np.eye(4, 10, dtype=np.uint8)}  # fmt: skip


@pytest.fixture
def binary_prior_store(tmp_path):
    """binary at ε ∈ {0, 0.1} and prior at ε = 0.2 only; no uniform runs."""
    path = tmp_path / "store" / "results.sqlite"
    with ResultStore(path) as st:
        for seed in range(3):
            st.put(_syn_result("binary", 0.0, seed))
            st.put(_syn_result("binary", 0.1, seed))
            st.put(_syn_result("prior", 0.2, seed))
    return path


def test_report_compare_with_a_strategy_without_runs_exits_2(binary_prior_store, capsys):
    path, out = binary_prior_store, binary_prior_store.parent / "rep"
    for pair, missing in (("uniform:binary", "uniform"), ("binary:uniform", "uniform")):
        argv = ["report", str(path), "--out", str(out), "--no-reliability", "--compare", pair]
        assert main(argv) == 2
        err = _one_line_error(capsys, f"--compare {pair}")
        assert f"no runs of {missing!r}" in err
    argv = ["report", str(path), "--out", str(out), "--no-reliability"]
    assert main([*argv, "--compare", "prior:binary"]) == 2  # both have runs, never at one ε
    assert "no data set and ε" in _one_line_error(capsys, "--compare prior:binary")
    assert not out.exists() or not (out / "report.md").exists()
    assert main(argv) == 0  # without the comparison the report is written
    capsys.readouterr()


def test_run_compare_with_a_strategy_outside_the_grid_exits_2(tmp_path, capsys):
    argv = ["run", "--out", str(tmp_path), *ONE_RUN, "--compare", "uniform:binary"]
    assert main(argv) == 2
    assert "no runs of 'uniform'" in _one_line_error(capsys, "--compare uniform:binary")
    assert not (tmp_path / "results.sqlite").exists()  # refused before training


_WATCHED = """
import os, sys, time
import multilabel_ls.experiments.runner as runner
sys.platform = "portable"  # no Linux parent-death signal: the watchdog alone
runner._die_with_parent(os.getppid())
print("armed", flush=True)
time.sleep(120)
"""

_PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
print(child.pid, flush=True)
time.sleep(120)
"""


def test_watchdog_ends_a_worker_whose_parent_was_killed():
    proc = subprocess.Popen([sys.executable, "-c", _PARENT, _WATCHED], stdout=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    try:
        child = int(proc.stdout.readline())
        assert proc.stdout.readline().strip() == b"armed"
        proc.kill()
        proc.wait(timeout=10)
        assert not _wait_gone({child}, 10), "the watched process outlived its parent"
        assert _read_to_eof(proc.stdout, 10) is not None
    finally:
        _cleanup(proc)
