"""Look inside: where the network is wrong, how signals flow through its layers, what it learned.

Everything is computed by core.analysis.diagnostics on a CPU copy of the run's weights (RunView.model()),
never on the model being trained. While the run trains, each tab is a fragment that refreshes
itself every REFRESH_S seconds; once it has ended, nothing polls. The page only reads runs
through their RunView (snapshot, model, initial_model, hp, class_names, val_indices).
"""
from __future__ import annotations

import math

import numpy as np
import streamlit as st
import torch

from core.analysis import diagnostics as diag
from core.analysis.verdict import TAB_FAILS, TAB_SIGNAL, TAB_WEIGHTS
from core.charts import inspect as charts
from core.nn import data
from core.nn import model as model_lib
from core.nn.config import HyperParams
from core.runs import RunView, WeightsUnavailable
from core.states import DIVERGED, QUEUED, RUNNING
from ui import shared

shared.use_st_navigation()   # first: a visit straight to this page (see shared)

REFRESH_S = 3.0
BATCH = 512                    # the fixed batch of the signal-propagation tab
PAGE_SIZE = 24                 # digits per gallery page
INIT_FIELDS = ("dataset", "depth", "width", "activation", "batch_norm", "init", "init_sigma", "seed")
TABS = (TAB_FAILS, TAB_SIGNAL, TAB_WEIGHTS)
GOTO = "look_goto"             # another page may set this to a tab name before switching here
ANY = "any"
GONE = ("**This run is not available any more**: it has been deleted. Pick another run above, "
        "or train one on the Train page.")


# -- cached inputs ------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=16)
def fixed_batch(dataset: str, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first BATCH validation images of the seeded split (the same images a run with this
    seed holds out), on the CPU. Cached: the signal refresh then costs one forward/backward."""
    ds = data.load(dataset)
    idx = data.split(len(ds.train_x), val_fraction, 0, seed).val_idx[:BATCH]
    return ds.train_x[idx], ds.train_y[idx]


def batch_for(hp: HyperParams) -> tuple[torch.Tensor, torch.Tensor]:
    return fixed_batch(hp.dataset, hp.val_fraction, hp.seed)


@st.cache_data(show_spinner="Building a fresh network…", max_entries=32)
def fresh_signal(hp: HyperParams) -> diag.SignalStats:
    """Signal statistics of the network the sidebar describes, at initialization (the same
    weights a run with these settings starts from)."""
    ds = data.load(hp.dataset)
    model = model_lib.build(hp, ds.mean, ds.std, torch.Generator().manual_seed(hp.seed)).eval()
    return diag.signal_stats(model, *batch_for(hp))


@st.cache_resource(show_spinner=False, max_entries=4)
def _initial(run_id: str, _run: RunView) -> tuple[dict, diag.SignalStats]:
    """A run's weights at initialization and their signal statistics (both fixed for the run's
    life: computed once per run for every browser that looks at it)."""
    model = _run.initial_model()
    return ({k: v.detach().clone() for k, v in model.state_dict().items()},
            diag.signal_stats(model, *batch_for(_run.hp)))


def initial_state(run: RunView) -> dict:
    return _initial(run.id, run)[0]


def initial_signal(run: RunView) -> diag.SignalStats:
    return _initial(run.id, run)[1]


def eval_set(run: RunView, which: str) -> tuple[torch.Tensor, torch.Tensor]:
    ds = data.load(run.hp.dataset)
    if which == "test":   # less the images a challenge of this student's class hides
        from core.classroom.challenge import Challenges
        idx = Challenges(shared.service().ledger).visible_test_indices(shared.owner(), run.hp.dataset)
        return (ds.test_x, ds.test_y) if idx is None else (ds.test_x[idx], ds.test_y[idx])
    idx = run.val_indices
    return ds.train_x[idx], ds.train_y[idx]


def predictions(run: RunView, which: str, snap) -> diag.Predictions:
    """One pass over the set per version of the weights: cached by run, set and weights_version
    (not by step: early stopping restores other weights at the same step). The weights are only
    copied out of the run when the cache misses."""
    key = f"look_preds:{run.id}:{which}"
    cached = st.session_state.get(key)
    version = snap.weights_version   # changes with every step and with early stopping's restore
    if cached is None or cached[0] != version:
        cached = (version, diag.predict(run.model(), *eval_set(run, which)))
        st.session_state[key] = cached
    return cached[1]


# -- small helpers ------------------------------------------------------------------------------

def refresh_every(running: bool) -> float | None:
    return REFRESH_S if running else None


def snapshot_or_none(run: RunView | None):
    """The run's snapshot, or None when it has been deleted meanwhile."""
    if run is None:
        return None
    try:
        return run.snapshot()
    except (KeyError, LookupError):
        return None


