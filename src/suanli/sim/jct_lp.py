"""A lower bound on mean JCT with pool capacities: a time-indexed LP relaxation (HiGHS).

Used by :func:`suanli.sim.bounds.lower_bounds`; the derivation is in
:func:`jct_lp_bound`'s docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from suanli.sim.bounds_common import quiet_highs as _quiet_highs
from suanli.sim.engine import SimInput


@dataclass(frozen=True)
class JctLpOptions:
    """Size of the mean-JCT LP of :func:`jct_lp_bound`. Every setting keeps the bound
    valid; finer ones make it tighter and the LP larger."""

    max_columns: int = 60_000
    """LP variables allowed; a larger LP is coarsened (fewer intervals, merged speeds)
    and, if still larger, not solved (the reason is reported). 60,000 was chosen by
    measurement: 4,000 synthetic jobs at 300/h on 3 % of the national network build to
    52,395 and take 1.3-2 s (HiGHS dual simplex, one core); 153,000 took 13 s for a bound
    2 % higher, 420,000 took 70 s for 3 % higher."""
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
    """Relative margin taken off the result, for the solver's feasibility tolerances (and float
    rounding when no solve is needed)."""


@dataclass(frozen=True)
class JctLpBound:
    """What :func:`jct_lp_bound` found."""

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

    Mean JCT >= (optimum - sum_j S_j) / n, over the ``n`` jobs some pool can hold (the
    simulator rejects the others; jobs without work count with JCT >= 0).

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

    One-pool rows implied by the work row (the group's work on its slowest pool fits in
    the interval) are left out. When every job, run from its submission on its fastest
    pool class, keeps every class within its capacity at every instant, that schedule is
    an LP point meeting the busy-time rows with equality, so the optimum is the mean of
    those runtimes and no solve is needed (a lightly loaded network, e.g. the Philly trace
    on the national one); it counts only pools that can hold each gang, so it can exceed
    the capacity-free bound.

    Size: ``max_columns`` caps the variables; a larger LP is rebuilt coarser (pools within
    x1.15, then fewer uniform intervals and wider work groups, last pools within x1.3),
    each step still a relaxation. The result is reduced by the relative margin ``safety``
    for the solver's tolerances. Returns ``avg_jct_h=None`` with the reason when HiGHS
    (``highspy``, extra ``lp``) is missing, the LP is too large even at the coarsest, or
    the solve did not finish within ``time_limit_s``.
    """
    options = options or JctLpOptions()
    jobs = _JobFacts.of(data)
    if jobs.n_runnable == 0:
        return JctLpBound(None, "no job can run")
    if not np.all(np.isfinite(jobs.fastest_h[jobs.index])):
        return JctLpBound(None, "a job's only pools have speed 0")
    if jobs.index.size == 0:  # every runnable job has no work: each JCT >= 0
        return JctLpBound(0.0, "no work")
    fits = _fits_on_fastest(data, jobs, options)
    if fits is not None:
        return JctLpBound(
            fits * (1.0 - options.safety),
            "no solve: capacity never binds, each job fits on its fastest pools from submission",
        )
    try:
        import highspy
    except ImportError:
        return JctLpBound(None, "highspy is not installed (To fix: pip install 'suanli[lp]')")
    merged = max(options.speed_ratio, 1.15)
    attempts = [options, replace(options, speed_ratio=merged)]
    for intervals, work_ratio in ((24, 2.0), (16, 2.0), (12, 3.0)):
        attempts.append(
            replace(
                options,
                speed_ratio=merged,
                uniform_intervals=min(options.uniform_intervals, intervals),
                work_ratio=max(options.work_ratio, work_ratio),
            )
        )
    attempts.append(
        replace(
            options,
            speed_ratio=max(merged, 1.3),
            uniform_intervals=min(options.uniform_intervals, 6),
            work_ratio=max(options.work_ratio, 4.0),
            growth=max(options.growth, 0.5),
        )
    )
    columns = 0
    for attempt in attempts:
        model = _Model.build(data, jobs, attempt)
        columns = model.n_columns
        if model.lp is not None:
            break
    else:
        return JctLpBound(None, f"LP too large ({columns:,} variables > {options.max_columns:,} after coarsening)")
    value = model.solve(highspy, attempt)
    if value is None:
        return JctLpBound(None, "HiGHS did not reach an optimum within its time limit")
    bound_h = (value - model.offset_h) * (1.0 - attempt.safety) / jobs.n_runnable
    return JctLpBound(max(bound_h, 0.0), model.describe(attempt))


