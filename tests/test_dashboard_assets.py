"""What ``suanli serve`` sends for the dashboard and the API docs, without a browser: every
page and file comes from the package and names no other host, the security headers, the
map's coordinates, and the wheel carrying the files (``tests/test_dashboard_browser.py``
drives the pages in Chromium)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from suanli.server.web import STATIC_DIR
from suanli.store import open_store
from tests.api_builders import Network
from tests.conftest import ROOT

HOST = re.compile(r"\b(?:https?:)?//([A-Za-z0-9.-]+\.[A-Za-z]{2,}|localhost|\d+\.\d+\.\d+\.\d+)(?::\d+)?")
"""A URL naming a host (``http://x``, ``https://x``, protocol-relative ``//x``)."""
NAMESPACES = {"www.w3.org"}
"""XML namespace names (``http://www.w3.org/2000/svg``): identifiers, never fetched."""
VENDORED = STATIC_DIR / "swagger-ui"
SWAGGER_HOSTS = {
    # in swagger-ui-bundle.js (5.35.0): links it shows or keeps in comments, JSON Schema and
    # OpenAPI dialect identifiers, and the online validator, which /v1/docs turns off
    # (validatorUrl: null); the browser test checks nothing is fetched from any of them
    "base",
    "datatracker.ietf.org",
    "example.com",
    "fb.me",
    "github.com",
    "instagram.com",
    "json-schema.org",
    "reactjs.org",
    "redux.js.org",
    "soundcloud.com",
    "spdx.org",
    "spec.openapis.org",
    "swagger.io",
    "twitter.com",
    "validator.swagger.io",
    "vladimirgorej.com",
    "www.facebook.com",
    "www.rfc-editor.org",
    "www.tiktok.com",
    "www.w3.org",
}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    store = open_store(tmp_path_factory.mktemp("dash"))
    yield Network.build(store)
    store.dispose()


def hosts(text: str) -> set[str]:
    return {match.group(1) for match in HOST.finditer(text)}


def own_files() -> list[Path]:
    return sorted(p for p in STATIC_DIR.rglob("*") if p.is_file() and VENDORED not in p.parents)


def test_the_dashboard_is_its_page_and_the_modules_it_names(net: Network) -> None:
    page = net.api.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    named = re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', page.text)
    modules = {
        f"/ui/static/js/{m}"
        for p in STATIC_DIR.glob("js/*.js")
        for m in re.findall(r'from "\./([a-z]+\.js)"', p.read_text())
    }
    assert modules <= set(named), "every module is preloaded by the page (no request waterfall)"
    for path in {*named, *modules, "/ui/static/china.json"}:
        answer = net.api.get(path)
        assert answer.status_code == 200, path
    assert net.api.get("/ui/static/js/app.js").headers["content-type"].startswith("text/javascript")


def test_a_file_the_browser_has_is_answered_304(net: Network) -> None:
    first = net.api.get("/ui/static/app.css")
    again = net.api.get("/ui/static/app.css", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert net.api.get("/ui/static/no-such-file.js").status_code == 404
    assert net.api.get("/ui/static/../pages.py").status_code == 404


def test_large_files_go_gzipped_to_a_browser_that_takes_gzip(net: Network) -> None:
    answer = net.api.get("/ui/static/swagger-ui/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"})
    assert answer.headers["content-encoding"] == "gzip"
    assert int(answer.headers["content-length"]) < 700_000 < len(answer.content)


@pytest.mark.parametrize("path", own_files(), ids=lambda p: str(p.relative_to(STATIC_DIR)))
def test_no_file_of_the_dashboard_names_another_host(path: Path) -> None:
    found = hosts(path.read_text(encoding="utf-8")) - NAMESPACES
    assert found == set(), f"{path.name} names {found}: serve it from package data"


def test_the_vendored_swagger_ui_names_only_the_hosts_reviewed() -> None:
    found = set().union(*(hosts(p.read_text(encoding="utf-8")) for p in VENDORED.glob("*.js")))
    assert found <= SWAGGER_HOSTS, f"a new Swagger UI names {found - SWAGGER_HOSTS}: review, then list them"
    assert hosts((VENDORED / "swagger-ui.css").read_text(encoding="utf-8")) <= NAMESPACES
    assert (VENDORED / "LICENSE").read_text().lstrip().startswith("Apache License")


def test_the_api_docs_page_loads_swagger_ui_from_the_server(net: Network) -> None:
    page = net.api.get("/v1/docs")
    assert page.status_code == 200
    assert hosts(page.text) == set(), "the docs page names no host"
    assert "/ui/static/swagger-ui/swagger-ui-bundle.js" in page.text
    assert '"validatorUrl": null' in page.text
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    for path in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert net.api.get(path).status_code == 200, path


def test_every_served_page_names_no_other_host(net: Network) -> None:
    for path in ("/", "/v1/docs"):
        assert hosts(net.api.get(path).text) - NAMESPACES == set(), path


def test_the_map_places_every_catalogue_site_on_it(net: Network) -> None:
    assert net.api.get("/ui/geo").status_code == 401
    geo = net.api.get("/ui/geo", headers=net.headers("tenant_a")).json()["sites"]
    shape = json.loads((STATIC_DIR / "china.json").read_text())
    projection = shape["projection"]
    assert len(shape["regions"]) >= 34, "31 provinces, Taiwan, Hong Kong, Macau"
    for site, place in geo.items():
        x = (place["lon"] - projection["lon0"]) * projection["px_per_deg_lon"]
        y = (projection["lat0"] - place["lat"]) * projection["px_per_deg_lat"]
        assert 0 <= x <= shape["width"] and 0 <= y <= shape["height"], site


@pytest.mark.slow
def test_the_wheel_carries_the_dashboard_and_swagger_ui(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if built.returncode != 0 and "hatchling" in built.stderr and "No matching distribution" in built.stderr:
        pytest.skip("pip cannot fetch hatchling to build the wheel (no package index)")
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("suanli-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            assert f"suanli/server/web/static/{path.relative_to(STATIC_DIR)}" in names
