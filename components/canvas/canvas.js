// The Draw page's canvas: freehand pen only (mouse, finger or stylus, through Pointer Events),
// Undo / Redo / Clear buttons that are always visible, a pen width slider. It sends its strokes
// to Python while the pen moves (at most every MOVE_MS, and only once the page has answered the
// previous update) and at once when the pen lifts. The message format is documented, decoded
// and tested in core/drawing.py.
//
// Streamlit's component protocol (components.v1) is plain window.postMessage, no library:
//   to Streamlit:   {isStreamlitMessage: true, type: "streamlit:componentReady", apiVersion: 1}
//                   {isStreamlitMessage: true, type: "streamlit:setComponentValue", value, dataType: "json"}
//                   {isStreamlitMessage: true, type: "streamlit:setFrameHeight", height}
//   from Streamlit: {type: "streamlit:render", args, disabled, theme}: after componentReady and
//                   whenever the arguments change. pages/canvas.py passes {pen, ack, restore}:
//                   `ack` is the seq of the last message the page has answered.
"use strict";
(function () {
  const SIZE = 280;          // canvas pixels (CSS pixels; the bitmap is scaled for sharp screens)
  const MOVE_MS = 100;       // while the pen moves: at most one update per 100 ms (10 a second)
  const STALE_MS = 1000;     // ... waiting for the page's answer to the previous one at most this long
  const MIN_STEP = 1.5;      // px between kept points: closer ones add bytes, not ink

  const canvas = document.getElementById("canvas");
  const ctx = canvas.getContext("2d");
  const hint = document.getElementById("hint");
  const undoBtn = document.getElementById("undo");
  const redoBtn = document.getElementById("redo");
  const clearBtn = document.getElementById("clear");
  const penInput = document.getElementById("pen");
  const penValue = document.getElementById("penvalue");

  // Undo history: each state is the list of strokes on the canvas; `at` is the one shown.
  // A stroke is {w: pen width, p: [[x, y], ...]}. States share stroke objects.
  let states = [[]];
  let at = 0;
  let pen = 20;
  let pointerId = null;      // the pointer drawing now (one at a time: a palm or a second finger is ignored)
  let stroke = null;
  let seq = Date.now();      // message number, increasing (also across reloads of this frame)
  let inflight = 0;          // seq of the last update the page has not answered yet (0: none)
  let inflightAt = 0;
  let lastSent = 0;
  let dirty = false;         // the drawing changed since the last message
  let timer = null;
  let started = false;
  // For bench/bench_draw.py and the browser tests: messages sent, the last one, and when the pen
  // last went down, last added ink and went up (epoch milliseconds, comparable with the parent
  // page's clock).
  const stats = window.canvasStats = {sent: 0, last: null, penDownAt: 0, inkAt: 0, penUpAt: 0};
  const clock = () => performance.timeOrigin + performance.now();

  const current = () => states[at];

  function post(type, data) {
    window.parent.postMessage(Object.assign({isStreamlitMessage: true, type: type}, data), "*");
  }

  // -- drawing on screen ---------------------------------------------------------------------

  function setupBitmap() {
    const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
    canvas.width = Math.round(SIZE * dpr);
    canvas.height = Math.round(SIZE * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
  }

  function dot(x, y, w) {
    ctx.beginPath();
    ctx.arc(x, y, w / 2, 0, 2 * Math.PI);
    ctx.fill();
  }

  function segment(a, b, w) {
    ctx.lineWidth = w;
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
  }

  function drawStroke(s) {
    if (s.p.length === 1) return dot(s.p[0][0], s.p[0][1], s.w);
    ctx.lineWidth = s.w;
    ctx.beginPath();
    ctx.moveTo(s.p[0][0], s.p[0][1]);
    for (let i = 1; i < s.p.length; i++) ctx.lineTo(s.p[i][0], s.p[i][1]);
    ctx.stroke();
  }

  function redraw() {
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);   // the CSS background is black
    ctx.restore();
    current().forEach(drawStroke);
    refreshTools();
  }

  function refreshTools() {
    const busy = pointerId !== null;
    undoBtn.disabled = busy || at === 0;
    redoBtn.disabled = busy || at === states.length - 1;
    clearBtn.disabled = busy || current().length === 0;
    hint.style.display = current().length || busy ? "none" : "flex";
  }

  // -- messages to Python ----------------------------------------------------------------------

  function flat(points) {
    const out = [];
    for (const [x, y] of points) {
      const rx = Math.round(x), ry = Math.round(y);
      const n = out.length;
      if (n && out[n - 2] === rx && out[n - 1] === ry) continue;
      out.push(rx, ry);
    }
    return out;
  }

  function message(down) {
    return {v: 1, size: [SIZE, SIZE], seq: seq, down: down, pen: pen,
            strokes: current().map(s => ({w: s.w, p: flat(s.p)}))};
  }

  function send(down) {
    clearTimeout(timer);
    timer = null;
    seq = Math.max(seq + 1, Date.now());
    const msg = message(down);
    post("streamlit:setComponentValue", {value: msg, dataType: "json"});
    stats.sent += 1;
    stats.last = msg;
    inflight = seq;
    inflightAt = lastSent = performance.now();
    dirty = false;
  }

  // While the pen moves: send the drawing if it changed, no sooner than MOVE_MS after the last
  // message, and once the page has answered that one (so a slow server is never flooded:
  // Streamlit would interrupt each answer with the next update and show none of them).
  function pump() {
    if (!dirty || pointerId === null) return;
    const now = performance.now();
    const wait = inflight && now - inflightAt < STALE_MS
      ? STALE_MS - (now - inflightAt) : lastSent + MOVE_MS - now;
    if (wait > 0) {
      clearTimeout(timer);
      timer = setTimeout(pump, wait);
      return;
    }
    send(true);
  }

  // -- the pen ---------------------------------------------------------------------------------

  function position(e) {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * SIZE / r.width, (e.clientY - r.top) * SIZE / r.height];
  }

  function addPoint(p) {
    const last = stroke.p[stroke.p.length - 1];
    if (Math.hypot(p[0] - last[0], p[1] - last[1]) < MIN_STEP) return;
    segment(last, p, stroke.w);
    stroke.p.push(p);
    stats.inkAt = clock();
    dirty = true;
  }

  canvas.addEventListener("pointerdown", e => {
    if (pointerId !== null || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    stats.penDownAt = stats.inkAt = clock();
    pointerId = e.pointerId;
    canvas.setPointerCapture(e.pointerId);
    const p = position(e);
    stroke = {w: pen, p: [p]};
    states = states.slice(0, at + 1);
    states.push(current().concat([stroke]));
    at += 1;
    dot(p[0], p[1], pen);
    refreshTools();
    dirty = true;
    pump();
  });

  canvas.addEventListener("pointermove", e => {
    if (e.pointerId !== pointerId) return;
    e.preventDefault();
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) addPoint(position(ev));
    pump();
  });

  function penUp(e) {
    if (e.pointerId !== pointerId) return;
    stats.penUpAt = clock();
    addPoint(position(e));
    pointerId = null;
    stroke = null;
    refreshTools();
    send(false);
  }
  canvas.addEventListener("pointerup", penUp);
  canvas.addEventListener("pointercancel", penUp);
  canvas.addEventListener("lostpointercapture", penUp);
  canvas.addEventListener("contextmenu", e => e.preventDefault());

  // -- tools -----------------------------------------------------------------------------------

  function undo() {
    if (pointerId !== null || at === 0) return;
    at -= 1;
    redraw();
    send(false);
  }

  function redo() {
    if (pointerId !== null || at === states.length - 1) return;
    at += 1;
    redraw();
    send(false);
  }

  function clear() {
    if (pointerId !== null || current().length === 0) return;
    states = states.slice(0, at + 1);
    states.push([]);
    at += 1;            // Undo brings the drawing back
    redraw();
    send(false);
  }

  undoBtn.addEventListener("click", undo);
  redoBtn.addEventListener("click", redo);
  clearBtn.addEventListener("click", clear);
  document.addEventListener("keydown", e => {
    if (!(e.ctrlKey || e.metaKey)) return;
    const k = e.key.toLowerCase();
    if (k === "z" && !e.shiftKey) { e.preventDefault(); undo(); }
    else if ((k === "z" && e.shiftKey) || k === "y") { e.preventDefault(); redo(); }
  });

  function setPen(w) {
    pen = Math.max(Number(penInput.min), Math.min(Number(penInput.max), Math.round(w)));
    penInput.value = String(pen);
    penValue.textContent = pen + " px";
  }
  penInput.addEventListener("input", () => setPen(Number(penInput.value)));

  // -- Streamlit -------------------------------------------------------------------------------

  function applyTheme(theme) {
    if (!theme) return;
    const root = document.documentElement.style;
    if (theme.textColor) root.setProperty("--text", theme.textColor);
    if (theme.backgroundColor) root.setProperty("--bg", theme.backgroundColor);
    if (theme.primaryColor) root.setProperty("--accent", theme.primaryColor);
    if (theme.font) document.body.style.fontFamily = theme.font;
  }

  // A freshly opened canvas gets back the drawing the page last saw (e.g. after a visit to
  // another page): its strokes become the first state of the history.
  function restore(msg) {
    if (!msg || !Array.isArray(msg.strokes) || current().length) return;
    const strokes = msg.strokes.map(s => {
      const p = [];
      for (let i = 0; i + 1 < s.p.length; i += 2) p.push([s.p[i], s.p[i + 1]]);
      return {w: s.w, p: p};
    }).filter(s => s.p.length);
    if (!strokes.length) return;
    states = [strokes];
    at = 0;
    seq = Math.max(seq, Number(msg.seq) || 0);
    redraw();
    send(false);
  }

  window.addEventListener("message", e => {
    const d = e.data;
    if (!d || d.type !== "streamlit:render") return;
    const args = d.args || {};
    applyTheme(d.theme);
    if (!started) {
      started = true;
      if (typeof args.pen === "number") setPen(args.pen);
      restore(args.restore);
    }
    if (typeof args.ack === "number" && inflight && args.ack >= inflight) {
      inflight = 0;
      pump();
    }
  });

  function reportHeight() {
    const h = Math.ceil(document.getElementById("wrap").getBoundingClientRect().height) + 4;
    post("streamlit:setFrameHeight", {height: h});
  }

  setupBitmap();
  setPen(pen);
  refreshTools();
  post("streamlit:componentReady", {apiVersion: 1});
  reportHeight();
  if (typeof ResizeObserver === "function") {
    new ResizeObserver(reportHeight).observe(document.getElementById("wrap"));
  }
})();
