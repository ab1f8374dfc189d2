"""The Pareto front over (finish, cost, carbon) agrees with a brute-force dominance check."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.placement import dominates, pareto_mask
from tests.strategies import objective_point, objective_points

Point = tuple[float, float, float]


def brute_force_mask(points: list[Point]) -> list[bool]:
    """On the front: no point is <= in every objective and < in one; among identical
    points only the first (by index) is kept."""
    keep = []
    for i, p in enumerate(points):
        beaten = any(all(a <= b for a, b in zip(q, p, strict=True)) and q != p for q in points)
        earlier_twin = any(points[j] == p for j in range(i))
        keep.append(not beaten and not earlier_twin)
    return keep


def mask_of(points: list[Point]) -> list[bool]:
    return pareto_mask([p[0] for p in points], [p[1] for p in points], [p[2] for p in points])


@settings(max_examples=400)
@given(points=objective_points())
def test_pareto_mask_agrees_with_brute_force_including_ties(points: list[Point]) -> None:
    assert mask_of(points) == brute_force_mask(points)


@settings(max_examples=200)
@given(points=objective_points())
def test_every_point_off_the_front_is_dominated_by_or_equal_to_a_front_point(points: list[Point]) -> None:
    mask = mask_of(points)
    front = [p for p, m in zip(points, mask, strict=True) if m]
    for p, on_front in zip(points, mask, strict=True):
        if not on_front:
            assert any(dominates(q, p) or q == p for q in front)


@settings(max_examples=200)
@given(points=objective_points(max_size=25), data=st.data())
def test_the_front_does_not_depend_on_the_order_of_distinct_points(points: list[Point], data: st.DataObject) -> None:
    distinct = list(dict.fromkeys(points))
    shuffled = data.draw(st.permutations(distinct))
    front = {p for p, m in zip(distinct, mask_of(distinct), strict=True) if m}
    assert front == {p for p, m in zip(shuffled, mask_of(shuffled), strict=True) if m}


@settings(max_examples=200)
@given(points=objective_points())
def test_a_non_empty_set_always_has_a_front(points: list[Point]) -> None:
    assert any(mask_of(points)) == bool(points)


@given(p=objective_point(), q=objective_point())
def test_dominance_is_antisymmetric_and_irreflexive(p: Point, q: Point) -> None:
    assert not dominates(p, p)
    assert not (dominates(p, q) and dominates(q, p))


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        pytest.param([], [], id="no points, no front"),
        pytest.param([(1, 1, 1)], [True], id="a single point is the front"),
        pytest.param([(1, 1, 1), (1, 1, 1)], [True, False], id="of two identical points the first is kept"),
        pytest.param([(2, 2, 2), (1, 1, 1)], [False, True], id="a point better in everything dominates"),
        pytest.param([(1, 2, 2), (1, 1, 2)], [False, True], id="equal finish and carbon, cheaper wins"),
        pytest.param([(1, 2, 3), (3, 2, 1), (3, 3, 1)], [True, True, False], id="a trade-off keeps both ends"),
        pytest.param([(0, 5, 5), (1, 1, 9), (2, 9, 1), (3, 6, 6)], [True, True, True, False], id="a staircase"),
        pytest.param([(0, 3, 3), (1, 3, 2), (2, 2, 3)], [True, True, True], id="each best somewhere"),
    ],
)
def test_pareto_mask_on_small_examples(points: list[Point], expected: list[bool]) -> None:
    assert mask_of(points) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param((1, 1, 1), (1, 1, 1), False, id="equal points do not dominate"),
        pytest.param((1, 1, 1), (1, 1, 2), True, id="better in one, equal elsewhere"),
        pytest.param((1, 2, 1), (2, 1, 1), False, id="a trade-off"),
        pytest.param((0, 0, 0), (1, 1, 1), True, id="better everywhere"),
    ],
)
def test_dominates_on_small_examples(a: Point, b: Point, expected: bool) -> None:
    assert dominates(a, b) is expected