def _fits_on_fastest(data: SimInput, jobs: _JobFacts, options: JctLpOptions) -> float | None:
    """The LP's optimum without solving it, when capacity never binds: if every job, run
    from its submission on its fastest pool class, keeps every class (and size level)
    within its capacity at every instant, that schedule is feasible for the LP and meets
    its busy-time rows with equality, which no LP point can go below; the optimum is then
    the mean of those runtimes. None when some class overflows."""
    classes = _pool_classes(data, options.speed_ratio)
    sig_classes = _signature_classes(data, jobs, classes)
    n_sig = len(jobs.signatures)
    best_class, best_speed = np.zeros(n_sig, dtype=np.int64), np.ones(n_sig)
    for i, used in enumerate(sig_classes):
        if used:  # jobs of other signatures are not in the LP
            best_class[i], best_speed[i] = max(used, key=lambda item: (item[1], -item[0]))
    idx = jobs.index
    sig = jobs.signature[idx]
    runtime = jobs.work_h[idx] / best_speed[sig]
    where = best_class[sig]
    gpus = np.asarray([gpus for _, _, gpus in jobs.signatures])[sig]
    start = jobs.submit_h[idx]
    for c, klass in enumerate(classes):
        for threshold, capacity in klass.levels:
            mine = (where == c) & (gpus > threshold)
            if not mine.any():
                continue
            times = np.concatenate([start[mine], start[mine] + runtime[mine]])
            delta = np.concatenate([gpus[mine], -gpus[mine]])
            order = np.lexsort((delta, times))  # at equal times, ends before starts
            if np.cumsum(delta[order]).max() > capacity:
                return None
    return float(runtime.sum() / jobs.n_runnable)


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


def _signature_classes(data: SimInput, jobs: _JobFacts, classes: list[_PoolClass]) -> list[list[tuple[int, float]]]:
    """Per signature: (class, speed) of every pool class its jobs can use, slowest first."""
    out = []
    for allowed_class, speed_class, gpus in jobs.signatures:
        usable = set(_usable_pools(data, allowed_class, gpus))
        row = 0 if speed_class < 0 else 1 + speed_class
        chosen = [
            (c, klass.speed[row])
            for c, klass in enumerate(classes)
            if klass.speed[row] > 0 and any(p in usable for p in klass.members)
        ]
        out.append(sorted(chosen, key=lambda item: (item[1], item[0])))
    return out


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
    """Pools merged greedily, fastest first: each class takes the speeds of its first pool
    (the anchor) and every pool with the same admissions whose speeds are, for every job
    class, at most the anchor's and more than the anchor's / ``speed_ratio``."""
    pools, jobs = data.pools, data.jobs
    rows = [pools.speed, *jobs.class_speed]
    sets = [s for s in jobs.allowed_sets if s is not None]
    speed = [tuple(float(row[p]) for row in rows) for p in range(len(pools))]
    admits = [tuple(p in s for s in sets) for p in range(len(pools))]
    order = sorted(range(len(pools)), key=lambda p: (admits[p], tuple(-v for v in speed[p]), p))
    taken: set[int] = set()
    classes = []
    for anchor in order:
        if anchor in taken:
            continue
        top = speed[anchor]
        members = [
            p
            for p in order
            if p not in taken
            and admits[p] == admits[anchor]
            and all(v <= t and (v == t or v * speed_ratio > t) for v, t in zip(speed[p], top, strict=True))
        ]
        taken.update(members)
        caps = sorted({pools.capacity[p] for p in members})
        levels = tuple((c, sum(pools.capacity[p] for p in members if pools.capacity[p] > c)) for c in [0, *caps[:-1]])
        classes.append(_PoolClass(tuple(sorted(members)), top, levels))
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


