"""The run ledger: every run, its curves and its weights, kept on disk so a restart loses nothing.

One SQLite database (Python's `sqlite3`, no server to install) in the data folder, with the weight
files beside it:

    <home>/ledger.sqlite3            runs, curve points, events, sweeps (+ -wal/-shm while open)
    <home>/weights/<run id>/checkpoint.pt   model + optimizer + RNG state (to continue a run)
    <home>/weights/<run id>/best.pt         early stopping's best weights

<home> is core.settings.home(): $MNIST_PLAYGROUND_HOME, else ~/.local/share/mnist-playground.

Why it is built this way:
- WAL mode: readers (page threads) never block the writer (the run service's one writer thread)
  and the writer never blocks them; each reader sees a consistent snapshot. One connection per
  thread (sqlite3 connections must not be shared between threads while in use).
- `synchronous=NORMAL`: a commit survives the app crashing or being killed (kill -9); only a power
  cut may lose the last second of curve points, never corrupt the file.
- Training curves are stored as chunks (one row per append, the points as little-endian arrays),
  not one row per step: a 1M-step run is ~1,000 rows, written in ~1 ms per append and read back in
  a fraction of a second. Validation points and events are few: one row each.
- Weight files are written to a temporary name, fsync'ed and renamed over the old file, so a crash
  leaves either the old file or the new one, never half of one; they are loaded with
  `weights_only=True`, so a planted file cannot run code.
- A `meta` table holds `schema_version`; a later version of this module migrates older files
  (MIGRATIONS) and refuses newer ones with a clear message.

Back up or move the ledger: copy the whole folder (the database AND weights/) while no server or
CLI is running; or, while one runs, `sqlite3 <home>/ledger.sqlite3 ".backup /backup/ledger.sqlite3"`
(a consistent copy, safe during writes) and then copy <home>/weights/ beside it. To use a copy,
point MNIST_PLAYGROUND_HOME (or `--home DIR`) at its folder. A normal stop checkpoints the WAL into
ledger.sqlite3, so after it that one file holds every run and curve; while the app runs, recent
writes may still sit in ledger.sqlite3-wal: never copy the .sqlite3 file alone then. Weight folders
that no run names are moved to <home>/orphans/ at start, never deleted.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import re
import shutil
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from core import settings
from core.nn.history import Curves
from core.states import ACTIVE_STATES, ENDED_STATES, INTERRUPTED, PAUSED, QUEUED

SCHEMA_VERSION = 1
DB_NAME = "ledger.sqlite3"
CHECKPOINT, BEST = "checkpoint.pt", "best.pt"
ORPHANS = "orphans"    # weight folders no run names: set aside at start, never deleted
WHICH = {CHECKPOINT: "checkpoint", BEST: "best weights"}
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


# -- which process trains a run (so a server start does not mark a live CLI's runs) ---------------

def _proc_stat(pid: int) -> tuple[str, str]:
    """(state letter, start time in clock ticks) of a process on Linux; ('', '') elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return rest[0], rest[19]
    except (OSError, IndexError):
        return "", ""


_me: dict[int, str] = {}


def this_process() -> str:
    """host|pid|start time: names this process uniquely, even after its pid is reused."""
    pid = os.getpid()
    if pid not in _me:
        _me[pid] = f"{socket.gethostname()}|{pid}|{_proc_stat(pid)[1]}"
    return _me[pid]


def process_alive(token: str) -> bool:
    """Is the process named by this_process() (maybe in another program) still running?"""
    try:
        host, pid, start = token.split("|")
        pid = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname() or os.name == "nt":
        return False        # a ledger moved from another machine; Windows: os.kill(pid, 0) is not a probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    state, started = _proc_stat(pid)
    return state not in ("Z", "X") and started == start   # a zombie, or the pid reused: gone


