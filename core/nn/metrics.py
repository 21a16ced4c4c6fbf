"""Per-step training metrics, kept on the device and published in batches.

Reading a loss back from the device (`.item()`) waits for the device to finish: on a GPU, one
such sync per step would cost more than the step. So each step's loss and correct count stay
tensors here, and `flush()` reads a whole batch of them back with one sync, every FLUSH_STEPS
steps or FLUSH_SECONDS, whichever comes first. The flush is also where divergence is found: a
loss that is not a number, or that grows past a clear bound, names its exact step.
"""
from __future__ import annotations

import math
import time

import torch

from core.nn.history import History

LN10 = math.log(10)           # the cross-entropy of a network that guesses uniformly
LOSS_LIMIT = 1e4              # a loss past this is an explosion, whatever it started at
GROWTH_LIMIT = 100.0          # ... and so is one 100x its value at initialization


class StepMetrics:
    FLUSH_STEPS = 32
    FLUSH_SECONDS = 0.2

    def __init__(self, history: History):
        self.history = history
        self._pending: list[tuple[torch.Tensor, torch.Tensor, int]] = []
        self._last_flush = time.monotonic()
        self.initial_loss: float | None = None   # at step 0: the bound is relative to it
        self.mean_loss: float | None = None      # mean loss of the last flushed steps

    def add(self, loss: torch.Tensor, correct: torch.Tensor, n: int) -> None:
        self._pending.append((loss.detach(), correct, n))

    def due(self) -> bool:
        return (len(self._pending) >= self.FLUSH_STEPS
                or time.monotonic() - self._last_flush > self.FLUSH_SECONDS)

    def bound(self) -> float:
        """The loss past which a run counts as diverged."""
        start = self.initial_loss if self.initial_loss and math.isfinite(self.initial_loss) else LN10
        return min(LOSS_LIMIT, GROWTH_LIMIT * max(start, LN10))

    def flush(self, last_step: int) -> tuple[int, float] | None:
        """Publish the pending steps (the newest is `last_step`) to the history, with one device
        sync. Returns (step, loss) of the first diverged step, or None when all is well."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return None
        losses = torch.stack([p[0] for p in self._pending]).tolist()
        correct = torch.stack([p[1] for p in self._pending]).tolist()
        sizes = [p[2] for p in self._pending]
        self._pending.clear()
        first = last_step - len(losses) + 1
        limit = self.bound()
        bad = next((i for i, v in enumerate(losses) if not math.isfinite(v) or v > limit), None)
        n = len(losses) if bad is None else bad
        self.history.add_steps(list(range(first, first + n)), losses[:n],
                               [c / s for c, s in zip(correct[:n], sizes[:n])])
        if n:
            self.mean_loss = sum(losses[:n]) / n
        return None if bad is None else (first + bad, losses[bad])
