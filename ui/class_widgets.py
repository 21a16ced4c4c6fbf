"""Class pieces shared by the pages: the student's class banner on Train, the sidebar's lesson
locks, following a lesson live, the challenge's submit button and leaderboard, adding a drawing
to the class's set, and the projector view's look.

Everything here reads and writes through core.classroom.classes / core.classroom.challenge / core.classroom.drawings;
who the browser is comes from ui.shared.owner() (its cookie).
"""
from __future__ import annotations

import hashlib
import time

import numpy as np
import streamlit as st

from core.classroom.challenge import Challenge, Challenges, Standing
from core.classroom.classes import ClassError, ClassInfo, Classroom, Member
from core.classroom.drawings import DrawingSet, to_bytes28
from core.nn.config import PARAM, PARAMS, HyperParams, format_value
from core.runs import RunView
from core.states import ACTIVE_STATES, BADGE, FINISHED, IDLE, PAUSED, QUEUED, RUNNING
from core.text import plain
from ui import shared

FOLLOW_S = 2.0          # a student's page looks for lesson / challenge changes this often


# -- the stores, on the run service's ledger ----------------------------------------------------

def room() -> Classroom:
    return Classroom(shared.service().ledger)


def challenges() -> Challenges:
    return Challenges(shared.service().ledger)


def drawing_set() -> DrawingSet:
    return DrawingSet(shared.service().ledger)


def student_class() -> tuple[ClassInfo, Member] | None:
    """(class, membership) of this browser as a student, or None."""
    return room().student_class(shared.owner())


# -- the projector view -------------------------------------------------------------------------

PRESENT_FONT = 20       # px of chart text in the projector view (14 on a laptop)

PROJECTOR_CSS = """
<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stSidebarNav"], header[data-testid="stHeader"], [data-testid="stToolbar"] {
  display: none !important; }
html { font-size: 24px; }
[data-testid="stMainBlockContainer"], .block-container { max-width: 100% !important;
  padding: 1rem 2.5rem 3rem 2.5rem !important; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.1rem; }
[data-testid="stTable"] table { font-size: 1.25rem; width: 100%; }
[data-testid="stTable"] th { font-size: 1.1rem; }
[data-testid="stMetricValue"] { font-size: 2.6rem; }
.class-join-code { font-size: 2.4rem; font-weight: 700; letter-spacing: 0.12em; }
</style>
"""


def projector_view(on: bool) -> None:
    """The projector's look (no sidebar, large type, full width), in one place."""
    if on:
        st.html(PROJECTOR_CSS)


def chart_font(present: bool) -> dict:
    return {"size": PRESENT_FONT if present else 14, "color": "#1f2328"}


# -- the sidebar's locks (called by ui.shared.hyperparams_sidebar) ---------------------------

def sidebar_locks() -> tuple[dict, set]:
    """(locked values, hidden names) for this browser's sidebar. When a lesson starts or
    changes, its settings are put into the sidebar once (the allowed ones are a starting point
    the student may then change)."""
    found = student_class()
    lesson = found[0].lesson if found else None
    if lesson is None:
        return {}, set()
    stamp = (found[0].id, found[0].lesson_version)
    if st.session_state.get("_lesson_applied") != stamp:
        st.session_state["_lesson_applied"] = stamp
        shared.apply_settings(lesson.settings)
    return lesson.locked, set(lesson.hidden)


# -- following the class live -------------------------------------------------------------------

def class_stamp(owner: str) -> tuple:
    """What a student's page shows of their class: it changes when the lesson, the challenge or
    the membership does (three indexed lookups)."""
    found = room().student_class(owner)
    if found is None:
        return (None,)
    ch = challenges().current(found[0].id)
    return (found[0].id, found[0].lesson_version, ch.id if ch else None, found[1].name)


def _follow(owner: str, shown: tuple) -> None:
    if class_stamp(owner) != shown:
        st.rerun()          # the whole page: sidebar locks, task and buttons follow


def follow_class() -> None:
    """Rerun the page within FOLLOW_S seconds of a change the teacher makes."""
    me = shared.owner()
    st.fragment(_follow, run_every=FOLLOW_S)(me, class_stamp(me))


# -- the banner on the Train page ---------------------------------------------------------------

def allowed_text(lesson) -> str:
    names = [PARAM[n].label for n in lesson.allowed]
    return ("You may change: **" + "**, **".join(names) + "**." if names
            else "Every setting is fixed by the lesson.")


