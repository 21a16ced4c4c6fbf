"""Where runs train. An executor turns a run's settings into a *handle* the run service drives.

The handle's interface (core.nn.trainer.Trainer is the reference implementation):
    start(); pause(reason=""); resume(); step_once() -> bool; stop(reason=""); set_live(name, value)
    grant(); revoke(); wants_slot (property); holds_slot (property)      -- the training slot
    snapshot() -> RunSnapshot; history (a core.nn.history.History with the run's curves)
    model_snapshot() -> MLP (CPU, eval); initial_state_dict() -> dict
    steps_per_epoch; total_steps; wait(timeout) -> bool
Checkpoints go to the `sink` the service gives the executor: sink(kind, state).

- LocalExecutor (core.executors.local): threads in this process (the default).
- RayExecutor (core.executors.ray): actors on a Ray cluster, only where an operator names one.
"""


class ClusterUnavailable(RuntimeError):
    """The Ray cluster the operator named cannot be used (unreachable, or Ray not installed
    here); the message says which address and what to do. Defined here, not in
    core.executors.ray, so that callers can catch it without importing Ray."""
