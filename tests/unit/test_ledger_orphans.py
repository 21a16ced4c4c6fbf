"""Nothing lost: an emptied, deleted or half-copied ledger never costs a run its weights, and a
normal stop leaves a ledger.sqlite3 that is a complete backup on its own (no -wal needed)."""
import os
import shutil
import time

import pytest
import torch

from core.ledger import Ledger, RunRecord
from core.runs import RunService
from core.states import FINISHED


def trained_run(led: Ledger, owner="alice") -> RunRecord:
    number = led.next_number(owner)
    rec = RunRecord(id=f"{owner}-{number}", owner=owner, number=number, config={"lr": 0.01},
                    state=FINISHED, created=time.time())
    led.add_run(rec)
    led.save_weights(led.checkpoint_path(rec.id), {"step": 7, "w": torch.arange(10.0)})
    return rec


def age(folder, seconds=3600):
    past = time.time() - seconds
    os.utime(folder, (past, past))


@pytest.mark.parametrize("damage", ["emptied", "deleted", "copied without its -wal"])
def test_a_ledger_that_lost_its_rows_sets_the_weights_aside_and_deletes_nothing(tmp_path, damage):
    home = tmp_path / "home"
    led = Ledger(home)
    recs = [trained_run(led) for _ in range(3)]
    if damage == "copied without its -wal":
        # The state an operator copies: the main file from before the runs, the rows only in -wal.
        shutil.copy(led.path, tmp_path / "old.sqlite3")
    led.close()
    for suffix in ("", "-wal", "-shm"):
        (home / f"ledger.sqlite3{suffix}").unlink(missing_ok=True)
    if damage == "emptied":
        (home / "ledger.sqlite3").write_bytes(b"")
    elif damage == "copied without its -wal":
        shutil.copy(tmp_path / "old.sqlite3", home / "ledger.sqlite3")
    for rec in recs:
        age(led.weights_dir(rec.id))

    svc = RunService(Ledger(home), supervise=False)
    try:
        assert svc.runs("alice") == []
        assert sorted(p.name for p in svc.orphaned) == sorted(r.id for r in recs)
        assert not any((home / "weights" / r.id).exists() for r in recs)
        for rec in recs:   # every file is still there, readable, in orphans/
            kept = Ledger(home).load_weights(home / "orphans" / rec.id / "checkpoint.pt")
            assert kept["step"] == 7 and torch.equal(kept["w"], torch.arange(10.0))
    finally:
        svc.close()


def test_a_folder_of_a_known_run_or_a_recent_folder_stays(tmp_path):
    led = Ledger(tmp_path / "home")
    known = trained_run(led)
    age(led.weights_dir(known.id))
    fresh = led.weights_root / "bob-1"        # a save of a run being added right now
    fresh.mkdir()
    old = led.weights_root / "carol-1"
    old.mkdir()
    age(old)
    assert led.set_aside_orphans() == [led.orphans_root / "carol-1"]
    assert led.weights_dir(known.id).is_dir() and fresh.is_dir() and not old.exists()
    assert led.load_weights(led.checkpoint_path(known.id))["step"] == 7
    (led.weights_root / "carol-1").mkdir()     # the same name set aside twice: both kept
    age(led.weights_root / "carol-1")
    [second] = led.set_aside_orphans()
    assert second.parent == led.orphans_root and second.name.startswith("carol-1.")
    assert (led.orphans_root / "carol-1").is_dir()
    led.close()


def test_after_a_normal_close_the_main_file_alone_holds_every_run(tmp_path):
    led = Ledger(tmp_path / "home")
    recs = [trained_run(led) for _ in range(4)]
    led.close()
    assert not (led.home / "ledger.sqlite3-wal").exists() or (led.home / "ledger.sqlite3-wal").stat().st_size == 0
    backup = tmp_path / "backup"
    backup.mkdir()
    shutil.copy(led.path, backup / "ledger.sqlite3")   # only the one file
    copy = Ledger(backup)
    assert [r.id for r in copy.list_runs("alice")] == [r.id for r in reversed(recs)] or \
        sorted(r.id for r in copy.list_runs("alice")) == sorted(r.id for r in recs)
    copy.close()


def test_the_service_closes_its_ledger_into_one_file(tmp_path):
    home = tmp_path / "home"
    svc = RunService(Ledger(home), supervise=False)
    trained_run(svc.ledger)
    svc.close()
    wal = home / "ledger.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0
