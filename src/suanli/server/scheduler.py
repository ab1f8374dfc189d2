"""The scheduling loop of a server replica: a thread that runs a cycle whenever woken
(a submit, a finished job, an agent joining) and at least every ``cycle_interval_s``.
Only the replica holding the leader lease schedules; the others keep trying to take it
(a lease lasts ``lease_ttl_s``, so a dead leader is replaced within that time)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from suanli.server import logs
from suanli.service.control.live import LEADER_LEASE, LiveCycle, run_live_cycle
from suanli.service.control.plane import ControlPlane
from suanli.store import sites as site_rows

if TYPE_CHECKING:
    from suanli.server.metrics import Metrics


class SchedulerLoop:
    def __init__(self, cp: ControlPlane, replica: str) -> None:
        self.cp = cp
        self.replica = replica
        self.metrics: Metrics | None = None
        self.last: LiveCycle | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="suanli-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.cp.wake.set()
        self._thread.join(timeout=10)
        try:
            with self.cp.store.engine.begin() as conn:
                site_rows.release_lease(conn, LEADER_LEASE, self.replica)
        except Exception as exc:  # shutting down: the lease expires anyway
            logs.event("lease release failed", logging.WARNING, error=str(exc))

    def _run(self) -> None:
        was_leader = False
        while not self._stop.is_set():
            self.cp.wake.wait(self.cp.settings.cycle_interval_s)
            self.cp.wake.clear()
            if self._stop.is_set():
                break
            try:
                cycle = run_live_cycle(self.cp, self.replica)
            except Exception as exc:  # a failed cycle must not stop scheduling
                logs.LOGGER.error("scheduling cycle failed", exc_info=exc)
                self._stop.wait(1.0)
                continue
            self.last = cycle
            if cycle.leader != was_leader:
                logs.event("leader lease " + ("taken" if cycle.leader else "lost"), replica=self.replica)
                was_leader = cycle.leader
            if not cycle.leader:
                continue
            if self.metrics is not None:
                self.metrics.cycle_seconds.observe(cycle.took_s)
            if cycle.placed or cycle.requeued or cycle.preempted:
                logs.event(
                    "cycle",
                    placed=len(cycle.placed),
                    requeued=cycle.requeued,
                    preempted=cycle.preempted,
                    waiting=cycle.waiting,
                    running=cycle.running,
                    ms=round(cycle.took_s * 1000, 2),
                )
