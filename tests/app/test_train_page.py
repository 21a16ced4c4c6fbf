"""The Train page in AppTest: sidebar from the schema, buttons, live run, reload."""
from core.nn.config import PARAMS
from tests.app.conftest import rerun_until, the_run
from ui import shared

SHORT = dict(subset=1000, epochs=2, batch_size=32, depth=1, width=32)


def sidebar_keys(at):
    return {w.key for w in at.sidebar if getattr(w, "key", None)}


def test_every_relevant_parameter_has_a_widget_and_irrelevant_ones_hide(open_page):
    at = open_page("pages/train.py")
    keys = sidebar_keys(at)
    hidden = {"init_sigma", "momentum", "patience"}       # irrelevant with the defaults
    assert keys == {p.name for p in PARAMS} - hidden
    at.selectbox(key="init").set_value("normal")
    at.selectbox(key="optimizer").set_value("momentum").run()
    assert {"init_sigma", "momentum"} <= sidebar_keys(at)
    assert "0.1" in at.sidebar.caption[0].value            # the σ of each layer is shown


def test_url_sets_the_hyperparameters(open_page):
    at = open_page("pages/train.py", depth=3, width="64", lr=0.01)
    assert at.slider(key="depth").value == 3 and at.select_slider(key="lr").value == 0.01
    assert "784 → 64 → 64 → 64 → 10" in at.sidebar.caption[0].value


def test_invalid_settings_show_a_message_and_disable_start(open_page):
    at = open_page("pages/train.py")
    at.text_input(key="width").input("128,x").run()
    assert "not a number" in at.sidebar.error[0].value
    assert at.button(key="btn_start").disabled and at.button(key="btn_step").disabled


def test_start_trains_to_the_end_and_shows_results(open_page):
    at = open_page("pages/train.py", **SHORT)
    assert not at.button(key="btn_start").disabled and at.button(key="btn_stop").disabled
    at.button(key="btn_start").click().run()
    run = the_run(at)
    assert run is not None and at.query_params["run"] == run.id
    rerun_until(at, lambda a: a.success and "finished" in a.success[0].value)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epoch"] == "2.00 / 2" and metrics["Test accuracy"].endswith("%")
    assert float(metrics["Test accuracy"].rstrip("%")) > 50
    assert at.button(key="btn_start").label == "▶ Start new run"
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["⬇ Curves (CSV)", "⬇ Settings (JSON)", "⬇ Model weights (.pt)"]


def test_pause_step_resume_stop_buttons(open_page):
    at = open_page("pages/train.py", **{**SHORT, "epochs": 200})
    at.button(key="btn_start").click().run()
    run = the_run(at)
    at.button(key="btn_pause").click().run()
    rerun_until(at, lambda a: "btn_resume" in [b.key for b in a.button])   # the page shows it
    step = run.snapshot().step
    assert run.snapshot().state == "paused" and not at.button(key="btn_step").disabled
    at.button(key="btn_step").click().run()
    rerun_until(at, lambda a: run.snapshot().step == step + 1
                and "btn_resume" in [b.key for b in a.button])
    at.button(key="btn_resume").click().run()
    rerun_until(at, lambda a: run.snapshot().step > step + 3)
    at.button(key="btn_stop").click().run()
    assert run.snapshot().state == "stopped"
    assert "stopped by the user" in at.info[0].value


def test_learning_rate_changes_go_to_the_running_trainer(open_page):
    at = open_page("pages/train.py", **{**SHORT, "epochs": 200})
    at.button(key="btn_start").click().run()
    run = the_run(at)
    at.select_slider(key="lr").set_value(0.01).run()
    rerun_until(at, lambda a: run.snapshot().live["lr"] == 0.01)
    assert any(e["text"] == "lr 0.001 → 0.01" for e in run.curves()[0].events)
    at.slider(key="depth").set_value(3).run()             # structure: needs a new run
    assert "needs a new run" in at.info[0].value
    assert run.hp.depth == 1
    at.button(key="btn_stop").click().run()


