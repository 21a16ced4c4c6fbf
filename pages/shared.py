"""Streamlit glue shared by the pages: the process-wide registry, who this browser is, which run
it is looking at, and the hyper-parameter sidebar generated from core.config.PARAMS.

The URL carries the state that must survive a reload: `user` (this browser's owner token), `run`
(the run on screen) and every hyper-parameter that differs from its default (widgets bound with
bind="query-params"), so a URL also shares a configuration with a class.
"""
from __future__ import annotations

import streamlit as st
import torch

from core import data
from core import model as model_lib
from core.config import CHOICE_LABELS, GROUPS, PARAMS, ConfigError, HyperParams, Param
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


def run_picker(label: str = "Run", key: str = "run_picker", allow_none: str | None = None) -> Run | None:
    """A select box over this browser's runs (newest first), defaulting to the current run.
    With `allow_none`, an extra first option (e.g. "default model") returns None."""
    runs = registry().runs(owner())
    current = current_run()
    options: list[Run | None] = ([None] if allow_none else []) + runs
    if not options:
        return None
    index = options.index(current) if current in options else 0
    label_of = lambda r: allow_none if r is None else f"{r.label} ({r.trainer.snapshot().state})"  # noqa: E731
    return st.selectbox(label, options, index=index, key=key, format_func=label_of)


# -- the sidebar ------------------------------------------------------------------------------------

def _widget(p: Param, container) -> object:
    """One widget for one parameter, chosen from its schema, bound to the URL."""
    common = dict(label=p.label, help=p.help, key=p.name, bind="query-params",
                  persist_state="session")
    if p.choices:
        return container.selectbox(options=p.choices, format_func=lambda c: CHOICE_LABELS.get(c, c),
                                   index=p.choices.index(p.default), **common)
    if p.kind is bool:
        return container.toggle(value=p.default, **common)
    if p.grid:
        return container.select_slider(options=p.grid, value=p.default,
                                       format_func=lambda v: f"{v:g}", **common)
    if p.kind is int and p.high - p.low <= 20:
        return container.slider(min_value=int(p.low), max_value=int(p.high), value=p.default, **common)
    if p.kind is int:
        step = 1000 if p.zero_means else 1
        return container.number_input(min_value=int(p.low), max_value=int(p.high), value=p.default,
                                      step=step, **common)
    return container.text_input(value=str(p.default), **common)


def hyperparams_sidebar() -> HyperParams | None:
    """Render every hyper-parameter in the sidebar, grouped, hiding the irrelevant ones (as
    TensorFlow Playground does). Returns the validated HyperParams, or None after showing why
    the settings are not valid."""
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
