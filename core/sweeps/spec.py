"""Sweeps: the lecture's tables in one go.

A sweep varies one or two things (the *axes*) over a few values (the *levels*), each combination
trained with 1 to 5 seeds, and ends in a table laid out like the lecture's: rows x columns = the
levels, cells = test accuracy as mean ± std over the seeds (core.sweeps.table).

    axis = parse_grid("init_sigma=0.001,0.01,0.1")        # text from the CLI or the page
    spec = SweepSpec.build(HyperParams.validate(depth=9), [axis], seeds=3)
    spec.points()                                          # every (row, column, seed, HyperParams)

A level is a label and the settings it overrides, usually one parameter (`lr=0.01`); a lesson
preset may bundle several (`He` = {init: he}, `lr 0.005 + momentum` = {optimizer, lr, momentum}).
Every value goes through the schema (core.nn.config): a grid accepts exactly what the CLI, the URL
and the sidebar accept, and says the same errors.

Combinations that give identical settings (σ with He init, where σ is unused) train once and fill
every cell they belong to.
"""
from __future__ import annotations

import difflib
import itertools
import json
import logging
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from core.nn.config import PARAM, PARAMS, ConfigError, HyperParams, Param, parse_value

log = logging.getLogger(__name__)

MAX_AXES = 2
MAX_LEVELS = 12          # values per axis: a lecture table has at most about ten
MAX_SEEDS = 5
METRICS = {             # what a cell can show: name -> (label, is a fraction shown in %)
    "test_accuracy": ("test accuracy", True),
    "val_accuracy": ("validation accuracy", True),
    "best_val_accuracy": ("best validation accuracy", True),
    "train_accuracy": ("training accuracy", True),
    "train_loss": ("training loss", False),
    "val_loss": ("validation loss", False),
    "seconds": ("time (s)", False),
}


class SweepError(ValueError):
    """A grid or a sweep the user asked for that cannot run; `problems` lists every reason."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(dict.fromkeys(problems))
        super().__init__("; ".join(self.problems))


def value_text(name: str, value: Any) -> str:
    """A parameter's value as the user writes it (CLI, URL, table labels): the one place sweeps
    format values, so it follows the schema's own writer when it has one."""
    p = PARAM[name]
    to_text = getattr(p, "to_text", None)
    if to_text is not None:
        return to_text(value)
    if p.kind is bool:
        return "true" if value else "false"
    return f"{value:g}" if p.kind is float else str(value)


@dataclass(frozen=True)
class Level:
    """One row or column of the table: its label and the settings it overrides. `x` places it
    on a line chart's horizontal axis (None: not a number, e.g. 'He')."""
    label: str
    overrides: tuple[tuple[str, Any], ...]
    x: float | None = None

    @classmethod
    def of(cls, label: str, x: float | None = None, **overrides: Any) -> "Level":
        return cls(label, tuple(overrides.items()), x)

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.overrides)


@dataclass(frozen=True)
class Axis:
    """What varies along the rows (or the columns): a title and its levels. `param` is set when
    every level changes just that one parameter (a plain grid such as `lr=1e-3,1e-2`)."""
    title: str
    levels: tuple[Level, ...]
    param: str | None = None
    log: bool = False                  # a line chart puts x on a log scale

    @property
    def numeric(self) -> bool:
        return any(level.x is not None for level in self.levels)

    @property
    def labels(self) -> list[str]:
        return [level.label for level in self.levels]

    @classmethod
    def over(cls, name: str, values: Iterable[Any]) -> "Axis":
        """A plain axis over one schema parameter (values already parsed)."""
        p = PARAM[name]
        numeric = p.kind in (int, float)
        levels = tuple(Level(value_text(name, v), ((name, v),), float(v) if numeric else None)
                       for v in values)
        return cls(p.label, levels, name, log=p.log)


