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
"""

from __future__ import annotations

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
    """

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        if readonly:
            if not self.path.is_file():
                raise FileNotFoundError(f"no result store at {str(self.path)!r}")
            self._con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(self.path, timeout=60)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=FULL")
            with self._con:
                self._con.executescript(_SCHEMA)
                self._con.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
                )
        version = self._check_version()
        self._has_val = set(_V2_COLUMNS) <= self._columns()
        if not readonly and (version != SCHEMA_VERSION or not self._has_val):
            self._upgrade()
            self._has_val = True

    def _check_version(self) -> str:
        try:
            row = self._con.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()
        except sqlite3.DatabaseError as e:
            raise ValueError(
                f"{str(self.path)!r} is not a multilabel_ls result store: {e}"
            ) from None
        if row is None or row[0] not in READABLE_VERSIONS:
            raise ValueError(
                f"{str(self.path)!r}: unsupported store schema {row and row[0]!r} "
                f"(this version reads {', '.join(map(repr, READABLE_VERSIONS))})"
            )
        return row[0]

    def _columns(self) -> set[str]:
        return {r[1] for r in self._con.execute("PRAGMA table_info(runs)")}

    def _upgrade(self) -> None:
        """Schema 1 -> 2: add the nullable validation columns, in one transaction."""
        # BEGIN IMMEDIATE takes the write lock before the columns are read, so two processes
        # upgrading one store at once cannot both add a column.
        self._con.execute("BEGIN IMMEDIATE")
        try:
            have = self._columns()
            for col in _V2_COLUMNS:
                if col not in have:
                    self._con.execute(f"ALTER TABLE runs ADD COLUMN {col} BLOB")
            self._con.execute(
                "UPDATE meta SET value=? WHERE name='schema_version'", (SCHEMA_VERSION,)
            )
        except BaseException:
            self._con.rollback()
            raise
        self._con.commit()

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
        with self._con:  # one transaction: the row is all there or not there
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
        with self._con:
            self._con.execute(
                "INSERT INTO failures VALUES (?,?,?,?,?)", (key, label, error, traceback, _now())
            )

    def set_meta(self, name: str, value: str) -> None:
        """Set a free-form store attribute (e.g. the experiment name shown in the report)."""
        with self._con:
            self._con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    # ----------------------------------------------------------------------- reading
    def get_meta(self, name: str, default: str | None = None) -> str | None:
        """A store attribute set by :meth:`set_meta` (``default`` if unset)."""
        row = self._con.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return default if row is None else row[0]

    def done_keys(self) -> set[str]:
        """Keys of every stored run."""
        return {r[0] for r in self._con.execute("SELECT key FROM runs")}

    def __len__(self) -> int:
        return int(self._con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def runs(self, *, with_record: bool = False) -> Iterator[dict[str, Any]]:
        """Stored runs as dicts: the columns, ``metrics`` parsed, and ``record`` if asked."""
        cols = (
            "key, dataset, strategy, family, epsilon, epsilon_pos, epsilon_neg, noise, seed, "
            "setting, metrics, created_at" + (", record" if with_record else "")
        )
        cur = self._con.execute(f"SELECT {cols} FROM runs ORDER BY rowid")
        names = [c.strip() for c in cols.split(",")]
        for row in cur:
            d = dict(zip(names, row, strict=True))
            d["metrics"] = json.loads(d["metrics"])
            if with_record:
                d["record"] = json.loads(d["record"])
            yield d

    def logits(self, key: str) -> np.ndarray | None:
        """The stored float32 test logits of run ``key`` (None if not stored)."""
        row = self._con.execute("SELECT test_logits FROM runs WHERE key=?", (key,)).fetchone()
        if row is None:
            raise KeyError(f"no run with key {key!r} in {str(self.path)!r}")
        return None if row[0] is None else _unpack(row[0])

    def validation(self, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The float32 validation logits and uint8 validation labels of run ``key``.

        Returns None for a run stored without them (schema 1 stores, or runs written by an
        older version); raises ``KeyError`` for an unknown key.
        """
        if not self._has_val:
            if key not in self.done_keys():
                raise KeyError(f"no run with key {key!r} in {str(self.path)!r}")
            return None
        row = self._con.execute(
            "SELECT val_logits, val_labels FROM runs WHERE key=?", (key,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no run with key {key!r} in {str(self.path)!r}")
        if row[0] is None or row[1] is None:
            return None
        return _unpack(row[0]), _unpack(row[1])

    def test_labels(self, dataset: str) -> np.ndarray | None:
        """The 0/1 test labels (uint8) stored for ``dataset`` (None if not stored)."""
        row = self._con.execute("SELECT y_test FROM labels WHERE dataset=?", (dataset,)).fetchone()
        return None if row is None else _unpack(row[0])

    def failures(self) -> list[dict[str, str]]:
        """Logged failures, oldest first."""
        cur = self._con.execute("SELECT key, label, error, created_at FROM failures ORDER BY rowid")
        return [dict(zip(("key", "label", "error", "created_at"), r, strict=True)) for r in cur]
