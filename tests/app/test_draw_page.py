"""The Draw page in AppTest. The canvas is a browser component whose JavaScript AppTest cannot
run, so a drawing is handed to the page the way the canvas sends it: its message (core.drawing.strokes's
format) under the canvas's key, before a run. tests/browser/test_draw_browser.py draws with a
real mouse and finger."""
import html
import json
import re

import numpy as np
import pytest

from core.drawing import digitness, predict, preprocess
from core.drawing import strokes as drawing_lib
from core.drawing.strokes import Drawing, Stroke
from core.nn import data
from core.nn.config import HyperParams
from tests.app.conftest import rerun_until
from ui import shared

PAGE = "pages/draw.py"
LINE = [[(0.5, 0.0), (0.5, 1.0)]]
LOOP = [[(0.5 + 0.35 * np.cos(t), 0.5 + 0.5 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 40)]]
DOT = [[(0.5, 0.5)]]
TINY = dict(depth=1, width="16", subset=500, batch_size=50, epochs=1)
GOOD = dict(depth=1, width="32", subset=3000, batch_size=50, epochs=2)
CHANCE = dict(depth=1, width="16", subset=500, batch_size=50, epochs=1, optimizer="sgd", lr=1e-5,
              momentum=0.0, dropout=0.0)


def message(strokes, seq: int = 1, pen: int = 20, height: int = 200, origin=(40, 40)) -> dict:
    """The canvas's message for strokes given in a unit box, drawn `height` px tall."""
    return drawing_lib.encode(Drawing((280, 280), tuple(
        Stroke(pen, tuple((round(origin[0] + x * height), round(origin[1] + y * height))
                          for x, y in s)) for s in strokes), seq=seq, pen=pen))


def draw(at, strokes, seq: int = 1):
    at.session_state["draw_canvas"] = message(strokes, seq)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def network_input(strokes) -> np.ndarray:
    return preprocess.canvas_to_mnist(drawing_lib.render(drawing_lib.decode(message(strokes))))


def said(at) -> str:
    return at.metric[0].value


def texts(at) -> str:
    """Everything the page says in words (markdown, captions, and its HTML blocks as text)."""
    blocks = [html.unescape(re.sub(r"<[^>]+>", " ", h.proto.body)) for h in at.get("html")]
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + blocks)


def sure(at) -> str:
    """The line under the big digit: "98% sure" or "Unsure: ...?"."""
    return at.metric[0].delta


def canvas_args(at) -> dict:
    return json.loads(at.get("component_instance")[0].proto.json_args)


def step_images(at) -> list[str]:
    """The captions (alt texts) of the images in the "What the network sees" row."""
    blocks = [h.proto.body for h in at.get("html") if "<figure" in h.proto.body]
    alts = re.findall(r'<img src="data:image/png;base64,[^"]+" [^>]*alt="([^"]*)"', "".join(blocks))
    return [html.unescape(a) for a in alts]


def bars(at) -> dict:
    """The probability bars as the page shows them: class names, probabilities, bar colours."""
    body = next(h.proto.body for h in at.get("html") if 'class="draw-bars"' in h.proto.body)
    probs = re.search(r'data-probs="([^"]*)"', body)[1].split(",")
    return {"probs": np.array([float(v) for v in probs]),
            "colours": re.findall(r"background:(#[0-9a-f]{6})", body),
            "names": [html.unescape(n) for n in re.findall(r'overflow-wrap:anywhere">([^<]*)<', body)]}


def no_bars(at) -> bool:
    return not any('class="draw-bars"' in h.proto.body for h in at.get("html"))


def trained_run(owner: str, **hp):
    svc = shared.service()
    run = svc.submit(owner, HyperParams.validate(**hp))
    assert svc.wait(run.id, 120)
    return svc.get(owner, run.id)


def owner_of(at) -> str:
    return at.session_state["owner"]


# -- drawing and reading -------------------------------------------------------------------------

def test_a_blank_canvas_shows_a_hint_and_no_prediction(open_page):
    at = open_page(PAGE)
    assert "Draw a digit on the black canvas" in at.info[0].value
    assert not at.metric and no_bars(at) and not step_images(at)
    assert "default model" in texts(at)
    assert "Model" not in [s.label for s in at.selectbox]      # no runs: nothing to choose
    assert canvas_args(at) == {"pen": 20, "ack": 0, "restore": None, "default": None,
                               "key": "draw_canvas"}


