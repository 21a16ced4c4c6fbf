"""A class: a teacher, students who joined with a code, a lesson that sets and locks the controls,
and the per-student limits a teacher may set lower than the server's.

Roles are carried by two unguessable secrets per class, each checked against its own pattern and
looked up in its own column, so neither can stand in for the other:

- the **join code** (e.g. `KX7P-M2QD`, 32^8 ≈ 10^12 values) that students type or open as a link
  (`/class?join=KX7P-M2QD`): it makes the browser a student of the class, nothing more;
- the **teacher token** (32 URL-safe characters, 192 bits) in the teacher link: opening it makes
  the browser a teacher of the class. The teacher page moves it out of the address bar at once, so
  a projected or copied URL (`/teacher?class=<id>`) gives nobody anything.

Who a browser is stays its owner token (a cookie, ui.shared.owner()): memberships and teacher
rights are rows keyed by it in the ledger's database, so a reload or a server restart keeps a
student in the class and a teacher at their class.

A lesson is a full set of settings, the names students may change, the names hidden from them
and a task. `enforce(lesson, requested)` is the one place a locked value is forced: the sidebar
uses it to draw, and `Classroom.admit` applies it again before a run is submitted, so no route
(widget, URL, session state) can train with a value the lesson locked.
"""
from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Mapping

from core.ledger import Ledger
from core.nn.config import PARAM, PARAMS, HyperParams
from core.runs import Refused
from core.states import ACTIVE_STATES, IDLE
from core.text import TextError, display_name, plain, skeleton

JOIN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   # no 0/O or 1/I to misread off a projector
JOIN_CODE = re.compile(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}")
TEACHER_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
CLASS_ID = re.compile(r"[0-9a-f]{16}")
MAX_NAME = 40            # characters of a class's or a student's name
MAX_TASK = 1500          # characters of a lesson's task
MAX_EPOCHS = int(PARAM["epochs"].high)

SCHEMA = """
CREATE TABLE IF NOT EXISTS classes (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL,
    teacher_token TEXT NOT NULL UNIQUE, join_code TEXT NOT NULL UNIQUE,
    closed REAL,                                   -- when joining was closed; NULL: open
    max_unfinished INTEGER, max_epochs INTEGER,    -- per-student limits; NULL: the server's
    lesson TEXT,                                   -- the current lesson (JSON); NULL: none
    lesson_version INTEGER NOT NULL DEFAULT 0);    -- grows at every lesson change (pages follow it)
CREATE TABLE IF NOT EXISTS class_teachers (
    class_id TEXT NOT NULL REFERENCES classes (id) ON DELETE CASCADE, owner TEXT NOT NULL,
    added REAL NOT NULL, PRIMARY KEY (class_id, owner));
CREATE INDEX IF NOT EXISTS class_teachers_by_owner ON class_teachers (owner);
CREATE TABLE IF NOT EXISTS class_members (
    class_id TEXT NOT NULL REFERENCES classes (id) ON DELETE CASCADE, owner TEXT NOT NULL,
    name TEXT NOT NULL, joined REAL NOT NULL, left_at REAL,
    PRIMARY KEY (class_id, owner));
CREATE INDEX IF NOT EXISTS class_members_by_owner ON class_members (owner, joined);
"""


class ClassError(ValueError):
    """Something a teacher or a student asked for that cannot be done; the message says why."""


# -- tokens ---------------------------------------------------------------------------------------

