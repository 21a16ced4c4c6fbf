"""The Draw page in AppTest. The canvas is a browser component, so a drawing is handed to the page
the way the component does it: its state {"drawing": {"raw": ..., "data": PNG data URL}}.
(tests/browser/test_draw_browser.py draws with a real mouse.)"""
import base64
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from core import data, predict, preprocess
from core.config import HyperParams
from core.registry import new_owner_token
from pages import shared
from tests.app.conftest import rerun_until
from tests.unit.drawings import draw_strokes

PAGE = "pages/draw.py"
LINE = [[(0.5, 0.0), (0.5, 1.0)]]
LOOP = [[(0.5 + 0.35 * np.cos(t), 0.5 + 0.5 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 40)]]
TINY = dict(depth=1, width="16", subset=500, batch_size=50)


def canvas_state(strokes) -> dict:
    """What the canvas component sends after a drawing: RGBA PNG, white on opaque black."""
    grey = draw_strokes(strokes, 200, 20, (40, 40))
    buf = io.BytesIO()
    Image.fromarray(np.dstack([grey, grey, grey, np.full_like(grey, 255)])).save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return {"drawing": {"raw": {"objects": [{"type": "Path"}]}, "data": url}}


def draw(at, strokes):
    at.session_state["draw_canvas"] = canvas_state(strokes)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def said(at) -> str:
    return at.metric[0].value


def texts(at) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def canvas_data(at) -> dict:
    el = next(e for e in at.get("bidi_component"))
    return json.loads(el.proto.json)


def array(v) -> np.ndarray:
    """A plotly JSON array: a list, or numpy data as {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(v, dict):
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        return a.reshape([int(n) for n in str(v.get("shape", a.size)).split(",")])
    return np.asarray(v)


def new_run(**hp):
    owner = new_owner_token()
    return owner, shared.registry().create(owner, HyperParams.validate(**hp))


def test_a_blank_canvas_shows_a_hint_and_no_prediction(open_page):
    at = open_page(PAGE)
    assert "Draw a digit on the black canvas" in at.info[0].value
    assert not at.metric and not at.get("plotly_chart") and not at.get("image")
    assert "default model" in texts(at)
    assert "Model" not in [s.label for s in at.selectbox]      # no runs: nothing to choose


@pytest.mark.parametrize("strokes, digit", [(LINE, "1"), (LOOP, "0")])
def test_a_drawing_is_read_and_its_steps_shown(open_page, strokes, digit):
    at = draw(open_page(PAGE), strokes)
    assert said(at) == digit
    assert "sure" in at.markdown[0].value and "Unsure" not in at.markdown[0].value
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert bars["x"] == [str(i) for i in range(10)]
    assert np.argmax(array(bars["y"])) == int(digit) and array(bars["y"]).max() > 80
    images = at.get("image")
    assert len(images) == 4                                      # raw, cropped, 20x20, 28x28
    assert "What the network sees" in texts(at)
    assert not at.info                                           # the hint is gone


def test_the_page_predicts_what_predict_says(open_page):
    at = draw(open_page(PAGE), LOOP)
    x = preprocess.canvas_to_mnist(draw_strokes(LOOP, 200, 20, (40, 40)))
    p = predict.predict(predict.default_model(), x)
    assert f"**{p.max():.0%}** sure" == at.markdown[0].value


def test_the_pen_width_slider_sets_the_canvas_pen(open_page):
    at = open_page(PAGE)
    assert canvas_data(at)["strokeWidth"] == 20 and canvas_data(at)["canvasWidth"] == 280
    at.slider(key="draw_stroke").set_value(35).run()
    assert canvas_data(at)["strokeWidth"] == 35
    assert canvas_data(at)["strokeColor"] == "#FFFFFF"
    assert canvas_data(at)["backgroundColor"] == "#000000"


def test_the_evidence_toggle_adds_the_map(open_page):
    at = draw(open_page(PAGE), LINE)
    assert len(at.get("plotly_chart")) == 1
    at.toggle(key="draw_explain").set_value(True).run()
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    heat = json.loads(charts[1].proto.spec)["data"][0]
    assert heat["type"] == "heatmap" and array(heat["z"]).shape == (28, 28)
    assert "red ink says **1**" in texts(at)
    at.toggle(key="draw_explain").set_value(False).run()
    assert len(at.get("plotly_chart")) == 1


def test_runs_can_be_chosen_and_an_untrained_one_is_unsure(open_page):
    owner, run = new_run(**TINY)
    at = draw(open_page(PAGE, user=owner, run=run.id), LOOP)
    picker = at.selectbox(key="draw_model")
    assert picker.value == run.id                                # the current run by default
    assert "has not trained yet" in at.warning[0].value
    # Random weights: the page says what its probabilities say, and here that is "unsure".
    x = preprocess.canvas_to_mnist(draw_strokes(LOOP, 200, 20, (40, 40)))
    p = predict.predict(run.trainer.model_snapshot(), x)
    top, second = np.argsort(-p)[:2]
    assert p[top] < 0.5 and said(at) == str(top)
    assert at.markdown[0].value.startswith("**Unsure**")
    assert f"maybe {second}" in at.markdown[0].value
    colours = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["marker"]["color"]
    assert colours[second] == "#ff7f0e"                          # the runner-up is highlighted
    # Switch to the default model: it knows a 0 when it sees one.
    picker.set_value(shared.NO_RUN).run()
    assert said(at) == "0" and "default model" in texts(at) and not at.warning


def test_a_training_run_predicts_with_its_newest_weights(open_page):
    owner, run = new_run(**TINY, epochs=200)
    run.trainer.start()
    try:
        at = draw(open_page(PAGE, user=owner, run=run.id), LINE)
        rerun_until(at, lambda a: "still training" in texts(a) and run.trainer.snapshot().step > 0)
        assert "weights of step" in texts(at)
        step = int(texts(at).split("weights of step ")[1].split(" ")[0].replace(",", ""))
        assert step <= run.trainer.snapshot().step
    finally:
        run.trainer.stop()
        run.trainer.wait(10)
    at.run()
    assert "still training" not in texts(at) and "stopped" in texts(at)


def test_a_diverged_run_gets_a_message_not_a_traceback(open_page):
    owner, run = new_run(**TINY)
    with torch.no_grad():
        run.trainer.model.out.weight.fill_(float("nan"))
    at = draw(open_page(PAGE, user=owner, run=run.id), LINE)
    assert "no longer numbers" in at.error[0].value and not at.metric


@pytest.mark.skipif(not data.available("fashion")[0], reason="Fashion-MNIST is not installed")
def test_a_fashion_run_says_so_and_names_clothes(open_page):
    owner, run = new_run(**TINY, dataset="fashion")
    at = draw(open_page(PAGE, user=owner, run=run.id), LINE)
    assert "not digits" in at.warning[-1].value
    assert said(at) in data.DATASETS["fashion"].class_names


def test_a_missing_default_model_is_explained(open_page, monkeypatch, tmp_path):
    monkeypatch.setattr(predict, "DEFAULT_PATH", tmp_path / "missing.pt")
    monkeypatch.setattr(predict, "_default", None)
    at = open_page(PAGE)                             # (open_page checks there is no exception)
    assert "python -m scripts.train_default_model" in at.error[0].value
    monkeypatch.setattr(predict, "_default", None)   # reload the real one for the next tests
