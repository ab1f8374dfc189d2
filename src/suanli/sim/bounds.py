"""Lower bounds that every policy is read against.

- **Carbon**: each job alone, with no capacity limit, on the pool that emits least per
  unit of its work, at that site's lowest hourly intensity all the way through:
  ``min over pools of kW x gpus x runtime x min-hour intensity``. No schedule can emit
  less: capacity only removes choices, and no hour is cleaner than the cleanest.
  :func:`carbon_lp_bound` tightens it with pool capacities over a makespan.
- **Mean JCT**: each job alone on its fastest allowed pool with no queueing. Queueing and
  slower pools only add time. :func:`jct_lp_bound` tightens it with pool capacities: a
  time-indexed LP relaxation in which jobs compete for accelerators.

Jobs no pool can hold are rejected, not run: every bound leaves them out, as the
policies' figures do. :func:`lower_bounds` takes the larger of each pair of valid bounds
and says which one binds.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from suanli.sim.engine import SimInput, fastest_runtime_s, largest_allowed


@dataclass(frozen=True)
class Bounds:
    carbon_kg: float
    avg_jct_h: float
    method: str


def simple_bounds(data: SimInput) -> Bounds:
    pools, jobs = data.pools, data.jobs
    n = len(jobs.submit_s)
    fastest = fastest_runtime_s(data)
    largest = largest_allowed(pools, jobs)
    runnable = np.asarray([jobs.gpus[j] <= largest[jobs.allowed_class[j]] for j in range(n)], dtype=bool)
    jct_bound_h = float(fastest[runnable].mean() / 3600.0) if runnable.any() else float("nan")
    work = np.asarray(jobs.work_s)
    gpus = np.asarray(jobs.gpus, dtype=np.float64)
    best = np.full(n, np.inf)
    allowed_class = np.asarray(jobs.allowed_class)
    speed_class = np.asarray(jobs.speed_class)
    # Minimum intensity over a day bounds the integral from below: kW x runtime x min hourly
    # intensity. It is exact for a flat profile and never above the true minimum.
    min_intensity = [min(pools.intensity_g_per_kwh[s]) for s in range(len(pools.site_names))]
    for a, k in set(zip(allowed_class.tolist(), speed_class.tolist(), strict=True)):
        mask = (allowed_class == a) & (speed_class == k)
        allowed = jobs.allowed_sets[a]
        speeds = pools.speed if k < 0 else jobs.class_speed[k]
        for size in set(np.asarray(jobs.gpus)[mask].tolist()):
            candidates = [p for p in (range(len(pools)) if allowed is None else allowed) if pools.capacity[p] >= size]
            per_work = min(
                (pools.kw_per_accel[p] * min_intensity[pools.site[p]] / speeds[p] for p in candidates),
                default=0.0,  # no pool can hold it: rejected, emits nothing
            )
            best[mask & (gpus == size)] = per_work
    carbon_kg = float(np.sum(best * work * gpus) / 3600.0 / 1000.0)
    return Bounds(carbon_kg=carbon_kg, avg_jct_h=jct_bound_h, method="per-job, capacity-free")


def carbon_lp_bound(data: SimInput, horizon_s: float) -> float | None:
    """A tighter carbon bound: an LP relaxation with pool capacities, solved with HiGHS.

    Jobs are grouped by (allowed pools, speed profile, accelerators). Variables
    ``x[g, p]`` >= 0: reference accelerator-seconds of group g's work done in pool p.

        minimise   sum x[g, p] / speed[g, p] x kW[p] x min-hour intensity[p] / 3.6e6
        subject to sum_p x[g, p] = W_g                         (all work is done)
                   sum_g x[g, p] / speed[g, p] <= capacity[p] x horizon   (pool time)

    Any schedule that finishes within ``horizon_s`` satisfies both constraints (work may
    move between pools freely and time-of-day is relaxed to the cleanest hour), so the
    optimum bounds its carbon from below. Pass the longest makespan among the runs
    compared. Returns None when HiGHS (``highspy``, extra ``lp``) is not installed or the
    LP is infeasible.
    """
    try:
        import highspy
    except ImportError:
        return None
    pools, jobs = data.pools, data.jobs
    min_intensity = [min(pools.intensity_g_per_kwh[s]) for s in range(len(pools.site_names))]
    groups: dict[tuple[int, int, int], float] = {}
    for j in range(len(jobs.submit_s)):
        key = (jobs.allowed_class[j], jobs.speed_class[j], jobs.gpus[j])
        groups[key] = groups.get(key, 0.0) + jobs.work_s[j] * jobs.gpus[j]
    h = _quiet_highs(highspy)
    pool_use: dict[int, list[tuple[object, float]]] = {p: [] for p in range(len(pools))}
    objective = []
    for (allowed_class, speed_class, gpus), work in groups.items():
        allowed = jobs.allowed_sets[allowed_class]
        speeds = pools.speed if speed_class < 0 else jobs.class_speed[speed_class]
        candidates = [p for p in (range(len(pools)) if allowed is None else allowed) if pools.capacity[p] >= gpus]
        if not candidates:
            continue
        variables = []
        for p in candidates:
            x = h.addVariable(lb=0.0)
            variables.append(x)
            per_work = 1.0 / speeds[p]
            pool_use[p].append((x, per_work))
            objective.append(x * (per_work * pools.kw_per_accel[p] * min_intensity[pools.site[p]] / 3.6e6))
        h.addConstr(sum(variables[1:], variables[0]) == work)
    for p, terms in pool_use.items():
        if terms:
            expr = sum((x * w for x, w in terms[1:]), terms[0][0] * terms[0][1])  # type: ignore[operator]
            h.addConstr(expr <= pools.capacity[p] * horizon_s)
    if not objective:
        return 0.0
    h.minimize(sum(objective[1:], objective[0]))
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    return float(h.getInfo().objective_function_value)


def lower_bounds(data: SimInput, makespan_s: float, jct_options: JctLpOptions | None = None) -> Bounds:
    """The tightest bounds this module has: for each figure, the larger of its
    capacity-free and its LP bound (both valid, so their maximum is too). ``method``
    names the one that binds for each, and why an LP was not used when it was not.
    ``makespan_s``: the longest makespan among the runs compared (for the carbon LP)."""
    simple = simple_bounds(data)
    carbon_kg, carbon_how = simple.carbon_kg, "per job, capacity-free"
    if makespan_s > 0:
        tighter = carbon_lp_bound(data, makespan_s)
        if tighter is None:
            carbon_how += " (LP not solved: highspy missing or LP infeasible)"
        elif tighter > carbon_kg:
            carbon_kg, carbon_how = tighter, "LP relaxation with pool capacities over the longest makespan (HiGHS)"
    jct = jct_lp_bound(data, jct_options or JctLpOptions())
    avg_jct_h, jct_how = simple.avg_jct_h, "per job, capacity-free"
    if jct.avg_jct_h is None:
        jct_how += f" (capacity LP not used: {jct.detail})"
    elif jct.avg_jct_h > avg_jct_h:
        avg_jct_h, jct_how = jct.avg_jct_h, f"time-indexed LP with pool capacities (HiGHS; {jct.detail})"
    else:
        jct_how += f" (capacity LP no tighter: {jct.detail})"
    return Bounds(carbon_kg=carbon_kg, avg_jct_h=avg_jct_h, method=f"carbon: {carbon_how}; JCT: {jct_how}")


# -- mean JCT with capacities ------------------------------------------------------------


@dataclass(frozen=True)
class JctLpOptions:
    """Size of the mean-JCT LP of :func:`jct_lp_bound`. Every setting keeps the bound
    valid; finer ones make it tighter and the LP larger."""

    max_columns: int = 250_000
    """LP variables allowed; a larger LP is coarsened (fewer intervals, merged speeds)
    and, if still larger, not solved (the reason is reported)."""
    uniform_intervals: int = 48
    """Intervals of equal length between the first and the last submission."""
    growth: float = 0.25
    """After the last submission each interval is ``1 + growth`` times the one before."""
    work_ratio: float = 1.5
    """Jobs whose work differs by less than this factor may share a group."""
    speed_ratio: float = 1.0
    """Pools whose speeds (for every job class) differ by less than this factor are merged
    at the faster speed; 1 merges only pools of equal speeds."""
    tangents: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    """Points at which ``F^2`` is linearised from below (see :func:`jct_lp_bound`)."""
    time_limit_s: float = 120.0
    """HiGHS's own limit, a safety net only (the size cap keeps solves well under it); a
    solve stopped by it is not used (reported), so the bound never rests on it."""
    safety: float = 1e-6
    """Relative margin taken off the optimum for the solver's feasibility tolerances."""


