"""Teacher: create a class, watch it train live, hand out lessons, run the prediction challenge,
keep the class's drawings, and show it all on a projector.

A browser is a teacher of a class when it created it or opened its teacher link
(`/teacher?teach=<token>`); the token is moved out of the address bar at once, which then only
shows `?class=<id>`: copied off a projector, that gives nobody anything. Everything a student
did is read through core.classroom.classes / core.classroom.challenge / core.classroom.drawings and the run service
(read-only views; the one command is Stop).
"""
from __future__ import annotations

import time
from urllib.parse import urlsplit

import numpy as np
import streamlit as st
from PIL import Image

from core.analysis import diagnostics as diag
from core.charts import classroom as class_charts
from core.charts import draw as draw_charts
from core.charts import inspect as inspect_charts
from core.charts import train as train_charts
from core.classroom.challenge import DRAWINGS, MIN_DRAWINGS
from core.classroom.classes import ClassError, ClassInfo, make_lesson
from core.drawing import predict, preprocess
from core.nn import data
from core.nn.config import PARAM, PARAMS, ConfigError, HyperParams
from core.runs import RunView, WeightsUnavailable
from core.states import ACTIVE_STATES, BADGE, DIVERGED, FINISHED
from core.text import plain
from ui import class_widgets as cw
from ui import shared

shared.use_st_navigation()   # first: a visit straight to this page (see shared)

LIVE_S = 2.0            # the students' table refreshes this often
BOARD_S = 1.0           # ... and the leaderboard (one small query: a submission shows at once)
CHART_S = 5.0           # the class chart (points only change when runs end)
PAGE = 48               # drawings per page of the grid
TABS = ("Students", "Class chart", "Lesson", "Challenge", "Drawings", "Class settings")
NO_RUN = ""


# -- who and which class --------------------------------------------------------------------------

def base_url() -> str:
    """scheme://host[:port]/prefix of this app, from the page's own address."""
    url = getattr(st.context, "url", None) or ""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('/', 1)[0]}"


def join_link(info: ClassInfo) -> str:
    return f"{base_url()}/class?join={info.join_code}"


def teacher_link(info: ClassInfo) -> str:
    return f"{base_url()}/teacher?teach={info.teacher_token}"


def claim_link(me: str) -> None:
    """A teacher link was opened: make this browser a teacher and take the token out of the URL."""
    token = st.query_params.get("teach")
    if token is None:
        return
    del st.query_params["teach"]
    info = cw.room().claim_teacher_link(token, me)
    if info is None:
        st.session_state["bad_teacher_link"] = True
    else:
        st.query_params["class"] = info.id


def present_mode():
    """The projector view: a toggle, also ?present=1 in the address (so a projector's bookmark
    opens in it)."""
    if "present" not in st.session_state:
        st.session_state["present"] = st.query_params.get("present") in ("1", "true", "yes")

    def changed():
        if st.session_state["present"]:
            st.query_params["present"] = "1"
        else:
            st.query_params.pop("present", None)
    return st.session_state["present"], changed


# -- no class chosen: the teacher's classes, and a new one ----------------------------------------

def class_list(me: str) -> None:
    st.title("👩‍🏫 Teach a class")
    if st.session_state.pop("bad_teacher_link", False):
        st.error("This teacher link is not valid: it was mistyped, replaced by a newer one, or the "
                 "class was deleted. Ask the class's teacher for the current link.")
    if st.session_state.pop("deleted_class", None) is not None:
        st.success("The class was deleted, with its runs.")
    mine = cw.room().teacher_classes(me)
    if mine:
        st.subheader("Your classes")
        for info in mine:
            n = len(cw.room().members(info.id))
            c = st.columns([3, 2, 1], vertical_alignment="center")
            c[0].markdown(f"**{plain(info.name)}** · {n} student{'s' if n != 1 else ''}"
                          f"{' · closed' if not info.open else ''}")
            c[1].caption(f"created {time.strftime('%d %b %Y %H:%M', time.localtime(info.created))}")
            if c[2].button("Open", key=f"open_{info.id}", width="stretch"):
                st.query_params["class"] = info.id
                st.rerun()
    st.subheader("A new class")
    with st.form("new_class", border=True):
        name = st.text_input("Name of the class", placeholder="e.g. Neural networks, group B",
                             max_chars=40)
        if st.form_submit_button("Create the class", type="primary"):
            try:
                info = cw.room().create_class(me, name)
            except ClassError as e:
                st.error(str(e))
            else:
                st.query_params["class"] = info.id
                st.rerun()
    st.caption("Students join with a link or a short code that you show them; they need no account. "
               "This browser stays the class's teacher (also after a server restart); to teach it "
               "from another computer, open the class's teacher link there (under Class settings).")


