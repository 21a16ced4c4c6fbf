"""A real Ray cluster on this machine, as separate processes: a head and worker "nodes", each a
`ray start --block` of its own (so each can be stopped, or its raylet killed, on its own).

Used by the Ray tests and bench/bench_ray.py. Dashboard off, a small object store, every port
picked free, a temporary folder of its own; `stop()` ends every process it started (by process
group: `ray start` and the raylet, GCS, agents and workers it spawned), never `ray stop`, which
would end every Ray on the machine.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RAY = [sys.executable, "-m", "ray.scripts.scripts"]
OBJECT_STORE = 400 * 1024 * 1024   # MNIST's arrays take 220 MB of it, once per node
# Node deaths noticed in ~2 s instead of ~15 s (the GCS reads these at start).
# Patience on a busy 2-core machine: a node's agents and workers may take a while to start.
SETTINGS = {"RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "2000",
            "RAY_health_check_failure_threshold": "4", "RAY_health_check_initial_delay_ms": "1000",
            "RAY_agent_register_timeout_ms": "120000", "RAY_worker_register_timeout_seconds": "300",
            "RAY_USAGE_STATS_ENABLED": "0",
            # the daemons start at normal priority (a node gives up on agents slower than 30 s);
            # the training workers run at nice 10, as every heavy job on a shared machine should
            "RAY_worker_niceness": "10"}


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def free_range(size: int = 60) -> tuple[int, int]:
    """A run of free ports for a node's workers."""
    for base in range(21000 + os.getpid() % 200 * 50, 60000, 211):
        ok = True
        for port in range(base, base + size):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base, base + size - 1
    raise RuntimeError("no free port range")


def children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc)."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL what was started for one node: its `ray start`, its process group and every
    descendant (Ray puts each worker in a process group of its own)."""
    family = children(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in family:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


@dataclass
class Node:
    proc: subprocess.Popen
    log: Path
    cpus: int

    def raylet_pid(self) -> int:
        for p in children(self.proc.pid):
            if "/raylet " in cmdline(p) or cmdline(p).split(" ")[0].endswith("/raylet"):
                return p
        raise RuntimeError("this node has no raylet")

    def kill_raylet(self) -> None:
        """The node dies as a machine would: its raylet is killed, and its workers with it."""
        os.kill(self.raylet_pid(), signal.SIGKILL)


class LocalCluster:
    def __init__(self, folder: str | None = None):
        # Unix socket paths must stay under 108 bytes: a short folder of our own.
        self.folder = Path(folder or tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        self.nodes: list[Node] = []
        self.address: str | None = None
        self.env = {**os.environ, **SETTINGS}

    def _start(self, args: list[str], cpus: int, name: str, tries: int = 4) -> Node:
        """Start a node; on a busy machine `ray start` may give up waiting for its own agents
        (after a fixed 30 s): then it is tried again."""
        for attempt in range(tries):
            try:
                return self._start_once(args, cpus, name)
            except RuntimeError:
                node = self.nodes.pop()
                _kill_group(node.proc)
                if attempt == tries - 1:
                    raise

    def _start_once(self, args: list[str], cpus: int, name: str) -> Node:
        lo, hi = free_range()
        nm, om, al, ag, re, me = free_ports(6)
        log = self.folder / f"{name}.log"
        cmd = RAY + ["start", "--block", f"--num-cpus={cpus}", "--num-gpus=0",
                     f"--object-store-memory={OBJECT_STORE}", f"--temp-dir={self.folder / 't'}",
                     "--disable-usage-stats", f"--min-worker-port={lo}", f"--max-worker-port={hi}",
                     f"--node-manager-port={nm}", f"--object-manager-port={om}",
                     f"--dashboard-agent-listen-port={al}", f"--dashboard-agent-grpc-port={ag}",
                     f"--runtime-env-agent-port={re}", f"--metrics-export-port={me}", *args]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    env=self.env, start_new_session=True)
        node = Node(proc, log, cpus)
        self.nodes.append(node)
        deadline = time.monotonic() + 90
        while b"Ray runtime started" not in log.read_bytes():
            if proc.poll() is not None:
                raise RuntimeError(f"ray start failed:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ray start timed out:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        return node

    def start_head(self, cpus: int = 1) -> str:
        gcs, dash = free_ports(2)
        self._start(["--head", f"--port={gcs}", "--include-dashboard=false",
                     f"--dashboard-port={dash}", "--node-ip-address=127.0.0.1"], cpus, "head")
        self.address = f"127.0.0.1:{gcs}"
        return self.address

    def add_node(self, cpus: int = 1) -> Node:
        return self._start([f"--address={self.address}", "--node-ip-address=127.0.0.1"], cpus,
                           f"node{len(self.nodes)}")

    def stop(self) -> None:
        """End every process this cluster started, workers last-started first, head last."""
        for node in reversed(self.nodes):
            if node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 8
        for node in reversed(self.nodes):
            try:
                node.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _kill_group(node.proc)
        self.nodes.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
