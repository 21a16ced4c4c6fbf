"""The drawing canvas as a Streamlit component: components/canvas/ (plain HTML and JavaScript)
served by Streamlit's components.v1 API, and what it sends decoded by core.drawing.strokes.

    drawing = canvas.current(KEY)        # the drawing to show (None: nothing drawn yet)
    ...                                   # predict, show the answer
    canvas.show(KEY, drawing)            # put the canvas on the page; call it LAST (see below)

Why two calls, with the canvas last: while the pen moves the canvas sends an update only
once the page has answered the previous one (the `ack` argument, the seq of the message this
run answered). Streamlit cancels a run when a new value arrives, so a canvas that sent its next
update as soon as the page STARTED answering would cancel every answer and the user would see
none until the pen lifts. Acknowledging when the canvas is drawn, after the answer, is what
makes the answer visible while drawing.

The drawing also survives the canvas: Streamlit forgets a widget's value when its page is left,
so the last drawing is kept under `KEY:saved` and handed back to a freshly opened canvas.

Tests (AppTest cannot run the component's JavaScript) hand a drawing to the page the way the
canvas does: `at.session_state[KEY] = core.drawing.strokes.encode(drawing)` before `at.run()`.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from core.drawing import strokes as drawing_lib

FOLDER = Path(__file__).resolve().parent.parent / "components" / "canvas"
DEFAULT_PEN = 20     # px: a digit ~200 px tall then gets MNIST-like ~2 px strokes


def _component():
    # Declared on use, inside a script run: Streamlit registers components (and serves their
    # folder) only when there is a script run context; re-declaring is a dictionary update.
    return components.declare_component("drawing_canvas", path=str(FOLDER))


def current(key: str) -> drawing_lib.Drawing | None:
    """The drawing to show this run: what the canvas sent last, else the one kept from before
    (the canvas is new after a visit to another page). Raises ValueError for a message that
    is not a drawing (core.drawing.strokes.decode says what is wrong)."""
    value = st.session_state.get(key)
    if value is None:
        value = st.session_state.get(f"{key}:saved")
    drawing = drawing_lib.decode(value)
    if drawing is not None:
        st.session_state[f"{key}:saved"] = drawing_lib.encode(drawing)
    return drawing


def show(key: str, answered: drawing_lib.Drawing | None) -> None:
    """The canvas itself, telling it that `answered` (the drawing this run showed) has been
    answered; a fresh canvas gets the kept drawing back."""
    restore = st.session_state.get(f"{key}:saved") if st.session_state.get(key) is None else None
    pen = answered.pen if answered is not None else DEFAULT_PEN
    _component()(pen=pen, ack=answered.seq if answered is not None else 0, restore=restore,
                 key=key, default=None)