# -- the header: which class, how to join ----------------------------------------------------------

def header(info: ClassInfo, present: bool, on_present) -> None:
    top = st.columns([4, 1.2], vertical_alignment="center")
    top[0].title(f"👩‍🏫 {plain(info.name)}" + ("  · closed" if not info.open else ""))
    with top[1]:
        st.toggle("📽 Projector view", key="present", on_change=on_present,
                  help="Large type, no sidebar, charts at full width: for the room's screen. "
                       "Also ?present=1 in the address.")
        if not present and st.button("← All my classes", key="back"):
            st.query_params.pop("class", None)
            st.rerun()
    if info.open:
        st.html(f'<div>Students join at <b>{join_link(info)}</b> or type the code '
                f'<span class="class-join-code"><b>{info.join_code}</b></span> on the <b>My class</b> page.</div>')
    else:
        st.caption("Joining is closed (reopen it under Class settings).")


# -- the students' table (live) ----------------------------------------------------------------------

def live_table(class_id: str, present: bool) -> None:
    info = cw.room().get(class_id)
    if info is None:
        return
    rows, runs = cw.class_table(info)
    students = len(cw.room().members(class_id))
    active = sum(1 for _, r in runs.values() if r.state in ACTIVE_STATES)
    st.caption(f"{students} students · {len(runs)} runs · {active} training or waiting · "
               f"updated {time.strftime('%H:%M:%S')}")
    if not rows:
        st.info("No students yet: show them the join link or the code above.")
    elif present:
        st.table(cw.table_cells(rows))
    else:
        st.dataframe(rows, hide_index=True, width="stretch", key="class_table",
                     height=min(36 + 35 * len(rows), 700))
    options = [NO_RUN, *runs]
    if opened() not in options:
        open_run(NO_RUN)
    st.session_state["open_run_pick"] = opened()     # follows a click on the class chart too
    st.selectbox("Open a student's run (read-only)", options, key="open_run_pick",
                 on_change=lambda: open_run(st.session_state["open_run_pick"]),
                 format_func=lambda i: "—" if i == NO_RUN else
                 f"{runs[i][0]} · run #{runs[i][1].number} · {HyperParams.validate(runs[i][1].config).describe()}")
    if opened() != st.session_state.get("_panel_run"):
        st.rerun()      # the run panel below is outside this fragment


def opened() -> str:
    """The run whose read-only panel is open (a plain session value, not a widget's: the chart
    and the table's picker both set it)."""
    return st.session_state.get("panel_run", NO_RUN)


def open_run(run_id: str) -> None:
    st.session_state["panel_run"] = run_id


# -- one student's run, read-only ---------------------------------------------------------------------

def run_panel(run_id: str, present: bool) -> None:
    """Curves, Look inside and Draw for one run of the class, read-only; Stop for a runaway one."""
    if not run_id:
        return
    run = shared.service().get_any(run_id)
    if run is None:
        st.warning("This run has been deleted.")
        return
    found = cw.room().class_runs(st.query_params.get("class"))
    if run.id not in {r.id for r in found}:
        return      # not a run of this class: nothing to show
    names = {m.owner: m.name for m in cw.room().members(st.query_params.get("class"), current=False)}
    st.subheader(f"{plain(names.get(run.owner, '?'))} · run #{run.number}")
    st.caption(run.hp.describe())
    snap = run.snapshot()
    st.fragment(run_status, run_every=1.0 if snap.active else None)(run.id, present)
    look, draw = st.tabs(["Look inside", "Draw"])
    with look:
        look_inside(run, snap, present)
    with draw:
        draw_with(run, snap)


