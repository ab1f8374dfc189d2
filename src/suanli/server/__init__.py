"""L6: the REST API (FastAPI) and the scheduler loop of ``suanli serve``."""

from suanli.server.app import create_app

__all__ = ["create_app"]
