"""Runs: everything this browser has trained, in one table, and any of them compared.

The table lists this browser's runs from the run service (and so from the ledger: runs survive
a restart): every hyper-parameter, the state, best validation and test accuracy, time, and a
name and note the student gives. Filters and a sort order narrow it down; the runs picked under
"Compare" get their curves overlaid, with a legend that names only what differs between them
(core.analysis.compare.difference_labels), and every run shown is one line of a parallel-coordinates
plot coloured by validation accuracy. One run at a time can be renamed, opened on the Train,
Draw or Look inside page, rerun with one change (its settings and seed go to the Train page's
sidebar) or deleted. Both tables download as CSV.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analysis import compare
from core.charts.runs import overlay_figure, parcoords_figure, varying
from core.charts.train import unchecked
from core.nn.config import PARAM, PARAMS
from core.states import ACTIVE_STATES
from ui import shared

shared.use_st_navigation()   # first: a visit straight to this page (see shared)

REFRESH_S = 2.0          # while a run trains, the table and the curves refresh this often
FILTERABLE = ("state", *(p.name for p in PARAMS))
SORTS = {"newest first": ("#", False), "best validation accuracy": ("best val acc", False),
         "test accuracy": ("test acc", False), "time": ("time (s)", False), "name": ("name", True)}


def column_label(c: str) -> str:
    return PARAM[c].label if c in PARAM else c


def load(svc, me):
    """This browser's runs (newest first), their snapshots and table rows."""
    views = svc.runs(me)
    snaps = {v.id: v.snapshot() for v in views}
    rows = [compare.row_of(v, snaps[v.id]) for v in views]
    return views, snaps, rows


def filters(rows) -> list[dict]:
    """The search box, the per-column filters and the sort order; returns the rows they keep."""
    c1, c2, c3 = st.columns([2, 3, 2])
    text = c1.text_input("Search", key="runs_search", placeholder="name, note or #number")
    cols = c2.multiselect("Filter by", FILTERABLE, key="runs_filter_cols", format_func=column_label,
                          help="Pick columns, then the values to keep in each.")
    keep = {}
    for c in cols:
        keep[c] = st.multiselect(f"{column_label(c)} is", compare.distinct(rows, c), key=f"runs_filter:{c}")
    order = c3.selectbox("Sort by", list(SORTS), key="runs_sort")
    shown = compare.filter_rows(rows, keep, text)
    col, ascending = SORTS[order]
    present = [r for r in shown if r[col] not in (None, "")]
    missing = [r for r in shown if r[col] in (None, "")]
    return sorted(present, key=lambda r: r[col], reverse=not ascending) + missing


def runs_table(shown) -> None:
    figures = ["best val acc", "test acc", "time (s)"]
    front = ["#", "name", "state", *figures]
    df = pd.DataFrame(shown, columns=compare.COLUMNS)[[*front, *(p.name for p in PARAMS), "note"]]
    config = {p.name: st.column_config.TextColumn(p.label, help=p.help) for p in PARAMS}
    config.update({"best val acc": st.column_config.NumberColumn("best val acc", format="%.2f %%"),
                   "test acc": st.column_config.NumberColumn("test acc", format="%.2f %%"),
                   "time (s)": st.column_config.NumberColumn("time (s)", format="%.1f")})
    st.dataframe(df, hide_index=True, column_config=config, key="runs_df", placeholder="–")
    st.download_button("Download the table (CSV)", compare.table_csv(shown), file_name="runs.csv",
                       mime="text/csv", key="dl_runs")


def comparison(views, shown) -> None:
    """The picked runs' curves overlaid, named by what differs, and their curves as CSV."""
    by_id = {v.id: v for v in views}
    ids = [r["id"] for r in shown]
    picked = [i for i in st.session_state.get("runs_compare", []) if i in by_id]
    rerun_of = st.session_state.get("rerun_of")
    if rerun_of in by_id and views[0].id != rerun_of:    # "rerun with one change": show both
        picked = list(dict.fromkeys([*picked, rerun_of, views[0].id]))
        st.session_state.pop("rerun_of")
    st.session_state["runs_compare"] = picked
    choice = st.multiselect("Compare", list(dict.fromkeys([*picked, *ids])), key="runs_compare",
                            format_func=lambda i: by_id[i].label,
                            help="Their loss and accuracy curves are overlaid below.")
    if not choice:
        st.caption("Pick runs to compare to see their curves overlaid.")
        return
    chosen = [by_id[i] for i in choice]
    names = compare.difference_labels([v.hp for v in chosen], [v.number for v in chosen])
    curves = [(n, v.curves()[0], v.steps_per_epoch) for n, v in zip(names, chosen)]
    st.plotly_chart(unchecked(overlay_figure(curves)), key="runs_overlay")
    st.download_button("Download these curves (CSV)",
                       compare.curves_csv((v.id, n, c, spe) for v, (n, c, spe) in zip(chosen, curves)),
                       file_name="curves.csv", mime="text/csv", key="dl_curves")


