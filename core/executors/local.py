"""Runs as threads in this process: the data set is shared by every run without a copy, and
pages read a run's weights directly. The default executor: no cluster needed."""
from __future__ import annotations

from core.nn.checkpoint import Sink
from core.nn.config import HyperParams
from core.nn.control import Control
from core.nn.history import History
from core.nn.trainer import Trainer
from core.settings import Limits


class LocalExecutor:
    name = "this server"

    def __init__(self, limits: Limits, device: str | None = None):
        self.limits = limits
        self.device = device

    @property
    def slots(self) -> int:
        return self.limits.slots

    def create(self, run_id: str, hp: HyperParams, *, history: History, sink: Sink,
               resume: dict | None = None, test_indices=None) -> Trainer:
        return Trainer(hp, device=self.device, run_id=run_id, control=Control(granted=False),
                       history=history, sink=sink, resume=resume,
                       threads=self.limits.threads_per_run, test_indices=test_indices)

    def close(self) -> None:
        pass
