"""A sweep's results: one RunResult per run, and the lecture-style table built from them.

    results = [RunResult.of(view.id, view.hp, view.snapshot(), view.curves()[0]) for view in runs]
    table = Table.build(spec, results)          # rows x columns, mean ± std over seeds per cell
    table.to_json(); table.to_text(); line_chart(spec, table)

Pure functions of numbers: no threads, no service, so they are tested with numbers written out
in the test. A cell's mean and std are over the seeds that produced the figure (a diverged run has
no test accuracy): the cell also counts the diverged runs, with their reasons, and the runs still
training, so a table can fill in while the sweep runs.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

from core import states
from core.nn.config import HyperParams
from core.sweeps.spec import METRICS, SweepSpec, effective


@dataclass(frozen=True)
class RunResult:
    """The figures of one run that a sweep table or a lesson's check needs."""
    run_id: str
    hp: HyperParams
    state: str
    reason: str = ""
    test_accuracy: float | None = None
    val_accuracy: float | None = None
    best_val_accuracy: float | None = None
    train_accuracy: float | None = None        # mean over the last epoch's mini-batches
    train_loss: float | None = None            # ... and its mean loss
    val_loss: float | None = None
    seconds: float | None = None
    epoch_train_loss: tuple[float, ...] = ()   # mean training loss of each completed epoch
    epoch_val_loss: tuple[float, ...] = ()     # validation loss on the whole set at each epoch end

    @property
    def ended(self) -> bool:
        return self.state in states.ENDED_STATES

    @property
    def diverged(self) -> bool:
        return self.state == states.DIVERGED

    @classmethod
    def of(cls, run_id: str, hp: HyperParams, snap, curves=None) -> "RunResult":
        """From a run's snapshot (core.nn.trainer.RunSnapshot) and its curves (core.nn.history.Curves)."""
        per_epoch, last_acc = [], None
        spe = max(1, snap.steps_per_epoch)
        if curves is not None and curves.step:
            sums: dict[int, list[float]] = {}
            for step, loss, acc in zip(curves.step, curves.loss, curves.acc):
                sums.setdefault((step - 1) // spe, []).append((loss, acc))
            done = [e for e in sorted(sums) if len(sums[e]) == spe]
            per_epoch = [sum(l for l, _ in sums[e]) / spe for e in done]
            if done:
                last_acc = sum(a for _, a in sums[done[-1]]) / spe
        val = tuple(l for l, full in zip(curves.val_loss, curves.val_full) if full) if curves else ()
        return cls(run_id, hp, snap.state, snap.reason, snap.test_accuracy, snap.val_accuracy,
                   snap.best_val_accuracy, last_acc, per_epoch[-1] if per_epoch else snap.train_loss,
                   snap.val_loss, snap.elapsed, tuple(per_epoch), val)

    def figure(self, metric: str) -> float | None:
        value = getattr(self, metric)
        return None if value is None or not math.isfinite(value) else float(value)

    def to_json(self) -> dict:
        d = asdict(self)
        d["hp"] = self.hp.to_dict()
        d["diverged"] = self.diverged
        return d


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n - 1 in the denominator, as for a handful of seeds);
    std is None below two values."""
    n = len(values)
    if n == 0:
        return None, None
    m = sum(values) / n
    if n < 2:
        return m, None
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))


@dataclass
class Cell:
    """One table cell: the figure's mean ± std over the runs that have it (n of them), and what
    happened to the others."""
    metric: str
    runs: int = 0                  # runs the cell is made of (seeds)
    mean: float | None = None
    std: float | None = None
    n: int = 0
    values: list[float] = field(default_factory=list)
    diverged: int = 0
    reasons: list[str] = field(default_factory=list)    # why each diverged (or failed) run ended so
    pending: int = 0               # not ended yet (queued, running, paused, or not submitted yet)
    other: int = 0                 # ended without the figure: stopped, failed, interrupted, not run

    @classmethod
    def of(cls, metric: str, results: Sequence[RunResult | None], over: bool = False) -> "Cell":
        """`over`: the sweep has ended, so a run that does not exist was never run (cancelled)."""
        cell = cls(metric, runs=len(results))
        for r in results:
            if r is None and over:
                cell.other += 1
                continue
            if r is None or not r.ended:
                cell.pending += 1
                continue
            value = r.figure(metric)
            if r.diverged:
                cell.diverged += 1
                cell.reasons.append(r.reason)
            elif value is not None and r.state == states.FINISHED:
                cell.values.append(value)
            else:
                cell.other += 1
                cell.reasons.append(f"{r.state}: {r.reason}" if r.reason else r.state)
        cell.n = len(cell.values)
        cell.mean, cell.std = mean_std(cell.values)
        cell.reasons = list(dict.fromkeys(cell.reasons))
        return cell

    def text(self, show_n: bool = False) -> str:
        """'97.9 ± 0.2 %', '11.4 %', '💥 diverged', '💥 1/3 diverged · 90.1 ± 0.3 %', '⏳';
        with show_n, how many seeds the mean is over: '97.9 ± 0.2 % (n=3)'."""
        pct = METRICS[self.metric][1]
        if self.mean is None:
            if self.diverged:
                return states.BADGE[states.DIVERGED].split()[0] + " diverged"
            return "⏳" if self.pending else "–"
        scale, unit, digits = (100, " %", 1) if pct else (1, "", 3 if self.metric.endswith("loss") else 1)
        s = f"{self.mean * scale:.{digits}f}"
        if self.std is not None:
            s += f" ± {self.std * scale:.{digits}f}"
        s += unit
        if show_n:
            s += f" (n={self.n})"
        if self.diverged:
            s = f"{states.BADGE[states.DIVERGED].split()[0]} {self.diverged}/{self.runs} diverged · " + s
        if self.pending:
            s += " ⏳"
        return s

    def to_json(self) -> dict:
        return {"mean": self.mean, "std": self.std, "n": self.n, "values": self.values,
                "diverged": self.diverged, "reasons": self.reasons, "pending": self.pending,
                "other": self.other, "runs": self.runs, "text": self.text()}


@dataclass
class Table:
    """rows x columns of Cells. Two parameters: columns = the second one's levels, cells = the
    spec's metric. One parameter: columns = the figures it asks for (test accuracy, training
    accuracy, time...), side by side as in the lecture's tables."""
    row_title: str
    col_title: str
    rows: list[str]
    cols: list[str]
    cells: list[list[Cell]]
    metric: str

    @classmethod
    def build(cls, spec: SweepSpec, results: Sequence[RunResult], over: bool = False) -> "Table":
        """`over`: the sweep has ended (cells of runs that were never submitted are not pending)."""
        by_hp = {effective(r.hp): r for r in results}
        grid: dict[tuple[int, int], list[RunResult | None]] = {}
        for p in spec.points():
            grid.setdefault((p.row, p.col), []).append(by_hp.get(p.hp))
        rows = spec.rows.labels
        if spec.cols is not None:
            cols = spec.cols.labels
            cells = [[Cell.of(spec.metric, grid[r, c], over) for c in range(len(cols))] for r in range(len(rows))]
            return cls(spec.rows.title, spec.cols.title, rows, cols, cells, spec.metric)
        cols = [METRICS[m][0] for m in spec.columns]
        cells = [[Cell.of(m, grid[r, 0], over) for m in spec.columns] for r in range(len(rows))]
        return cls(spec.rows.title, "", rows, cols, cells, spec.metric)

    def cell(self, row: str, col: str | None = None) -> Cell:
        """The cell at row label `row` and column label `col` (default: the first column)."""
        return self.cells[self.rows.index(row)][self.cols.index(col) if col is not None else 0]

    @property
    def done(self) -> bool:
        return all(c.pending == 0 for row in self.cells for c in row)

    def to_json(self) -> dict:
        return {"row_title": self.row_title, "col_title": self.col_title, "rows": self.rows,
                "cols": self.cols, "metric": self.metric,
                "cells": [[c.to_json() for c in row] for row in self.cells]}

    def to_text(self) -> str:
        """The table as aligned text (the CLI prints it on stderr)."""
        head = [f"{self.row_title} \\ {self.col_title}" if self.col_title else self.row_title, *self.cols]
        body = [[label, *(c.text() for c in row)] for label, row in zip(self.rows, self.cells)]
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        return "\n".join("  ".join(s.ljust(w) for s, w in zip(r, widths)).rstrip() for r in [head, *body])


