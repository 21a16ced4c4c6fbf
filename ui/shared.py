"""Streamlit glue shared by the pages: the run service, who this browser is, which run it is
looking at, and the hyper-parameter sidebar generated from core.nn.config.PARAMS.

Who this browser is lives in a cookie, never in the address bar: a URL copied off a projector or
shared with a class carries settings (and maybe a run id), never the power to see or control
someone's runs. The URL carries `run` (the run on screen; only its owner can open it) and every
hyper-parameter that differs from its default, so a link also shares a configuration.
"""
from __future__ import annotations

import atexit
import re
import secrets
import sys
import threading

# pandas whole, here, before any page draws: plotly and Streamlit import it lazily at their first
# chart or table, and a class's first visits (many sessions at once, e.g. after a restart) raced
# on a half-imported pandas ("partially initialized module 'pandas' has no attribute 'Series'").
# Importing this module is serialized by Python's import lock; the first chart is not.
import pandas  # noqa: F401
import streamlit as st
import torch

from core.nn import data
from core.nn import model as model_lib
from core.nn.config import CHOICE_LABELS, GROUPS, PARAMS, ConfigError, HyperParams, Param, format_value, parse_value
from core.runs import RunService, RunView

OWNER_COOKIE = "mnist_playground_owner"
OWNER_TOKEN = re.compile(r"[A-Za-z0-9_-]{24}")
_service: RunService | None = None
_service_lock = threading.Lock()


def service() -> RunService:
    """The process's one run service. A module global, not st.cache_resource: no menu item or
    cache clearing can drop the runs a class is training."""
    global _service
    with _service_lock:
        if _service is None:
            from core.classroom.rules import ClassRules
            from core.executors import ClusterUnavailable
            from core.ledger import Ledger
            try:
                ledger = Ledger()
                _service = RunService(ledger, rules=ClassRules(ledger))   # one set of class rules for every route
                atexit.register(_service.close, stop_runs=False)   # a normal stop: WAL into the file
            except ClusterUnavailable as e:   # the operator's Ray address: say so, no traceback
                st.error(f"Runs cannot start: {e}")
                st.stop()
        return _service


def data_folder_notice() -> None:
    """Once per browser session: weight folders that no run of the ledger names were set aside
    at this server's start (see core.ledger: an emptied or replaced ledger), and where."""
    svc = _service
    if svc is None or not svc.orphaned or st.session_state.get("orphans_told"):
        return
    st.session_state["orphans_told"] = True
    n = len(svc.orphaned)
    st.warning(f"{n} weight folder{'s' if n != 1 else ''} in the data folder belonged to no run of "
               f"the ledger and {'were' if n != 1 else 'was'} moved to `{svc.ledger.orphans_root}`, "
               "not deleted. If the ledger was emptied or replaced, restore `ledger.sqlite3` from a "
               "backup and move the folders back into `weights/` to get those runs' weights back.",
               icon="🗄️")


def warm_up() -> None:
    """Load the data set, the default model and torch's kernels in the background once per
    process, so the first Start and the first stroke on Draw do not wait for them."""
    def work():
        from core.drawing import predict
        data.load("mnist")
        try:
            predict.default_model()
        except Exception:   # the Draw page explains a missing default model itself
            pass
        service()
    with _service_lock:
        if getattr(warm_up, "started", False):
            return
        warm_up.started = True
    threading.Thread(target=work, name="warm-up", daemon=True).start()


def valid_owner_token(token) -> bool:
    return isinstance(token, str) and OWNER_TOKEN.fullmatch(token) is not None


def owner() -> str:
    """This browser's owner token: from its cookie (kept across reloads and server restarts),
    else a new one that this page stores in the cookie. Malformed tokens are refused."""
    token = st.session_state.get("owner")
    if not valid_owner_token(token):
        cookie = st.context.cookies.get(OWNER_COOKIE) if st.context.cookies else None
        token = cookie if valid_owner_token(cookie) else secrets.token_urlsafe(18)
        st.session_state["owner"] = token
    if st.context.cookies.get(OWNER_COOKIE) != token and not st.session_state.get("_cookie_set"):
        st.session_state["_cookie_set"] = True
        st.html(f"<script>document.cookie = '{OWNER_COOKIE}={token}; path=/; max-age=31536000; "
                "SameSite=Strict';</script>", unsafe_allow_javascript=True)
    if "user" in st.query_params:          # old links carried the owner: never honoured again
        del st.query_params["user"]
    service().touch(token)
    return token


def current_run() -> RunView | None:
    """The run on screen: from the session, or from ?run= after a reload (own runs only)."""
    run_id = st.session_state.get("run_id") or st.query_params.get("run")
    run = service().get(owner(), run_id) if run_id else None
    if run_id and run is None and st.query_params.get("run") == run_id:
        st.session_state["run_unavailable"] = run_id
    set_current_run(run)
    return run