def new_join_code() -> str:
    raw = "".join(secrets.choice(JOIN_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def new_teacher_token() -> str:
    return secrets.token_urlsafe(24)      # 24 bytes -> 32 characters of [A-Za-z0-9_-]


def normalize_join_code(text: Any) -> str | None:
    """What a student typed ('kx7p m2qd', 'KX7PM2QD', ' kx7p-m2qd ') as the canonical code, or
    None when it cannot be a join code (wrong length or letters)."""
    if not isinstance(text, str):
        return None
    raw = re.sub(r"[\s-]", "", text).upper()
    code = f"{raw[:4]}-{raw[4:]}"
    return code if JOIN_CODE.fullmatch(code) else None


def valid_teacher_token(token: Any) -> bool:
    return isinstance(token, str) and TEACHER_TOKEN.fullmatch(token) is not None


def valid_class_id(class_id: Any) -> bool:
    return isinstance(class_id, str) and CLASS_ID.fullmatch(class_id) is not None


def clean_name(name: Any, what: str = "name") -> str:
    """A display name as core.text.display_name makes it (NFKC, visible characters only, one
    look-alike alphabet, 1 to MAX_NAME characters); ClassError saying why not."""
    try:
        return display_name(name, what, MAX_NAME)
    except TextError as e:
        raise ClassError(str(e)) from None


# -- lessons --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Lesson:
    """What the teacher hands out: settings, which of them students may change, which locked
    ones are hidden (not shown at all, as TF Playground's hidden controls), a task, and the
    parameter the class chart puts on its horizontal axis."""
    settings: dict                       # a full HyperParams.to_dict()
    allowed: tuple[str, ...] = ()        # students may change these
    hidden: tuple[str, ...] = ()         # locked and not shown to students
    task: str = ""
    focus: str | None = None             # the class chart's x axis
    preset: str | None = None            # the preset it came from, if any
    started: float = 0.0

    @property
    def hp(self) -> HyperParams:
        return HyperParams.validate(self.settings)

    @property
    def locked(self) -> dict[str, Any]:
        """Every value a student cannot change, by parameter name."""
        return {p.name: self.settings[p.name] for p in PARAMS if p.name not in self.allowed}

    def to_json(self) -> str:
        return json.dumps({"settings": self.settings, "allowed": list(self.allowed),
                           "hidden": list(self.hidden), "task": self.task, "focus": self.focus,
                           "preset": self.preset, "started": self.started})

    @classmethod
    def from_json(cls, text: str) -> "Lesson":
        d = json.loads(text)
        return cls(settings=d["settings"], allowed=tuple(d["allowed"]), hidden=tuple(d["hidden"]),
                   task=d.get("task", ""), focus=d.get("focus"), preset=d.get("preset"),
                   started=d.get("started", 0.0))


def make_lesson(settings: Mapping[str, Any] | HyperParams, allowed=(), hidden=(), task: str = "",
                focus: str | None = None, preset: str | None = None) -> Lesson:
    """A checked lesson: settings through the schema, known parameter names, a hidden control
    cannot also be one students change. Raises ClassError (or ConfigError for bad settings)."""
    hp = settings if isinstance(settings, HyperParams) else HyperParams.validate(dict(settings))
    allowed, hidden = tuple(dict.fromkeys(allowed)), tuple(dict.fromkeys(hidden))
    unknown = [n for n in (*allowed, *hidden, *([focus] if focus else [])) if n not in PARAM]
    if unknown:
        raise ClassError(f"Not a setting: {', '.join(unknown)}.")
    both = [PARAM[n].label for n in hidden if n in allowed]
    if both:
        raise ClassError(f"{', '.join(both)}: a control students may change cannot be hidden.")
    task = str(task or "").strip()
    if len(task) > MAX_TASK:
        raise ClassError(f"The task has {len(task):,} characters; keep it under {MAX_TASK:,}.")
    order = [p.name for p in PARAMS]
    return Lesson(settings=hp.to_dict(), allowed=tuple(sorted(allowed, key=order.index)),
                  hidden=tuple(sorted(hidden, key=order.index)), task=task, focus=focus,
                  preset=preset, started=time.time())


def enforce(lesson: Lesson | None, requested: Mapping[str, Any] | HyperParams) -> HyperParams:
    """The settings a student may train with: what they asked for in the controls the lesson
    allows, the lesson's value in every other one. Without a lesson, what they asked for.
    Raises ConfigError when the allowed values do not fit the locked ones (e.g. 3 hidden layers
    with a locked per-layer width list of two numbers)."""
    values = requested.to_dict() if isinstance(requested, HyperParams) else dict(requested)
    if lesson is None:
        return HyperParams.validate(values)
    forced = {name: values.get(name, lesson.settings[name]) for name in lesson.allowed}
    return HyperParams.validate({**lesson.settings, **forced})


# -- records --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassInfo:
    id: str
    name: str
    created: float
    teacher_token: str
    join_code: str
    closed: float | None = None
    max_unfinished: int | None = None
    max_epochs: int | None = None
    lesson: Lesson | None = None
    lesson_version: int = 0

    @property
    def open(self) -> bool:
        return self.closed is None


@dataclass(frozen=True)
class Member:
    class_id: str
    owner: str
    name: str
    joined: float
    left: float | None = None


@dataclass(frozen=True)
class Admission:
    """A run a student may submit: the settings with the lesson's locks applied, and its class."""
    hp: HyperParams
    class_id: str | None


def _class(row) -> ClassInfo:
    return ClassInfo(id=row["id"], name=row["name"], created=row["created"],
                     teacher_token=row["teacher_token"], join_code=row["join_code"],
                     closed=row["closed"], max_unfinished=row["max_unfinished"],
                     max_epochs=row["max_epochs"],
                     lesson=Lesson.from_json(row["lesson"]) if row["lesson"] else None,
                     lesson_version=row["lesson_version"])


def _member(row) -> Member:
    return Member(class_id=row["class_id"], owner=row["owner"], name=row["name"],
                  joined=row["joined"], left=row["left_at"])


class Classroom:
    """Classes, teachers and students in the ledger's database (tables created on first use)."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        ledger.ensure_schema(SCHEMA)

    def _one(self, sql: str, args=()) -> ClassInfo | None:
        row = self.ledger.connect().execute(sql, args).fetchone()
        return _class(row) if row else None

    # -- classes (the teacher's side) -----------------------------------------------------------
    def create_class(self, teacher: str, name: str) -> ClassInfo:
        """A new class, open for joining, with `teacher` (an owner token) as its teacher."""
        name = clean_name(name, "class name")
        class_id, now = secrets.token_hex(8), time.time()
        with self.ledger.transaction() as c:
            c.execute("INSERT INTO classes (id, name, created, teacher_token, join_code) "
                      "VALUES (?, ?, ?, ?, ?)", (class_id, name, now, new_teacher_token(), new_join_code()))
            c.execute("INSERT INTO class_teachers VALUES (?, ?, ?)", (class_id, teacher, now))
        return self.get(class_id)

    def get(self, class_id: str | None) -> ClassInfo | None:
        if not valid_class_id(class_id):
            return None
        return self._one("SELECT * FROM classes WHERE id = ?", (class_id,))

    def by_join_code(self, text: str) -> ClassInfo | None:
        code = normalize_join_code(text)
        return self._one("SELECT * FROM classes WHERE join_code = ?", (code,)) if code else None

    def claim_teacher_link(self, token: str, owner: str) -> ClassInfo | None:
        """The teacher link was opened in this browser: it becomes a teacher of that class.
        None for anything that is not a current teacher token (nothing is granted)."""
        if not valid_teacher_token(token):
            return None
        info = self._one("SELECT * FROM classes WHERE teacher_token = ?", (token,))
        if info is not None:
            with self.ledger.transaction() as c:
                c.execute("INSERT OR IGNORE INTO class_teachers VALUES (?, ?, ?)", (info.id, owner, time.time()))
        return info

    def is_teacher(self, owner: str, class_id: str | None) -> bool:
        if not valid_class_id(class_id):
            return False
        return self.ledger.connect().execute(
            "SELECT 1 FROM class_teachers WHERE class_id = ? AND owner = ?", (class_id, owner)).fetchone() is not None

    def teacher_classes(self, owner: str) -> list[ClassInfo]:
        """The classes this browser teaches, newest first."""
        rows = self.ledger.connect().execute(
            "SELECT classes.* FROM classes JOIN class_teachers t ON t.class_id = classes.id "
            "WHERE t.owner = ? ORDER BY classes.created DESC", (owner,)).fetchall()
        return [_class(r) for r in rows]

    def _set(self, class_id: str, **changes) -> ClassInfo:
        with self.ledger.transaction() as c:
            c.execute(f"UPDATE classes SET {', '.join(k + ' = ?' for k in changes)} WHERE id = ?",
                      (*changes.values(), class_id))
        return self.get(class_id)

    def rename(self, class_id: str, name: str) -> ClassInfo:
        return self._set(class_id, name=clean_name(name, "class name"))

    def close(self, class_id: str) -> ClassInfo:
        """No new students can join (the students in it stay)."""
        return self._set(class_id, closed=time.time())

    def reopen(self, class_id: str) -> ClassInfo:
        return self._set(class_id, closed=None)

    def new_join_code(self, class_id: str) -> ClassInfo:
        """A fresh join code: the old one (and its links) stop working; members stay."""
        return self._set(class_id, join_code=new_join_code())

    def new_teacher_link(self, class_id: str) -> ClassInfo:
        """A fresh teacher token (the old link leaked): browsers already teaching keep their rights."""
        return self._set(class_id, teacher_token=new_teacher_token())

    def set_limits(self, class_id: str, max_unfinished: int | None, max_epochs: int | None,
                   server_unfinished: int) -> ClassInfo:
        """Per-student limits, at most the server's (None: the server's own)."""
        if max_unfinished is not None and not 1 <= int(max_unfinished) <= server_unfinished:
            raise ClassError(f"Unfinished runs per student: 1 to {server_unfinished} (the server's limit).")
        if max_epochs is not None and not 1 <= int(max_epochs) <= MAX_EPOCHS:
            raise ClassError(f"Epochs per run: 1 to {MAX_EPOCHS}.")
        info = self.get(class_id)
        if max_epochs is not None and info.lesson and info.lesson.settings["epochs"] > max_epochs \
                and "epochs" not in info.lesson.allowed:
            raise ClassError(f"The current lesson trains {info.lesson.settings['epochs']} epochs, more "
                             f"than {max_epochs}: change the lesson first.")
        return self._set(class_id, max_unfinished=None if max_unfinished is None else int(max_unfinished),
                         max_epochs=None if max_epochs is None else int(max_epochs))

    def delete(self, class_id: str, service) -> int:
        """Delete the class with its runs (through the run service: active ones are stopped,
        weight files removed), its members, lesson, challenges and drawings. Returns the number of
        runs deleted."""
        runs = self.class_runs(class_id)
        for rec in runs:
            service.delete(None, rec.id)
        with self.ledger.transaction() as c:
            c.execute("DELETE FROM classes WHERE id = ?", (class_id,))   # the rest cascades
        return len(runs)

    # -- lessons --------------------------------------------------------------------------------
    def set_lesson(self, class_id: str, lesson: Lesson | None) -> ClassInfo:
        """Start, change (lesson) or end (None) the class's lesson; students' pages follow."""
        info = self.get(class_id)
        if lesson is not None and info.max_epochs and lesson.settings["epochs"] > info.max_epochs:
            raise ClassError(f"This lesson trains {lesson.settings['epochs']} epochs; the class allows "
                             f"at most {info.max_epochs} per run. Lower the epochs or raise the limit.")
        return self._set(class_id, lesson=lesson.to_json() if lesson else None,
                         lesson_version=info.lesson_version + 1)

    def lesson_version(self, class_id: str) -> int | None:
        """A cheap number that changes with the lesson (None: the class is gone): pages poll it."""
        row = self.ledger.connect().execute("SELECT lesson_version FROM classes WHERE id = ?",
                                            (class_id,)).fetchone()
        return row[0] if row else None

    # -- students ---------------------------------------------------------------------------------
    def join(self, code: str, owner: str, name: str) -> Member:
        """Join the class of this code as `name`. A browser is in one class at a time: joining
        another leaves the previous one (its runs stay there). Joining the same class again
        changes the display name."""
        if normalize_join_code(code) is None:
            raise ClassError("That is not a class code: it has 8 letters and digits, like KX7P-M2QD.")
        info = self.by_join_code(code)
        if info is None:
            raise ClassError("No class has this code. Check it with your teacher (codes change when "
                             "a teacher makes a new one).")
        if not info.open:
            raise ClassError(f"Class “{plain(info.name)}” is closed: it takes no new students.")
        name = clean_name(name)
        now = time.time()
        with self.ledger.transaction() as c:
            others = c.execute("SELECT name FROM class_members WHERE class_id = ? AND owner != ? AND "
                               "left_at IS NULL", (info.id, owner)).fetchall()
            if any(skeleton(row[0]) == skeleton(name) for row in others):   # 'ADA', 'Аԁа' are 'Ada'
                raise ClassError(f"Someone in this class is already called “{plain(name)}”: add an initial.")
            c.execute("UPDATE class_members SET left_at = ? WHERE owner = ? AND class_id != ? AND left_at IS NULL",
                      (now, owner, info.id))
            c.execute("INSERT INTO class_members (class_id, owner, name, joined) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (class_id, owner) DO UPDATE SET name = excluded.name, left_at = NULL, "
                      "joined = CASE WHEN class_members.left_at IS NULL THEN class_members.joined ELSE excluded.joined END",
                      (info.id, owner, name, now))
        return self.membership(owner)

    def membership(self, owner: str) -> Member | None:
        """The class this browser is a student of now, if any."""
        row = self.ledger.connect().execute(
            "SELECT * FROM class_members WHERE owner = ? AND left_at IS NULL ORDER BY joined DESC LIMIT 1",
            (owner,)).fetchone()
        return _member(row) if row else None

    def student_class(self, owner: str) -> tuple[ClassInfo, Member] | None:
        m = self.membership(owner)
        info = self.get(m.class_id) if m else None
        return (info, m) if info else None

    def leave(self, owner: str) -> None:
        with self.ledger.transaction() as c:
            c.execute("UPDATE class_members SET left_at = ? WHERE owner = ? AND left_at IS NULL", (time.time(), owner))

    def remove_student(self, class_id: str, owner: str) -> None:
        """The teacher takes a student out of the class (their runs stay with the class)."""
        with self.ledger.transaction() as c:
            c.execute("UPDATE class_members SET left_at = ? WHERE class_id = ? AND owner = ? AND left_at IS NULL",
                      (time.time(), class_id, owner))

    def members(self, class_id: str, *, current: bool = True) -> list[Member]:
        """The class's students by name (with those who left, if current=False)."""
        rows = self.ledger.connect().execute(
            "SELECT * FROM class_members WHERE class_id = ?" + (" AND left_at IS NULL" if current else "")
            + " ORDER BY lower(name)", (class_id,)).fetchall()
        return [_member(r) for r in rows]

    def class_runs(self, class_id: str):
        """The class's runs (ledger records, newest first): those submitted for the class, and
        those its students made while they were in it (e.g. from a page that does not tag runs)."""
        found = {r.id: r for r in self.ledger.list_runs(class_id=class_id)}
        for m in self.members(class_id, current=False):
            for r in self.ledger.list_runs(m.owner):
                if r.class_id is None and r.created >= m.joined and (m.left is None or r.created <= m.left):
                    found.setdefault(r.id, r)
        return sorted(found.values(), key=lambda r: (r.created, r.number), reverse=True)

    # -- what a student may train -------------------------------------------------------------------
    def admit(self, owner: str, requested: Mapping[str, Any] | HyperParams) -> Admission:
        """Call before submitting a student's run: applies the lesson's locks and the class's
        limits. Returns the settings to train and the class id to tag the run with; raises
        runs.Refused (the message says which limit) or ConfigError. Not in a class: unchanged."""
        found = self.student_class(owner)
        if found is None:
            hp = requested if isinstance(requested, HyperParams) else HyperParams.validate(dict(requested))
            return Admission(hp, None)
        info, _ = found
        hp = enforce(info.lesson, requested)
        if info.max_epochs is not None and hp.epochs > info.max_epochs:
            raise Refused(f"Your class allows at most {info.max_epochs} epochs per run; this run has "
                          f"{hp.epochs}. Lower the epochs.")
        if info.max_unfinished is not None:
            unfinished = len(self.ledger.list_runs(owner, states=(IDLE, *ACTIVE_STATES)))
            if unfinished + 1 > info.max_unfinished:
                raise Refused(f"Your class allows {info.max_unfinished} unfinished run"
                              f"{'s' if info.max_unfinished > 1 else ''} per student (running, paused, "
                              f"queued or not started); you have {unfinished}. Stop or finish one first.")
        return Admission(hp, info.id)

    def locks_for(self, owner: str) -> tuple[dict[str, Any], set[str], Lesson | None]:
        """(locked values, hidden names, lesson) for this browser's sidebar; empty outside a lesson."""
        found = self.student_class(owner)
        lesson = found[0].lesson if found else None
        if lesson is None:
            return {}, set(), None
        return lesson.locked, set(lesson.hidden), lesson
