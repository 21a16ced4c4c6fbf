"""A run as a page sees it: read-only, commands go to the service."""
from __future__ import annotations

import torch

from core.ledger import RunRecord
from core.nn import data
from core.nn import model as model_lib
from core.nn.config import HyperParams
from core.nn.history import Curves
from core.nn.trainer import RunSnapshot


def train_count(hp: HyperParams) -> int:
    """Training images of a run (both data sets have 60,000 training images)."""
    n = 60000 - round(60000 * hp.val_fraction)
    return min(n, hp.subset) if hp.subset else n




class RunView:
    """What a page may know about a run and ask of it (read-only; commands go to the service)."""

    def __init__(self, service, rec: RunRecord):
        self._svc, self._rec = service, rec
        self.id, self.owner, self.number, self.created = rec.id, rec.owner, rec.number, rec.created
        self.name, self.note = rec.name, rec.note
        self.sweep_id, self.class_id, self.parent_id = rec.sweep_id, rec.class_id, rec.parent_id
        self.hp = HyperParams.validate(rec.config)
        self.steps_per_epoch = rec.steps_per_epoch

    @property
    def label(self) -> str:
        return f"#{self.number}{f' {self.name}' if self.name else ''} · {self.hp.describe()}"

    @property
    def class_names(self) -> tuple[str, ...]:
        return data.DATASETS[self.hp.dataset].class_names

    @property
    def val_indices(self) -> torch.Tensor:
        hp = self.hp
        return data.split(60000, hp.val_fraction, hp.subset, hp.seed).val_idx

    def snapshot(self) -> RunSnapshot:
        return self._svc._snapshot(self.id)

    def curves(self, cursor: tuple[int, int, int] = (0, 0, 0)) -> tuple[Curves, tuple[int, int, int]]:
        return self._svc._history(self.id).snapshot(cursor)

    def model(self) -> model_lib.MLP:
        return self._svc._model(self.id)

    def initial_model(self) -> model_lib.MLP:
        ds = data.load(self.hp.dataset)
        return model_lib.build(self.hp, ds.mean, ds.std, torch.Generator().manual_seed(self.hp.seed)).eval()

    @property
    def record(self) -> RunRecord:
        """The ledger's row as of now (final figures, times, name and note)."""
        return self._svc.ledger.get_run(self.id) or self._rec
