"""`python -m core.sweep`: a grid or a lecture's table from the command line; the last stdout line
is the sweep as JSON; bad grids and flags exit 2."""
from __future__ import annotations

import argparse
import json
import sys

from core import states
from core.nn.config import PARAM, PARAMS, ConfigError, HyperParams
from core.sweeps.runner import Sweep, run_sweep, sweep_json
from core.sweeps.spec import MAX_SEEDS, METRICS, SweepError, SweepSpec, parse_grid

# -- the command line ---------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from core.sweeps.presets import PRESETS
    parser = argparse.ArgumentParser(
        prog="python -m core.sweep",
        description="Train a grid of runs (one or two parameters x seeds) or a lesson preset, and "
                    "print the lecture-style table. Progress goes to stderr; with --json the last "
                    "stdout line is one JSON object (the runs and the table).",
        epilog="examples:\n  python -m core.sweep --preset init-sigma --json\n"
               "  python -m core.sweep --grid lr=1e-3,1e-2 --grid width=10,100,1000 --seeds 3 --epochs 2 --json\n"
               "presets: " + ", ".join(PRESETS),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_argument_group("what to sweep")
    what.add_argument("--preset", choices=list(PRESETS), help="a lesson preset (its settings, grid and check)")
    what.add_argument("--reduced", action="store_true",
                      help="the preset's reduced form: fewer images and epochs, same lesson, seconds")
    what.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                      help="a parameter and its values (once or twice); per-layer widths in "
                           "parentheses: width=(200,100),(30,30)")
    what.add_argument("--seeds", type=int, default=None, metavar="N", help=f"seeds per cell, 1 to {MAX_SEEDS} (default 1)")
    what.add_argument("--metric", choices=[m for m in METRICS if m.endswith("accuracy")], default=None,
                      help="what the table's cells show (default test_accuracy)")
    from core.cli.train import add_common_flags
    add_common_flags(parser)          # --home, --device, --ray-address: as python -m core.train
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    base = parser.add_argument_group("base settings (as python -m core.train; a preset's own unless given)")
    for p in PARAMS:
        if p.kind is bool:
            base.add_argument(p.flag, dest=p.name, default=argparse.SUPPRESS,
                              action=argparse.BooleanOptionalAction, help=p.help)
        else:
            base.add_argument(p.flag, dest=p.name, default=argparse.SUPPRESS,
                              metavar=p.kind.__name__.upper(), help=p.help)
    return parser


def spec_from_args(args: argparse.Namespace) -> SweepSpec:
    """The sweep the command line asks for; SweepError (with every problem) when it cannot run."""
    from core.sweeps.presets import PRESETS
    given = {p.name: getattr(args, p.name) for p in PARAMS if hasattr(args, p.name)}
    if args.preset and args.grid:
        raise SweepError(["give either --preset or --grid, not both"])
    if args.seeds is not None and not 1 <= args.seeds <= MAX_SEEDS:
        raise SweepError([f"--seeds: give 1 to {MAX_SEEDS}, not {args.seeds}"])
    if args.reduced and not args.preset:
        raise SweepError(["--reduced goes with --preset"])
    if args.preset:
        preset = PRESETS[args.preset]
        try:
            spec = preset.spec(reduced=args.reduced, seeds=args.seeds, **given)
        except ConfigError as e:
            raise SweepError([f"{PARAM[k].flag if k in PARAM else k}: {v}" for k, v in e.errors.items()]) from None
        if args.metric:
            spec = SweepSpec.build(spec.base, spec.axes, spec.seeds, metric=args.metric,
                                   columns=(args.metric, *[c for c in spec.columns if c != args.metric]),
                                   name=spec.name, preset=spec.preset)
        return spec
    if not args.grid:
        raise SweepError(["give a --preset or at least one --grid NAME=VALUES (e.g. --grid lr=1e-3,1e-2)"])
    axes, problems = [], []
    for text in args.grid:
        try:
            axes.append(parse_grid(text))
        except SweepError as e:
            problems += e.problems
    if problems:
        raise SweepError(problems)
    try:
        base = HyperParams.validate(given)
    except ConfigError as e:
        raise SweepError([f"{PARAM[k].flag}: {v}" for k, v in e.errors.items()]) from None
    metric = args.metric or "test_accuracy"
    return SweepSpec.build(base, axes, args.seeds or 1, metric=metric, columns=(metric,))


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        spec = spec_from_args(args)
    except SweepError as e:
        parser.error("; ".join(e.problems))
    from core.cli.train import apply_common_flags, make_service
    device = apply_common_flags(parser, {k: getattr(args, k) for k in ("home", "device", "ray_address")})
    from core.executors import ClusterUnavailable
    from core.ledger import LedgerError
    from core.nn.data import DataError
    from core.runs import Refused
    try:
        svc = make_service(device)   # every core of this machine, or the Ray cluster named
    except (LedgerError, OSError) as e:
        parser.error(f"--home: cannot use the data folder: {e}")
    except ClusterUnavailable as e:
        parser.error(str(e))
    owner = "cli"
    _say(f"{spec.name + ': ' if spec.name else ''}{spec.describe()} · {svc.slots()} training slot"
         f"{'s' if svc.slots() > 1 else ''} of {svc.limits.threads_per_run} thread"
         f"{'s' if svc.limits.threads_per_run > 1 else ''} · ledger {svc.ledger.home}")
    reported: set[str] = set()

    def progress(sweep: Sweep) -> None:
        for r in sweep.results():
            if r.ended and r.run_id not in reported:
                reported.add(r.run_id)
                figure = (f"test accuracy {r.test_accuracy:.2%}" if r.test_accuracy is not None
                          else r.reason)
                _say(f"  [{len(reported)}/{len(spec.runs())}] {sweep.label(r.hp)}: {r.state}, {figure} "
                     f"({r.seconds or 0:.1f} s)")
        if sweep.waiting_for:
            _say(f"  waiting: {sweep.waiting_for}")

    try:
        try:
            sweep = run_sweep(svc, owner, spec, on_progress=progress)
        except Refused as e:
            parser.error(str(e))
        except DataError as e:
            _say(f"error: {e}")
            return 1
        except KeyboardInterrupt:
            _say("cancelled")
            return 130
        progress(sweep)
        results = sweep.results()
        table = sweep.table(results)
        _say("\n" + table.to_text())
        out = sweep_json(sweep, results, table)
        if "preset" in out:
            failed = out["preset"]["failed"] or []
            _say(f"expected: {out['preset']['expected']}\n" + ("lesson visible ✓" if not failed else
                                                                "not as expected: " + "; ".join(failed)))
        if args.json:
            print(json.dumps(out, allow_nan=False, default=_json_default))
        bad = [r for r in results if r.state not in (states.FINISHED, states.DIVERGED)]
        return 1 if bad else 0
    finally:
        svc.close()


def _json_default(x):
    raise TypeError(f"not JSON: {type(x).__name__}")


if __name__ == "__main__":
    sys.exit(main())
