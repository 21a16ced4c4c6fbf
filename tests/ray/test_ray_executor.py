"""Runs on a real Ray cluster (a head and a worker node, separate processes on this machine),
driven through the run service exactly as the pages drive it: the same curves as a run on the
server's own threads, the controls, a sweep over both nodes, a node that dies mid-run, and a web
server that restarts while its runs go on."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -r requirements-ray.txt")

from core.ledger import Ledger  # noqa: E402
from core.nn.config import HyperParams  # noqa: E402
from core.nn.trainer import Trainer  # noqa: E402
from core.runs import RunService  # noqa: E402
from core.settings import Limits  # noqa: E402
from core.states import FINISHED, INTERRUPTED, PAUSED, RUNNING, STOPPED  # noqa: E402

pytestmark = pytest.mark.ray

LIMITS = Limits.defaults().replace(training_cores=1, threads_per_run=1)
TINY = dict(subset=1000, depth=1, width="32", epochs=1, batch_size=100, dropout=0, lr=0.01)
PATIENCE = 240.0   # seconds; a worker's first start (Python + torch) is slow on a busy 2-core machine


def hp(**kw) -> HyperParams:
    return HyperParams.validate(**{**TINY, **kw})


def wait_until(cond, timeout=PATIENCE, what="condition"):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def local_run(h: HyperParams):
    """The same run on this process's threads (1 torch thread, as on the cluster)."""
    t = Trainer(h, device="cpu", threads=1)
    assert t.start() and t.wait(120)
    return t.history.snapshot()[0], t.model_snapshot()


def handle(svc, run_id):
    lv = svc._live.get(run_id) or svc._ended.get(run_id)
    return lv.handle


def worker_node_id() -> str:
    [node] = [n["NodeID"] for n in ray.nodes()
              if n["Alive"] and "node:__internal_head__" not in n["Resources"]]
    return node


@pytest.fixture
def service(cluster, tmp_path):
    from core.executors.ray import RayExecutor
    made = []

    def make(home=tmp_path / "home"):
        svc = RunService(Ledger(home), executor=RayExecutor(cluster.address, LIMITS), limits=LIMITS)
        made.append(svc)
        return svc
    yield make
    for svc in made:
        svc.close()


def test_a_run_on_the_cluster_gives_the_curves_and_weights_of_a_run_on_threads(service):
    svc = service()
    assert svc.slots() == 2                       # two nodes of 1 CPU, 1 thread per run
    h = hp()
    run = svc.submit("alice", h)
    assert svc.wait(run.id, PATIENCE)
    rec = svc.ledger.get_run(run.id)
    assert rec.state == FINISHED and rec.step == rec.total_steps == 10 and rec.checkpoint_step == 10
    assert svc.ledger.checkpoint_path(run.id).is_file()
    curves = svc.ledger.load_curves(run.id)
    ref, ref_model = local_run(h)
    assert curves.step == list(range(1, 11)) and curves.val_step == ref.val_step
    assert curves.loss == ref.loss and curves.val_acc == ref.val_acc     # bit for bit
    model = run.model()
    for (name, a), b in zip(model.state_dict().items(), ref_model.state_dict().values()):
        assert torch.equal(a, b), name
    assert "Ray node" in run.snapshot().device
    assert rec.test_accuracy == pytest.approx(run.snapshot().test_accuracy)
    init = handle(svc, run.id).initial_state_dict()
    assert all(torch.equal(init[k], v) for k, v in run.initial_model().state_dict().items())
    # the next run takes the same worker (no new Python + torch to start)
    first = handle(svc, run.id).timings
    submitted = time.time()
    again = svc.submit("alice", hp(seed=1))
    assert svc.wait(again.id, PATIENCE) and again.snapshot().state == FINISHED
    second = handle(svc, again.id).timings
    assert second["pid"] == first["pid"] and second["host_started"] < submitted < second["loading"]


