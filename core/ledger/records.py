"""What a run is in the ledger: its record, the tables (SCHEMA), and values in and out of SQLite."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, fields

import numpy as np

SCHEMA_VERSION = 1
DB_NAME = "ledger.sqlite3"
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")



class LedgerError(Exception):
    """Something the user should read: missing or damaged weights, a ledger from a newer version."""


@dataclass
class RunRecord:
    """One run as the ledger keeps it (the final figures are updated as the run goes)."""
    id: str
    owner: str
    number: int
    config: dict                                 # HyperParams.to_dict()
    name: str = ""
    note: str = ""
    dataset: str = "mnist"
    state: str = "idle"
    reason: str = ""
    created: float = 0.0                         # epoch seconds
    started: float | None = None
    ended: float | None = None
    step: int = 0
    total_steps: int = 0
    steps_per_epoch: int = 0
    epochs_done: int = 0
    train_loss: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    best_val_accuracy: float | None = None
    best_val_epoch: int | None = None
    test_accuracy: float | None = None
    test_loss: float | None = None
    params: int = 0
    seconds: float = 0.0
    samples_per_second: float = 0.0
    device: str = "cpu"
    checkpoint_step: int | None = None           # step of the newest checkpoint file, None if none
    sweep_id: str | None = None
    class_id: str | None = None
    parent_id: str | None = None
    live: dict = field(default_factory=dict)     # current lr / momentum / weight_decay


RUN_FIELDS = tuple(f.name for f in fields(RunRecord))
_JSON_FIELDS = {"config", "live"}
_NAN_FIELDS = {f.name for f in fields(RunRecord) if "float" in str(f.type)} | {"loss", "acc"}

# The first version of the schema. A later change appends to MIGRATIONS: {from_version: [sql, ...]}
# (run in one transaction, bringing the file to from_version + 1) and raises SCHEMA_VERSION.
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # owners' run numbers: the counter only grows, so a number is never reused after a delete
    "CREATE TABLE IF NOT EXISTS owners (owner TEXT PRIMARY KEY, last_number INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, number INTEGER NOT NULL, config TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '',
        dataset TEXT NOT NULL DEFAULT 'mnist', state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL, started REAL, ended REAL,
        step INTEGER NOT NULL DEFAULT 0, total_steps INTEGER NOT NULL DEFAULT 0,
        steps_per_epoch INTEGER NOT NULL DEFAULT 0, epochs_done INTEGER NOT NULL DEFAULT 0,
        train_loss REAL, val_loss REAL, val_accuracy REAL, best_val_accuracy REAL,
        best_val_epoch INTEGER, test_accuracy REAL, test_loss REAL,
        params INTEGER NOT NULL DEFAULT 0, seconds REAL NOT NULL DEFAULT 0,
        samples_per_second REAL NOT NULL DEFAULT 0, device TEXT NOT NULL DEFAULT 'cpu',
        checkpoint_step INTEGER, sweep_id TEXT, class_id TEXT, parent_id TEXT,
        live TEXT NOT NULL DEFAULT '{}',
        runner TEXT NOT NULL DEFAULT '',   -- host|pid|start of the process training it (see mark_interrupted)
        UNIQUE (owner, number))""",
    "CREATE INDEX IF NOT EXISTS runs_by_owner ON runs (owner, created)",
    "CREATE INDEX IF NOT EXISTS runs_by_sweep ON runs (sweep_id)",
    "CREATE INDEX IF NOT EXISTS runs_by_class ON runs (class_id)",
    "CREATE INDEX IF NOT EXISTS runs_by_state ON runs (state)",
    # training points: `first` = index of the chunk's first point in the run's curve
    """CREATE TABLE IF NOT EXISTS step_chunks (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        first INTEGER NOT NULL, n INTEGER NOT NULL, max_step INTEGER NOT NULL,
        step BLOB NOT NULL, loss BLOB NOT NULL, acc BLOB NOT NULL, UNIQUE (run_id, first))""",
    """CREATE TABLE IF NOT EXISTS val_points (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE, seq INTEGER NOT NULL,
        step INTEGER NOT NULL, loss REAL, acc REAL, full INTEGER NOT NULL,
        PRIMARY KEY (run_id, seq)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS events (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE, seq INTEGER NOT NULL,
        step INTEGER NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL, extra TEXT,
        PRIMARY KEY (run_id, seq)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS sweeps (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, created REAL NOT NULL, spec TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT '',
        ended REAL, class_id TEXT, result TEXT NOT NULL DEFAULT '{}')""",
    "CREATE INDEX IF NOT EXISTS sweeps_by_owner ON sweeps (owner, created)",
]
MIGRATIONS: dict[int, list[str]] = {}
SWEEP_FIELDS = ("id", "owner", "created", "spec", "name", "note", "state", "ended", "class_id", "result")
_SWEEP_JSON = {"spec", "result"}


# -- values in and out of SQLite ---------------------------------------------------------------
# SQLite stores a float NaN as NULL; a diverged run's loss is NaN and must stay NaN, so it travels
# as the text 'nan' (a REAL column keeps text that does not look like a number as text).

def _to_db(name: str, value):
    if name in _JSON_FIELDS or name in _SWEEP_JSON:
        return json.dumps(value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def _from_db(name: str, value):
    if name in _JSON_FIELDS or name in _SWEEP_JSON:
        return json.loads(value)
    if isinstance(value, str) and name in _NAN_FIELDS:
        return float(value)
    return value


def _blob(values, dtype: str) -> bytes:
    return np.asarray(values, dtype=dtype).tobytes()




def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160]}" if text else type(e).__name__
