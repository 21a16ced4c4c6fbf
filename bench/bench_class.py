"""What a class of 60 costs the server: the teacher's live table (every 2 s), the leaderboard
(every second), a student's page polling for lesson changes (every 2 s), and admission.

    python bench/bench_class.py [--students 60] [--runs 3] [--repeat 20]

Builds a class in a temporary data folder: N students, each with `runs` ended runs recorded in
the ledger (no training: the table's cost is reading, not training) and one submission each;
then times each piece (median and max of `repeat` calls) and prints what share of one core the
class's polling takes.
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["MNIST_PLAYGROUND_HOME"] = tempfile.mkdtemp(prefix="bench-class-")

import numpy as np  # noqa: E402

from core.classroom.challenge import Challenges  # noqa: E402
from core.classroom.classes import make_lesson  # noqa: E402
from core.ledger import RunRecord  # noqa: E402
from core.nn.config import HyperParams  # noqa: E402
from core.states import DIVERGED, FINISHED  # noqa: E402
from ui import class_widgets as cw  # noqa: E402
from ui import shared


def timed(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, max(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=60)
    ap.add_argument("--runs", type=int, default=3, help="ended runs per student")
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    svc = shared.service()
    room, chs = cw.room(), Challenges(svc.ledger)
    info = room.create_class(secrets.token_urlsafe(18), "Bench class")
    room.set_lesson(info.id, make_lesson(dict(depth=6, width="64", init="normal"), allowed=("init_sigma",)))
    ch = chs.open(info.id)
    rng = np.random.default_rng(0)
    students = []
    for i in range(args.students):
        who = secrets.token_urlsafe(18)
        room.join(info.join_code, who, f"Student {i:02d}")
        students.append(who)
        for n in range(1, args.runs + 1):
            sigma = float(rng.choice([0.01, 0.05, 0.1, 0.2, 0.5, 1.0]))
            hp = HyperParams.validate(depth=6, width="64", init="normal", init_sigma=sigma)
            state = DIVERGED if sigma >= 0.5 else FINISHED
            acc = None if state == DIVERGED else float(rng.uniform(0.1, 0.95))
            svc.ledger.add_run(RunRecord(
                id=secrets.token_hex(8), owner=who, number=n, config=hp.to_dict(), state=state,
                created=time.time(), class_id=info.id, test_accuracy=acc, best_val_accuracy=acc,
                reason="" if acc else "the loss grew past 1e4", epochs_done=8))
        with svc.ledger.transaction() as c:   # one submission each, as Challenges.submit stores it
            c.execute("INSERT INTO submissions (challenge_id, owner, run_id, run_number, settings, "
                      "submitted, correct, total, confusion) VALUES (?, ?, ?, 1, ?, ?, ?, 2000, ?)",
                      (ch.id, who, secrets.token_hex(8), '{"init_sigma": 0.1}', time.time(),
                       int(rng.integers(200, 1990)), "[" + ",".join(["[" + ",".join(["0"] * 10) + "]"] * 10) + "]"))
    print(f"class of {args.students} students, {args.students * args.runs} ended runs, "
          f"{args.students} submissions (median / max of {args.repeat} calls):")
    table = timed(lambda: cw.class_table(room.get(info.id)), args.repeat)
    board = timed(lambda: chs.leaderboard(ch), args.repeat)
    stamp = timed(lambda: cw.class_stamp(students[0]), args.repeat)
    admit = timed(lambda: room.admit(students[0], HyperParams.validate(init_sigma=0.1)), args.repeat)
    print(f"  teacher's table (every {2:.0f} s):        {table[0]:7.1f} ms / {table[1]:7.1f} ms")
    print(f"  leaderboard (every 1 s):             {board[0]:7.1f} ms / {board[1]:7.1f} ms")
    print(f"  a student's lesson poll (every 2 s): {stamp[0]:7.2f} ms / {stamp[1]:7.2f} ms")
    print(f"  admission of a student's run:        {admit[0]:7.2f} ms / {admit[1]:7.2f} ms")
    share = table[0] / 2000 + board[0] / 1000 + args.students * stamp[0] / 2000
    print(f"  polling load of the class: {share:.1%} of one core (table + board + {args.students} students)")
    svc.close()


if __name__ == "__main__":
    main()