@dataclass(frozen=True)
class JctLpBound:
    avg_jct_h: float | None
    """None when the LP was not solved."""
    detail: str
    """The LP's size when solved, else why not."""


def jct_lp_bound(data: SimInput, options: JctLpOptions | None = None) -> JctLpBound:
    r"""A mean-JCT lower bound in which jobs compete for pool capacity: a time-indexed LP
    relaxation, solved with HiGHS.

    Notation (times in hours from the first submission):

    - job ``j``: submitted at ``S_j``, work ``W_j`` (reference-hours), ``g_j``
      accelerators; it may use pool ``p`` when ``p`` is allowed to it, holds ``g_j`` and
      has speed ``s_jp > 0`` (work per hour). ``r_j = W_j / max_p s_jp``.
    - time intervals ``I_t = [b_t, b_{t+1})``, ``t = 0..K-1``: ``uniform_intervals`` of
      equal length up to the last submission, then each ``1 + growth`` times longer, up
      to a horizon; then one last interval ``I_K = [b_K, inf)`` with no capacity limit.
    - ``x[j, p, t]`` >= 0: the fraction of the work ``j`` processes that it processes on
      ``p`` during ``I_t`` (0 for intervals ending before ``S_j``).

    The LP (per job; see below for the grouping that keeps it small)::

        minimise   sum_j C_j
        subject to sum_{p,t} x[j,p,t] = 1                                     (work)
                   sum_j g_j W_j / s_jp x[j,p,t] <= capacity_p |I_t|         (pools, t < K)
                   sum_p W_j / s_jp x[j,p,t] <= |I_t intersect [S_j, inf)|    (one pool at a time)
                   C_j >= S_j + sum_{p,t} W_j / s_jp x[j,p,t]                 (busy time)
                   C_j >= sum_{p,t} x[j,p,t] max(b_t, S_j) + Phi_j(x)         (mean busy time)

    Mean JCT >= (optimum - sum_j S_j) / n.

    *Why every simulated schedule is feasible* (any policy, preemptive or not, with or
    without faults). Take a schedule; let ``j`` process, in total, work ``W'_j >= W_j``
    (a preempted job redoes work since its last checkpoint and pays a restart), and set
    ``x[j,p,t]`` to the share of that work done on ``p`` in ``I_t``. Then ``W_j / s_jp
    x[j,p,t]`` is at most the hours ``j`` ran on ``p`` in ``I_t``; a gang of ``g_j`` runs
    in one pool, never more than its capacity in all (faults only remove capacity), and a
    job runs in one pool at a time, never before ``S_j``: the capacity and one-pool rows
    hold. Busy time: ``C_j - S_j`` is at least the hours ``j`` ran. Mean busy time: let
    the job run in pieces ``k`` (each on one pool at a constant speed), piece ``k``
    carrying the share ``f_k`` of the work in ``d_k`` hours, so ``d_k = f_k P_k`` with
    ``P_k = W'_j / s_k``. The work-weighted mean time ``M_j = sum_k f_k (start_k +
    d_k / 2)`` satisfies ``M_j >= sum x max(b_t, S_j)`` (each share lies in its interval,
    after ``S_j``), and ``C_j - M_j >= sum_k f_k (sum_{l after k} d_l + d_k / 2)``, which
    is least when the slowest pieces come first. Summing by parts over the distinct
    speeds ``u_1 < ... < u_m`` the job ran at, with ``F_i`` the share of its work done at
    speeds ``<= u_i`` (``F_m = 1``)::

        C_j - M_j >= Phi_j = W_j / 2 x sum_i (1 / u_i - 1 / u_{i+1}) F_i^2,  1 / u_{m+1} = 0

    (with ``W'_j >= W_j``). For one speed it is ``W_j / (2 s)``: half the runtime,
    the classic mean-busy-time bound (Goemans, Queyranne, Schulz, Skutella, Wang, SIAM J.
    Discrete Math. 2002); the form above holds also when a job moves between pools of
    different speeds, which the preemptive policies do (the classic ``B_j / 2``, half the
    busy time, does not). ``F^2`` is convex: the LP bounds it from below by the tangents
    ``2 a F - a^2`` at ``a`` in ``tangents``. The last interval has no capacity row, so
    no horizon can cut a schedule off: the horizon only trades tightness for size.

    *Grouping* (what keeps 10^4-10^5 jobs tractable). Jobs with the same allowed pools,
    speed profile and size, submitted in the same interval, with work within
    ``work_ratio`` of each other, form a group ``G`` (``n_G`` jobs, work ``W_G``, largest
    ``Wmax_G``, earliest submission ``L_G``). Its variables ``X[G,p,t] = sum_{j in G} W_j
    x[j,p,t] / W_G`` (shares of the group's work) and ``H_G`` (``>= sum_{j in G} C_j -
    n_G L_G``) see only sums of the per-job rows (work, capacity, one-pool with the
    summed right-hand sides) and, per job, ``sum x (max(b_t, S_j) - L_G) >= sum x (b'_t -
    L_G) W_j / Wmax_G`` (``b'_t = max(b_t, L_G)``), and ``sum_j Phi_j >= W_G Phi(X)`` by
    Jensen's inequality (``Phi`` is convex). So every feasible per-job point maps to a
    feasible grouped point of no larger objective, and the grouped optimum is still a lower
    bound. Pools of equal speeds for every job class and the same admissions merge into
    one: capacities add, and for each size threshold ``c`` the jobs larger than ``c`` share
    only the members larger than ``c`` (gangs stay in one pool). ``speed_ratio > 1`` also
    merges pools of close speeds at the faster one (running faster only lowers times).

    The optimum is reduced by the relative margin ``safety`` for the solver's tolerances.
    Returns ``avg_jct_h=None`` with the reason when HiGHS (``highspy``, extra ``lp``) is
    missing, the LP is too large even after coarsening, or the solve did not finish.
    """
    options = options or JctLpOptions()
    try:
        import highspy
    except ImportError:
        return JctLpBound(None, "highspy is not installed (extra lp)")
    jobs = _JobFacts.of(data)
    if jobs.n_runnable == 0:
        return JctLpBound(None, "no job can run")
    if not np.all(np.isfinite(jobs.fastest_h[jobs.index])):
        return JctLpBound(None, "a job's only pools have speed 0")
    if jobs.index.size == 0:  # every runnable job has no work: each JCT >= 0
        return JctLpBound(0.0, "no work")
    attempts = [
        options,
        replace(options, speed_ratio=max(options.speed_ratio, 1.15)),
        replace(options, speed_ratio=max(options.speed_ratio, 1.15), uniform_intervals=24, work_ratio=2.0),
        replace(options, speed_ratio=max(options.speed_ratio, 1.3), uniform_intervals=12, work_ratio=3.0, growth=0.5),
    ]
    columns = 0
    for attempt in attempts:
        model = _Model.build(data, jobs, attempt)
        columns = model.n_columns
        if model.entries is not None:
            break
    else:
        return JctLpBound(None, f"LP too large ({columns:,} variables > {options.max_columns:,} after coarsening)")
    value = model.solve(highspy, attempt)
    if value is None:
        return JctLpBound(None, "HiGHS did not reach an optimum within its time limit")
    bound_h = (value - model.offset_h) * (1.0 - attempt.safety) / jobs.n_runnable
    return JctLpBound(max(bound_h, 0.0), model.describe(attempt))


