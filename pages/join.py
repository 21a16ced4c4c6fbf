"""My class: a student joins a class (with the join link `?join=CODE`, or by typing the code) under
a display name, sees the lesson's task, submits runs to the challenge and watches its leaderboard.

The browser's owner token (its cookie) is the student: a reload or a server restart keeps them in
the class. Nothing here shows another student's runs; the leaderboard shows names, scores and
the settings of the submitted runs only.
"""
from __future__ import annotations

import streamlit as st

from core.classroom.classes import ClassError, ClassInfo, Member, normalize_join_code
from core.states import FINISHED
from core.text import plain
from ui import class_widgets as cw
from ui import shared

shared.use_st_navigation()   # first: a visit straight to this page (see shared)

LIVE_S = 2.0


def join_form(code: str, name: str, switching: ClassInfo | None = None) -> None:
    with st.form("join", border=True):
        typed = st.text_input("Class code", value=code, max_chars=12, placeholder="e.g. KX7P-M2QD",
                              help="8 letters and digits, from your teacher (the screen or the link).")
        who = st.text_input("Your name, as the class will see it", value=name, max_chars=40,
                            placeholder="e.g. Ada L.")
        label = f"Leave {plain(switching.name)} and join" if switching else "Join the class"
        if st.form_submit_button(label, type="primary"):
            try:
                cw.room().join(typed, shared.owner(), who)
            except ClassError as e:
                st.error(str(e))
            else:
                st.query_params.pop("join", None)
                st.rerun()


def board(challenge_id: str) -> None:
    ch = cw.challenges().get(challenge_id)
    if ch is not None:
        cw.leaderboard(ch, key=f"student_board_{ch.id}")


def in_class(info: ClassInfo, member: Member) -> None:
    cw.follow_class()
    st.title(f"🎓 {plain(info.name)}")
    st.markdown(f"You are in this class as **{plain(member.name)}**. Your runs stay private to this "
                "browser; your teacher sees them, other students do not.")
    if info.lesson is not None:
        with st.container(border=True):
            st.markdown("**Today's lesson**")
            if info.lesson.task:
                st.markdown(info.lesson.task)
            st.caption(cw.allowed_text(info.lesson))
            st.page_link("pages/train.py", label="Go to Train", icon="📈")
    else:
        st.info("No lesson right now: every control on the Train page is yours.")
    ch = cw.challenges().current(info.id)
    if ch is not None:
        st.subheader(f"🏆 {plain(ch.title or 'Challenge')}")
        me = shared.owner()
        finished = [r for r in shared.service().runs(me) if r.snapshot().state == FINISHED]
        if finished:
            pick = st.selectbox("Your finished run", [r.id for r in finished], key="challenge_run",
                                format_func=lambda i: next(f"run {r.label}" for r in finished if r.id == i))
            cw.challenge_box(ch, next(r for r in finished if r.id == pick), key="class_page")
        else:
            cw.challenge_box(ch, None)
            st.caption("Train a run to the end on the Train page, then submit it here or there.")
        st.markdown("**Leaderboard** (each student's best; the earlier one first on a tie)")
        st.fragment(board, run_every=LIVE_S)(ch.id)
    with st.expander("Change my name, or join another class"):
        join_form(info.join_code, member.name)
    if st.button("Leave this class", key="leave_class"):
        cw.room().leave(shared.owner())
        st.rerun()


me = shared.owner()
found = cw.room().student_class(me)
code = st.query_params.get("join", "")
target = cw.room().by_join_code(code) if code else None
if found is not None and (target is None or target.id == found[0].id):
    if code:
        st.query_params.pop("join", None)
    in_class(*found)
else:
    st.title("🎓 Join a class")
    if code and normalize_join_code(code) is None:
        st.error("The code in this link is not a class code. Type the code your teacher shows.")
        code = ""
    elif code and target is None:
        st.error("No class has the code in this link: it was mistyped, or the teacher made a new "
                 "one. Type the code your teacher shows now.")
    elif target is not None and not target.open:
        st.warning(f"Class “{plain(target.name)}” is closed: it takes no new students.")
    if found is not None:
        st.info(f"You are in class **{plain(found[0].name)}** as **{plain(found[1].name)}**. Joining "
                f"**{plain(target.name)}** takes you out of it (your runs stay).")
    join_form(normalize_join_code(code) or "", found[1].name if found else "",
              switching=found[0] if found else None)
    st.caption("No account needed: this browser remembers that you joined (a cookie), also after "
               "a reload. Your teacher sees your runs; the other students do not.")
