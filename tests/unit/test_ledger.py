"""The run ledger: records, curves, weights, crashes, retention, concurrency. Always in tmp_path."""
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from core.ledger import Ledger, LedgerError, RunRecord
from core.nn.history import Curves
from core.states import FAILED, FINISHED, IDLE, INTERRUPTED, PAUSED, QUEUED, RUNNING, STOPPED

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(tmp_path / "home")
    yield led
    led.close()


def run(led, owner="alice", state=IDLE, created=None, **kw) -> RunRecord:
    number = led.next_number(owner)
    rec = RunRecord(id=f"{owner}-{number}", owner=owner, number=number, config={"lr": 0.01, "width": "128"},
                    state=state, created=time.time() if created is None else created, **kw)
    led.add_run(rec)
    return rec


def steps(a, b, val=(), events=()) -> Curves:
    """Steps a..b (inclusive) with loss = 1/step, acc = step/1000; validation at the steps `val`."""
    s = list(range(a, b + 1))
    return Curves(step=s, loss=[1 / k for k in s], acc=[k / 1000 for k in s],
                  val_step=list(val), val_loss=[2 / k for k in val], val_acc=[k / 2000 for k in val],
                  val_full=[k % 2 == 0 for k in val],
                  events=[{"step": k, "kind": "lr", "text": f"lr at {k}"} for k in events])