def class_banner(run: RunView | None = None, snap=None) -> None:
    """For a student in a class: the class, the lesson's task and what they may change, the
    class's limits, and (while a challenge is open) a button that submits the finished run on
    screen. Also keeps the page following the teacher's changes. Nothing for anyone else."""
    found = student_class()
    if found is None:
        return
    info, member = found
    follow_class()
    with st.container(border=True, key="class_banner"):
        head = f"🎓 **{plain(info.name)}** · you are **{plain(member.name)}**"
        if info.lesson is None:
            st.markdown(head + " · no lesson right now: every control is yours.")
        else:
            st.markdown(head + " · today's lesson:")
            if info.lesson.task:
                st.markdown(info.lesson.task)
            st.caption(allowed_text(info.lesson) + " The others are set by your teacher.")
        limits = [f"at most {info.max_unfinished} unfinished runs" if info.max_unfinished else "",
                  f"at most {info.max_epochs} epochs per run" if info.max_epochs else ""]
        if any(limits):
            st.caption("Class limits: " + ", ".join(x for x in limits if x) + ".")
        ch = challenges().current(info.id)
        if ch is not None:
            challenge_box(ch, run, snap, key="banner")


def challenge_box(ch: Challenge, run: RunView | None, snap=None, key: str = "") -> None:
    """The open challenge for a student: what it is, their best score, and Submit for `run`."""
    me = shared.owner()
    mine = challenges().submissions(ch.id, owner=me)
    best = max(mine, key=lambda s: (s.accuracy, -s.submitted), default=None)
    text = f"🏆 **Challenge open**{': ' + plain(ch.title) if ch.title else ''}: your finished runs are scored on {ch.describe} you never see."
    if best is not None:
        text += f" Your best: **{best.accuracy:.2%}** (run #{best.run_number})."
    st.markdown(text)
    if run is None:
        return
    state = (snap or run.snapshot()).state
    done = {s.run_id: s for s in mine}
    if run.id in done:
        st.caption(f"Run #{run.number} is submitted: {done[run.id].accuracy:.2%} on the hidden set.")
    elif st.button(f"🏆 Submit run #{run.number} to the challenge", key=f"submit_{key}",
                   disabled=state != FINISHED,
                   help="Scored on the server from the run's saved weights." if state == FINISHED
                   else "Only a finished run can be submitted."):
        submit(run)
    if msg := st.session_state.pop(f"submitted_{run.id}", None):
        (st.error if msg.startswith("⚠") else st.success)(msg)


def submit(run: RunView) -> None:
    try:
        s = challenges().submit(shared.owner(), run)
        st.session_state[f"submitted_{run.id}"] = f"Run #{run.number} scored **{s.accuracy:.2%}** ({s.correct:,} of {s.total:,})."
    except ClassError as e:
        st.session_state[f"submitted_{run.id}"] = f"⚠ {e}"
    st.rerun()


# -- the leaderboard ----------------------------------------------------------------------------

def settings_text(hp) -> str:
    return hp.describe()


