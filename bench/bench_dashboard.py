"""The dashboard's first view on a network of 10 sites and 10,000 jobs (issue 12's target:
under 300 ms).

Store: ``bench_control.py``'s (10 up sites with 64 of each of their accelerator types,
10,000 jobs of one tenant), after one scheduling cycle (so about 1,000 run and the rest
wait). A real ``suanli serve --no-scheduler`` serves it (the scheduler off, so every run
sees the same store).

Two figures per page (the network page as an operator, the jobs page as the tenant and as
an operator listing every tenant's, the usage page, the tenants' own, as the tenant and as
an operator):

- **browser**, the first view itself: a fresh Chromium tab (empty cache) with the token in
  its sessionStorage opens the page; the figure is ``performance.now()`` (milliseconds since
  navigation started) of the page's ``suanli:ready`` mark, set when its data is on screen:
  the HTML, the stylesheet, the modules, the map, every API call and the rendering. The
  *floor* is a fresh tab opening a 300-byte file of the same server: what the browser and
  the machine cost before any of the dashboard's work. Needs
  Playwright and Chromium (``apt-get install chromium``); skipped, saying so, without them.
- **serial**: the same requests one after the other from this process over one keep-alive
  connection (what the server spends; a browser fetches several at once).

The network and usage pages' charts (``GET /v1/history``, an hour in minutes) load after
their first view and do not hold it up; they get figures of their own: the browser's
``suanli:charts`` mark (the charts drawn, from navigation start; for a page that has a
charts section, ``.charts``) and the history request alone, serially.

Each figure is the median of ``--repeats`` runs. Run: `make bench` or
`.venv/bin/python bench/bench_dashboard.py [--repeats N] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_control import PENDING_JOBS, SITE_COUNT, fill_store, server  # the same store

TARGET_MS = 300.0
ASSETS = [
    "/",
    "/ui/static/app.css",
    "/ui/static/js/app.js",
    "/ui/static/js/api.js",
    "/ui/static/js/dom.js",
    "/ui/static/js/network.js",
    "/ui/static/js/charts.js",
    "/ui/static/js/jobs.js",
    "/ui/static/js/job.js",
    "/ui/static/js/admin.js",
    "/ui/static/favicon.svg",
]
PAGES: dict[str, tuple[str, list[str]]] = {
    # name: (role, API calls of its first view, after GET /v1/whoami)
    "network (operator)": ("operator", ["/v1/sites", "/ui/geo", "/v1/usage", "/ui/static/china.json"]),
    "jobs (tenant)": ("tenant", ["/v1/jobs?limit=50", "/v1/usage"]),
    "jobs (operator, all tenants)": ("operator", ["/v1/jobs?limit=50&all=true", "/v1/usage"]),
    "usage (tenant)": ("tenant", ["/v1/usage?limit=1000", "/v1/quotas"]),
    "usage (operator, all tenants)": ("operator", ["/v1/usage?limit=1000", "/v1/quotas"]),
}
HISTORY = "/v1/history?window_s=3600&step_s=60"
"""What the network page's charts ask for by default."""
HASH = {
    "network (operator)": "#/network",
    "jobs (tenant)": "#/jobs",
    "jobs (operator, all tenants)": "#/jobs",
    "usage (tenant)": "#/usage",
    "usage (operator, all tenants)": "#/usage",
}


def prepared_store(tmp: str) -> dict[str, str]:
    """Fill the store under ``tmp``, run one cycle; tokens by role."""
    from suanli.service.control import admin
    from suanli.service.control.auth import LOCAL_ADMIN
    from suanli.service.control.live import run_live_cycle
    from suanli.store.db import sqlite_url

    cp = fill_store(sqlite_url(tmp), PENDING_JOBS)
    try:
        run_live_cycle(cp, "bench")
        return {
            "operator": admin.create_token(cp, LOCAL_ADMIN, "operator", name="bench").token,
            "tenant": admin.create_token(cp, LOCAL_ADMIN, "tenant", tenant="bench", name="bench").token,
        }
    finally:
        cp.store.dispose()


def serial_ms(base: str, token: str, calls: list[str], repeats: int) -> float:
    runs = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        for _ in range(repeats + 1):  # the first warms the server's caches, as any earlier visitor would
            t0 = time.perf_counter()
            for path in [*ASSETS, "/v1/whoami", *calls]:
                client.get(path).raise_for_status()
            runs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(runs[1:])


