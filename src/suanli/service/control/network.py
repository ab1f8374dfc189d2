"""The network as operators and tenants see it: sites, their inventories and use."""

from __future__ import annotations

from suanli.schemas import SiteOut
from suanli.service.control import views
from suanli.service.control.agents import lease_expires_s
from suanli.service.control.auth import Principal, require
from suanli.service.control.plane import ControlPlane
from suanli.store import jobs as job_rows
from suanli.store import sites as site_rows
from suanli.store.jobs import ACTIVE


def list_sites(cp: ControlPlane, who: Principal) -> list[SiteOut]:
    require(who, ("admin", "operator", "tenant", "agent"), "list sites")
    catalog = cp.planning.catalog
    with cp.store.engine.connect() as conn:
        rows = site_rows.list_sites(conn)
        in_use = job_rows.in_use_by_site(conn, ACTIVE)
    out = []
    now = cp.now_s()
    for row in rows:
        site = catalog.sites.get(row["id"])
        out.append(
            views.site_out(
                row,
                in_use.get(row["id"], {}),
                site.province if site is not None else None,
                site.pue if site is not None else None,
                now,
                lease_expires_s(cp, row),
            )
        )
    return out