def test_pause_step_live_change_park_resume_and_stop(service, monkeypatch):
    from core.executors.ray import RayRun
    monkeypatch.setattr(RayRun, "PARK_SECONDS", 1.0)
    svc = service()
    run = svc.submit("bob", hp(subset=2000, batch_size=50, epochs=30))
    wait_until(lambda: run.snapshot().step >= 3, what="the first steps")
    svc.pause("bob", run.id)
    wait_until(lambda: run.snapshot().state == PAUSED, 30, "paused")
    at = run.snapshot().step
    time.sleep(1.0)
    assert run.snapshot().step == at                     # a paused run does not train

    svc.step("bob", run.id)
    wait_until(lambda: run.snapshot().step == at + 1 and run.snapshot().state == PAUSED, 30, "one step")
    time.sleep(0.8)
    assert run.snapshot().step == at + 1                 # exactly one

    # paused for a while: the run gives its CPUs back (its checkpoint is on the server)...
    wait_until(lambda: not handle(svc, run.id).placed, 30, "parked")
    assert svc.slots() == 2
    assert svc.ledger.get_run(run.id).checkpoint_step == at + 1
    before = run.model().state_dict()                    # weights still readable while parked
    svc.set_live("bob", run.id, "lr", 0.001)
    # ... and Resume places it again (on either node) to go on from the same step
    svc.resume("bob", run.id)
    wait_until(lambda: run.snapshot().step > at + 4 and run.snapshot().state == RUNNING, what="resumed")
    assert run.snapshot().live["lr"] == 0.001
    after = run.model().state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    svc.stop("bob", run.id)
    assert svc.wait(run.id, 60)
    rec = svc.ledger.get_run(run.id)
    assert rec.state == STOPPED and rec.reason == f"stopped by the user at step {rec.step:,}"
    assert rec.checkpoint_step == rec.step
    curves = svc.ledger.load_curves(run.id)
    assert curves.step == list(range(1, rec.step + 1))   # no step lost or repeated across the park
    [event] = [e for e in curves.events if e["kind"] == "lr"]
    assert event == {"step": at + 1, "kind": "lr", "text": "lr 0.01 → 0.001"}


def test_a_sweep_fans_out_over_both_nodes_which_load_mnist_once(service):
    from core.executors.ray import NAMESPACE, VERSION
    from core.sweeps.runner import run_sweep
    from core.sweeps.spec import SweepSpec, parse_grid
    svc = service()
    spec = SweepSpec.build(hp(epochs=2), [parse_grid("lr=0.01,0.05")], seeds=2)
    assert len(spec.runs()) == 4
    sweep = run_sweep(svc, "carol", spec)
    results = sweep.results()
    assert [r.state for r in results] == [FINISHED] * 4
    nodes = {handle(svc, r.run_id)._node for r in results}
    assert len(nodes) == 2
    for node in nodes:      # one data shelf per node, which read the data set's files once
        shelf = ray.get_actor(f"data-{VERSION}-{node}", namespace=NAMESPACE)
        assert ray.get(shelf.loads.remote()) == {"mnist": 1}


def test_a_node_that_dies_interrupts_its_run_and_continue_finishes_it_on_the_other(service, cluster):
    svc = service()
    h = hp(subset=500, batch_size=50, epochs=12)         # 10 steps an epoch, a checkpoint each
    runs = [svc.submit("dave", h) for _ in range(2)]
    wait_until(lambda: all(handle(svc, r.id)._node for r in runs), what="both runs placed")
    worker = worker_node_id()
    [victim] = [r for r in runs if handle(svc, r.id)._node == worker]
    [other] = [r for r in runs if r is not victim]
    wait_until(lambda: (svc.ledger.get_run(victim.id).checkpoint_step or 0) >= 10, what="a checkpoint")
    cluster.nodes[-1].kill_raylet()                      # the worker node (nodes[0] is the head)
    wait_until(lambda: victim.snapshot().state == INTERRUPTED, 60, "interrupted")
    snap, rec = victim.snapshot(), svc.ledger.get_run(victim.id)
    svc.wait(victim.id, 10)
    rec = svc.ledger.get_run(victim.id)
    assert rec.state == INTERRUPTED and rec.ended is not None
    assert snap.reason == (f"the cluster node training this run stopped at step {snap.step:,}; Continue "
                           f"resumes it from the checkpoint of step {rec.checkpoint_step:,} on another node")
    svc.stop("dave", other.id)
    assert svc.wait(other.id, 60)
    wait_until(lambda: svc.slots() == 1, 30, "the cluster to count one node")
    svc.continue_run("dave", victim.id)
    assert svc.wait(victim.id, PATIENCE)
    rec = svc.ledger.get_run(victim.id)
    assert rec.state == FINISHED and rec.step == 120
    assert handle(svc, victim.id)._node != worker
    curves = svc.ledger.load_curves(victim.id)
    ref, _ = local_run(h)
    assert curves.step == list(range(1, 121)) and curves.loss == ref.loss   # as if never interrupted
    cluster.add_node(cpus=1)                             # (for the tests after this one)


