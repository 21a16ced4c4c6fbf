"""Train from the command line with the same schema and the same Trainer as the app.

    python -m core.train --depth 2 --width 128 --activation relu --init he --lr 1e-3 \\
        --optimizer adam --batch-size 128 --epochs 1 --seed 0 --json

Progress goes to stderr; with --json the last line of stdout is one JSON object with the results.
Bad arguments exit with status 2 and a message naming the argument.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from . import model as model_lib
from .config import CHOICE_LABELS, PARAMS, ConfigError, HyperParams
from .data import DataError


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
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best present)")
    parser.add_argument("--save", metavar="PATH", default=None, help="save the trained model here")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = vars(parser.parse_args(argv))
    as_json, device, save_to = args.pop("json"), args.pop("device"), args.pop("save")
    try:
        hp = HyperParams.validate(args)
    except ConfigError as e:
        parser.error("; ".join(f"{next(p.flag for p in PARAMS if p.name == k)}: {v}"
                               for k, v in e.errors.items()))
    from .trainer import Trainer  # imported late: --help and argument errors stay instant

    try:
        trainer = Trainer(hp, device=device)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    model = trainer.model
    print(f"{hp.describe()} · {model_lib.count_parameters(model):,} parameters · "
          f"{CHOICE_LABELS[hp.dataset]} · {len(trainer.split.train_idx):,} training images · "
          f"device {trainer.device}", file=sys.stderr)
    trainer.start()
    last_print = 0.0
    while not trainer.wait(timeout=0.5):
        s = trainer.snapshot()
        if time.monotonic() - last_print > 2:
            last_print = time.monotonic()
            print(f"  epoch {s.epoch:5.2f}/{s.epochs}  step {s.step}/{s.total_steps}  "
                  f"loss {s.train_loss or float('nan'):.4f}  "
                  f"val acc {s.val_accuracy if s.val_accuracy is not None else float('nan'):.4f}  "
                  f"{s.samples_per_second:,.0f} samples/s", file=sys.stderr)
    s = trainer.snapshot()
    print(f"{s.state}: {s.reason}", file=sys.stderr)
    curves, _ = trainer.history.snapshot()
    if save_to and s.state == "finished":
        model_lib.save(trainer.model_snapshot(), save_to, hyperparams=hp.to_dict(),
                       test_accuracy=s.test_accuracy)
    if as_json:
        print(json.dumps({
            "state": s.state, "reason": s.reason,
            "test_accuracy": s.test_accuracy, "test_loss": s.test_loss,
            "val_accuracy": s.val_accuracy, "val_loss": s.val_loss,
            "best_val_accuracy": s.best_val_accuracy,
            "final_train_loss": s.train_loss,
            "epochs_completed": sum(curves.val_full), "steps": s.step,
            "seconds": round(s.elapsed, 3), "samples_per_second": round(s.samples_per_second, 1),
            "diverged": s.state == "diverged", "params": model_lib.count_parameters(model),
            "device": s.device, "hyperparams": hp.to_dict(),
        }))
    return 0 if s.state in ("finished", "diverged") else 1


if __name__ == "__main__":
    sys.exit(main())
