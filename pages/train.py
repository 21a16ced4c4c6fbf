"""Train page: pick a network in the sidebar, start a run, watch it learn live.

The page never trains: it forwards clicks to the run service (core.runs) and polls the run's
snapshot in a fragment, once a second (four times a second in a run's first seconds, so the
first points appear at once), so inputs stay usable while it trains.
"""
from __future__ import annotations

import io
import json
import shlex
import time

import streamlit as st

from core.analysis import verdict
from core.charts import train as charts
from core.nn import model as model_lib
from core.nn.config import LIVE_PARAMS, PARAM, HyperParams, cli_flags, format_value, structural_changes
from core.nn.trainer import RunSnapshot
from core.runs import Refused, RunView
from core.states import BADGE, DIVERGED, FAILED, FINISHED, IDLE, PAUSED, QUEUED, RESUMABLE_STATES, RUNNING
from ui import class_widgets, shared

shared.use_st_navigation()   # first: a visit straight to this page (see shared)

FAST_REFRESH_S, REFRESH_S = 0.25, 1.0   # the live panel's refresh: fast in a run's first seconds
FAST_FOR_S = 4.0
# A queued or paused run changes slowly: its page asks less often. (Every queued page polling at
# 4 Hz, as in a run's first seconds, saturated a 2-core server with a class of 30 waiting for one
# training slot: bench/bench_load.py.)
QUEUED_REFRESH_S, PAUSED_REFRESH_S = 2.0, 5.0
SETTLE_S = 0.8        # a live change (learning rate...) applies once the input has been still this long
FIRST_POINT_WAIT_S = 0.4   # after Start, wait this long at most for the untrained network's point


def view_of(run: RunView, smoothing: float) -> charts.CurveView:
    """The run's chart state, updated with only the new points: a refresh costs the same at
    step 100 and at step 1,000,000 (smoothing and thinning are incremental)."""
    key = f"view:{run.id}"
    view = st.session_state.get(key)
    if view is None:
        view = st.session_state[key] = charts.CurveView(run.steps_per_epoch, smoothing)
    return view.sync(run.curves, smoothing)


@st.cache_data(show_spinner=False, max_entries=64)
def init_signal(hp: HyperParams):
    """The signal of this network at initialization (~10 ms; depends on the settings only)."""
    try:
        return verdict.initial_signal(hp)
    except Exception:   # a data set that is not here: the sidebar already says so
        return None


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def cli_command(hp: HyperParams) -> str:
    return shlex.join(["python", "-m", "core.train", *cli_flags(hp), "--json"])


# -- actions (forwarded to the run service) ---------------------------------------------------------

def refused(e: Refused) -> None:
    st.session_state["refused"] = str(e)


def do_start(run: RunView | None, hp: HyperParams) -> None:
    svc, me = shared.service(), shared.owner()
    try:
        if run is not None and run.snapshot().state == IDLE and not structural_changes(run.hp, hp):
            svc.start(me, run.id)
        else:
            if run is not None and run.snapshot().state == IDLE:
                svc.delete(me, run.id)   # an untrained run with stale settings: replace it
            run = svc.submit(me, hp, parent_id=st.session_state.pop("rerun_parent", None))
    except Refused as e:
        return refused(e)
    shared.set_current_run(run)
    deadline = time.monotonic() + FIRST_POINT_WAIT_S   # the untrained network's point, at once
    while time.monotonic() < deadline and not run.curves()[1][1]:
        time.sleep(0.02)


def do_step(run: RunView | None, hp: HyperParams) -> None:
    svc, me = shared.service(), shared.owner()
    if run is None:
        try:
            run = svc.submit(me, hp, start=False)
        except Refused as e:
            return refused(e)
        shared.set_current_run(run)
    svc.step(me, run.id)


def do_reset(run: RunView, hp: HyperParams) -> None:
    """Stop the run on screen (it stays in the run list) and show a fresh, untrained one."""
    svc, me = shared.service(), shared.owner()
    if run.snapshot().state == IDLE:
        svc.delete(me, run.id)
    else:
        svc.stop(me, run.id)
        svc.wait(run.id, 3.0)   # let it reach "stopped" before the page re-renders
    try:
        shared.set_current_run(svc.submit(me, hp, start=False))
    except Refused as e:
        shared.set_current_run(None)
        refused(e)


