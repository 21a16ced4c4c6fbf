"""Draw a digit: the network says what it is while you draw, and shows what it actually sees.

The canvas (pages/canvas.py, components/canvas/) sends its strokes ~10 times a second while the
pen moves and at once when it lifts; each message reruns only the drawing panel (a fragment).
The page draws the strokes as pixels (core.drawing.strokes), lays them out like an MNIST digit
(core.drawing.preprocess: crop, fit 20x20, centre of mass to the centre), shows each step, asks the
chosen model for its ten probabilities (core.drawing.predict), and asks core.drawing.digitness whether the
drawing looks like a digit at all.

Which model answers: the best of this browser's runs that are finished or training (or were
stopped part-way) and above chance (highest test, else validation, accuracy), else the shipped
default model. The user may pick another; a run at chance level is named as such, with a
one-click way back to the default model. While the chosen run trains, the panel refreshes
every second, so predictions visibly improve.
"""
from __future__ import annotations

import html
import re

import numpy as np
import streamlit as st

from core.charts import draw as charts
from core.drawing import digitness, predict, preprocess
from core.drawing import strokes as drawing_lib
from core.runs import WeightsUnavailable
from core.states import DIVERGED, FAILED, FINISHED, IDLE, INTERRUPTED, PAUSED, QUEUED, RUNNING, STOPPED
from ui import canvas, class_widgets, shared

shared.use_st_navigation()   # first: a visit straight to this page (see shared)

CANVAS = "draw_canvas"  # the canvas's key (tests hand drawings to the page under it)
PICKER = "draw_model"
DEFAULT = shared.NO_RUN  # the picker's value for the default model
UNSURE = 0.5            # below this top probability the page says the network is unsure
REFRESH_S = 1.0         # re-predict this often while the chosen run trains
# A network whose accuracy is below twice chance (20 % for ten classes) has learned next to
# nothing: its answers are guesses. Such runs are never picked for the user, and say so when
# picked by hand.
CHANCE_FACTOR = 2.0
# Runs whose weights are worth predicting with: trained, or training (a run stopped part-way
# or cut off by a server restart keeps the weights it had).
CANDIDATE_STATES = (FINISHED, RUNNING, PAUSED, STOPPED, INTERRUPTED)


# -- which model answers ------------------------------------------------------------------------

def accuracy_of(snap) -> tuple[float, str] | None:
    """The best-known accuracy of a run and what it was measured on (None: not measured yet)."""
    if snap.test_accuracy is not None:
        return snap.test_accuracy, "test"
    for acc in (snap.best_val_accuracy, snap.val_accuracy):
        if acc is not None:
            return acc, "validation"
    return None


def chance_of(run) -> float:
    return 1.0 / len(run.class_names)


def at_chance(run, snap) -> bool:
    """Has this run learned nothing (yet)? Untrained weights, a broken run, or an accuracy
    below CHANCE_FACTOR x chance."""
    if snap.state in (IDLE, QUEUED, DIVERGED, FAILED):
        return True
    acc = accuracy_of(snap)
    return acc is not None and acc[0] < CHANCE_FACTOR * chance_of(run)


def best_run(runs, snaps) -> str:
    """The run the page answers with unless told otherwise: the most accurate digit-reading run
    that is trained or training (CANDIDATE_STATES) and above chance; else the default model."""
    best, best_acc = DEFAULT, -1.0
    for run in runs:                            # newest first: ties go to the newer run
        snap = snaps[run.id]
        acc = accuracy_of(snap)
        if (run.hp.dataset == "mnist" and snap.state in CANDIDATE_STATES and acc is not None
                and not at_chance(run, snap) and acc[0] > best_acc):
            best, best_acc = run.id, acc[0]
    return best


def model_picker(runs, snaps) -> str:
    """The select box over the default model and this browser's runs. It follows the best run
    as runs finish and improve, until the user picks something else."""
    auto = best_run(runs, snaps)
    options = [DEFAULT] + [r.id for r in runs]
    state = st.session_state
    if state.get(PICKER) not in options or state.get(PICKER) == state.get(f"{PICKER}:auto"):
        state[PICKER] = auto
    state[f"{PICKER}:auto"] = auto
    labels = {r.id: f"run {r.label}" for r in runs}
    # Labels without figures or states: Streamlit matches a selection by its label.
    return st.selectbox("Model", options, key=PICKER, format_func=lambda i: (
        "default model (shipped)" if i == DEFAULT else labels[i]),
        help="Which network reads your drawing: one of your runs (its newest weights, even "
             "while it trains) or the default model trained in advance. The page picks your "
             "best run that has learned something.")


def use_default_model() -> None:
    """The "Use the default model" button: the picker (outside the panel) must follow, so the
    panel asks for a whole-page run (see draw_panel)."""
    st.session_state[PICKER] = DEFAULT
    st.session_state["draw_switched"] = True