def test_reset_gives_fresh_weights_with_the_new_settings(open_page):
    at = open_page("pages/train.py", **{**SHORT, "epochs": 200})
    at.button(key="btn_start").click().run()
    first = the_run(at)
    at.slider(key="depth").set_value(2).run()
    at.button(key="btn_reset").click().run()
    fresh = the_run(at)
    assert fresh.id != first.id and fresh.hp.depth == 2
    assert fresh.snapshot().state == "idle" and first.snapshot().state == "stopped"


def test_a_reload_reattaches_to_the_run(open_page):
    at = open_page("pages/train.py", **SHORT)
    at.button(key="btn_start").click().run()
    run = the_run(at)
    # the same browser (its cookie gives the session its owner) with the run's URL
    reloaded = open_page("pages/train.py", _owner=at.session_state["owner"], run=run.id, **SHORT)
    assert the_run(reloaded).id == run.id
    shown = [x.value for kind in ("markdown", "info", "success") for x in reloaded.get(kind)]
    assert any(f"run #{run.number}" in s for s in shown)
    stranger = open_page("pages/train.py", run=run.id)      # another browser cannot see it
    assert the_run(stranger) is None and "not available" in stranger.warning[0].value
    assert not [b for b in stranger.button if b.key == "btn_stop" and not b.disabled]
    # an old link with ?user= gives nothing either, and the parameter is dropped
    old = open_page("pages/train.py", user=at.session_state["owner"], run=run.id)
    assert the_run(old) is None and "user" not in old.query_params
    shared.service().stop(None, run.id)


def test_an_unavailable_data_set_says_how_to_get_it(open_page, monkeypatch, tmp_path):
    from core.nn import data
    monkeypatch.setattr(data, "DEBIAN_FASHION", tmp_path / "none")
    monkeypatch.setenv("MNIST_PLAYGROUND_CACHE", str(tmp_path / "cache"))
    at = open_page("pages/train.py")
    at.selectbox(key="dataset").set_value("fashion").run()
    assert "apt-get install dataset-fashion-mnist" in at.sidebar.error[0].value
    assert at.button(key="btn_start").disabled


def test_the_url_uses_the_cli_spelling_both_ways(open_page):
    at = open_page("pages/train.py", init="normal", init_sigma="0.0015", batch_norm="true")
    assert at.selectbox(key="init").value == "normal"
    assert at.select_slider(key="init_sigma").value == 0.0015      # kept exactly (off the grid)
    assert at.query_params["init_sigma"] == "0.0015"
    assert at.toggle(key="batch_norm").value is True
    at.selectbox(key="activation").set_value("tanh").run()
    assert at.query_params["activation"] == "tanh" and at.query_params["init"] == "normal"
    at.selectbox(key="activation").set_value("relu").run()
    assert "activation" not in at.query_params                    # defaults stay out of the URL


def test_a_bad_value_in_a_link_is_ignored_with_a_message(open_page):
    at = open_page("pages/train.py", depth="many")
    assert at.slider(key="depth").value == 2
    assert any("depth" in t.value for t in at.toast)


