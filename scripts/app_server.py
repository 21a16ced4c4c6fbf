"""Start the real app and a headless Chromium: shared by the browser tests, the benchmarks that
drive a real server (bench/bench_ui.py, bench_first_point.py, bench_load.py) and
scripts/take_screenshots.py.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright; never `playwright install`,
which needs the internet. The flags keep it from reaching for the network at start-up.

`running_app()` yields the URL of a server it stops afterwards; `app_server()` yields the
AppServer itself, for tests that kill a server (SIGKILL, as a crash would), restart it on the same
port and data folder (so a browser's old URL and cookie still apply), or read its memory.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Mapping

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# `python -m streamlit`, with SIGUSR1 wired to faulthandler (all threads' stacks to stderr).
_DUMPING_STREAMLIT = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
                      "sys.argv = ['streamlit', *sys.argv[1:]]; from streamlit.web.cli import main; main()")


class AppServer:
    """One `streamlit run app.py` process on 127.0.0.1. `home` is its MNIST_PLAYGROUND_HOME
    (None: inherited from this process's environment)."""

    def __init__(self, *, home: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
                 port: int | None = None, log=subprocess.DEVNULL, nice: int = 0,
                 thread_dumps: bool = False):
        self.home = Path(home) if home is not None else None
        self.env = dict(env or {})
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.nice = nice
        # SIGUSR1 (dump_threads()) writes every thread's stack to the log: for finding where a
        # stalled server waits. faulthandler reads the other threads' frames without the GIL, so
        # on a busy server the dump itself can crash the process: a debugging aid, never in tests.
        self.thread_dumps = thread_dumps
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "AppServer":
        """Start the process and wait for its health check. Raises RuntimeError if it does not
        answer within `timeout` s (e.g. the port is still held by a killed predecessor)."""
        env = {**os.environ, **self.env}
        if self.home is not None:
            env["MNIST_PLAYGROUND_HOME"] = str(self.home)
        launch = ["-c", _DUMPING_STREAMLIT] if self.thread_dumps else ["-m", "streamlit"]
        cmd = [sys.executable, *launch, "run", "app.py", "--server.headless", "true",
               "--server.fileWatcherType", "none", "--server.port", str(self.port),
               "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
        if self.nice:
            cmd = ["nice", "-n", str(self.nice), *cmd]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if urllib.request.urlopen(self.url + "/_stcore/health", timeout=2).read() == b"ok":
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"streamlit did not start on port {self.port}")
            time.sleep(0.3)

    def dump_threads(self) -> None:
        """Ask a server started with thread_dumps=True to write every thread's stack to its log
        (to see where a stalled server waits)."""
        if self.alive():
            self.proc.send_signal(signal.SIGUSR1)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash or an out-of-memory kill would: nothing gets to clean up."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """The ordinary shutdown (SIGTERM, as Ctrl-C or a service manager would)."""
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def restart(self, timeout: float = 60) -> "AppServer":
        """Stop (if still running) and start again on the same port and data folder."""
        self.stop()
        deadline = time.monotonic() + timeout
        while True:   # the port can take a moment to be free again after a kill
            try:
                return self.start(timeout=max(5.0, deadline - time.monotonic()))
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def rss(self) -> int:
        """The server process's resident memory in bytes (Linux /proc), 0 if it is gone."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except (OSError, AttributeError):
            pass
        return 0


@contextlib.contextmanager
def app_server(log=subprocess.DEVNULL, timeout: float = 60, **kwargs) -> Iterator[AppServer]:
    """An AppServer (see its arguments) started for the block and stopped afterwards."""
    server = AppServer(log=log, **kwargs)
    server.start(timeout)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def running_app(log=subprocess.DEVNULL, timeout: float = 60, **kwargs) -> Iterator[str]:
    """`streamlit run app.py` on a free port; yields its URL once it answers its health check,
    and stops it afterwards. Raises RuntimeError if it does not start within `timeout` s.
    Keyword arguments (home, env, port, nice) as for AppServer."""
    with app_server(log, timeout, **kwargs) as server:
        yield server.url


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
