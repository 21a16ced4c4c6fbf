"""Which process trains a run, as a token that survives PID reuse: a server start does not mark a
live CLI's runs interrupted, and a run whose process is gone is never shown as running."""
from __future__ import annotations

import os
import socket

# -- which process trains a run (so a server start does not mark a live CLI's runs) ---------------

def _proc_stat(pid: int) -> tuple[str, str]:
    """(state letter, start time in clock ticks) of a process on Linux; ('', '') elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return rest[0], rest[19]
    except (OSError, IndexError):
        return "", ""


_me: dict[int, str] = {}


def this_process() -> str:
    """host|pid|start time: names this process uniquely, even after its pid is reused."""
    pid = os.getpid()
    if pid not in _me:
        _me[pid] = f"{socket.gethostname()}|{pid}|{_proc_stat(pid)[1]}"
    return _me[pid]


def process_alive(token: str) -> bool:
    """Is the process named by this_process() (maybe in another program) still running?"""
    try:
        host, pid, start = token.split("|")
        pid = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname() or os.name == "nt":
        return False        # a ledger moved from another machine; Windows: os.kill(pid, 0) is not a probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    state, started = _proc_stat(pid)
    return state not in ("Z", "X") and started == start   # a zombie, or the pid reused: gone