def run_model(run, snap):
    """A run's newest weights, copied once per weights version and kept in the session (the
    panel reruns ~10 times a second while drawing)."""
    version = getattr(snap, "weights_version", snap.step)
    cached = st.session_state.get("draw_model_cache")
    if cached is not None and cached[0] == (run.id, version):
        return cached[1]
    model = run.model()
    st.session_state["draw_model_cache"] = ((run.id, version), model)
    return model


def describe(run, snap) -> str:
    """What the caption says about the answering run: which weights, how good."""
    acc = accuracy_of(snap)
    how_good = f", {acc[0]:.1%} {acc[1]} accuracy" if acc else ""
    if snap.state == RUNNING:
        return (f"Predicting with run {run.label}: the weights of step {snap.step:,} (**still "
                f"training**, epoch {snap.epoch:.1f} of {snap.epochs}{how_good}): watch the "
                "prediction change as it learns.")
    if snap.state == QUEUED:
        return (f"Run {run.label} is **waiting for its turn to train** (other runs are "
                "training): until then its weights are the random ones it started with.")
    if snap.state == PAUSED:
        return (f"Predicting with run {run.label}: the weights of step {snap.step:,} (training "
                f"**paused** at epoch {snap.epoch:.1f} of {snap.epochs}{how_good}).")
    return (f"Predicting with run {run.label}: the weights after {snap.step:,} steps "
            f"({snap.state}{how_good}).")


def chance_warning(run, snap) -> str:
    chance = chance_of(run)
    if snap.state in (IDLE, QUEUED):
        return (f"**This run has not trained yet**: its weights are random, so it is at chance "
                f"level (guessing gets {chance:.0%}) and its answers mean nothing. Start it on "
                "the Train page, or use the default model.")
    if snap.state in (DIVERGED, FAILED):
        return (f"**This run {snap.state}**: its answers mean nothing. Use the default model, "
                "or train another run.")
    acc, on = accuracy_of(snap)
    return (f"**This run is at chance level**: {acc:.0%} on the {on} digits, where guessing "
            f"gets {chance:.0%}. It has learned next to nothing, so its answers mean nothing. "
            "Look inside shows why; the default model reads digits well.")


# -- the panel ----------------------------------------------------------------------------------

def bold(text: str) -> str:
    """The page's **bold** markdown as HTML (for text inside st.html blocks)."""
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text, quote=False))


def show_steps(steps: preprocess.Steps, evidence: tuple[np.ndarray, str, str] | None) -> None:
    """The recipe, left to right, so a student sees what the network sees; then, if asked,
    which of that ink argued for the answer (and which for the runner-up)."""
    (h, w), (fh, fw) = steps.cropped.shape, steps.fitted.shape
    box = preprocess.BOX
    figures = [
        (charts.drawing_with_box(steps.ink, steps.box),
         "1. your drawing; red: the box around the ink"),
        (charts.fitted_in(steps.cropped), f"2. cropped to the box ({w}×{h} px)"),
        (charts.pixelated(steps.fitted, frame=box), f"3. shrunk to fit {box}×{box} ({fw}×{fh})"),
        (charts.pixelated(steps.mnist),
         "4. in 28×28, centre of mass in the middle: the network's input"),
    ]
    if evidence is not None:
        ev, top, second = evidence
        figures.append((charts.evidence_image(ev), f"5. red ink says <b>{top}</b>, blue ink says "
                                                   f"<b>{second}</b> (the runner-up)"))
    st.html(f"<h4 style='margin:0.5rem 0 0.75rem;font-size:1.25rem;font-weight:600'>"
            f"What the network sees</h4>"
            f"{charts.figure_row(figures)}")


def show_prediction(model, class_names: tuple[str, ...], x28: np.ndarray,
                    verdict: digitness.Verdict | None, say: str) -> np.ndarray | None:
    """The answer, big, then the ten probabilities and which model answered (`say`); returns
    the probabilities (None if the model is broken). When the drawing does not look like a
    digit, the page says so and keeps the network's best guess in small print.

    As few Streamlit elements as possible (a metric and one HTML block): the panel is redrawn
    ~10 times a second while the pen moves, and the browser's work grows with each element."""
    probs = predict.predict(model, x28)
    if not np.isfinite(probs).all():
        st.error("This model's weights are no longer numbers (its training diverged), so it "
                 "cannot predict. Pick another model above.")
        st.caption(say)
        return None
    order = np.argsort(-probs)
    top, second = int(order[0]), int(order[1])
    small = "font-size:0.875rem;opacity:0.7;margin:0.5rem 0 0"
    if verdict is not None and not verdict.is_digit:
        head = (f"<h4 style='margin:0.25rem 0;font-size:1.4rem;font-weight:600'>"
                f"🤔 That doesn't look like a digit</h4>"
                f"<p style='{small}'>Best guess: <b>{html.escape(class_names[top])}</b> "
                f"({probs[top]:.0%}). A network that learned digits answers every drawing with a "
                "digit; a second, small network that has also seen dots, lines, scribbles and "
                "letters says this is not one.</p>")
        muted = True
    else:
        unsure = probs[top] < UNSURE
        st.metric("The network says", class_names[top], border=True, width="content",
                  delta_color="off", delta_arrow="off",
                  delta=f"{probs[top]:.0%} sure" if not unsure else
                  f"Unsure: {class_names[top]} ({probs[top]:.0%}) or maybe "
                  f"{class_names[second]} ({probs[second]:.0%})?")
        head, muted = "", False
    bars = charts.bars_html(probs, class_names, muted=muted,
                            highlight_runner_up=not muted and probs[top] < UNSURE)
    st.html(f"{head}<div style='margin-top:0.75rem'>{bars}</div>"
            f"<p style='{small}'>{bold(say)}</p>")
    return probs


