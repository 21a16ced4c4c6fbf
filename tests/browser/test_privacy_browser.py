"""Private runs on a shared server (issue 9), in real Chromium: two browser contexts are two
students (separate cookies). The second gets the first one's full address bar, run id included,
and sees and controls nothing of the first one's runs; the first still finds its run after a
reload, and after the server process restarts on the same data folder."""
import re

from core.states import BADGE, PAUSED, RUNNING, STOPPED
from tests.browser.util import (
    PLOT_HAS_POINTS,
    button,
    open_train,
    plot_point_count,
    press,
    select_options,
    state_badge,
    status_line,
    wait_for_app,
    wait_for_state,
)

# A's run is paused while B looks (an active run: A's Stop is enabled, and would be B's too if
# B could see it; paused, it leaves the CPU to the test). B's network differs in width, so a label of A's run (784-48-10) can never be mistaken for one of B's (784-24-10).
A_QUERY = "depth=1&width=48&batch_size=16&epochs=40&subset=4000"
A_ARCH, B_ARCH = "784-48-10", "784-24-10"
B_QUERY = "depth=1&width=24&epochs=1&subset=1000"
NOT_AVAILABLE = "The run in this link is not available"
OWNER_COOKIE = "mnist_playground_owner"


def owner_cookie(context) -> str:
    tokens = [c["value"] for c in context.cookies() if c["name"] == OWNER_COOKIE]
    assert len(tokens) == 1, context.cookies()
    return tokens[0]


def test_a_copied_url_gives_no_view_or_control_and_a_restart_keeps_the_run(make_server, new_context):
    server = make_server()
    ctx_a, ctx_b = new_context(), new_context()
    a, b = ctx_a.new_page(), ctx_b.new_page()

    # Student A starts a run; the address bar now names it.
    open_train(a, server.url, A_QUERY)
    press(a, "btn_start")
    wait_for_state(a, BADGE[RUNNING])
    press(a, "btn_pause")
    wait_for_state(a, BADGE[PAUSED])
    run_id = re.search(r"[?&]run=([0-9a-f]+)", a.url).group(1)
    a_status = status_line(a)
    assert "run #1" in a_status and "user=" not in a.url
    token_a = owner_cookie(ctx_a)
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", token_a)

    # Student B pastes A's full URL: a warning, no run, nothing to press.
    b.goto(a.url)
    wait_for_app(b, ready=".st-key-btn_start button:visible")
    b.get_by_text(NOT_AVAILABLE).wait_for()
    assert button(b, "btn_stop").is_disabled()
    assert button(b, "btn_pause").is_disabled()
    assert b.locator("[data-testid=stMain]").get_by_text(" · run #").count() == 0   # no status line
    assert not b.evaluate(PLOT_HAS_POINTS)                                         # no curves
    assert "run=" not in b.url                       # the foreign run id is dropped from B's bar...
    assert "width=48" in b.url and "epochs=40" in b.url   # ...the settings are kept (a shared link)
    assert owner_cookie(ctx_b) != token_a

    # B trains runs of its own (Step: one mini-batch; Reset: a fresh untrained run), so that
    # its Compare list and model pickers exist: they list B's runs and nothing of A's.
    open_train(b, server.url, B_QUERY)
    press(b, "btn_step")
    wait_for_state(b, BADGE[PAUSED])
    press(b, "btn_reset")
    b.get_by_text("Compare with").wait_for()
    compare = select_options(b, "Compare with")
    assert len(compare) == 1 and B_ARCH in compare[0] and "#1" in compare[0], compare
    b.goto(f"{server.url}/draw")
    wait_for_app(b, ready="[data-testid=stSelectbox]")
    models = select_options(b, "Model")
    assert len(models) == 3 and models[0].startswith("default model"), models
    assert all(B_ARCH in m for m in models[1:]) and not any(A_ARCH in m for m in models), models
    b.goto(f"{server.url}/look_inside?run={run_id}")
    wait_for_app(b, ready="[data-testid=stSelectbox]")
    b.get_by_text(NOT_AVAILABLE).wait_for()
    runs = select_options(b, "Run")
    assert len(runs) == 2 and not any(A_ARCH in r for r in runs), runs

    # A's run is untouched by all this, and a reload finds it.
    a.reload()
    wait_for_app(a, ready=".st-key-btn_stop button:visible")
    wait_for_state(a, BADGE[PAUSED])
    assert "run #1" in status_line(a) and "784 → 48 → 10" in a.inner_text("[data-testid=stMain]")
    assert button(a, "btn_stop").is_enabled()

    # A stops it; the server restarts (same port, same data folder); the same browser finds it.
    press(a, "btn_stop")
    wait_for_state(a, BADGE[STOPPED])
    steps_at_stop = int(re.search(r"step ([\d,]+) of", status_line(a)).group(1).replace(",", ""))
    server.restart()
    a.goto(f"{server.url}/train?{A_QUERY}&run={run_id}")
    wait_for_app(a, ready=".st-key-btn_start button:visible", timeout=60_000)
    wait_for_state(a, BADGE[STOPPED])
    status = status_line(a)
    assert "run #1" in status and f"step {steps_at_stop:,} of" in status, status
    a.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length > 0")
    assert plot_point_count(a) > 0
    assert button(a, "btn_continue").is_enabled()
    assert owner_cookie(ctx_a) == token_a

    # ... and B, with the same link after the restart, still sees nothing of it.
    b.goto(f"{server.url}/train?{A_QUERY}&run={run_id}")
    wait_for_app(b, ready=".st-key-btn_start button:visible", timeout=60_000)
    b.get_by_text(NOT_AVAILABLE).wait_for()
    assert state_badge(b, BADGE[STOPPED]).count() == 0
    assert b.locator(".st-key-btn_continue").count() == 0
