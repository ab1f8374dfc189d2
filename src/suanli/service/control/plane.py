"""The control plane's context: the store, the catalogue, the clock and the settings that
every use-case takes. Built once by ``suanli serve`` (or a test) and passed explicitly."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from suanli.clock import Clock, WallClock
from suanli.scheduler import Scheduler
from suanli.service.control.auth import PrincipalCache
from suanli.service.planning import Context, context
from suanli.store import Store

if TYPE_CHECKING:
    from suanli.service.control.options import QueuedOptions
    from suanli.sim.forecast import Timeline


@dataclass(frozen=True)
class Settings:
    """Tunable behaviour, each with its unit and default.

    - ``heartbeat_interval_s``: agents heartbeat this often; a site silent for
      ``heartbeat_interval_s x missed_heartbeats`` is down and its jobs are requeued;
    - ``cycle_interval_s``: the scheduler runs at least this often (and after every submit);
    - ``policy``: the scheduling policy (the simulator's registry; ``suanli`` by default);
    - ``lease_ttl_s``: the leader lease's lifetime (renewed every cycle);
    - ``rate_per_s`` / ``burst``: requests per token (token bucket);
    - ``max_body_bytes``: larger request bodies get 413;
    - ``fault_backoff_s`` / ``max_fault_backoff_s``: a site whose engine fails to start a job
      (an executor fault) is avoided for ``fault_backoff_s x 2^(faults in a row - 1)``, at
      most ``max_fault_backoff_s``; ``max_start_faults``: a job whose start failed that many
      times (at any sites) fails instead of going back to the queue again.
    """

    heartbeat_interval_s: float = 5.0
    missed_heartbeats: float = 8.0
    """A site timeout of 40 s at 5 s heartbeats (Kubernetes' node grace is 40 s too): room
    for an agent to fence its jobs 30 s after its last heartbeat and kill them before the
    server places them elsewhere, while a 10 s server restart still restarts nothing
    (docs/control-plane.md, *Self-fencing agents*)."""
    cycle_interval_s: float = 1.0
    policy: str = "suanli"
    lease_ttl_s: float = 10.0
    rate_per_s: float = 200.0
    burst: float = 400.0
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks (``10.0.0.5``, ``10.0.0.0/8``) of reverse proxies whose
    ``X-Forwarded-For`` names the client; from anyone else the header is ignored and the
    audit log records the socket's peer (``suanli serve --trusted-proxy``)."""
    shared_roots: tuple[str, ...] = ()
    """Absolute directories every site mounts alike: the only absolute ``run.workdir`` and
    ``run.checkpoint_dir`` a job may name (``suanli serve --shared-root``; see ``paths``)."""
    failed_auth_per_s: float = 2.0
    failed_auth_burst: float = 20.0
    """Failed authentications one client address may make: a burst of 20, then 2 a second
    (a token bucket); past it the address gets 429 with ``Retry-After`` instead of another
    token look-up. A 256-bit token cannot be guessed anyway; this keeps a storm of bad
    tokens from costing the store a query each."""
    max_body_bytes: int = 1_000_000
    max_log_read_chars: int = 1_000_000
    public_metrics: bool = False
    """Serve ``/metrics`` without a token (it names tenants and their use)."""
    restart_s: float = 60.0
    """Seconds a preempted or requeued job needs to resume (reload and restore its
    checkpoint), added to its remaining work as the simulator's ``--restart`` is."""
    fault_backoff_s: float = 60.0
    """Sixty cycles at the default interval: long enough for the queue to move to other
    sites, short enough that a fixed engine is back within a minute."""
    max_fault_backoff_s: float = 900.0
    """Doubling from 60 s reaches 15 min after five faults in a row: a broken engine is then
    tried four times an hour, each try costing one job a trip back to the queue."""
    max_start_faults: int = 3
    """A job the engines refused three times is more likely unrunnable as written (a
    runtime_env, a GRES count no node has) than unlucky; failing it stops one job from
    degrading every site in turn."""
    on_filing_withdrawn: Literal["stop", "hold"] = "stop"
    """What a rejected or withdrawn filing does to the public services of its model:
    ``stop`` cancels them (reason ``FILING_WITHDRAWN``), ``hold`` preempts and keeps them
    waiting until a filing of the model is approved (see ``compliance``)."""
    eta_interval_s: float = 15.0
    """The leader forecasts every job's start and finish this often (sooner when the queue
    changes, at most every 2 s; 0 turns ETAs off). A forecast of 10,000 jobs takes about a
    second of a core (``bench/bench_eta.py``); it runs beside the cycle, never in it."""
    eta_budget_s: float = 2.0
    """Wall seconds each of a forecast's two runs may take; jobs it has not placed by then
    get no ETA this time."""
    fair_share: bool = False
    """Order the queue by weighted max-min fair share across tenants in capacity-hours
    (each tenant's ``share_weight``; the policy's ``fair_share``, as ``suanli simulate
    --fair-share``), for a policy that has it (``suanli``)."""


class PlanCache:
    """Placement options by (spec, live network): identical specs are planned once."""

    def __init__(self, size: int = 4096) -> None:
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    @staticmethod
    def key(spec: dict[str, Any], network_signature: str) -> str:
        text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256((network_signature + "\n" + text).encode()).hexdigest()

    def get(self, key: str) -> Any | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class SiteCache:
    """The sites table as admission reads it, kept for ``ttl_s`` seconds.

    Every submit checks that some site can run the job; reading the sites table for that
    cost a third of the service's time per submit. Registrations through this process
    drop the copy at once; another replica's (PostgreSQL) are seen within ``ttl_s``. The
    scheduler and the API's own listings read the table itself."""

    def __init__(self, ttl_s: float = 2.0) -> None:
        self.ttl_s = ttl_s
        self._rows: list[dict[str, Any]] | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def get(self, load: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        with self._lock:
            if self._rows is not None and time.monotonic() - self._read_at < self.ttl_s:
                return self._rows
        read_at, rows = time.monotonic(), load()
        with self._lock:
            self._rows, self._read_at = rows, read_at
        return rows

    def invalidate(self) -> None:
        with self._lock:
            self._rows = None


@dataclass
class ControlPlane:
    store: Store
    planning: Context
    settings: Settings = field(default_factory=Settings)
    clock: Clock = field(default_factory=WallClock)
    plans: PlanCache = field(default_factory=PlanCache)
    wake: threading.Event = field(default_factory=threading.Event)
    """Set after a submit or a state change so the scheduler runs a cycle at once."""
    queued: dict[str, QueuedOptions] = field(default_factory=dict)
    """Job id -> its options as the scheduler last planned or read them (scheduler only;
    pruned every cycle to the jobs still waiting or running)."""
    principals: PrincipalCache = field(default_factory=PrincipalCache)
    """Tokens the server has authenticated lately (see ``auth``: revocation within 5 s)."""
    sites: SiteCache = field(default_factory=SiteCache)
    """The sites table for admission checks (see :class:`SiteCache`)."""
    scheduler: Scheduler | None = None
    """The leader's long-lived scheduler (made at its first cycle; see ``live``)."""
    replan_notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Stored spec text -> why re-planning it failed (the catalogue changed under it)."""
    replan_failed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Job id -> that reason, while the job waits on its submission-time options."""
    timeline: Timeline | None = None
    """Each live pool's use over time in the leader's last ETA forecast (quotes read it)."""
    leader_term: int | None = None
    """The term of the leader lease this replica holds (None until it first leads)."""
    leader_since_s: float | None = None
    """When this replica took the lease for that term: no site is declared lost until a
    full heartbeat timeout after it (see ``live.requeue_lost_sites``)."""

    def now_s(self) -> float:
        return self.clock.now_s()


def control_plane(
    store: Store,
    settings: Settings | None = None,
    catalog_dir: str | None = None,
    clock: Clock | None = None,
) -> ControlPlane:
    clock = clock or WallClock()
    return ControlPlane(
        store=store, planning=context(catalog_dir, clock=clock), settings=settings or Settings(), clock=clock
    )