def run_status(run_id: str, present: bool) -> None:
    run = shared.service().get_any(run_id)
    if run is None:
        return
    snap = run.snapshot()
    line = f"**{BADGE.get(snap.state, snap.state)}** · step {snap.step:,} of {snap.total_steps:,}"
    if snap.reason:
        line += f"  \n{snap.reason}"
    cols = st.columns([4, 1], vertical_alignment="center")
    cols[0].markdown(line)
    if snap.active and cols[1].button("⏹ Stop this run", key=f"stop_{run.id}",
                                      help="Stop a runaway run (it keeps its checkpoint: the student can Continue)."):
        shared.service().stop(None, run.id, "stopped by the teacher (saved: Continue goes on from here)")
        shared.service().wait(run.id, 3.0)
        st.rerun()
    curves, _ = run.curves()
    if curves.step:
        fig = train_charts.curves_figure(curves, run.steps_per_epoch, 0.6, epochs=run.hp.epochs,
                                         height=520 if present else None)
        st.plotly_chart(fig, key=f"teacher_curves_{run.id}", config={"displayModeBar": False})
    else:
        st.caption("No curve points yet.")


def look_inside(run: RunView, snap, present: bool) -> None:
    if snap.state == DIVERGED:
        st.info("This run diverged: its weights are not numbers, there is nothing to look at.")
        return
    try:
        model = run.model()
    except WeightsUnavailable as e:
        st.info(f"No weights to look at: {e}")
        return
    key, version = f"teacher_preds:{run.id}", getattr(snap, "weights_version", snap.step)
    cached = st.session_state.get(key)
    if cached is None or cached[0] != version:   # one pass over the images per version of the weights
        ds = data.load(run.hp.dataset)
        idx = run.val_indices
        cached = (version, diag.predict(model, ds.train_x[idx], ds.train_y[idx]))
        st.session_state[key] = cached
    preds = cached[1]
    cm = diag.confusion_matrix(preds.y_true, preds.y_pred)
    st.caption(f"On its {len(preds.y_true):,} validation images (weights of step {snap.step:,}): "
               f"{preds.accuracy:.2%} right.")
    cols = st.columns(2)
    with cols[0]:
        fig = inspect_charts.confusion_figure(cm, run.class_names, normalize=True)
        fig.update_layout(title_text="Confusion matrix on the validation images (% of the true class)")
        st.plotly_chart(fig, key=f"teacher_cm_{run.id}", config={"displayModeBar": False})
    with cols[1]:
        if run.hp.depth:
            st.plotly_chart(inspect_charts.weight_grid_figure(diag.first_layer_images(model, 32), 8),
                            key=f"teacher_w_{run.id}", config={"displayModeBar": False})
            st.caption("The first layer's first 32 units: what each looks for in the 28×28 image "
                       "(blue: ink there switches it on, red: off).")


def draw_with(run: RunView, snap) -> None:
    """A canvas that asks this run's weights (the teacher tries a student's network)."""
    from streamlit_drawable_canvas import st_canvas
    try:
        model = run.model()
    except WeightsUnavailable as e:
        st.info(f"No weights to draw with: {e}")
        return
    left, right = st.columns([1, 1.3])
    with left:
        result = st_canvas(stroke_width=20, stroke_color="#FFFFFF", background_color="#000000",
                           update_streamlit=True, height=280, width=280, drawing_mode="freedraw",
                           return_image_data=True, key=f"teacher_canvas_{run.id}")
    x28 = preprocess.canvas_to_mnist(result.image_data) if result.image_data is not None else None
    with right:
        if x28 is None:
            st.caption("Draw a digit: this run's network reads it.")
            return
        probs = predict.predict(model, x28)
        if not np.isfinite(probs).all():
            st.error("This network's weights are no longer numbers: it cannot predict.")
            return
        top = int(np.argmax(probs))
        st.metric("The network says", run.class_names[top], f"{probs[top]:.0%} sure", delta_color="off")
        st.plotly_chart(draw_charts.probability_bars(probs, run.class_names), key=f"teacher_probs_{run.id}",
                        config={"displayModeBar": False})


# -- the class as one experiment -------------------------------------------------------------------------

def chart_params(info: ClassInfo, records) -> list[str]:
    """The settings worth an axis: those that differ across the class's ended runs, the lesson's
    focus first."""
    hps = [HyperParams.validate(r.config) for r in records if r.state in (FINISHED, DIVERGED)]
    names = list(cw.differing(hps))
    focus = info.lesson.focus if info.lesson else None
    if focus and focus in names:
        names.remove(focus)
        names.insert(0, focus)
    elif focus and not names:
        names = [focus]
    return names


