"""Experiments: a lecture's table in one click, or a grid of your own.

Pick a lesson (core.sweeps.presets: its settings, what to look for, and a check of the outcome) or one
or two parameters with their values and 1-5 seeds (the other settings are the sidebar's, as on
the Train page), and start. The sweep's runs go through the run service like any run (the same
training slots and queue), fed a few at a time by core.sweeps.runner; this page follows it live: the
runs' validation curves overlaid, the table filling in (mean ± std over seeds, diverged runs
marked with the reason), the line chart when a parameter is a number, and the lesson's text next
to the result with a verdict once it is complete. A sweep can be cancelled as a whole, and found
again later (the picker lists this browser's sweeps, kept in the ledger).
"""
from __future__ import annotations

import json
import time

import pandas as pd
import streamlit as st

from core import states
from core.charts.runs import overlay_figure, sweep_chart_figure
from core.charts.train import unchecked
from core.nn.config import PARAM, PARAMS
from core.runs import Refused
from core.sweeps.presets import PRESETS
from core.sweeps.runner import Sweep, list_sweeps, open_sweep, start_sweep, sweep_json
from core.sweeps.spec import METRICS, SweepError, SweepSpec, effective, parse_grid, suggested_values, value_text
from core.sweeps.table import line_chart
from ui import shared

shared.use_st_navigation()   # first: a visit straight to this page (see shared)

REFRESH_S = 1.5         # while a sweep runs, its panel refreshes this often
LESSON, OWN = "A lesson", "My own grid"
NONE = ""               # the second parameter's "none" option
GRID_PARAMS = [p.name for p in PARAMS if p.name != "seed"]


# -- a new sweep --------------------------------------------------------------------------------------

def values_input(name: str, key: str) -> str:
    """The values of one parameter, as grid text ('lr=0.001,0.01'): choices are picked, numbers
    and widths typed (pre-filled with three values around the default)."""
    p = PARAM[name]
    if p.choices or p.kind is bool:
        options = list(p.choices) if p.choices else [False, True]
        picked = st.multiselect(f"{p.label}: values", options, default=suggested_values(name), key=f"{key}:{name}",
                                format_func=lambda v: value_text(name, v))
        return f"{name}=" + ",".join(value_text(name, v) for v in picked)
    default = ", ".join(value_text(name, v) for v in suggested_values(name))
    hint = " Per-layer widths in parentheses: (200,100), (30,30)." if name == "width" else ""
    text = st.text_input(f"{p.label}: values", value=default, key=f"{key}:{name}",
                         help=f"Separated by commas.{hint} {p.help}")
    return f"{name}={text}"


def own_grid() -> SweepSpec | None:
    """One or two parameters and their values, on the sidebar's settings; None (after saying
    what is wrong) when they do not make a sweep."""
    base = shared.hyperparams_sidebar()
    c1, c2 = st.columns(2)
    with c1:
        first = st.selectbox("Vary", GRID_PARAMS, key="exp_p1", index=GRID_PARAMS.index("lr"),
                             format_func=lambda n: PARAM[n].label)
        text1 = values_input(first, "exp_v1")
    with c2:
        second = st.selectbox("and (optional)", [NONE, *[n for n in GRID_PARAMS if n != first]], key="exp_p2",
                              format_func=lambda n: "nothing else" if n == NONE else PARAM[n].label)
        text2 = values_input(second, "exp_v2") if second else None
    c3, c4 = st.columns(2)
    seeds = c3.slider("Seeds per cell", 1, 5, 1, key="exp_seeds",
                      help="Each cell trains this many times with different seeds: its mean ± std shows "
                           "how much of a difference is noise.")
    metric = c4.selectbox("Cells show", ["test_accuracy", "best_val_accuracy"], key="exp_metric",
                          format_func=lambda m: METRICS[m][0])
    if base is None:
        st.error("Fix the settings in the sidebar first: the sweep starts from them.")
        return None
    problems, axes = [], []
    for text in (text1, text2):
        if text is None:
            continue
        try:
            axes.append(parse_grid(text))
        except SweepError as e:
            problems += e.problems
    if not problems:
        try:
            return SweepSpec.build(base, axes, seeds, metric=metric, columns=(metric,))
        except SweepError as e:
            problems = e.problems
    st.error("This grid cannot run:\n\n" + "\n".join(f"- {p}" for p in problems))
    return None


def lesson() -> SweepSpec:
    key = st.selectbox("Lesson", list(PRESETS), key="exp_preset", format_func=lambda k: PRESETS[k].title)
    preset = PRESETS[key]
    quick = st.toggle("Quick version", key="exp_quick",
                      help="Fewer images and epochs: the same lesson in seconds instead of minutes.")
    st.caption(f"Expected: {preset.expected}")
    return preset.spec(reduced=quick)


def new_sweep(svc, me) -> None:
    kind = st.radio("What to run", [LESSON, OWN], horizontal=True, key="exp_kind")
    spec = lesson() if kind == LESSON else own_grid()
    if spec is None:
        st.button("Start the sweep", key="exp_start", disabled=True, type="primary")
        return
    st.caption(f"{spec.describe()} · they share the server's training slots with everybody's runs")
    if st.button("Start the sweep", key="exp_start", type="primary"):
        try:
            sweep = start_sweep(svc, me, spec)
        except Refused as e:
            st.error(str(e))
            return
        st.session_state["sweep_id"] = sweep.id
        st.session_state.pop("exp_pick", None)
        st.rerun()


