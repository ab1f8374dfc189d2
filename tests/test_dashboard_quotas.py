"""The usage page's quotas in a real browser (Playwright driving Debian's Chromium against a
real ``suanli serve``): each tenant's use against its limits in normalised capacity
(H800-equivalent hours) and accelerator-hours, one labelled meter per limit, the figures
read from the page equal to ``GET /v1/quotas``; a tenant sees only its own.

The tenants' past runs are metered rows written to the store (an hour on 8 L20s, an hour on
2 H800s, ...), so the figures are whole and do not move while the test reads them. Skipped,
saying why, without Playwright or a Chromium binary (as tests/test_dashboard_browser.py)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.control_harness import ControlNetwork, report_on_failure

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("browser"),
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (Debian: apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
expect = sync_api.expect
WAIT_MS = 20_000
expect.set_options(timeout=WAIT_MS)

RUNS = [
    # tenant, accelerator, count, hours ago it ended, hours it ran
    ("acme", "l20", 8, 0.1, 1.0),
    ("acme", "h800", 2, 0.2, 1.0),
    ("globex", "h800", 4, 0.1, 1.0),
    ("globex", "ascend-910b", 8, 0.3, 2.0),
]
QUOTAS = [
    # tenant, key, limits
    ("acme", "*", {"capacity_hours": 10, "accelerator_hours": 100}),
    ("acme", "ada", {"capacity_hours": 1}),
    ("globex", "hopper", {"accelerator_hours": 50, "max_concurrent": 4}),
]


@dataclass
class Scene:
    net: ControlNetwork
    acme: str
    globex: str
    operator: str


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    with ControlNetwork(tmp_path_factory.mktemp("quotas")) as net, report_on_failure(net):
        from sqlalchemy import insert

        from suanli.schemas import QuotaIn
        from suanli.service.control import admin
        from suanli.service.control.auth import LOCAL_ADMIN
        from suanli.store import identity
        from suanli.store.tables import usage

        cp = net.plane()
        operator = admin.create_token(cp, LOCAL_ADMIN, "operator", name="quota test").token
        tokens = {name: net.create_tenant(name) for name in ("acme", "globex")}
        now = time.time()
        with cp.store.begin() as conn:
            ids = {name: row["id"] for name in tokens if (row := identity.tenant_by_name(conn, name))}
            for n, (tenant, accel, count, ago_h, ran_h) in enumerate(RUNS):
                end = now - ago_h * 3600
                conn.execute(
                    insert(usage).values(
                        tenant_id=ids[tenant],
                        job_id=f"j-earlier-{n}",
                        site="qingyang",
                        accelerator=accel,
                        family=cp.planning.catalog.accelerator(accel).family,
                        start_s=end - ran_h * 3600,
                        end_s=end,
                        accelerator_s=count * ran_h * 3600,
                        energy_kwh=1.0,
                        carbon_kg=0.5,
                        cost_usd=2.0,
                    )
                )
        for tenant, key, limits in QUOTAS:
            admin.set_quota(cp, LOCAL_ADMIN, tenant, key, QuotaIn(**limits))
        net.start_server()
        yield Scene(net, tokens["acme"], tokens["globex"], operator)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses root without it
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, scene: Scene) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB", timezone_id="Asia/Shanghai")
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    yield opened
    context.close()


def log_in(page: Page, scene: Scene, token: str) -> None:
    page.goto(f"{scene.net.url}/#/usage")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector('main[data-ready="#/usage"]')


def api_quotas(scene: Scene, token: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{scene.net.url}/v1/quotas", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    quotas: list[dict[str, Any]] = answer.json()["quotas"]
    return quotas


def shown(used: float, limit: float | None, digits: int) -> str:
    """The page's figures: en-US numbers, ``used / limit`` or ``used (no limit)``."""
    text = f"{used:,.{digits}f}"
    return f"{text} (no limit)" if limit is None else f"{text} / {limit:,.{digits}f}"


