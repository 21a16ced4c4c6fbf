"""Training speed with the Train page open in Chromium vs. headless, measured in one run.

    python bench/bench_ui.py [--rounds 5]

The same run (784-1000-100-10, batch 128, 2 epochs) is trained headless with the CLI, then from
the Train page in a real browser while its charts refresh every second, alternating for
--rounds rounds. Prints both speeds (samples/s as the trainer measures them) and the ratio of
each round; the figure is the median of those ratios (the machine's speed drifts by +-5 % from
minute to minute, so only side-by-side ratios mean anything).
Target: the browser run keeps >= 90 % of the headless speed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.app_server import launch_chromium, running_app  # noqa: E402

CONFIG = dict(depth=2, width="1000,100", batch_size=128, epochs=2, dropout=0)


def headless_speed() -> float:
    flags = [a for k, v in CONFIG.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    out = subprocess.run([sys.executable, "-m", "core.train", *flags, "--json"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["samples_per_second"]


def chromium_cpu_seconds() -> float:
    """CPU time used so far by every Chromium process (Linux /proc), to show what the browser
    itself costs on the machine that trains."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().split(") ", 1)
            if "chrom" in name:
                utime, stime = rest.split()[11:13]
                total += (int(utime) + int(stime)) / tick
        except (OSError, ValueError):
            pass
    return total


def browser_speed(page, url: str) -> tuple[float, float]:
    """(samples/s shown on the page, the share of one core that Chromium used meanwhile)."""
    query = "&".join(f"{k}={v}" for k, v in CONFIG.items())
    page.goto(f"{url}/train?{query}")
    cpu, t = chromium_cpu_seconds(), time.monotonic()
    page.get_by_role("button", name="▶ Start").click()
    # Look once a second, as a person would: Playwright's wait_for polls the page on every
    # animation frame, which costs the browser (and the trainer beside it) CPU a user would not.
    finished = page.get_by_text("finished", exact=False)
    while not finished.count():
        if time.monotonic() - t > 300:
            raise TimeoutError("the run did not finish within 300 s")
        time.sleep(1.0)
    share = (chromium_cpu_seconds() - cpu) / (time.monotonic() - t)
    page.wait_for_timeout(1500)   # the last refresh shows the final figure
    text = page.inner_text("[data-testid=stMain]")
    return float(re.search(r"Samples/s\s+([\d,]+)", text).group(1).replace(",", "")), share


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    heads, browsers, shares = [], [], []
    with running_app() as url, sync_playwright() as p:
        browser = launch_chromium(p)
        for _ in range(args.rounds):
            heads.append(headless_speed())
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            speed, share = browser_speed(page, url)
            browsers.append(speed)
            shares.append(share)
            page.close()
        browser.close()
    ratios = [b / h for h, b in zip(heads, browsers)]
    print(f"784-1000-100-10, batch 128, 2 epochs, {args.rounds} rounds")
    print(f"  headless (CLI):               {statistics.median(heads):10,.0f} samples/s  {[round(x) for x in heads]}")
    print(f"  Train page open in Chromium:  {statistics.median(browsers):10,.0f} samples/s  {[round(x) for x in browsers]}")
    print(f"  browser / headless:           {statistics.median(ratios):10.1%}  (median; rounds: "
          f"{', '.join(f'{r:.1%}' for r in ratios)}; target >= 90 %)")
    print(f"  Chromium's own CPU meanwhile:  {statistics.median(shares):10.0%} of one core (median)")


if __name__ == "__main__":
    main()