def test_smoothing_and_compare_change_the_chart(open_page):
    import json

    def chart(at, i=0):
        return json.loads(at.get("plotly_chart")[i].proto.spec)["data"]

    at = open_page("pages/train.py", **SHORT)
    at.button(key="btn_start").click().run()
    first = the_run(at)
    rerun_until(at, lambda a: a.success and "finished" in a.success[0].value)
    at.slider(key="smoothing").set_value(0.0).run()
    raw = first.curves()[0].loss
    assert len(raw) == 64 and chart(at)[0]["y"] == raw        # 0 = the raw per-step losses
    at.slider(key="smoothing").set_value(0.95).run()
    ema, smoothed = 0.0, []                    # a debiased EMA (as TensorBoard's) written out here
    for n, v in enumerate(raw, 1):
        ema = 0.95 * ema + 0.05 * v
        smoothed.append(ema / (1 - 0.95 ** n))
    assert chart(at)[0]["y"] != raw
    assert max(abs(a - b) for a, b in zip(chart(at)[0]["y"], smoothed)) < 1e-6
    at.toggle(key="log_loss").set_value(True).run()
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["yaxis"]["type"] == "log"
    at.button(key="btn_start").click().run()                           # "Start new run"
    rerun_until(at, lambda a: a.success and "finished" in a.success[0].value)
    assert the_run(at).id != first.id
    at.multiselect(key="compare").select(first.id).run()
    for panel in (0, 1):                                               # on both panels
        assert f"#{first.number} (validation)" in [t.get("name") for t in chart(at, panel)]


def test_a_learning_rate_applies_once_the_slider_settles_not_every_value_in_between(open_page):
    at = open_page("pages/train.py", **{**SHORT, "epochs": 200})
    at.button(key="btn_start").click().run()
    run = the_run(at)
    for lr in (0.002, 0.003, 0.005, 0.01):                 # arrow keys: one rerun per value
        at.select_slider(key="lr").set_value(lr).run()
    rerun_until(at, lambda a: run.snapshot().live["lr"] == 0.01)
    changes = [e["text"] for e in run.curves()[0].events if e["kind"] == "lr"]
    assert changes == ["lr 0.001 → 0.01"]
    at.run()
    status = [x.value for kind in ("markdown", "info") for x in at.get(kind) if "step" in x.value]
    assert "learning rate 0.01" in status[0]               # the status shows the current value
    shared.service().stop(None, run.id)


def test_a_queued_run_shows_its_place_in_the_queue(open_page):
    svc = shared.service()
    blockers = [svc.submit(f"other{i}", svc_hp(epochs=200)) for i in range(svc.slots())]
    try:
        at = open_page("pages/train.py", **SHORT)
        at.button(key="btn_start").click().run()
        rerun_until(at, lambda a: a.info and "number 1 in the queue" in a.info[0].value)
        assert "⏳ queued" in at.info[0].value
        at.button(key="btn_stop").click().run()
        assert the_run(at).snapshot().state == "stopped"
    finally:
        for b in blockers:
            svc.stop(None, b.id)


def test_a_network_too_big_for_the_server_is_refused_with_what_to_shrink(open_page):
    at = open_page("pages/train.py", depth=12, width="4096", batch_size=1024)
    at.button(key="btn_start").click().run()
    assert "per student" in at.error[0].value and "GB" in at.error[0].value
    assert the_run(at) is None


def svc_hp(**kw):
    from core.nn.config import HyperParams
    return HyperParams.validate(**{**SHORT, **kw})


def test_a_run_that_learns_nothing_says_so_and_why(open_page):
    """σ = 0.001 with 9 layers: warned before Start; after the run, 'did not learn' in words
    with the cause, not a bare ✅ finished at chance."""
    at = open_page("pages/train.py", depth=9, width="100", init="normal", init_sigma="0.001",
                   optimizer="sgd", lr="0.01", subset=8000, batch_size=64, epochs=1, dropout=0)
    assert "vanish" in at.warning[0].value                      # before Start
    at.button(key="btn_start").click().run()
    rerun_until(at, lambda a: a.success and "finished" in a.success[0].value)
    texts = [e.value for e in at.error] + [w.value for w in at.warning]
    assert any("Did not learn" in t and "vanish" in t for t in texts), texts
    assert at.button(key="btn_verdict_tab").label.endswith("Signal propagation")


def test_a_healthy_run_has_no_verdict_warning(open_page):
    at = open_page("pages/train.py", **SHORT)
    assert not at.warning
    at.button(key="btn_start").click().run()
    rerun_until(at, lambda a: a.success and "finished" in a.success[0].value)
    assert not at.error and not at.warning
