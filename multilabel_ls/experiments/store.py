"""The result store: one SQLite file (stdlib), one row per finished run, crash-safe.

Guarantees
----------
* **Atomic per run.** A run's row (metrics, record, test and validation logits) is written in
  one transaction
  (WAL journal, ``synchronous=FULL``): after a crash — even ``SIGKILL`` or power loss — a run is
  either completely in the store or not at all.
* **No duplicates.** ``key`` (the digest of everything that defines the run, see
  :attr:`~.config.RunSpec.key`) is the primary key and rows are inserted with
  ``INSERT OR IGNORE``; a run that is somehow computed twice is stored once.
* **Resume.** The runner skips every key already present, so a grid killed mid-way and started
  again loses no finished run and repeats none; only runs in flight at the kill are redone.

Schema (``schema_version`` 2)::

    runs(key TEXT PRIMARY KEY, dataset, strategy, family, epsilon REAL, epsilon_pos REAL NULL,
         epsilon_neg REAL NULL, noise TEXT (canonical spec), seed INTEGER,
         setting TEXT (digest of the train + eval configuration), metrics TEXT (JSON),
         record TEXT (JSON: spec, loss arguments, data/noise record, history, timings,
         versions), test_logits BLOB (zlib-compressed float32 .npy) NULL, created_at TEXT,
         val_logits BLOB NULL, val_labels BLOB NULL)
    labels(dataset TEXT PRIMARY KEY, y_test BLOB (zlib-compressed .npy of the 0/1 test labels))
    failures(key TEXT, label TEXT, error TEXT, traceback TEXT, created_at TEXT)
    meta(name TEXT PRIMARY KEY, value TEXT)  -- schema_version; name (the experiment name)

``val_logits`` / ``val_labels`` (schema 2) are the run's logits on its validation rows and the
labels it was validated on (noisy unless ``clean_validation``); they differ per seed (the carve)
and noise, so they are kept per run. Post-hoc calibration (temperature scaling) is fitted on
them, never on the test split (:mod:`multilabel_ls.analysis`).

Versions. Schema 1 stores (no validation columns) still open: read-only they load as they are
(:meth:`ResultStore.validation` returns None for every run); opened for writing they are
upgraded in place to schema 2 (two nullable columns added in one transaction; their old runs
keep NULL there), so a resumed grid stores validation logits for its new runs.

Identity. A new store stamps its SQLite header: ``PRAGMA application_id`` =
:data:`APPLICATION_ID` and ``PRAGMA user_version`` = the schema version (the ``meta`` row stays
the authority on the version). Stores written before the stamp (application id 0) are recognised
by their tables and stamped when opened for writing. Any other SQLite file — one with tables of
its own, or another application's id — is refused before anything is written to it, and so is a
file that is not SQLite or fails SQLite's integrity check: :class:`StoreError`, the file left as
it was. Errors of SQLite while writing (a full disk, an I/O error) and damaged rows met while
reading are raised as :class:`StoreError` too, naming the file; a failed write is rolled back.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import json
import sqlite3
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = "2"
#: Schema versions this module reads (older ones are upgraded when opened for writing).
READABLE_VERSIONS = ("1", "2")
#: ``PRAGMA application_id`` of a store ("MLLS" in ASCII): marks the file as a result store.
APPLICATION_ID = 0x4D4C4C53
#: The tables of a store; a store written before the application id is recognised by them.
STORE_TABLES = frozenset({"meta", "runs", "labels", "failures"})


class StoreError(ValueError):
    """A store that cannot be used: not a store, damaged, unsupported, unwritable.

    The message names the file and the problem (one line, for the command line).
    """


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    dataset TEXT NOT NULL,
    strategy TEXT NOT NULL,
    family TEXT NOT NULL,
    epsilon REAL NOT NULL,
    epsilon_pos REAL,
    epsilon_neg REAL,
    noise TEXT NOT NULL,
    seed INTEGER NOT NULL,
    setting TEXT NOT NULL,
    metrics TEXT NOT NULL,
    record TEXT NOT NULL,
    test_logits BLOB,
    created_at TEXT NOT NULL,
    val_logits BLOB,
    val_labels BLOB
);
CREATE TABLE IF NOT EXISTS labels (dataset TEXT PRIMARY KEY, y_test BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS failures (
    key TEXT NOT NULL, label TEXT NOT NULL, error TEXT NOT NULL,
    traceback TEXT, created_at TEXT NOT NULL
);
"""


#: Columns added by schema 2 (nullable; ``ALTER TABLE ... ADD COLUMN`` on a schema 1 store).
_V2_COLUMNS = ("val_logits", "val_labels")

