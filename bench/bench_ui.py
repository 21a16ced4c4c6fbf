"""Training speed with the Train page open in Chromium vs. headless, measured in one run.

    python bench/bench_ui.py [--rounds 2]

The same run (784-1000-100-10, batch 128, 2 epochs) is trained headless with the CLI, then from
the Train page in a real browser while its charts refresh every second, alternating for
--rounds rounds. Prints both speeds (samples/s as the trainer measures them) and their ratio.
Target: the browser run keeps >= 90 % of the headless speed.
"""
from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = dict(depth=2, width="1000,100", batch_size=128, epochs=2, dropout=0)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def headless_speed() -> float:
    flags = [a for k, v in CONFIG.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    out = subprocess.run([sys.executable, "-m", "core.train", *flags, "--json"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["samples_per_second"]


def browser_speed(page, url: str) -> float:
    query = "&".join(f"{k}={v}" for k, v in CONFIG.items())
    page.goto(f"{url}/train?{query}")
    page.get_by_role("button", name="▶ Start").click()
    page.get_by_text("finished", exact=False).first.wait_for(timeout=300_000)
    page.wait_for_timeout(1500)   # the last refresh shows the final figure
    text = page.inner_text("[data-testid=stMain]")
    return float(re.search(r"Samples/s\s+([\d,]+)", text).group(1).replace(",", ""))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.fileWatcherType", "none", "--server.port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        heads, browsers = [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for _ in range(args.rounds):
                heads.append(headless_speed())
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                browsers.append(browser_speed(page, url))
                page.close()
            browser.close()
    finally:
        server.terminate()
    h, b = sum(heads) / len(heads), sum(browsers) / len(browsers)
    print(f"784-1000-100-10, batch 128, 2 epochs, {args.rounds} rounds")
    print(f"  headless (CLI):               {h:10,.0f} samples/s  {[round(x) for x in heads]}")
    print(f"  Train page open in Chromium:  {b:10,.0f} samples/s  {[round(x) for x in browsers]}")
    print(f"  browser / headless:           {b / h:10.1%}  (target >= 90 %)")


if __name__ == "__main__":
    main()
