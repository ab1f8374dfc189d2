"""Policies and their registry.

A policy is an object with a ``name``, typed parameters, and ``schedule(view) ->
Decisions``. Registries are objects; an unknown name fails with the list of valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

from suanli.errors import InputError, UnknownNameError
from suanli.policy.view import Decisions, Start, View, Wait


class Policy(Protocol):
    name: str

    def schedule(self, view: View) -> Decisions: ...


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Policy]
    params: type[Any] | None
    summary: str


class PolicyRegistry:
    """Name -> policy factory with typed parameters (a frozen dataclass per policy)."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, factory: Callable[..., Policy], params: type[Any] | None, summary: str) -> None:
        if name in self._entries:
            raise ValueError(f"policy '{name}' is already registered")
        self._entries[name] = Entry(name, factory, params, summary)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def entries(self) -> tuple[Entry, ...]:
        return tuple(self._entries.values())

    def create(self, name: str, **params: Any) -> Policy:
        entry = self._entries.get(name)
        if entry is None:
            raise UnknownNameError("policy", name, self._entries)
        if entry.params is None:
            if params:
                raise InputError(f"policy '{name}' takes no parameters, got {', '.join(params)}")
            return entry.factory()
        valid = {f.name for f in fields(entry.params)}
        unknown = sorted(set(params) - valid)
        if unknown:
            raise InputError(
                f"policy '{name}' has no parameter(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}"
            )
        try:
            config = entry.params(**params)
        except (TypeError, ValueError) as exc:
            raise InputError(f"policy '{name}': {exc}") from None
        return entry.factory(config)


def first_fit(free: Sequence[int], gpus: int, order: Iterable[int], allowed: frozenset[int] | None) -> int | None:
    """The first pool in ``order`` that is allowed and has ``gpus`` idle accelerators."""
    if allowed is None:
        for pool in order:
            if free[pool] >= gpus:
                return pool
        return None
    for pool in order:
        if free[pool] >= gpus and pool in allowed:
            return pool
    return None


RankKey = Callable[[View, int, int], float]
"""(view, job, pool) -> a score to minimise."""


class PoolRanking:
    """Pools ranked for a job by a score, cached per (speed profile, allowed pools, size).

    Jobs with the same speed key, allowed pools and accelerator count rank pools the same
    way, so a ranking is computed once per such group and cycle-hour (scores that use the
    grid's hourly intensity change on the hour).
    """

    def __init__(self, score: RankKey, hourly: bool) -> None:
        self._score = score
        self._hourly = hourly
        self._hour = -1.0
        self._cache: dict[tuple[int, frozenset[int] | None, int], list[int]] = {}
        self._pools: object = None

    def rank(self, view: View, job: int) -> list[int]:
        if view.pools is not self._pools:  # a new pool table (the live network changed)
            self._cache.clear()
            self._pools = view.pools
        if self._hourly:
            hour = view.now_s // 3600.0
            if hour != self._hour:
                self._cache.clear()
                self._hour = hour
        allowed = view.allowed(job)
        gpus = view.gpus(job)
        key = (view.speed_key(job), allowed, gpus)
        ranked = self._cache.get(key)
        if ranked is None:
            pools = view.pools
            candidates = range(len(pools)) if allowed is None else sorted(allowed)
            fitting = [p for p in candidates if pools.capacity[p] >= gpus]
            ranked = sorted(fitting, key=lambda p: (self._score(view, job, p), -view.speed(job, p), p))
            self._cache[key] = ranked
        return ranked


Hold = Callable[[View, int, int], tuple[float, Wait] | None]
"""(view, job, chosen pool) -> None to start the job now, or (when to look at it again,
the policy's reason for holding it)."""


def ranked_greedy(view: View, ranking: PoolRanking, hold: Hold | None = None) -> Decisions:
    """Non-blocking list scheduling: each waiting job, in arrival order, takes the
    best-ranked pool with room; a job that fits nowhere waits without blocking the jobs
    behind it. ``hold`` may keep a job back (it returns when to wake the scheduler)."""
    free = list(view.free)
    most_free = max(free, default=0)
    starts: list[Start] = []
    waits: list[Wait] = []
    wake: float | None = None
    for job in view.pending:
        if most_free == 0:
            break
        gpus = view.gpus(job)
        if gpus > most_free:
            continue
        pool = next((p for p in ranking.rank(view, job) if free[p] >= gpus), None)
        if pool is None:
            continue
        if hold is not None:
            held = hold(view, job, pool)
            if held is not None:
                again, reason = held
                wake = again if wake is None else min(wake, again)
                waits.append(reason)
                continue
        free[pool] -= gpus
        most_free = max(free)
        starts.append(Start(job, pool))
    return Decisions(tuple(starts), waits=tuple(waits), wake_at_s=wake)