_INSERT_COLUMNS = (
    "key", "dataset", "strategy", "family", "epsilon", "epsilon_pos", "epsilon_neg", "noise",
    "seed", "setting", "metrics", "record", "test_logits", "created_at", "val_logits",
    "val_labels",
)  # fmt: skip


def setting_digest(spec_identity: dict[str, Any]) -> str:
    """Digest of the train + eval part of a run's identity (runs of one setting are comparable)."""
    blob = json.dumps(
        {"train": spec_identity["train"], "eval": spec_identity["eval"]},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _pack(a: np.ndarray, dtype: type = np.float32) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a, dtype=dtype), allow_pickle=False)
    return zlib.compress(buf.getvalue(), 6)


def _sqlite_kind(e: sqlite3.Error) -> str:
    """The SQLite error name of ``e`` (``SQLITE_NOTADB``, ``SQLITE_CORRUPT``, ...), or ''."""
    name = getattr(e, "sqlite_errorname", None)  # Python >= 3.11
    if name:
        return name
    text = str(e)
    if "not a database" in text:
        return "SQLITE_NOTADB"
    return "SQLITE_CORRUPT" if "malformed" in text else ""


def _unpack(b: bytes) -> np.ndarray:
    return np.load(io.BytesIO(zlib.decompress(b)), allow_pickle=False)


