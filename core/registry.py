"""All runs of the process, by id, each owned by one browser.

The Streamlit app keeps one Registry per process (st.cache_resource). An owner is a random token
that the browser carries in its URL (?user=...), so a reload finds its runs again; a run id is
unguessable too, and `get` only answers its owner, so students never see each other's runs.
Clean-up: an owner keeps at most MAX_RUNS_PER_OWNER runs (the oldest ended ones go first), and
runs nobody has looked at for ABANDON_SECONDS are stopped and forgotten.
"""
from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field

from .config import HyperParams
from .trainer import Trainer


@dataclass
class Run:
    id: str
    owner: str
    number: int                   # 1, 2, 3... per owner: "run #3"
    trainer: Trainer
    created: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.monotonic)

    @property
    def label(self) -> str:
        return f"#{self.number} · {self.trainer.hp.describe()}"

    # The read interface of core.runs.RunView (see /work/seam.md), so pages can move to it now.
    @property
    def hp(self):
        return self.trainer.hp

    @property
    def name(self) -> str:
        return ""

    @property
    def steps_per_epoch(self) -> int:
        return self.trainer.steps_per_epoch

    @property
    def class_names(self):
        return self.trainer.dataset.class_names

    @property
    def val_indices(self):
        return self.trainer.split.val_idx

    def snapshot(self):
        return self.trainer.snapshot()

    def curves(self, cursor=(0, 0, 0)):
        return self.trainer.history.snapshot(cursor)

    def model(self):
        return self.trainer.model_snapshot()

    def initial_model(self):
        from . import model as model_lib
        return model_lib.from_state_dict(self.trainer.model.arch, self.trainer.initial_state_dict())


def new_owner_token() -> str:
    return secrets.token_urlsafe(9)


class Registry:
    MAX_RUNS_PER_OWNER = 8
    ABANDON_SECONDS = 2 * 3600

    def __init__(self, trainer_factory=Trainer):
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self._numbers: dict[str, itertools.count] = {}
        self._factory = trainer_factory

    def create(self, owner: str, hp: HyperParams) -> Run:
        """A new idle run for `owner` (not started)."""
        self.cleanup()
        trainer = self._factory(hp)   # outside the lock: building loads data and the model
        with self._lock:
            number = next(self._numbers.setdefault(owner, itertools.count(1)))
            run = Run(trainer.id, owner, number, trainer)
            self._runs[run.id] = run
            self._evict(owner)
            return run

    def start_new(self, owner: str, hp: HyperParams) -> Run:
        """Create and start a run, unless the owner already has an active one: that one is
        returned instead (so a double click never starts two runs)."""
        active = self.active_run(owner)
        if active is not None:
            return active
        run = self.create(owner, hp)
        run.trainer.start()
        return run

    def get(self, owner: str, run_id: str | None) -> Run | None:
        with self._lock:
            run = self._runs.get(run_id or "")
            if run is None or run.owner != owner:
                return None
            run.last_seen = time.monotonic()
            return run

    def runs(self, owner: str) -> list[Run]:
        """The owner's runs, newest first."""
        with self._lock:
            mine = [r for r in self._runs.values() if r.owner == owner]
            now = time.monotonic()
            for r in mine:
                r.last_seen = now
        return sorted(mine, key=lambda r: -r.number)

    def active_run(self, owner: str) -> Run | None:
        return next((r for r in self.runs(owner) if r.trainer.snapshot().active), None)

    def discard(self, owner: str, run_id: str) -> None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.owner != owner:
                return
            del self._runs[run_id]
        run.trainer.stop()

    def cleanup(self) -> None:
        """Stop and forget runs that nobody has looked at for ABANDON_SECONDS."""
        cutoff = time.monotonic() - self.ABANDON_SECONDS
        with self._lock:
            old = [r for r in self._runs.values() if r.last_seen < cutoff]
            for r in old:
                del self._runs[r.id]
        for r in old:
            r.trainer.stop()

    def _evict(self, owner: str) -> None:
        """Keep the owner's newest MAX_RUNS_PER_OWNER runs; never evict an active run."""
        mine = sorted((r for r in self._runs.values() if r.owner == owner), key=lambda r: -r.number)
        for r in mine[self.MAX_RUNS_PER_OWNER:]:
            if not r.trainer.snapshot().active:
                del self._runs[r.id]

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)
