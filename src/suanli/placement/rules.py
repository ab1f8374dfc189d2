"""Feasibility rules that do not depend on the job's speed: where it may run, on what.

Each returns a :class:`Rejection` (code and sentence) or None.
"""

from __future__ import annotations

from suanli.catalog import Accelerator, Catalog, Site
from suanli.model import Code, Rejection
from suanli.workload import JobSpec


def site_rule(job: JobSpec, site: Site) -> Rejection | None:
    """Region and residency: the site itself is allowed or not."""
    regions = job.constraints.regions
    if regions and not any(Catalog.site_matches(site, region) for region in regions):
        return Rejection(
            Code.REGION_NOT_ALLOWED,
            f"{site.id} ({site.province}, hub {site.hub}) is not in the allowed regions {', '.join(regions)}",
            site=site.id,
        )
    residency = job.constraints.residency
    if residency is not None and site.zone != residency:
        return Rejection(
            Code.RESIDENCY_VIOLATION,
            f"{site.id} is in zone {site.zone}; the job's data must stay in {residency}",
            site=site.id,
        )
    return None


def export_rule(job: JobSpec, accel: Accelerator) -> Rejection | None:
    """An accelerator type restricted for the tenant's zone."""
    zone = job.constraints.tenant_zone
    if zone is not None and zone in accel.restricted_zones:
        note = f" ({accel.export_control})" if accel.export_control else ""
        return Rejection(
            Code.EXPORT_RESTRICTED,
            f"{accel.id} is export-restricted for tenants in zone {zone}{note}",
            accelerator=accel.id,
        )
    return None


def inventory_rule(site: Site, accel: Accelerator, count: int, named: bool) -> Rejection | None:
    """The site has the type, and enough of it. ``named``: the spec asked for this type
    by name (absent types of an ``any`` request are not options at all, so not reported)."""
    have = site.inventory.get(accel.id, 0)
    if have == 0:
        if not named:
            return None
        return Rejection(Code.ACCELERATOR_ABSENT, f"{site.id} has no {accel.id}", site.id, accel.id, count)
    if have < count:
        return Rejection(
            Code.INSUFFICIENT_ACCELERATORS,
            f"{site.id} has {have} {accel.id}, {count} needed",
            site.id,
            accel.id,
            count,
        )
    return None