SERVER = textwrap.dedent("""
    import sys, time
    from core.nn.config import HyperParams
    from core.ledger import Ledger
    from core.runs import RunService
    from core.settings import Limits
    limits = Limits.defaults().replace(training_cores=1, threads_per_run=1)
    svc = RunService(Ledger(sys.argv[1]), limits=limits)     # the executor from the environment
    run = svc.submit("erin", HyperParams.validate(**eval(sys.argv[2])))
    print(type(svc.executor).__name__, run.id, flush=True)
    time.sleep(3600)
""")


def test_a_restarted_web_server_finds_its_cluster_runs_again(cluster, tmp_path):
    from core.executors.ray import RayExecutor
    home = tmp_path / "home"
    h = hp(subset=1000, batch_size=20, epochs=4)         # 200 steps
    env = {**os.environ, "MNIST_PLAYGROUND_RAY_ADDRESS": cluster.address}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(home), repr(h.to_dict())],
                              stdout=subprocess.PIPE, text=True, env=env, cwd=os.getcwd())
    try:
        kind, run_id = server.stdout.readline().split()
        assert kind == "RayExecutor"
        ledger = Ledger(home)
        wait_until(lambda: (ledger.get_run(run_id).step or 0) > 0, what="the first recorded steps")
    finally:
        server.send_signal(signal.SIGKILL)               # the web server dies; its run goes on
        server.wait()
    svc = RunService(Ledger(home), executor=RayExecutor(cluster.address, LIMITS), limits=LIMITS)
    try:
        assert svc.reattached == [run_id] and svc.recovered == []
        run = svc.get("erin", run_id)
        assert run.snapshot().state in (RUNNING, FINISHED)
        assert svc.wait(run_id, PATIENCE)
        rec = svc.ledger.get_run(run_id)
        assert rec.state == FINISHED and rec.step == 200 and rec.checkpoint_step == 200
        curves = svc.ledger.load_curves(run_id)
        ref, _ = local_run(h)
        assert curves.step == list(range(1, 201)) and curves.loss == ref.loss   # nothing lost or doubled
        assert curves.val_step == ref.val_step
    finally:
        svc.close()


def test_without_an_address_the_app_does_not_import_ray(tmp_path):
    code = ("import sys; from core.runs import RunService; from core.ledger import Ledger; "
            f"svc = RunService(Ledger({str(tmp_path)!r})); "
            "print(type(svc.executor).__name__, 'ray' in sys.modules); svc.close()")
    env = {k: v for k, v in os.environ.items() if k != "MNIST_PLAYGROUND_RAY_ADDRESS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.split() == ["LocalExecutor", "False"], out.stderr


def test_an_address_without_ray_installed_is_named_not_a_traceback():
    code = ("import sys; sys.modules['ray'] = None\n"          # as if Ray were not installed
            "from core.executors import ClusterUnavailable; from core.runs import make_executor\n"
            "from core.settings import Limits\n"
            "try:\n    make_executor(Limits.defaults())\n"
            "except ClusterUnavailable as e:\n    print(e)")
    env = {**os.environ, "MNIST_PLAYGROUND_RAY_ADDRESS": "head:6379"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.startswith("MNIST_PLAYGROUND_RAY_ADDRESS (or --ray-address) names a Ray cluster "
                                 "('head:6379'), but Ray cannot be imported here"), out.stderr
    assert out.stdout.rstrip().endswith("pip install -r requirements-ray.txt")


def test_only_live_settings_reach_the_cluster_and_an_unreachable_cluster_is_named(service):
    from core.executors.ray import ClusterUnavailable, RayExecutor
    svc = service()
    run = svc.submit("frank", hp(), start=False)
    for name, value in (("depth", 3), ("lr", float("nan"))):
        with pytest.raises(ValueError):
            handle(svc, run.id).set_live(name, value)
    svc.delete("frank", run.id)
    ray.shutdown()
    with pytest.raises(ClusterUnavailable, match="cannot reach the Ray cluster at '127.0.0.1:9'"):
        RayExecutor("127.0.0.1:9", LIMITS)
