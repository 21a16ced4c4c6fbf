"""The database: one SQLite connection per thread (WAL), transactions, the schema and its migrations."""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

from core import settings
from core.ledger.records import DB_NAME, MIGRATIONS, SCHEMA, SCHEMA_VERSION, LedgerError
from core.ledger.weights import ORPHANS


class Database:
    """The connections, transactions and schema; Ledger adds the runs and the weight files."""

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