def end_polling_if_done(run: RunView | None, was_running: bool) -> None:
    """A fragment polls only while the run trains; when it stops, re-render the whole page
    once (with no polling)."""
    if run is not None and was_running:
        snap = snapshot_or_none(run)
        if snap is None or snap.state not in (RUNNING, QUEUED):
            st.rerun()


def fmt_num(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.3g}" if math.isfinite(v) else "overflow"


def signal_table(stats: diag.SignalStats) -> list[dict]:
    rows = []
    for l in stats.layers:
        row = {"layer": str(l.layer), "units": l.width, "pre-act. mean": fmt_num(l.pre_mean),
               "pre-act. std": fmt_num(l.pre_std), "act. mean": fmt_num(l.act_mean),
               "act. std": fmt_num(l.act_std)}
        if l.dead is not None:
            row["dead units"] = f"{l.dead:.0%}"
        if l.saturated is not None:
            row["saturated"] = f"{l.saturated:.0%}"
        row["‖∂L/∂W‖"] = fmt_num(stats.grad_norms[l.layer - 1])
        rows.append(row)
    rows.append({"layer": "out", "units": 10, "‖∂L/∂W‖": fmt_num(stats.grad_norms[-1])})
    return rows


def show_findings(findings: list[diag.Finding]) -> None:
    for f in findings:
        {"ok": st.success, "warn": st.warning, "bad": st.error}[f.level](f.text)


def init_differs(run: RunView | None, hp: HyperParams | None) -> bool:
    return run is None or hp is None or any(getattr(run.hp, f) != getattr(hp, f) for f in INIT_FIELDS)


def model_or_message(run: RunView):
    """The run's newest weights, or None after saying why they cannot be read."""
    try:
        return run.model()
    except WeightsUnavailable as e:
        st.warning(f"**The weights of this run are not available**: {e}.")
        return None


# -- tab 1: where it fails ----------------------------------------------------------------------

def select_cell() -> None:
    """Plotly click on a confusion cell -> the (true, predicted) select boxes."""
    points = st.session_state["look_cm"].selection.points
    if points:
        st.session_state["look_true"] = int(points[0]["y"])
        st.session_state["look_pred"] = int(points[0]["x"])


def page_step(delta: int, pages: int) -> None:
    st.session_state["look_page"] = min(pages, max(1, st.session_state.get("look_page", 1) + delta))