def set_current_run(run: RunView | None) -> None:
    st.session_state["run_id"] = run.id if run else None
    if run is None:
        st.query_params.pop("run", None)
    elif st.query_params.get("run") != run.id:
        st.query_params["run"] = run.id


def run_unavailable_notice() -> None:
    """Say so when the link named a run this browser cannot open (someone else's, or deleted)."""
    if st.session_state.pop("run_unavailable", None):
        st.warning("The run in this link is not available: it belongs to another browser or has "
                   "been deleted. Your own runs are listed on the Runs page.")


NO_RUN = "none"   # run_picker's value for its "no run" option


def run_picker(label: str = "Run", key: str = "run_picker", default_label: str | None = None,
               help: str | None = None) -> RunView | None:
    """A select box over this browser's runs, newest first, that follows the Train page: when
    the current run changes, the selection jumps to it. With `default_label`, a first option
    stands for "no run" and returns None (e.g. the shipped default model)."""
    runs = {r.id: r for r in service().runs(owner())}
    if not runs:
        return None
    current = current_run()
    options = ([NO_RUN] if default_label else []) + list(runs)
    followed = current.id if current is not None and current.id in runs else options[0]
    if st.session_state.get(f"{key}:followed") != followed or st.session_state.get(key) not in options:
        st.session_state[f"{key}:followed"] = st.session_state[key] = followed
    # Labels without the run's state: Streamlit matches a selection by its label, so a label that
    # changed when the run finished would lose the user's choice.
    choice = st.selectbox(label, options, key=key, help=help, format_func=lambda i: (
        default_label if i == NO_RUN else f"run {runs[i].label}"))
    return runs.get(choice)


# -- the sidebar ------------------------------------------------------------------------------------
# The URL carries every hyper-parameter that differs from its default, spelled as on the command
# line (?init=normal&lr=0.01 <-> --init normal --lr 0.01): read once when a browser session starts
# (a shared link or a reload), written back whenever the settings change.

def _options(p: Param, value) -> tuple:
    """A slider's values: the schema's grid, plus `value` if a link brought one off the grid
    (kept exactly: a link with lr=0.0004 trains with 0.0004, as the CLI would)."""
    return p.grid if value in p.grid else tuple(sorted((*p.grid, value)))


def _init_from_url() -> None:
    if st.session_state.get("_hp_from_url"):
        return
    st.session_state["_hp_from_url"] = True
    for p in PARAMS:
        value = p.default
        if p.name in st.query_params:
            try:
                value = parse_value(p, st.query_params[p.name])
            except ValueError as e:
                st.toast(f"Ignored {p.name}={st.query_params[p.name]!r} from the link: {e}")
        st.session_state.setdefault(p.name, value)


def apply_settings(values: dict) -> None:
    """Put settings into the sidebar (a run's "rerun with one change", a lesson)."""
    for p in PARAMS:
        if p.name in values:
            st.session_state[p.name] = values[p.name]
    st.session_state["_hp_from_url"] = True


def _write_url(values: dict) -> None:
    for p in PARAMS:
        value = values.get(p.name, p.default)
        text = p.to_text(value)
        if value == p.default:
            st.query_params.pop(p.name, None)
        elif st.query_params.get(p.name) != text:
            st.query_params[p.name] = text


def share_link(hp: HyperParams) -> str:
    """A link with the configuration only (no run, no owner): safe to hand to a class."""
    from urllib.parse import urlencode
    query = urlencode({p.name: p.to_text(getattr(hp, p.name)) for p in PARAMS
                       if getattr(hp, p.name) != p.default})
    base = st.context.url.split("?")[0] if getattr(st.context, "url", None) else "/train"
    return f"{base}?{query}" if query else base


FOLDED_GROUPS = ("More", "Data")


def _widget(p: Param, container, locked: bool = False) -> object:
    """One widget for one parameter, chosen from its schema. Its value lives in the session
    (key = the parameter's name, kept across page switches). Locked: shown, disabled."""
    common = dict(label=p.label, help=p.help + (" Set by your teacher's lesson." if locked else ""),
                  key=p.name, persist_state="session", disabled=locked)
    if p.choices:
        return container.selectbox(options=p.choices, format_func=lambda c: CHOICE_LABELS.get(c, c), **common)
    if p.kind is bool:
        return container.toggle(**common)
    if p.grid:
        value = st.session_state.get(p.name, p.default)
        return container.select_slider(options=_options(p, value), format_func=lambda v: format_value(p, v),
                                       **common)
    if p.kind is int and p.high - p.low <= 20:
        return container.slider(min_value=int(p.low), max_value=int(p.high), **common)
    if p.kind is int and p.zero_means:
        # Empty means the special value ("all"), written in the box as its placeholder.
        if st.session_state.get(p.name) == 0:
            st.session_state[p.name] = None
        value = container.number_input(min_value=int(p.low), max_value=int(p.high), step=1000,
                                       placeholder=p.zero_means, **common)
        return 0 if value is None else value
    if p.kind is int:
        return container.number_input(min_value=int(p.low), max_value=int(p.high), step=1, **common)
    return container.text_input(**common)