def table_cells(rows: list[dict]) -> list[dict]:
    """Rows for st.table, which renders every cell as Markdown: each text as plain text (a
    student's name is shown, never rendered). st.dataframe shows text as it is: no need there."""
    return [{k: plain(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows]


def leaderboard_rows(board: list[Standing], show_settings: tuple[str, ...] = ()) -> list[dict]:
    rows = []
    for s in board:
        row = {"#": s.rank, "Student": s.name, "Accuracy": f"{s.submission.accuracy:.2%}",
               "Correct": f"{s.submission.correct:,} / {s.submission.total:,}",
               "Run": f"#{s.submission.run_number}"}
        hp = s.submission.hp
        for name in show_settings:
            row[PARAM[name].label] = format_value(PARAM[name], getattr(hp, name))
        if not show_settings:
            row["Settings"] = settings_text(hp)
        row["Submitted"] = time.strftime("%H:%M:%S", time.localtime(s.submission.submitted))
        row["Tries"] = s.submissions
        rows.append(row)
    return rows


def differing(hps) -> tuple[str, ...]:
    """Names of the parameters that differ across these settings (the columns worth showing)."""
    hps = list(hps)
    return tuple(p.name for p in PARAMS if len({getattr(h, p.name) for h in hps}) > 1)


def leaderboard(ch: Challenge, present: bool = False, key: str = "board") -> None:
    board = challenges().leaderboard(ch)
    if not board:
        st.info("No submissions yet.")
        return
    rows = leaderboard_rows(board, differing(s.submission.hp for s in board))
    if present:
        st.table(table_cells(rows))
    else:
        st.dataframe(rows, hide_index=True, width="stretch", key=key)


# -- the teacher's table of the class ------------------------------------------------------------

def state_detail(state: str, snap, rec) -> str:
    if state == QUEUED and snap is not None and snap.queue_position:
        return f"#{snap.queue_position} in the queue"
    if state in (RUNNING, PAUSED) and snap is not None:
        text = f"epoch {snap.epoch:.1f} / {snap.epochs}"
        return text + (f" · {snap.reason}" if state == PAUSED and snap.reason else "")
    if state == FINISHED:
        return f"{rec.epochs_done} epoch{'s' if rec.epochs_done != 1 else ''}"
    if state == IDLE:
        return "not started"
    return (rec.reason or "")[:140]


def pct(x) -> str:
    return f"{x:.2%}" if x is not None and x == x else "–"


def class_table(info: ClassInfo) -> tuple[list[dict], dict[str, tuple[str, object]]]:
    """One row per run (and per student without one), the settings columns that differ across
    the class, the state with its detail. Also {run id: (student, record)} for the run picker."""
    svc, cr = shared.service(), room()
    members = cr.members(info.id, current=False)
    names = {m.owner: m.name + (" (left)" if m.left else "") for m in members}
    records = cr.class_runs(info.id)
    hps = {r.id: HyperParams.validate(r.config) for r in records}
    columns = differing(hps.values())
    rows, runs = [], {}
    by_student: dict[str, list] = {}
    for r in records:
        by_student.setdefault(r.owner, []).append(r)
    for m in sorted(members, key=lambda m: (m.left is not None, m.name.lower())):
        mine = by_student.pop(m.owner, [])
        if not mine and m.left is None:
            rows.append({"Student": names[m.owner], "Run": "–", "State": "no run yet"})
        for r in mine:
            state, snap = r.state, None
            if state in (IDLE, *ACTIVE_STATES):
                view = svc.get_any(r.id)
                snap = view.snapshot() if view else None
                state = snap.state if snap else state
            best = snap.best_val_accuracy if snap else r.best_val_accuracy
            test = snap.test_accuracy if snap else r.test_accuracy
            row = {"Student": names[m.owner], "Run": f"#{r.number}"}
            for name in columns:
                row[PARAM[name].label] = format_value(PARAM[name], getattr(hps[r.id], name))
            row.update({"State": BADGE.get(state, state), "Details": state_detail(state, snap, r),
                        "Best val. acc.": pct(best), "Test acc.": pct(test)})
            rows.append(row)
            runs[r.id] = (names[m.owner], r)
    return rows, runs



# -- the Draw page: add a drawing to the class's set ----------------------------------------------

def drawing_contribution(x28: np.ndarray, original: np.ndarray, predicted: int | None) -> None:
    """For a student in a class: confirm or correct the label of the digit on the canvas and add
    it (28×28 and as drawn) to the class's drawings. Nothing for anyone else."""
    found = student_class()
    if found is None or x28 is None:
        return
    info = found[0]
    sets = drawing_set()
    digest = hashlib.sha256(to_bytes28(x28).tobytes()).hexdigest()[:16]   # this drawing
    with st.container(border=True, key="class_drawing"):
        label_col, button_col = st.columns([2, 1], vertical_alignment="bottom")
        label = label_col.selectbox(
            f"Add to the drawings of {plain(info.name)} as the digit", list(range(10)),
            index=int(predicted) if predicted is not None else 0, key=f"class_label_{digest}",
            help="Correct it if the network read it wrong: the label is what you meant to draw.")
        added = st.session_state.get("class_drawing_added")
        already = added is not None and added[0] == digest
        if button_col.button("✓ Added" if already else "➕ Add to the class's drawings",
                             key="class_add_drawing", width="stretch", disabled=already):
            try:
                d = sets.add(shared.owner(), x28, original, label, predicted)
                st.session_state["class_drawing_added"] = (digest, d.label)
                st.rerun()
            except ClassError as e:
                st.error(str(e))
        n = sets.count(info.id, owner=shared.owner())
        if already:
            st.caption(f"Added as a {added[1]}. You have added {n} drawing{'s' if n != 1 else ''}; "
                       "clear the canvas (🗑) to draw the next one.")
        else:
            st.caption("Your teacher can use the class's drawings as a challenge: how well does a "
                       f"network read *your* handwriting? You have added {n}.")
