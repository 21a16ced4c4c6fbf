"""A student's browser, simulated: one Streamlit session over the app's websocket.

A 2-core machine cannot run 30 or 60 Chromiums beside the server it measures, but the server
cannot tell a browser from this: the same websocket (/_stcore/stream), the same messages
(BackMsg / ForwardMsg, Streamlit's own protobuf classes), the same cookie. A Student opens a
page, clicks buttons and moves widgets by their keys (a BackMsg `rerun_script` carrying the
widget's new state, as the browser's WidgetManager sends it), hands the Draw page's canvas a
drawing (the component's value), and honours the server's `auto_rerun` messages the way the
browser does (a fragment rerun every `interval` seconds: that is what watching a run costs the
server). What it does not do is draw: no plotly, no layout, no JavaScript.

    student = Student("http://127.0.0.1:8501")
    await student.open("train", "epochs=1&width=32")
    seconds = await student.click("btn_start")       # until the page is complete again
    student.state()                                   # "running" (from core.states.BADGE)

Every message goes to 127.0.0.1 only (the app's own address), and every wait has a timeout.
"""
from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from core.states import BADGE

OWNER_COOKIE = "mnist_playground_owner"
FINISHED, FINISHED_EARLY, FRAGMENT_FINISHED = 0, 2, 3   # ForwardMsg.ScriptFinishedStatus


def owner_token() -> str:
    """A new owner token, as the app makes one for a new browser (24 URL-safe characters)."""
    return secrets.token_urlsafe(18)


@dataclass
class _Shown:
    element: object
    run: str
    fragment: str


@dataclass
class Run:
    """One script run the server did for this session (a page, a click, a fragment refresh)."""
    id: str
    fragment: bool
    started: float
    finished: float | None = None
    status: int | None = None


@dataclass
class Stats:
    clicks: list[tuple[str, float]] = field(default_factory=list)   # (what, seconds to answer)
    auto_reruns: int = 0
    fragment_runs: list[float] = field(default_factory=list)   # seconds each live-panel refresh ran
    errors: list[str] = field(default_factory=list)