@dataclass(frozen=True)
class _JobFacts:
    """Per job: submission (h), work (reference-h), fastest runtime (h) over the pools it
    can use, and which jobs enter the LP (runnable, with work)."""

    submit_h: np.ndarray
    work_h: np.ndarray
    fastest_h: np.ndarray
    signature: np.ndarray
    """Index into ``signatures``: jobs of one signature use the same pools at the same speeds."""
    signatures: list[tuple[int, int, int]]
    """(allowed class, speed class, accelerators)"""
    index: np.ndarray
    """Runnable jobs with work > 0."""
    n_runnable: int

    @staticmethod
    def of(data: SimInput) -> _JobFacts:
        pools, jobs = data.pools, data.jobs
        n = len(jobs.submit_s)
        keys = list(zip(jobs.allowed_class, jobs.speed_class, jobs.gpus, strict=True))
        signatures = sorted(set(keys))
        number = {key: i for i, key in enumerate(signatures)}
        signature = np.asarray([number[key] for key in keys], dtype=np.int64)
        best = np.zeros(len(signatures))
        runnable_sig = np.zeros(len(signatures), dtype=bool)
        for i, (allowed_class, speed_class, gpus) in enumerate(signatures):
            usable = _usable_pools(data, allowed_class, gpus)
            speeds = pools.speed if speed_class < 0 else jobs.class_speed[speed_class]
            runnable_sig[i] = bool(usable)
            best[i] = max((speeds[p] for p in usable), default=0.0)
        work_h = np.asarray(jobs.work_s, dtype=np.float64).reshape(n) / 3600.0
        fastest = best[signature]
        with np.errstate(divide="ignore", invalid="ignore"):
            fastest_h = np.where(work_h > 0, work_h / fastest, 0.0)
        runnable = runnable_sig[signature]
        return _JobFacts(
            submit_h=np.asarray(jobs.submit_s, dtype=np.float64).reshape(n) / 3600.0,
            work_h=work_h,
            fastest_h=fastest_h,
            signature=signature,
            signatures=signatures,
            index=np.flatnonzero(runnable & (work_h > 0)),
            n_runnable=int(runnable.sum()),
        )


