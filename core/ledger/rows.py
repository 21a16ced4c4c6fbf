"""The runs' rows: records, curve chunks, what a crash left running, and sweeps."""
from __future__ import annotations

import json
import shutil
import sqlite3
import time

import numpy as np

from core.ledger.process import process_alive, this_process
from core.ledger.records import RUN_FIELDS, SWEEP_FIELDS, RunRecord, _blob, _from_db, _to_db
from core.nn.history import Curves
from core.states import ACTIVE_STATES, INTERRUPTED, PAUSED, QUEUED


class RunRows:
    """Runs, curves, interruption after a crash and sweeps (a part of Ledger: uses its
    transactions and weight folders)."""

    # -- runs ---------------------------------------------------------------------------------------
    def next_number(self, owner: str) -> int:
        """The owner's next run number: 1, 2, 3 ... never reused, even after a delete."""
        with self.transaction() as c:
            c.execute("INSERT OR IGNORE INTO owners VALUES (?, 0)", (owner,))
            c.execute("UPDATE owners SET last_number = last_number + 1 WHERE owner = ?", (owner,))
            return c.execute("SELECT last_number FROM owners WHERE owner = ?", (owner,)).fetchone()[0]

    def add_run(self, rec: RunRecord) -> None:
        self._check_id(rec.id)
        values = {name: _to_db(name, getattr(rec, name)) for name in RUN_FIELDS}
        values["runner"] = this_process() if rec.state in ACTIVE_STATES else ""
        cols = ", ".join(values)
        try:
            with self.transaction() as c:
                c.execute(f"INSERT INTO runs ({cols}) VALUES ({', '.join('?' * len(values))})",
                          tuple(values.values()))
                c.execute("INSERT OR IGNORE INTO owners VALUES (?, 0)", (rec.owner,))
                c.execute("UPDATE owners SET last_number = max(last_number, ?) WHERE owner = ?",
                          (rec.number, rec.owner))
        except sqlite3.IntegrityError:
            raise ValueError(f"run {rec.id} (#{rec.number} of {rec.owner!r}) is already in the ledger") from None

    def update_run(self, run_id: str, **changes) -> None:
        """Change some of a run's fields (RunRecord's names; ValueError on any other). A run deleted
        meanwhile is ignored: the service's writer may race a user's delete."""
        with self.transaction() as c:
            self._update(c, run_id, changes)

    def _update(self, c: sqlite3.Connection, run_id: str, changes: dict) -> None:
        unknown = [k for k in changes if k not in RUN_FIELDS or k == "id"]
        if unknown:
            raise ValueError(f"not a field a run's record can change: {', '.join(unknown)}")
        if not changes:
            return
        values = {k: _to_db(k, v) for k, v in changes.items()}
        if "state" in changes:
            values["runner"] = this_process() if changes["state"] in ACTIVE_STATES else ""
        c.execute(f"UPDATE runs SET {', '.join(k + ' = ?' for k in values)} WHERE id = ?",
                  (*values.values(), run_id))

    def _record(self, row: sqlite3.Row) -> RunRecord:
        return RunRecord(**{name: _from_db(name, row[name]) for name in RUN_FIELDS})

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self.connect().execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._record(row) if row else None

    def list_runs(self, owner: str | None = None, *, sweep_id: str | None = None,
                  class_id: str | None = None, states=None) -> list[RunRecord]:
        """Runs matching every filter given, newest first."""
        where, args = [], []
        for col, value in (("owner", owner), ("sweep_id", sweep_id), ("class_id", class_id)):
            if value is not None:
                where.append(f"{col} = ?")
                args.append(value)
        if states is not None:
            states = tuple(states)
            where.append(f"state IN ({', '.join('?' * len(states))})" if states else "0")
            args += states
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.connect().execute(sql + " ORDER BY created DESC, number DESC", args).fetchall()
        return [self._record(r) for r in rows]

    def delete_run(self, run_id: str) -> None:
        """The run's rows (curves, events) and its weight folder."""
        self._delete(run_id, states=None)

    def _delete(self, run_id: str, states) -> bool:
        folder = self.weights_dir(run_id)
        with self.transaction() as c:
            if states is None:
                gone = c.execute("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount
            else:
                gone = c.execute(f"DELETE FROM runs WHERE id = ? AND state IN ({', '.join('?' * len(states))})",
                                 (run_id, *states)).rowcount
        if gone or states is None:
            shutil.rmtree(folder, ignore_errors=True)
        return bool(gone)

    # -- curves -----------------------------------------------------------------------------------
    def append(self, run_id: str, delta: Curves, **changes) -> None:
        """Add new training steps, validation points and events (and change the record's fields
        given, e.g. step=, train_loss=) in ONE transaction: a reader sees all of it or none.
        A run deleted meanwhile is ignored."""
        n = len(delta.step)
        if len(delta.loss) != n or len(delta.acc) != n:
            raise ValueError(f"a curve delta needs as many losses and accuracies as steps "
                             f"({n} steps, {len(delta.loss)} losses, {len(delta.acc)} accuracies)")
        v = len(delta.val_step)
        if not len(delta.val_loss) == len(delta.val_acc) == len(delta.val_full) == v:
            raise ValueError("a curve delta needs a loss, an accuracy and a 'full' flag per validation point")
        blobs = (_blob(delta.step, "<i8"), _blob(delta.loss, "<f8"), _blob(delta.acc, "<f8")) if n else None
        with self.transaction() as c:
            if c.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                return
            if n:
                last = c.execute("SELECT first + n FROM step_chunks WHERE run_id = ? ORDER BY first DESC "
                                 "LIMIT 1", (run_id,)).fetchone()     # the index's last entry, no scan
                first = last[0] if last else 0
                c.execute("INSERT INTO step_chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (run_id, first, n, int(max(delta.step)), *blobs))
            if v:
                seq = self._next_seq(c, "val_points", run_id)
                c.executemany("INSERT INTO val_points VALUES (?, ?, ?, ?, ?, ?)",
                              [(run_id, seq + i, int(s), _to_db("loss", float(l)), _to_db("acc", float(a)), int(bool(f)))
                               for i, (s, l, a, f) in enumerate(zip(delta.val_step, delta.val_loss,
                                                                   delta.val_acc, delta.val_full))])
            if delta.events:
                seq = self._next_seq(c, "events", run_id)
                rows = []
                for i, e in enumerate(delta.events):
                    extra = {k: x for k, x in e.items() if k not in ("step", "kind", "text")}
                    rows.append((run_id, seq + i, int(e["step"]), e["kind"], e["text"],
                                 json.dumps(extra) if extra else None))
                c.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
            self._update(c, run_id, changes)

    @staticmethod
    def _next_seq(c: sqlite3.Connection, table: str, run_id: str) -> int:
        return c.execute(f"SELECT coalesce(max(seq) + 1, 0) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[0]

    def load_curves(self, run_id: str, since: tuple[int, int, int] = (0, 0, 0)) -> Curves:
        """Everything stored for the run, in order; or only what comes after `since` = the numbers
        of (steps, validation points, events) the caller already has (as History.snapshot)."""
        s, v, e = since
        with self._snapshot() as c:
            chunks = c.execute(     # from the chunk that holds point s on (an index range, no scan)
                "SELECT first, step, loss, acc FROM step_chunks WHERE run_id = ?1 AND first >= coalesce("
                "(SELECT first FROM step_chunks WHERE run_id = ?1 AND first <= ?2 ORDER BY first DESC LIMIT 1), 0) "
                "ORDER BY first", (run_id, s)).fetchall()
            vals = c.execute("SELECT step, loss, acc, full FROM val_points WHERE run_id = ? "
                             "ORDER BY seq LIMIT -1 OFFSET ?", (run_id, v)).fetchall()
            events = c.execute("SELECT step, kind, text, extra FROM events WHERE run_id = ? "
                               "ORDER BY seq LIMIT -1 OFFSET ?", (run_id, e)).fetchall()
        out = Curves()
        if chunks:
            skip = s - chunks[0]["first"] if s > chunks[0]["first"] else 0
            for name, dtype in (("step", "<i8"), ("loss", "<f8"), ("acc", "<f8")):
                joined = np.concatenate([np.frombuffer(ch[name], dtype) for ch in chunks])
                setattr(out, name, joined[skip:].tolist())
        for r in vals:
            out.val_step.append(r["step"])
            out.val_loss.append(_from_db("loss", r["loss"]))
            out.val_acc.append(_from_db("acc", r["acc"]))
            out.val_full.append(bool(r["full"]))
        for r in events:
            out.events.append({"step": r["step"], "kind": r["kind"], "text": r["text"],
                               **(json.loads(r["extra"]) if r["extra"] else {})})
        return out

    def truncate_curves(self, run_id: str, after_step: int) -> None:
        """Forget the points and events after a step: a run continued from the checkpoint of that
        step redoes them, and its curves must read as if it had never stopped."""
        with self.transaction() as c:
            chunks = c.execute("SELECT first, step, loss, acc FROM step_chunks WHERE run_id = ? "
                               "AND max_step > ? ORDER BY first", (run_id, after_step)).fetchall()
            if chunks:
                cols = {name: np.concatenate([np.frombuffer(ch[name], dt) for ch in chunks])
                        for name, dt in (("step", "<i8"), ("loss", "<f8"), ("acc", "<f8"))}
                keep = cols["step"] <= after_step
                c.execute("DELETE FROM step_chunks WHERE run_id = ? AND first >= ?", (run_id, chunks[0]["first"]))
                if keep.any():
                    c.execute("INSERT INTO step_chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (run_id, chunks[0]["first"], int(keep.sum()), int(cols["step"][keep].max()),
                               *(cols[k][keep].tobytes() for k in ("step", "loss", "acc"))))
            c.execute("DELETE FROM val_points WHERE run_id = ? AND step > ?", (run_id, after_step))
            c.execute("DELETE FROM events WHERE run_id = ? AND step > ?", (run_id, after_step))

    def _last_step(self, c: sqlite3.Connection, run_id: str) -> int:
        last = c.execute("SELECT max_step FROM step_chunks WHERE run_id = ? ORDER BY first DESC LIMIT 1",
                         (run_id,)).fetchone()
        return last[0] if last else 0


    # -- after a crash --------------------------------------------------------------------------------
    def mark_interrupted(self, states=ACTIVE_STATES) -> list[str]:
        """At server start: every run left queued, running or paused by a process that is gone
        (or by this one) becomes "interrupted", with its curves kept and a reason saying what
        Continue will do. Runs that another live process (a CLI sweep) trains are left alone."""
        states = tuple(states)
        me, marked = this_process(), []
        with self.transaction() as c:
            rows = c.execute(f"SELECT * FROM runs WHERE state IN ({', '.join('?' * len(states))})",
                             states).fetchall()
            for row in rows:
                if row["runner"] and row["runner"] != me and process_alive(row["runner"]):
                    continue
                rec = self._record(row)
                step = max(rec.step, self._last_step(c, rec.id))
                doing = {QUEUED: "waiting in the queue", PAUSED: "paused"}.get(rec.state, rec.state)
                if rec.checkpoint_step is not None and self.checkpoint_path(rec.id).is_file():
                    then = f"Continue resumes it from the checkpoint of step {rec.checkpoint_step}"
                elif rec.checkpoint_step is not None:
                    then = "its checkpoint file is missing: start it again"
                else:
                    then = "no checkpoint: start it again"
                reason = (f"the server stopped while this run was {doing} (step {step}); "
                          f"its curves are kept up to step {step}; {then}")
                self._update(c, rec.id, dict(state=INTERRUPTED, reason=reason, step=step,
                                             ended=rec.ended if rec.ended is not None else time.time()))
                marked.append(rec.id)
        return marked


    # -- sweeps -----------------------------------------------------------------------------------
    def add_sweep(self, sweep_id: str, owner: str, spec: dict, created: float) -> None:
        with self.transaction() as c:
            c.execute("INSERT INTO sweeps (id, owner, created, spec) VALUES (?, ?, ?, ?)",
                      (sweep_id, owner, created, json.dumps(spec)))

    def _sweep(self, row: sqlite3.Row) -> dict:
        return {k: _from_db(k, row[k]) for k in SWEEP_FIELDS}

    def get_sweep(self, sweep_id: str) -> dict | None:
        row = self.connect().execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        return self._sweep(row) if row else None

    def list_sweeps(self, owner: str) -> list[dict]:
        """The owner's sweeps, newest first."""
        rows = self.connect().execute("SELECT * FROM sweeps WHERE owner = ? ORDER BY created DESC",
                                      (owner,)).fetchall()
        return [self._sweep(r) for r in rows]

    def update_sweep(self, sweep_id: str, **changes) -> None:
        """Change fields of a sweep: spec, name, note, state, ended, class_id, result (a dict)."""
        unknown = [k for k in changes if k not in SWEEP_FIELDS or k in ("id", "owner", "created")]
        if unknown:
            raise ValueError(f"not a field a sweep can change: {', '.join(unknown)}")
        if changes:
            with self.transaction() as c:
                c.execute(f"UPDATE sweeps SET {', '.join(k + ' = ?' for k in changes)} WHERE id = ?",
                          (*(_to_db(k, v) for k, v in changes.items()), sweep_id))
