"""The Experiments page in AppTest: a lesson's quick version run to its table and verdict, a
grid of one's own (bad values say why), cancelling, and finding a sweep again."""
import json

import pytest
from streamlit.testing.v1 import AppTest

from core import states
from core.sweeps.presets import PRESETS
from core.sweeps.runner import open_sweep
from tests.app.experiments_app import app_file
from ui import shared

TINY = dict(subset=500, depth=1, width="16", epochs=1, batch_size=100, dropout=0.0)


@pytest.fixture
def exp_page(tmp_path):
    def _open(owner: str, **query) -> AppTest:
        at = AppTest.from_file(app_file(tmp_path), default_timeout=60)
        at.session_state["owner"] = owner
        for k, v in query.items():
            at.query_params[k] = str(v)
        at.switch_page("pages/experiments.py")
        return rerun(at)
    return _open


def rerun(at):
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rerun_until(at, cond, timeout=180):
    import time
    deadline = time.monotonic() + timeout
    while not cond(rerun(at)):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)
    return at


def the_sweep(at):
    return open_sweep(shared.service(), at.session_state["owner"], at.session_state["sweep_id"])


def test_a_quick_lesson_fills_its_table_and_says_what_the_lecture_shows(exp_page):
    at = exp_page("owner-exp-a-000000000000")
    assert "No sweep yet" in at.info[0].value
    at.selectbox(key="exp_preset").set_value("loss")
    at.toggle(key="exp_quick").set_value(True)
    rerun(at)
    assert "Loss (2) × 1 seed = 2 runs" in " ".join(c.value for c in at.caption)
    at.button(key="exp_start").click()
    rerun_until(at, lambda a: the_sweep(a).state == states.FINISHED)
    rerun(at)
    df = at.table[0].value
    assert list(df.index) == ["cross-entropy", "MSE"] and list(df.columns) == ["test accuracy"]
    views = shared.service().runs("owner-exp-a-000000000000")
    acc = {v.hp.loss: v.snapshot().test_accuracy for v in views}
    assert df.loc["cross-entropy", "test accuracy"] == f"{100 * acc['cross_entropy']:.1f} %"
    assert PRESETS["loss"].lesson in [m.value for m in at.markdown]             # the lesson's text
    assert "What the lecture shows is here" in at.success[0].value
    curves = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert {t["name"] for t in curves["data"] if t.get("showlegend")} == {"cross-entropy", "MSE"}


def test_own_grid_with_bad_values_says_why_and_cannot_start(exp_page):
    at = exp_page("owner-exp-b-000000000000", **TINY)
    at.radio(key="exp_kind").set_value("My own grid")
    rerun(at)
    at.text_input(key="exp_v1:lr").input("0.01, abc")
    rerun(at)
    assert "lr=abc: expected a number, got 'abc'" in at.error[0].value
    assert at.button(key="exp_start").disabled


def test_own_grid_two_parameters_and_seeds(exp_page):
    owner = "owner-exp-c-000000000000"
    at = exp_page(owner, **TINY)
    at.radio(key="exp_kind").set_value("My own grid")
    rerun(at)
    at.text_input(key="exp_v1:lr").input("0.001, 0.01")
    at.selectbox(key="exp_p2").set_value("init")
    rerun(at)
    at.multiselect(key="exp_v2:init").set_value(["he", "xavier"])
    at.slider(key="exp_seeds").set_value(2)
    rerun(at)
    at.button(key="exp_start").click()
    rerun_until(at, lambda a: the_sweep(a).state == states.FINISHED)
    df = at.table[0].value
    assert list(df.index) == ["0.001", "0.01"] and list(df.columns) == ["he", "xavier"]
    views = shared.service().runs(owner)
    assert len(views) == 8 and {v.hp.subset for v in views} == {500}       # the sidebar's settings
    accs = [v.snapshot().test_accuracy for v in views if v.hp.lr == 0.01 and v.hp.init == "xavier"]
    m = sum(accs) / 2
    sd = ((accs[0] - m) ** 2 + (accs[1] - m) ** 2) ** 0.5
    assert df.loc["0.01", "xavier"] == f"{100 * m:.1f} ± {100 * sd:.1f} % (n=2)"
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["xaxis"]["type"] == "log" and [t["name"] for t in chart["data"]] == ["he", "xavier"]


def test_cancel_stops_the_sweep(exp_page):
    owner = "owner-exp-d-000000000000"
    at = exp_page(owner, **{**TINY, "subset": 20000, "epochs": 30})
    at.radio(key="exp_kind").set_value("My own grid")
    rerun(at)
    at.text_input(key="exp_v1:lr").input("0.001, 0.002, 0.005")
    rerun(at)
    at.button(key="exp_start").click()
    rerun_until(at, lambda a: any(v.snapshot().state == states.RUNNING for v in the_sweep(a).views()))
    at.button(key="exp_cancel").click()
    rerun(at)
    sweep = the_sweep(at)
    assert sweep.state == states.STOPPED
    assert all(v.snapshot().state in states.ENDED_STATES for v in sweep.views())
    assert at.button(key="exp_continue")                       # it can go on later
    assert "stopped" in at.get("progress")[0].proto.text


def test_a_sweep_is_found_again_after_a_reload(exp_page):
    owner = "owner-exp-e-000000000000"
    at = exp_page(owner)
    at.selectbox(key="exp_preset").set_value("loss")
    at.toggle(key="exp_quick").set_value(True)
    rerun(at)
    at.button(key="exp_start").click()
    rerun_until(at, lambda a: the_sweep(a).state == states.FINISHED)
    again = exp_page(owner)                                     # a new browser session, same owner
    assert again.selectbox(key="exp_pick").value == at.session_state["sweep_id"]
    assert list(again.table[0].value.index) == ["cross-entropy", "MSE"]
    other = exp_page("owner-exp-f-000000000000")
    assert "No sweep yet" in other.info[0].value
