"""The Runs page in AppTest: this browser's runs in a table, filters, sort, compare, rename,
open elsewhere, rerun with one change, delete."""
import json

import pytest
from streamlit.testing.v1 import AppTest

from core.nn.config import HyperParams
from tests.app.experiments_app import app_file
from ui import shared

TINY = dict(subset=500, depth=1, width="16", epochs=1, batch_size=100, dropout=0.0)


@pytest.fixture
def runs_page(tmp_path):
    def _open(owner: str) -> AppTest:
        at = AppTest.from_file(app_file(tmp_path), default_timeout=60)
        at.session_state["owner"] = owner
        at.switch_page("pages/runs.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at
    return _open


def trained(owner, **kw):
    svc = shared.service()
    views = [svc.submit(owner, HyperParams.validate(**{**TINY, **k})) for k in kw.get("each", [{}])]
    for v in views:
        assert svc.wait(v.id, 120)
    return views


def rerun(at):
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_no_runs_says_where_to_make_one(runs_page):
    at = runs_page("nobody-yet-000000000000")
    assert "No runs yet" in at.info[0].value


def test_the_table_lists_only_my_runs_with_every_column(runs_page):
    mine = trained("owner-runs-a-00000000000", each=[dict(init="normal", init_sigma=0.01), dict(init="normal", init_sigma=0.1)])
    trained("owner-runs-other-0000000")
    at = runs_page("owner-runs-a-00000000000")
    df = at.dataframe[0].value
    assert len(df) == 2 and list(df["#"]) == [2, 1]                       # newest first
    assert list(df["init_sigma"]) == ["0.1", "0.01"] and set(df["state"]) == {"✅ finished"}
    for col in ("lr", "depth", "width", "batch_size", "seed", "best val acc", "test acc", "time (s)"):
        assert col in df.columns
    got = df.set_index("#")["test acc"].to_dict()
    assert got[1] == pytest.approx(100 * mine[0].snapshot().test_accuracy, abs=0.01)


def test_filter_and_sort(runs_page):
    trained("owner-runs-b-00000000000", each=[dict(lr=0.001), dict(lr=0.01), dict(lr=0.1)])
    at = runs_page("owner-runs-b-00000000000")
    at.multiselect(key="runs_filter_cols").set_value(["lr"])
    rerun(at)
    at.multiselect(key="runs_filter:lr").set_value(["0.01", "0.1"])
    rerun(at)
    df = at.dataframe[0].value
    assert sorted(df["lr"]) == ["0.01", "0.1"] and "2 of 3 runs" in at.caption[0].value
    at.selectbox(key="runs_sort").set_value("test accuracy")
    rerun(at)
    acc = list(at.dataframe[0].value["test acc"])
    assert acc == sorted(acc, reverse=True)
    at.text_input(key="runs_search").input("#1")
    rerun(at)
    assert len(at.dataframe[0].value) == 0                           # run 1 (lr 0.001) is filtered out


def test_compare_overlays_curves_named_by_their_difference(runs_page):
    a, b, _ = trained("owner-runs-c-00000000000", each=[dict(init="normal", init_sigma=0.01),
                                                        dict(init="normal", init_sigma=0.1), dict(init="he")])
    at = runs_page("owner-runs-c-00000000000")
    at.multiselect(key="runs_compare").set_value([a.id, b.id])
    rerun(at)
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    legend = [t["name"] for t in fig["data"] if t.get("showlegend")]
    assert legend == ["σ=0.01", "σ=0.1"]
    parcoords = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert parcoords["data"][0]["type"] == "parcoords"
    assert parcoords["data"][0]["dimensions"][1]["ticktext"] == ["–", "0.01", "0.1"]   # σ: unused by He


def test_rename_and_note(runs_page):
    (v,) = trained("owner-runs-d-00000000000")
    at = runs_page("owner-runs-d-00000000000")
    at.text_input(key=f"runs_name:{v.id}").input("baseline")
    at.text_area(key=f"runs_note:{v.id}").input("the lecture's settings")
    at.button[[b.label for b in at.button].index("Save name and note")].click()
    rerun(at)
    rec = shared.service().get("owner-runs-d-00000000000", v.id)
    assert rec.name == "baseline" and rec.note == "the lecture's settings"
    assert list(at.dataframe[0].value["name"]) == ["baseline"]


def test_rerun_with_one_change_fills_the_train_sidebar_with_the_same_seed(runs_page):
    (v,) = trained("owner-runs-e-00000000000", each=[dict(seed=42, lr=0.01, depth=2)])
    at = runs_page("owner-runs-e-00000000000")
    at.button(key="runs_rerun").click()
    rerun(at)
    assert at.session_state["seed"] == 42 and at.session_state["lr"] == 0.01 and at.session_state["depth"] == 2
    assert at.session_state["run_id"] is None and at.session_state["rerun_of"] == v.id
    assert at.button(key="btn_start")                              # we are on the Train page
    assert f"Rerun of run #{v.number}" in at.info[0].value
    at.switch_page("pages/train.py")                                # (AppTest stays on Runs otherwise)
    at.run()
    at.select_slider(key="lr").set_value(0.02).run()                # the one change
    at.button(key="btn_start").click().run()
    new = shared.service().get("owner-runs-e-00000000000", at.session_state["run_id"])
    assert new.parent_id == v.id and new.hp.seed == 42 and new.hp.lr == 0.02
    shared.service().stop(None, new.id)


def test_open_in_draw_makes_it_the_current_run(runs_page):
    (v,) = trained("owner-runs-f-00000000000")
    at = runs_page("owner-runs-f-00000000000")
    at.button(key="runs_open_draw").click()
    rerun(at)
    assert at.session_state["run_id"] == v.id
    assert at.session_state["draw_model"] == v.id                 # the Draw page predicts with it


def test_delete_asks_first(runs_page):
    a, b = trained("owner-runs-g-00000000000", each=[{}, dict(lr=0.01)])
    at = runs_page("owner-runs-g-00000000000")
    at.selectbox(key="runs_one").set_value(a.id)
    rerun(at)
    at.button(key="runs_delete").click()
    rerun(at)
    assert "cannot be undone" in at.warning[0].value
    at.button(key="runs_delete_no").click()
    rerun(at)
    assert shared.service().get("owner-runs-g-00000000000", a.id) is not None
    at.button(key="runs_delete").click()
    rerun(at)
    at.button(key="runs_delete_yes").click()
    rerun(at)
    assert shared.service().get("owner-runs-g-00000000000", a.id) is None
    assert list(at.dataframe[0].value["#"]) == [b.number]


def test_after_a_rerun_the_new_run_is_compared_with_the_old_one(runs_page):
    owner = "owner-runs-h-00000000000"
    (old,) = trained(owner, each=[dict(init="normal", init_sigma=0.01)])
    at = runs_page(owner)
    at.button(key="runs_rerun").click()
    rerun(at)
    (new,) = trained(owner, each=[dict(init="normal", init_sigma=0.1)])   # as the Train page would
    at.switch_page("pages/runs.py")
    rerun(at)
    assert at.multiselect(key="runs_compare").value == [old.id, new.id]
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [t["name"] for t in fig["data"] if t.get("showlegend")] == ["σ=0.01", "σ=0.1"]
