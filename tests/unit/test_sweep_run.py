"""Sweeps through the run service: fed within the limits, recorded, cancelled, reopened, refused
(the `python -m core.sweep` command line: tests/cli/test_sweep_cli.py)."""
import time

import pytest

from core import states
from core.classroom.rules import ClassRules
from core.ledger import Ledger
from core.nn.config import HyperParams
from core.runs import Refused, RunService
from core.settings import Limits
from core.sweeps.runner import open_sweep, run_sweep, start_sweep
from core.sweeps.spec import SweepSpec, parse_grid

TINY = dict(subset=500, depth=1, width="16", epochs=1, batch_size=100, dropout=0.0)


@pytest.fixture
def service(tmp_path):
    made = []

    def _make(headless=True, **limits):
        lim = Limits.defaults(headless=headless).replace(**{"training_cores": 1, "threads_per_run": 1, **limits})
        led = Ledger(tmp_path / "home")
        svc = RunService(led, limits=lim, headless=headless, rules=ClassRules(led))
        made.append(svc)
        return svc
    yield _make
    for svc in made:
        svc.close()


def test_a_sweep_trains_every_cell_and_records_itself(service):
    svc = service()
    spec = SweepSpec.build(HyperParams.validate(**TINY), [parse_grid("lr=0.001,0.01"), parse_grid("width=8,16")], seeds=2)
    sweep = run_sweep(svc, "alice", spec, poll=0.1)
    views = svc.runs("alice", sweep_id=sweep.id)
    assert len(views) == 8 and all(v.snapshot().state == states.FINISHED for v in views)
    assert sorted(v.name for v in views)[0] == "0.001 · 16 · seed 0"
    table = sweep.table()
    acc = [v.snapshot().test_accuracy for v in views if v.hp.lr == 0.01 and v.hp.width == "8"]
    assert table.cell("0.01", "8").mean == pytest.approx(sum(acc) / 2) and table.cell("0.01", "8").n == 2
    rec = svc.ledger.get_sweep(sweep.id)
    assert rec["state"] == states.FINISHED and rec["owner"] == "alice" and rec["ended"]
    assert rec["result"]["table"]["cells"][1][0]["mean"] == pytest.approx(sum(acc) / 2)
    assert SweepSpec.from_json(rec["spec"]) == spec


def test_the_runs_are_fed_within_the_per_student_limit(service):
    svc = service(runs_per_student=2)
    spec = SweepSpec.build(HyperParams.validate(**TINY), [parse_grid("lr=0.001,0.002,0.005,0.01,0.02")])
    sweep = start_sweep(svc, "bob", spec)
    most = 0
    while not sweep.wait(0.02):
        unfinished = [v for v in svc.runs("bob") if v.snapshot().state not in states.ENDED_STATES]
        most = max(most, len(unfinished))
    assert most <= 2 and len(svc.runs("bob", sweep_id=sweep.id)) == 5
    assert sweep.state == states.FINISHED


def test_a_web_server_sweep_leaves_one_run_for_the_train_page(service):
    svc = service(headless=False, runs_per_student=3)
    spec = SweepSpec.build(HyperParams.validate(**{**TINY, "subset": 5000, "epochs": 3}),
                           [parse_grid("lr=0.001,0.002,0.005,0.01")])
    sweep = start_sweep(svc, "carol", spec)
    try:
        time.sleep(1.0)
        own = svc.submit("carol", HyperParams.validate(**TINY))   # not refused: room was left
        assert own.sweep_id is None
    finally:
        sweep.cancel()


def test_cancel_stops_the_whole_sweep(service):
    svc = service()
    spec = SweepSpec.build(HyperParams.validate(**{**TINY, "subset": 20000, "epochs": 20}),
                           [parse_grid("lr=0.001,0.002,0.005,0.01")])
    sweep = start_sweep(svc, "dave", spec)
    deadline = time.monotonic() + 30
    while not any(v.snapshot().state == states.RUNNING for v in sweep.views()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sweep.cancel()
    views = sweep.views()
    assert 1 <= len(views) < 4                     # the rest were never submitted
    assert all(v.snapshot().state in states.ENDED_STATES for v in views)
    assert any(v.snapshot().state == states.STOPPED for v in views)
    assert sweep.state == states.STOPPED and svc.ledger.get_sweep(sweep.id)["state"] == states.STOPPED
    time.sleep(0.3)
    assert len(sweep.views()) == len(views)       # nothing submitted after the cancel
    assert sweep.table().cell("0.01").text() == "–"


def test_a_sweep_is_found_again_by_its_owner_only(service, tmp_path):
    svc = service()
    spec = SweepSpec.build(HyperParams.validate(**TINY), [parse_grid("lr=0.001,0.01")])
    sweep = run_sweep(svc, "erin", spec, poll=0.1)
    again = RunService(Ledger(tmp_path / "home"), headless=True)
    try:
        reopened = open_sweep(again, "erin", sweep.id)
        assert reopened.spec == spec and reopened.state == states.FINISHED
        assert reopened.table().to_json()["cells"] == sweep.table().to_json()["cells"]
        assert open_sweep(again, "mallory", sweep.id) is None and open_sweep(again, "erin", "nope") is None
    finally:
        again.close()


def test_a_sweep_too_large_is_refused_before_anything_is_submitted(service):
    svc = service(stored_runs_per_student=5)
    spec = SweepSpec.build(HyperParams.validate(**TINY), [parse_grid("lr=0.001,0.01"), parse_grid("width=8,16,32")])
    with pytest.raises(Refused, match="This sweep needs 6 runs; the server keeps 5 runs per student"):
        start_sweep(svc, "fred", spec)
    svc2 = service(student_memory=50 << 20)
    big = SweepSpec.build(HyperParams.validate(**{**TINY, "depth": 2, "width": "4096"}), [parse_grid("lr=0.001,0.01")])
    with pytest.raises(Refused, match="needs ~.* of memory; the server allows 50 MB per student"):
        start_sweep(svc2, "fred", big)
    assert svc.runs("fred") == [] and svc.ledger.list_sweeps("fred") == []


def test_a_sweep_on_a_missing_data_set_is_refused_with_the_fix(service, monkeypatch):
    import core.nn.data
    monkeypatch.setattr(core.nn.data, "available", lambda name: (name != "fashion", "Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist"))
    svc = service()
    spec = SweepSpec.build(HyperParams.validate(**TINY), [parse_grid("dataset=mnist,fashion")])
    with pytest.raises(Refused, match="Fashion-MNIST is not installed"):
        start_sweep(svc, "gina", spec)
    assert svc.runs("gina") == []


def test_a_sweep_over_what_a_class_lesson_fixes_is_refused(service):
    from core.classroom.classes import Classroom, make_lesson
    svc = service()
    room = Classroom(svc.ledger)
    cls = room.create_class("teacher-token", "5B")
    room.set_lesson(cls.id, make_lesson(HyperParams.validate(**TINY), allowed=("lr", "init", "init_sigma")))
    room.join(cls.join_code, "student-1", "Ann")
    fine = SweepSpec.build(HyperParams.validate(**TINY), [parse_grid("lr=0.001,0.01")])
    assert run_sweep(svc, "student-1", fine, poll=0.1).state == states.FINISHED
    locked = SweepSpec.build(HyperParams.validate(**TINY), [parse_grid("width=8,16")])
    with pytest.raises(Refused, match="Your class.s lesson fixes width=16: a sweep cannot change it"):
        start_sweep(svc, "student-1", locked)
