"""Train page: pick a network in the sidebar, start a run, watch it learn live.

The page never trains: it forwards button clicks to the run's Trainer (a background thread) and
polls the trainer's snapshot once a second in a fragment, so inputs stay usable while it trains.
"""
from __future__ import annotations

import io
import json

import streamlit as st

from core import model as model_lib
from core.charts import train as charts
from core.config import LIVE_PARAMS, PARAM, HyperParams, structural_changes
from core.history import Curves
from core.registry import Run
from core.trainer import RunSnapshot
from pages import shared

STATE_BADGE = {"idle": "⚪ ready", "queued": "⏳ queued", "running": "🟢 running",
               "paused": "⏸️ paused", "finished": "✅ finished", "stopped": "⏹️ stopped",
               "diverged": "💥 diverged", "failed": "❌ failed"}


def curves_of(run: Run) -> Curves:
    """The run's curves, fetched incrementally: each poll copies only the new points."""
    key = f"curves:{run.id}"
    curves, cursor = st.session_state.get(key, (Curves(), (0, 0, 0)))
    new, cursor = run.trainer.history.snapshot(cursor)
    curves.extend(new)
    st.session_state[key] = (curves, cursor)
    return curves


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}" if s < 3600 else f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def cli_command(hp: HyperParams) -> str:
    flags = " ".join(f"{PARAM[k].flag} {v}" if not isinstance(v, bool) else
                     (PARAM[k].flag if v else f"--no-{PARAM[k].flag[2:]}")
                     for k, v in hp.non_defaults().items())
    return f"python -m core.train {flags} --json".replace("  ", " ")


# -- actions (forwarded to core) --------------------------------------------------------------------

def do_start(run: Run | None, hp: HyperParams) -> None:
    reg, me = shared.registry(), shared.owner()
    if run is not None and run.trainer.snapshot().state == "idle" and not structural_changes(run.trainer.hp, hp):
        run.trainer.start()
    else:
        if run is not None and run.trainer.snapshot().state == "idle":
            reg.discard(me, run.id)   # an untrained run with stale settings: replace it
        run = reg.start_new(me, hp)
    shared.set_current_run(run)


def do_step(run: Run | None, hp: HyperParams) -> None:
    if run is None:
        run = shared.registry().create(shared.owner(), hp)
        shared.set_current_run(run)
    run.trainer.step_once()


def do_reset(run: Run, hp: HyperParams) -> None:
    """Stop the run on screen (it stays in the run list) and show a fresh, untrained one."""
    reg, me = shared.registry(), shared.owner()
    if run.trainer.snapshot().state == "idle":
        reg.discard(me, run.id)
    else:
        run.trainer.stop()
        run.trainer.wait(2.0)   # let it reach "stopped" before the page re-renders
    shared.set_current_run(reg.create(me, hp))


# -- controls: rendered with the page; a click reruns the page and forwards intent to core ------

def controls(run: Run | None, snap: RunSnapshot | None, hp: HyperParams | None) -> None:
    """Buttons, enabled by state. They are outside the live fragment: their state only changes
    when the run's state does, and then the fragment re-renders the whole page."""
    state = snap.state if snap else None
    c = st.columns(5)
    ended = snap is not None and snap.ended
    if c[0].button("▶ Start new run" if ended else "▶ Start", type="primary", width="stretch",
                   disabled=hp is None or (snap is not None and snap.active), key="btn_start"):
        do_start(run, hp)
        st.rerun()
    if state == "paused":
        if c[1].button("▶ Resume", width="stretch", key="btn_resume"):
            run.trainer.resume()
            st.rerun()
    elif c[1].button("⏸ Pause", width="stretch", disabled=state not in ("running", "queued"),
                     key="btn_pause"):
        run.trainer.pause()
        st.rerun()
    if c[2].button("⏭ Step", width="stretch", key="btn_step",
                   help="Train one mini-batch, then pause.",
                   disabled=hp is None or state not in (None, "idle", "paused")):
        do_step(run, hp)
        st.rerun()
    if c[3].button("⏹ Stop", width="stretch", disabled=not (snap and snap.active), key="btn_stop"):
        run.trainer.stop()
        run.trainer.wait(2.0)
        st.rerun()
    if c[4].button("↺ Reset", width="stretch", key="btn_reset",
                   help="Start over from fresh random weights with the sidebar's settings.",
                   disabled=hp is None or run is None or (state == "idle" and not structural_changes(run.trainer.hp, hp))):
        do_reset(run, hp)
        st.rerun()


# -- the live panel: only what changes while a run trains, re-rendered once a second ---------------
# Everything else stays out of it: each element in it is re-sent and re-drawn by the browser every
# second, and on a 2-core laptop the browser's work competes with the training thread.

SMOOTHING, COMPARE = 0.6, ()   # the chart options' defaults (their widgets are below the chart)


def compare_options(run: Run) -> dict[str, Run]:
    return {r.id: r for r in shared.registry().runs(shared.owner()) if r.id != run.id}


