"""Mutation score of core/'s modules: would the unit tests notice if the code were wrong?

    pip install mutmut==3.8.1                 # not needed by the app or CI
    python scripts/mutation.py trainer runs   # one or more of the modules below; no name: all

mutmut (https://github.com/boxed/mutmut) makes hundreds of small wrong versions of a module
("mutants": `<` for `<=`, `+ 1` for `+ 2`, a dropped argument, ...) and runs the tests that reach
the changed function against each one; a mutant the tests do not notice *survived*. The score is
killed / (mutants - equivalent), where an equivalent mutant is one no test can kill because it
behaves exactly like the original (listed in EQUIVALENT below, each with the reason).

Why mutmut and not cosmic-ray: mutmut works on a copy of the code (cosmic-ray rewrites the files
in place, which a shared working tree cannot have), imports torch once and forks a worker per
mutant (cosmic-ray starts a fresh interpreter per mutant: ~3 s of imports each), and runs only
the tests that reach the mutated function, fastest first, stopping at the first failure.

Each module is scored in its own workspace (under $TMPDIR/mnist-playground-mutation/MODULE): a
copy of core/, the module's test files and the embedded MNIST, so the working tree is never
touched and a second run only re-tests what changed. CPU-heavy: it runs at the lowest priority
with one worker; a module takes 5-60 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Each module's tests: the files whose tests are run against its mutants.
TESTS = {
    "trainer": ["test_trainer.py", "test_pins_trainer.py"],
    "control": ["test_control.py", "test_trainer.py"],
    "metrics": ["test_metrics.py", "test_trainer.py"],
    "checkpoint": ["test_checkpoint.py", "test_trainer.py"],
    "scheduler": ["test_scheduler.py", "test_runs.py"],
    "runs": ["test_runs.py", "test_pins_runs.py"],
    "model": ["test_model.py", "test_pins_model.py"],
    "data": ["test_data.py", "test_pins_data.py"],
    "config": ["test_config.py", "test_pins_config.py"],
}
# Where each module lives under core/ (the name above is the short one the command line takes).
SOURCES = {"trainer": "nn/trainer", "control": "nn/control", "metrics": "nn/metrics",
           "checkpoint": "nn/checkpoint", "scheduler": "runs/scheduler", "runs": "runs/service",
           "model": "nn/model", "data": "nn/data", "config": "nn/config"}
HELPERS = ["__init__.py"]   # non-test files of tests/unit the tests import

# Tests left out of mutation runs, with the reason: mutmut stops a module's run when a test
# fails on the unmutated code, and a timing race fails now and then on a loaded machine.
DESELECT = {
    "tests/unit/test_trainer.py::test_a_run_without_a_slot_waits_queued_with_its_untrained_point_then_trains_once_granted":
        "reads the state right after the step-0 point is published, before the thread sets "
        "'waiting for a free training slot' (a race; test_pins_trainer.py waits for it instead)",
}

# Mutants that behave exactly like the original: (module, mutated function, text of the mutated
# line as `mutmut show` prints it after "+"), and why no test can tell them apart.
EQUIVALENT: list[tuple[str, str, str, str]] = [
    ("model", "load", "ckpt = torch.load(path, map_location=map_location, weights_only=None)",
     "torch >= 2.6 reads weights_only=None as its default, which is True (the hostile-file test "
     "in test_model.py fails for weights_only=False)"),
    ("data", "_record_verified", "json.dump(entries, f, indent=None, sort_keys=True)",
     "only the layout of a file that is read back with json.loads"),
    ("data", "_record_verified", "json.dump(entries, f, indent=1, sort_keys=False)",
     "only the order of keys in a file that is read back with json.loads"),
    ("runs", "wait", "self._record(force=False)", "RunService._record does not use `force`"),
    ("runs", "close", "self._record(force=None)", "RunService._record does not use `force`"),
    ("runs", "_snapshot", 'epochs=rec.config.get("epochs", 1), samples_per_second=rec.samples_per_second,',
     "a ledger row's config is always a full HyperParams.to_dict(): 'epochs' is never missing"),
    ("runs", "__init__", "self._record_soon = None   # a checkpoint was just written: record at the next tick",
     "None and False are both false, and _record_soon is only tested for truth before it is set"),
    ("trainer", "__init__", 'self._val: tuple[float, float] | None = ""',
     "'' and None are both false, and _val is only ever tested for truth before it is set"),
    ("trainer", "loss_function",
     "per_sample = (logits.softmax(1) - F.one_hot(y, logits.shape[1]).to(None)).pow(2).sum(1)",
     "tensor.to(None) leaves the int64 one-hot as it is, and subtracting it from the float softmax "
     "promotes it to the softmax's dtype anyway: the same 0/1 values, the same result"),
]


def workspace(module: str, base: Path, tests: list[str] | None = None) -> Path:
    """A copy of what the module's tests need, refreshed from the working tree (mtimes kept, so
    mutmut re-generates and re-tests only what changed)."""
    ws = base / module
    for sub in ("core", "tests"):
        if (ws / sub).exists():
            shutil.rmtree(ws / sub)
    shutil.copytree(ROOT / "core", ws / "core", ignore=shutil.ignore_patterns("__pycache__"))
    (ws / "tests" / "unit").mkdir(parents=True)
    for f in ("__init__.py", "conftest.py"):
        shutil.copy2(ROOT / "tests" / f, ws / "tests" / f)
    tests = [t for t in tests or TESTS[module] if (ROOT / "tests" / "unit" / t).is_file()]
    for f in HELPERS + [p.name for p in (ROOT / "tests" / "unit").glob("*.py")
                        if not p.name.startswith("test_")] + tests:
        shutil.copy2(ROOT / "tests" / "unit" / f, ws / "tests" / "unit" / f)
    if not (ws / "assets" / "mnist").exists():
        shutil.copytree(ROOT / "assets" / "mnist", ws / "assets" / "mnist")
    shutil.copy2(ROOT / "pytest.ini", ws / "pytest.ini")
    selection = "\n    ".join(f"tests/unit/{t}" for t in tests)
    deselect = "".join(f"\n    --deselect\n    {t}" for t in DESELECT if t.split("::")[0].split("/")[-1] in tests)
    (ws / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths = core\n"
        f"only_mutate = core/{SOURCES[module]}.py\n"
        f"pytest_add_cli_args_test_selection =\n    {selection}\n"
        f"pytest_add_cli_args =\n    -p\n    no:cacheprovider{deselect}\n"
        "also_copy = assets/mnist\n"
        "process_isolation = forkserver\n"
        "use_git_change_detection = false\n")
    return ws


def mutmut(ws: Path, *args: str, capture: bool = False) -> subprocess.CompletedProcess:
    exe = shutil.which("mutmut") or str(Path(sys.executable).parent / "mutmut")
    cmd = ["nice", "-n", "19", exe, *args] if args[0] == "run" else [exe, *args]
    return subprocess.run(cmd, cwd=ws, text=True, capture_output=capture,
                          env={**os.environ, "PYTHONHASHSEED": "0"})


def all_mutants(module: str, ws: Path) -> list[str]:
    """The names of every mutant mutmut makes of core/MODULE.py."""
    path = Path("core") / f"{SOURCES[module]}.py"
    cwd = os.getcwd()
    os.chdir(ws)        # mutmut reads its settings from the current folder (at import too)
    try:
        from mutmut import configuration
        configuration.reset_config()
        from mutmut.__main__ import get_mutant_name, mutate_file_contents
        made = mutate_file_contents(str(path), path.read_text(), None, None)
    finally:
        os.chdir(cwd)
    return sorted(get_mutant_name(path, name) for name in made.mutant_names)


def sample(module: str, ws: Path, n: int | None) -> list[str]:
    """n mutants drawn at random (seeded by the module's name: the same draw every time while
    the module is unchanged), or all of them."""
    names = all_mutants(module, ws)
    return names if n is None or n >= len(names) else sorted(random.Random(module).sample(names, n))


def function_key(name: str) -> str:
    """core.runs.xǁRunServiceǁwait__mutmut_3 -> xǁRunServiceǁwait (mutmut's key for its hashes)."""
    return re.sub(r"__mutmut_\d+$", "", name.split(".")[-1])


def saved(ws: Path, meta: dict) -> dict[str, str]:
    """Verdicts of earlier runs that still mean what they meant. mutmut numbers a function's
    mutants in order, so once the function's code changes `..._mutmut_7` is a different mutant:
    a verdict is kept only while its function's hash is the one it was recorded under."""
    path, hashes = ws / "verdicts.json", ws / "verdict_hashes.json"
    out = json.loads(path.read_text()) if path.exists() else {}
    recorded = json.loads(hashes.read_text()) if hashes.exists() else {}
    now = meta["hash_by_function_name"]
    return {k: v for k, v in out.items() if recorded.get(k) and recorded[k] == now.get(function_key(k))}


def verdicts(module: str, ws: Path, names: list[str]) -> dict[str, str]:
    """Each mutant of `names` that has a result: killed, survived (no test failed, or no test
    reaches it) or equivalent. Kills recorded by earlier runs (verdicts.json) are kept while the
    mutated function is unchanged: tests are only ever added, so a mutant once killed stays
    killed; the file also survives mutmut resetting its results when the test selection changes."""
    from mutmut.stats import status_by_exit_code as status  # killed, survived, no tests, timeout...
    meta = json.loads((ws / "mutants" / "core" / f"{SOURCES[module]}.py.meta").read_text())
    out = saved(ws, meta)
    for name in names:
        s = status[meta["exit_code_by_key"].get(name)]
        if s in ("killed", "timeout", "segfault"):
            out[name] = "killed"
        elif s in ("survived", "no tests") and out.get(name) != "killed":
            out[name] = "equivalent" if equivalent(module, ws, name) else "survived"
    (ws / "verdicts.json").write_text(json.dumps(out, indent=1, sort_keys=True))
    hashes = {k: meta["hash_by_function_name"].get(function_key(k)) for k in out}
    (ws / "verdict_hashes.json").write_text(json.dumps(hashes, indent=1, sort_keys=True))
    return {k: out[k] for k in names if k in out}


def equivalent(module: str, ws: Path, name: str) -> bool:
    diff = mutmut(ws, "show", name, capture=True).stdout
    added = [l[1:].strip() for l in diff.splitlines() if l.startswith("+") and not l.startswith("+++")]
    func = function_key(name)   # x_load, xǁRunServiceǁwait
    func = func.split("ǁ")[-1] if "ǁ" in func else func.removeprefix("x_")
    return any(m == module and f == func and text in added for m, f, text, _ in EQUIVALENT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", choices=[[], *TESTS], metavar="MODULE",
                        help=f"modules of core/ to score (default: all of {', '.join(TESTS)})")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "mnist-playground-mutation",
                        help="where the workspaces live (kept between runs: a rerun is incremental)")
    parser.add_argument("--sample", type=int, default=None, metavar="N",
                        help="score N mutants drawn at random per module (seeded: the same ones "
                             "each time) instead of all; trainer and runs have ~1000 each")
    parser.add_argument("--rerun-survivors", action="store_true",
                        help="test only the mutants not killed by the last run (after adding tests)")
    parser.add_argument("--tests", default=None, metavar="FILES",
                        help="comma-separated test files of tests/unit to use instead of the module's own")
    parser.add_argument("--report", action="store_true", help="only report the results of earlier runs")
    args = parser.parse_args()
    if not (shutil.which("mutmut") or (Path(sys.executable).parent / "mutmut").exists()):
        sys.exit("mutmut is not installed: pip install mutmut==3.8.1")
    rows = []
    for module in args.modules or list(TESTS):
        ws = workspace(module, args.dir, args.tests.split(",") if args.tests else None)
        names = sample(module, ws, args.sample)
        if args.report:
            pass
        elif args.rerun_survivors and (ws / "verdicts.json").exists():
            meta = ws / "mutants" / "core" / f"{module}.py.meta"
            before = saved(ws, json.loads(meta.read_text())) if meta.exists() else {}
            todo = [n for n in names if before.get(n) not in ("killed", "equivalent")]
            if todo:
                mutmut(ws, "run", "--max-children", "1", *todo)
        else:   # every mutant: mutmut itself skips those whose function and tests are unchanged
            mutmut(ws, "run", "--max-children", "1", *(names if args.sample else []))
        if not (ws / "mutants" / "core" / f"{SOURCES[module]}.py.meta").exists():
            print(f"\n{module}: no results (mutmut did not run; see its output above)")
            continue
        v = verdicts(module, ws, names)
        counts = {k: list(v.values()).count(k) for k in ("killed", "survived", "equivalent")}
        scored = counts["killed"] + counts["survived"]
        rows.append((module, counts, scored))
        print(f"\n{module}: {counts['killed']}/{scored} killed = {counts['killed'] / max(scored, 1):.0%} "
              f"({counts['equivalent']} equivalent, {len(names) - len(v)} without a result)", flush=True)
        for name in sorted(k for k, x in v.items() if x == "survived"):
            print("  survived:", name)
    print("\nmodule        killed / mutants   score   (equivalent mutants not counted)")
    for module, counts, scored in rows:
        print(f"{module:<12}  {counts['killed']:>6} / {scored:<7}   {counts['killed'] / max(scored, 1):>5.0%}"
              f"   ({counts['equivalent']} equivalent)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
