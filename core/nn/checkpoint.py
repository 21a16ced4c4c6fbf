"""Checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint holds the model's and the optimizer's state, the run's random generator, where it
was in the epoch (the epoch's batch order and the next batch) and its counters, as plain tensors
and numbers only, so that it loads with `torch.load(weights_only=True)`: a checkpoint file can
never run code. Continuing from it gives the same curves as a run that never stopped (on the CPU).

Where checkpoints go is the caller's choice: the trainer hands them to a *sink*, a callable
`sink(kind, state)` with kind "checkpoint" (the newest state) or "best" (early stopping's best
weights). The run service's sink writes files beside the ledger; a remote executor's sink keeps
the bytes for the server to fetch.
"""
from __future__ import annotations

from typing import Callable

import torch

FORMAT = 1
CHECKPOINT, BEST = "checkpoint", "best"
Sink = Callable[[str, dict], None]


class CheckpointError(ValueError):
    """The checkpoint does not belong to this run or is damaged; the message says which."""


def cpu(state: dict) -> dict:
    """A copy of a (nested) state dict with every tensor on the CPU."""
    out = {}
    for k, v in state.items():
        if isinstance(v, torch.Tensor):
            out[k] = v.detach().to("cpu", copy=True)
        elif isinstance(v, dict):
            out[k] = cpu(v)
        elif isinstance(v, list):
            out[k] = [cpu(x) if isinstance(x, dict) else x for x in v]
        else:
            out[k] = v
    return out


def check(state: dict, config: dict) -> None:
    """Refuse a checkpoint of another format or of other settings (the weights would not fit)."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError("this checkpoint was written by another version of the playground")
    theirs = state.get("config") or {}
    structural = [k for k in ("dataset", "depth", "width", "batch_norm", "batch_size", "subset",
                              "val_fraction", "seed", "optimizer", "loss") if theirs.get(k) != config.get(k)]
    if structural:
        raise CheckpointError("this checkpoint belongs to a run with other settings "
                              f"({', '.join(structural)})")
