"""``array: N`` in a spec: ``suanli submit spec.yaml`` sends N numbered copies, as
``--array N`` does (the same code path), each seeing its index in ``${SUANLI_ARRAY_INDEX}``;
``array:`` and ``--array`` together must agree. Against the real API in-process, on SQLite
and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from suanli.store import Store
from suanli.store import jobs as job_rows
from tests.api_builders import RUN, Network, job_spec
from tests.api_cli import invoke, point_cli_at, write

SHARDED = {**RUN, "command": ["python3", "train.py", "--shard", "${SUANLI_ARRAY_INDEX}"]}


@pytest.fixture
def cli(store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Network:
    return point_cli_at(Network.build(store), monkeypatch, tmp_path / "config")


def stored_specs(net: Network) -> dict[str, dict[str, Any]]:
    with net.cp.store.engine.connect() as conn:
        return {row["name"]: row["spec"] for row in job_rows.list_jobs(conn, None, None, 10_000)}


def line_of(path: Path, key: str) -> int:
    return next(i for i, text in enumerate(path.read_text().splitlines(), start=1) if text.startswith(key))


def test_array_in_the_spec_submits_numbered_copies_that_see_their_index(cli: Network, tmp_path: Path) -> None:
    done = invoke("submit", write(tmp_path, "sweep", job_spec("sweep", run=SHARDED, array=8)), "--json")
    assert done.exit_code == 0, done.stderr
    assert [j["name"] for j in yaml.safe_load(done.stdout)["jobs"]] == [f"sweep-{i}" for i in range(8)]
    specs = stored_specs(cli)
    assert specs["sweep-5"]["run"]["command"] == ["python3", "train.py", "--shard", "5"]
    assert specs["sweep-7"]["run"]["env"] == {"SUANLI_ARRAY_INDEX": "7", "SUANLI_ARRAY_SIZE": "8"}
    assert all("array" not in spec for spec in specs.values()), "the server gets the copies, never the field"


def test_array_in_the_spec_and_the_same_array_flag_agree(cli: Network, tmp_path: Path) -> None:
    done = invoke("submit", write(tmp_path, "sweep", job_spec("sweep", run=SHARDED, array=3)), "--array", "3")
    assert done.exit_code == 0, done.stderr
    assert sorted(stored_specs(cli)) == ["sweep-0", "sweep-1", "sweep-2"]


def test_array_in_the_spec_and_another_array_flag_is_an_error_naming_the_line(cli: Network, tmp_path: Path) -> None:
    path = write(tmp_path, "sweep", job_spec("sweep", run=SHARDED, array=8))
    done = invoke("submit", path, "--array", "4")
    assert done.exit_code == 2
    assert done.stderr.startswith(
        f"error: {path}:{line_of(path, 'array')}: field 'array': the spec asks for 8 copies and --array for 4"
    )
    assert done.stderr.count("\n") == 1
    assert stored_specs(cli) == {}, "nothing is submitted"


@pytest.mark.parametrize("value", [0, 1001, "eight", True], ids=["zero", "over 1,000", "a word", "a boolean"])
def test_an_array_out_of_range_or_not_a_number_is_an_error_naming_the_line(
    cli: Network, tmp_path: Path, value: Any
) -> None:
    path = write(tmp_path, "sweep", job_spec("sweep", run=SHARDED, array=value))
    done = invoke("submit", path)
    assert done.exit_code == 2
    assert done.stderr.startswith(f"error: {path}:{line_of(path, 'array')}: field 'array': ")
    assert "from 1 to 1,000" in done.stderr
    assert stored_specs(cli) == {}


def test_array_1_is_one_numbered_copy_as_array_flag_1_is(cli: Network, tmp_path: Path) -> None:
    assert invoke("submit", write(tmp_path, "one", job_spec("one", run=SHARDED, array=1))).exit_code == 0
    assert list(stored_specs(cli)) == ["one-0"]


def test_validate_accepts_a_spec_with_array_and_depends_on(tmp_path: Path) -> None:
    path = write(tmp_path, "v", job_spec("v", run=SHARDED, array=4, depends_on=["prep"]))
    done = invoke("validate", path)
    assert done.exit_code == 0, done.stderr
