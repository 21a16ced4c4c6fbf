"""The prediction challenge: students submit finished runs, the server scores them on a labelled
set they never see, and a leaderboard keeps each student's best.

The hidden set is either
- a fixed part of a data set's test set (HIDDEN_SIZE images drawn once with a fixed seed, the same
  on every server), left out of every test figure a student of the class sees while the challenge
  is open (`visible_test_indices`), or
- the class's own drawings (core.classroom.drawings), frozen when the challenge opens.

Scores are computed here, from the run's stored weights (RunView.model()): nothing the browser
sends is taken as a score, and the labels never leave the server (students see their accuracy;
the per-class confusion is for the teacher).
"""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from core.analysis.diagnostics import confusion_matrix, predict
from core.classroom.classes import ClassError, Classroom
from core.ledger import Ledger
from core.nn import data
from core.nn.config import HyperParams
from core.runs import RunView, WeightsUnavailable
from core.states import FINISHED

HIDDEN_SIZE = 2000          # test images held out for challenges (of 10,000)
HIDDEN_SEED = 20_251_111    # fixed: the hidden part is the same on every server and every run
MAX_SUBMISSIONS = 10        # per student and challenge
MIN_DRAWINGS = 10           # a drawing challenge needs at least this many drawings
TEST_SOURCES = {"mnist": "hidden MNIST test digits", "fashion": "hidden Fashion-MNIST test images"}
DRAWINGS = "drawings"
SOURCE_DATASET = {"mnist": "mnist", "fashion": "fashion", DRAWINGS: "mnist"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS challenges (
    id TEXT PRIMARY KEY, class_id TEXT NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
    source TEXT NOT NULL,                -- 'mnist' / 'fashion' (hidden test part) or 'drawings'
    drawing_ids TEXT,                    -- the drawings, frozen at opening (JSON list)
    title TEXT NOT NULL DEFAULT '', opened REAL NOT NULL, closed REAL);
CREATE INDEX IF NOT EXISTS challenges_by_class ON challenges (class_id, opened);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    challenge_id TEXT NOT NULL REFERENCES challenges (id) ON DELETE CASCADE,
    owner TEXT NOT NULL, run_id TEXT NOT NULL, run_number INTEGER NOT NULL, settings TEXT NOT NULL,
    submitted REAL NOT NULL, correct INTEGER NOT NULL, total INTEGER NOT NULL,
    confusion TEXT NOT NULL, UNIQUE (challenge_id, run_id));
"""


@lru_cache(maxsize=4)
def hidden_test_indices(n_test: int = 10000) -> torch.Tensor:
    """The fixed hidden part of a test set (sorted indices; the same for both data sets)."""
    perm = torch.randperm(n_test, generator=torch.Generator().manual_seed(HIDDEN_SEED))
    return perm[:HIDDEN_SIZE].sort().values


@lru_cache(maxsize=4)
def shown_test_indices(n_test: int = 10000) -> torch.Tensor:
    keep = torch.ones(n_test, dtype=torch.bool)
    keep[hidden_test_indices(n_test)] = False
    return keep.nonzero().flatten()


@dataclass(frozen=True)
class Challenge:
    id: str
    class_id: str
    source: str
    title: str
    opened: float
    closed: float | None
    drawing_ids: tuple[int, ...] = ()

    @property
    def open(self) -> bool:
        return self.closed is None

    @property
    def dataset(self) -> str:
        return SOURCE_DATASET[self.source]

    @property
    def describe(self) -> str:
        if self.source == DRAWINGS:
            return f"the class's own {len(self.drawing_ids)} drawings"
        return f"{HIDDEN_SIZE:,} {TEST_SOURCES[self.source]}"


@dataclass(frozen=True)
class Score:
    correct: int
    total: int
    confusion: np.ndarray        # (10, 10): rows true class, columns prediction

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")


@dataclass(frozen=True)
class Submission:
    id: int
    challenge_id: str
    owner: str
    run_id: str
    run_number: int
    settings: dict
    submitted: float
    correct: int
    total: int
    confusion: np.ndarray

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")

    @property
    def hp(self) -> HyperParams:
        return HyperParams.validate(self.settings)


@dataclass(frozen=True)
class Standing:
    """One line of the leaderboard: a student's best submission."""
    rank: int
    name: str
    submission: Submission
    submissions: int            # how many the student made