def class_chart(class_id: str, present: bool) -> None:
    info = cw.room().get(class_id)
    if info is None:
        return
    records = cw.room().class_runs(class_id)
    names = {m.owner: m.name for m in cw.room().members(class_id, current=False)}
    params = chart_params(info, records)
    if not params:
        st.info("The chart needs finished runs with different settings: start a lesson that lets "
                "students change a setting (e.g. the initialization σ), and let them train.")
        return
    c = st.columns(2)
    x = c[0].selectbox("Horizontal axis", params, key="chart_x", format_func=lambda n: PARAM[n].label)
    metric = c[1].radio("Accuracy", list(class_charts.METRICS), horizontal=True, key="chart_metric",
                        format_func=class_charts.METRICS.get)
    pts = class_charts.points(records, names, metric)
    font = cw.chart_font(present)
    fig = class_charts.experiment_figure(pts, x, metric, font, height=640 if present else 460)
    event = st.plotly_chart(fig, key="class_chart", on_select="rerun", selection_mode="points",
                            config={"displayModeBar": False})
    chosen = tuple(c for c in (p.get("customdata", [None])[0] for p in (event.selection.points if event else []))
                   if c)
    if chosen and chosen != st.session_state.get("_chart_clicked"):   # a new click, not the last one again
        st.session_state["_chart_clicked"] = chosen
        open_run(chosen[0])
        st.rerun()
    ok = sum(1 for p in pts if p.state == FINISHED)
    bad = sum(1 for p in pts if p.state == DIVERGED)
    st.caption(f"{ok} finished runs, {bad} diverged (red ×, at the bottom). Click a point to open that run below.")
    par = class_charts.parcoords_figure(pts, params, metric, font, height=520 if present else 420)
    if par is not None and params:
        st.plotly_chart(par, key="class_parcoords", config={"displayModeBar": False})
        st.caption("Every setting that differs across the class, one line per finished run, "
                   "coloured by accuracy: drag along an axis to pick a range.")


# -- lessons ------------------------------------------------------------------------------------------------

def preset_defaults(key: str):
    """(settings, allowed, focus, task) of a lesson built from a preset of the lectures."""
    from core.sweeps.presets import PRESETS
    preset = PRESETS[key]
    varied = list(dict.fromkeys(name for axis in preset.axes for level in axis.levels
                                for name in level.settings))
    numeric = [n for n in varied if PARAM[n].kind in (int, float) and not PARAM[n].choices]
    labels = " and ".join(PARAM[n].label.lower() for n in varied)
    task = (f"**{preset.title}.** Try different values of {labels}. Before each run, predict its "
            "test accuracy; then compare with the class chart. Which values learn, which do not, and why?")
    return preset, varied, (numeric[0] if numeric else (varied[0] if varied else None)), task


