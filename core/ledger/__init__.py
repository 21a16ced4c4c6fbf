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
from core.ledger.db import Database
from core.ledger.process import process_alive, this_process
from core.ledger.records import DB_NAME, SCHEMA_VERSION, LedgerError, RunRecord
from core.ledger.rows import RunRows
from core.ledger.weights import BEST, CHECKPOINT, ORPHANS, WeightFiles

__all__ = ["BEST", "CHECKPOINT", "DB_NAME", "ORPHANS", "SCHEMA_VERSION", "Ledger", "LedgerError", "RunRecord",
           "process_alive", "this_process"]


class Ledger(Database, RunRows, WeightFiles):
    """The run ledger of one data folder: `Ledger(home)`; see the module's docstring."""
