"""MoE decode reads the shared weights and the experts its batch picks (issue 11)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.catalog import load_catalog
from suanli.model.inference import touched_params
from suanli.model.shapes import shape_from_catalog

QWEN3 = shape_from_catalog(load_catalog().model("qwen3-235b-a22b"))
"""235B total, 22B active, 8 of 128 experts per token (the shape's defaults)."""


def test_one_token_reads_the_active_parameters_and_a_large_batch_reads_them_all() -> None:
    assert touched_params(QWEN3, 1) == pytest.approx(QWEN3.active_params, rel=1e-9)
    assert touched_params(QWEN3, 10_000) == pytest.approx(QWEN3.params, rel=1e-9)


def test_ten_tokens_pick_the_expected_share_of_the_experts() -> None:
    """E (1 - (1 - k/E)^B) experts: 10 tokens taking 8 of 128 pick 60.9 of them on average."""
    routed = (QWEN3.params - QWEN3.active_params) / (1 - 8 / 128)
    shared = QWEN3.params - routed
    expected = shared + routed * (1 - (1 - 8 / 128) ** 10)
    assert touched_params(QWEN3, 10) == pytest.approx(expected, rel=1e-9)


@given(st.integers(1, 5_000), st.integers(1, 5_000))
def test_more_tokens_never_read_fewer_weights_nor_more_than_the_model(a: int, b: int) -> None:
    small, large = sorted((a, b))
    assert QWEN3.active_params * (1 - 1e-12) <= touched_params(QWEN3, small) <= touched_params(QWEN3, large)
    assert touched_params(QWEN3, large) <= QWEN3.params * (1 + 1e-12)