@dataclass(frozen=True)
class _Groups:
    """Jobs grouped for the LP (see :func:`jct_lp_bound`), as arrays by group."""

    signature: np.ndarray
    first_interval: np.ndarray
    jobs: np.ndarray
    """n_G"""
    work_h: np.ndarray
    """W_G"""
    largest_h: np.ndarray
    """Wmax_G"""
    earliest_h: np.ndarray
    """L_G"""
    waited_h: np.ndarray
    """sum_j (S_j - L_G)"""
    first_budget_h: np.ndarray
    """sum_j (b_{t0 + 1} - S_j): the one-pool bound of the group's first interval"""

    @staticmethod
    def of(jobs: _JobFacts, b: np.ndarray, work_ratio: float) -> _Groups:
        idx = jobs.index
        submit, work = jobs.submit_h[idx], jobs.work_h[idx]
        t0 = np.searchsorted(b, submit, side="right") - 1
        bucket = np.floor(np.log(work) / math.log(work_ratio)).astype(np.int64)
        keys, group = np.unique(np.stack([jobs.signature[idx], t0, bucket], axis=1), axis=0, return_inverse=True)
        group = group.reshape(-1)
        n = len(keys)
        largest, earliest = np.zeros(n), np.full(n, np.inf)
        np.maximum.at(largest, group, work)
        np.minimum.at(earliest, group, submit)
        return _Groups(
            signature=keys[:, 0],
            first_interval=keys[:, 1],
            jobs=np.bincount(group, minlength=n).astype(np.float64),
            work_h=np.bincount(group, weights=work, minlength=n),
            largest_h=largest,
            earliest_h=earliest,
            waited_h=np.bincount(group, weights=submit - earliest[group], minlength=n),
            first_budget_h=np.bincount(group, weights=b[t0 + 1] - submit, minlength=n),
        )


class _Sparse:
    """An LP as its columns and rows are added: bounds, costs, (row, column, value) triplets."""

    def __init__(self) -> None:
        self.n_cols = self.n_rows = 0
        self.cost: list[np.ndarray] = []
        self.col_bounds: list[tuple[np.ndarray, np.ndarray]] = []
        self.row_bounds: list[tuple[np.ndarray, np.ndarray]] = []
        self.triplets: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def columns(self, n: int, upper: float, cost: float = 0.0) -> np.ndarray:
        """``n`` new columns in [0, upper]; their indices."""
        self.cost.append(np.full(n, cost))
        self.col_bounds.append((np.zeros(n), np.full(n, upper)))
        self.n_cols += n
        return np.arange(self.n_cols - n, self.n_cols)

    def rows(self, lower: Any, upper: Any, n: int = 1) -> np.ndarray:
        """``n`` new rows ``lower <= a x <= upper`` (scalars or arrays); their indices."""
        self.row_bounds.append(
            (np.broadcast_to(np.asarray(lower, float), n), np.broadcast_to(np.asarray(upper, float), n))
        )
        self.n_rows += n
        return np.arange(self.n_rows - n, self.n_rows)

    def add(self, rows: Any, cols: Any, values: Any) -> None:
        """Entries ``values`` at (``rows``, ``cols``), the three broadcast together."""
        shape = np.broadcast_shapes(np.shape(rows), np.shape(cols), np.shape(values))
        r, c, v = np.empty(shape, np.int64), np.empty(shape, np.int64), np.empty(shape)
        r[...], c[...], v[...] = rows, cols, values
        self.triplets.append((r.ravel(), c.ravel(), v.ravel()))


