"""Who trains next: a fair queue over the runs that are waiting for a training slot.

First come, first served *across students*: a waiting run's rank is the number of runs its owner
already has training, or waiting ahead of it. So a student's second run waits behind every other
student's first one, and one student starting ten runs cannot push a class back ten places.
Within a rank, earlier arrival goes first. A run arrives when it starts wanting a slot (started,
resumed, or a Step pressed); pausing gives the slot back, and resuming arrives anew.
"""
from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass

DEFAULT_SAMPLES_PER_SECOND = 3000.0   # a guess for the wait estimate before any run has a speed


@dataclass(frozen=True)
class Waiting:
    run_id: str
    owner: str
    arrived: float           # when it started waiting (any monotonic clock)
    samples_left: int = 0    # work it will need once it trains (for the wait estimate)


def fair_order(waiting: list[Waiting], training_owners: list[str]) -> list[Waiting]:
    """The waiting runs in the order they get slots. `training_owners`: the owner of each run
    that holds a slot now."""
    count = Counter(training_owners)
    ranked = []
    for w in sorted(waiting, key=lambda w: (w.arrived, w.run_id)):
        ranked.append((count[w.owner], w.arrived, w.run_id, w))
        count[w.owner] += 1
    return [t[-1] for t in sorted(ranked, key=lambda t: t[:3])]


def estimated_waits(queue: list[Waiting], slots: int, training_seconds_left: list[float],
                    samples_per_second: float | None) -> list[float]:
    """Seconds until each queued run (in queue order) gets a slot: the slots free up as the
    training runs finish, and each run ahead then holds one for its own length."""
    speed = samples_per_second or DEFAULT_SAMPLES_PER_SECOND
    free_at = sorted(training_seconds_left)[:slots]
    free_at += [0.0] * (slots - len(free_at))
    heapq.heapify(free_at)
    waits = []
    for w in queue:
        start = heapq.heappop(free_at)
        waits.append(start)
        heapq.heappush(free_at, start + w.samples_left / speed)
    return waits