def check_row(row: Locator, quota: dict[str, Any], key: str) -> None:
    """One quota's cells and meters against its API figures."""
    unit = quota["capacity_unit"]
    for cell, used, limit, digits, label in (
        ("capacity", quota["used_capacity_hours"], quota["capacity_hours"], 1, f"{unit} of {key} used"),
        (
            "accelerator-hours",
            quota["used_accelerator_hours"],
            quota["accelerator_hours"],
            1,
            f"accelerator-hours of {key} used",
        ),
        ("in-use", quota["in_use"], quota["max_concurrent"], 0, f"accelerators of {key} in use"),
    ):
        td = row.locator(f'td[data-quota="{cell}"]')
        expect(td).to_have_text(shown(used, limit, digits))
        bars = td.get_by_role("meter")
        if limit is None:
            expect(bars).to_have_count(0)
            continue
        name = f"{label}: {used:,.{digits}f} of {limit:,.{digits}f}"
        bar = td.get_by_role("meter", name=name, exact=True)
        expect(bar).to_have_count(1)
        assert float(bar.get_attribute("max") or "nan") == pytest.approx(limit)
        assert float(bar.get_attribute("value") or "nan") == pytest.approx(min(used, limit))


def test_the_operator_sees_every_tenants_quotas_in_capacity_and_accelerator_hours_as_the_api_says(
    page: Page, scene: Scene
) -> None:
    quotas = api_quotas(scene, scene.operator)
    assert [(q["tenant"], q["family"]) for q in quotas] == [(t, k) for t, k, _ in QUOTAS]
    by_key = {(q["tenant"], q["family"]): q for q in quotas}
    # the figures the rows were made to give: an L20-hour is worth less than an H800-hour
    acme_all, acme_ada = by_key[("acme", "*")], by_key[("acme", "ada")]
    assert acme_all["used_accelerator_hours"] == pytest.approx(8 + 2)
    assert acme_ada["used_accelerator_hours"] == pytest.approx(8)
    assert 0.8 < acme_ada["used_capacity_hours"] < 1.6, "8 L20-hours: about 1.2 H800-hours"
    assert acme_all["used_capacity_hours"] == pytest.approx(acme_ada["used_capacity_hours"] + 2.0)
    assert by_key[("globex", "hopper")]["used_capacity_hours"] == pytest.approx(4.0)

    log_in(page, scene, scene.operator)
    table = page.get_by_role("table", name="Quotas by tenant")
    headers = table.get_by_role("columnheader").all_inner_texts()
    assert headers == [
        "Tenant",
        "Key",
        "Capacity used / limit (H800-equivalent hours)",
        "Accelerator-hours used / limit",
        "Period (h)",
        "Accelerators in use / limit",
    ]
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(len(quotas))
    for index, quota in enumerate(quotas):
        row = rows.nth(index)
        expect(row.locator("td").nth(0)).to_have_text(quota["tenant"])
        expect(row.locator("td").nth(1)).to_have_text(quota["family"])
        check_row(row, quota, f"{quota['tenant']}/{quota['family']}")
    if os.environ.get("SUANLI_SCREENSHOTS"):
        table.screenshot(path=os.path.join(os.environ["SUANLI_SCREENSHOTS"], "dashboard-quotas.png"))
    over = table.get_by_role("meter", name="H800-equivalent hours of acme/ada used:")
    assert float(over.get_attribute("value") or "0") == pytest.approx(1.0), "the used-up meter is full"


def test_a_tenant_sees_its_own_quotas_only(page: Page, scene: Scene) -> None:
    quotas = api_quotas(scene, scene.acme)
    assert {q["tenant"] for q in quotas} == {"acme"}
    log_in(page, scene, scene.acme)
    table = page.get_by_role("table", name="Your quotas")
    assert table.get_by_role("columnheader").all_inner_texts()[0] == "Key"
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(len(quotas))
    for index, quota in enumerate(quotas):
        expect(rows.nth(index).locator("td").nth(0)).to_have_text(quota["family"])
        check_row(rows.nth(index), quota, quota["family"])
    assert "globex" not in page.inner_text("main")