def live_panel(rendered_state: str) -> None:
    """A fragment: re-rendered once a second while the run is active (see the page below)."""
    run = shared.current_run()
    if run is None:
        return
    snap = run.trainer.snapshot()
    if snap.state != rendered_state:
        st.rerun()   # started, paused, ended...: re-render the page (buttons; start/stop polling)

    # Status: the state in words, then big numbers that read well on a projector.
    message = f"**{STATE_BADGE[snap.state]}** · run {run.label} · step {snap.step:,} of {snap.total_steps:,} · {snap.device}"
    {"diverged": st.error, "failed": st.error, "finished": st.success}.get(
        snap.state, st.info if snap.reason else st.markdown)(message + (f"  \n{snap.reason}" if snap.reason else ""))
    m = st.columns(5)
    m[0].metric("Epoch", f"{snap.epoch:.2f} / {snap.epochs}")
    m[1].metric("Samples/s", f"{snap.samples_per_second:,.0f}")
    m[2].metric("ETA", fmt_seconds(snap.eta), help=f"training time so far: {fmt_seconds(snap.elapsed)}")
    m[3].metric("Best val. accuracy", f"{snap.best_val_accuracy:.2%}" if snap.best_val_accuracy is not None else "–",
                help="on the whole validation set, measured at each epoch end")
    m[4].metric("Test accuracy", f"{snap.test_accuracy:.2%}" if snap.test_accuracy is not None else "–",
                help="on the 10,000 official test images, measured once at the end")

    # The chart options' widgets are rendered after this fragment: read their values by key.
    others = compare_options(run)
    chosen = [others[i] for i in st.session_state.get("compare", COMPARE) if i in others]
    compare = [(f"#{r.number}", curves_of(r), r.trainer.steps_per_epoch) for r in chosen]
    st.plotly_chart(charts.curves_figure(curves_of(run), run.trainer.steps_per_epoch,
                                         st.session_state.get("smoothing", SMOOTHING), compare,
                                         epochs=run.trainer.hp.epochs),
                    key="curves_chart", config={"displayModeBar": False})


# -- page ---------------------------------------------------------------------------------------------

st.title("📈 Train")
hp = shared.hyperparams_sidebar()
run = shared.current_run()
snap = run.trainer.snapshot() if run is not None else None

if run is not None and hp is not None:
    if snap.active:   # live knobs go to the running trainer, recorded as markers on the curves
        for name in LIVE_PARAMS:
            if PARAM[name].is_shown(hp.to_dict()) and getattr(hp, name) != snap.live[name]:
                run.trainer.set_live(name, getattr(hp, name))
    changed = structural_changes(run.trainer.hp, hp)
    if changed and snap.state != "idle":
        names = ", ".join(PARAM[c].label.lower() for c in changed)
        st.info(f"You changed {names}: that needs a new run. The run on screen keeps its "
                f"settings; press **Reset** (or **Start new run** once it has ended) to train "
                "with the new ones. Learning rate, momentum and weight decay change live.")

shown_hp = run.trainer.hp if run is not None else hp
if shown_hp is not None:
    with st.expander(f"Network: {shared.architecture_caption(shown_hp)}"):
        st.dataframe(model_lib.summary(shared.meta_model(shown_hp)), hide_index=True,
                     width="stretch")
        st.caption("The input (28×28 = 784 pixels) is normalized with the training set's mean "
                   "and standard deviation inside the model.")
        st.code(cli_command(shown_hp), language="bash")
        st.caption("The same run from the command line (prints a JSON summary).")

controls(run, snap, hp)
if run is None:
    st.info("Pick a network in the sidebar and press **Start** (or **Step** to train one "
            "mini-batch at a time).")
else:
    st.fragment(live_panel, run_every=1.0 if snap.active else None)(snap.state)

    # Chart options (a change reruns the page, and with it the chart).
    others = compare_options(run)
    opts = st.columns([1, 2])
    opts[0].slider("Smoothing of the training curve", 0.0, 0.99, SMOOTHING, 0.01, key="smoothing",
                   help="Exponential moving average of the per-step training loss and accuracy.")
    if others:
        # Options are run ids, not Runs: Streamlit deep-copies widget values, and a Run holds locks.
        opts[1].multiselect("Compare with", list(others), format_func=lambda i: others[i].label,
                            key="compare", help="Overlay the validation curves of your other runs.",
                            placeholder="your other runs")

    if snap.ended and run.trainer.history.cursor()[0]:
        curves = curves_of(run)
        d = st.columns(3)
        d[0].download_button("⬇ Curves (CSV)", charts.curves_table(curves, run.trainer.steps_per_epoch),
                             file_name=f"run{run.number}_curves.csv", mime="text/csv")
        d[1].download_button("⬇ Settings (JSON)", json.dumps(run.trainer.hp.to_dict(), indent=2),
                             file_name=f"run{run.number}_settings.json", mime="application/json")
        if snap.state != "diverged":
            buf = io.BytesIO()
            model_lib.save(run.trainer.model_snapshot(), buf, hyperparams=run.trainer.hp.to_dict(),
                           test_accuracy=snap.test_accuracy)
            d[2].download_button("⬇ Model weights (.pt)", buf.getvalue(),
                                 file_name=f"run{run.number}_model.pt")