def lesson_tab(info: ClassInfo, sidebar_hp: HyperParams | None) -> None:
    room = cw.room()
    if info.lesson is not None:
        lesson = info.lesson
        with st.container(border=True):
            st.markdown(f"**Lesson running** since {time.strftime('%H:%M', time.localtime(lesson.started))}"
                        + (f" (preset: {lesson.preset})" if lesson.preset else ""))
            if lesson.task:
                st.markdown(lesson.task)
            st.caption(cw.allowed_text(lesson).replace("You may", "Students may")
                       + (" Hidden from them: " + ", ".join(PARAM[n].label for n in lesson.hidden) + "."
                          if lesson.hidden else ""))
            st.caption("Settings: " + lesson.hp.describe())
            if st.button("⏹ End the lesson", key="end_lesson",
                         help="Students get every control back (their current values stay)."):
                room.set_lesson(info.id, None)
                st.toast("Lesson ended: students' pages follow within a few seconds.")
                st.rerun()
    st.markdown("#### " + ("Change the lesson" if info.lesson else "Start a lesson"))
    from core.sweeps.presets import PRESETS
    source = st.radio("Settings from", ["preset", "sidebar"], horizontal=True, key="lesson_source",
                      format_func={"preset": "a lesson of the lectures",
                                   "sidebar": "the settings in the sidebar (←)"}.get)
    if source == "preset":
        key = st.selectbox("Lesson", list(PRESETS), key="lesson_preset",
                           format_func=lambda k: PRESETS[k].title)
        quick = st.toggle("Quick version (fewer images and epochs: seconds per run on a shared server)",
                          value=True, key="lesson_quick")
        preset, allowed0, focus0, task0 = preset_defaults(key)
        try:
            hp = HyperParams.validate({**preset.base, **(preset.reduced if quick else {})})
        except ConfigError as e:
            st.error(f"This preset's settings are not valid here: {e}")
            return
        stamp = f"{key}_{quick}"
    else:
        hp, preset = sidebar_hp, None
        if hp is None:
            st.warning("The sidebar's settings are not valid: fix them first.")
            return
        allowed0 = list(info.lesson.allowed) if info.lesson else ["lr"]
        focus0 = info.lesson.focus if info.lesson else "lr"
        task0 = info.lesson.task if info.lesson else ""
        stamp = "sidebar"
    st.caption("Settings: " + hp.describe() + f" · {hp.epochs} epoch{'s' if hp.epochs != 1 else ''}"
               + (f" · {hp.subset:,} training images" if hp.subset else ""))
    names = [p.name for p in PARAMS]
    label = lambda n: PARAM[n].label  # noqa: E731
    allowed = st.multiselect("Students may change", names, default=allowed0, key=f"lesson_allowed_{stamp}",
                             format_func=label, help="Every other control is fixed to the lesson's value.")
    hidden = st.multiselect("Hide from students (fixed and not shown)", [n for n in names if n not in allowed],
                            default=[], key=f"lesson_hidden_{stamp}", format_func=label,
                            help="Like TensorFlow Playground's hidden controls: fewer knobs on the screen.")
    focus_options = allowed or names
    focus = st.selectbox("The class chart's horizontal axis", focus_options,
                         index=focus_options.index(focus0) if focus0 in focus_options else 0,
                         key=f"lesson_focus_{stamp}", format_func=label)
    task = st.text_area("Task for the students (optional, Markdown)", value=task0, key=f"lesson_task_{stamp}",
                        height=110, max_chars=1500)
    if st.button("▶ Change the lesson" if info.lesson else "▶ Start the lesson", type="primary",
                 key="start_lesson"):
        try:
            lesson = make_lesson(hp, allowed, hidden, task, focus=focus, preset=preset.key if preset else None)
            room.set_lesson(info.id, lesson)
        except (ClassError, ConfigError) as e:
            st.error(str(e))
        else:
            st.toast("Lesson sent: students' pages follow within a few seconds.")
            st.rerun()


# -- the challenge ------------------------------------------------------------------------------------------

def live_board(challenge_id: str, present: bool) -> None:
    ch = cw.challenges().get(challenge_id)
    if ch is None:
        return
    board = cw.challenges().leaderboard(ch)
    st.caption(f"{len(board)} student{'s' if len(board) != 1 else ''} on the board · "
               f"updated {time.strftime('%H:%M:%S')}")
    cw.leaderboard(ch, present, key=f"board_{ch.id}")
    if board and not present:
        with st.expander("Where the class goes wrong (the best submissions' confusion)"):
            cm = cw.challenges().class_confusion(ch)
            names = data.DATASETS[ch.dataset].class_names
            st.plotly_chart(inspect_charts.confusion_figure(cm, names, normalize=True),
                            key=f"class_cm_{ch.id}", config={"displayModeBar": False})
            pick = st.selectbox("One student's best submission", [s.name for s in board], key=f"cm_pick_{ch.id}")
            s = next(s for s in board if s.name == pick)
            st.plotly_chart(inspect_charts.confusion_figure(s.submission.confusion, names, normalize=True),
                            key=f"student_cm_{ch.id}", config={"displayModeBar": False})
            st.caption(f"{plain(s.name)}: {s.submission.accuracy:.2%} with {s.submission.hp.describe()}")