def hyperparams_sidebar() -> HyperParams | None:
    """Render every hyper-parameter in the sidebar, grouped, hiding the irrelevant ones (as
    TensorFlow Playground does). Returns the validated HyperParams, or None after showing why
    the settings are not valid."""
    _init_from_url()
    # A student's lesson: locked values are forced here, whatever the widget, the URL or the
    # session said (core.classroom.classes.enforce forces them again before a run is submitted).
    from ui.class_widgets import sidebar_locks
    locked, hidden = sidebar_locks()
    for name, value in locked.items():
        st.session_state[name] = value
    values: dict[str, object] = {}
    for group in GROUPS:
        params = [p for p in PARAMS if p.group == group]
        if all(p.name in hidden for p in params):
            values.update({p.name: locked[p.name] for p in params})
            continue
        if group in FOLDED_GROUPS:   # rarely changed: folded, its title says what differs
            changed = [format_value(p, st.session_state.get(p.name, p.default)) for p in params
                       if st.session_state.get(p.name, p.default) not in (p.default, None) and p.name not in hidden]
            box = st.sidebar.expander(f"{group}{': ' + ', '.join(changed) if changed else ''}")
        else:
            box = st.sidebar
            box.markdown(f"**{group}**")
        for p in params:
            # Visibility depends on the values chosen above (e.g. σ only for the N(0, σ²) init).
            if p.is_shown(values) and p.name not in hidden:
                values[p.name] = _widget(p, box, locked=p.name in locked)
            else:
                values[p.name] = st.session_state.get(p.name, p.default)
    values.update(locked)
    _write_url(values)
    try:
        hp = HyperParams.validate(values)
    except ConfigError as e:
        for name, msg in e.errors.items():
            st.sidebar.error(f"**{name.replace('_', ' ').capitalize()}**: {msg}")
        return None
    ok, why = data.available(hp.dataset)
    if not ok:
        st.sidebar.error(why)
        return None
    st.sidebar.caption(architecture_caption(hp))
    return hp


def architecture_caption(hp: HyperParams) -> str:
    sigmas = ", ".join(f"{s:.3g}" for s in model_lib.sigmas_for(hp))
    return (f"{' → '.join(map(str, (784, *hp.widths, 10)))} · {parameter_count(hp):,} parameters · "
            f"initial weight σ per layer: {sigmas}")


@st.cache_data(show_spinner=False)
def parameter_count(hp: HyperParams) -> int:
    return model_lib.count_parameters(meta_model(hp))


def meta_model(hp: HyperParams) -> model_lib.MLP:
    """The architecture without memory or initialization (for shapes and counts)."""
    with torch.device("meta"):
        return model_lib.MLP(model_lib.Arch.of(hp))


# Off only under streamlit.testing's AppTest (tests/app/conftest.py), which resets Streamlit's
# legacy flag before every run and opens pages the legacy way on purpose (AppTest.switch_page).
SWITCH_TO_NAVIGATION = True


def use_st_navigation() -> None:
    """Every page calls this first. Streamlit 1.67 treats a folder named `pages/` beside the entry
    script as a legacy (v1) multipage app until app.py has run once in the process: a first visit
    straight to /train (a reloaded tab after a server restart: a whole class at once) runs the
    page without app.py's st.navigation (wrong menu, `shared` listed as a page). Such a run
    switches the whole process to st.navigation and reruns, which goes through app.py. Known
    upstream: streamlit/streamlit#10276.

    Not at import time: a rerun raised inside `import ui.shared` broke the imports of other
    sessions importing the same modules at that moment ("cannot import name 'class_widgets'").
    And per run, not per process: sessions that started in legacy mode before the switch see
    the flag already cleared, so each looks for the legacy dispatcher on its own call stack."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if not SWITCH_TO_NAVIGATION or get_script_run_ctx() is None:
        return
    if PagesManager.uses_pages_directory or _legacy_run():
        PagesManager.uses_pages_directory = False
        st.rerun()


def _legacy_run() -> bool:
    """Whether this script run was dispatched by Streamlit's v1 multipage code (`_mpa_v1`)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_mpa_v1" and "streamlit" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False