def do_continue(run: RunView) -> None:
    try:
        shared.service().continue_run(shared.owner(), run.id)
    except Refused as e:
        refused(e)


def apply_live_changes(run: RunView, snap: RunSnapshot, hp: HyperParams) -> None:
    """Send the sidebar's learning rate, momentum and weight decay to the running trainer once
    each has stayed put for SETTLE_S (arrow keys step through every value in between: only the
    one the user stops at becomes a change on the curves)."""
    if not snap.active:
        return
    pending = st.session_state.setdefault("live_pending", {})
    now = time.monotonic()
    for name in LIVE_PARAMS:
        value = getattr(hp, name)
        if not PARAM[name].is_shown(hp.to_dict()) or value == snap.live[name]:
            pending.pop(name, None)
            continue
        if pending.get(name, (None,))[0] != value:
            pending[name] = (value, now)
        elif now - pending[name][1] >= SETTLE_S:
            shared.service().set_live(shared.owner(), run.id, name, value)
            pending.pop(name)


# -- controls: rendered with the page; a click reruns the page and forwards intent to core ------

def controls(run: RunView | None, snap: RunSnapshot | None, hp: HyperParams | None) -> None:
    """Buttons, enabled by state. They are outside the live fragment: their state only changes
    when the run's state does, and then the fragment re-renders the whole page."""
    svc, me = shared.service(), shared.owner()
    state = snap.state if snap else None
    c = st.container(key="controls").columns(6)
    ended = snap is not None and snap.ended
    if c[0].button("▶ Start new run" if ended else "▶ Start", type="primary", width="stretch",
                   disabled=hp is None or (snap is not None and snap.active), key="btn_start"):
        do_start(run, hp)
        st.rerun()
    if state == PAUSED:
        if c[1].button("▶ Resume", width="stretch", key="btn_resume"):
            svc.resume(me, run.id)
            st.rerun()
    elif state in RESUMABLE_STATES:
        if c[1].button("⏯ Continue", width="stretch", key="btn_continue",
                       help="Go on training this run from its last checkpoint."):
            do_continue(run)
            st.rerun()
    elif c[1].button("⏸ Pause", width="stretch", disabled=state not in (RUNNING, QUEUED),
                     key="btn_pause"):
        svc.pause(me, run.id)
        st.rerun()
    if c[2].button("⏭ Step", width="stretch", key="btn_step",
                   help="Train one mini-batch, then pause.",
                   disabled=hp is None or state not in (None, IDLE, PAUSED)):
        do_step(run, hp)
        st.rerun()
    if c[3].button("⏹ Stop", width="stretch", disabled=not (snap and snap.active), key="btn_stop"):
        svc.stop(me, run.id)
        svc.wait(run.id, 3.0)
        st.rerun()
    if c[4].button("↺ Reset", width="stretch", key="btn_reset",
                   help="Start over from fresh random weights with the sidebar's settings.",
                   disabled=hp is None or run is None or (state == IDLE and not structural_changes(run.hp, hp))):
        do_reset(run, hp)
        st.rerun()
    with c[5].popover("🔗 Share", width="stretch", help="A link with these settings only: "
                      "whoever opens it gets the same sidebar, not your runs."):
        if hp is not None:
            st.code(shared.share_link(hp), language=None)
            st.caption("The settings only: your runs stay private to this browser.")


# -- the live panel: only what changes while a run trains ---------------------------------------
# Everything else stays out of it: each element in it is re-sent and re-drawn by the browser at
# every refresh, and on a 2-core laptop the browser's work competes with the training thread.

SMOOTHING, COMPARE = 0.6, ()   # the chart options' defaults (their widgets are below the chart)