class Ledger:
    def __init__(self, home: Path | str | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else settings.home()
        self.path = self.home / DB_NAME
        self.weights_root = self.home / "weights"
        self.orphans_root = self.home / ORPHANS
        try:
            self.weights_root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LedgerError(f"cannot create the data folder {self.home}: {e.strerror or e}") from None
        self._local = threading.local()
        self._conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._conns_lock = threading.Lock()
        self._ensured: set[str] = set()
        self._migrate()

    # -- connections and transactions -------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        """This thread's connection (created on first use): WAL, busy timeout, foreign keys on,
        rows as sqlite3.Row (by name or position). Autocommit: write inside `transaction()`."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as e:
            raise LedgerError(f"cannot open the run ledger {self.path}: {e}") from None
        conn.row_factory = sqlite3.Row
        self._local.conn = conn
        with self._conns_lock:      # close the connections of threads that have ended
            for t, c in [x for x in self._conns if not x[0].is_alive()]:
                c.close()
            self._conns = [x for x in self._conns if x[0].is_alive()] + [(threading.current_thread(), conn)]
        return conn

    def close(self) -> None:
        """Close every thread's connection (tests, shutdown); the ledger reopens on next use.
        First the WAL is checkpointed into the main file and emptied, so that after a normal stop
        `ledger.sqlite3` alone holds everything (a copy of that one file is a complete backup of
        the runs and curves; the weights are the files in weights/)."""
        with self._conns_lock:
            for _, c in self._conns:
                c.close()
            self._conns = []
        self._local = threading.local()
        if self.path.exists():
            try:
                conn = sqlite3.connect(self.path, timeout=5, isolation_level=None)
                try:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    conn.close()
            except sqlite3.Error:   # busy (another process) or read-only: SQLite checkpoints later
                pass

    @contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an exception). Nested calls join the outer one."""
        conn = self.connect()
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:     # also when COMMIT itself failed: never leave one open
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _snapshot(self):
        """A read transaction: several SELECTs see the same moment (WAL: writers go on meanwhile)."""
        conn = self.connect()
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def ensure_schema(self, sql: str) -> None:
        """Run a module's `CREATE TABLE IF NOT EXISTS ...` script once per ledger, in one transaction.
        The script must be idempotent (IF NOT EXISTS): every start runs it again."""
        if sql in self._ensured:
            return
        conn = self.connect()
        if conn.in_transaction:
            raise RuntimeError("ensure_schema() runs its own transaction: call it outside one")
        try:
            conn.executescript("BEGIN IMMEDIATE;\n" + sql + "\n;COMMIT;")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._ensured.add(sql)

    def _migrate(self) -> None:
        try:
            with self.transaction() as c:
                c.execute(SCHEMA[0])
                row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
                if version > SCHEMA_VERSION:
                    raise LedgerError(
                        f"the run ledger {self.path} was written by a newer version of the app "
                        f"(schema {version}; this version reads up to {SCHEMA_VERSION}): update the app, "
                        f"or point MNIST_PLAYGROUND_HOME at another folder")
                if version == 0:
                    for sql in SCHEMA[1:]:
                        c.execute(sql)
                    version = SCHEMA_VERSION
                while version < SCHEMA_VERSION:
                    for sql in MIGRATIONS[version]:
                        c.execute(sql)
                    version += 1
                c.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))
        except sqlite3.DatabaseError as e:
            raise LedgerError(f"the run ledger {self.path} is damaged or not a ledger ({e}); "
                              f"restore it from a backup or move it aside to start afresh") from None

    # -- runs ---------------------------------------------------------------------------------------
    def next_number(self, owner: str) -> int:
        """The owner's next run number: 1, 2, 3 ... never reused, even after a delete."""
        with self.transaction() as c:
            c.execute("INSERT OR IGNORE INTO owners VALUES (?, 0)", (owner,))
            c.execute("UPDATE owners SET last_number = last_number + 1 WHERE owner = ?", (owner,))
            return c.execute("SELECT last_number FROM owners WHERE owner = ?", (owner,)).fetchone()[0]

    def add_run(self, rec: RunRecord) -> None:
        self._check_id(rec.id)
        values = {name: _to_db(name, getattr(rec, name)) for name in RUN_FIELDS}
        values["runner"] = this_process() if rec.state in ACTIVE_STATES else ""
        cols = ", ".join(values)
        try:
            with self.transaction() as c:
                c.execute(f"INSERT INTO runs ({cols}) VALUES ({', '.join('?' * len(values))})",
                          tuple(values.values()))
                c.execute("INSERT OR IGNORE INTO owners VALUES (?, 0)", (rec.owner,))
                c.execute("UPDATE owners SET last_number = max(last_number, ?) WHERE owner = ?",
                          (rec.number, rec.owner))
        except sqlite3.IntegrityError:
            raise ValueError(f"run {rec.id} (#{rec.number} of {rec.owner!r}) is already in the ledger") from None

    def update_run(self, run_id: str, **changes) -> None:
        """Change some of a run's fields (RunRecord's names; ValueError on any other). A run deleted
        meanwhile is ignored: the service's writer may race a user's delete."""
        with self.transaction() as c:
            self._update(c, run_id, changes)

    def _update(self, c: sqlite3.Connection, run_id: str, changes: dict) -> None:
        unknown = [k for k in changes if k not in RUN_FIELDS or k == "id"]
        if unknown:
            raise ValueError(f"not a field a run's record can change: {', '.join(unknown)}")
        if not changes:
            return
        values = {k: _to_db(k, v) for k, v in changes.items()}
        if "state" in changes:
            values["runner"] = this_process() if changes["state"] in ACTIVE_STATES else ""
        c.execute(f"UPDATE runs SET {', '.join(k + ' = ?' for k in values)} WHERE id = ?",
                  (*values.values(), run_id))

    def _record(self, row: sqlite3.Row) -> RunRecord:
        return RunRecord(**{name: _from_db(name, row[name]) for name in RUN_FIELDS})

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self.connect().execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._record(row) if row else None

    def list_runs(self, owner: str | None = None, *, sweep_id: str | None = None,
                  class_id: str | None = None, states=None) -> list[RunRecord]:
        """Runs matching every filter given, newest first."""
        where, args = [], []
        for col, value in (("owner", owner), ("sweep_id", sweep_id), ("class_id", class_id)):
            if value is not None:
                where.append(f"{col} = ?")
                args.append(value)
        if states is not None:
            states = tuple(states)
            where.append(f"state IN ({', '.join('?' * len(states))})" if states else "0")
            args += states
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.connect().execute(sql + " ORDER BY created DESC, number DESC", args).fetchall()
        return [self._record(r) for r in rows]

    def delete_run(self, run_id: str) -> None:
        """The run's rows (curves, events) and its weight folder."""
        self._delete(run_id, states=None)

    def _delete(self, run_id: str, states) -> bool:
        folder = self.weights_dir(run_id)
        with self.transaction() as c:
            if states is None:
                gone = c.execute("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount
            else:
                gone = c.execute(f"DELETE FROM runs WHERE id = ? AND state IN ({', '.join('?' * len(states))})",
                                 (run_id, *states)).rowcount
        if gone or states is None:
            shutil.rmtree(folder, ignore_errors=True)
        return bool(gone)

    # -- curves -----------------------------------------------------------------------------------
    def append(self, run_id: str, delta: Curves, **changes) -> None:
        """Add new training steps, validation points and events (and change the record's fields
        given, e.g. step=, train_loss=) in ONE transaction: a reader sees all of it or none.
        A run deleted meanwhile is ignored."""
        n = len(delta.step)
        if len(delta.loss) != n or len(delta.acc) != n:
            raise ValueError(f"a curve delta needs as many losses and accuracies as steps "
                             f"({n} steps, {len(delta.loss)} losses, {len(delta.acc)} accuracies)")
        v = len(delta.val_step)
        if not len(delta.val_loss) == len(delta.val_acc) == len(delta.val_full) == v:
            raise ValueError("a curve delta needs a loss, an accuracy and a 'full' flag per validation point")
        blobs = (_blob(delta.step, "<i8"), _blob(delta.loss, "<f8"), _blob(delta.acc, "<f8")) if n else None
        with self.transaction() as c:
            if c.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                return
            if n:
                last = c.execute("SELECT first + n FROM step_chunks WHERE run_id = ? ORDER BY first DESC "
                                 "LIMIT 1", (run_id,)).fetchone()     # the index's last entry, no scan
                first = last[0] if last else 0
                c.execute("INSERT INTO step_chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (run_id, first, n, int(max(delta.step)), *blobs))
            if v:
                seq = self._next_seq(c, "val_points", run_id)
                c.executemany("INSERT INTO val_points VALUES (?, ?, ?, ?, ?, ?)",
                              [(run_id, seq + i, int(s), _to_db("loss", float(l)), _to_db("acc", float(a)), int(bool(f)))
                               for i, (s, l, a, f) in enumerate(zip(delta.val_step, delta.val_loss,
                                                                   delta.val_acc, delta.val_full))])
            if delta.events:
                seq = self._next_seq(c, "events", run_id)
                rows = []
                for i, e in enumerate(delta.events):
                    extra = {k: x for k, x in e.items() if k not in ("step", "kind", "text")}
                    rows.append((run_id, seq + i, int(e["step"]), e["kind"], e["text"],
                                 json.dumps(extra) if extra else None))
                c.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
            self._update(c, run_id, changes)

    @staticmethod
    def _next_seq(c: sqlite3.Connection, table: str, run_id: str) -> int:
        return c.execute(f"SELECT coalesce(max(seq) + 1, 0) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[0]

    def load_curves(self, run_id: str, since: tuple[int, int, int] = (0, 0, 0)) -> Curves:
        """Everything stored for the run, in order; or only what comes after `since` = the numbers
        of (steps, validation points, events) the caller already has (as History.snapshot)."""
        s, v, e = since
        with self._snapshot() as c:
            chunks = c.execute(     # from the chunk that holds point s on (an index range, no scan)
                "SELECT first, step, loss, acc FROM step_chunks WHERE run_id = ?1 AND first >= coalesce("
                "(SELECT first FROM step_chunks WHERE run_id = ?1 AND first <= ?2 ORDER BY first DESC LIMIT 1), 0) "
                "ORDER BY first", (run_id, s)).fetchall()
            vals = c.execute("SELECT step, loss, acc, full FROM val_points WHERE run_id = ? "
                             "ORDER BY seq LIMIT -1 OFFSET ?", (run_id, v)).fetchall()
            events = c.execute("SELECT step, kind, text, extra FROM events WHERE run_id = ? "
                               "ORDER BY seq LIMIT -1 OFFSET ?", (run_id, e)).fetchall()
        out = Curves()
        if chunks:
            skip = s - chunks[0]["first"] if s > chunks[0]["first"] else 0
            for name, dtype in (("step", "<i8"), ("loss", "<f8"), ("acc", "<f8")):
                joined = np.concatenate([np.frombuffer(ch[name], dtype) for ch in chunks])
                setattr(out, name, joined[skip:].tolist())
        for r in vals:
            out.val_step.append(r["step"])
            out.val_loss.append(_from_db("loss", r["loss"]))
            out.val_acc.append(_from_db("acc", r["acc"]))
            out.val_full.append(bool(r["full"]))
        for r in events:
            out.events.append({"step": r["step"], "kind": r["kind"], "text": r["text"],
                               **(json.loads(r["extra"]) if r["extra"] else {})})
        return out

    def truncate_curves(self, run_id: str, after_step: int) -> None:
        """Forget the points and events after a step: a run continued from the checkpoint of that
        step redoes them, and its curves must read as if it had never stopped."""
        with self.transaction() as c:
            chunks = c.execute("SELECT first, step, loss, acc FROM step_chunks WHERE run_id = ? "
                               "AND max_step > ? ORDER BY first", (run_id, after_step)).fetchall()
            if chunks:
                cols = {name: np.concatenate([np.frombuffer(ch[name], dt) for ch in chunks])
                        for name, dt in (("step", "<i8"), ("loss", "<f8"), ("acc", "<f8"))}
                keep = cols["step"] <= after_step
                c.execute("DELETE FROM step_chunks WHERE run_id = ? AND first >= ?", (run_id, chunks[0]["first"]))
                if keep.any():
                    c.execute("INSERT INTO step_chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (run_id, chunks[0]["first"], int(keep.sum()), int(cols["step"][keep].max()),
                               *(cols[k][keep].tobytes() for k in ("step", "loss", "acc"))))
            c.execute("DELETE FROM val_points WHERE run_id = ? AND step > ?", (run_id, after_step))
            c.execute("DELETE FROM events WHERE run_id = ? AND step > ?", (run_id, after_step))

    def _last_step(self, c: sqlite3.Connection, run_id: str) -> int:
        last = c.execute("SELECT max_step FROM step_chunks WHERE run_id = ? ORDER BY first DESC LIMIT 1",
                         (run_id,)).fetchone()
        return last[0] if last else 0

    # -- weights ----------------------------------------------------------------------------------
    def _check_id(self, run_id: str) -> None:
        if not isinstance(run_id, str) or not _SAFE_ID.fullmatch(run_id) or ".." in run_id:
            raise ValueError(f"not a valid run id: {run_id!r} (letters, digits, '-', '_', '.')")

    def weights_dir(self, run_id: str) -> Path:
        self._check_id(run_id)      # a run id never reaches outside weights/ (delete_run removes it)
        return self.weights_root / run_id

    def checkpoint_path(self, run_id: str) -> Path:
        return self.weights_dir(run_id) / CHECKPOINT

    def best_path(self, run_id: str) -> Path:
        return self.weights_dir(run_id) / BEST

    def save_weights(self, path: Path, obj) -> int:
        """torch.save atomically: to a temporary name in the same folder, fsync, rename over `path`
        (and fsync the folder). Readers see the old file or the new one. Returns the file's bytes."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                torch.save(obj, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            size = path.stat().st_size
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise LedgerError(f"could not save the {self._describe(path)}: {e.strerror or e}") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        try:
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)        # the rename itself survives a power cut
            finally:
                os.close(fd)
        except OSError:
            pass                    # not possible on every platform (Windows)
        return size

    def load_weights(self, path: Path) -> dict:
        """torch.load(weights_only=True) on the CPU. A missing, damaged or hostile file raises
        LedgerError with a message for the user; nothing in the file is executed or imported."""
        path = Path(path)
        what = self._describe(path)
        if not path.is_file():
            raise LedgerError(f"the {what} are missing: {path.name} is not in {path.parent} "
                              f"(deleted, or never saved)")
        try:
            obj = torch.load(path, weights_only=True, map_location="cpu")
        except pickle.UnpicklingError as e:
            found = re.search(r"GLOBAL ([\w.]+)", str(e))
            if found:
                raise LedgerError(f"the {what} were refused: {path.name} holds a Python object "
                                  f"({found[1].rstrip('.')}) besides tensors and numbers, "
                                  f"and loading it could run code; this app never writes such a file, "
                                  f"so it was not loaded") from None
            raise LedgerError(f"the {what} are damaged: {path.name} is not a readable weights file "
                              f"({_short(e)})") from None
        except Exception as e:      # truncated zip, empty file, I/O error ...
            raise LedgerError(f"the {what} are damaged: {path.name} could not be read "
                              f"(truncated or not a weights file: {_short(e)})") from None
        if not isinstance(obj, dict):
            raise LedgerError(f"the {what} are damaged: {path.name} holds a {type(obj).__name__}, "
                              f"not the dictionary this app saves")
        return obj

    def _describe(self, path: Path) -> str:
        """'weights of run #3 (checkpoint)' for a file in a run's folder; the path otherwise."""
        which = WHICH.get(path.name, path.name)
        if path.parent.parent == self.weights_root:
            try:
                rec = self.get_run(path.parent.name)
            except sqlite3.Error:
                rec = None
            run = f"run #{rec.number}" if rec else f"run {path.parent.name}"
            return f"weights of {run} ({which})"
        return f"weights in {path} ({which})"

    def clean_weights(self, older_than: float = 600.0) -> list[Path]:
        """Remove what a crash provably leaves in weights/: the temporary files of an interrupted
        save (`.<name>.<random>.tmp`, untouched for `older_than` seconds). Weight folders are
        never deleted here: see `set_aside_orphans`. Server start."""
        removed, now = [], time.time()
        for folder in self._folders():
            for tmp in folder.glob(".*.tmp"):
                try:
                    if now - tmp.stat().st_mtime >= older_than:
                        tmp.unlink(missing_ok=True)
                        removed.append(tmp)
                except OSError:
                    continue
        return removed

    def set_aside_orphans(self, older_than: float = 600.0) -> list[Path]:
        """Move the weight folders that no run of the ledger names (untouched for `older_than`
        seconds) to <home>/orphans/, never delete them: a folder without a row is not proof of
        garbage (the ledger may have been emptied, replaced by an old copy, or copied without its
        -wal). Restoring the ledger and moving a folder back brings its run's weights back.
        Returns where each folder went. Server start."""
        known = {r[0] for r in self.connect().execute("SELECT id FROM runs")}
        moved, now = [], time.time()
        for folder in self._folders():
            try:
                if folder.name in known or now - folder.stat().st_mtime < older_than:
                    continue
                target = self.orphans_root / folder.name
                if target.exists():
                    target = self.orphans_root / f"{folder.name}.{int(now)}"
                self.orphans_root.mkdir(exist_ok=True)
                folder.rename(target)
                moved.append(target)
            except OSError:
                continue
        return moved

    def _folders(self) -> list[Path]:
        try:
            return [f for f in self.weights_root.iterdir() if f.is_dir()]
        except OSError:
            return []

    # -- after a crash --------------------------------------------------------------------------------
    def mark_interrupted(self, states=ACTIVE_STATES) -> list[str]:
        """At server start: every run left queued, running or paused by a process that is gone
        (or by this one) becomes "interrupted", with its curves kept and a reason saying what
        Continue will do. Runs that another live process (a CLI sweep) trains are left alone."""
        states = tuple(states)
        me, marked = this_process(), []
        with self.transaction() as c:
            rows = c.execute(f"SELECT * FROM runs WHERE state IN ({', '.join('?' * len(states))})",
                             states).fetchall()
            for row in rows:
                if row["runner"] and row["runner"] != me and process_alive(row["runner"]):
                    continue
                rec = self._record(row)
                step = max(rec.step, self._last_step(c, rec.id))
                doing = {QUEUED: "waiting in the queue", PAUSED: "paused"}.get(rec.state, rec.state)
                if rec.checkpoint_step is not None and self.checkpoint_path(rec.id).is_file():
                    then = f"Continue resumes it from the checkpoint of step {rec.checkpoint_step}"
                elif rec.checkpoint_step is not None:
                    then = "its checkpoint file is missing: start it again"
                else:
                    then = "no checkpoint: start it again"
                reason = (f"the server stopped while this run was {doing} (step {step}); "
                          f"its curves are kept up to step {step}; {then}")
                self._update(c, rec.id, dict(state=INTERRUPTED, reason=reason, step=step,
                                             ended=rec.ended if rec.ended is not None else time.time()))
                marked.append(rec.id)
        return marked

    # -- retention ------------------------------------------------------------------------------------
    def _folder_bytes(self, run_id: str) -> int:
        total = 0
        try:
            for f in self.weights_dir(run_id).iterdir():
                try:
                    total += f.stat().st_size if f.is_file() else 0
                except OSError:
                    pass
        except (OSError, ValueError):
            pass
        return total

    def usage(self, owner: str | None = None) -> tuple[int, int]:
        """(stored runs, bytes of their weight files), of one owner or of the whole server."""
        ids = [r[0] for r in self.connect().execute(
            "SELECT id FROM runs" + (" WHERE owner = ?" if owner is not None else ""),
            (owner,) if owner is not None else ())]
        return len(ids), sum(self._folder_bytes(i) for i in ids)

    def enforce_retention(self, owner: str, max_runs: int | None, max_bytes: int | None, *,
                          server_max_runs: int | None, server_max_bytes: int | None) -> list[str]:
        """Delete the owner's oldest ended runs until the owner is within (max_runs, max_bytes),
        then the server's oldest ended runs until it is within its limits. None = no limit.
        Runs not ended (idle, queued, running, paused) are never deleted. Returns deleted ids."""
        deleted = []
        for who, most, most_bytes in ((owner, max_runs, max_bytes), (None, server_max_runs, server_max_bytes)):
            if most is None and most_bytes is None:
                continue
            rows = self.connect().execute(
                "SELECT id, state FROM runs" + (" WHERE owner = ?" if who is not None else "") +
                " ORDER BY coalesce(ended, created), created, number",
                (who,) if who is not None else ()).fetchall()
            sizes = {r["id"]: self._folder_bytes(r["id"]) for r in rows}
            count, total = len(rows), sum(sizes.values())
            for r in rows:
                if (most is None or count <= most) and (most_bytes is None or total <= most_bytes):
                    break
                if r["state"] in ENDED_STATES and self._delete(r["id"], ENDED_STATES):
                    deleted.append(r["id"])
                    count, total = count - 1, total - sizes[r["id"]]
        return deleted

    # -- sweeps -----------------------------------------------------------------------------------
    def add_sweep(self, sweep_id: str, owner: str, spec: dict, created: float) -> None:
        with self.transaction() as c:
            c.execute("INSERT INTO sweeps (id, owner, created, spec) VALUES (?, ?, ?, ?)",
                      (sweep_id, owner, created, json.dumps(spec)))

    def _sweep(self, row: sqlite3.Row) -> dict:
        return {k: _from_db(k, row[k]) for k in SWEEP_FIELDS}

    def get_sweep(self, sweep_id: str) -> dict | None:
        row = self.connect().execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        return self._sweep(row) if row else None

    def list_sweeps(self, owner: str) -> list[dict]:
        """The owner's sweeps, newest first."""
        rows = self.connect().execute("SELECT * FROM sweeps WHERE owner = ? ORDER BY created DESC",
                                      (owner,)).fetchall()
        return [self._sweep(r) for r in rows]

    def update_sweep(self, sweep_id: str, **changes) -> None:
        """Change fields of a sweep: spec, name, note, state, ended, class_id, result (a dict)."""
        unknown = [k for k in changes if k not in SWEEP_FIELDS or k in ("id", "owner", "created")]
        if unknown:
            raise ValueError(f"not a field a sweep can change: {', '.join(unknown)}")
        if changes:
            with self.transaction() as c:
                c.execute(f"UPDATE sweeps SET {', '.join(k + ' = ?' for k in changes)} WHERE id = ?",
                          (*(_to_db(k, v) for k, v in changes.items()), sweep_id))


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160]}" if text else type(e).__name__
