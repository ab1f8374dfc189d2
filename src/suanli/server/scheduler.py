"""The scheduling loop of a server replica: a thread that runs a cycle whenever woken
(a submit, a finished job, an agent joining) and at least every ``cycle_interval_s``, but
never sooner after a cycle than that cycle took (nor than ``MIN_GAP_S``).
Only the replica holding the leader lease schedules; the others keep trying to take it
(a lease lasts ``lease_ttl_s``, so a dead leader is replaced within that time)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from suanli.server import logs
from suanli.service.control.eta import EtaEngine
from suanli.service.control.live import LEADER_LEASE, LiveCycle, LivePorts, run_live_cycle
from suanli.service.control.plane import ControlPlane
from suanli.store import sites as site_rows

if TYPE_CHECKING:
    from suanli.server.metrics import Metrics


MIN_GAP_S = 0.1
"""Least time between the end of a cycle and the start of the next (see ``_run``)."""


class SchedulerLoop:
    def __init__(self, cp: ControlPlane, replica: str) -> None:
        self.cp = cp
        self.replica = replica
        self.metrics: Metrics | None = None
        self.last: LiveCycle | None = None
        settings = cp.settings
        self.eta = EtaEngine(cp.store, settings.eta_interval_s, settings.eta_budget_s, settings.policy)
        self.eta.on_timeline = lambda timeline: setattr(cp, "timeline", timeline)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="suanli-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.cp.wake.set()
        self._thread.join(timeout=10)
        self.eta.close()
        try:
            with self.cp.store.begin() as conn:
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
            # Paced: under a stream of wake-ups (a submission storm) the next cycle starts
            # MIN_GAP_S, or as long as this one took, after it ended (never later than the
            # interval): scheduling holds the GIL for most of a cycle, and running it after
            # every submit took up to half of the API's CPU. Placement waits that much longer.
            self._stop.wait(min(max(cycle.took_s, MIN_GAP_S), self.cp.settings.cycle_interval_s))
            if cycle.leader != was_leader:
                logs.event("leader lease " + ("taken" if cycle.leader else "lost"), replica=self.replica)
                was_leader = cycle.leader
            if not cycle.leader:
                continue
            self._forecast_if_due()
            if self.metrics is not None:
                self.metrics.cycle_seconds.observe(cycle.took_s)
                for phase, seconds in cycle.phase_s.items():
                    self.metrics.phase_seconds.labels(phase=phase).observe(seconds)
            if cycle.placed or cycle.requeued or cycle.preempted:
                logs.event(
                    "cycle",
                    placed=len(cycle.placed),
                    requeued=cycle.requeued,
                    preempted=cycle.preempted,
                    waiting=cycle.waiting,
                    running=cycle.running,
                    ms=round(cycle.took_s * 1000, 2),
                    phase_ms={phase: round(s * 1000, 2) for phase, s in cycle.phase_s.items()},
                )

    def _forecast_if_due(self) -> None:
        """Between cycles, in this thread: fork the live scheduler for the ETA engine when a
        forecast is due; the engine's worker runs it (see suanli.service.control.eta)."""
        scheduler = self.cp.scheduler
        if scheduler is None or not isinstance(scheduler.ports, LivePorts) or not self.eta.due(scheduler):
            return
        if self.metrics is not None:
            self.eta.observe = self.metrics.eta_error_seconds.observe
            self.eta.on_done = self.metrics.eta_seconds.observe
        self.eta.start(self.eta.take(scheduler, scheduler.ports.ids, self.cp.now_s()))