def overview(shown) -> None:
    """Every run shown as one line across the parameters that vary between them."""
    if len(shown) < 2:
        return
    names = varying(shown, [p.name for p in PARAMS])
    st.markdown("**All runs at a glance** · one line per run, coloured by best validation accuracy")
    st.plotly_chart(parcoords_figure(shown, names), key="runs_parcoords")


def _remember_pick() -> None:
    """The run the student picked in the box (read with the labels the box showed)."""
    st.session_state["runs_one_id"] = st.session_state["runs_one"]


def one_run(svc, me, views) -> None:
    """Name, note and actions of one run."""
    by_id = {v.id: v for v in views}
    options = list(by_id)
    # The pick is kept by run id (runs_one_id) and handed to the box on every run: the browser
    # sends back the label it showed, and a save renames the run, so that label would match no
    # option any more and the box would fall back to the newest run (the next save landing there).
    run_id = st.session_state.get("runs_one_id")
    if run_id not in by_id:
        run_id = options[0]
    st.session_state["runs_one_id"] = st.session_state["runs_one"] = run_id
    run_id = st.selectbox("Run", options, key="runs_one", format_func=lambda i: by_id[i].label,
                          on_change=_remember_pick)
    view = by_id[run_id]
    with st.form(f"rename:{run_id}", border=False):
        c1, c2 = st.columns([1, 2])
        name = c1.text_input("Name", value=view.name, max_chars=80, key=f"runs_name:{run_id}")
        note = c2.text_area("Note", value=view.note, max_chars=2000, height=68, key=f"runs_note:{run_id}")
        if st.form_submit_button("Save name and note"):
            svc.rename(me, run_id, name, note)
            st.toast(f"Saved run #{view.number}'s name and note")
            st.rerun()
    b = st.columns(5)
    if b[0].button("Open in Train", key="runs_open_train", width="stretch"):
        shared.set_current_run(view)
        st.switch_page("pages/train.py")
    if b[1].button("Draw a digit", key="runs_open_draw", width="stretch"):
        shared.set_current_run(view)
        st.switch_page("pages/draw.py")
    if b[2].button("Look inside", key="runs_open_look", width="stretch"):
        shared.set_current_run(view)
        st.switch_page("pages/look_inside.py")
    if b[3].button("Rerun with one change", key="runs_rerun", width="stretch",
                   help="Opens this run's settings, seed included, on the Train page: change one "
                        "thing and start; with the same seed the network starts from the same "
                        "weights where the architecture allows, so the comparison shows that one change."):
        shared.apply_settings(view.hp.to_dict())
        shared.set_current_run(None)
        st.session_state["rerun_of"] = view.id     # back here, the new run is compared with it
        st.switch_page("pages/train.py")
    if b[4].button("Delete…", key="runs_delete", width="stretch"):
        st.session_state["runs_confirm_delete"] = run_id
    if st.session_state.get("runs_confirm_delete") == run_id:
        active = view.snapshot().state in ACTIVE_STATES
        st.warning(f"Delete run #{view.number} with its curves and weights?"
                   f"{' It is still training: it will be stopped.' if active else ''} This cannot be undone.")
        c1, c2, _ = st.columns([1, 1, 4])
        if c1.button("Yes, delete", key="runs_delete_yes", type="primary"):
            svc.delete(me, run_id)
            st.session_state.pop("runs_confirm_delete", None)
            if st.session_state.get("run_id") == run_id:
                shared.set_current_run(None)
            st.toast(f"Deleted run #{view.number}")
            st.rerun()
        if c2.button("Cancel", key="runs_delete_no"):
            st.session_state.pop("runs_confirm_delete", None)
            st.rerun()


def body() -> None:
    svc, me = shared.service(), shared.owner()
    views, snaps, rows = load(svc, me)
    if not views:
        st.info("No runs yet. Train one on the Train page, or run a lesson on the Experiments page: "
                "every run is kept here, with its curves and weights.")
        st.page_link("pages/train.py", label="Go to Train", icon="📈")
        return
    shown = filters(rows)
    st.caption(f"{len(shown)} of {len(rows)} runs · sort any column by clicking its header")
    runs_table(shown)
    comparison(views, shown)
    overview(shown)
    st.subheader("One run")
    one_run(svc, me, views)
    live = any(s.state in ACTIVE_STATES for s in snaps.values())
    if live != st.session_state.get("runs_live", False):
        st.session_state["runs_live"] = live
        st.rerun()   # start (or stop) the refresh below


st.title("Runs")
shared.run_unavailable_notice()
st.fragment(run_every=REFRESH_S if st.session_state.get("runs_live") else None)(body)()