def status_line(run: RunView, snap: RunSnapshot) -> None:
    """The state in words, with what the user can do about it."""
    live = " · ".join(f"{PARAM[k].label.lower()} {format_value(PARAM[k], v)}" for k, v in snap.live.items()
                      if PARAM[k].is_shown(run.hp.to_dict()))
    message = (f"**{BADGE[snap.state]}** · run {run.label.split(' · ')[0]} · step {snap.step:,} of "
               f"{snap.total_steps:,} · {live} · {snap.device}")
    reason = snap.reason
    if snap.state == QUEUED and snap.queue_position:
        wait = f", about {fmt_seconds(snap.queue_wait)} to wait" if snap.queue_wait else ""
        reason = (f"Waiting for a training slot: number {snap.queue_position} in the queue{wait}. "
                  f"{shared.service().slots()} run(s) train at once on this server; it starts by itself.")
    show = {DIVERGED: st.error, FAILED: st.error, FINISHED: st.success}.get(
        snap.state, st.info if reason else st.markdown)
    show(message + (f"  \n{reason}" if reason else ""))


def live_panel(rendered_state: str, fast: bool) -> None:
    """A fragment: re-rendered while the run is active (see the page below)."""
    run = shared.current_run()
    if run is None:
        return
    snap = run.snapshot()
    if snap.state != rendered_state or (fast and snap.elapsed > FAST_FOR_S):
        st.rerun()   # started, paused, ended...: re-render the page (buttons; start/stop polling)
    hp = st.session_state.get("_hp")
    if hp is not None:
        apply_live_changes(run, snap, hp)
    status_line(run, snap)
    m = st.container(key="metrics").columns(5)
    m[0].metric("Epoch", f"{snap.epoch:.2f} / {snap.epochs}")
    m[1].metric("Samples/s", f"{snap.samples_per_second:,.0f}")
    m[2].metric("ETA", fmt_seconds(snap.eta), help=f"training time so far: {fmt_seconds(snap.elapsed)}")
    m[3].metric("Best val. accuracy", f"{snap.best_val_accuracy:.2%}" if snap.best_val_accuracy is not None else "–",
                help="on the whole validation set, measured at each epoch end")
    m[4].metric("Test accuracy", f"{snap.test_accuracy:.2%}" if snap.test_accuracy is not None else "–",
                help="on the 10,000 official test images, measured once at the end")

    # The chart options' widgets are rendered after this fragment: read their values by key.
    smoothing = st.session_state.get("smoothing", SMOOTHING)
    view = view_of(run, smoothing)
    judged = verdict.judge(snap, view.digest(), run.hp, init_signal(run.hp))
    if judged is not None and judged.level != "ok":
        (st.error if judged.level == "bad" else st.warning)(judged.text)
        if judged.tab and st.button(f"🔬 Look inside → {judged.tab}", key="btn_verdict_tab"):
            st.session_state["look_goto"] = judged.tab
            st.switch_page("pages/look_inside.py")
    others = compare_options(run)
    chosen = [others[i] for i in st.session_state.get("compare", COMPARE) if i in others]
    compare = [(f"#{r.number}", view_of(r, smoothing), r.steps_per_epoch) for r in chosen]
    log_loss = st.session_state.get("log_loss", False)
    panels = st.columns(2)   # side by side on a laptop, one per row on a phone
    for col, panel in zip(panels, ("loss", "accuracy")):
        col.plotly_chart(charts.unchecked(view.figure(panel, log_loss=log_loss, compare=compare, epochs=run.hp.epochs)),
                         key=f"curves_{panel}", config={"displayModeBar": False})


def compare_options(run: RunView) -> dict[str, RunView]:
    return {r.id: r for r in shared.service().runs(shared.owner()) if r.id != run.id}


def downloads(run: RunView, snap: RunSnapshot) -> None:
    """Files are made when clicked (a long run's CSV costs seconds), not at every rerun."""
    if snap.step == 0:
        return
    d = st.columns(3)
    d[0].download_button("⬇ Curves (CSV)", lambda: charts.curves_table(run.curves()[0], run.steps_per_epoch),
                         file_name=f"run{run.number}_curves.csv", mime="text/csv")
    d[1].download_button("⬇ Settings (JSON)", json.dumps(run.hp.to_dict(), indent=2),
                         file_name=f"run{run.number}_settings.json", mime="application/json")
    if snap.state != DIVERGED:
        try:
            model = run.model()
        except Exception as e:   # weights missing or damaged: say so, keep the page
            d[2].caption(f"No weights to download: {e}")
            return
        def weights() -> bytes:
            buf = io.BytesIO()
            model_lib.save(model, buf, hyperparams=run.hp.to_dict(), test_accuracy=snap.test_accuracy)
            return buf.getvalue()
        d[2].download_button("⬇ Model weights (.pt)", weights, file_name=f"run{run.number}_model.pt")


