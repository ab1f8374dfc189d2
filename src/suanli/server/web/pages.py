"""Routes of the dashboard and the docs page; the package files they serve, from memory."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from suanli.server.deps import caller, plane
from suanli.service.control.auth import Principal
from suanli.service.control.grid import grid_by_site
from suanli.service.control.plane import ControlPlane

STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = "/ui/static"

DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The page may run only its own scripts (no inline script, no eval, no other host), so a
value that slipped into the page as markup could not run and read the token."""
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""Swagger UI's page (FastAPI's ``get_swagger_ui_html``) starts it with an inline script;
every fetch is still to this server only."""
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
SWAGGER_PARAMETERS: dict[str, Any] = {
    "validatorUrl": None,  # Swagger UI would send the spec to its authors' online validator
    "persistAuthorization": False,
    "tryItOutEnabled": False,
}
GZIP_MIN_BYTES = 1024
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str

    @classmethod
    def read(cls, path: Path) -> Asset:
        body = path.read_bytes()
        media_type = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        packed = gzip.compress(body, mtime=0) if len(body) >= GZIP_MIN_BYTES else None
        return cls(
            body,
            packed if packed and len(packed) < len(body) else None,
            media_type,
            f'"{hashlib.sha256(body).hexdigest()[:20]}"',
        )

    def response(self, request: Headers, extra: dict[str, str] | None = None) -> Response:
        """The file (gzipped when the client takes it), or 304 when its copy is current.
        ``Cache-Control: no-cache``: the browser keeps the file and asks each time (a 304 in
        a millisecond), so an upgraded server never runs an old script against a new API."""
        headers = HEADERS | {"ETag": self.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"} | (extra or {})
        if self.etag in request.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if self.gzipped is not None and "gzip" in request.get("accept-encoding", ""):
            return Response(self.gzipped, media_type=self.media_type, headers=headers | {"Content-Encoding": "gzip"})
        return Response(self.body, media_type=self.media_type, headers=headers)


class Assets:
    """Every file under ``root``, read and compressed once when the server starts (the
    dashboard's own are 70 KB, Swagger UI's 2 MB), answered without touching the disk or a
    thread. A plain ASGI app mounted at ``/ui/static``."""

    def __init__(self, root: Path) -> None:
        self.files = {str(p.relative_to(root)): Asset.read(p) for p in sorted(root.rglob("*")) if p.is_file()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        path, mount = scope["path"], scope.get("root_path", "")  # Starlette: root_path ends with the mount's prefix
        name = (path[len(mount) :] if mount and path.startswith(mount) else path).lstrip("/")
        asset = self.files.get(name)
        if scope["method"] not in ("GET", "HEAD"):
            response: Response = PlainTextResponse("method not allowed", 405, headers={"Allow": "GET, HEAD"})
        elif asset is None:
            response = PlainTextResponse("not found", 404, headers=HEADERS)
        else:
            response = asset.response(Headers(scope=scope))
        await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Add ``/`` (the dashboard), ``/ui/static/*``, ``/ui/geo`` and ``/v1/docs`` to ``app``
    (made with ``docs_url=None``: FastAPI's own docs page loads Swagger UI from a CDN)."""
    assets = Assets(STATIC_DIR)
    index = assets.files["index.html"]

    @app.get("/", include_in_schema=False)
    async def dashboard(request: Request) -> Response:
        """The dashboard's one page; its routes (``#/jobs/ID``, ...) live after the ``#``."""
        return index.response(request.headers, {"Content-Security-Policy": DASHBOARD_CSP})

    @app.get("/ui/geo", include_in_schema=False)
    async def geo(
        cp: Annotated[ControlPlane, Depends(plane)], _who: Annotated[Principal, Depends(caller)]
    ) -> dict[str, Any]:
        """Where the catalogue's sites are, for the map (``/v1/sites`` lists registered sites
        without coordinates), and each one's grid carbon intensity now and over its day, as
        the live planner reads it (``service.control.grid``). Any valid token: the catalogue
        is the network's, no tenant's."""
        grid = grid_by_site(cp)
        return {
            "sites": {
                site.id: {
                    "name": site.name,
                    "province": site.province,
                    "hub": site.hub,
                    "lat": site.lat,
                    "lon": site.lon,
                    "grid": grid[site.id],
                }
                for site in cp.planning.catalog.sites.values()
            }
        }

    @app.get("/v1/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/v1/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{STATIC_URL}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC_URL}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{STATIC_URL}/favicon.svg",
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )
        page.headers.update(HEADERS | {"Content-Security-Policy": DOCS_CSP})
        return page

    app.mount(STATIC_URL, assets, name="ui-static")


__all__ = ["STATIC_DIR", "STATIC_URL", "Asset", "Assets", "install"]
