"""The class rules the run service applies (core.runs.rules.Rules): a student's run gets the
lesson's locked settings and the class's limits (core.classroom.classes), and no test figure on
the images the class's open challenge hides (core.classroom.challenge)."""
from __future__ import annotations

from core.classroom.challenge import Challenges
from core.ledger import Ledger
from core.nn.config import HyperParams
from core.runs.rules import Admitted


class ClassRules:
    def __init__(self, ledger: Ledger):
        self.challenges = Challenges(ledger)

    def admit(self, owner: str, hp: HyperParams, class_id: str | None) -> Admitted:
        admitted = self.challenges.classroom.admit(owner, hp)
        visible = self.challenges.visible_test_indices(owner, admitted.hp.dataset)
        return Admitted(admitted.hp, class_id or admitted.class_id, visible)
