"""Admission: a run is created only within the server's limits (memory per student and per
server, unfinished runs per student, steps per run), or refused with what to shrink."""
from __future__ import annotations

import math

from core.nn.config import HyperParams
from core.runs.errors import Refused
from core.runs.view import train_count
from core.settings import GB


def _gb(n: float) -> str:
    return f"{n / GB:.1f} GB" if n >= 0.1 * GB else f"{n / (1 << 20):.0f} MB"


class Admission:
    """A part of RunService."""

    def check_run(self, hp: HyperParams, what: str = "This run"):
        """The limits on one run, whoever asks (steps, memory); returns its memory estimate.
        Raises Refused saying which limit and what to change."""
        from core.nn.memory import estimate as estimate_memory
        from core.nn.memory import what_to_shrink
        lim = self.limits
        steps = math.ceil(train_count(hp) / hp.batch_size) * hp.epochs
        if steps > lim.max_run_steps:
            raise Refused(f"{what} would take {steps:,} steps; this server allows "
                          f"{lim.max_run_steps:,} per run: fewer epochs or a larger batch.")
        est = estimate_memory(hp)
        budget = min(lim.student_memory, lim.server_memory)
        if est.total > budget:
            raise Refused(f"{'This network' if what == 'This run' else what} needs ~{_gb(est.total)} of "
                          f"memory; the server allows {_gb(budget)} per student: {what_to_shrink(est, budget)}.")
        return est

    def admit(self, owner: str, hps: list[HyperParams]) -> int:
        """Check that `owner` may add these runs now; returns the memory one of them needs.
        Raises Refused saying which limit and what to change."""
        lim = self.limits
        need = [self.check_run(hp) for hp in hps]
        with self._lock:
            mine = [(rid, lv) for rid, lv in self._live.items() if lv.owner == owner]
            unfinished = len(mine) + len(hps)
            if unfinished > lim.runs_per_student:
                raise Refused(f"You would have {unfinished} unfinished runs (running, paused, queued "
                              f"or not started); this server allows {lim.runs_per_student} per "
                              "student. Stop or finish one first.")
            mine_bytes = sum(lv.memory for _, lv in mine) + sum(e.total for e in need)
            if mine_bytes > lim.student_memory:
                raise Refused(f"Your unfinished runs together would need ~{_gb(mine_bytes)}; the "
                              f"server allows {_gb(lim.student_memory)} per student. Stop one of "
                              "them, or pick a smaller network.")
            server_bytes = sum(lv.memory for lv in self._live.values()) + sum(e.total for e in need)
            if server_bytes > lim.server_memory:
                raise Refused(f"The server is full right now: its runs would need ~{_gb(server_bytes)} "
                              f"of the {_gb(lim.server_memory)} it allows. Try again when some "
                              "runs have finished, or pick a smaller network.")
        return need[0].total if need else 0