def challenge_tab(info: ClassInfo, present: bool) -> None:
    chs = cw.challenges()
    ch = chs.current(info.id)
    if ch is not None:
        top = st.columns([4, 1], vertical_alignment="center")
        top[0].markdown(f"### 🏆 {plain(ch.title or 'Challenge')}  \nOpen since "
                        f"{time.strftime('%H:%M', time.localtime(ch.opened))} · scored on {ch.describe} "
                        "the students never see.")
        if not present and top[1].button("Close the challenge", key="close_challenge"):
            chs.close(info.id)
            st.rerun()
        st.fragment(live_board, run_every=BOARD_S)(ch.id, present)
    elif not present:
        st.markdown("#### Open a challenge")
        counts = cw.drawing_set().count(info.id)
        sources = ["mnist"] + (["fashion"] if data.available("fashion")[0] else []) + [DRAWINGS]
        labels = {"mnist": f"{2000:,} hidden MNIST test digits (left out of the students' test figures while open)",
                  "fashion": "2,000 hidden Fashion-MNIST test images",
                  DRAWINGS: f"the class's own drawings ({counts}; at least {MIN_DRAWINGS})"}
        source = st.radio("Hidden set", sources, key="challenge_source", format_func=labels.get)
        title = st.text_input("Title (optional)", key="challenge_title", max_chars=80,
                              placeholder="e.g. Best network in 3 epochs")
        if st.button("🏆 Open the challenge", type="primary", key="open_challenge"):
            try:
                chs.open(info.id, source, title)
            except ClassError as e:
                st.error(str(e))
            else:
                st.rerun()
        st.caption("Students submit a finished run from their Train or My class page; the server "
                   "scores its saved weights. The leaderboard keeps each student's best, the earlier "
                   "one first on a tie.")
    past = [c for c in chs.history(info.id) if not c.open]
    if past and not present:
        st.markdown("#### Earlier challenges")
        pick = st.selectbox("Challenge", [c.id for c in past], key="past_challenge",
                            format_func=lambda i: next(f"{c.title or 'Challenge'} · "
                                                       f"{time.strftime('%d %b %H:%M', time.localtime(c.opened))}"
                                                       f" · {c.describe}" for c in past if c.id == i))
        cw.leaderboard(chs.get(pick), False, key=f"past_{pick}")


# -- the class's drawings --------------------------------------------------------------------------------

def big(pixels: np.ndarray, scale: int = 3) -> Image.Image:
    return Image.fromarray(pixels).resize((28 * scale, 28 * scale), Image.NEAREST)


