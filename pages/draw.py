"""Draw a digit: the network says what it is, and shows what it actually sees.

Every stroke reruns the drawing panel (the canvas sends its image when the mouse or finger is
lifted). The page lays the drawing out like an MNIST digit (core.preprocess: crop, fit 20x20,
centre of mass to the centre), shows each step, and asks the chosen model for its ten
probabilities (core.predict). The model is the current run's newest weights, even while it
trains (the panel then refreshes every second, so predictions visibly improve), or the shipped
default model before any training.
"""
from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from core import predict, preprocess
from core.charts import draw as charts
from core.registry import Run
from pages import shared

CANVAS_PX = 280         # 10x MNIST's 28
DEFAULT_STROKE = 20     # px: a digit ~200 px tall then gets MNIST-like ~2 px strokes
UNSURE = 0.5            # below this top probability the page says the network is unsure
REFRESH_S = 1.0         # re-predict this often while the chosen run trains


def model_of(run: Run | None):
    """(model, class names, what to say about the model, warnings)."""
    if run is None:
        meta = predict.default_meta()
        return (predict.default_model(), tuple(str(i) for i in range(10)),
                f"Predicting with the **default model**, trained in advance "
                f"({meta['test_accuracy']:.1%} on the 10,000 MNIST test digits). Train your own "
                "network on the Train page to use yours.", [])
    snap = run.trainer.snapshot()
    model = run.trainer.model_snapshot()   # a private CPU copy of the newest weights
    # The run's name is in the selector above; say which weights and how far it has trained.
    if snap.state == "running":
        say = (f"Predicting with the weights of step {snap.step:,} (**still training**, epoch "
               f"{snap.epoch:.1f} of {snap.epochs}): watch the prediction change as it learns.")
    elif snap.state == "queued":
        say = ("This run is **waiting for its turn to train** (other runs are training): until "
               "then its weights are the random ones it started with.")
    elif snap.state == "paused":
        say = (f"Predicting with the weights of step {snap.step:,} (training **paused** at epoch "
               f"{snap.epoch:.1f} of {snap.epochs}).")
    else:
        acc = f", {snap.test_accuracy:.1%} test accuracy" if snap.test_accuracy is not None else ""
        say = f"Predicting with the weights after {snap.step:,} steps ({snap.state}{acc})."
    warnings = []
    if snap.state == "idle":
        warnings.append("This run has not trained yet: its weights are random, so its answers "
                        "are guesses. Start it on the Train page.")
    if run.trainer.hp.dataset != "mnist":
        warnings.append(f"This run learned {run.trainer.hp.dataset}, not digits: it will tell "
                        "you which piece of clothing your drawing looks like.")
    return model, run.trainer.dataset.class_names, say, warnings


def show_steps(steps: preprocess.Steps, evidence: tuple[np.ndarray, str, str] | None) -> None:
    """The recipe, left to right, so a student sees what the network sees; then, if asked,
    which of that ink argued for the answer (and which for the runner-up)."""
    cols = st.columns(5)
    px = charts.STEP_PX
    (h, w), (fh, fw) = steps.cropped.shape, steps.fitted.shape
    cols[0].image(charts.drawing_with_box(steps.ink, steps.box), width=px,
                  caption="1. your drawing; red: the box around the ink")
    cols[1].image(charts.fitted_in(steps.cropped), width=px,
                  caption=f"2. cropped to the box ({w}×{h} px)")
    cols[2].image(charts.pixelated(steps.fitted, frame=preprocess.BOX), width=px,
                  caption=f"3. shrunk to fit {preprocess.BOX}×{preprocess.BOX} ({fw}×{fh})")
    cols[3].image(charts.pixelated(steps.mnist), width=px,
                  caption="4. in 28×28, centre of mass in the middle: the network's input")
    if evidence is not None:
        ev, top, second = evidence
        cols[4].plotly_chart(charts.evidence_figure(ev), key="draw_evidence", width="content",
                             config={"displayModeBar": False})
        cols[4].caption(f"5. red ink says **{top}**, blue ink says **{second}** (the runner-up)")


