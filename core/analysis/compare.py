"""Comparing runs: the rows of the Runs page's table, filters, the legend names that say only
what differs between runs, and the CSV exports. Plain data in, plain data out (no Streamlit).

    rows = [row_of(view, view.snapshot()) for view in svc.runs(owner)]
    shown = filter_rows(rows, {"init": {"he"}}, text="baseline")
    names = difference_labels([v.hp for v in picked])      # ['σ=0.01', 'σ=0.1']
"""
from __future__ import annotations

import csv
import io
import math
from typing import Any, Iterable, Mapping, Sequence

from core.nn.config import PARAMS, HyperParams
from core.nn.history import Curves
from core.states import BADGE
from core.sweeps.spec import value_text

# Short names for legends (the schema's labels are for forms: "Init σ", "Learning rate").
SHORT = {"init_sigma": "σ", "lr": "lr", "batch_size": "batch", "weight_decay": "wd", "depth": "depth",
         "width": "width", "val_fraction": "val", "early_stopping": "early stop", "batch_norm": "batch norm",
         "activation": "act"}

FIGURES = ("best val acc", "test acc", "time (s)")      # the result columns
COLUMNS = ("#", "name", "state", *(p.name for p in PARAMS), *FIGURES, "note", "created", "id")


def short(name: str) -> str:
    return SHORT.get(name, name)


def row_of(view, snap) -> dict[str, Any]:
    """One table row: the run's number, name, state badge, every hyper-parameter (as text, the
    way the CLI and the URL write it; blank where the run does not use it), its figures and its
    note. `view` is a runs.RunView,
    `snap` its snapshot."""
    hp: HyperParams = view.hp
    row: dict[str, Any] = {"#": view.number, "name": view.name or "", "state": BADGE.get(snap.state, snap.state)}
    values = hp.to_dict()     # a parameter the run does not use (σ with He init) is left blank
    row.update({p.name: value_text(p.name, values[p.name]) if p.is_shown(values) else "" for p in PARAMS})
    row["best val acc"] = _pct(snap.best_val_accuracy)
    row["test acc"] = _pct(snap.test_accuracy)
    row["time (s)"] = round(snap.elapsed, 1) if snap.elapsed else None
    row["note"] = getattr(view, "note", "") or ""
    row["created"] = view.created
    row["id"] = view.id
    return row


def _pct(x: float | None) -> float | None:
    """An accuracy as a percentage with two decimals (None stays None: not measured yet)."""
    return None if x is None or not math.isfinite(x) else round(100 * x, 2)


def distinct(rows: Sequence[Mapping[str, Any]], column: str) -> list:
    """The values a column takes, in first-seen order (what a filter offers)."""
    return list(dict.fromkeys(r[column] for r in rows))


def filter_rows(rows: Sequence[Mapping[str, Any]], keep: Mapping[str, Iterable] | None = None,
                text: str = "") -> list[Mapping[str, Any]]:
    """Rows whose value in each column of `keep` is one of the values given (an empty choice
    keeps everything), and whose name or note contains `text` (case-insensitive)."""
    keep = {c: set(v) for c, v in (keep or {}).items() if v}
    t = text.strip().lower()
    return [r for r in rows
            if all(r[c] in vs for c, vs in keep.items())
            and (not t or t in str(r.get("name", "")).lower() or t in str(r.get("note", "")).lower()
                 or t == f"#{r.get('#')}")]


def _relevant(hp: HyperParams) -> dict[str, Any]:
    values = hp.to_dict()
    return {p.name: values[p.name] for p in PARAMS if p.is_shown(values)}


def difference_labels(hps: Sequence[HyperParams], numbers: Sequence[int] | None = None) -> list[str]:
    """A legend name per run that names only what differs between them: ['σ=0.01', 'σ=0.1'],
    ['init=he', 'init=normal, σ=0.01']. A parameter that has no effect on a run (σ with He init)
    is not named for it. Runs with the same settings are told apart by their number ('#3')."""
    rel = [_relevant(hp) for hp in hps]
    names = [p.name for p in PARAMS if len({r.get(p.name, _ABSENT) for r in rel}) > 1]
    labels = [", ".join(f"{short(n)}={value_text(n, r[n])}" for n in names if n in r) for r in rel]
    numbers = list(numbers) if numbers is not None else [None] * len(hps)
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    out = []
    for label, number in zip(labels, numbers):
        tag = f"#{number}" if number is not None else ""
        if not label:
            out.append(tag or "run")
        elif seen[label] > 1 and tag:
            out.append(f"{label} ({tag})")
        else:
            out.append(label)
    return out


_ABSENT = object()


def table_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = COLUMNS) -> str:
    """The runs table as CSV, one row per run, with a header."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    return buf.getvalue()


CURVE_COLUMNS = ("run_id", "run", "series", "step", "epoch", "loss", "accuracy")


def curves_csv(items: Iterable[tuple[str, str, Curves, int]]) -> str:
    """Curves of several runs as CSV, one row per point: (run_id, label, curves, steps_per_epoch)
    per run. `series` is 'train' (one mini-batch), 'validation' (the whole validation set, at
    each epoch end) or 'validation sample' (a fixed sample, within an epoch)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CURVE_COLUMNS)
    for run_id, label, c, spe in items:
        spe = max(1, spe)
        for s, l, a in zip(c.step, c.loss, c.acc):
            w.writerow([run_id, label, "train", s, f"{s / spe:.5f}", f"{l:.6g}", f"{a:.6g}"])
        for s, l, a, full in zip(c.val_step, c.val_loss, c.val_acc, c.val_full):
            w.writerow([run_id, label, "validation" if full else "validation sample", s,
                        f"{s / spe:.5f}", f"{l:.6g}", f"{a:.6g}"])
    return buf.getvalue()
