"""Who may train what: the rules a run is admitted under, injected into the run service.

The run service applies one `Rules` object to every run it creates, whether submitted, continued
or fed by a sweep, so no route skips them. It knows nothing of classes: the web app and the CLI
give it `core.classroom.rules.ClassRules` (a lesson's locks, a class's limits, the test images an
open challenge hides); a service without classes uses `Open`.
"""
from __future__ import annotations

from typing import NamedTuple, Protocol

import torch

from core.nn.config import HyperParams


class Admitted(NamedTuple):
    hp: HyperParams                      # the settings to train (a lesson's locks applied)
    class_id: str | None                 # the class to tag the run with
    test_indices: torch.Tensor | None    # the test images its figures may use (None: all)


class Rules(Protocol):
    def admit(self, owner: str, hp: HyperParams, class_id: str | None) -> Admitted:
        """The run `owner` may train for `hp`, or runs.Refused with the reason."""
        ...


class Open:
    """No classes: every run as asked, scored on the whole test set."""

    def admit(self, owner: str, hp: HyperParams, class_id: str | None) -> Admitted:
        return Admitted(hp, class_id, None)