def failures(run: RunView | None, was_running: bool) -> None:
    end_polling_if_done(run, was_running)
    if run is None:
        st.info("No run yet: train a network on the **Train** page first, then come back to see "
                "where it is wrong.")
        return
    snap = snapshot_or_none(run)
    if snap is None:
        st.warning(GONE)
        return
    if snap.step == 0:
        st.info("This run has not trained yet (step 0): press **Start** on the Train page. An "
                "untrained network only guesses.")
        return
    if snap.state == DIVERGED:
        st.info("No predictions to show: a network whose loss blew up answers nothing useful. "
                "The *Signal propagation* tab shows what happened to its signal, and a fresh "
                "network from the sidebar.")
        return
    names = run.class_names
    n_val = len(run.val_indices)
    c = st.columns([2, 2, 3])
    which = c[0].radio("Evaluate on", ("validation", "test"), horizontal=True, key="look_set",
                       format_func=lambda w: f"validation ({n_val:,})" if w == "validation"
                       else "test (10,000)")
    normalize = c[1].toggle("Row-normalized (%)", key="look_norm",
                            help="Each row divided by the size of its true class.")
    try:
        preds = predictions(run, which, snap)
    except WeightsUnavailable as e:
        st.warning(f"**The weights of this run are not available**: {e}.")
        return
    n_wrong = int((preds.y_true != preds.y_pred).sum())
    c[2].markdown(f"**{preds.accuracy:.2%}** accuracy on the {len(preds.y_true):,} {which} images "
                  f"at step {snap.step:,} · **{n_wrong:,}** mistakes")
    cm = diag.confusion_matrix(preds.y_true, preds.y_pred)

    options = [ANY, *range(len(names))]
    label = lambda v: "any" if v == ANY else f"{v} · {names[v]}" if names[v] != str(v) else str(v)  # noqa: E731
    true, pred = (st.session_state.get(k, ANY) for k in ("look_true", "look_pred"))
    selected = (true, pred) if ANY not in (true, pred) else None
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(charts.confusion_figure(cm, names, normalize, selected), key="look_cm",
                        on_select=select_cell, selection_mode="points",
                        config={"displayModeBar": False})
    with right:
        metrics = diag.class_metrics(cm)
        st.markdown("**Per class**: recall = accuracy on the class (share of its images "
                    "recognized), precision = share of the answers *it's a c* that are right.")
        st.plotly_chart(charts.class_metrics_figure(metrics, names), key="look_metrics",
                        config={"displayModeBar": False})
        worst = int(np.nanargmin(metrics.recall))
        off = cm - np.diag(np.diag(cm))
        t, p = np.unravel_index(int(off.argmax()), off.shape)
        st.markdown(f"Hardest class: **{names[worst]}** ({metrics.recall[worst]:.1%} recognized). "
                    f"Most frequent confusion: **{names[t]} → {names[p]}** ({off[t, p]} images).")

    st.subheader("The examples behind a cell")
    c = st.columns([1, 1, 3])
    true = c[0].selectbox("True class", options, key="look_true", format_func=label)
    pred = c[1].selectbox("Predicted as", options, key="look_pred", format_func=label)
    idx = diag.mistakes(preds, None if true == ANY else true, None if pred == ANY else pred)
    what = ("mistakes" if ANY in (true, pred) or true != pred else "right answers")
    c[2].caption(f"Click a cell of the matrix, or pick the two classes. {len(idx):,} {what}, "
                 "the most confident first (a confident mistake is the most telling: the "
                 "network was sure, and wrong).")
    gallery(run, which, preds, idx, names, (true, pred))