@pytest.mark.parametrize("strokes, digit", [(LINE, "1"), (LOOP, "0")])
def test_a_drawing_is_read_and_its_steps_shown(open_page, strokes, digit):
    at = draw(open_page(PAGE), strokes)
    assert said(at) == digit
    assert sure(at).endswith("% sure") and "Unsure" not in sure(at)
    shown = bars(at)
    assert shown["names"] == [str(i) for i in range(10)]
    assert np.argmax(shown["probs"]) == int(digit) and shown["probs"].max() > 0.8
    assert shown["probs"].sum() == pytest.approx(1, abs=1e-4)
    assert shown["colours"][int(digit)] == "#1f77b4"                     # the answer in blue
    assert [a.split(";")[0].split(" (")[0] for a in step_images(at)] == [
        "1. your drawing", "2. cropped to the box", "3. shrunk to fit 20×20",
        "4. in 28×28, centre of mass in the middle: the network's input"]
    assert "What the network sees" in texts(at)
    assert not at.info                                           # the hint is gone


def test_the_page_shows_what_the_network_says_about_the_strokes(open_page):
    at = draw(open_page(PAGE), LOOP)
    p = predict.predict(predict.default_model(), network_input(LOOP))
    assert sure(at) == f"{p.max():.0%} sure"
    np.testing.assert_allclose(bars(at)["probs"], p, rtol=1e-5, atol=1e-9)


def test_the_canvas_is_told_which_drawing_was_answered(open_page):
    """The canvas waits for this acknowledgement before its next in-between update."""
    at = draw(open_page(PAGE), LINE, seq=1732537520123)
    assert canvas_args(at)["ack"] == 1732537520123
    assert canvas_args(at)["restore"] is None                    # the canvas has the drawing
    draw(at, LOOP, seq=1732537520200)
    assert canvas_args(at)["ack"] == 1732537520200 and said(at) == "0"


def test_a_drawing_survives_a_visit_to_another_page(open_page):
    at = draw(open_page(PAGE), LOOP, seq=42)
    at.switch_page("pages/home.py").run()
    assert "draw_canvas" not in at.session_state                 # Streamlit forgot the widget
    at.switch_page(PAGE).run()
    assert said(at) == "0"                                       # ... the page did not
    assert canvas_args(at)["restore"] == message(LOOP, 42)       # and the new canvas gets it back


def test_clearing_the_canvas_brings_the_hint_back(open_page):
    at = draw(open_page(PAGE), LINE)
    at.session_state["draw_canvas"] = {"v": 1, "size": [280, 280], "seq": 9, "down": False,
                                       "pen": 20, "strokes": []}
    at.run()
    assert "Draw a digit on the black canvas" in at.info[0].value and not at.metric


def test_a_message_the_page_cannot_read_is_explained(open_page):
    at = open_page(PAGE)
    at.session_state["draw_canvas"] = {"v": 7, "strokes": []}
    at.run()
    assert not at.exception
    assert "cannot read" in at.error[0].value and "version 7" in at.error[0].value
    assert not at.metric


def test_the_evidence_toggle_adds_the_map(open_page):
    at = draw(open_page(PAGE), LINE)
    assert len(step_images(at)) == 4
    at.toggle(key="draw_explain").set_value(True).run()
    assert len(step_images(at)) == 5
    assert step_images(at)[4] == "5. red ink says 1, blue ink says 7 (the runner-up)"
    at.toggle(key="draw_explain").set_value(False).run()
    assert len(step_images(at)) == 4


# -- not a digit ---------------------------------------------------------------------------------

def test_a_dot_is_not_a_digit_and_the_best_guess_is_small_print(open_page):
    at = draw(open_page(PAGE), DOT)
    x = network_input(DOT)
    assert not digitness.judge(x).is_digit
    p = predict.predict(predict.default_model(), x)
    assert not at.metric                                         # no big digit ...
    assert "🤔 That doesn't look like a digit" in texts(at)
    assert f"Best guess: {p.argmax()} ({p.max():.0%})." in " ".join(texts(at).split())   # ... its guess
    assert set(bars(at)["colours"]) == {"#c7c7c7"}              # no bar singled out


def test_a_digit_after_a_dot_is_read_again(open_page):
    at = draw(open_page(PAGE), DOT)
    draw(at, LOOP, seq=2)
    assert said(at) == "0" and "doesn't look like a digit" not in texts(at)


# -- which model answers (issue 14: the best run above chance, else the default model) -----------

def test_without_a_run_above_chance_the_default_model_answers(open_page):
    at = open_page(PAGE)
    svc = shared.service()
    idle = svc.submit(owner_of(at), HyperParams.validate(**TINY), start=False)
    draw(at, LOOP)
    assert at.selectbox(key="draw_model").value == shared.NO_RUN
    assert "default model" in texts(at) and said(at) == "0" and not at.warning
    svc.delete(owner_of(at), idle.id)