def score(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Score:
    """Accuracy and confusion of a model (eval mode) on images x (N, 784) in [0, 1]."""
    p = predict(model, x, y)
    correct = int((p.y_true == p.y_pred).sum())
    return Score(correct, len(p.y_true), confusion_matrix(p.y_true, p.y_pred))


def _challenge(row) -> Challenge:
    return Challenge(id=row["id"], class_id=row["class_id"], source=row["source"], title=row["title"],
                     opened=row["opened"], closed=row["closed"],
                     drawing_ids=tuple(json.loads(row["drawing_ids"])) if row["drawing_ids"] else ())


def _submission(row) -> Submission:
    return Submission(id=row["id"], challenge_id=row["challenge_id"], owner=row["owner"],
                      run_id=row["run_id"], run_number=row["run_number"],
                      settings=json.loads(row["settings"]), submitted=row["submitted"],
                      correct=row["correct"], total=row["total"],
                      confusion=np.array(json.loads(row["confusion"]), dtype=np.int64))


class Challenges:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.classroom = Classroom(ledger)
        ledger.ensure_schema(SCHEMA)
        from core.classroom.drawings import DrawingSet
        self.drawings = DrawingSet(ledger)

    # -- the teacher's side ---------------------------------------------------------------------
    def open(self, class_id: str, source: str = "mnist", title: str = "") -> Challenge:
        """Open a challenge (closing the class's open one, if any)."""
        if source not in (*TEST_SOURCES, DRAWINGS):
            raise ClassError(f"Unknown hidden set {source!r}.")
        ids: list[int] = []
        if source == DRAWINGS:
            ids = [d.id for d in self.drawings.list(class_id)]
            if len(ids) < MIN_DRAWINGS:
                raise ClassError(f"The class has {len(ids)} drawing{'s' if len(ids) != 1 else ''}; a challenge "
                                 f"on them needs at least {MIN_DRAWINGS}. Students add them on the Draw page.")
        else:
            ok, why = data.available(source)
            if not ok:
                raise ClassError(why)
        now = time.time()
        challenge_id = secrets.token_hex(8)
        with self.ledger.transaction() as c:
            c.execute("UPDATE challenges SET closed = ? WHERE class_id = ? AND closed IS NULL", (now, class_id))
            c.execute("INSERT INTO challenges (id, class_id, source, drawing_ids, title, opened) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (challenge_id, class_id, source, json.dumps(ids) if ids else None,
                       " ".join(str(title or "").split())[:80], now))
        return self.get(challenge_id)

    def close(self, class_id: str) -> None:
        with self.ledger.transaction() as c:
            c.execute("UPDATE challenges SET closed = ? WHERE class_id = ? AND closed IS NULL",
                      (time.time(), class_id))

    def get(self, challenge_id: str) -> Challenge | None:
        row = self.ledger.connect().execute("SELECT * FROM challenges WHERE id = ?", (challenge_id,)).fetchone()
        return _challenge(row) if row else None

    def current(self, class_id: str) -> Challenge | None:
        """The class's open challenge, if any."""
        row = self.ledger.connect().execute(
            "SELECT * FROM challenges WHERE class_id = ? AND closed IS NULL", (class_id,)).fetchone()
        return _challenge(row) if row else None

    def history(self, class_id: str) -> list[Challenge]:
        """Every challenge of the class, newest first."""
        rows = self.ledger.connect().execute(
            "SELECT * FROM challenges WHERE class_id = ? ORDER BY opened DESC", (class_id,)).fetchall()
        return [_challenge(r) for r in rows]

    # -- the hidden set ---------------------------------------------------------------------------
    def hidden_set(self, ch: Challenge) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of the challenge's hidden set. Server side only: never sent to a student."""
        if ch.source == DRAWINGS:
            x, y = self.drawings.arrays(ch.class_id, ids=ch.drawing_ids)
            return (torch.from_numpy(x.reshape(len(x), 784).astype(np.float32) / 255.0),
                    torch.from_numpy(y.astype(np.int64)))
        ds = data.load(ch.source)
        idx = hidden_test_indices(len(ds.test_y))
        return ds.test_x[idx], ds.test_y[idx]

    def visible_test_indices(self, owner: str, dataset: str) -> torch.Tensor | None:
        """The test images this browser may see figures of: all (None) unless it is a student of
        a class whose open challenge hides part of this data set's test set; then the others."""
        found = self.classroom.student_class(owner)
        ch = self.current(found[0].id) if found else None
        if ch is None or ch.source != dataset:
            return None
        return shown_test_indices(len(data.load(dataset).test_y))

    # -- the students' side -----------------------------------------------------------------------
    def submit(self, owner: str, run: RunView) -> Submission:
        """Score one of the student's finished runs on the hidden set of their class's open
        challenge. Submitting the same run again returns its first submission."""
        found = self.classroom.student_class(owner)
        if found is None:
            raise ClassError("Join a class first: challenges belong to a class.")
        ch = self.current(found[0].id)
        if ch is None:
            raise ClassError("Your class has no open challenge right now.")
        if run.owner != owner:
            raise ClassError("You can only submit your own runs.")
        existing = self.ledger.connect().execute(
            "SELECT * FROM submissions WHERE challenge_id = ? AND run_id = ?", (ch.id, run.id)).fetchone()
        if existing:
            return _submission(existing)
        state = run.snapshot().state
        if state != FINISHED:
            raise ClassError(f"Only a finished run can be submitted; run #{run.number} is {state}.")
        if run.hp.dataset != ch.dataset:
            raise ClassError(f"This challenge is on {ch.describe}; run #{run.number} learned "
                             f"{data.DATASETS[run.hp.dataset].title}. Train one on "
                             f"{data.DATASETS[ch.dataset].title}.")
        made = self.ledger.connect().execute(
            "SELECT count(*) FROM submissions WHERE challenge_id = ? AND owner = ?", (ch.id, owner)).fetchone()[0]
        if made >= MAX_SUBMISSIONS:
            raise ClassError(f"You have made the {MAX_SUBMISSIONS} submissions a challenge allows; "
                             "your best one counts.")
        try:
            model = run.model()
        except WeightsUnavailable as e:
            raise ClassError(f"Run #{run.number} cannot be scored: {e}.") from None
        result = score(model, *self.hidden_set(ch))
        with self.ledger.transaction() as c:
            c.execute("INSERT OR IGNORE INTO submissions (challenge_id, owner, run_id, run_number, "
                      "settings, submitted, correct, total, confusion) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (ch.id, owner, run.id, run.number, json.dumps(run.hp.to_dict()), time.time(),
                       result.correct, result.total, json.dumps(result.confusion.tolist())))
            row = c.execute("SELECT * FROM submissions WHERE challenge_id = ? AND run_id = ?",
                            (ch.id, run.id)).fetchone()
        return _submission(row)

    def submissions(self, challenge_id: str, owner: str | None = None) -> list[Submission]:
        """In the order they were made (the first first)."""
        rows = self.ledger.connect().execute(
            "SELECT * FROM submissions WHERE challenge_id = ?" + (" AND owner = ?" if owner else "")
            + " ORDER BY submitted, id", (challenge_id, owner) if owner else (challenge_id,)).fetchall()
        return [_submission(r) for r in rows]

    def leaderboard(self, ch: Challenge) -> list[Standing]:
        """Each student's best submission, best first; on a tie the earlier submission first.
        Students who left the class keep their line (under the name they had)."""
        names = {m.owner: m.name for m in self.classroom.members(ch.class_id, current=False)}
        best: dict[str, Submission] = {}
        count: dict[str, int] = {}
        for s in self.submissions(ch.id):
            count[s.owner] = count.get(s.owner, 0) + 1
            b = best.get(s.owner)
            if b is None or s.correct * b.total > b.correct * s.total:   # strictly better (exact)
                best[s.owner] = s
        order = sorted(best.values(), key=lambda s: (-s.accuracy, s.submitted, s.id))
        return [Standing(i + 1, names.get(s.owner, "(left the class)"), s, count[s.owner])
                for i, s in enumerate(order)]

    def class_confusion(self, ch: Challenge) -> np.ndarray:
        """Sum of the confusions of every student's best submission: which digits the class misreads."""
        total = np.zeros((10, 10), np.int64)
        for st in self.leaderboard(ch):
            total += st.submission.confusion
        return total