def gallery(run: RunView, which: str, preds: diag.Predictions, idx: np.ndarray,
            names: tuple[str, ...], filter_key: tuple) -> None:
    if len(idx) == 0:
        st.info("No examples in this cell.")
        return
    pages = math.ceil(len(idx) / PAGE_SIZE)
    if st.session_state.get("look_filter") != (which, *filter_key):   # new filter: first page
        st.session_state["look_filter"] = (which, *filter_key)
        st.session_state["look_page"] = 1
    st.session_state["look_page"] = min(st.session_state.get("look_page", 1), pages)
    c = st.columns([1, 1, 2, 4])
    c[0].button("◀ Previous", key="look_prev", on_click=page_step, args=(-1, pages),
                disabled=st.session_state["look_page"] <= 1, width="stretch")
    c[1].button("Next ▶", key="look_next", on_click=page_step, args=(1, pages),
                disabled=st.session_state["look_page"] >= pages, width="stretch")
    page = c[2].number_input(f"Page (of {pages})", 1, pages, key="look_page",
                             label_visibility="collapsed")
    shown = idx[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    c[3].caption(f"page {page} of {pages} · examples {(page - 1) * PAGE_SIZE + 1}–"
                 f"{(page - 1) * PAGE_SIZE + len(shown)} of {len(idx):,}")
    x, _ = eval_set(run, which)
    tiles = charts.digit_tiles(x[torch.as_tensor(shown)].numpy(), scale=4)
    captions = [f"true {names[preds.y_true[i]]} → predicted {names[preds.y_pred[i]]} "
                f"({100 * preds.confidence[i]:.0f} %)" for i in shown]
    st.image(list(tiles), caption=captions, width=112, output_format="PNG")


# -- tab 2: signal propagation ------------------------------------------------------------------

def signal(run: RunView | None, hp: HyperParams | None, was_running: bool) -> None:
    end_polling_if_done(run, was_running)
    source = "fresh"
    snap = snapshot_or_none(run)
    if run is not None and snap is None:
        st.warning(GONE)
    if snap is not None:
        source = st.radio("Network", ("run", "fresh"), horizontal=True, key="look_source",
                          format_func=lambda s: f"current run (step {snap.step:,})" if s == "run"
                          else "fresh init from the sidebar")
    model = model_or_message(run) if source == "run" else None
    if source == "run" and model is None:
        return
    if source == "fresh":
        if hp is None:
            st.warning("The sidebar settings are not valid (see the messages there): fix them "
                       "to see a fresh network.")
            return
        stats, ref, used_hp = fresh_signal(hp), None, hp
        st.markdown(f"**At initialization, from the current settings** ({hp.describe()}): "
                    "change σ, the activation or the depth in the sidebar and the curves move "
                    "at once.")
    else:
        used_hp = run.hp
        stats = diag.signal_stats(model, *batch_for(used_hp))
        ref = initial_signal(run) if snap.step > 0 else None
        st.markdown(f"**Run {run.label} at step {snap.step:,}** ({snap.state})"
                    + (": solid lines now, dashed lines at its initialization. Each reading "
                       "compares with the initialization: what it caused, and what training "
                       "changed." if ref else ", at its initialization."))
    show_findings(diag.read_signal(stats, used_hp, initial=ref))
    if stats.layers:
        # Four one-panel charts, two per row: the rows stack into one column on a phone.
        for row in (charts.SIGNAL_PANELS[:2], charts.SIGNAL_PANELS[2:]):
            for col, panel in zip(st.columns(2), row):
                fig = charts.signal_figure(stats, ref, panel=panel)
                col.plotly_chart(fig, key=f"look_signal_{panel}", config={"displayModeBar": False})
                if fig.layout.meta["notes"]:
                    col.markdown(":red[" + " · ".join(fig.layout.meta["notes"]) + "]")
    st.caption(
        f"Measured on a fixed batch: the first {stats.n_images} validation images of the seeded "
        f"split (seed {used_hp.seed}). **Spread** = how much a unit's value changes from image to "
        "image (std over the batch, root-mean-square over the layer's units). **Dead**: a ReLU "
        "unit (or leaky ReLU/ELU/GELU) whose pre-activation is ≤ 0 for every image of the batch. "
        "**Saturated**: outputs in the flat tails (tanh: |a| > 0.99; sigmoid: a < 0.01 or > "
        "0.99). **Gradient**: ‖∂L/∂W‖ of each layer's weights from one backward pass of the "
        "cross-entropy on the batch."
        + (" Batch norm uses the batch's own statistics, as in training." if stats.batch_norm else ""))
    with st.expander("The numbers"):
        st.dataframe(signal_table(stats), hide_index=True, width="stretch")


# -- tab 3: weights -----------------------------------------------------------------------------

def weights(run: RunView | None, hp: HyperParams | None, was_running: bool) -> None:
    end_polling_if_done(run, was_running)
    c = st.columns([3, 2])
    n = c[0].slider("Units shown", 8, 64, 32, 8, key="look_units",
                    help="The first N units of the first layer.")
    snap = snapshot_or_none(run)
    if run is not None and snap is None:
        st.warning(GONE)
        return
    if run is not None:
        model = model_or_message(run)
        if model is None:
            return
        init = initial_state(run)
        where = f"run {run.label}, step {snap.step:,}"
        delta = c[1].toggle("Show what training changed (now − at initialization)",
                            key="look_delta", help="Random initial weights hide the pattern for "
                            "a long time; the change since initialization shows what was learned.")
    elif hp is not None:
        ds = data.load(hp.dataset)
        model = model_lib.build(hp, ds.mean, ds.std, torch.Generator().manual_seed(hp.seed)).eval()
        init, delta = None, False
        where = "a fresh network from the sidebar, at initialization: train it to see it learn"
    else:
        st.warning("The sidebar settings are not valid: fix them, or train a run.")
        return
    imgs = diag.first_layer_images(model, n, init if delta else None)
    first = model.linears()[0]
    kind = ("the ten class templates of softmax regression" if not model.hidden else
            f"the first {len(imgs)} of {first.out_features} units of layer 1")
    what = "how training changed the 784 incoming weights" if delta else "the 784 incoming weights"
    st.markdown(f"**What the first layer sees** ({where}): {what} of {kind}, as 28×28 images. "
                "Blue pixels push the unit up, red pixels push it down, white: no effect.")
    st.plotly_chart(charts.weight_grid_figure(imgs, cols=8, label="change" if delta else "weight"),
                    key="look_grid",
                    config={"displayModeBar": False})
    if init is not None:
        st.markdown("**Weights now vs. at initialization**, layer by layer:")
        st.plotly_chart(charts.weight_histogram_figure(diag.weight_histograms(model, init)),
                        key="look_hist", config={"displayModeBar": False})


# -- page ---------------------------------------------------------------------------------------

st.title("🔬 Look inside")
hp = shared.hyperparams_sidebar()
shared.current_run()        # a ?run= this browser cannot open is noted here (said below)
run = shared.run_picker("Run", key="look_run")
shared.run_unavailable_notice()
snap = snapshot_or_none(run)
if run is None:
    st.info("**No run yet: train first.** Go to the Train page, press **Start** and come back "
            "(one epoch on a 2,000-image subset takes seconds). Meanwhile, the *Signal "
            "propagation* tab shows a fresh network from the sidebar's settings.")
    st.page_link("pages/train.py", label="Go to Train", icon="📈")
elif snap is None:
    st.warning(GONE)
running = snap is not None and snap.state in (RUNNING, QUEUED)
if snap is not None and snap.state == DIVERGED:
    st.error("**This run diverged**: its loss blew up and its weights are huge (or inf/NaN), so "
             f"the pictures below show what went wrong, not what it learned. {snap.reason}")
if running:
    st.caption(f"The run is training: the charts refresh every {REFRESH_S:g} s.")

# The signal tab follows the sidebar: touching σ, the activation, the depth... (settings that
# change the initial network) switches it to the fresh network they describe; picking another
# run shows that run (when the sidebar describes it).
sig = (run.id if run else None, *(getattr(hp, f) for f in INIT_FIELDS)) if hp else None
if st.session_state.get("look_sig", "unset") != sig:
    st.session_state["look_sig"] = sig
    st.session_state["look_source"] = "fresh" if init_differs(run, hp) else "run"
# Another page (e.g. the Train page's verdict) may send the user to a tab, and to the run itself.
if (goto := st.session_state.pop(GOTO, None)) in TABS:
    st.session_state["look_tab"] = goto
    if goto == TAB_SIGNAL and snap is not None:
        st.session_state["look_source"] = "run"

tabs = st.tabs(TABS, key="look_tab", on_change="rerun",
               default=TABS[0] if run is not None else TABS[1])
with tabs[0]:
    if tabs[0].open:
        st.fragment(run_every=refresh_every(running))(failures)(run, running)
with tabs[1]:
    if tabs[1].open:
        st.fragment(run_every=refresh_every(running))(signal)(run, hp, running)
with tabs[2]:
    if tabs[2].open:
        st.fragment(run_every=refresh_every(running))(weights)(run, hp, running)
