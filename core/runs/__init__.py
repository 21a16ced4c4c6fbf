"""The run service: the one interface through which a run is submitted, controlled and read.

Pages, the CLI, sweeps and the teacher's view all talk to a RunService; none of them touches a
trainer. It owns four jobs, each a short method below:

- **admission**: a run is only created within the server's limits (memory per student and per
  server, unfinished runs per student, steps per run), or refused with what to shrink;
- **scheduling**: runs train in a fixed number of slots, handed out in fair order
  (core.runs.scheduler); a paused run gives its slot back;
- **recording**: every run is in the ledger (core.ledger); a supervisor thread copies each live
  run's new curve points and figures there about once a second (never from the training thread),
  and checkpoints go to files beside it;
- **care**: runs nobody watches are paused, then stopped; runs past the time limit are stopped;
  after a crash, runs that were active come back as "interrupted" and can be continued.

Where runs train is the executor's business (core.executors): threads here, or a Ray cluster.
"""
from core.runs.errors import Refused, WeightsUnavailable
from core.runs.service import RunService, make_executor
from core.runs.view import RunView, train_count

__all__ = ["Refused", "RunService", "RunView", "WeightsUnavailable", "make_executor", "train_count"]
