"""Rows for ``suanli catalog KIND``: what each column shows, for tables and JSON."""

from __future__ import annotations

from typing import Any

from suanli.catalog import Catalog

KINDS = ("accelerators", "sites", "models", "grid", "network")


def _flag(row: Any, *fields: str) -> str:
    return "~" if any(row.is_estimated(f) for f in fields) else ""


def rows(catalog: Catalog, kind: str) -> tuple[list[str], list[list[str]], list[dict[str, Any]]]:
    """(columns, table rows, JSON records) for one catalogue kind. ``~`` marks estimates."""
    if kind == "accelerators":
        cols = [
            "id",
            "name",
            "family",
            "bf16 TF",
            "fp8 TF",
            "int8 TOPS",
            "mem GB",
            "TB/s",
            "link GB/s",
            "TDP W",
            "restricted",
            "est",
        ]
        table = [
            [
                a.id,
                a.name,
                a.family,
                f"{a.tflops.get('bf16') or a.tflops.get('fp16') or '-'}",
                f"{a.tflops.get('fp8', '-')}",
                f"{a.tflops.get('int8', '-')}",
                f"{a.memory_gb:g}",
                f"{a.memory_bw_tbps:g}",
                f"{a.interconnect_gbps:g}",
                f"{a.tdp_w:g}",
                ",".join(a.restricted_zones) or "-",
                ",".join(a.estimated) or "",
            ]
            for a in sorted(catalog.accelerators.values(), key=lambda a: a.id)
        ]
        records = [a.model_dump(mode="json") for a in catalog.accelerators.values()]
    elif kind == "sites":
        cols = ["id", "hub", "province", "zone", "PUE", "grid", "USD/kWh", "pricing", "inventory", "est"]
        table = [
            [
                s.id,
                s.hub,
                s.province,
                s.zone,
                f"{s.pue:g}{_flag(s, 'pue')}",
                s.grid_region,
                f"{s.electricity_usd_per_kwh:g}{_flag(s, 'electricity_usd_per_kwh')}",
                s.pricing.model,
                ", ".join(f"{k}:{v}" for k, v in sorted(s.inventory.items())) + _flag(s, "inventory"),
                ",".join(s.estimated),
            ]
            for s in sorted(catalog.sites.values(), key=lambda s: s.id)
        ]
        records = [s.model_dump(mode="json") for s in catalog.sites.values()]
    elif kind == "models":
        cols = ["id", "name", "params B", "active B", "layers", "hidden", "heads", "kv heads", "context", "est"]
        table = [
            [
                m.id,
                m.name,
                f"{m.params_b:g}",
                f"{m.active_params_b:g}",
                str(m.layers),
                str(m.hidden),
                str(m.heads),
                str(m.kv_heads),
                f"{m.context:,}",
                ",".join(m.estimated),
            ]
            for m in sorted(catalog.models.values(), key=lambda m: m.id)
        ]
        records = [m.model_dump(mode="json") for m in catalog.models.values()]
    elif kind == "grid":
        cols = ["id", "name", "level", "grid", "gCO2/kWh by year", "hour profile", "est"]
        table = [
            [
                g.id,
                g.name,
                g.level,
                g.grid,
                ", ".join(f"{y}: {v:g}" for y, v in sorted(g.intensity_g_per_kwh.items())),
                g.profile,
                ",".join(g.estimated),
            ]
            for g in sorted(catalog.grid_regions.values(), key=lambda g: g.id)
        ]
        records = [g.model_dump(mode="json") for g in catalog.grid_regions.values()]
        records += [{"profile": p.model_dump(mode="json")} for p in catalog.hour_profiles.values()]
    else:
        site_ids = sorted(catalog.sites)
        cols = ["from", "to", "latency ms", "bandwidth Gb/s", "derived"]
        table = []
        records = []
        for i, a in enumerate(site_ids):
            for b in site_ids[i + 1 :]:
                path = catalog.path(a, b)
                table.append(
                    [a, b, f"{path.latency_ms:.1f}", f"{path.bandwidth_gbps:g}", "yes" if path.derived else "no"]
                )
                records.append(
                    {
                        "a": a,
                        "b": b,
                        "latency_ms": path.latency_ms,
                        "bandwidth_gbps": path.bandwidth_gbps,
                        "derived": path.derived,
                    }
                )
    return cols, table, records
