"""The Look inside page in AppTest: without a run (hint + fresh init from the sidebar), with a
short finished run (confusion matrix, per-class numbers, gallery, signal propagation read against
the run's initialization, weights), a run that is not available, and the prediction cache (keyed
by the weights' version: early stopping restores other weights at the same step)."""
from __future__ import annotations

import base64
import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.analysis import diagnostics as diag
from core.analysis.verdict import TAB_SIGNAL
from core.nn import data
from core.nn.config import HyperParams
from core.runs import RunView
from core.states import DIVERGED, FINISHED
from ui import shared

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/look_inside.py"


def token(name: str) -> str:
    """A well-formed owner token (24 characters of [A-Za-z0-9_-]) that says whose it is."""
    return (name + "_" * 24)[:24]


def open_page(owner: str | None = None, run=None, tab: str | None = None,
              link: str | None = None) -> AppTest:
    """The page as this owner's browser opens it: `run` on screen, `link` = the URL's ?run=."""
    at = AppTest.from_file(APP, default_timeout=120)
    if owner:
        at.session_state["owner"] = owner      # the same browser (its cookie names the owner)
    if run is not None:
        at.session_state["run_id"] = run.id
    if tab:
        at.session_state["look_tab"] = tab
    if link:
        at.query_params["run"] = link
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def finished_run(owner: str, **kw) -> RunView:
    svc = shared.service()
    run = svc.submit(owner, HyperParams.validate(**kw))
    svc.wait(run.id, 300)
    return run


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


def accuracy_shown(at: AppTest) -> float:
    text = next(t for t in texts(at, "markdown") if "accuracy on the" in t)
    return float(re.search(r"\*\*([\d.]+)%\*\*", text).group(1)) / 100


def val_accuracy_of(model, run: RunView) -> float:
    """Accuracy on the run's validation images, counted here with torch (not with the page's code)."""
    ds = data.load(run.hp.dataset)
    x, y = ds.train_x[run.val_indices], ds.train_y[run.val_indices]
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())


@pytest.fixture(scope="module")
def finished():
    """A short real run (1 epoch on 2,000 images; default network), finished."""
    owner = token("look-inside-test")
    run = finished_run(owner, epochs=1, subset=2000)
    assert run.snapshot().state == FINISHED
    return owner, run


# -- no run ---------------------------------------------------------------------------------------

def test_without_a_run_the_page_says_train_first_and_shows_a_fresh_network():
    at = open_page(owner=token("nobody-yet"))
    assert any("train first" in t for t in texts(at, "info"))
    assert any("At initialization, from the current settings" in t for t in texts(at, "markdown"))
    assert any("Healthy" in t for t in texts(at, "success"))       # default: 2 ReLU layers, He
    at.session_state["look_tab"] = "Where it fails"
    at.run()
    assert any("No run yet" in t for t in texts(at, "info"))
    assert not at.get("plotly_chart")


def test_sidebar_sigma_changes_the_signal_at_once():
    at = open_page(owner=token("nobody-yet"))
    before = figure(at, "look_signal_spread")
    at.selectbox(key="init").set_value("normal").run()
    at.slider(key="depth").set_value(8).run()
    at.select_slider(key="init_sigma").set_value(0.01).run()
    assert not at.exception
    bad = " ".join(texts(at, "error"))
    assert "Vanishing signal" in bad and "He init would use σ = 0.051 for layer 1" in bad
    act = next(t for t in figure(at, "look_signal_spread")["data"] if t["name"] == "activations")
    y = decode(act["y"])
    assert len(y) == 9 and y[-1] < y[1] / 1e4           # input + 8 layers, shrinking fast
    assert figure(at, "look_signal_spread") != before
    ticks = figure(at, "look_signal_spread")["layout"]["yaxis"]["ticktext"]
    assert ticks[-1] == "1" and all(t.startswith("10") or t == "1" for t in ticks)   # powers of ten


# -- a finished run ---------------------------------------------------------------------------------

def test_confusion_matrix_of_the_run_sums_to_the_validation_set(finished):
    owner, run = finished
    snap = run.snapshot()
    at = open_page(owner, run)
    fig = figure(at, "look_cm")
    right, wrong = (decode(t["z"]) for t in fig["data"][:2])
    cm = np.nan_to_num(right) + np.nan_to_num(wrong)
    assert cm.sum() == len(run.val_indices) == 6000
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
    model = run.model()
    ds, val = data.load(run.hp.dataset), run.val_indices
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
    snap = run.snapshot()
    # The sidebar has the run's settings: the run is shown, now (solid) vs at init (dashed).
    assert at.radio(key="look_source").value == "run"
    assert any(f"at step {snap.step:,}" in t and "dashed lines at its initialization" in t
               for t in texts(at, "markdown"))
    dashed = [t for t in figure(at, "look_signal_gradient")["data"] if t.get("line", {}).get("dash") == "dash"]
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
    w = run.model().linears()[0].weight.detach().numpy()
    w0 = run.initial_model().state_dict()["hidden.0.linear.weight"].numpy()
    assert np.allclose(decode(grid["z"])[:28, :28], w[0].reshape(28, 28), atol=1e-6)
    at.toggle(key="look_delta").set_value(True).run()           # what training changed
    changed = figure(at, "look_grid")["data"][0]
    assert changed["colorbar"]["title"]["text"] == "change"
    delta = decode(changed["z"])
    assert np.allclose(delta[:28, 29:57], (w[1] - w0[1]).reshape(28, 28), atol=1e-6)
    hist = figure(at, "look_hist")
    assert len(hist["data"]) == 2 * (run.hp.depth + 1)      # now + init per layer
    width = run.hp.widths[0]
    assert decode(hist["data"][0]["y"]).astype(int).sum() == 784 * width   # layer 1, now
    assert decode(hist["data"][1]["y"]).astype(int).sum() == 784 * width   # layer 1, at init