def answerer(run):
    """(model or None, class names, caption, warning or None, reads digits?) for the chosen
    run, or for the default model when run is None."""
    digits = tuple(str(i) for i in range(10))
    if run is None:
        meta = predict.default_meta()
        return (predict.default_model(), digits,
                f"Predicting with the **default model**, trained in advance "
                f"({meta['test_accuracy']:.1%} on the 10,000 MNIST test digits).", None, True)
    snap = run.snapshot()
    warning = chance_warning(run, snap) if at_chance(run, snap) else None
    if run.hp.dataset != "mnist":
        warning = (f"This run learned {run.hp.dataset}, not digits: it will tell you which "
                   "piece of clothing your drawing looks like.")
    try:
        model = run_model(run, snap)
    except WeightsUnavailable as e:     # never saved, missing or damaged
        return (None, run.class_names, describe(run, snap),
                f"This run's weights cannot be read: {e}.", False)
    return model, run.class_names, describe(run, snap), warning, run.hp.dataset == "mnist"


def draw_panel(run_id: str | None, was_training: bool) -> None:
    if st.session_state.pop("draw_switched", False) and run_id is not None:
        st.rerun()   # "Use the default model" was clicked in this panel: rerun the whole page
    run = shared.service().get(shared.owner(), run_id) if run_id else None
    model, class_names, say, warning, digits = answerer(run)
    left, right = st.columns([1, 1.4], gap="medium")
    bad_message = None
    try:
        drawing = canvas.current(CANVAS)
    except ValueError as e:
        drawing, bad_message = None, str(e)
    steps = None
    if drawing is not None and not drawing.blank:
        steps = preprocess.canvas_to_mnist_steps(drawing_lib.render(drawing))
    probs = None
    with right:
        if warning:
            st.warning(warning)
            if run is not None:
                st.button("Use the default model", key="draw_use_default", icon="↩️",
                          on_click=use_default_model)
        if bad_message:
            st.error(f"The canvas sent something this page cannot read ({bad_message}). Clear "
                     "the canvas and draw again.")
        if steps is None:
            st.info("✏️ Draw a digit on the black canvas with the mouse, a finger or a pen: the "
                    "network answers while you draw. Undo, Redo and Clear are under the canvas.")
        elif model is not None:
            verdict = None
            if digits:
                try:
                    verdict = digitness.judge(steps.mnist)
                except digitness.Unavailable:   # without it the page simply always answers
                    verdict = None
            probs = show_prediction(model, class_names, steps.mnist, verdict, say)
        if steps is None or model is None:
            st.caption(say)        # (show_prediction puts it under the answer)
    if steps is not None:
        evidence = None
        if probs is not None and st.session_state.get("draw_explain"):
            top, second = (int(i) for i in np.argsort(-probs)[:2])
            evidence = (predict.evidence(model, steps.mnist, top, second),
                        class_names[top], class_names[second])
        show_steps(steps, evidence)
        if probs is not None:
            st.toggle("Show which ink pushed the answer", key="draw_explain")
        # a student in a class: add this drawing, with the label meant, to the class's set
        class_widgets.drawing_contribution(steps.mnist, drawing_lib.render(drawing),
                                           int(np.argmax(probs)) if probs is not None else None)
    with left:
        canvas.show(CANVAS, drawing)     # last: it tells the canvas this drawing is answered
    training = run is not None and run.snapshot().active
    if training != was_training:
        st.rerun()   # the run started or ended: start or stop refreshing


runs = shared.service().runs(shared.owner())
snaps = {r.id: r.snapshot() for r in runs}
if runs:
    title, picker = st.columns([1.2, 1], gap="large", vertical_alignment="bottom")
    title.title("✏️ Draw a digit")
    with picker:
        chosen_id = model_picker(runs, snaps)
else:                       # nothing to choose from: no empty column (a gap on a phone)
    st.title("✏️ Draw a digit")
    chosen_id = DEFAULT
chosen_id = None if chosen_id == DEFAULT else chosen_id
try:
    predict.default_meta()  # fail early, with instructions, if the shipped model is missing
except predict.ModelUnavailable as e:
    if chosen_id is None:
        st.error(f"No model to predict with: {e}.")
        st.stop()
is_training = chosen_id is not None and snaps[chosen_id].active
st.fragment(draw_panel, run_every=REFRESH_S if is_training else None)(chosen_id, is_training)
