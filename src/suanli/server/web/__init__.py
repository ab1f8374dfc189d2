"""The dashboard at ``/`` and the API docs at ``/v1/docs``, served from package data.

The dashboard is static files (``static/``: one HTML page, ES modules, a stylesheet, the
map) that call the REST API with the token the user pasted, so the API's authorisation is
the dashboard's: nothing here reads the store. Nothing is loaded from another host (the
sites of such a network are often offline); ``docs/control-plane.md`` (*Dashboard*) says why
the page is plain JavaScript and why the token lives in ``sessionStorage``.
"""

from suanli.server.web.pages import STATIC_DIR, install

__all__ = ["STATIC_DIR", "install"]