def request_ms(base: str, token: str, path: str, repeats: int) -> float:
    """Median milliseconds of one GET of ``path`` (after one that warms the connection)."""
    runs = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        for _ in range(repeats + 1):
            t0 = time.perf_counter()
            client.get(path).raise_for_status()
            runs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(runs[1:])


def _logged_in(token: str, base: str) -> str:
    """A script that puts the tab where a login leaves it: the token and its whoami."""
    who = httpx.get(f"{base}/v1/whoami", headers={"Authorization": f"Bearer {token}"}).json()
    return (
        f"sessionStorage.setItem('suanli.token', {json.dumps(token)});"
        f"sessionStorage.setItem('suanli.whoami', {json.dumps(json.dumps(who))})"
    )


def browser_ms(base: str, tokens: dict[str, str], repeats: int) -> dict[str, float] | str:
    """Milliseconds to each page's data on screen in a fresh tab, or why not measured."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return "no Chromium binary (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "Playwright is not installed (pip install playwright)"
    figures: dict[str, float] = {}
    charts: dict[str, list[float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox"] if os.geteuid() == 0 else []
        )
        try:
            for name, (role, _calls) in PAGES.items():
                runs = []
                for _ in range(repeats + 1):
                    context = browser.new_context(viewport={"width": 1360, "height": 900})
                    context.add_init_script(_logged_in(tokens[role], base))
                    page = context.new_page()
                    page.goto(f"{base}/{HASH[name]}")
                    page.wait_for_selector(f'main[data-ready="{HASH[name]}"]', timeout=30_000)
                    runs.append(float(page.evaluate("performance.getEntriesByName('suanli:ready')[0].startTime")))
                    if page.locator(".charts").count():  # a page with charts over time (older usage pages had none)
                        page.wait_for_selector('main[data-charts="3600"]', timeout=30_000)
                        charts.setdefault(name, []).append(
                            float(page.evaluate("performance.getEntriesByName('suanli:charts')[0].startTime"))
                        )
                    context.close()
                figures[name] = statistics.median(runs[1:])  # the first run starts the browser's own caches
            for name, drawn in charts.items():
                figures[f"{name} charts drawn"] = statistics.median(drawn[1:])
            floor = []
            for _ in range(repeats):
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"{base}/ui/static/favicon.svg")
                floor.append(float(page.evaluate("performance.getEntriesByType('navigation')[0].duration")))
                context.close()
            figures["floor"] = statistics.median(floor)
        finally:
            browser.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (the median is printed)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="suanli-bench-dash-")
    try:
        tokens = prepared_store(tmp)
        with server(["--data-dir", tmp], ["--no-scheduler"]) as (base, _pid):
            serial = {name: serial_ms(base, tokens[role], calls, args.repeats) for name, (role, calls) in PAGES.items()}
            history = request_ms(base, tokens["operator"], HISTORY, args.repeats)
            browser = browser_ms(base, tokens, args.repeats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    figures: dict[str, Any] = {
        "load_1min": os.getloadavg()[0],
        "sites": SITE_COUNT,
        "jobs": PENDING_JOBS,
        "target_ms": TARGET_MS,
        "serial_ms": serial,
        "history_request_ms": history,
    }
    figures["browser_ms"] = browser
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    load = os.getloadavg()[0]
    print(
        f"dashboard first view, {SITE_COUNT} sites and {PENDING_JOBS:,} jobs (median of {args.repeats}; "
        f"target {TARGET_MS:.0f} ms; {os.cpu_count()} cores, 1-minute load average {load:.1f} at the end):"
    )
    for name in PAGES:
        shown = f"  {name:<30} serial requests {serial[name]:6.1f} ms"
        if isinstance(browser, dict):
            verdict = "ok" if browser[name] <= TARGET_MS else "OVER"
            ratio = browser[name] / TARGET_MS
            shown += f"; in Chromium, to data on screen {browser[name]:6.1f} ms (ratio {ratio:.2f}) {verdict}"
        print(shown)
    shown = f"  network page's charts: GET {HISTORY} alone {history:6.1f} ms"
    if isinstance(browser, dict):
        drawn = ", ".join(
            f"{k.removesuffix(' charts drawn')} {v:.1f}" for k, v in browser.items() if k.endswith("drawn")
        )
        shown += f"; in Chromium, charts drawn (ms after navigation, no target): {drawn}"
    print(shown)
    if isinstance(browser, str):
        print(f"  browser figures skipped: {browser}")
    else:
        print(f"  floor: a fresh tab opening a 300-byte file of the same server {browser['floor']:.1f} ms")


if __name__ == "__main__":
    main()