def test_the_best_finished_run_answers_and_says_how_good_it_is(open_page):
    at = open_page(PAGE)
    owner = owner_of(at)
    good = trained_run(owner, **GOOD)
    chance = trained_run(owner, **CHANCE)                       # the newest run
    acc_good, acc_chance = good.snapshot().test_accuracy, chance.snapshot().test_accuracy
    assert acc_chance < 0.2 <= acc_good                         # what the two runs are for
    draw(at, LOOP)
    assert at.selectbox(key="draw_model").value == good.id       # the best, not the newest
    caption = texts(at)
    assert f"run #{good.number}" in caption and f"{acc_good:.1%} test accuracy" in caption
    assert not at.warning
    x = network_input(LOOP)
    p = predict.predict(good.model(), x)
    assert said(at) == str(p.argmax())
    # Picked by hand, the chance-level run says so plainly, with a one-click way back.
    at.selectbox(key="draw_model").set_value(chance.id).run()
    assert "at chance level" in at.warning[0].value
    assert f"{acc_chance:.0%} on the test digits" in at.warning[0].value
    at.button(key="draw_use_default").click().run()
    assert at.selectbox(key="draw_model").value == shared.NO_RUN
    assert "default model" in texts(at) and not at.warning and said(at) == "0"


def test_an_untrained_run_picked_by_hand_is_at_chance(open_page):
    at = open_page(PAGE)
    run = shared.service().submit(owner_of(at), HyperParams.validate(**TINY), start=False)
    at.run()
    at.selectbox(key="draw_model").set_value(run.id).run()
    draw(at, LOOP)
    assert "has not trained yet" in at.warning[0].value and "chance level" in at.warning[0].value
    x = network_input(LOOP)
    p = predict.predict(run.model(), x)                           # random weights: a guess
    top, second = (int(i) for i in np.argsort(-p)[:2])
    assert said(at) == str(top)
    if p[top] < 0.5:                                              # unsure: the runner-up too
        assert sure(at).startswith(f"Unsure: {top} ({p[top]:.0%}) or maybe {second}")
        assert bars(at)["colours"][second] == "#ff7f0e"
    else:
        assert sure(at) == f"{p[top]:.0%} sure"
    assert at.button(key="draw_use_default")


def test_a_deleted_run_gives_way_to_the_default_model(open_page):
    at = open_page(PAGE)
    svc = shared.service()
    run = svc.submit(owner_of(at), HyperParams.validate(**TINY), start=False)
    at.run()
    at.selectbox(key="draw_model").set_value(run.id).run()
    svc.delete(owner_of(at), run.id)
    draw(at, LOOP)
    assert "default model" in texts(at) and said(at) == "0" and not at.warning


def test_not_a_digit_whichever_model_answers(open_page):
    """The verdict is about the drawing: a run's model gets the same "not a digit"."""
    at = open_page(PAGE)
    good = trained_run(owner_of(at), **GOOD)
    draw(at, DOT)
    assert at.selectbox(key="draw_model").value == good.id
    assert "doesn't look like a digit" in texts(at) and not at.metric
    p = predict.predict(good.model(), network_input(DOT))
    assert f"Best guess: {p.argmax()} ({p.max():.0%})" in " ".join(texts(at).split())


def test_a_training_run_predicts_with_its_newest_weights(open_page):
    at = open_page(PAGE)
    svc = shared.service()
    run = svc.submit(owner_of(at), HyperParams.validate(**TINY | {"epochs": 200}))
    try:
        rerun_until(at, lambda a: (run.snapshot().best_val_accuracy or 0) > 0.3)
        draw(at, LINE)
        assert at.selectbox(key="draw_model").value == run.id
        rerun_until(at, lambda a: "still training" in texts(a))
        assert "weights of step" in texts(at)
        step = int(texts(at).split("weights of step ")[1].split(" ")[0].replace(",", ""))
        assert 0 < step <= run.snapshot().step
    finally:
        svc.stop(None, run.id)
        svc.wait(run.id, 30)
    at.run()
    assert "still training" not in texts(at) and "stopped" in texts(at)


@pytest.mark.skipif(not data.available("fashion")[0], reason="Fashion-MNIST is not installed")
def test_a_fashion_run_says_so_and_names_clothes(open_page):
    at = open_page(PAGE)
    run = trained_run(owner_of(at), **TINY, dataset="fashion")
    at.run()
    at.selectbox(key="draw_model").set_value(run.id).run()
    draw(at, LINE)
    assert "not digits" in at.warning[-1].value
    assert said(at) in data.DATASETS["fashion"].class_names     # no digitness verdict for clothes


def test_a_missing_default_model_is_explained(open_page, monkeypatch, tmp_path):
    monkeypatch.setattr(predict, "DEFAULT_PATH", tmp_path / "missing.pt")
    monkeypatch.setattr(predict, "_default", None)
    at = open_page(PAGE)                             # (open_page checks there is no exception)
    assert "python -m scripts.train_default_model" in at.error[0].value
    monkeypatch.setattr(predict, "_default", None)   # reload the real one for the next tests


def test_the_digitness_network_missing_still_reads_digits(open_page, monkeypatch):
    def missing(*a, **k):
        raise digitness.Unavailable("gone")
    monkeypatch.setattr(digitness, "judge", missing)
    at = draw(open_page(PAGE), DOT)
    assert at.metric                                 # the page answers, as before the check
