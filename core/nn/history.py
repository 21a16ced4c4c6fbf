"""A run's metrics: written by the trainer thread, read by any number of pages.

Append-only lists behind one lock. Readers take `snapshot(since)`, which copies only what is new
since their last look, so a page refreshing every second costs O(new points), not O(all points).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Curves:
    """Plain lists, safe to hand to a chart. Steps are 1-based mini-batch counts."""
    step: list[int] = field(default_factory=list)         # one entry per training step
    loss: list[float] = field(default_factory=list)       # that mini-batch's training loss
    acc: list[float] = field(default_factory=list)        # that mini-batch's training accuracy
    val_step: list[int] = field(default_factory=list)     # one entry per validation point
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    val_full: list[bool] = field(default_factory=list)    # True: whole validation set (epoch end)
    events: list[dict] = field(default_factory=list)      # {"step", "kind", "text"} e.g. LR changes

    def extend(self, other: "Curves") -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name).extend(getattr(other, name))


class History:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._c = Curves()

    def add_steps(self, steps: list[int], losses: list[float], accs: list[float]) -> None:
        with self._lock:
            self._c.step += steps
            self._c.loss += losses
            self._c.acc += accs

    def add_validation(self, step: int, loss: float, acc: float, full: bool) -> None:
        with self._lock:
            self._c.val_step.append(step)
            self._c.val_loss.append(loss)
            self._c.val_acc.append(acc)
            self._c.val_full.append(full)

    def add_event(self, step: int, kind: str, text: str) -> None:
        with self._lock:
            self._c.events.append({"step": step, "kind": kind, "text": text})

    def extend(self, curves: Curves) -> None:
        """Add a whole set of curves (a run read back from the ledger)."""
        with self._lock:
            self._c.extend(curves)

    def cursor(self) -> tuple[int, int, int]:
        """Lengths of (steps, validation points, events): pass back to snapshot() as `since`."""
        with self._lock:
            return len(self._c.step), len(self._c.val_step), len(self._c.events)

    def snapshot(self, since: tuple[int, int, int] = (0, 0, 0)) -> tuple[Curves, tuple[int, int, int]]:
        """Copies of everything added after `since`, and the cursor to use next time."""
        s, v, e = since
        with self._lock:
            c = self._c
            new = Curves(c.step[s:], c.loss[s:], c.acc[s:], c.val_step[v:], c.val_loss[v:],
                         c.val_acc[v:], c.val_full[v:], [dict(x) for x in c.events[e:]])
            return new, (len(c.step), len(c.val_step), len(c.events))
