"""Pareto front over (finish time, cost, carbon), all minimised.

Points are swept in lexicographic order of (finish, cost, carbon). Every earlier point
finishes no later, so a point is dominated exactly when some earlier front point also
costs no more and emits no more. The front seen so far, projected on (cost, carbon), is
kept as a staircase sorted by cost with carbon strictly falling; the cheapest-or-equal
step answers the dominance query by bisection. O(n log n) plus removals.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence


def pareto_mask(finish: Sequence[float], cost: Sequence[float], carbon: Sequence[float]) -> list[bool]:
    """True for each point no other point dominates (ties: the first of equals is kept)."""
    order = sorted(range(len(finish)), key=lambda i: (finish[i], cost[i], carbon[i]))
    costs: list[float] = []  # staircase: cost ascending ...
    carbons: list[float] = []  # ... carbon strictly descending
    keep = [False] * len(finish)
    for i in order:
        c, k = cost[i], carbon[i]
        cheaper = bisect_right(costs, c) - 1
        if cheaper >= 0 and carbons[cheaper] <= k:
            continue  # an earlier point finishes, costs and emits no more
        keep[i] = True
        at = bisect_left(costs, c)
        end = at
        while end < len(costs) and carbons[end] >= k:
            end += 1  # steps this point makes redundant: cost >= c and carbon >= k
        costs[at:end] = [c]
        carbons[at:end] = [k]
    return keep


def dominates(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    """True when ``a`` is no worse than ``b`` in every objective and better in one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b
