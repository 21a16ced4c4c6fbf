"""The class rules are one object the run service applies on every route: a new run and a
continued one alike (a continued student run is never scored on a challenge's hidden images)."""
import time

import pytest
import torch

from core.classroom.challenge import Challenges, shown_test_indices
from core.classroom.classes import Classroom, Lesson
from core.classroom.rules import ClassRules
from core.executors.local import LocalExecutor
from core.ledger import Ledger
from core.nn import data
from core.nn.config import HyperParams
from core.runs import Refused, RunService
from core.runs.rules import Admitted, Open
from core.settings import Limits

LIMITS = Limits.defaults().replace(training_cores=1, threads_per_run=1)
HP = HyperParams.validate(subset=1000, depth=1, width="32", epochs=200, batch_size=100, dropout=0.0)


class Spy(LocalExecutor):
    """The local executor, keeping what each run was created with."""

    def __init__(self, limits):
        super().__init__(limits)
        self.created = []

    def create(self, run_id, hp, **kw):
        self.created.append((run_id, kw.get("test_indices"), kw.get("resume") is not None))
        return super().create(run_id, hp, **kw)


def wait_until(cond, timeout=60):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


@pytest.fixture
def classroom(tmp_path):
    led = Ledger(tmp_path / "home")
    spy = Spy(LIMITS)
    svc = RunService(led, executor=spy, limits=LIMITS, rules=ClassRules(led))
    room = Classroom(led)
    cls = room.create_class("teacher", "A")
    room.join(cls.join_code, "s1", "Ada")
    Challenges(led).open(cls.id)
    yield svc, spy, cls
    svc.close()


def test_a_continued_student_run_is_scored_on_the_visible_images_only(classroom):
    svc, spy, cls = classroom
    visible = shown_test_indices(len(data.load("mnist").test_y))
    run = svc.submit("s1", HP)
    wait_until(lambda: run.snapshot().step >= 2)
    svc.stop("s1", run.id)
    assert svc.wait(run.id, 30) and svc.flush_checkpoints()
    svc.continue_run("s1", run.id)
    svc.stop("s1", run.id)
    assert svc.wait(run.id, 30)
    assert [(rid, resumed) for rid, _, resumed in spy.created] == [(run.id, False), (run.id, True)]
    for _, indices, _ in spy.created:     # new and continued: the hidden images are never used
        assert indices is not None and torch.equal(indices, visible)
    assert svc.ledger.get_run(run.id).class_id == cls.id


def test_a_continued_run_whose_settings_the_lesson_now_fixes_is_refused(classroom):
    svc, spy, cls = classroom
    run = svc.submit("s1", HP)
    wait_until(lambda: run.snapshot().step >= 2)
    svc.stop("s1", run.id)
    assert svc.wait(run.id, 30) and svc.flush_checkpoints()
    room = Classroom(svc.ledger)
    # the teacher hands out a lesson that fixes everything at a narrower network
    room.set_lesson(cls.id, Lesson(settings=HP.replace(width="16").to_dict()))
    with pytest.raises(Refused, match="lesson fixes"):
        svc.continue_run("s1", run.id)


def test_without_rules_a_run_trains_as_asked_on_every_test_image(tmp_path):
    led = Ledger(tmp_path / "home")
    spy = Spy(LIMITS)
    svc = RunService(led, executor=spy, limits=LIMITS)
    try:
        assert isinstance(svc.rules, Open)
        assert svc.rules.admit("s1", HP, None) == Admitted(HP, None, None)
        run = svc.submit("s1", HP, start=False)
        assert spy.created == [(run.id, None, False)]
    finally:
        svc.close()
