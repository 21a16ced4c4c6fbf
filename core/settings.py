"""The operator's settings: the one place that reads the environment.

Everything a server operator may set (where runs are kept, how many cores training may use, the
memory budgets and limits that keep a class's shared server usable) is read here, once, with its
default and its meaning. Users never reach these: they come from the environment (or the CLI's
flags, which set the same variables).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

GB = 1 << 30


def home() -> Path:
    """Where the run ledger and the weight files live: $MNIST_PLAYGROUND_HOME, else a per-user
    data folder ($XDG_DATA_HOME/mnist-playground, default ~/.local/share/mnist-playground)."""
    forced = os.environ.get("MNIST_PLAYGROUND_HOME")
    if forced:
        return Path(forced).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "mnist-playground"


def ray_address() -> str | None:
    """The Ray cluster runs train on ($MNIST_PLAYGROUND_RAY_ADDRESS, e.g. "ray://head:10001" or
    "auto"): the operator's setting, never a user's. None: runs train as threads in this process,
    and Ray is not imported at all."""
    return os.environ.get("MNIST_PLAYGROUND_RAY_ADDRESS") or None


def cores() -> int:
    """The machine's cores (the ones this process may run on)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # macOS, Windows
        return os.cpu_count() or 1


def memory_bytes() -> int:
    """The machine's memory (physical RAM), or 8 GB where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * GB


def _env(name: str, default, kind=float):
    raw = os.environ.get("MNIST_PLAYGROUND_" + name.upper())
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise SystemExit(f"MNIST_PLAYGROUND_{name.upper()}={raw!r} is not a valid {kind.__name__}") from None


@dataclass(frozen=True)
class Limits:
    """What one server allows, so that one student cannot starve or take down a class.
    Each field can be set with the environment variable MNIST_PLAYGROUND_<FIELD NAME IN CAPITALS>."""
    training_cores: int          # cores training may use (the web server keeps the rest)
    threads_per_run: int         # torch threads per training run
    server_memory: int           # bytes all unfinished runs together may need
    student_memory: int          # bytes one student's unfinished runs together may need
    runs_per_student: int        # unfinished (queued, running, paused) runs per student
    max_run_seconds: float       # training time after which a run is stopped ("time limit"), saved
    max_run_steps: int           # steps a run may have in total (refused above)
    abandon_pause_seconds: float     # nobody watching for this long: the run is paused
    abandon_stop_seconds: float      # ... and after this long stopped (resumable)
    stored_runs_per_student: int     # ended runs kept per student (oldest ended go first)
    stored_bytes_per_student: int
    stored_runs: int                 # ... and on the whole server
    stored_bytes: int

    @property
    def slots(self) -> int:
        """How many runs train at once."""
        return max(1, self.training_cores // self.threads_per_run)

    @classmethod
    def defaults(cls, *, headless: bool = False) -> "Limits":
        """The built-in defaults. A web server leaves one core to itself and to the browsers;
        the headless CLI (no web server) trains on every core."""
        n = cores()
        training = n if headless or n == 1 else n - 1
        server_memory = int(memory_bytes() * 0.6)
        return cls(   # headless: one user (the command line), no per-student shares
            training_cores=training,
            threads_per_run=training if headless else min(2, training),
            server_memory=server_memory,
            student_memory=server_memory if headless else 2 * GB,
            runs_per_student=1000 if headless else 3,
            max_run_seconds=2 * 3600.0,
            max_run_steps=2_000_000,
            abandon_pause_seconds=5 * 60.0,
            abandon_stop_seconds=30 * 60.0,
            stored_runs_per_student=100,
            stored_bytes_per_student=2 * GB,
            stored_runs=5000,
            stored_bytes=50 * GB,
        )

    @classmethod
    def from_env(cls, *, headless: bool = False) -> "Limits":
        base = cls.defaults(headless=headless)
        values = {}
        for f in fields(cls):
            kind = float if f.type == "float" else int
            values[f.name] = _env(f.name, getattr(base, f.name), kind)
        if "MNIST_PLAYGROUND_THREADS_PER_RUN" not in os.environ and values["threads_per_run"] > values["training_cores"]:
            values["threads_per_run"] = max(1, values["training_cores"])
        return cls(**values)

    def replace(self, **changes) -> "Limits":
        return Limits(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes})