def line_chart(spec: SweepSpec, table: Table) -> dict | None:
    """The table as a line chart when an axis is numeric: x = that axis's values, one line per
    level of the other axis (or the figure itself for one axis); levels without a number (He,
    Xavier next to σ values) become horizontal reference lines. None when no axis is numeric."""
    numeric = [i for i, a in enumerate(spec.axes) if a.numeric]
    if not numeric:
        return None
    i = numeric[0]
    axis = spec.axes[i]
    other = spec.axes[1 - i] if len(spec.axes) == 2 else None

    def cell(level: int, line: int) -> Cell:
        return table.cells[level][line] if i == 0 else table.cells[line][level]

    lines = other.labels if other is not None else [table.cols[0]]
    xs = [(k, lv.x) for k, lv in enumerate(axis.levels) if lv.x is not None]
    series, refs = [], []
    for j, name in enumerate(lines):
        cs = [cell(k, j) for k, _ in xs]
        series.append({"name": name, "x": [x for _, x in xs], "y": [c.mean for c in cs],
                       "std": [c.std for c in cs], "diverged": [c.diverged for c in cs]})
        refs += [{"name": f"{lv.label}" + (f" · {name}" if other is not None else ""), "y": cell(k, j).mean}
                 for k, lv in enumerate(axis.levels) if lv.x is None]
    xvals = [x for _, x in xs]
    log = axis.log or (min(xvals) > 0 and max(xvals) / min(xvals) >= 100)
    return {"x_title": axis.title, "y_title": METRICS[table.metric if other is not None else spec.columns[0]][0],
            "log_x": bool(log), "series": series, "references": refs}
