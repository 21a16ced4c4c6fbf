"""Streamlit glue shared by the pages: the process-wide registry, who this browser is, which run
it is looking at, and the hyper-parameter sidebar generated from core.config.PARAMS.

The URL carries the state that must survive a reload: `user` (this browser's owner token), `run`
(the run on screen) and every hyper-parameter that differs from its default (widgets bound with
bind="query-params"), so a URL also shares a configuration with a class.
"""
from __future__ import annotations

import math

import streamlit as st
import torch

from core import data
from core import model as model_lib
from core.config import CHOICE_LABELS, GROUPS, PARAMS, ConfigError, HyperParams, Param, parse_value
from core.registry import Registry, Run, new_owner_token


@st.cache_resource
def registry() -> Registry:
    """One registry per server process, shared by every browser session."""
    return Registry()


def owner() -> str:
    """This browser's owner token: kept in the session, restored from the URL after a reload."""
    token = st.session_state.get("owner") or st.query_params.get("user") or new_owner_token()
    st.session_state["owner"] = token
    if st.query_params.get("user") != token:
        st.query_params["user"] = token
    return token


def current_run() -> Run | None:
    """The run on screen: from the session, or from ?run= after a reload (own runs only)."""
    run_id = st.session_state.get("run_id") or st.query_params.get("run")
    run = registry().get(owner(), run_id) if run_id else None
    set_current_run(run)
    return run


def set_current_run(run: Run | None) -> None:
    st.session_state["run_id"] = run.id if run else None
    if run is None:
        st.query_params.pop("run", None)
    elif st.query_params.get("run") != run.id:
        st.query_params["run"] = run.id


NO_RUN = "none"   # run_picker's value for its "no run" option


def run_picker(label: str = "Run", key: str = "run_picker", default_label: str | None = None,
               help: str | None = None) -> Run | None:
    """A select box over this browser's runs, newest first, that follows the Train page: when
    the current run changes, the selection jumps to it. With `default_label`, a first option
    stands for "no run" and returns None (e.g. the shipped default model). The options are run
    ids, not Runs: Streamlit deep-copies a select box's options, and a Run holds locks."""
    runs = {r.id: r for r in registry().runs(owner())}
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

def _snap_to_grid(p: Param, value):
    """A value from a URL that the slider does not offer becomes the nearest value it does."""
    if not p.grid or value in p.grid:
        return value
    dist = (lambda g: abs(math.log(g) - math.log(value))) if p.log and value > 0 else (lambda g: abs(g - value))
    return min((g for g in p.grid if not (p.log and g <= 0)), key=dist)


def _init_from_url() -> None:
    if st.session_state.get("_hp_from_url"):
        return
    st.session_state["_hp_from_url"] = True
    for p in PARAMS:
        value = p.default
        if p.name in st.query_params:
            try:
                value = _snap_to_grid(p, parse_value(p, st.query_params[p.name]))
            except ValueError as e:
                st.toast(f"Ignored {p.name}={st.query_params[p.name]!r} from the link: {e}")
        st.session_state.setdefault(p.name, value)


def _write_url(values: dict) -> None:
    for p in PARAMS:
        value = values.get(p.name, p.default)
        text = str(value).lower() if p.kind is bool else f"{value:g}" if p.kind is float else str(value)
        if value == p.default:
            st.query_params.pop(p.name, None)
        elif st.query_params.get(p.name) != text:
            st.query_params[p.name] = text


def _widget(p: Param, container) -> object:
    """One widget for one parameter, chosen from its schema. Its value lives in the session
    (key = the parameter's name, kept across page switches)."""
    common = dict(label=p.label, help=p.help, key=p.name, persist_state="session")
    if p.choices:
        return container.selectbox(options=p.choices, format_func=lambda c: CHOICE_LABELS.get(c, c), **common)
    if p.kind is bool:
        return container.toggle(**common)
    if p.grid:
        return container.select_slider(options=p.grid, format_func=lambda v: f"{v:g}", **common)
    if p.kind is int and p.high - p.low <= 20:
        return container.slider(min_value=int(p.low), max_value=int(p.high), **common)
    if p.kind is int:
        return container.number_input(min_value=int(p.low), max_value=int(p.high),
                                      step=1000 if p.zero_means else 1, **common)
    return container.text_input(**common)


def hyperparams_sidebar() -> HyperParams | None:
    """Render every hyper-parameter in the sidebar, grouped, hiding the irrelevant ones (as
    TensorFlow Playground does). Returns the validated HyperParams, or None after showing why
    the settings are not valid."""
    _init_from_url()
    sb = st.sidebar
    values: dict[str, object] = {}
    for group in GROUPS:
        sb.markdown(f"**{group}**")
        for p in (p for p in PARAMS if p.group == group):
            # Visibility depends on the values chosen above (e.g. σ only for the N(0, σ²) init).
            if p.is_shown(values):
                values[p.name] = _widget(p, sb)
            else:
                values[p.name] = st.session_state.get(p.name, p.default)
    _write_url(values)
    try:
        hp = HyperParams.validate(values)
    except ConfigError as e:
        for name, msg in e.errors.items():
            sb.error(f"**{name.replace('_', ' ').capitalize()}**: {msg}")
        return None
    ok, why = data.available(hp.dataset)
    if not ok:
        sb.error(why)
        return None
    sb.caption(architecture_caption(hp))
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


def _use_st_navigation() -> None:
    """Streamlit 1.67 treats a folder named `pages/` beside the entry script as a legacy (v1)
    multipage app until app.py has run once in the process: a first visit straight to /train
    would run this page without app.py's st.navigation (wrong menu, `shared` listed as a page).
    The first page run that sees legacy mode switches the whole process to st.navigation and
    reruns, which goes through app.py. (Known upstream: streamlit/streamlit#10276.)"""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if PagesManager.uses_pages_directory and get_script_run_ctx() is not None:
        PagesManager.uses_pages_directory = False
        st.rerun()


_use_st_navigation()