# -- a sweep's results --------------------------------------------------------------------------------

def table_frame(sweep: Sweep, table) -> pd.DataFrame:
    several = len(sweep.spec.seeds) > 1
    df = pd.DataFrame([[c.text(show_n=several) for c in row] for row in table.cells],
                      index=pd.Index(table.rows, name=table.row_title), columns=table.cols)
    return df


def status(sweep: Sweep, views, snaps) -> None:
    state = sweep.state
    ended = sum(1 for s in snaps.values() if s.state in states.ENDED_STATES)
    total = len(sweep.spec.runs())
    paused = [v for v in views if snaps[v.id].state == states.PAUSED]
    st.progress(ended / total, text=f"{states.BADGE.get(state, state)} · {ended} of {total} runs ended")
    if sweep.waiting_for and state == states.RUNNING:
        st.info(f"Waiting for room: {sweep.waiting_for}")
    b = st.columns([1, 1, 3])
    if state == states.RUNNING and b[0].button("Cancel the sweep", key="exp_cancel"):
        sweep.cancel()
        st.rerun()
    if paused and b[1].button(f"Resume {len(paused)} paused run{'s' if len(paused) > 1 else ''}", key="exp_resume"):
        for v in paused:
            sweep.svc.resume(sweep.owner, v.id)
        st.rerun()
    resumable = len(views) < total or any(s.state in states.RESUMABLE_STATES for s in snaps.values())
    if state in (states.STOPPED, states.INTERRUPTED) and resumable:
        if b[0].button("Continue the sweep", key="exp_continue",
                       help="Trains the runs that are missing and continues stopped ones from their checkpoints."):
            sweep.start()
            st.rerun()


def results(sweep: Sweep) -> None:
    views = sweep.views()
    snaps = {v.id: v.snapshot() for v in views}
    status(sweep, views, snaps)
    res = sweep.results()
    table = sweep.table(res)
    spec, preset = sweep.spec, PRESETS.get(sweep.spec.preset or "")
    left, right = st.columns([3, 2]) if preset else (st.container(), None)
    with left:
        what = METRICS[table.metric][0] if spec.cols is not None else "results"
        st.markdown(f"**{spec.name or spec.describe()}** · {what}"
                    + (f" · rows: {table.row_title}, columns: {table.col_title}" if table.col_title else ""))
        st.table(table_frame(sweep, table))   # a static table: a lecture table, readable on a projector
        reasons = {f"{r} · {c}" if table.col_title else r: cell.reasons
                   for r, row in zip(table.rows, table.cells) for c, cell in zip(table.cols, row) if cell.reasons}
        if reasons:
            with st.expander("Why runs diverged or stopped"):
                for where, why in reasons.items():
                    st.markdown(f"**{where}**: " + " / ".join(why))
        chart = line_chart(spec, table)
        if chart is not None:
            st.plotly_chart(unchecked(sweep_chart_figure(chart)), key="exp_chart")
    if right is not None:
        with right:
            st.markdown(f"#### {preset.title}")
            st.markdown(preset.lesson)
            if table.done:
                failed = preset.outcome(table, res)
                if not failed:
                    st.success(f"What the lecture shows is here: {preset.expected}.")
                else:
                    st.warning("Not quite what the lecture shows: " + "; ".join(failed))
    if views:
        st.markdown("**Validation curves** of the sweep's runs")
        by_hp = sorted(views, key=lambda v: (sweep.cell_of.get(effective(v.hp), (len(views), 0)), v.hp.seed))
        st.plotly_chart(unchecked(overlay_figure([(sweep.label(v.hp), v.curves()[0], v.steps_per_epoch)
                                                  for v in by_hp], training=False)), key="exp_curves")
    st.download_button("Download the results (JSON)", json.dumps(sweep_json(sweep, res, table), default=str),
                       file_name=f"sweep-{sweep.id}.json", mime="application/json", key="dl_sweep")
    live = sweep.state == states.RUNNING
    if live != st.session_state.get("exp_live", False):
        st.session_state["exp_live"] = live
        st.rerun()     # start or stop the refresh


def pick_sweep(svc, me) -> Sweep | None:
    """This browser's sweeps, newest first; the one just started is shown."""
    recs = list_sweeps(svc, me)
    if not recs:
        return None
    ids = [r["id"] for r in recs]
    names = {r["id"]: f"{r['name'] or 'sweep'} · {time.strftime('%d %b %H:%M', time.localtime(r['created']))}"
             for r in recs}
    if st.session_state.get("exp_pick") not in ids:
        current = st.session_state.get("sweep_id")
        st.session_state["exp_pick"] = current if current in ids else ids[0]
    choice = st.selectbox("Sweep", ids, key="exp_pick", format_func=names.get)
    st.session_state["sweep_id"] = choice
    return open_sweep(svc, me, choice)


def body() -> None:
    svc, me = shared.service(), shared.owner()
    sweep = pick_sweep(svc, me)
    if sweep is None:
        st.info("No sweep yet: start one above. Its runs also appear on the Runs page.")
        return
    results(sweep)


st.title("Experiments")
svc, me = shared.service(), shared.owner()
with st.expander("New sweep", expanded=True):
    new_sweep(svc, me)
st.fragment(run_every=REFRESH_S if st.session_state.get("exp_live") else None)(body)()
