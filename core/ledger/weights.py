"""The weight files beside the database: written atomically, loaded with weights_only=True, set
aside (never deleted) when no run names them, and counted for retention."""
from __future__ import annotations

import os
import pickle
import re
import sqlite3
import threading
import time
from pathlib import Path

import torch

from core.ledger.records import _SAFE_ID, LedgerError, _short
from core.states import ENDED_STATES

CHECKPOINT, BEST = "checkpoint.pt", "best.pt"
ORPHANS = "orphans"    # weight folders no run names: set aside at start, never deleted
WHICH = {CHECKPOINT: "checkpoint", BEST: "best weights"}


class WeightFiles:
    """weights/<run id>/checkpoint.pt and best.pt (a part of Ledger)."""

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
