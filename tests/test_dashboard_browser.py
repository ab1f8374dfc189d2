"""The dashboard in a real browser: Playwright driving Debian's Chromium against a real
``suanli serve`` with local agents (``ControlNetwork``: every process real).

A tenant logs in, sees its own jobs only, follows a job's output live and sees the ETA the
API gives; an operator approves a filing and finds the decision in the audit log; another
tenant's token opening the job's page gets the not-found page and none of its data; the
API docs render. Every request the browser makes goes to the server (the pages load nothing
from any other host). One browser and one network serve the whole module.

Skipped, saying why, without Playwright (``pip install playwright``, in the dev extra) or
without a Chromium binary (``apt-get install chromium``; ``playwright install`` is never
needed). With ``SUANLI_SCREENSHOTS=DIR`` the tests save the main pages there (the README's
and docs' pictures: ``SUANLI_SCREENSHOTS=docs/img pytest tests/test_dashboard_browser.py``).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.control_harness import ControlNetwork, report_on_failure, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("browser"),  # one network and one browser for the module (make test: --dist loadgroup)
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (Debian: apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
expect = sync_api.expect

STEPS = 400
STEP_S = 0.3
"""The followed job prints a line every 0.3 s for 2 minutes: longer than the module runs, so
the job queued behind it waits throughout."""
WAIT_MS = 20_000
expect.set_options(timeout=WAIT_MS)


def spec(name: str, accelerator: str, site: str, command: str) -> dict[str, Any]:
    return {
        "apiVersion": "suanli/v1",
        "kind": "FineTuning",
        "name": name,
        "model": {"params_b": 0.001},
        "tokens_b": 0.0001,
        "resources": {"accelerators": [accelerator], "count": 1},
        "constraints": {"regions": [site]},
        "run": {"command": ["python3", "-u", "-c", command]},
    }


TICKER = f"import time\nfor i in range(1, {STEPS + 1}):\n    print(f'step {{i}}', flush=True)\n    time.sleep({STEP_S})"


@dataclass
class Scene:
    net: ControlNetwork
    acme: str
    globex: str
    operator: str
    ticker: str
    """acme's job that prints a line every STEP_S, on qingyang's one H800."""
    queued: str
    """acme's job waiting behind it (the ETA's subject)."""
    secret: str
    """globex's job: acme must never see it."""
    registered_s: float
    """When the agents had registered (wall clock)."""


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    with ControlNetwork(tmp_path_factory.mktemp("dashboard")) as net, report_on_failure(net):
        net.start_server()
        from suanli.service.control import admin
        from suanli.service.control.auth import LOCAL_ADMIN

        operator = admin.create_token(net.plane(), LOCAL_ADMIN, "operator", name="dashboard test").token
        acme, globex = net.create_tenant("acme"), net.create_tenant("globex")
        from suanli.schemas import QuotaIn

        for key, limits in (
            ("*", {"capacity_hours": 40.0, "accelerator_hours": 200.0}),
            ("hopper", {"max_concurrent": 4}),
        ):
            admin.set_quota(net.plane(), LOCAL_ADMIN, "acme", key, QuotaIn(**limits))  # the usage page's meters
        net.start_agents(
            ("qingyang", {"h800": 1}),
            ("zhongwei", {"ascend-910b": 8}),
            ("zhangjiakou", {"a800": 4, "h20": 4}),
            ("shaoguan", {"ascend-910b": 16}),
        )
        a, g = net.client(acme), net.client(globex)
        ticker = a.submit(spec("follow-me", "h800", "qingyang", TICKER)).id
        queued = a.submit(spec("queued-behind", "h800", "qingyang", "print('done')")).id
        secret = g.submit(spec("globex-secret", "ascend-910b", "zhongwei", "import time; time.sleep(60)")).id
        for n in range(3):
            a.submit(spec(f"sweep-{n}", "a800", "zhangjiakou", "import time; time.sleep(60)"))
        wait_until(lambda: a.job(ticker).state == "RUNNING", 30, "the followed job to run")
        yield Scene(net, acme, globex, operator, ticker, queued, secret, time.time())


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses root without it
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, scene: Scene) -> Iterator[Page]:
    """A fresh tab (empty sessionStorage); fails the test if it fetched from any other host."""
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB", timezone_id="Asia/Shanghai")
    context.set_default_timeout(WAIT_MS)
    fetched: list[str] = []
    context.on("request", lambda request: fetched.append(request.url))
    opened = context.new_page()
    yield opened
    context.close()
    foreign = [url for url in fetched if not (url.startswith(scene.net.url + "/") or url.startswith("data:"))]
    assert foreign == [], f"the page fetched from other hosts: {foreign}"


