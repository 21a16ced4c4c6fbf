"""python -m core.sweep end to end (subprocesses): the table as JSON, bad grids and flags exit 2,
a sweep the server cannot keep is refused, a reduced preset checks its lesson."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, home, env=None):
    return subprocess.run([sys.executable, "-m", "core.sweep", *args, "--home", str(home)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


def test_cli_prints_the_runs_and_the_table_as_json(tmp_path):
    p = cli("--grid", "lr=1e-3,1e-2", "--grid", "width=8,16", "--seeds", "2", "--depth", "1",
            "--subset", "500", "--epochs", "1", "--batch-size", "100", "--json", home=tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert len(out["runs"]) == 8 and out["table"]["rows"] == ["0.001", "0.01"] and out["table"]["cols"] == ["8", "16"]
    accs = [r["test_accuracy"] for r in out["runs"] if r["hp"]["lr"] == 0.001 and r["hp"]["width"] == "16"]
    cell = out["table"]["cells"][0][1]
    m = sum(accs) / 2
    assert cell["n"] == 2 and cell["diverged"] == 0 and cell["mean"] == pytest.approx(m)
    assert cell["std"] == pytest.approx(((accs[0] - m) ** 2 + (accs[1] - m) ** 2) ** 0.5)
    assert all(r["hp"]["epochs"] == 1 and r["hp"]["subset"] == 500 for r in out["runs"])
    assert "[8/8]" in p.stderr and "Learning rate \\ Width" in p.stderr     # progress and table on stderr
    assert len(Ledger(tmp_path).list_runs()) == 8                           # --home is where they went


@pytest.mark.parametrize("args, message", [
    (["--grid", "lr=abc"], "lr=abc: expected a number, got 'abc'"),
    (["--grid", "lrr=1"], "'lrr' is not a hyper-parameter (did you mean lr?)"),
    (["--grid", "lr=0.1", "--grid", "depth=1", "--grid", "width=4"], "give one or two parameters to vary, not 3"),
    (["--grid", "lr=0.1", "--seeds", "9"], "--seeds: give 1 to 5, not 9"),
    (["--grid", "lr=0.1", "--depth", "x"], "--depth: expected an integer, got 'x'"),
    ([], "give a --preset or at least one --grid"),
    (["--preset", "nope"], "invalid choice: 'nope'"),
])
def test_cli_bad_grids_exit_2_with_a_clear_message(tmp_path, args, message):
    p = cli(*args, home=tmp_path)
    assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr


def test_cli_device_and_ray_address_problems_exit_2_and_nothing_is_recorded(tmp_path):
    p = cli("--grid", "lr=1e-3,1e-2", "--device", "tpu", home=tmp_path)
    assert p.returncode == 2 and "--device: 'tpu' is not a device; use cpu, cuda or mps" in p.stderr, p.stderr
    # A Ray address where Ray is not installed (as on a machine without requirements-ray.txt).
    code = ("import sys; sys.modules['ray'] = None; from core.cli.sweep import main; "
            f"sys.exit(main(['--grid', 'lr=1e-3,1e-2', '--home', {str(tmp_path)!r}, '--ray-address', 'head:6379']))")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "names a Ray cluster ('head:6379'), but Ray cannot be imported here" in p.stderr
    assert "Traceback" not in p.stderr and Ledger(tmp_path).list_runs() == []


def test_cli_refuses_a_sweep_the_server_cannot_keep(tmp_path):
    p = cli("--grid", "lr=1e-3,1e-2", "--seeds", "3", home=tmp_path,
            env={"MNIST_PLAYGROUND_STORED_RUNS_PER_STUDENT": "4"})
    assert p.returncode == 2 and "This sweep needs 6 runs; the server keeps 4 runs per student" in p.stderr


def test_cli_runs_a_reduced_preset_and_checks_its_lesson(tmp_path):
    p = cli("--preset", "loss", "--reduced", "--json", home=tmp_path)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["preset"]["key"] == "loss" and out["preset"]["failed"] == []
    assert out["table"]["rows"] == ["cross-entropy", "MSE"] and {r["hp"]["subset"] for r in out["runs"]} == {10000}
    assert "lesson visible" in p.stderr


