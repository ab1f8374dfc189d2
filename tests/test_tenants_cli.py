"""``suanli simulate`` with tenants: --tenants, --fair-share and --tenant-weight, the tenants'
rows of the table and their JSON."""

from __future__ import annotations

import json

from tests.conftest import run_suanli

SMALL = ("simulate", "--jobs", "300", "--capacity", "0.02", "-p", "fifo", "-p", "suanli", "--tenants", "2")


def test_json_has_each_tenant_with_its_weight() -> None:
    result = run_suanli(*SMALL, "--fair-share", "--tenant-weight", "tenant-0=2", "--json")
    assert result.code == 0, result.stderr
    tenants = json.loads(result.stdout)["policies"]["suanli"]["tenants"]
    assert set(tenants["by_tenant"]) == {"tenant-0", "tenant-1"}
    assert tenants["by_tenant"]["tenant-0"]["weight"] == 2.0
    assert tenants["capacity_unit"] == "H800-equivalent hours"


def test_the_table_ends_with_the_tenants_rows() -> None:
    result = run_suanli(*SMALL[:-2], "--tenants", "3")
    assert result.code == 0, result.stderr
    assert "tenants: largest rho" in result.stdout and "tenant-2: mean JCT (h)" in result.stdout


def test_an_unknown_tenant_is_a_one_line_error() -> None:
    result = run_suanli(*SMALL, "--tenant-weight", "nobody=2")
    assert result.code == 2
    assert "unknown tenant" in result.stderr and "tenant-0, tenant-1" in result.stderr
    assert "Traceback" not in result.stderr
