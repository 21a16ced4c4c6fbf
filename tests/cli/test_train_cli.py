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
    assert p.returncode == 0, p.stderr                       # a diverged run is a result
    assert out["diverged"] is True and out["state"] == "diverged" and "at step" in out["reason"]


def test_an_unknown_or_absent_device_exits_2_before_anything_runs():
    p = run_cli("--device", "foo")
    assert p.returncode == 2 and "--device: 'foo' is not a device" in p.stderr
    p = run_cli("--device", "cuda")          # no GPU on the test machines
    assert p.returncode == 2 and "no cuda device" in p.stderr


def test_save_to_a_missing_folder_exits_2_before_training(tmp_path):
    p = run_cli("--save", str(tmp_path / "nope" / "model.pt"), "--epochs", "200")
    assert p.returncode == 2 and "does not exist" in p.stderr and "samples/s" not in p.stderr


def test_the_run_is_kept_in_the_ledger_of_home_and_the_model_saved(tmp_path):
    from core.ledger import Ledger
    p = run_cli("--depth", "1", "--width", "32", "--subset", "1000", "--epochs", "1", "--lr", "0.0004",
                "--home", str(tmp_path / "home"), "--save", str(tmp_path / "m.pt"), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    rec = Ledger(tmp_path / "home").get_run(out["run_id"])
    assert rec.state == "finished" and rec.owner == "cli" and rec.config["lr"] == 0.0004
    assert rec.test_accuracy == out["test_accuracy"] and (tmp_path / "m.pt").stat().st_size > 1000


def test_a_run_too_long_for_the_limits_is_refused_with_exit_2(tmp_path):
    p = subprocess.run([sys.executable, "-m", "core.train", "--batch-size", "1", "--epochs", "200"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**__import__("os").environ, "MNIST_PLAYGROUND_MAX_RUN_STEPS": "1000"})
    assert p.returncode == 2 and "steps" in p.stderr and "allows 1,000" in p.stderr


# -- exit codes: 1 for a data error, a stopped or a failed run (issue 13) ---------------------------

def test_ctrl_c_stops_the_run_saves_it_and_exits_1(tmp_path):
    import signal
    import time
    p = subprocess.Popen([sys.executable, "-m", "core.train", "--depth", "1", "--width", "16",
                          "--subset", "1000", "--batch-size", "10", "--epochs", "200", "--json",
                          "--home", str(tmp_path / "home")],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        line = ""
        while "run #" not in line:                     # the run has started
            assert time.monotonic() < deadline and p.poll() is None, p.stderr.read()
            line = p.stderr.readline()
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 1, err
    assert "stopped: stopped from the keyboard (Ctrl-C) at step" in err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["state"] == "stopped" and 0 < result["steps"] < 100 * 200
    from core.ledger import Ledger
    rec = Ledger(tmp_path / "home").get_run(result["run_id"])
    assert rec.state == "stopped" and rec.checkpoint_step == result["steps"]   # saved: it can go on


def test_a_data_error_exits_1_with_the_message(tmp_path, monkeypatch, capsys):
    from core.cli import train
    from core.nn import data
    monkeypatch.setattr(data, "DEBIAN_FASHION", tmp_path / "none")
    monkeypatch.setenv("MNIST_PLAYGROUND_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "_cache", {})
    assert train.main(["--dataset", "fashion", "--depth", "0", "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Fashion-MNIST is not on this machine.")
    assert "Traceback" not in err


def test_a_run_that_fails_exits_1_with_the_reason(monkeypatch, capsys):
    from core.cli import train
    from core.nn import trainer

    def broken(self):
        raise RuntimeError("out of memory")
    monkeypatch.setattr(trainer.Trainer, "_train", broken)
    assert train.main(["--depth", "0", "--subset", "100", "--epochs", "1", "--json"]) == 1
    captured = capsys.readouterr()
    assert "failed: training failed: RuntimeError: out of memory" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["state"] == "failed"


def test_bad_arguments_exit_2_in_process_too(capsys):
    import pytest

    from core.cli import train
    for argv, message in [(["--epochs", "0"], "--epochs: 0 is outside the range 1 to 200"),
                          (["--activation", "swish"], "--activation: 'swish' is not one of"),
                          (["--no-such-flag"], "unrecognized arguments: --no-such-flag")]:
        with pytest.raises(SystemExit) as e:
            train.main(argv)
        assert e.value.code == 2
        assert message in capsys.readouterr().err