# -- page ---------------------------------------------------------------------------------------------

hp = shared.hyperparams_sidebar()
st.session_state["_hp"] = hp
run = shared.current_run()
snap = run.snapshot() if run is not None else None
shared.run_unavailable_notice()
if msg := st.session_state.pop("refused", None):
    st.error(msg)
rerun_of = st.session_state.get("rerun_of")    # set by the Runs page's "Rerun with one change"
if rerun_of and st.session_state.get("rerun_seen") != rerun_of:
    st.session_state["rerun_seen"] = st.session_state["rerun_parent"] = rerun_of
if parent := shared.service().get(shared.owner(), st.session_state.get("rerun_parent")):
    st.info(f"**Rerun of run #{parent.number}** with its settings and seed (the same initial "
            "weights where the network allows): change one thing in the sidebar and press Start. "
            "The Runs page then shows both side by side.")

if run is not None and hp is not None:
    if snap.active:
        apply_live_changes(run, snap, hp)
    changed = structural_changes(run.hp, hp)
    if changed and snap.state != IDLE:
        names = ", ".join(PARAM[c].label.lower() for c in changed)
        st.info(f"You changed {names}: that needs a new run. The run on screen keeps its "
                f"settings; press **Reset** (or **Start new run** once it has ended) to train "
                "with the new ones. Learning rate, momentum and weight decay change live.")

class_widgets.class_banner(run, snap)   # a student in a class: the lesson's task, the challenge
if hp is not None and (run is None or snap.state == IDLE or snap.ended):
    if warning := verdict.warn_before_start(hp, init_signal(hp)):
        st.warning(warning)
controls(run, snap, hp)
if run is None:
    st.info("Pick a network in the sidebar (**⚙ Settings** on a phone) and press **Start** "
            "(or **Step** to train one mini-batch at a time): the curves grow here.")
    # Empty axes: where the curves will grow, and plotly.js is already loaded when Start is
    # pressed (loading it with the first chart delayed the first point by seconds).
    empty = charts.CurveView(1)
    for col, panel in zip(st.columns(2), ("loss", "accuracy")):
        col.plotly_chart(charts.unchecked(empty.figure(panel, epochs=hp.epochs if hp else None)),
                         key=f"curves_{panel}", config={"displayModeBar": False})
else:
    fast = snap.state == RUNNING and snap.elapsed < FAST_FOR_S
    every = {RUNNING: FAST_REFRESH_S if fast else REFRESH_S, QUEUED: QUEUED_REFRESH_S,
             PAUSED: PAUSED_REFRESH_S}.get(snap.state)
    st.fragment(live_panel, run_every=every)(snap.state, fast)

    # Chart options (a change reruns the page, and with it the chart).
    others = compare_options(run)
    opts = st.columns([2, 1, 3], vertical_alignment="bottom")
    opts[0].slider("Smoothing of the training curve", 0.0, 0.99, SMOOTHING, 0.01, key="smoothing",
                   help="Exponential moving average of the per-step training loss and accuracy.")
    opts[1].toggle("Log-scale loss", key="log_loss",
                   help="A loss that falls by factors (2.3 → 0.23 → 0.023) reads best on a log axis.")
    if others:
        # Options are run ids, not runs: Streamlit deep-copies widget values.
        opts[2].multiselect("Compare with", list(others), format_func=lambda i: others[i].label,
                            key="compare", help="Overlay the validation curves of your other runs.",
                            placeholder="your other runs")
    if snap.ended:
        downloads(run, snap)

shown_hp = run.hp if run is not None else hp
if shown_hp is not None:
    with st.expander(f"Network: {shared.architecture_caption(shown_hp)}"):
        st.dataframe(model_lib.summary(shared.meta_model(shown_hp)), hide_index=True,
                     width="stretch")
        st.caption("The input (28×28 = 784 pixels) is normalized with the training set's mean "
                   "and standard deviation inside the model.")
        st.code(cli_command(shown_hp), language="bash")
        st.caption("The same run from the command line (prints a JSON summary).")