def test_a_diverged_run_is_explained_not_crashed():
    owner = token("look-inside-diverged")
    run = finished_run(owner, epochs=1, subset=2000, optimizer="sgd", lr=10.0)
    assert run.snapshot().state == DIVERGED
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
    # The loss passed 100× its start at step ~2: the weights are huge, and the reading says that
    # training (the learning rate of 10), not the initialization, blew the signal up.
    errors = " ".join(texts(at, "error"))
    assert "**Exploding signal:**" in errors and "This appeared during training" in errors
    assert "a smaller learning rate" in errors and "σ =" not in errors


# -- runs that are not available --------------------------------------------------------------------

def test_a_link_to_an_unknown_run_says_it_is_not_available():
    at = open_page(owner=token("nobody-here"), link="no-such-run-id")
    assert any("The run in this link is not available" in t for t in texts(at, "warning"))
    assert any("No run yet" in t for t in texts(at, "info"))      # and the page still works
    assert "run" not in at.query_params


def test_a_run_deleted_while_the_page_is_open_says_so():
    owner = token("look-inside-deleted")
    svc = shared.service()
    run = svc.submit(owner, HyperParams.validate(epochs=1, subset=2000), start=False)
    at = open_page(owner, run, link=run.id)
    assert any("has not trained yet" in t for t in texts(at, "info"))
    assert svc.delete(owner, run.id)
    at.run()
    assert not at.exception
    assert any("not available" in t for t in texts(at, "warning"))
    for tab in ("Signal propagation", "What the first layer sees"):
        at.session_state["look_tab"] = tab
        at.run()
        assert not at.exception


# -- predictions are cached per version of the weights ----------------------------------------------

def test_new_weights_at_the_same_step_give_new_predictions(finished, monkeypatch):
    """Early stopping restores the best weights without changing the step. The page caches its
    predictions (one pass over 6,000 images per version of the weights): keyed by the step, it
    would keep showing the weights the model no longer has. Here the run's weights become its
    initial ones at the same step, with a new weights_version, as a restore does."""
    owner, run = finished
    snap = run.snapshot()
    at = open_page(owner, run)
    trained = val_accuracy_of(run.model(), run)
    assert accuracy_shown(at) == pytest.approx(trained, abs=5e-5)

    untrained = run.initial_model()
    monkeypatch.setattr(RunView, "model", lambda self: _copy_of(untrained))
    at.run()                                   # same weights_version: the cached pass is reused
    assert accuracy_shown(at) == pytest.approx(trained, abs=5e-5)
    monkeypatch.setattr(RunView, "snapshot", lambda self: dataclasses.replace(
        snap, weights_version=snap.weights_version + 1))
    at.run()                                   # same step, new version: predicted again
    assert not at.exception
    assert f"at step {snap.step:,}" in next(t for t in texts(at, "markdown") if "accuracy on the" in t)
    assert accuracy_shown(at) == pytest.approx(val_accuracy_of(untrained, run), abs=5e-5)
    assert abs(val_accuracy_of(untrained, run) - trained) > 0.3


def _copy_of(model):
    from core.nn.model import from_state_dict
    return from_state_dict(model.arch, model.state_dict())


# -- readings against the run's own initialization; deep link to a tab ------------------------------

def test_the_signal_tab_reads_the_run_against_its_initialization(finished):
    owner, run = finished
    at = open_page(owner, run, tab="Signal propagation")
    model = run.model()
    ds = data.load(run.hp.dataset)
    idx = data.split(60000, run.hp.val_fraction, 0, run.hp.seed).val_idx[:512]
    now = diag.signal_stats(model, ds.train_x[idx], ds.train_y[idx])
    init = diag.signal_stats(run.initial_model(), ds.train_x[idx], ds.train_y[idx])
    expected = diag.read_signal(now, run.hp, initial=init)
    shown = texts(at, "success") + texts(at, "warning") + texts(at, "error")
    assert sorted(shown) == sorted(f.text for f in expected)
    assert any("compares with the initialization" in t for t in texts(at, "markdown"))


def test_another_page_can_open_the_signal_tab_on_the_run(finished):
    owner, run = finished
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["owner"] = owner
    at.session_state["run_id"] = run.id
    at.session_state["look_goto"] = TAB_SIGNAL      # what the Train page's verdict link sets
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.session_state["look_tab"] == TAB_SIGNAL
    assert at.radio(key="look_source").value == "run"
    assert "look_goto" not in at.session_state       # used once