@dataclass
class _Model:
    """The grouped LP of :func:`jct_lp_bound`, or only its size (``lp`` None)."""

    n_columns: int
    n_groups: int
    n_classes: int
    n_intervals: int
    offset_h: float
    """sum over groups of sum_j (S_j - L_G): the objective minus this is sum_j (C_j - S_j)."""
    lp: _Sparse | None

    @staticmethod
    def build(data: SimInput, jobs: _JobFacts, options: JctLpOptions) -> _Model:
        """The LP, or (``lp`` None) only its size when above ``options.max_columns``."""
        classes = _pool_classes(data, options.speed_ratio)
        sig_classes = _signature_classes(data, jobs, classes)
        idx = jobs.index
        submit, fastest = jobs.submit_h[idx], jobs.fastest_h[idx]
        gpus_of = np.asarray([gpus for _, _, gpus in jobs.signatures])
        load_h = float((gpus_of[jobs.signature[idx]] * fastest).sum()) / max(float(sum(data.pools.capacity)), 1.0)
        b = _grid(submit, float(submit.max() + fastest.max() + load_h), options)
        tail = len(b) - 1  # the last, uncapacitated interval
        length = np.diff(b)
        groups = _Groups.of(jobs, b, options.work_ratio)
        width = np.asarray([len(sig_classes[s]) for s in groups.signature])
        speeds_of = np.asarray([len({u for _, u in sig_classes[s]}) for s in groups.signature])
        size = int((width * (tail - groups.first_interval + 1) + 1 + 2 * (speeds_of - 1)).sum())
        offset = float(groups.waited_h.sum())
        if size > options.max_columns:
            return _Model(size, len(groups.jobs), len(classes), tail + 1, offset, None)
        lp = _Sparse()
        capacity_rows: dict[tuple[int, int], np.ndarray] = {}  # (class, level) -> one row per finite interval
        for c, klass in enumerate(classes):
            for level, (threshold, accelerators) in enumerate(klass.levels):
                if any(gpus > threshold and any(k == c for k, _ in sig_classes[i]) for i, gpus in enumerate(gpus_of)):
                    capacity_rows[(c, level)] = lp.rows(-np.inf, accelerators * length, n=tail)
        tangents = np.asarray(sorted({a for a in options.tangents if 0 < a <= 1}))
        for g in range(len(groups.jobs)):
            used = sig_classes[groups.signature[g]]
            gpus = gpus_of[groups.signature[g]]
            start = int(groups.first_interval[g])
            intervals = np.arange(start, tail + 1)
            speed = np.asarray([u for _, u in used])
            x = lp.columns(len(used) * len(intervals), upper=1.0).reshape(len(used), len(intervals))
            h = lp.columns(1, upper=np.inf, cost=1.0)
            w = groups.work_h[g]
            hours = w / speed  # the group's work on each class, in hours
            # work: sum X = 1
            lp.add(lp.rows(1.0, 1.0), x, 1.0)
            # busy time: H - sum hours X >= sum_j (S_j - L)
            busy = lp.rows(groups.waited_h[g], np.inf)
            lp.add(busy, x, -hours[:, None])
            lp.add(busy, h, 1.0)
            # mean busy time: H - sum X W (b'_t - L) / Wmax - W / 2 sum_i D_i q_i >= W / (2 u_m)
            levels = np.unique(speed)
            mean = lp.rows(w / (2.0 * levels[-1]), np.inf)
            later = np.maximum(b[intervals] - groups.earliest_h[g], 0.0) * (w / groups.largest_h[g])
            lp.add(mean, x[:, later > 0], -later[later > 0])
            lp.add(mean, h, 1.0)
            # F_i (share at speeds <= u_i) and q_i >= F_i^2, for every distinct speed but the fastest
            n_f = levels.size - 1
            if n_f:
                f, q = lp.columns(n_f, upper=1.0), lp.columns(n_f, upper=np.inf)
                define = lp.rows(0.0, 0.0, n=n_f)  # F_i - F_{i-1} - sum X at speed u_i = 0
                level_of = np.searchsorted(levels, speed)
                slower = level_of < n_f
                lp.add(define[level_of[slower]][:, None], x[slower], -1.0)
                lp.add(define, f, 1.0)
                lp.add(define[1:], f[:-1], -1.0)
                tangent = lp.rows(np.tile(-(tangents**2), n_f), np.inf, n=n_f * tangents.size)  # q - 2 a F >= -a^2
                lp.add(tangent.reshape(n_f, -1), q[:, None], 1.0)
                lp.add(tangent.reshape(n_f, -1), f[:, None], -2.0 * tangents)
                lp.add(mean, q, -w / 2.0 * (1.0 / levels[:-1] - 1.0 / levels[1:]))
            # one pool at a time, where not implied: sum_k hours_k X_kt <= budget_t
            budget = groups.jobs[g] * length[start:]
            budget[0] = groups.first_budget_h[g]
            need = np.flatnonzero(hours.max() > budget * (1.0 + 1e-9))
            if need.size:
                lp.add(lp.rows(-np.inf, budget[need], n=need.size)[None, :], x[:, need], hours[:, None])
            # capacity of each class and size level: g hours_k X_kt
            pairs = [
                (capacity_rows[(c, level)][intervals[:-1]], k)
                for k, (c, _) in enumerate(used)
                for level, (threshold, _) in enumerate(classes[c].levels)
                if gpus > threshold
            ]
            if pairs:  # (none for jobs of 0 accelerators)
                on = np.asarray([k for _, k in pairs])
                lp.add(np.stack([r for r, _ in pairs]), x[on, :-1], (gpus * hours[on])[:, None])
        return _Model(lp.n_cols, len(groups.jobs), len(classes), tail + 1, offset, lp)

    def describe(self, options: JctLpOptions) -> str:
        merged = f" (speeds merged within x{options.speed_ratio:g})" if options.speed_ratio > 1 else ""
        return (
            f"HiGHS: {self.n_intervals} intervals, {self.n_groups:,} job groups, "
            f"{self.n_classes} pool classes{merged}, {self.n_columns:,} variables"
        )

    def solve(self, highspy: Any, options: JctLpOptions) -> float | None:
        """The optimum, or None when HiGHS stops short of it."""
        assert self.lp is not None
        sparse = self.lp
        rows, cols, values = (np.concatenate(part) for part in zip(*sparse.triplets, strict=True))
        order = np.lexsort((rows, cols))
        rows, cols, values = rows[order], cols[order], values[order]
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = sparse.n_cols, sparse.n_rows
        lp.col_cost_ = np.concatenate(sparse.cost)
        lp.col_lower_ = np.concatenate([lower for lower, _ in sparse.col_bounds])
        lp.col_upper_ = np.concatenate([upper for _, upper in sparse.col_bounds])
        lp.row_lower_ = np.concatenate([lower for lower, _ in sparse.row_bounds])
        lp.row_upper_ = np.concatenate([upper for _, upper in sparse.row_bounds])
        matrix = lp.a_matrix_
        matrix.format_ = highspy.MatrixFormat.kColwise
        matrix.num_col_, matrix.num_row_ = sparse.n_cols, sparse.n_rows
        matrix.start_ = np.searchsorted(cols, np.arange(sparse.n_cols + 1)).astype(np.int32)
        matrix.index_ = rows.astype(np.int32)
        matrix.value_ = values
        h = _quiet_highs(highspy)
        h.setOptionValue("time_limit", float(options.time_limit_s))
        h.passModel(lp)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return float(h.getInfo().objective_function_value)
