"""Rows for ``suanli catalog KIND``: what each column shows, for tables and JSON."""

from __future__ import annotations

from typing import Any

from suanli.catalog import Catalog

KINDS = ("accelerators", "sites", "models", "grid", "network")


def _flag(row: Any, *fields: str) -> str:
    return "~" if any(row.is_estimated(f) for f in fields) else ""


def _tf(accel: Any, precision: str) -> str:
    value = accel.tflops.get(precision)
    if value is None:
        return "-"
    return f"{value:g}{_flag(accel, 'tflops', 'tflops.' + precision)}"


LEGEND = "~ marks an estimate (derived, assumed or low-confidence); `--json` shows every source"


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
            "capex $",
            "restricted",
        ]
        table = [
            [
                a.id,
                a.name,
                a.family,
                _tf(a, "bf16") if "bf16" in a.tflops else _tf(a, "fp16"),
                _tf(a, "fp8"),
                _tf(a, "int8"),
                f"{a.memory_gb:g}{_flag(a, 'memory_gb')}",
                f"{a.memory_bw_tbps:g}{_flag(a, 'memory_bw_tbps')}",
                f"{a.interconnect_gbps:g}{_flag(a, 'interconnect_gbps')}",
                f"{a.tdp_w:g}{_flag(a, 'tdp_w')}",
                f"{a.capex_usd:,.0f}{_flag(a, 'capex_usd')}",
                ",".join(a.restricted_zones) or "-",
            ]
            for a in sorted(catalog.accelerators.values(), key=lambda a: a.id)
        ]
        records = [a.model_dump(mode="json") for a in catalog.accelerators.values()]
    elif kind == "sites":
        cols = ["id", "hub", "province", "zone", "PUE", "grid", "USD/kWh", "pricing", "accelerators", "inventory"]
        table = [
            [
                s.id,
                s.hub,
                s.province,
                s.zone,
                f"{s.pue:g}{_flag(s, 'pue')}",
                s.grid_region,
                f"{s.electricity_usd_per_kwh:g}{_flag(s, 'electricity_usd_per_kwh')}",
                s.pricing.model + _flag(s, "pricing"),
                f"{sum(s.inventory.values()):,}{_flag(s, 'inventory')}",
                " ".join(f"{k}:{v}" for k, v in sorted(s.inventory.items())),
            ]
            for s in sorted(catalog.sites.values(), key=lambda s: s.id)
        ]
        records = [s.model_dump(mode="json") for s in catalog.sites.values()]
    elif kind == "models":
        cols = ["id", "org", "params B", "active B", "layers", "hidden", "heads", "kv heads", "context"]
        table = [
            [
                m.id,
                m.org,
                f"{m.params_b:g}{_flag(m, 'params_b')}",
                f"{m.active_params_b:g}{_flag(m, 'active_params_b')}",
                f"{m.layers}{_flag(m, 'layers')}",
                f"{m.hidden}{_flag(m, 'hidden')}",
                f"{m.heads}{_flag(m, 'heads')}",
                f"{m.kv_heads}{_flag(m, 'kv_heads')}",
                f"{m.context:,}{_flag(m, 'context')}",
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
