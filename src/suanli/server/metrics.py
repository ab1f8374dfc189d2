"""``/metrics`` for Prometheus.

Gauges are read from the store at scrape time (so every replica reports the network's
state, not its own); the cycle-latency histogram and request counters are this replica's.

- ``suanli_jobs{state}``: jobs by state (``PENDING`` + ``PREEMPTED`` = the queue);
- ``suanli_queue_length``: jobs waiting to be placed;
- ``suanli_running_jobs``: jobs placed or running;
- ``suanli_accelerators_in_use{site,accelerator}`` and ``suanli_accelerators{site,accelerator}``;
- ``suanli_site_up{site}``, and ``suanli_site_degraded{site}`` (1 while an executor fault's
  back-off runs: the scheduler places nothing there);
- ``suanli_energy_kwh_total``, ``suanli_carbon_kg_total``, ``suanli_cost_usd_total``: metered
  so far (finished run segments), and per tenant ``suanli_tenant_accelerator_hours_total{tenant}``;
- ``suanli_quota_used{tenant,key,limit}`` and ``suanli_quota_limit{tenant,key,limit}``: each
  quota's use over its period and its limit, for ``limit`` = ``capacity_hours``
  (H800-equivalent hours), ``accelerator_hours`` and ``accelerators`` (held now); a limit
  not set has no ``suanli_quota_limit`` sample (alert on ``used / limit``);
- ``suanli_scheduling_cycle_seconds``: histogram of cycle latency;
- ``suanli_scheduling_phase_seconds{phase}``: histogram of each scheduler phase's latency
  (``snapshot``, ``requeue``, ``decide``, ``admit``, ``apply``, ``explain``; as Kueue's
  ``admission_attempt_duration_seconds`` breaks down its scheduler);
- ``suanli_http_requests_total{method,route,status}``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from suanli.service.control.plane import ControlPlane
from suanli.service.control.quotas import usages
from suanli.store import identity
from suanli.store import jobs as job_rows
from suanli.store import sites as site_rows
from suanli.store.jobs import ACTIVE, WAITING


class StoreCollector(Collector):
    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        with self.cp.store.engine.connect() as conn:
            counts = job_rows.count_by_state(conn)
            sites = site_rows.list_sites(conn)
            active = job_rows.jobs_in(conn, ACTIVE)
            totals = job_rows.usage_totals(conn)
            names = identity.tenant_names(conn)
        jobs = GaugeMetricFamily("suanli_jobs", "Jobs by state", labels=["state"])
        for state, n in sorted(counts.items()):
            jobs.add_metric([state], n)
        yield jobs
        yield GaugeMetricFamily(
            "suanli_queue_length", "Jobs waiting to be placed", value=sum(counts.get(s, 0) for s in WAITING)
        )
        yield GaugeMetricFamily(
            "suanli_running_jobs", "Jobs placed or running", value=sum(counts.get(s, 0) for s in ACTIVE)
        )
        capacity = GaugeMetricFamily(
            "suanli_accelerators", "Accelerators a site reported", labels=["site", "accelerator"]
        )
        used = GaugeMetricFamily(
            "suanli_accelerators_in_use", "Accelerators held by placed or running jobs", labels=["site", "accelerator"]
        )
        up = GaugeMetricFamily("suanli_site_up", "1 when the site's agent heartbeats", labels=["site"])
        degraded = GaugeMetricFamily(
            "suanli_site_degraded", "1 while the site is avoided after an executor fault", labels=["site"]
        )
        now = self.cp.now_s()
        in_use: dict[tuple[str, str], int] = {}
        for row in active:
            key = (row["site"], row["accelerator"])
            in_use[key] = in_use.get(key, 0) + row["count"]
        for site in sites:
            up.add_metric([site["id"]], 1.0 if site["state"] == "up" else 0.0)
            until = site["degraded_until"]
            degraded.add_metric([site["id"]], 1.0 if until is not None and until > now else 0.0)
            for accel, n in sorted(site["inventory"].items()):
                capacity.add_metric([site["id"], accel], n)
                used.add_metric([site["id"], accel], in_use.get((site["id"], accel), 0))
        yield capacity
        yield used
        yield up
        yield degraded
        for name, column, text in (
            ("suanli_energy_kwh", "energy_kwh", "Facility energy metered so far (kWh)"),
            ("suanli_carbon_kg", "carbon_kg", "Carbon metered so far (kg CO2e)"),
            ("suanli_cost_usd", "cost_usd", "Cost metered so far (USD)"),
        ):
            yield CounterMetricFamily(name, text, value=sum(float(t[column] or 0.0) for t in totals))
        tenant_hours = CounterMetricFamily(
            "suanli_tenant_accelerator_hours", "Accelerator-hours metered per tenant", labels=["tenant"]
        )
        for total in totals:
            tenant_hours.add_metric(
                [names.get(total["tenant_id"], total["tenant_id"])], float(total["accelerator_s"] or 0.0) / 3600.0
            )
        yield tenant_hours
        yield from self._quotas(names, now)

    def _quotas(self, names: dict[str, str], now_s: float) -> Iterator[GaugeMetricFamily]:
        labels = ["tenant", "key", "limit"]
        used = GaugeMetricFamily(
            "suanli_quota_used", "Each quota's use over its period (held now: accelerators)", labels=labels
        )
        limit = GaugeMetricFamily("suanli_quota_limit", "Each quota's limits that are set", labels=labels)
        with self.cp.store.engine.connect() as conn:
            rows = identity.quotas_of(conn)
            usage = usages(self.cp, conn, rows, now_s)
        for row, figures in zip(rows, usage, strict=True):
            tenant = names.get(row["tenant_id"], row["tenant_id"])
            for name, value, cap in (
                ("capacity_hours", figures.capacity_hours, row["capacity_hours"]),
                ("accelerator_hours", figures.accelerator_hours, row["accelerator_hours"]),
                ("accelerators", float(figures.in_use), row["max_concurrent"]),
            ):
                used.add_metric([tenant, row["family"], name], value)
                if cap is not None:
                    limit.add_metric([tenant, row["family"], name], float(cap))
        yield used
        yield limit


class Metrics:
    """This replica's registry."""

    def __init__(self, cp: ControlPlane) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(cp))
        self.cycle_seconds = Histogram(
            "suanli_scheduling_cycle_seconds",
            "Latency of one scheduling cycle",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.phase_seconds = Histogram(
            "suanli_scheduling_phase_seconds",
            "Latency of one phase of a scheduling cycle",
            labelnames=["phase"],
            buckets=(0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.eta_seconds = Histogram(
            "suanli_eta_forecast_seconds",
            "Wall time of one ETA forecast (fork, both runs, the write)",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
            registry=self.registry,
        )
        self.eta_error_seconds = Histogram(
            "suanli_eta_start_error_seconds",
            "Actual minus predicted start of each job that started (the last forecast before it did)",
            buckets=(-3600, -600, -60, -10, 0, 10, 60, 600, 3600, 86400),
            registry=self.registry,
        )
        self.requests = Counter(
            "suanli_http_requests", "HTTP requests", labelnames=["method", "route", "status"], registry=self.registry
        )