def _split_values(text: str) -> list[str]:
    """'1e-3,1e-2' -> ['1e-3', '1e-2']; commas inside parentheses or brackets stay, so per-layer
    widths can be listed: 'width=(200,100),(30,30)' -> ['200,100', '30,30']."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([":
            depth += 1
            if depth == 1:
                continue
        elif ch in ")]":
            depth -= 1
            if depth == 0:
                continue
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def param_named(name: str) -> Param:
    """The schema parameter called `name` (CLI spelling `init-sigma` accepted), or a SweepError
    that names the close matches and every parameter a sweep can vary."""
    key = name.strip().lstrip("-").replace("-", "_")
    if key in PARAM and key != "seed":
        return PARAM[key]
    if key == "seed":
        raise SweepError(["seed: give the number of seeds with --seeds (1 to 5), not a grid"])
    names = [p.name for p in PARAMS if p.name != "seed"]
    close = difflib.get_close_matches(key, names, n=2)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    raise SweepError([f"{name!r} is not a hyper-parameter{hint}; known: {', '.join(names)}"])


def parse_grid(text: str) -> Axis:
    """'lr=1e-3,1e-2' -> an Axis over lr. Raises SweepError naming every bad part."""
    name, sep, values = str(text).partition("=")
    if not sep or not name.strip():
        raise SweepError([f"{text!r}: write a grid as NAME=VALUE,VALUE,... e.g. lr=1e-3,1e-2"])
    p = param_named(name)
    raw = _split_values(values)
    if not any(raw):
        raise SweepError([f"{p.name}: give at least one value after '='"])
    problems, parsed = [], []
    for r in raw:
        if not r:
            problems.append(f"{p.name}: an empty value in {values!r}")
            continue
        try:
            parsed.append(parse_value(p, r))
        except ValueError as e:
            problems.append(f"{p.name}={r}: {e}")
    if len(set(map(str, parsed))) < len(parsed):
        problems.append(f"{p.name}: a value is listed twice")
    if len(raw) > MAX_LEVELS:
        problems.append(f"{p.name}: {len(raw)} values; a sweep takes at most {MAX_LEVELS} per parameter")
    if problems:
        raise SweepError(problems)
    return Axis.over(p.name, parsed)


def suggested_values(name: str) -> list:
    """Three values to start a grid over `name` from, around its default (a page pre-fills them):
    its neighbours on the schema's grid, the first choices, or half and twice the default."""
    p = PARAM[name]
    if p.choices:
        return list(p.choices[:3])
    if p.kind is bool:
        return [False, True]
    if p.grid:
        i = min(range(len(p.grid)), key=lambda k: abs(p.grid[k] - p.default))
        i = min(max(i, 1), len(p.grid) - 2)
        return list(p.grid[i - 1:i + 2])
    if name == "width":
        return ["64", "256", "1024"]
    d = p.default or (1000 if p.zero_means else 1)
    return list(dict.fromkeys(int(min(max(v, p.low), p.high)) for v in (d // 2 or 1, d, d * 2)))


def _when_used(p: Param, base: Mapping[str, Any]) -> str:
    """A hint for a parameter that has no effect with `base`: which setting would make it count
    (found by trying the schema's choices, so no rule is written twice)."""
    for q in PARAMS:
        candidates = q.choices or ((True,) if q.kind is bool else (1,) if q.kind is int else ())
        for v in candidates:
            if p.is_shown({**base, q.name: v}):
                return f"; it is used when {q.name}={value_text(q.name, v)}"
    return ""


def effective(hp: HyperParams) -> HyperParams:
    """`hp` with every parameter that has no effect (the schema hides it: σ with He init,
    momentum with Adam) set to its default, so that two settings that train the same network
    compare equal and train once."""
    values = hp.to_dict()
    unused = {p.name: p.default for p in PARAMS if not p.is_shown(values) and values[p.name] != p.default}
    return hp.replace(**unused) if unused else hp


@dataclass(frozen=True)
class Point:
    """One training run of the sweep: its cell (row, column) and seed, and its settings."""
    row: int
    col: int
    seed: int
    hp: HyperParams


@dataclass(frozen=True)
class SweepSpec:
    """Everything that defines a sweep (stored with it, so a page or the CLI can rebuild its
    table from the runs alone)."""
    base: HyperParams
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    metric: str = "test_accuracy"                  # what a 2-parameter table's cells show
    columns: tuple[str, ...] = ("test_accuracy",)  # a 1-parameter table's columns
    name: str = ""
    preset: str | None = None

    @classmethod
    def build(cls, base: HyperParams | Mapping[str, Any], axes: Sequence[Axis], seeds: int | Sequence[int] = 1,
              *, metric: str = "test_accuracy", columns: Sequence[str] | None = None,
              name: str = "", preset: str | None = None) -> "SweepSpec":
        """Check a sweep as a whole and return it; SweepError lists every problem."""
        problems = []
        if isinstance(base, HyperParams):
            hp = base
        else:
            try:
                hp = HyperParams.validate(base)
            except ConfigError as e:
                raise SweepError([f"{k}: {v}" for k, v in e.errors.items()]) from None
        if isinstance(seeds, int):
            seeds = tuple(hp.seed + i for i in range(seeds))
        seeds = tuple(int(s) for s in seeds)
        if not 1 <= len(seeds) <= MAX_SEEDS:
            problems.append(f"seeds: give 1 to {MAX_SEEDS} seeds, not {len(seeds)}")
        if len(set(seeds)) < len(seeds):
            problems.append("seeds: a seed is listed twice")
        if not 1 <= len(axes) <= MAX_AXES:
            problems.append(f"give one or two parameters to vary, not {len(axes)}")
        params = [a.param for a in axes if a.param]
        if len(set(params)) < len(params):
            problems.append(f"{params[0]}: the same parameter is given twice; list all its values in one grid")
        for m in (metric, *(columns or ())):
            if m not in METRICS:
                problems.append(f"{m!r} is not a result a table can show; known: {', '.join(METRICS)}")
        if problems:
            raise SweepError(problems)
        spec = cls(hp, tuple(axes), seeds, metric, tuple(columns or (metric,)), name, preset)
        spec.points()   # every combination must be valid
        return spec

    @property
    def rows(self) -> Axis:
        return self.axes[0]

    @property
    def cols(self) -> Axis | None:
        return self.axes[1] if len(self.axes) > 1 else None

    def points(self) -> list[Point]:
        """Every run: for each cell and seed, the base settings with the levels' overrides.
        Raises SweepError naming each combination the schema rejects, and each axis whose
        parameter has no effect at all with these settings (its runs would all be the same)."""
        problems, out = [], []
        cols = self.cols.levels if self.cols else (None,)
        used = {a.param: False for a in self.axes if a.param}
        base = self.base.to_dict()
        for (r, row), (c, col) in itertools.product(enumerate(self.rows.levels), enumerate(cols)):
            overrides = {**row.settings, **(col.settings if col else {})}
            where = " × ".join(x.label for x in (row, col) if x)
            try:
                hp0 = HyperParams.validate(base, **overrides)
            except ConfigError as e:
                problems += [f"{where}: {k}: {v}" for k, v in e.errors.items()]
                continue
            for name in used:
                used[name] |= PARAM[name].is_shown(hp0.to_dict())
            hp0 = effective(hp0)
            out += [Point(r, c, s, hp0.replace(seed=s) if s != hp0.seed else hp0) for s in self.seeds]
        for name, ok in used.items():
            if not ok and not problems:
                problems.append(f"{name} has no effect with these settings{_when_used(PARAM[name], base)}")
        if problems:
            raise SweepError(problems)
        return out

    def runs(self) -> list[HyperParams]:
        """The distinct settings to train (identical combinations train once), in table order."""
        return list(dict.fromkeys(p.hp for p in self.points()))

    # -- stored with the sweep (JSON) --------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "base": self.base.to_dict(), "seeds": list(self.seeds), "metric": self.metric,
            "columns": list(self.columns), "name": self.name, "preset": self.preset,
            "axes": [{"title": a.title, "param": a.param, "log": a.log,
                      "levels": [{"label": lv.label, "x": lv.x, "settings": lv.settings} for lv in a.levels]}
                     for a in self.axes],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "SweepSpec":
        if isinstance(d, str):
            d = json.loads(d)
        axes = [Axis(a["title"], tuple(Level(lv["label"], tuple(lv["settings"].items()), lv["x"])
                                       for lv in a["levels"]), a.get("param"), a.get("log", False))
                for a in d["axes"]]
        return cls(HyperParams.validate(d["base"]), tuple(axes), tuple(d["seeds"]), d["metric"],
                   tuple(d["columns"]), d.get("name", ""), d.get("preset"))

    def describe(self) -> str:
        """'Init σ (5) × Weight init (2) × 3 seeds = 30 runs'."""
        parts = [f"{a.title} ({len(a.levels)})" for a in self.axes]
        n = len(self.runs())
        seeds = f"{len(self.seeds)} seed{'s' if len(self.seeds) > 1 else ''}"
        return f"{' × '.join(parts)} × {seeds} = {n} run{'s' if n != 1 else ''}"
