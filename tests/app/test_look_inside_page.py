"""The Look inside page in AppTest: without a run (hint + fresh init from the sidebar) and with a
short finished run (confusion matrix, per-class numbers, gallery, signal propagation, weights)."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import diagnostics as diag
from core.config import HyperParams
from pages import shared

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/look_inside.py"


def open_page(owner: str | None = None, run=None, tab: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if owner:
        at.session_state["owner"] = owner
    if run is not None:
        at.session_state["run_id"] = run.id
    if tab:
        at.session_state["look_tab"] = tab
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def decode(v):
    """A plotly JSON array, plain or base64-typed ({"dtype", "bdata", "shape"})."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        shape = v.get("shape")
        if shape:
            a = a.reshape([int(s) for s in str(shape).split(",")])
        return a
    return np.array([np.nan if x is None else x for x in v] if v and not isinstance(v[0], list)
                    else [[np.nan if x is None else x for x in row] for row in v], dtype=float)


def figure(at: AppTest, key: str) -> dict:
    chart = next(c for c in at.get("plotly_chart") if key in c.proto.id)
    return json.loads(chart.proto.spec)


def texts(at: AppTest, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]


def captions_of_gallery(at: AppTest) -> list[str]:
    (images,) = at.get("imgs") or at.get("image")
    return [i.caption for i in images.proto.imgs]


@pytest.fixture(scope="module")
def finished():
    """A short real run (1 epoch on 2,000 images; default network), finished, owned by 'owner'."""
    owner = "look-inside-test"
    run = shared.registry().create(owner, HyperParams.validate(epochs=1, subset=2000))
    run.trainer.start()
    assert run.trainer.wait(120) and run.trainer.snapshot().state == "finished"
    return owner, run


# -- no run ---------------------------------------------------------------------------------------

def test_without_a_run_the_page_says_train_first_and_shows_a_fresh_network():
    at = open_page(owner="nobody-yet")
    assert any("train first" in t for t in texts(at, "info"))
    assert any("At initialization, from the current settings" in t for t in texts(at, "markdown"))
    assert any("Healthy" in t for t in texts(at, "success"))       # default: 2 ReLU layers, He
    at.session_state["look_tab"] = "Where it fails"
    at.run()
    assert any("No run yet" in t for t in texts(at, "info"))
    assert not at.get("plotly_chart")


def test_sidebar_sigma_changes_the_signal_at_once():
    at = open_page(owner="nobody-yet")
    before = figure(at, "look_signal")
    at.selectbox(key="init").set_value("normal").run()
    at.slider(key="depth").set_value(8).run()
    at.select_slider(key="init_sigma").set_value(0.01).run()
    assert not at.exception
    bad = " ".join(texts(at, "error"))
    assert "Vanishing signal" in bad and "He init would use σ = 0.051 for layer 1" in bad
    act = next(t for t in figure(at, "look_signal")["data"] if t["name"] == "activations")
    y = decode(act["y"])
    assert len(y) == 9 and y[-1] < y[1] / 1e4           # input + 8 layers, shrinking fast
    assert figure(at, "look_signal") != before


# -- a finished run ---------------------------------------------------------------------------------

def test_confusion_matrix_of_the_run_sums_to_the_validation_set(finished):
    owner, run = finished
    snap = run.trainer.snapshot()
    at = open_page(owner, run)
    fig = figure(at, "look_cm")
    right, wrong = (decode(t["z"]) for t in fig["data"][:2])
    cm = np.nan_to_num(right) + np.nan_to_num(wrong)
    assert cm.sum() == len(run.trainer.split.val_idx) == 6000
    # The page's accuracy is the trainer's own final validation accuracy (same weights).
    assert any(f"{snap.val_accuracy:.2%}** accuracy on the 6,000 validation" in t
               for t in texts(at, "markdown"))
    at.toggle(key="look_norm").set_value(True).run()        # row-normalized: % of each class
    fig = figure(at, "look_cm")
    rows = sum(np.nan_to_num(decode(t["z"])) for t in fig["data"][:2]).sum(axis=1)
    assert np.allclose(rows, 100)
    at.radio(key="look_set").set_value("test").run()
    assert any(f"{snap.test_accuracy:.2%}** accuracy on the 10,000 test" in t
               for t in texts(at, "markdown"))
    at.toggle(key="look_norm").set_value(False).run()
    fig = figure(at, "look_cm")
    assert sum(np.nansum(decode(t["z"])) for t in fig["data"][:2]) == 10000


def test_a_cell_shows_its_examples_most_confident_first(finished):
    owner, run = finished
    model = run.trainer.model_snapshot()
    ds, val = run.trainer.dataset, run.trainer.split.val_idx
    preds = diag.predict(model, ds.train_x[val], ds.train_y[val])
    cm = diag.confusion_matrix(preds.y_true, preds.y_pred)
    off = cm - np.diag(np.diag(cm))
    t, p = np.unravel_index(off.argmax(), off.shape)          # the most frequent confusion
    at = open_page(owner, run)
    at.selectbox(key="look_true").set_value(int(t))
    at.selectbox(key="look_pred").set_value(int(p)).run()
    caps = captions_of_gallery(at)
    assert len(caps) == min(24, cm[t, p])
    assert all(c.startswith(f"true {t} → predicted {p} (") for c in caps)
    assert any(f"{cm[t, p]:,} mistakes" in c for c in texts(at, "caption"))
    conf = [int(re.search(r"\((\d+) %\)", c).group(1)) for c in caps]
    assert conf == sorted(conf, reverse=True)
    (box,) = figure(at, "look_cm")["layout"]["shapes"]          # the chosen cell is outlined
    assert (box["x0"], box["y0"]) == (p - 0.5, t - 0.5)
    at.selectbox(key="look_pred").set_value(int(t)).run()    # the diagonal: right answers
    assert any(f"{cm[t, t]:,} right answers" in c for c in texts(at, "caption"))