def log_in(page: Page, scene: Scene, token: str, where: str = "#/jobs") -> None:
    page.goto(f"{scene.net.url}/{where}")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector(f'main[data-ready="{where}"]')


def screenshot(page: Page, name: str) -> None:
    target = os.environ.get("SUANLI_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"dashboard-{name}.png"), full_page=True)


def test_a_tenant_sees_its_own_jobs_only(page: Page, scene: Scene) -> None:
    log_in(page, scene, scene.acme)
    table = page.get_by_role("table", name="Jobs, newest first")
    expect(table.get_by_role("link", name="follow-me")).to_be_visible()
    expect(table.get_by_role("link", name="queued-behind")).to_be_visible()
    assert "globex" not in page.inner_text("main")
    assert scene.secret not in page.content()
    expect(page.get_by_role("link", name="Audit log")).to_be_hidden()


def test_the_jobs_table_shows_what_each_job_has_cost_and_emitted_so_far(page: Page, scene: Scene) -> None:
    """The running ticker's cost and CO2 so far, as GET /v1/jobs meters them (to the cent
    and the 10 g): between what the API said just before the page loaded and just after
    (the run goes on)."""
    client = scene.net.client(scene.acme)
    wait_until(lambda: (client.job(scene.ticker).cost_so_far or 0) > 0, 30, "the ticker to have cost something")
    before = client.job(scene.ticker)
    log_in(page, scene, scene.acme)
    table = page.get_by_role("table", name="Jobs, newest first")
    headers = table.get_by_role("columnheader").all_inner_texts()
    assert headers[-2:] == ["Cost so far (USD)", "CO2 so far (kg)"], headers
    cells = table.get_by_role("row").filter(has_text="follow-me").get_by_role("cell").all_inner_texts()
    shown_cost, shown_co2 = (float(text.replace(",", "")) for text in cells[-2:])
    after = client.job(scene.ticker)
    assert round(before.cost_so_far or 0, 2) - 0.01 <= shown_cost <= round(after.cost_so_far or 0, 2) + 0.01
    assert round(before.co2_kg_so_far or 0, 2) - 0.01 <= shown_co2 <= round(after.co2_kg_so_far or 0, 2) + 0.01


def test_a_tenant_follows_a_jobs_output_live(page: Page, scene: Scene) -> None:
    log_in(page, scene, scene.acme)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.get_by_role("link", name="follow-me").click()
    page.wait_for_selector(f'main[data-ready="#/jobs/{scene.ticker}"]')
    log = page.get_by_role("log")
    expect(log).to_contain_text("step 2")
    page.evaluate("window.notReloaded = true")
    last = max(int(n) for n in re.findall(r"step (\d+)", log.inner_text()))
    expect(log).to_contain_text(f"step {last + 3}")  # new lines arrive on the same page
    assert page.evaluate("window.notReloaded") is True
    streams = [url for url in asked if url.endswith(f"/v1/jobs/{scene.ticker}/logs/stream")]
    polls = [url for url in asked if "/logs?" in url]
    assert len(streams) == 1 and polls == [], ("one Server-Sent Events stream, no polling", streams, polls)
    expect(page.locator(".facts").first).to_contain_text("RUNNING")
    expect(page.locator("#explain-summary")).to_contain_text("running at qingyang")
    screenshot(page, "job")


def test_a_tenant_sees_the_eta_the_api_gives(page: Page, scene: Scene) -> None:
    from suanli.schemas import JobOut

    if "eta" not in JobOut.model_fields:
        pytest.skip("this API gives no ETAs (JobOut has no 'eta' field)")
    client = scene.net.client(scene.acme)
    eta = wait_until(
        lambda: getattr(client.job(scene.queued), "eta", None), 30, "the API to give the queued job an ETA"
    )
    log_in(page, scene, scene.acme)
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="queued-behind"))
    expect(row.locator("td.eta")).to_contain_text("starts")
    screenshot(page, "jobs")
    page.goto(f"{scene.net.url}/#/jobs/{scene.queued}")
    page.wait_for_selector(f'main[data-ready="#/jobs/{scene.queued}"]')
    start = page.locator("dt", has_text="Predicted start").locator("xpath=following-sibling::dd[1]")
    expect(start.locator("time")).to_have_attribute("datetime", re.compile(r"^20\d\d-\d\d-\d\dT\d\d:\d\d"))
    assert eta.finish >= eta.start