def _usable_pools(data: SimInput, allowed_class: int, gpus: int) -> list[int]:
    """Pools a job may use and that can hold its gang (the simulator rejects the job when
    there are none)."""
    pools = data.pools
    allowed = data.jobs.allowed_sets[allowed_class]
    candidates = range(len(pools)) if allowed is None else sorted(allowed)
    return [p for p in candidates if pools.capacity[p] >= gpus]


@dataclass(frozen=True)
class _PoolClass:
    """Pools merged into one LP resource."""

    members: tuple[int, ...]
    speed: tuple[float, ...]
    """Per speed row: 0 = the pools' generic speed, 1 + k = job class k's."""
    levels: tuple[tuple[int, int], ...]
    """(c, accelerators in members holding more than c): jobs of more than c accelerators
    share only those. The first level is (0, all)."""


def _pool_classes(data: SimInput, speed_ratio: float) -> list[_PoolClass]:
    pools, jobs = data.pools, data.jobs
    rows = [pools.speed, *jobs.class_speed]
    sets = [s for s in jobs.allowed_sets if s is not None]

    def rounded(speed: float) -> float:
        if speed_ratio <= 1.0 or speed <= 0:
            return float(speed)
        return float(speed_ratio ** math.ceil(math.log(speed) / math.log(speed_ratio) - 1e-12))

    by_key: dict[tuple[tuple[float, ...], tuple[bool, ...]], list[int]] = {}
    for p in range(len(pools)):
        key = (tuple(rounded(row[p]) for row in rows), tuple(p in s for s in sets))
        by_key.setdefault(key, []).append(p)
    classes = []
    for (speed, _), members in sorted(by_key.items(), key=lambda item: item[1][0]):
        caps = sorted({pools.capacity[p] for p in members})
        levels = tuple((c, sum(pools.capacity[p] for p in members if pools.capacity[p] > c)) for c in [0, *caps[:-1]])
        classes.append(_PoolClass(tuple(members), speed, levels))
    return classes


