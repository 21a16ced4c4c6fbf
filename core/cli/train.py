"""Train from the command line with the same schema, the same run service and the same ledger as
the app (the run appears on the app's Runs page when both use the same data folder).

    python -m core.train --depth 2 --width 128 --activation relu --init he --lr 1e-3 \\
        --optimizer adam --batch-size 128 --epochs 1 --seed 0 --json

Progress goes to stderr; with --json the last line of stdout is one JSON object with the results.
Exit status: 0 finished (or diverged: that is a result too), 1 stopped, failed or a data error,
2 bad arguments (with a message naming the argument). With no web server to leave a core to, the
CLI trains on every core.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from core.nn.config import CHOICE_LABELS, PARAM, PARAMS, ConfigError, HyperParams
from core.nn.data import DataError
from core.states import DIVERGED, FINISHED

OWNER = "cli"   # the command line's runs, in the ledger


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """Flags every CLI of the project shares (train and sweep)."""
    parser.add_argument("--home", metavar="DIR", default=None,
                        help="the data folder (run ledger and weights); default "
                             "$MNIST_PLAYGROUND_HOME or ~/.local/share/mnist-playground")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best present)")
    parser.add_argument("--ray-address", metavar="ADDR", default=None,
                        help="train on this Ray cluster instead of this machine "
                             "(default: $MNIST_PLAYGROUND_RAY_ADDRESS; none: this machine)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.train", description="Train an MLP on MNIST (same trainer as the app).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for p in PARAMS:
        extra = f" Choices: {', '.join(p.choices)}." if p.choices else (
            f" Range {p.low:g} to {p.high:g}." if p.low is not None else "")
        if p.kind is bool:
            parser.add_argument(p.flag, dest=p.name, default=p.default,
                                action=argparse.BooleanOptionalAction, help=p.help)
        else:
            # Values are parsed and checked by HyperParams.validate, so that the CLI, the URL and
            # the sidebar accept exactly the same things and say the same errors.
            parser.add_argument(p.flag, dest=p.name, default=p.default, metavar=p.kind.__name__.upper(),
                                help=p.help + extra)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--save", metavar="PATH", default=None, help="save the trained model here")
    add_common_flags(parser)
    return parser


def check_device(name: str | None) -> str | None:
    """None if `name` is a device this machine has, else the message for the user."""
    if name is None:
        return None
    import torch
    try:
        kind = torch.device(name).type
    except (RuntimeError, ValueError):
        return f"--device: {name!r} is not a device; use cpu, cuda or mps"
    if kind == "cpu":
        return None
    if kind == "cuda" and torch.cuda.is_available():
        return None
    if kind == "mps" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return None
    if kind in ("cuda", "mps"):
        return f"--device: there is no {kind} device on this machine; use cpu (or leave it out)"
    return f"--device: {name!r} is not supported; use cpu, cuda or mps"


def check_save_path(path: str | None) -> str | None:
    if path is None:
        return None
    folder = Path(path).expanduser().resolve().parent
    if not folder.is_dir():
        return f"--save: the folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"--save: cannot write into {folder}"
    return None


def apply_common_flags(parser: argparse.ArgumentParser, args: dict) -> str | None:
    """Check --device and point the environment at --home / --ray-address (read by
    core.settings when the run service is made). Returns the device."""
    home, device, ray = args.pop("home"), args.pop("device"), args.pop("ray_address")
    if (problem := check_device(device)) is not None:
        parser.error(problem)
    if home:
        os.environ["MNIST_PLAYGROUND_HOME"] = str(Path(home).expanduser())
    if ray:
        os.environ["MNIST_PLAYGROUND_RAY_ADDRESS"] = ray
    return device


def make_service(device: str | None):
    """A headless run service (every core, no abandonment timer) on the chosen ledger."""
    from core.runs import RunService
    from core.settings import Limits, ray_address
    limits = Limits.from_env(headless=True)
    executor = None
    if not ray_address():
        from core.executors.local import LocalExecutor
        executor = LocalExecutor(limits, device=device)
    return RunService(executor=executor, limits=limits, headless=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = vars(parser.parse_args(argv))
    as_json, save_to = args.pop("json"), args.pop("save")
    device = apply_common_flags(parser, args)
    if (problem := check_save_path(save_to)) is not None:
        parser.error(problem)
    try:
        hp = HyperParams.validate(args)
    except ConfigError as e:
        parser.error("; ".join(f"{PARAM[k].flag if k in PARAM else k}: {v}" for k, v in e.errors.items()))

    from core.executors import ClusterUnavailable
    from core.ledger import LedgerError
    from core.nn import model as model_lib  # imported late: --help and argument errors stay instant
    from core.runs import Refused
    try:
        svc = make_service(device)
    except LedgerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ClusterUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        run = svc.submit(OWNER, hp)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        svc.close()
        return 1
    except Refused as e:
        print(f"error: {e}", file=sys.stderr)
        svc.close()
        return 2
    rec = run.record
    print(f"run #{run.number} · {hp.describe()} · {rec.params:,} parameters · "
          f"{CHOICE_LABELS[hp.dataset]} · device {rec.device} · ledger {svc.ledger.home}", file=sys.stderr)
    last_print = 0.0
    try:
        while not svc.wait(run.id, timeout=0.5):
            s = run.snapshot()
            if time.monotonic() - last_print > 2:
                last_print = time.monotonic()
                print(f"  epoch {s.epoch:5.2f}/{s.epochs}  step {s.step}/{s.total_steps}  "
                      f"loss {s.train_loss or float('nan'):.4f}  "
                      f"val acc {s.val_accuracy if s.val_accuracy is not None else float('nan'):.4f}  "
                      f"{s.samples_per_second:,.0f} samples/s", file=sys.stderr)
    except KeyboardInterrupt:
        svc.stop(OWNER, run.id, "stopped from the keyboard (Ctrl-C)")
        svc.wait(run.id, 30)
    s = run.snapshot()
    print(f"{s.state}: {s.reason}", file=sys.stderr)
    curves, _ = run.curves()
    if save_to and s.state == FINISHED:
        model_lib.save(run.model(), save_to, hyperparams=hp.to_dict(), test_accuracy=s.test_accuracy)
        print(f"saved the model to {save_to}", file=sys.stderr)
    svc.close()
    if as_json:
        print(json.dumps({
            "run_id": run.id, "state": s.state, "reason": s.reason,
            "test_accuracy": s.test_accuracy, "test_loss": s.test_loss,
            "val_accuracy": s.val_accuracy, "val_loss": s.val_loss,
            "best_val_accuracy": s.best_val_accuracy,
            "final_train_loss": s.train_loss,
            "epochs_completed": sum(curves.val_full), "steps": s.step,
            "seconds": round(s.elapsed, 3), "samples_per_second": round(s.samples_per_second, 1),
            "diverged": s.state == DIVERGED, "params": rec.params,
            "device": s.device, "hyperparams": hp.to_dict(),
        }))
    return 0 if s.state in (FINISHED, DIVERGED) else 1


if __name__ == "__main__":
    sys.exit(main())