def test_another_tenants_token_cannot_open_the_job_page(page: Page, scene: Scene) -> None:
    log_in(page, scene, scene.globex)
    page.goto(f"{scene.net.url}/#/jobs/{scene.ticker}")
    page.wait_for_selector(f'main[data-ready="#/jobs/{scene.ticker}"]')
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.locator("[data-error]")).to_have_attribute("data-error", "404")
    text = page.inner_text("main")
    assert "follow-me" not in text
    assert "step" not in text
    assert page.locator("#log").count() == 0


def test_an_operator_approves_a_filing_and_finds_it_in_the_audit_log(page: Page, scene: Scene) -> None:
    filing = scene.net.client(scene.acme).file_model("qwen2.5-7b", filing_number="Beijing-QW-2026-001").id
    log_in(page, scene, scene.operator, "#/network")
    expect(page.get_by_role("table", name="Sites")).to_contain_text("qingyang")
    expect(page.get_by_role("img", name=re.compile("Map of 4 sites"))).to_be_visible()
    screenshot(page, "network")
    page.get_by_role("link", name="Filings").click()
    page.wait_for_selector('main[data-ready="#/filings"]')
    screenshot(page, "filings")
    page.get_by_role("button", name=f"Approve filing {filing}").click()
    expect(page.get_by_role("table", name="Awaiting approval (0)")).to_be_visible()
    decided = page.get_by_role("table", name="Decided").get_by_role("row").filter(has_text=filing)
    expect(decided).to_contain_text("approved")
    assert scene.net.client(scene.operator).filings()[0].status == "approved"
    page.get_by_role("link", name="Audit log").click()
    page.wait_for_selector('main[data-ready="#/audit"]')
    entry = page.get_by_role("row").filter(has_text="filing.approve")
    expect(entry).to_contain_text(filing)


@pytest.mark.parametrize("where", ["#/network", "#/jobs", "#/usage", "#/filings", "#/audit"])
def test_no_page_is_wider_than_the_window(page: Page, scene: Scene, where: str) -> None:
    """At the tests' 1,360-pixel window a wide table scrolls inside its frame; the page
    itself never scrolls sideways (the sites table, with its grid-intensity column, pushed
    the network page to 1,440 pixels)."""
    log_in(page, scene, scene.operator, where)
    page.wait_for_load_state("networkidle")
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{where} is {widths[0]} px wide in a {widths[1]} px window"


