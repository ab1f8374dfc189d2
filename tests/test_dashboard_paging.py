"""The dashboard's jobs page over the API's pages, in a real browser against a real
``suanli serve``: it offers more jobs while the API answers a ``next`` cursor and stops
when the listing ends; past the API's largest page (1,000) it says there are more and
names the command that lists them. Skipped, saying why, without Playwright or Chromium
(as ``test_dashboard_browser.py``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import insert, select

from tests.control_harness import ControlNetwork, report_on_failure
from tests.test_control_e2e import JOBS, PY, spec

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (Debian: apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
expect = sync_api.expect
WAIT_MS = 20_000
PAGE_JOBS = 50
"""The jobs page's step (``jobs.js`` PAGE)."""


def add_jobs(net: ControlNetwork, token: str, count: int) -> None:
    """``count`` jobs of the token's tenant: one submitted, the rest copies of its row."""
    from suanli.store.identity import new_id
    from suanli.store.tables import jobs

    first = net.client(token).submit(spec("bulk-0", PY, str(JOBS / "hello.py"), "1"))
    with net.plane().store.engine.begin() as conn:
        row = dict(conn.execute(select(jobs).where(jobs.c.id == first.id)).mappings().one())
        del row["seq"]
        copies = [row | {"id": new_id("j"), "name": f"bulk-{i}", "idempotency_key": None} for i in range(1, count)]
        conn.execute(insert(jobs), copies)


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlNetwork, str, str]]:
    with ControlNetwork(tmp_path_factory.mktemp("dashboard-paging")) as net, report_on_failure(net):
        net.start_server()
        many, few = net.create_tenant("many"), net.create_tenant("few")
        add_jobs(net, many, 1020)
        add_jobs(net, few, 60)
        yield net, many, few


@pytest.fixture
def page(tenants: tuple[ControlNetwork, str, str]) -> Iterator[Page]:
    with sync_api.sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses root without it
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        context.set_default_timeout(WAIT_MS)
        yield context.new_page()
        browser.close()


def jobs_page(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}/#/jobs")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector('main[data-ready="#/jobs"]')


def rows(page: Page) -> int:
    return page.get_by_role("table", name="Jobs, newest first").locator("tbody tr").count()


def test_more_is_offered_while_the_api_has_a_next_page_and_not_once_the_listing_ends(
    page: Page, tenants: tuple[ControlNetwork, str, str]
) -> None:
    net, _many, few = tenants
    jobs_page(page, net.url, few)
    more = page.get_by_role("button", name=f"Show {PAGE_JOBS} more")
    expect(more).to_be_visible()
    assert rows(page) == PAGE_JOBS
    more.click()
    expect(page.locator("#jobs-count")).to_contain_text("The 60 newest of 60 jobs.")
    expect(more).to_be_hidden()
    assert "There are more" not in page.inner_text("#jobs-count")


def test_past_the_apis_largest_page_it_says_there_are_more_and_names_the_command(
    page: Page, tenants: tuple[ControlNetwork, str, str]
) -> None:
    net, many, _few = tenants
    jobs_page(page, net.url, many)
    more = page.get_by_role("button", name=f"Show {PAGE_JOBS} more")
    for shown in range(2 * PAGE_JOBS, 1001, PAGE_JOBS):
        more.click()
        expect(page.locator("#jobs-count")).to_contain_text(f"The {shown:,} newest of 1,020 jobs.")
    expect(more).to_be_hidden()
    expect(page.locator("#jobs-count")).to_contain_text("There are more: `suanli jobs --all-pages` lists every one.")
    assert rows(page) == 1000