def drawings_tab(info: ClassInfo) -> None:
    ds = cw.drawing_set()
    counts = ds.counts(info.id)
    total = sum(counts)
    st.markdown(f"**{total} drawings** by the class · " + " · ".join(f"{d}: {n}" for d, n in enumerate(counts)))
    if total == 0:
        st.info("Students add drawings on the Draw page (a button under the prediction, once they "
                "are in the class).")
        return
    e = st.columns(3)
    e[0].download_button("⬇ IDX files (.zip, the MNIST format)", lambda: ds.export_idx(info.id),
                         file_name=f"class-drawings-{info.id}.zip", mime="application/zip", key="export_idx")
    e[1].download_button("⬇ NumPy (.npz)", lambda: ds.export_npz(info.id),
                         file_name=f"class-drawings-{info.id}.npz", mime="application/octet-stream",
                         key="export_npz")
    as_drawn = e[2].toggle("Show as drawn", key="drawings_as_drawn",
                           help="The canvas as the student drew it, instead of the 28×28 the network sees.")
    digit = st.segmented_control("Digit", list(range(10)), key="drawings_digit", default=0,
                                 format_func=lambda d: f"{d} ({counts[d]})")
    if digit is None:
        return
    names = {m.owner: m.name for m in cw.room().members(info.id, current=False)}
    items = ds.list(info.id, label=digit)
    pages = max(1, -(-len(items) // PAGE))
    page = st.number_input("Page", 1, pages, 1, key=f"drawings_page_{digit}") if pages > 1 else 1
    cols = st.columns(8)
    for i, d in enumerate(items[(page - 1) * PAGE: page * PAGE]):
        with cols[i % 8]:
            img = ds.original(info.id, d.id) if as_drawn else None
            st.image(Image.fromarray(img).resize((84, 84)) if img is not None else big(d.pixels), width=84)
            read = f", read as {d.predicted}" if d.predicted is not None and d.predicted != d.label else ""
            st.caption(f"{plain(names.get(d.owner, '?'))}{read}")
            if st.button("🗑", key=f"del_drawing_{d.id}", help="Delete this drawing from the set"):
                ds.delete(info.id, d.id)
                st.rerun()


# -- the class's settings -----------------------------------------------------------------------------------

def settings_tab(info: ClassInfo, me: str) -> None:
    room, svc = cw.room(), shared.service()
    with st.form("class_name"):
        name = st.text_input("Name of the class", value=info.name, max_chars=40)
        if st.form_submit_button("Rename"):
            try:
                room.rename(info.id, name)
                st.rerun()
            except ClassError as e:
                st.error(str(e))
    st.markdown("#### Joining")
    st.code(join_link(info), language=None)
    c = st.columns(2)
    if info.open:
        if c[0].button("Close joining", key="close_class", help="No new students; the class goes on."):
            room.close(info.id)
            st.rerun()
    elif c[0].button("Reopen joining", key="reopen_class"):
        room.reopen(info.id)
        st.rerun()
    if c[1].button("New join code", key="new_code", help="The old code and link stop working; students in the class stay."):
        room.new_join_code(info.id)
        st.rerun()

    st.markdown("#### Limits per student")
    server = svc.limits
    with st.form("class_limits"):
        l = st.columns(2)
        unfinished = l[0].number_input(f"Unfinished runs (server: {server.runs_per_student})", 1,
                                       server.runs_per_student, info.max_unfinished or server.runs_per_student)
        epochs = l[1].number_input("Epochs per run (empty: no class limit)", 1, 200, info.max_epochs,
                                   placeholder="no class limit")
        if st.form_submit_button("Save the limits"):
            try:
                room.set_limits(info.id, None if unfinished >= server.runs_per_student else int(unfinished),
                                None if epochs is None else int(epochs), server.runs_per_student)
                st.toast("Limits saved: they apply to the next run each student starts.")
                st.rerun()
            except ClassError as e:
                st.error(str(e))

    members = room.members(info.id)
    if members:
        st.markdown("#### Students")
        r = st.columns([3, 1], vertical_alignment="bottom")
        who = r[0].selectbox("Student", [m.owner for m in members], key="remove_who",
                             format_func=lambda o: next(m.name for m in members if m.owner == o))
        if r[1].button("Remove from the class", key="remove_student",
                       help="Their runs stay with the class; they can join again with the code."):
            room.remove_student(info.id, who)
            st.rerun()

    st.markdown("#### Teacher link")
    with st.expander("Show the teacher link (keep it private: whoever opens it can run this class)"):
        st.code(teacher_link(info), language=None)
        st.caption("Open it on the projector's computer, or give it to a co-teacher. It never shows "
                   "in the address bar.")
        if st.button("Replace the teacher link", key="new_teacher_link",
                     help="The old link stops working; browsers already teaching keep the class."):
            room.new_teacher_link(info.id)
            st.rerun()

    st.markdown("#### Delete the class")
    with st.expander("Delete this class, its runs, lessons, challenges and drawings"):
        n = len(room.class_runs(info.id))
        typed = st.text_input(f"Type the class's name ({plain(info.name)}) to confirm", key="delete_confirm")
        if st.button(f"Delete the class and its {n} runs", type="primary", key="delete_class",
                     disabled=typed.strip() != info.name):
            room.delete(info.id, svc)
            st.query_params.pop("class", None)
            st.session_state["deleted_class"] = info.id
            st.rerun()


# -- page ---------------------------------------------------------------------------------------------------

me = shared.owner()
claim_link(me)
present, on_present = present_mode()
class_id = st.query_params.get("class")
info = cw.room().get(class_id) if class_id else None
if class_id and (info is None or not cw.room().is_teacher(me, class_id)):
    st.title("👩‍🏫 Teach a class")
    st.warning("This class is not available in this browser. A teacher opens a class with its "
               "teacher link; students join on the **My class** page.")
    if st.button("Show my own classes", key="my_classes"):
        st.query_params.pop("class", None)
        st.rerun()
    st.stop()
if info is None:
    class_list(me)
    st.stop()

cw.projector_view(present)
st.sidebar.caption("**Lesson settings**: *Start a lesson* can hand these out.")
sidebar_hp = shared.hyperparams_sidebar()
header(info, present, on_present)
tabs = st.tabs(TABS, key="tab", bind="query-params")
students, chart, lesson, challenge, drawings, settings = tabs
st.session_state["_panel_run"] = opened()   # what this full run shows (the fragments compare)
if students.open:
    with students:
        st.fragment(live_table, run_every=LIVE_S)(info.id, present)
        run_panel(opened(), present)
if chart.open:
    with chart:
        st.fragment(class_chart, run_every=CHART_S)(info.id, present)
        run_panel(opened(), present)
if lesson.open:
    with lesson:
        lesson_tab(info, sidebar_hp)
if challenge.open:
    with challenge:
        challenge_tab(info, present)
if drawings.open:
    with drawings:
        drawings_tab(info)
if settings.open:
    with settings:
        if present:
            st.info("Class settings are not shown in the projector view.")
        else:
            settings_tab(info, me)