def test_the_api_docs_render_from_the_server_alone(page: Page, scene: Scene) -> None:
    page.goto(f"{scene.net.url}/v1/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("suanli")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()


def test_the_network_page_charts_the_network_over_time_and_colours_sites_by_grid_intensity(
    page: Page, scene: Scene
) -> None:
    import httpx

    client = scene.net.client(scene.acme)
    short = client.submit(spec("metered", "ascend-910b", "shaoguan", "print('done')")).id
    wait_until(lambda: client.job(short).state == "SUCCEEDED", 30, "the short job to finish (a metered run)")
    # The short job's stored forecast, as one made 60 s before it started predicting a start 20 s early
    # (the live engine replaces a started job's forecast with its actual start within seconds).
    from suanli.clock import iso
    from suanli.store import jobs as job_rows

    store = scene.net.plane().store
    with store.engine.connect() as conn:
        placed_s = (job_rows.job(conn, short) or {})["placed_at"]
    with store.begin() as conn:
        forecast = {"start": iso(placed_s - 20), "finish": iso(placed_s), "computed_at": iso(placed_s - 60)}
        job_rows.set_etas(conn, {short: forecast | {"start_p90": None, "finish_p90": None, "method": "forecast:test"}})
    auth = {"Authorization": f"Bearer {scene.operator}"}
    history = httpx.get(f"{scene.net.url}/v1/history", params={"window_s": 3600, "step_s": 60}, headers=auth).json()
    geo = httpx.get(f"{scene.net.url}/ui/geo", headers=auth).json()["sites"]
    log_in(page, scene, scene.operator, "#/network")
    page.wait_for_selector('main[data-charts="3600"]')

    use = page.locator("#chart-use")
    expect(use.get_by_role("img")).to_have_attribute("aria-label", re.compile("Accelerators in use by site, 60 points"))
    assert use.locator("rect").count() > 0  # bars of accelerators in use
    legend = use.locator(".legend").inner_text()
    for site in ("qingyang", "zhangjiakou", "zhongwei", "shaoguan"):
        assert site in legend
    jobs_chart = page.locator("#chart-jobs")
    assert jobs_chart.locator("path").count() == 2  # running and waiting
    jobs_chart.get_by_text("Jobs running and waiting as a table").click()
    newest = jobs_chart.get_by_role("row").nth(1).inner_text()  # the newest point, first
    assert float(newest.split("\t")[1]) > 0, newest  # jobs run now
    carbon = page.locator("#chart-carbon")
    expect(carbon).to_contain_text("kg CO2e")
    assert carbon.locator("rect").count() > 0, "the finished job's metered carbon is drawn"
    assert any(v > 0 for site in history["carbon_kg_by_site"] for v in site["values"])
    eta = page.locator("#chart-eta")
    accuracy = history["eta_accuracy"]["window"]
    expect(eta.get_by_role("heading", name="ETA accuracy")).to_be_visible()
    assert accuracy["started"] >= 5  # the ticker, the sweeps, globex's and the short job started within the hour
    assert accuracy["forecast"] >= 1 and 20 <= accuracy["median_abs_error_s"] < 21, accuracy
    expect(eta.locator("figcaption")).to_contain_text(f"{accuracy['started']} jobs started in the window")
    assert eta.locator("circle").count() >= 2, "the measured point's median and p90 are drawn"
    eta.get_by_text("ETA accuracy as a table").click()
    table = eta.get_by_role("table", name="ETA accuracy (s)")
    expect(table.get_by_role("columnheader", name="with a forecast")).to_be_visible()
    shown = [int(row.split("\t")[3]) for row in table.get_by_role("row").all_inner_texts()[1:]]
    assert sum(shown) >= accuracy["started"]  # the page read its history after this test did

    grid = geo["qingyang"]["grid"]
    row = page.get_by_role("table", name="Sites").get_by_role("row").filter(has_text="qingyang")
    expect(row).to_contain_text(f"{round(grid['g_per_kwh_now']):,} gCO2/kWh")
    page.get_by_text("Where the grid intensities come from").click()
    expect(page.locator(".sources")).to_contain_text(grid["region"])
    page.get_by_label("grid carbon intensity now").check()
    mark = page.locator('g.site[data-site="qingyang"]')
    expect(mark.locator("text")).to_have_text(f"qingyang {round(grid['g_per_kwh_now']):,} g")
    expect(page.locator(".map figcaption")).to_contain_text("gCO2/kWh")
    screenshot(page, "network-charts")
    page.get_by_role("button", name="24 hours").click()
    page.wait_for_selector('main[data-charts="86400"]')
    expect(page.locator("#chart-jobs").get_by_role("img")).to_have_attribute("aria-label", re.compile(r"48 points"))


def chart_table(page: Page, figure: str, title: str, unit: str) -> tuple[list[str], dict[str, list[float]], str]:
    """A chart's figures as its table shows them: the column headers, each row's numbers by
    its "From" label, and the newest label (the point still going when the page drew it)."""
    chart = page.locator(f"#{figure}")
    chart.get_by_text(f"{title} as a table").click()
    table = chart.get_by_role("table", name=f"{title} ({unit})")
    headers = table.get_by_role("columnheader").all_inner_texts()
    rows = [row.split("\t") for row in table.get_by_role("row").all_inner_texts()[1:]]
    assert rows, f"{title}: no rows"
    parsed = {row[0]: [float("nan") if v == "—" else float(v.replace(",", "")) for v in row[1:]] for row in rows}
    return headers, parsed, rows[0][0]


def by_label(history: dict[str, Any], values: list[float]) -> dict[str, float]:
    """A history series keyed as the charts label their rows: each point's start, HH:MM in the
    tab's zone (the page's context: Asia/Shanghai)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    labels = [
        datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(zone).strftime("%H:%M") for t in history["times"]
    ]
    return dict(zip(labels, values, strict=True))


def same_points(shown: dict[str, list[float]], newest: str, column: int, api: dict[str, float]) -> int:
    """Every point the page drew, bar the one still going then, equals the API's at three
    significant digits (what the table shows); how many were compared."""
    compared = 0
    for label, cells in shown.items():
        if label == newest or label not in api:
            continue  # the page's newest point was still going; one the API no longer lists rolled out
        assert cells[column] == pytest.approx(api[label], rel=6e-3, abs=1e-9), (label, column, cells, api[label])
        compared += 1
    return compared


def history_now(scene: Scene, token: str) -> dict[str, Any]:
    import httpx

    answer = httpx.get(
        f"{scene.net.url}/v1/history",
        params={"window_s": 3600, "step_s": 60},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_the_usage_page_charts_each_tenants_cost_and_carbon_over_time_and_a_tenant_sees_its_own(
    page: Page, scene: Scene
) -> None:
    """The cost and carbon charts' figures are the history API's, point by point; a tenant's
    points add up to its jobs' cost so far (all ran within the hour), between what the jobs
    API said before the page loaded and after; a tenant's charts have its own column only."""
    acme, globex = scene.net.client(scene.acme), scene.net.client(scene.globex)
    time.sleep(max(0.0, scene.registered_s + 61 - time.time()))  # a whole minute of runs before the newest point
    assert (globex.job(scene.secret).cost_so_far or 0) > 0

    def spent(client: Any, field: str) -> float:
        return sum(getattr(job, field) or 0.0 for job in client.jobs(limit=1000))

    before = {
        name: (spent(c, "cost_so_far"), spent(c, "co2_kg_so_far")) for name, c in (("acme", acme), ("globex", globex))
    }
    earlier = history_now(scene, scene.operator)
    log_in(page, scene, scene.operator, "#/usage")
    page.wait_for_selector('main[data-charts="3600"]')
    history = history_now(scene, scene.operator)
    after = {
        name: (spent(c, "cost_so_far"), spent(c, "co2_kg_so_far")) for name, c in (("acme", acme), ("globex", globex))
    }
    expect(page.get_by_role("heading", name="Cost and carbon over time, by tenant")).to_be_visible()
    for figure, title, unit, key, which in (
        ("chart-cost", "Cost by tenant", "USD", "cost_usd_by_tenant", 0),
        ("chart-tenant-carbon", "Carbon by tenant", "kg CO2e", "carbon_kg_by_tenant", 1),
    ):
        headers, shown, newest = chart_table(page, figure, title, unit)
        assert headers == ["From", "acme", "globex"], headers
        for column, name in enumerate(headers[1:]):
            values = by_label(history, next(s["values"] for s in history[key] if s["name"] == name))
            assert same_points(shown, newest, column, values) >= 50, title
            assert sum(1 for cells in shown.values() if cells[column] > 0) >= 2, f"{name} ran for over a minute"
            then = by_label(earlier, next(s["values"] for s in earlier[key] if s["name"] == name)).get(newest, 0.0)
            # the point still going: between what the API said just before and just after
            assert then * 0.99 - 1e-9 <= shown[newest][column] <= values.get(newest, math.inf) * 1.01 + 1e-9
            drawn = sum(cells[column] for cells in shown.values())
            low, high = before[name][which], after[name][which]
            assert low * 0.99 - 1e-6 <= drawn <= high * 1.01 + 1e-6, (title, name, low, drawn, high)
    screenshot(page, "usage")

    page.get_by_role("button", name="Log out").click()
    log_in(page, scene, scene.acme, "#/usage")
    page.wait_for_selector('main[data-charts="3600"]')
    own = history_now(scene, scene.acme)
    assert [s["name"] for s in own["cost_usd_by_tenant"]] == ["acme"]
    expect(page.get_by_role("heading", name="Your cost and carbon over time")).to_be_visible()
    headers, shown, newest = chart_table(page, "chart-cost", "Cost by tenant", "USD")
    assert headers == ["From", "acme"], headers
    assert same_points(shown, newest, 0, by_label(own, own["cost_usd_by_tenant"][0]["values"])) >= 50
    assert "globex" not in page.locator(".charts").inner_text()


def test_the_network_page_charts_what_the_sites_offered_and_what_was_free_over_time(page: Page, scene: Scene) -> None:
    """The sites registered minutes ago: the capacity line is 0 an hour back and 33 now (the
    agents' inventories), not today's capacity throughout; free, total and in use by type
    are the history API's inventory, point by point."""
    time.sleep(max(0.0, scene.registered_s + 61 - time.time()))  # the newest minute starts after they registered
    log_in(page, scene, scene.operator, "#/network")
    page.wait_for_selector('main[data-charts="3600"]')
    history = history_now(scene, scene.operator)
    headers, shown, newest = chart_table(page, "chart-use", "Accelerators in use by site", "accelerators")
    capacity = headers.index("capacity") - 1
    offered = [sum(values) for values in zip(*(s["total"] for s in history["inventory_by_site"]), strict=True)]
    assert shown[newest][capacity] == 33  # 1 + 8 + 4 + 4 + 16 registered, every site up
    assert list(shown.values())[-1][capacity] == 0  # an hour back nothing had registered
    assert same_points(shown, newest, capacity, by_label(history, offered)) >= 50

    headers, shown, newest = chart_table(page, "chart-free", "Free accelerators by type", "accelerators")
    types = {s["name"]: s for s in history["inventory_by_type"]}
    assert headers == ["From", "a800", "ascend-910b", "h20", "h800", "total", "in use"], headers
    for column, name in enumerate(headers[1:5]):
        assert same_points(shown, newest, column, by_label(history, types[name]["free"])) >= 50, name
    totals = [sum(values) for values in zip(*(s["total"] for s in types.values()), strict=True)]
    busy = [sum(values) for values in zip(*(s["busy"] for s in types.values()), strict=True)]
    assert same_points(shown, newest, 4, by_label(history, totals)) >= 50
    assert same_points(shown, newest, 5, by_label(history, busy)) >= 50
    assert shown[newest][4] == 33
    assert all(sum(cells[:4]) <= cells[4] + 0.05 for cells in shown.values())  # free never past the total
    page.locator("#chart-free").scroll_into_view_if_needed()
    screenshot(page, "network-inventory")


NUMBERS = [0, -0.0, 1, -1, 0.5, -0.5, 1.5, 2.5, 999.5, 1000, 1234.5678, -1234.5678]
NUMBERS += [1e6 + 0.25, 123456789.987, 0.004, -0.004, 1e21, 1e-7]
TIMES = ["2025-01-01T00:00:00Z", "2025-06-30T15:59:59Z", "2026-12-03T18:44:12Z", "2024-02-29T23:05:00Z"]
COMPARE = """async ([numbers, times]) => {
  const dom = await import("/ui/static/js/dom.js");
  const out = [];
  for (const digits of [0, 1, 2, 3]) {
    const intl = { minimumFractionDigits: digits, maximumFractionDigits: digits };
    for (const n of numbers) out.push([`${n}, ${digits}`, dom.fmtNumber(n, digits), n.toLocaleString("en-US", intl)]);
  }
  const options = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  const clock = new Intl.DateTimeFormat("en-GB", options);
  for (const iso of times) out.push([iso, dom.clockText(new Date(iso)), clock.format(new Date(iso))]);
  out.push(["null", dom.fmtNumber(null), "\u2014"]);
  return out;
}"""


def test_the_pages_own_number_and_time_formats_are_intls(page: Page, scene: Scene) -> None:
    """dom.js formats by hand (a first Intl formatter costs the first view 12-17 ms): its
    output must be Intl's, digit for digit, in the tab's zone."""
    page.goto(f"{scene.net.url}/")
    compared = page.evaluate(COMPARE, [NUMBERS, TIMES])
    differ = [(what, ours, intl) for what, ours, intl in compared if ours != intl]
    assert differ == [], differ
    assert len(compared) == 4 * len(NUMBERS) + len(TIMES) + 1
