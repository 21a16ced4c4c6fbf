"""A run with a handle in this process, as the service keeps it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Live:
    """A run with a handle in this process (training, waiting, paused, or recently ended)."""
    handle: object
    cursor: tuple[int, int, int] = (0, 0, 0)      # how far its curves are in the ledger
    arrived: float | None = None                  # when it began waiting for a slot
    checkpoint_step: int | None = None
    recorded_state: str = ""
    memory: int = 0
    owner: str = ""