def show_prediction(model, class_names: tuple[str, ...], x28: np.ndarray) -> np.ndarray | None:
    """The answer, big, with the ten probabilities; returns them (None if the model is broken)."""
    probs = predict.predict(model, x28)
    if not np.isfinite(probs).all():
        st.error("This model's weights are no longer numbers (its training diverged), so it "
                 "cannot predict. Pick another model above.")
        return None
    order = np.argsort(-probs)
    top, second = int(order[0]), int(order[1])
    unsure = probs[top] < UNSURE
    answer, confidence = st.columns([1, 2], vertical_alignment="center")
    answer.metric("The network says", class_names[top], border=True)
    confidence.markdown(f"**{probs[top]:.0%}** sure" if not unsure else
                        f"**Unsure**: {class_names[top]} ({probs[top]:.0%}) or maybe "
                        f"{class_names[second]} ({probs[second]:.0%})?")
    st.plotly_chart(charts.probability_bars(probs, class_names, highlight_runner_up=unsure),
                    key="draw_probs", config={"displayModeBar": False})
    return probs


def draw_panel(run_id: str | None, was_training: bool) -> None:
    run = shared.registry().get(shared.owner(), run_id) if run_id else None
    model, class_names, say, warnings = model_of(run)
    left, right = st.columns([1, 1.4], gap="large")
    with left:
        stroke = st.slider("Pen width", 5, 50, DEFAULT_STROKE, key="draw_stroke",
                           help="Thickness of the pen in canvas pixels (the canvas is 280×280).")
        result = st_canvas(stroke_width=stroke, stroke_color="#FFFFFF", background_color="#000000",
                           update_streamlit=True, height=CANVAS_PX, width=CANVAS_PX,
                           drawing_mode="freedraw", return_image_data=True, key="draw_canvas")
    image = result.image_data
    steps = preprocess.canvas_to_mnist_steps(image) if image is not None else None
    probs = None
    with right:
        st.caption(say)
        for warning in warnings:
            st.warning(warning)
        if steps is None:
            st.info("✏️ Draw a digit on the black canvas with the mouse or a finger: the "
                    "prediction appears as soon as you lift it. Point at (or touch) the canvas "
                    "for its toolbar: ↶ undo, ↷ redo, 🗑 clear.")
        else:
            probs = show_prediction(model, class_names, steps.mnist)
    if steps is not None:
        head, switch = st.columns([2, 1], vertical_alignment="bottom")
        head.markdown("#### What the network sees")
        evidence = None
        explain = probs is not None and switch.toggle("Show which ink pushed the answer",
                                                      key="draw_explain")
        if explain:
            top, second = (int(i) for i in np.argsort(-probs)[:2])
            evidence = (predict.evidence(model, steps.mnist, top, second),
                        class_names[top], class_names[second])
        show_steps(steps, evidence)
    training = run is not None and run.trainer.snapshot().active
    if training != was_training:
        st.rerun()   # the run started or ended: start or stop refreshing


title, picker = st.columns([1.2, 1], gap="large", vertical_alignment="bottom")
title.title("✏️ Draw a digit")
with picker:
    chosen = shared.run_picker(
        "Model", key="draw_model", default_label="default model (shipped)",
        help="Which network reads your drawing: one of your runs (its newest weights, even "
             "while it trains) or the default model trained in advance.")
try:
    predict.default_meta()  # fail early, with instructions, if the shipped model is missing
except predict.ModelUnavailable as e:
    if chosen is None:
        st.error(f"No model to predict with: {e}.")
        st.stop()
is_training = chosen is not None and chosen.trainer.snapshot().active
st.fragment(draw_panel, run_every=REFRESH_S if is_training else None)(
    chosen.id if chosen else None, is_training)