class Student:
    def __init__(self, url: str, token: str | None = None, name: str = ""):
        parts = urlsplit(url)
        assert parts.hostname in ("127.0.0.1", "localhost"), "simulated students talk to this machine only"
        self.ws_url = f"ws://{parts.netloc}/_stcore/stream"
        self.token = token or owner_token()
        self.name = name
        self.ws = None
        self.query = ""
        self.page_hash = ""
        self.pages: dict[str, str] = {}          # url path -> page script hash
        self.shown: dict[tuple, _Shown] = {}     # delta path -> what is on the page there
        self.runs: dict[str, Run] = {}
        self.current: str | None = None          # the script run whose messages arrive now
        self.stats = Stats()
        self._finished = asyncio.Condition()
        self._timers: dict[str, asyncio.Task] = {}
        self._reader: asyncio.Task | None = None
        self._closed = False

    # -- connection -----------------------------------------------------------------------------

    async def connect(self) -> None:
        self.ws = await websockets.connect(
            self.ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=30,
            additional_headers={"Cookie": f"{OWNER_COOKIE}={self.token}"})
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        self._closed = True
        for t in self._timers.values():
            t.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass

    # -- what the student does ------------------------------------------------------------------

    async def open(self, page: str = "", query: str = "", timeout: float = 120) -> float:
        """Open a page by its URL path ("train", "draw"; "" the home page), like typing its
        address: a full run of the page. Returns the seconds until it was complete."""
        if self.ws is None:
            await self.connect()
        self.query = query
        self._stop_timers()
        return await self._rerun(page_name=page, page_hash=self.pages.get(page, ""), timeout=timeout,
                                 what=f"open {page or 'home'}")

    async def click(self, key: str, timeout: float = 60) -> float:
        """Press the button with Streamlit key `key`; seconds until the page was complete again
        (including the reruns the click asked for, e.g. Start's st.rerun())."""
        w = self.widget(key)
        if w is None:
            raise LookupError(f"{self.name}: no button {key!r} on the page")
        el, fragment = w
        if el.button.disabled:
            raise RuntimeError(f"{self.name}: button {key!r} is disabled")
        return await self._rerun(states=[("trigger_value", el.button.id, True)], fragment=fragment,
                                 timeout=timeout, what=f"click {key}")

    async def choose(self, key: str, option: str, timeout: float = 60) -> float:
        """Move a select slider (e.g. the learning rate) to the option shown as `option`."""
        el, fragment = self.widget(key)
        if option not in el.slider.options:
            raise ValueError(f"{key}: {option!r} is not one of {list(el.slider.options)}")
        return await self._rerun(states=[("string_array_value", el.slider.id, [option])],
                                 fragment=fragment, timeout=timeout, what=f"set {key}")

    async def type_text(self, key: str, text: str, timeout: float = 60) -> float:
        el, fragment = self.widget(key)
        return await self._rerun(states=[("string_value", el.text_input.id, text)],
                                 fragment=fragment, timeout=timeout, what=f"set {key}")

    async def send_component(self, key: str, value, timeout: float = 60) -> float:
        """Hand the component with key `key` (e.g. the Draw page's canvas) a new value, as its
        JavaScript would (Streamlit.setComponentValue)."""
        el, fragment = self.widget(key)
        kind = el.WhichOneof("type")
        wid = getattr(el, kind).id
        return await self._rerun(states=[("json_value", wid, json.dumps(value))], fragment=fragment,
                                 timeout=timeout, what=f"draw {key}")

    # -- what the page shows --------------------------------------------------------------------

    def elements(self):
        return [s.element for _, s in sorted(self.shown.items())]

    def widget(self, key: str):
        """(element, fragment id) of the widget whose Streamlit key is `key`, or None."""
        for path, s in sorted(self.shown.items()):
            kind = s.element.WhichOneof("type")
            wid = getattr(getattr(s.element, kind), "id", "") if kind else ""
            if isinstance(wid, str) and wid.endswith("-" + key):
                return s.element, s.fragment
        return None

    def texts(self) -> list[str]:
        out = []
        for el in self.elements():
            kind = el.WhichOneof("type")
            if kind in ("markdown", "alert"):
                out.append(getattr(el, kind).body)
            elif kind == "metric":
                out.append(f"{el.metric.label}: {el.metric.body}")
            elif kind == "exception":
                out.append(f"EXCEPTION {el.exception.type}: {el.exception.message}")
        return out

    def text(self) -> str:
        return "\n".join(self.texts())

    def status(self) -> str:
        """The Train page's status line ('**✅ finished** · run #1 · step ...'), or ''."""
        for t in self.texts():
            if " · run #" in t and t.startswith("**"):
                return t
        return ""

    def state(self) -> str | None:
        """The run's state on screen (a core.states constant), from the status line's badge."""
        status = self.status()
        for state, badge in BADGE.items():
            if status.startswith(f"**{badge}**"):
                return state
        return None

    def exceptions(self) -> list[str]:
        return [t for t in self.texts() if t.startswith("EXCEPTION")]

    def curve_points(self, names=("training", "validation")) -> int:
        """Points of the longest trace called one of `names` in the page's first plotly chart
        (0: no chart yet, or nothing plotted)."""
        for el in self.elements():
            if el.WhichOneof("type") == "plotly_chart" and el.plotly_chart.spec:
                data = json.loads(el.plotly_chart.spec).get("data", [])
                return max([_length(t.get("x")) for t in data if t.get("name") in names] or [0])
        return 0

    def metric(self, label: str) -> str | None:
        for el in self.elements():
            if el.WhichOneof("type") == "metric" and el.metric.label == label:
                return el.metric.body
        return None

    # -- waiting --------------------------------------------------------------------------------

    async def wait_until(self, check, timeout: float, every: float = 0.05) -> float:
        """Wait until check() is true (it is looked at after each message); seconds waited.
        Raises TimeoutError."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        async with self._finished:
            while not check():
                if self._reader is not None and self._reader.done():
                    raise ConnectionError(f"{self.name}: the server closed the connection")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name}: condition not met within {timeout:.0f} s")
                try:
                    await asyncio.wait_for(self._finished.wait(), min(left, every * 20))
                except asyncio.TimeoutError:
                    pass
        return time.monotonic() - t0

    # -- protocol -------------------------------------------------------------------------------

    async def _rerun(self, *, states=(), fragment: str = "", page_name: str = "", page_hash: str | None = None,
                     timeout: float, what: str, auto: bool = False) -> float:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_script_hash = self.page_hash if page_hash is None else page_hash
        cs.page_name = page_name
        if fragment:
            cs.fragment_id = fragment
        cs.is_auto_rerun = auto
        for kind, wid, value in states:
            ws = cs.widget_states.widgets.add()
            ws.id = wid
            if kind == "string_array_value":
                ws.string_array_value.data.extend(value)
            else:
                setattr(ws, kind, value)
        t0 = time.monotonic()
        mark = len(self.runs)
        await self.ws.send(msg.SerializeToString())
        if auto:
            return 0.0

        def complete() -> bool:
            # The page is complete again: a run that started after this message finished
            # normally, and no newer full run is under way (a click's st.rerun()).
            later = list(self.runs.values())[mark:]
            done = [r for r in later if r.finished is not None and r.status in (FINISHED, FRAGMENT_FINISHED)
                    and (r.fragment == bool(fragment) or not r.fragment)]
            pending = [r for r in later if r.finished is None and not r.fragment]
            return bool(done) and not pending
        try:
            await self.wait_until(complete, timeout)
        except TimeoutError:
            self.stats.errors.append(f"{what}: no answer within {timeout:.0f} s")
            raise
        seconds = time.monotonic() - t0
        self.stats.clicks.append((what, seconds))
        return seconds

    def _stop_timers(self, fragments=None) -> None:
        for fid in list(self._timers):
            if fragments is None or fid in fragments:
                self._timers.pop(fid).cancel()

    async def _auto_rerun(self, fragment: str, interval: float) -> None:
        """The browser's setInterval for a fragment with run_every."""
        while not self._closed:
            await asyncio.sleep(interval)
            try:
                await self._rerun(fragment=fragment, timeout=0, what="auto", auto=True)
                self.stats.auto_reruns += 1
            except websockets.ConnectionClosed:
                return

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                await self._handle(msg)
        except websockets.ConnectionClosed:
            pass
        except Exception as e:   # a bug here must not hang the bench: say so and stop
            self.stats.errors.append(f"reader: {type(e).__name__}: {e}")
        finally:
            async with self._finished:
                self._finished.notify_all()

    async def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        # Only new_session and script_finished name their run; the deltas between belong to the
        # run that new_session announced.
        run_id = msg.metadata.run.script_run_id or self.current or ""
        if kind == "new_session":
            fragments = list(msg.metadata.run.fragment_ids)
            self.current = run_id
            self.runs[run_id] = Run(run_id, bool(fragments), time.monotonic())
            ns = msg.new_session
            if ns.page_script_hash:
                self.page_hash = ns.page_script_hash
            for p in ns.app_pages:
                self.pages[p.url_pathname] = p.page_script_hash
            if not fragments:
                self._stop_timers()    # the browser clears its auto-reruns at each full run
        elif kind == "navigation":
            for p in msg.navigation.app_pages:
                self.pages[p.url_pathname] = p.page_script_hash
            if msg.navigation.page_script_hash:
                self.page_hash = msg.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "delta":
            d = msg.delta
            if d.WhichOneof("type") == "new_element":
                self.shown[tuple(msg.metadata.delta_path)] = _Shown(d.new_element, run_id, d.fragment_id)
        elif kind == "auto_rerun":
            ar = msg.auto_rerun
            old = self._timers.get(ar.fragment_id)
            if old is None or getattr(old, "interval", None) != ar.interval:
                if old is not None:
                    old.cancel()
                task = asyncio.create_task(self._auto_rerun(ar.fragment_id, ar.interval))
                task.interval = ar.interval
                self._timers[ar.fragment_id] = task
        elif kind == "stop_auto_rerun":
            self._stop_timers(set(msg.stop_auto_rerun.fragment_ids))
        elif kind == "script_finished":
            run = self.runs.get(run_id) or self.runs.get(self.current)
            if run is not None:
                run.finished, run.status = time.monotonic(), msg.script_finished
                if run.fragment:
                    self.stats.fragment_runs.append(run.finished - run.started)
                if msg.script_finished == FINISHED and not run.fragment:
                    # The page after a full run: what that run did not draw is gone.
                    self.shown = {p: s for p, s in self.shown.items() if s.run == run.id}
                elif msg.script_finished == FRAGMENT_FINISHED:
                    fids = set(msg.metadata.run.fragment_ids)
                    self.shown = {p: s for p, s in self.shown.items()
                                  if s.run == run.id or s.fragment not in fids}
        async with self._finished:
            self._finished.notify_all()


def in_thread(coro):
    """Run a coroutine on an event loop of its own thread: the caller's thread may hold a running
    loop already (Playwright's sync API, and so pytest-playwright, keeps one in the main thread)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _length(x) -> int:
    """Length of a plotly array: a list, or plotly's typed array {"dtype", "bdata"[, "shape"]}."""
    if isinstance(x, list):
        return len(x)
    if isinstance(x, dict) and "bdata" in x:
        if x.get("shape"):
            return int(str(x["shape"]).split(",")[0])
        import base64

        import numpy as np
        return len(base64.b64decode(x["bdata"])) // np.dtype(x.get("dtype", "f8")).itemsize
    return 0


def digit_drawing(seq: int = 1) -> dict:
    """A '7' as the Draw page's canvas sends it (core/drawing.py, message version 1): a top
    bar and a slanted stem, 20 px pen, on the 280x280 canvas."""
    return {"v": 1, "size": [280, 280], "seq": seq, "down": False, "pen": 20,
            "strokes": [{"w": 20, "p": [70, 60, 120, 58, 170, 57, 210, 60]},
                        {"w": 20, "p": [210, 60, 185, 120, 160, 180, 140, 235]}]}


STEP_RE = re.compile(r"step ([\d,]+) of ([\d,]+)")