def python(*code_lines, **kw):
    return subprocess.run([sys.executable, "-c", "\n".join(code_lines)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, **kw)


# -- the folder, the schema ------------------------------------------------------------------------

def test_default_home_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_PLAYGROUND_HOME", str(tmp_path / "data"))
    led = Ledger()
    assert led.home == tmp_path / "data" and led.path == tmp_path / "data" / "ledger.sqlite3"
    assert led.path.is_file() and (tmp_path / "data" / "weights").is_dir()
    assert led.connect().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert led.connect().execute("PRAGMA foreign_keys").fetchone()[0] == 1
    led.close()


def test_schema_version_is_stored_and_a_newer_ledger_is_refused(tmp_path):
    led = Ledger(tmp_path)
    assert led.connect().execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"
    led.close()
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as raw:
        raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    raw.close()
    with pytest.raises(LedgerError, match=r"newer version of the app \(schema 99"):
        Ledger(tmp_path)


def test_a_file_that_is_not_a_ledger_gives_a_clear_message(tmp_path):
    (tmp_path / "ledger.sqlite3").write_bytes(b"this is not a database, it is a shopping list" * 100)
    with pytest.raises(LedgerError, match="ledger.sqlite3"):
        Ledger(tmp_path)


def test_other_modules_add_their_tables(ledger, tmp_path):
    sql = "CREATE TABLE IF NOT EXISTS drawings (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, png BLOB)"
    ledger.ensure_schema(sql)
    ledger.ensure_schema(sql)
    with ledger.transaction() as c:
        c.execute("INSERT INTO drawings (owner, png) VALUES ('alice', x'89')")
    with pytest.raises(ZeroDivisionError):
        with ledger.transaction() as c:
            c.execute("INSERT INTO drawings (owner) VALUES ('bob')")
            1 / 0                                   # rolled back: bob's row is not kept
    again = Ledger(ledger.home)
    again.ensure_schema(sql)
    rows = again.connect().execute("SELECT owner FROM drawings").fetchall()
    assert [tuple(r) for r in rows] == [("alice",)] and rows[0]["owner"] == "alice"   # sqlite3.Row
    again.close()


# -- records ---------------------------------------------------------------------------------------

def test_a_record_round_trips_through_a_restart(ledger):
    rec = run(ledger, state=RUNNING, name="σ 0.1", note="first try", dataset="fashion", started=12.5,
              train_loss=float("nan"), val_loss=float("inf"), best_val_accuracy=0.9, best_val_epoch=3,
              params=101_770, checkpoint_step=469, sweep_id="sw1", class_id="c1", parent_id="p1",
              live={"lr": 0.001, "momentum": 0.9, "weight_decay": 0.0})
    rec.config = {"lr": 0.01, "width": "128", "nested": {"a": [1, 2]}}
    ledger.update_run(rec.id, config=rec.config)
    back = Ledger(ledger.home).get_run(rec.id)
    assert math.isnan(back.train_loss)               # a diverged run's NaN stays NaN (SQLite would store NULL)
    back.train_loss = rec.train_loss = 0.0
    assert back == rec and back.val_loss == math.inf


def test_update_run_changes_only_known_fields(ledger):
    rec = run(ledger)
    ledger.update_run(rec.id, state=FINISHED, test_accuracy=0.97, ended=100.0, live={"lr": 0.5})
    got = ledger.get_run(rec.id)
    assert (got.state, got.test_accuracy, got.ended, got.live) == (FINISHED, 0.97, 100.0, {"lr": 0.5})
    with pytest.raises(ValueError, match="accuracy"):
        ledger.update_run(rec.id, accuracy=0.5)
    with pytest.raises(ValueError, match="id"):
        ledger.update_run(rec.id, id="other")
    ledger.update_run("no-such-run", state=FINISHED)   # deleted meanwhile: ignored
    assert ledger.get_run("no-such-run") is None


def test_numbers_are_per_owner_and_never_reused(ledger):
    assert [run(ledger).number for _ in range(3)] == [1, 2, 3]
    ledger.delete_run("alice-3")
    assert ledger.next_number("alice") == 4
    assert ledger.next_number("bob") == 1
    ledger.add_run(RunRecord(id="imported", owner="carol", number=10, config={}))
    assert ledger.next_number("carol") == 11
    with pytest.raises(ValueError, match="already in the ledger"):
        ledger.add_run(RunRecord(id="imported", owner="carol", number=12, config={}))


def test_list_runs_filters_and_puts_the_newest_first(ledger):
    a1 = run(ledger, "alice", created=1.0, state=FINISHED, sweep_id="s")
    b1 = run(ledger, "bob", created=2.0, state=RUNNING, class_id="c")
    a2 = run(ledger, "alice", created=3.0, state=RUNNING, sweep_id="s", class_id="c")
    ids = lambda rs: [r.id for r in rs]
    assert ids(ledger.list_runs()) == [a2.id, b1.id, a1.id]
    assert ids(ledger.list_runs("alice")) == [a2.id, a1.id]
    assert ids(ledger.list_runs(sweep_id="s")) == [a2.id, a1.id]
    assert ids(ledger.list_runs(class_id="c")) == [a2.id, b1.id]
    assert ids(ledger.list_runs(states=[RUNNING])) == [a2.id, b1.id]
    assert ids(ledger.list_runs("alice", states=(RUNNING,), class_id="c")) == [a2.id]
    assert ledger.list_runs(states=()) == [] and ledger.list_runs("nobody") == []


# -- curves ----------------------------------------------------------------------------------------

def test_curves_come_back_in_order_with_nan_and_events(ledger):
    rec = run(ledger)
    ledger.append(rec.id, steps(1, 3, val=[2], events=[1]))
    d = steps(4, 6, val=[6])
    d.loss[1] = float("nan")
    d.events.append({"step": 6, "kind": "early_stop", "text": "best at 4", "epoch": 2})
    ledger.append(rec.id, d, step=6, train_loss=0.25)
    c = ledger.load_curves(rec.id)
    assert c.step == [1, 2, 3, 4, 5, 6] and c.acc == [k / 1000 for k in range(1, 7)]
    assert c.loss[:4] == [1, 1 / 2, 1 / 3, 1 / 4] and math.isnan(c.loss[4]) and c.loss[5] == 1 / 6
    assert (c.val_step, c.val_loss, c.val_acc, c.val_full) == ([2, 6], [1.0, 1 / 3], [0.001, 0.003], [True, True])
    assert c.events == [{"step": 1, "kind": "lr", "text": "lr at 1"},
                        {"step": 6, "kind": "early_stop", "text": "best at 4", "epoch": 2}]
    assert (ledger.get_run(rec.id).step, ledger.get_run(rec.id).train_loss) == (6, 0.25)
    tail = ledger.load_curves(rec.id, since=(4, 1, 1))   # what a page that has seen 4 steps still needs
    assert tail.step == [5, 6] and tail.val_step == [6] and [e["step"] for e in tail.events] == [6]
    assert ledger.load_curves("unknown") == Curves()


def test_an_append_is_one_transaction(ledger):
    rec = run(ledger)
    ledger.append(rec.id, steps(1, 2))
    bad = steps(3, 4, val=[4], events=[4])
    bad.events[0]["text"] = object()                  # fails after the steps were inserted
    with pytest.raises(sqlite3.Error):
        ledger.append(rec.id, bad, step=4)
    c = ledger.load_curves(rec.id)
    assert (c.step, c.val_step, c.events, ledger.get_run(rec.id).step) == ([1, 2], [], [], 0)
    with pytest.raises(ValueError, match="as many losses"):
        ledger.append(rec.id, Curves(step=[3], loss=[], acc=[]))
    ledger.append("deleted-meanwhile", steps(1, 2))   # ignored, no error


def test_truncate_forgets_what_a_continued_run_will_redo(ledger):
    rec = run(ledger)
    for a, b in ((1, 3), (4, 6), (7, 9), (10, 10)):
        ledger.append(rec.id, steps(a, b, val=[k for k in (5, 10) if a <= k <= b],
                                    events=[k for k in (3, 8) if a <= k <= b]))
    ledger.truncate_curves(rec.id, 5)
    c = ledger.load_curves(rec.id)
    assert (c.step, c.val_step, [e["step"] for e in c.events]) == ([1, 2, 3, 4, 5], [5], [3])
    ledger.append(rec.id, steps(6, 7))
    assert ledger.load_curves(rec.id).step == list(range(1, 8))
    assert ledger.load_curves(rec.id, since=(5, 1, 1)).step == [6, 7]


def test_a_million_steps_store_and_load_quickly(ledger):
    rec = run(ledger)
    t = time.perf_counter()
    for a in range(1, 1_000_000, 50_000):
        ledger.append(rec.id, steps(a, a + 49_999))
    stored = time.perf_counter() - t
    t = time.perf_counter()
    c = ledger.load_curves(rec.id)
    loaded = time.perf_counter() - t
    assert len(c.step) == 1_000_000 and c.step[-1] == 1_000_000 and c.loss[999] == 1 / 1000
    assert stored < 10 and loaded < 5, (stored, loaded)      # bench_ledger: load ~0.65 s on a busy 2-core machine
    times = []
    for k in range(50):
        t = time.perf_counter()
        ledger.append(rec.id, steps(1_000_001 + 1000 * k, 1_001_000 + 1000 * k))
        times.append(time.perf_counter() - t)
    assert sorted(times)[25] < 0.05, times                    # ~1 ms on this machine


# -- readers and the writer at the same time (WAL) ------------------------------------------------

def test_a_reader_never_blocks_the_writer_and_sees_a_consistent_snapshot(ledger):
    rec = run(ledger)
    ledger.append(rec.id, steps(1, 10))
    reader = ledger.connect()
    reader.execute("BEGIN")                            # a page in the middle of a read
    assert reader.execute("SELECT sum(n) FROM step_chunks").fetchone()[0] == 10
    took = []

    def write():
        t = time.perf_counter()
        ledger.append(rec.id, steps(11, 20), step=20)
        took.append(time.perf_counter() - t)

    w = threading.Thread(target=write)
    w.start()
    w.join(10)
    assert took and took[0] < 1.0, took                # not waiting for the reader (busy timeout is 30 s)
    assert reader.execute("SELECT sum(n) FROM step_chunks").fetchone()[0] == 10   # still its snapshot
    reader.execute("COMMIT")
    assert len(ledger.load_curves(rec.id).step) == 20 and ledger.get_run(rec.id).step == 20


def test_one_writer_and_page_threads_run_together(ledger):
    rec = run(ledger, state=RUNNING)
    done, errors, reads, latencies = threading.Event(), [], [0, 0], []

    def writer():
        try:
            for k in range(60):
                t = time.perf_counter()
                ledger.append(rec.id, steps(1000 * k + 1, 1000 * k + 1000, val=[1000 * k + 1000]),
                              step=1000 * k + 1000)
                latencies.append(time.perf_counter() - t)
                time.sleep(0.002)
        except Exception as e:
            errors.append(e)
        finally:
            done.set()

    def page(i):
        seen = 0
        try:
            while not done.is_set():
                c = ledger.load_curves(rec.id)
                n = len(c.step)
                assert n == len(c.loss) == len(c.acc) and n % 1000 == 0 and n >= seen
                assert c.step == list(range(1, n + 1)) and len(c.val_step) == n // 1000
                got = ledger.get_run(rec.id)
                assert got.step >= n                     # committed with or after the points
                assert [r.id for r in ledger.list_runs("alice")] == [rec.id]
                seen = n
                reads[i] += 1
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=page, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert min(reads) >= 5, reads
    assert len(latencies) == 60 and sorted(latencies)[30] < 0.1, latencies
    assert len(ledger.load_curves(rec.id).step) == 60_000


# -- weights ---------------------------------------------------------------------------------------

def checkpoint(step: int) -> dict:
    torch.manual_seed(step)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    import random
    return {"step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "torch_rng": torch.get_rng_state(), "python_rng": random.getstate()}


def test_weights_round_trip_and_are_removed_with_the_run(ledger):
    rec = run(ledger)
    ck = checkpoint(7)
    size = ledger.save_weights(ledger.checkpoint_path(rec.id), ck)
    ledger.save_weights(ledger.best_path(rec.id), {"model": ck["model"]})
    assert ledger.checkpoint_path(rec.id) == ledger.home / "weights" / rec.id / "checkpoint.pt"
    assert size == ledger.checkpoint_path(rec.id).stat().st_size > 0
    back = ledger.load_weights(ledger.checkpoint_path(rec.id))
    assert back["step"] == 7 and back["python_rng"] == ck["python_rng"]
    assert torch.equal(back["model"]["weight"], ck["model"]["weight"])
    assert torch.equal(back["optimizer"]["state"][0]["exp_avg"], ck["optimizer"]["state"][0]["exp_avg"])
    assert ledger.usage("alice") == (1, size + ledger.best_path(rec.id).stat().st_size)
    ledger.append(rec.id, steps(1, 5, val=[5], events=[2]))
    ledger.delete_run(rec.id)
    assert ledger.get_run(rec.id) is None and not ledger.weights_dir(rec.id).exists()
    for table in ("step_chunks", "val_points", "events"):
        assert ledger.connect().execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


def test_a_run_id_never_reaches_outside_the_weights_folder(ledger):
    for bad in ("../x", "a/b", "..", "", "/etc"):
        with pytest.raises(ValueError, match="run id"):
            ledger.weights_dir(bad)


def test_a_crash_between_write_and_rename_leaves_the_old_file(ledger):
    rec = run(ledger)
    path = ledger.checkpoint_path(rec.id)
    ledger.save_weights(path, checkpoint(1))
    crash = python("import os, sys, torch",
                   "from core.ledger import Ledger",
                   f"led = Ledger({str(ledger.home)!r})",
                   "os.replace = lambda *a: os._exit(9)     # the process dies before the rename",
                   f"led.save_weights(led.checkpoint_path({rec.id!r}), {{'step': 2, 'w': torch.ones(1000)}})")
    assert crash.returncode == 9, crash.stderr
    assert ledger.load_weights(path)["step"] == 1
    leftovers = list(path.parent.glob(".checkpoint.pt.*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 4000   # the new file was complete, not renamed
    assert ledger.clean_weights(older_than=60) == []                 # too recent: may be a save in progress
    assert ledger.clean_weights(older_than=0) == leftovers
    assert ledger.load_weights(path)["step"] == 1 and list(path.parent.iterdir()) == [path]


def test_a_failed_save_keeps_the_old_file_and_no_temporary(ledger, monkeypatch):
    rec = run(ledger)
    path = ledger.checkpoint_path(rec.id)
    ledger.save_weights(path, checkpoint(1))

    def half_then_fail(obj, f):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_then_fail)
    with pytest.raises(LedgerError, match=r"could not save the weights of run #1 \(checkpoint\): No space left"):
        ledger.save_weights(path, checkpoint(2))
    assert list(path.parent.iterdir()) == [path] and ledger.load_weights(path)["step"] == 1


def test_missing_or_damaged_weights_give_a_clear_message(ledger):
    rec = run(ledger)
    path = ledger.checkpoint_path(rec.id)
    with pytest.raises(LedgerError, match=r"the weights of run #1 \(checkpoint\) are missing"):
        ledger.load_weights(path)
    ledger.save_weights(path, checkpoint(1))
    whole = path.read_bytes()
    for broken in (whole[: len(whole) // 2], b"", os.urandom(3000), b"\x80\x02}q\x00."):
        path.write_bytes(broken)
        with pytest.raises(LedgerError, match=r"the weights of run #1 \(checkpoint\) are damaged: checkpoint.pt"):
            ledger.load_weights(path)
    ledger.save_weights(ledger.best_path(rec.id), [1, 2, 3])
    with pytest.raises(LedgerError, match=r"run #1 \(best weights\) are damaged: best.pt holds a list"):
        ledger.load_weights(ledger.best_path(rec.id))


HOSTILE = '''
import os, pathlib
HERE = pathlib.Path(__file__).parent
if os.environ.get("HOSTILE_ARMED"):
    (HERE / "imported").write_text("the module was imported")
def fire():
    (HERE / "executed").write_text("code in the file ran")
    return {}
class Payload:
    def __reduce__(self):
        return (fire, ())
'''


def test_a_file_with_a_hostile_object_is_refused_without_running_it(ledger, tmp_path, monkeypatch):
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "hostile_payload_x7.py").write_text(HOSTILE)
    rec = run(ledger)
    path = ledger.checkpoint_path(rec.id)
    made = python("import sys, torch", f"sys.path.insert(0, {str(mods)!r})", "import hostile_payload_x7 as h",
                  f"import pathlib; pathlib.Path({str(path.parent)!r}).mkdir(parents=True)",
                  f"torch.save({{'model': {{}}, 'extra': h.Payload()}}, {str(path)!r})")
    assert made.returncode == 0, made.stderr
    monkeypatch.syspath_prepend(str(mods))           # importing it here WOULD succeed ...
    monkeypatch.setenv("HOSTILE_ARMED", "1")
    with pytest.raises(LedgerError, match=r"refused: checkpoint.pt holds a Python object \(hostile_payload_x7.fire\)"):
        ledger.load_weights(path)
    assert "hostile_payload_x7" not in sys.modules    # ... but it was never imported
    assert not (mods / "imported").exists() and not (mods / "executed").exists()

    class Shell:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'shell-ran'}",))

    torch.save({"x": Shell()}, ledger.best_path(rec.id))
    with pytest.raises(LedgerError, match=r"refused: best.pt holds a Python object \(\w+.system\)"):
        ledger.load_weights(ledger.best_path(rec.id))
    assert not (tmp_path / "shell-ran").exists()


# -- after a crash ---------------------------------------------------------------------------------

def test_active_runs_are_marked_interrupted_with_what_continue_will_do(ledger):
    with_ck = run(ledger, state=RUNNING, checkpoint_step=20, step=25)
    ledger.append(with_ck.id, steps(1, 30))           # the curves reached step 30 before the crash
    ledger.save_weights(ledger.checkpoint_path(with_ck.id), checkpoint(20))
    paused = run(ledger, state=PAUSED, step=7)
    queued = run(ledger, state=QUEUED)
    lost = run(ledger, state=RUNNING, checkpoint_step=10, step=12)   # its checkpoint file is gone
    done = run(ledger, state=FINISHED, ended=5.0)
    idle = run(ledger, state=IDLE)
    before = time.time()
    marked = Ledger(ledger.home).mark_interrupted()
    assert sorted(marked) == sorted([with_ck.id, paused.id, queued.id, lost.id])
    got = {r.id: r for r in ledger.list_runs()}
    assert got[with_ck.id].reason == ("the server stopped while this run was running (step 30); its curves "
                                      "are kept up to step 30; Continue resumes it from the checkpoint of step 20")
    assert got[paused.id].reason == ("the server stopped while this run was paused (step 7); its curves are "
                                     "kept up to step 7; no checkpoint: start it again")
    assert got[queued.id].reason.startswith("the server stopped while this run was waiting in the queue (step 0)")
    assert got[lost.id].reason.endswith("(step 12); its curves are kept up to step 12; "
                                        "its checkpoint file is missing: start it again")
    for rid in marked:
        assert got[rid].state == INTERRUPTED and got[rid].ended >= before
    assert got[with_ck.id].step == 30 and got[with_ck.id].checkpoint_step == 20
    assert (got[done.id].state, got[done.id].ended, got[idle.id].state) == (FINISHED, 5.0, IDLE)
    assert ledger.mark_interrupted() == []


def test_runs_of_another_live_process_are_left_alone_until_it_dies(ledger):
    cli = subprocess.Popen(
        [sys.executable, "-c", "\n".join([
            "import sys, time", "from core.ledger import Ledger, RunRecord",
            f"led = Ledger({str(ledger.home)!r})",
            "led.add_run(RunRecord(id='cli-1', owner='cli', number=1, config={}, state='running', created=1.0))",
            "print('training', flush=True)", "time.sleep(120)"])],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert cli.stdout.readline().strip() == "training"
        assert ledger.mark_interrupted() == []          # a CLI sweep still training: not ours to mark
        assert ledger.get_run("cli-1").state == RUNNING
        os.kill(cli.pid, signal.SIGKILL)
        deadline = time.time() + 10                      # not reaped yet: a zombie counts as gone
        while ledger.mark_interrupted() == [] and time.time() < deadline:
            time.sleep(0.05)
        assert ledger.get_run("cli-1").state == INTERRUPTED
    finally:
        cli.kill()
        cli.wait()


# -- retention -------------------------------------------------------------------------------------

def weigh(led, rec, size):
    led.weights_dir(rec.id).mkdir(parents=True, exist_ok=True)
    (led.weights_dir(rec.id) / "checkpoint.pt").write_bytes(b"\0" * size)


def test_retention_deletes_the_oldest_ended_runs_first_and_never_an_active_one(ledger):
    r1 = run(ledger, state=FINISHED, created=1, ended=10)
    r2 = run(ledger, state=RUNNING, created=2)
    r3 = run(ledger, state=STOPPED, created=3, ended=5)    # created later, ended earlier than r1
    r4 = run(ledger, state=FAILED, created=4, ended=20)
    r5 = run(ledger, state=INTERRUPTED, created=5, ended=30)
    for rec, size in ((r1, 100), (r2, 1000), (r3, 300), (r4, 400), (r5, 500)):
        weigh(ledger, rec, size)
    assert ledger.usage("alice") == (5, 2300)
    limits = dict(server_max_runs=None, server_max_bytes=None)
    assert ledger.enforce_retention("alice", 3, None, **limits) == [r3.id, r1.id]
    assert not ledger.weights_dir(r3.id).exists() and ledger.usage("alice") == (3, 1900)
    assert ledger.enforce_retention("alice", 3, 1500, **limits) == [r4.id]
    assert ledger.usage("alice") == (2, 1500)
    assert ledger.enforce_retention("alice", 0, 0, **limits) == [r5.id]   # only the running one is left
    assert [r.id for r in ledger.list_runs("alice")] == [r2.id]


def test_retention_then_keeps_the_whole_server_within_its_limits(ledger):
    a = [run(ledger, "alice", state=FINISHED, created=k, ended=k) for k in (1, 4)]
    b = [run(ledger, "bob", state=FINISHED, created=k, ended=k) for k in (2, 3)]
    c = run(ledger, "carol", state=QUEUED, created=0)
    for rec in (*a, *b, c):
        weigh(ledger, rec, 10)
    deleted = ledger.enforce_retention("alice", 10, None, server_max_runs=3, server_max_bytes=None)
    assert deleted == [a[0].id, b[0].id]                 # oldest ended on the server, whoever owns them
    assert ledger.usage() == (3, 30)
    assert ledger.enforce_retention("bob", None, None, server_max_runs=None, server_max_bytes=15) == [b[1].id, a[1].id]
    assert [r.id for r in ledger.list_runs()] == [c.id]


# -- sweeps ----------------------------------------------------------------------------------------

def test_sweeps_are_kept(ledger):
    spec = {"grid": {"init_sigma": [0.01, 0.1]}, "seeds": 2}
    ledger.add_sweep("sw1", "alice", spec, created=1.0)
    ledger.add_sweep("sw2", "alice", {"preset": "depth"}, created=2.0)
    ledger.add_sweep("sw3", "bob", {}, created=3.0)
    ledger.update_sweep("sw1", state="finished", ended=9.0, result={"cells": [[0.1, None]]}, name="σ table")
    got = ledger.get_sweep("sw1")
    assert (got["spec"], got["state"], got["ended"], got["result"], got["name"]) == \
        (spec, "finished", 9.0, {"cells": [[0.1, None]]}, "σ table")
    assert [s["id"] for s in ledger.list_sweeps("alice")] == ["sw2", "sw1"]
    assert ledger.get_sweep("nope") is None
    with pytest.raises(ValueError, match="colour"):
        ledger.update_sweep("sw1", colour="red")
