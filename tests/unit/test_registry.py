"""Runs by owner: isolation, double clicks, clean-up."""
import time

from core.config import HyperParams
from core.registry import Registry

HP = HyperParams.validate(subset=1000, depth=1, width="16", epochs=100, dropout=0)


def test_owners_only_see_their_runs():
    reg = Registry()
    run = reg.create("alice", HP)
    assert reg.get("alice", run.id) is run
    assert reg.get("bob", run.id) is None and reg.runs("bob") == []
    assert run.number == 1 and reg.create("alice", HP).number == 2
    assert [r.number for r in reg.runs("alice")] == [2, 1]


def test_start_new_twice_returns_the_active_run():
    reg = Registry()
    a = reg.start_new("alice", HP)
    b = reg.start_new("alice", HP)
    assert a is b and len(reg) == 1
    a.trainer.stop()
    a.trainer.wait(5)
    c = reg.start_new("alice", HP)
    assert c is not a
    c.trainer.stop()


def test_old_runs_are_evicted_but_never_an_active_one():
    reg = Registry()
    reg.MAX_RUNS_PER_OWNER = 2
    first = reg.start_new("alice", HP)
    for _ in range(3):
        reg.create("alice", HP)
    ids = [r.id for r in reg.runs("alice")]
    assert first.id in ids and len(ids) == 3
    first.trainer.stop()


def test_abandoned_runs_are_stopped_and_forgotten():
    reg = Registry()
    reg.ABANDON_SECONDS = 0.05
    run = reg.start_new("alice", HP)
    time.sleep(0.1)
    reg.cleanup()
    assert reg.get("alice", run.id) is None
    assert run.trainer.wait(5) and run.trainer.snapshot().state == "stopped"


def test_discard():
    reg = Registry()
    run = reg.create("alice", HP)
    reg.discard("bob", run.id)
    assert reg.get("alice", run.id) is run
    reg.discard("alice", run.id)
    assert reg.get("alice", run.id) is None