class ResultStore:
    """A SQLite result store (see the module docstring for schema and guarantees).

    Parameters
    ----------
    path : str or Path
        The database file; created with its parent directory if missing.
    readonly : bool
        Open an existing store for reading only (``mlls report``); a missing file raises
        ``FileNotFoundError``.

    Raises
    ------
    StoreError
        If the file is a directory, not SQLite, damaged, another application's database or a
        store of an unsupported schema (nothing is written to it), or cannot be created or
        opened for writing.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        self._name = repr(str(self.path))
        if self.path.is_dir():
            raise StoreError(f"{self._name} is a directory, not a result store file")
        if self.path.exists() and not self.path.is_file():
            raise StoreError(f"{self._name} is not a regular file")
        if readonly:
            if not self.path.is_file():
                raise FileNotFoundError(f"no result store at {self._name}")
            self._con = self._connect_ro()
            try:
                self._app_id = self._identify(self._con)
                self._check_version()
                self._has_val = set(_V2_COLUMNS) <= self._columns()
            except BaseException:
                self._con.close()
                raise
            return
        # Writable: look at an existing file read-only first, so that nothing is written to a
        # file that is not a store (not even the journal mode).
        self._app_id = None
        if self.path.is_file() and self.path.stat().st_size > 0:
            con = self._connect_ro()
            try:
                self._app_id = self._identify(con)
            finally:
                con.close()
        self._make_parent()
        try:
            self._con = sqlite3.connect(self.path, timeout=60)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the result store {self._name} for writing: {e}") from e
        try:
            with self._writing():
                self._con.execute("PRAGMA journal_mode=WAL")
                self._con.execute("PRAGMA synchronous=FULL")
                if self._app_id is None:  # new, or an empty SQLite file: make it a store
                    self._create()
                    self._app_id = APPLICATION_ID
            version = self._check_version()
            self._has_val = set(_V2_COLUMNS) <= self._columns()
            if version != SCHEMA_VERSION or not self._has_val or self._app_id != APPLICATION_ID:
                self._upgrade()
                self._has_val = True
                self._app_id = APPLICATION_ID
        except BaseException:
            self._con.close()
            raise

    def _connect_ro(self) -> sqlite3.Connection:
        uri = f"{self.path.absolute().as_uri()}?mode=ro"
        try:
            return sqlite3.connect(uri, uri=True, timeout=60)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the result store {self._name}: {e}") from e

    def _make_parent(self) -> None:
        parent = self.path.parent
        if parent.exists() and not parent.is_dir():
            raise StoreError(
                f"{str(parent)!r} is not a directory (it cannot hold the result store {self._name})"
            )
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"cannot create the directory {str(parent)!r} for the result store: "
                f"{e.strerror or e}"
            ) from e

    def _problem(self, e: sqlite3.Error) -> str:
        """``e`` as the end of a one-line message about this file."""
        kind = _sqlite_kind(e)
        if kind == "SQLITE_NOTADB":
            return f"{self._name} is not a multilabel_ls result store: {e}"
        if kind == "SQLITE_CORRUPT":
            return f"{self._name} is damaged: {e}"
        return f"{self._name}: {e}"

    def _identify(self, con: sqlite3.Connection) -> int | None:
        """Check that ``con`` holds a store; return its application id (None: no tables yet).

        Reads only: a file that is not a store is refused before anything is written to it.
        """
        try:
            app_id = con.execute("PRAGMA application_id").fetchone()[0]
            tables = {
                r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.Error as e:
            if _sqlite_kind(e) in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
                raise StoreError(self._problem(e)) from e
            raise StoreError(f"cannot read the result store {self._name}: {e}") from e
        if app_id not in (0, APPLICATION_ID):
            raise StoreError(
                f"{self._name} is not a multilabel_ls result store: it is the SQLite database "
                f"of another application (application_id {app_id:#010x}); left unchanged"
            )
        if not tables:
            return None
        if app_id == 0 and not STORE_TABLES <= tables:
            shown = ", ".join(sorted(tables)[:6]) + (", ..." if len(tables) > 6 else "")
            raise StoreError(
                f"{self._name} is not a multilabel_ls result store: it is a SQLite database "
                f"with other tables ({shown}); left unchanged"
            )
        try:
            rows = [r[0] for r in con.execute("PRAGMA quick_check(1)")]
        except sqlite3.Error as e:
            raise StoreError(self._problem(e)) from e
        if rows != ["ok"]:
            lines = [ln for r in rows for ln in str(r).splitlines() if not ln.startswith("***")]
            raise StoreError(
                f"{self._name} is damaged: SQLite integrity check: {lines[0] if lines else rows[0]}"
            )
        return app_id

    def _create(self) -> None:
        """The tables and the header stamp of a new store, in one transaction."""
        self._con.executescript(
            "BEGIN IMMEDIATE;\n"
            + _SCHEMA
            + f"INSERT OR IGNORE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');\n"
            f"PRAGMA application_id = {APPLICATION_ID};\n"
            f"PRAGMA user_version = {int(SCHEMA_VERSION)};\n"
            "COMMIT;"
        )

    def _check_version(self) -> str:
        try:
            row = self._con.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self._name} is not a multilabel_ls result store: {e}") from None
        if row is None or row[0] not in READABLE_VERSIONS:
            raise StoreError(
                f"{self._name}: unsupported store schema {row and row[0]!r} "
                f"(this version reads {', '.join(map(repr, READABLE_VERSIONS))})"
            )
        return row[0]

    def _columns(self) -> set[str]:
        with self._reading():
            return {r[1] for r in self._con.execute("PRAGMA table_info(runs)")}

    def _upgrade(self) -> None:
        """Schema 1 -> 2 (the nullable validation columns) and the header stamp, in one transaction."""
        # BEGIN IMMEDIATE takes the write lock before the columns are read, so two processes
        # upgrading one store at once cannot both add a column.
        with self._writing():
            self._con.execute("BEGIN IMMEDIATE")
            try:
                have = self._columns()
                for col in _V2_COLUMNS:
                    if col not in have:
                        self._con.execute(f"ALTER TABLE runs ADD COLUMN {col} BLOB")
                self._con.execute(
                    "UPDATE meta SET value=? WHERE name='schema_version'", (SCHEMA_VERSION,)
                )
                self._con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self._con.execute(f"PRAGMA user_version = {int(SCHEMA_VERSION)}")
            except BaseException:
                self._con.rollback()
                raise
            self._con.commit()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """SQLite errors of a write (a full disk, an I/O error) as a :class:`StoreError`."""
        try:
            yield
        except sqlite3.Error as e:
            if self._con.in_transaction:
                self._con.rollback()
            raise StoreError(f"cannot write to the result store {self._name}: {e}") from e

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """SQLite errors and damaged rows met while reading as a :class:`StoreError`."""
        try:
            yield
        except StoreError:
            raise
        except sqlite3.Error as e:
            raise StoreError(f"cannot read the result store {self._name}: {e}") from e
        except (zlib.error, ValueError, EOFError) as e:  # a damaged blob or JSON text
            what = {zlib.error: "a compressed array", json.JSONDecodeError: "a JSON column"}
            raise StoreError(
                f"{self._name} is damaged: {what.get(type(e), type(e).__name__)}: {e}"
            ) from e

    # ----------------------------------------------------------------------- context
    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------- writing
    def put(self, result: dict[str, Any]) -> bool:
        """Insert one finished run atomically; return False if its key was already stored.

        ``result`` is what :func:`~.training.run_one` returns (``key``, ``spec``, ``family``,
        ``metrics``, ``test_logits``, ``test_labels``, optionally ``val_logits`` and
        ``val_labels``, and the rest of the record). The test labels are stored once per data
        set, the validation logits and labels per run.
        """
        spec = result["spec"]
        skip = ("metrics", "test_logits", "test_labels", "val_logits", "val_labels")
        record = {k: v for k, v in result.items() if k not in skip}
        logits, labels = result.get("test_logits"), result.get("test_labels")
        val_logits, val_labels = result.get("val_logits"), result.get("val_labels")
        # One transaction: the row is all there or not there (rolled back on a write error).
        with self._writing(), self._con:
            if labels is not None:
                self._con.execute(
                    "INSERT OR IGNORE INTO labels VALUES (?, ?)",
                    (spec["dataset"], _pack(labels, np.uint8)),
                )
            cur = self._con.execute(
                f"INSERT OR IGNORE INTO runs ({', '.join(_INSERT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})",
                (
                    result["key"], spec["dataset"], spec["strategy"], result["family"],
                    float(spec["epsilon"]), spec["epsilon_pos"], spec["epsilon_neg"],
                    spec["noise"], int(spec["seed"]), setting_digest(spec),
                    json.dumps(result["metrics"], allow_nan=True),
                    json.dumps(record, allow_nan=True, default=float),
                    None if logits is None else _pack(logits), _now(),
                    None if val_logits is None else _pack(val_logits),
                    None if val_labels is None else _pack(val_labels, np.uint8),
                ),
            )  # fmt: skip
            return cur.rowcount == 1

    def record_failure(self, key: str, label: str, error: str, traceback: str = "") -> None:
        """Log a run that raised (it stays pending and is retried by the next ``run``)."""
        with self._writing(), self._con:
            self._con.execute(
                "INSERT INTO failures VALUES (?,?,?,?,?)", (key, label, error, traceback, _now())
            )

    def set_meta(self, name: str, value: str) -> None:
        """Set a free-form store attribute (e.g. the experiment name shown in the report)."""
        with self._writing(), self._con:
            self._con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    # ----------------------------------------------------------------------- reading
    def get_meta(self, name: str, default: str | None = None) -> str | None:
        """A store attribute set by :meth:`set_meta` (``default`` if unset)."""
        with self._reading():
            row = self._con.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return default if row is None else row[0]

    def done_keys(self) -> set[str]:
        """Keys of every stored run."""
        with self._reading():
            return {r[0] for r in self._con.execute("SELECT key FROM runs")}

    def __len__(self) -> int:
        with self._reading():
            return int(self._con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def runs(self, *, with_record: bool = False) -> Iterator[dict[str, Any]]:
        """Stored runs as dicts: the columns, ``metrics`` parsed, and ``record`` if asked."""
        cols = (
            "key, dataset, strategy, family, epsilon, epsilon_pos, epsilon_neg, noise, seed, "
            "setting, metrics, created_at" + (", record" if with_record else "")
        )
        names = [c.strip() for c in cols.split(",")]
        with self._reading():
            cur = self._con.execute(f"SELECT {cols} FROM runs ORDER BY rowid")
            for row in cur:
                d = dict(zip(names, row, strict=True))
                d["metrics"] = json.loads(d["metrics"])
                if with_record:
                    d["record"] = json.loads(d["record"])
                yield d

    def logits(self, key: str) -> np.ndarray | None:
        """The stored float32 test logits of run ``key`` (None if not stored)."""
        with self._reading():
            row = self._con.execute("SELECT test_logits FROM runs WHERE key=?", (key,)).fetchone()
            if row is None:
                raise KeyError(f"no run with key {key!r} in {self._name}")
            return None if row[0] is None else _unpack(row[0])

    def validation(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The float32 validation logits and uint8 validation labels of run ``key``.

        Returns None for a run stored without them (schema 1 stores, or runs written by an
        older version); raises ``KeyError`` for an unknown key.
        """
        if not self._has_val:
            if key not in self.done_keys():
                raise KeyError(f"no run with key {key!r} in {self._name}")
            return None
        with self._reading():
            row = self._con.execute(
                "SELECT val_logits, val_labels FROM runs WHERE key=?", (key,)
            ).fetchone()
            if row is None:
                raise KeyError(f"no run with key {key!r} in {self._name}")
            if row[0] is None or row[1] is None:
                return None
            return _unpack(row[0]), _unpack(row[1])

    def test_labels(self, dataset: str) -> np.ndarray | None:
        """The 0/1 test labels (uint8) stored for ``dataset`` (None if not stored)."""
        with self._reading():
            row = self._con.execute(
                "SELECT y_test FROM labels WHERE dataset=?", (dataset,)
            ).fetchone()
            return None if row is None else _unpack(row[0])

    def failures(self) -> list[dict[str, str]]:
        """Logged failures, oldest first."""
        names = ("key", "label", "error", "created_at")
        with self._reading():
            cur = self._con.execute(f"SELECT {', '.join(names)} FROM failures ORDER BY rowid")
            return [dict(zip(names, r, strict=True)) for r in cur]
