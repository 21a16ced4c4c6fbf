"""The prediction challenge: the hidden set, scores computed on the server from stored weights,
the leaderboard (best per student, earlier first on ties), and what students may see."""
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from core.classroom.challenge import (
    HIDDEN_SIZE,
    MAX_SUBMISSIONS,
    Challenges,
    hidden_test_indices,
    score,
    shown_test_indices,
)
from core.classroom.classes import ClassError, Classroom
from core.classroom.rules import ClassRules
from core.drawing import predict
from core.ledger import Ledger
from core.nn import data
from core.nn.config import HyperParams
from core.runs import RunService, WeightsUnavailable
from core.settings import Limits
from core.states import FINISHED, RUNNING


@dataclass
class FakeRun:
    """What Challenges.submit reads of a RunView, around a given model."""
    owner: str
    id: str
    number: int
    net: object
    state: str = FINISHED
    dataset: str = "mnist"

    @property
    def hp(self):
        return HyperParams.validate(dataset=self.dataset, depth=2, width="512,256")

    def snapshot(self):
        return type("Snap", (), {"state": self.state})()

    def model(self):
        if self.net is None:
            raise WeightsUnavailable("run #9 has no saved weights (it never trained)")
        return self.net


@pytest.fixture
def world(tmp_path):
    ledger = Ledger(tmp_path / "home")
    room, ch = Classroom(ledger), Challenges(ledger)
    cls = room.create_class("teacher", "A")
    for owner, name in (("s1", "Ada"), ("s2", "Bob"), ("s3", "Cy")):
        room.join(cls.join_code, owner, name)
    return room, ch, cls


def correct_on(model, x, y) -> int:
    """Independent of core: arg-max of the logits against the labels."""
    with torch.no_grad():
        return int((model(x).argmax(dim=1) == y).sum())


def test_the_hidden_part_is_fixed_disjoint_and_covers_every_digit():
    hidden, shown = hidden_test_indices(), shown_test_indices()
    assert len(hidden) == HIDDEN_SIZE == 2000 and len(shown) == 8000
    assert hidden.tolist() == sorted(set(hidden.tolist()))
    assert set(hidden.tolist()) | set(shown.tolist()) == set(range(10000))
    assert not set(hidden.tolist()) & set(shown.tolist())
    # the same images on every server and every day (a change must be deliberate)
    assert hidden[:8].tolist() == [1, 7, 12, 13, 19, 25, 27, 33] and int(hidden.sum()) == 9991583
    y = data.load("mnist").test_y[hidden]
    assert all(150 <= int((y == k).sum()) <= 260 for k in range(10))


def test_the_default_model_scores_its_known_accuracy():
    ds, model = data.load("mnist"), predict.default_model()
    hidden, shown = hidden_test_indices(), shown_test_indices()
    s = score(model, ds.test_x[hidden], ds.test_y[hidden])
    assert s.total == 2000 and s.correct == correct_on(model, ds.test_x[hidden], ds.test_y[hidden])
    assert s.confusion.sum() == 2000 and np.trace(s.confusion) == s.correct
    assert s.confusion.sum(axis=1).tolist() == torch.bincount(ds.test_y[hidden], minlength=10).tolist()
    # hidden + shown = the whole test set: the default model's published 99.04 %
    both = s.correct + correct_on(model, ds.test_x[shown], ds.test_y[shown])
    assert both == round(predict.default_meta()["test_accuracy"] * 10000) == 9904
    assert 0.97 < s.accuracy < 1.0


def test_submissions_and_the_leaderboard(world):
    room, ch, cls = world
    good = predict.default_model()
    weak = torch.nn.Sequential(torch.nn.Linear(784, 10)).eval()      # untrained: near chance
    torch.nn.init.zeros_(weak[0].weight)
    with pytest.raises(ClassError, match="no open challenge"):
        ch.submit("s1", FakeRun("s1", "r1", 1, good))
    challenge = ch.open(cls.id)
    assert ch.current(cls.id) == challenge and challenge.describe == "2,000 hidden MNIST test digits"
    a1 = ch.submit("s1", FakeRun("s1", "a1", 1, weak))
    b1 = ch.submit("s2", FakeRun("s2", "b1", 1, good))
    a2 = ch.submit("s1", FakeRun("s1", "a2", 2, good))             # Ada ties with Bob, later
    assert ch.submit("s1", FakeRun("s1", "a2", 2, weak)).id == a2.id   # the same run again: its first score
    ds = data.load("mnist")
    x, y = ds.test_x[hidden_test_indices()], ds.test_y[hidden_test_indices()]
    assert a1.correct == correct_on(weak, x, y) and b1.correct == a2.correct == correct_on(good, x, y)
    board = ch.leaderboard(challenge)
    assert [(s.rank, s.name, s.submission.id, s.submissions) for s in board] == [
        (1, "Bob", b1.id, 1), (2, "Ada", a2.id, 2)]                  # tie: the earlier first
    assert (ch.class_confusion(challenge) == b1.confusion + a2.confusion).all()


