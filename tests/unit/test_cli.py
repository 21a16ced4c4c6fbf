"""python -m core.train: the same schema and trainer from a terminal."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "core.train", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_json_summary_is_the_last_line():
    p = run_cli("--depth", "1", "--width", "32", "--subset", "2000", "--epochs", "1",
                "--batch-size", "100", "--seed", "0", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    for key in ("test_accuracy", "val_accuracy", "final_train_loss", "epochs_completed", "steps",
                "seconds", "samples_per_second", "diverged", "params"):
        assert key in out
    assert out["epochs_completed"] == 1 and out["steps"] == 20 and out["params"] == 784 * 32 + 32 + 330
    assert out["diverged"] is False and 0.5 < out["test_accuracy"] <= 1   # chance is 0.1
    assert "epoch" in p.stderr   # progress goes to stderr


def test_bad_arguments_exit_2_with_a_clear_message():
    p = run_cli("--lr", "abc", "--width", "10,20", "--depth", "3")
    assert p.returncode == 2
    assert "--lr: expected a number, got 'abc'" in p.stderr
    assert "--width: 2 widths given for 3 hidden layers" in p.stderr


def test_divergence_is_reported_in_json():
    p = run_cli("--init", "normal", "--init-sigma", "10", "--depth", "4", "--optimizer", "sgd",
                "--lr", "5", "--subset", "1000", "--epochs", "1", "--json")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["diverged"] is True and ("NaN" in out["reason"] or "infinite" in out["reason"])