def _grid(submit_h: np.ndarray, horizon_h: float, options: JctLpOptions) -> np.ndarray:
    """Interval boundaries ``b_0 .. b_K``: uniform over the submissions, then growing
    geometrically up to ``horizon_h``; ``[b_K, inf)`` is the uncapacitated last interval."""
    first, last = float(submit_h.min()), float(submit_h.max())
    step = max((last - first) / options.uniform_intervals, (horizon_h - first) / (8 * options.uniform_intervals), 1e-6)
    uniform = first + step * np.arange(int((last - first) / step) + 2)
    bounds = list(uniform)
    length = step
    while bounds[-1] < horizon_h:
        length *= 1.0 + options.growth
        bounds.append(bounds[-1] + length)
    return np.asarray(bounds)


@dataclass
class _Model:
    """The grouped LP, in column-wise sparse form."""

    n_columns: int
    n_rows: int
    n_groups: int
    n_classes: int
    n_intervals: int
    offset_h: float
    """sum over groups of sum_j (S_j - L_G): the objective minus this is sum_j (C_j - S_j)."""
    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    entries: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    """(row, column, value) triplets; None when only counted."""

    @staticmethod
    def build(data: SimInput, jobs: _JobFacts, options: JctLpOptions) -> _Model:
        """The LP, or (``entries`` None) only its size when above ``options.max_columns``."""
        classes = _pool_classes(data, options.speed_ratio)
        idx = jobs.index
        submit, work, fastest = jobs.submit_h[idx], jobs.work_h[idx], jobs.fastest_h[idx]
        gpus_total = np.asarray(data.jobs.gpus, dtype=np.float64)[idx]
        capacity = float(sum(data.pools.capacity))
        horizon = float(submit.max() + fastest.max() + (gpus_total * fastest).sum() / max(capacity, 1.0))
        b = _grid(submit, horizon, options)
        k_tail = len(b) - 1
        length = np.diff(b)
        # groups: (signature, submission interval, work bucket)
        t0 = np.searchsorted(b, submit, side="right") - 1
        bucket = np.floor(np.log(work) / math.log(options.work_ratio)).astype(np.int64)
        keys = np.stack([jobs.signature[idx], t0, bucket], axis=1)
        uniq, group = np.unique(keys, axis=0, return_inverse=True)
        group = group.reshape(-1)
        n_groups = len(uniq)
        n_in = np.bincount(group, minlength=n_groups).astype(np.float64)
        w_sum = np.bincount(group, weights=work, minlength=n_groups)
        w_max = np.zeros(n_groups)
        np.maximum.at(w_max, group, work)
        first = np.full(n_groups, np.inf)
        np.minimum.at(first, group, submit)
        waited = np.bincount(group, weights=submit - first[group], minlength=n_groups)
        offset = float(waited.sum())
        g_t0 = uniq[:, 1]
        first_budget = np.bincount(group, weights=b[t0 + 1] - submit, minlength=n_groups)
        # which classes each signature uses, at what speed (slowest first)
        sig_classes: dict[int, list[tuple[int, float]]] = {}
        for i, (allowed_class, speed_class, gpus) in enumerate(jobs.signatures):
            usable = set(_usable_pools(data, allowed_class, gpus))
            row = 0 if speed_class < 0 else 1 + speed_class
            chosen = [
                (c, klass.speed[row])
                for c, klass in enumerate(classes)
                if klass.speed[row] > 0 and any(p in usable for p in klass.members)
            ]
            sig_classes[i] = sorted(chosen, key=lambda item: (item[1], item[0]))
        g_sig = uniq[:, 0]
        width = np.asarray([len(sig_classes[int(s)]) for s in g_sig])
        n_speeds = np.asarray([len({u for _, u in sig_classes[int(s)]}) for s in g_sig])
        size = int((width * (k_tail - g_t0 + 1) + 1 + 2 * (n_speeds - 1)).sum())
        if size > options.max_columns:
            empty = np.zeros(0)
            return _Model(size, 0, n_groups, len(classes), k_tail + 1, offset, empty, empty, empty, empty, empty, None)
        # capacity rows: (class, level) -> first row (one per finite interval)
        cap_rows: dict[tuple[int, int], int] = {}
        row_lower: list[np.ndarray] = []
        row_upper: list[np.ndarray] = []
        n_rows = 0
        used_levels: set[tuple[int, int]] = set()
        for i, (_, _, gpus) in enumerate(jobs.signatures):
            for c, _ in sig_classes.get(i, []):
                for lv, (threshold, _) in enumerate(classes[c].levels):
                    if gpus > threshold:
                        used_levels.add((c, lv))
        for c, lv in sorted(used_levels):
            cap_rows[(c, lv)] = n_rows
            n_rows += k_tail
            row_lower.append(np.full(k_tail, -np.inf))
            row_upper.append(classes[c].levels[lv][1] * length)
        n_columns = 0
        cost: list[np.ndarray] = []
        col_lower: list[np.ndarray] = []
        col_upper: list[np.ndarray] = []
        r_i: list[np.ndarray] = []
        c_i: list[np.ndarray] = []
        v_i: list[np.ndarray] = []
        tangents = np.asarray(sorted({a for a in options.tangents if 0 < a <= 1}))
        for g in range(n_groups):
            sig = int(uniq[g, 0])
            gpus = jobs.signatures[sig][2]
            used = sig_classes[sig]
            m = len(used)
            start = int(g_t0[g])
            n_t = k_tail - start + 1
            x0 = n_columns
            n_x = m * n_t
            h_col = x0 + n_x
            n_columns += n_x + 1
            speeds = np.asarray([s for _, s in used])
            cols = x0 + np.arange(n_x).reshape(m, n_t)
            t_idx = np.arange(start, k_tail + 1)
            cost.append(np.zeros(n_x))
            cost.append(np.ones(1))
            col_lower.append(np.zeros(n_x + 1))
            col_upper.append(np.append(np.ones(n_x), np.inf))
            hours = w_sum[g] / speeds  # hours the group's work takes on each class
            # (1) work
            r_i.append(np.full(n_x, n_rows))
            c_i.append(cols.ravel())
            v_i.append(np.ones(n_x))
            row_lower.append(np.ones(1))
            row_upper.append(np.ones(1))
            n_rows += 1
            # (2) busy time: H - sum hours X >= sum (S_j - L)
            r_i.append(np.full(n_x + 1, n_rows))
            c_i.append(np.append(cols.ravel(), h_col))
            v_i.append(np.append(-np.repeat(hours, n_t), 1.0))
            row_lower.append(np.asarray([waited[g]]))
            row_upper.append(np.asarray([np.inf]))
            n_rows += 1
            # (3) mean busy time: H - sum X W (b'_t - L) / Wmax - W/2 sum_i D_i q_i >= W / (2 u_m)
            mean_row = n_rows
            n_rows += 1
            later = np.maximum(b[t_idx] - first[g], 0.0) * (w_sum[g] / w_max[g])
            mask = later > 0
            r_i.append(np.full(int(mask.sum()) * m + 1, mean_row))
            c_i.append(np.append(cols[:, mask].ravel(), h_col))
            v_i.append(np.append(-np.tile(later[mask], m), 1.0))
            levels = np.unique(speeds)
            row_lower.append(np.asarray([w_sum[g] / (2.0 * levels[-1])]))
            row_upper.append(np.asarray([np.inf]))
            # F_i, q_i per distinct speed but the fastest
            prev_f = -1
            for level, u in enumerate(levels[:-1]):
                f_col, q_col = n_columns, n_columns + 1
                n_columns += 2
                cost.append(np.zeros(2))
                col_lower.append(np.zeros(2))
                col_upper.append(np.asarray([1.0, np.inf]))
                members = cols[speeds == u].ravel()
                # F_i - F_{i-1} - sum X at speed u = 0
                extra_c = [f_col] + ([prev_f] if prev_f >= 0 else [])
                extra_v = [1.0] + ([-1.0] if prev_f >= 0 else [])
                r_i.append(np.full(members.size + len(extra_c), n_rows))
                c_i.append(np.append(members, extra_c))
                v_i.append(np.append(-np.ones(members.size), extra_v))
                row_lower.append(np.zeros(1))
                row_upper.append(np.zeros(1))
                n_rows += 1
                # q_i >= 2 a F_i - a^2
                k = tangents.size
                r_i.append(np.repeat(n_rows + np.arange(k), 2))
                c_i.append(np.tile([q_col, f_col], k))
                v_i.append(np.stack([np.ones(k), -2.0 * tangents], axis=1).ravel())
                row_lower.append(-(tangents**2))
                row_upper.append(np.full(k, np.inf))
                n_rows += k
                # H - ... - W/2 (1/u_i - 1/u_{i+1}) q_i in the mean row
                r_i.append(np.asarray([mean_row]))
                c_i.append(np.asarray([q_col]))
                v_i.append(np.asarray([-w_sum[g] / 2.0 * (1.0 / u - 1.0 / levels[level + 1])]))
                prev_f = f_col
            # (4) one pool at a time, where not implied: sum_k hours_k X_kt <= budget_t
            budget = n_in[g] * length[start:]
            budget[0] = first_budget[g]
            need = np.flatnonzero(hours.max() > budget * (1.0 + 1e-9))
            if need.size:
                r_i.append(np.repeat(n_rows + np.arange(need.size), m))
                c_i.append(cols[:, need].T.ravel())
                v_i.append(np.tile(hours, need.size))
                row_lower.append(np.full(need.size, -np.inf))
                row_upper.append(budget[need])
                n_rows += need.size
            # (5) capacity of each class and level: sum g hours X_kt
            for k_pos, (c, _) in enumerate(used):
                for lv, (threshold, _) in enumerate(classes[c].levels):
                    if gpus <= threshold:
                        continue
                    base = cap_rows[(c, lv)]
                    r_i.append(base + t_idx[:-1])
                    c_i.append(cols[k_pos, :-1])
                    v_i.append(np.full(n_t - 1, gpus * hours[k_pos]))
        entries = (np.concatenate(r_i), np.concatenate(c_i), np.concatenate(v_i))
        return _Model(
            n_columns=n_columns,
            n_rows=n_rows,
            n_groups=n_groups,
            n_classes=len(classes),
            n_intervals=k_tail + 1,
            offset_h=offset,
            cost=np.concatenate(cost),
            col_lower=np.concatenate(col_lower),
            col_upper=np.concatenate(col_upper),
            row_lower=np.concatenate(row_lower),
            row_upper=np.concatenate(row_upper),
            entries=entries,
        )

    def describe(self, options: JctLpOptions) -> str:
        merged = f", speeds merged within x{options.speed_ratio:g}" if options.speed_ratio > 1 else ""
        return (
            f"{self.n_intervals} intervals, {self.n_groups:,} job groups, {self.n_classes} pool classes{merged}, "
            f"{self.n_columns:,} variables"
        )

    def solve(self, highspy: Any, options: JctLpOptions) -> float | None:
        assert self.entries is not None
        rows, cols, values = self.entries
        order = np.lexsort((rows, cols))
        rows, cols, values = rows[order], cols[order], values[order]
        lp = highspy.HighsLp()
        lp.num_col_ = self.n_columns
        lp.num_row_ = self.n_rows
        lp.col_cost_ = self.cost
        lp.col_lower_ = self.col_lower
        lp.col_upper_ = self.col_upper
        lp.row_lower_ = self.row_lower
        lp.row_upper_ = self.row_upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_ = self.n_columns
        lp.a_matrix_.num_row_ = self.n_rows
        lp.a_matrix_.start_ = np.searchsorted(cols, np.arange(self.n_columns + 1)).astype(np.int32)
        lp.a_matrix_.index_ = rows.astype(np.int32)
        lp.a_matrix_.value_ = values
        h = _quiet_highs(highspy)
        h.setOptionValue("time_limit", float(options.time_limit_s))
        h.passModel(lp)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return float(h.getInfo().objective_function_value)


def _quiet_highs(highspy: Any) -> Any:
    """A HiGHS instance whose start-up banner (written by C++ to fd 1) does not reach
    stdout, where it would corrupt ``--json`` output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return h