def test_what_cannot_be_submitted(world):
    room, ch, cls = world
    good = predict.default_model()
    ch.open(cls.id)
    with pytest.raises(ClassError, match="only submit your own"):
        ch.submit("s1", FakeRun("s2", "x", 1, good))
    with pytest.raises(ClassError, match="Only a finished run.*running"):
        ch.submit("s1", FakeRun("s1", "x", 1, good, state=RUNNING))
    with pytest.raises(ClassError, match="learned Fashion-MNIST"):
        ch.submit("s1", FakeRun("s1", "x", 1, good, dataset="fashion"))
    with pytest.raises(ClassError, match="cannot be scored: run #9 has no saved weights"):
        ch.submit("s1", FakeRun("s1", "x", 1, None))
    with pytest.raises(ClassError, match="Join a class"):
        ch.submit("outsider", FakeRun("outsider", "x", 1, good))
    for i in range(MAX_SUBMISSIONS):
        ch.submit("s3", FakeRun("s3", f"c{i}", i, good))
    with pytest.raises(ClassError, match=f"{MAX_SUBMISSIONS} submissions"):
        ch.submit("s3", FakeRun("s3", "one-more", 99, good))
    ch.close(cls.id)
    with pytest.raises(ClassError, match="no open challenge"):
        ch.submit("s1", FakeRun("s1", "late", 1, good))


def test_the_hidden_part_is_left_out_of_students_test_figures_while_open(world):
    room, ch, cls = world
    assert ch.visible_test_indices("s1", "mnist") is None
    ch.open(cls.id)
    shown = ch.visible_test_indices("s1", "mnist")
    assert shown.tolist() == shown_test_indices().tolist()
    assert ch.visible_test_indices("s1", "fashion") is None       # another data set: untouched
    assert ch.visible_test_indices("teacher", "mnist") is None    # not a student of the class
    ch.close(cls.id)
    assert ch.visible_test_indices("s1", "mnist") is None


def test_a_challenge_on_the_class_drawings_is_frozen_when_it_opens(world):
    room, ch, cls = world
    ds, model = data.load("mnist"), predict.default_model()
    images = (ds.train_x[:14].reshape(-1, 28, 28).numpy())
    labels = ds.train_y[:14].tolist()
    for i in range(9):
        ch.drawings.add("s1", images[i], images[i], labels[i])
    with pytest.raises(ClassError, match="needs at least 10"):
        ch.open(cls.id, "drawings")
    for i in range(9, 12):
        ch.drawings.add("s2", images[i], images[i], labels[i])
    challenge = ch.open(cls.id, "drawings")
    ch.drawings.add("s3", images[12], images[12], labels[12])     # after opening: not in this one
    s = ch.submit("s3", FakeRun("s3", "r", 1, model))
    x = torch.from_numpy(np.round(images[:12] * 255).astype(np.uint8).reshape(12, 784).astype(np.float32) / 255)
    assert s.total == 12 and s.correct == correct_on(model, x, torch.tensor(labels[:12]))
    assert challenge.describe == "the class's own 12 drawings"
    assert ch.visible_test_indices("s1", "mnist") is None          # the test set is not involved


def test_a_real_run_is_scored_from_its_stored_weights(tmp_path):
    led = Ledger(tmp_path / "home")
    svc = RunService(led, rules=ClassRules(led),
                     limits=Limits.defaults().replace(training_cores=1, threads_per_run=1))
    try:
        room, ch = Classroom(svc.ledger), Challenges(svc.ledger)
        cls = room.create_class("t", "A")
        room.join(cls.join_code, "s1", "Ada")
        ch.open(cls.id)
        hp = HyperParams.validate(subset=2000, depth=1, width="64", epochs=1, batch_size=50, dropout=0.0)
        run = svc.submit("s1", hp, class_id=cls.id)
        assert svc.wait(run.id, 60)
        svc.flush_checkpoints()
        # a restarted server: the weights come from the checkpoint file
        again = RunService(svc.ledger, limits=svc.limits, rules=ClassRules(svc.ledger))
        try:
            view = again.get("s1", run.id)
            sub = Challenges(again.ledger).submit("s1", view)
            ds = data.load("mnist")
            idx = hidden_test_indices()
            assert sub.correct == correct_on(view.model(), ds.test_x[idx], ds.test_y[idx])
            assert 0.5 < sub.accuracy < 1 and sub.settings == hp.to_dict() and sub.run_number == 1
        finally:
            again.close()
    finally:
        svc.close()