def test_gallery_pages_through_all_mistakes(finished):
    owner, run = finished
    at = open_page(owner, run)
    first = captions_of_gallery(at)
    assert len(first) == 24
    n = int(re.search(r"([\d,]+) mistakes", " ".join(texts(at, "caption"))).group(1).replace(",", ""))
    assert at.number_input(key="look_page").value == 1
    at.button(key="look_next").click().run()
    assert at.number_input(key="look_page").value == 2
    second = captions_of_gallery(at)
    assert second != first
    last_conf = lambda caps, i: int(re.search(r"\((\d+) %\)", caps[i]).group(1))  # noqa: E731
    assert last_conf(second, 0) <= last_conf(first, -1)
    at.number_input(key="look_page").set_value(-(-n // 24)).run()   # the last page
    assert len(captions_of_gallery(at)) == n - 24 * (-(-n // 24) - 1)
    assert at.button(key="look_next").disabled
    at.button(key="look_prev").click().run()
    assert at.number_input(key="look_page").value == -(-n // 24) - 1


def test_signal_tab_shows_the_run_and_follows_the_sidebar(finished):
    owner, run = finished
    at = open_page(owner, run, tab="Signal propagation")
    snap = run.trainer.snapshot()
    # The sidebar has the run's settings: the run is shown, now (solid) vs at init (dashed).
    assert at.radio(key="look_source").value == "run"
    assert any(f"at step {snap.step:,}" in t and "dashed lines at its initialization" in t
               for t in texts(at, "markdown"))
    dashed = [t for t in figure(at, "look_signal")["data"] if t.get("line", {}).get("dash") == "dash"]
    assert dashed
    # Touching σ (an init setting) switches to the fresh network the sidebar describes.
    at.selectbox(key="init").set_value("normal").run()
    assert at.radio(key="look_source").value == "fresh"
    assert any("At initialization, from the current settings" in t for t in texts(at, "markdown"))
    at.radio(key="look_source").set_value("run").run()
    assert any(f"at step {snap.step:,}" in t for t in texts(at, "markdown"))


def test_weights_tab_first_layer_images_and_histograms(finished):
    owner, run = finished
    at = open_page(owner, run, tab="What the first layer sees")
    at.slider(key="look_units").set_value(8).run()
    grid = figure(at, "look_grid")["data"][0]
    assert decode(grid["z"]).shape == (28, 8 * 29 - 1)
    assert grid["zmid"] == 0 and grid["zmin"] == -grid["zmax"]
    w = run.trainer.model_snapshot().linears()[0].weight.detach().numpy()
    w0 = run.trainer.initial_state_dict()["hidden.0.linear.weight"].numpy()
    assert np.allclose(decode(grid["z"])[:28, :28], w[0].reshape(28, 28), atol=1e-6)
    at.toggle(key="look_delta").set_value(True).run()           # what training changed
    changed = figure(at, "look_grid")["data"][0]
    assert changed["colorbar"]["title"]["text"] == "change"
    delta = decode(changed["z"])
    assert np.allclose(delta[:28, 29:57], (w[1] - w0[1]).reshape(28, 28), atol=1e-6)
    hist = figure(at, "look_hist")
    assert len(hist["data"]) == 2 * (run.trainer.hp.depth + 1)      # now + init per layer
    width = run.trainer.hp.widths[0]
    assert decode(hist["data"][0]["y"]).astype(int).sum() == 784 * width   # layer 1, now
    assert decode(hist["data"][1]["y"]).astype(int).sum() == 784 * width   # layer 1, at init


def test_a_diverged_run_is_explained_not_crashed():
    owner = "look-inside-diverged"
    run = shared.registry().create(owner, HyperParams.validate(epochs=1, subset=2000,
                                                                optimizer="sgd", lr=10.0))
    run.trainer.start()
    assert run.trainer.wait(120) and run.trainer.snapshot().state == "diverged"
    at = open_page(owner, run)
    assert any("This run diverged" in t for t in texts(at, "error"))
    assert any("No predictions to show" in t for t in texts(at, "info"))
    for tab in ("Signal propagation", "What the first layer sees"):
        at.session_state["look_tab"] = tab
        at.run()
        assert not at.exception
    at.session_state["look_tab"] = "Signal propagation"
    at.run()
    at.radio(key="look_source").set_value("run").run()
    assert any("The weights themselves are inf/NaN" in t for t in texts(at, "error"))
    notes = " ".join(a.get("text", "") for a in figure(at, "look_signal")["layout"]["annotations"])
    assert "overflow (inf/NaN) at layer 1, 2" in notes
