"""Many jobs in one call (``POST /v1/jobs:batch``), ``GET /v1/whoami``, the field errors a
spec refusal carries, and the CLI's fast path (``suanli submit`` with several specs or
``--array``) against the real API in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from suanli.store import Store
from suanli.store import jobs as job_rows
from tests.api_builders import RUN, TENANT_A, Network, job_spec
from tests.api_cli import invoke, point_cli_at, write


@pytest.fixture
def net(store: Store) -> Network:
    return Network.build(store)


def batch(net: Network, specs: list[dict[str, Any]], keys: list[str] | None = None, who: str = "tenant_a") -> Any:
    items = [{"spec": s, **({"idempotency_key": keys[i]} if keys else {})} for i, s in enumerate(specs)]
    return net.api.post("/v1/jobs:batch", json={"jobs": items}, headers=net.headers(who))


def stored_jobs(net: Network) -> list[dict[str, Any]]:
    with net.cp.store.engine.connect() as conn:
        return job_rows.list_jobs(conn, None, None, 10_000)


def test_a_thousand_specs_go_in_in_one_call_in_order(net: Network) -> None:
    specs = [job_spec(f"job-{i}") for i in range(1000)]
    answer = batch(net, specs)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [item["index"] for item in items] == list(range(1000))
    assert all(item["created"] is True and item["error"] is None for item in items)
    assert [item["job"]["name"] for item in items] == [f"job-{i}" for i in range(1000)]
    assert {item["job"]["tenant"] for item in items} == {TENANT_A}
    assert len(stored_jobs(net)) == 1000
    assert len({item["job"]["id"] for item in items}) == 1000


def test_a_refused_spec_gets_its_own_error_and_the_others_go_in(net: Network) -> None:
    specs = [job_spec("good-0"), job_spec("bad", tokens_b=-1), job_spec("no-run", run=None), job_spec("good-1")]
    items = batch(net, specs).json()["items"]
    assert [item["index"] for item in items] == [0, 1, 2, 3]
    assert items[0]["job"]["name"] == "good-0" and items[3]["job"]["name"] == "good-1"
    bad, no_run = items[1]["error"], items[2]["error"]
    assert bad["code"] == "INVALID_INPUT"
    assert bad["details"] == [{"field": "tokens_b", "message": bad["details"][0]["message"], "hint": None}]
    assert "greater than 0" in bad["details"][0]["message"]
    assert no_run["code"] == "RUN_MISSING"
    assert items[1]["job"] is None and items[2]["job"] is None
    assert sorted(j["name"] for j in stored_jobs(net)) == ["good-0", "good-1"]


def test_a_retried_batch_creates_each_job_once(net: Network) -> None:
    specs = [job_spec(f"r-{i}") for i in range(5)]
    keys = [f"key-{i}" for i in range(5)]
    first = batch(net, specs, keys).json()["items"]
    again = batch(net, specs, keys).json()["items"]
    assert [i["created"] for i in first] == [True] * 5
    assert [i["created"] for i in again] == [False] * 5
    assert [i["job"]["id"] for i in again] == [i["job"]["id"] for i in first]
    assert len(stored_jobs(net)) == 5


@pytest.mark.parametrize(
    ("who", "jobs", "status", "code"),
    [
        ("operator", 1, 403, "FORBIDDEN"),
        ("tenant_a", 0, 422, "INVALID_REQUEST"),
        ("tenant_a", 1001, 422, "INVALID_REQUEST"),
    ],
)
def test_batches_out_of_bounds_or_from_staff_are_refused(
    net: Network, who: str, jobs: int, status: int, code: str
) -> None:
    answer = batch(net, [job_spec(f"x-{i}") for i in range(jobs)], who=who)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
    assert stored_jobs(net) == []


def test_a_single_submits_spec_error_names_the_field_for_the_client(net: Network) -> None:
    answer = net.api.post(
        "/v1/jobs",
        json={"spec": job_spec(resources={"accelerators": ["h800"], "count": 0})},
        headers=net.headers("tenant_a"),
    )
    assert answer.status_code == 422
    body = answer.json()
    assert body["details"][0]["field"] == "resources.count"
    assert body["message"].startswith("spec: field 'resources.count': ")


def test_whoami_says_what_the_token_is(net: Network) -> None:
    tenant = net.api.get("/v1/whoami", headers=net.headers("tenant_a")).json()
    assert (tenant["role"], tenant["tenant"], tenant["site"]) == ("tenant", TENANT_A, None)
    agent = net.api.get("/v1/whoami", headers={"Authorization": f"Bearer {net.agent_token('wuhu')}"}).json()
    assert (agent["role"], agent["tenant"], agent["site"]) == ("agent", None, "wuhu")
    assert net.api.get("/v1/whoami").status_code == 401


# -- the CLI's fast path against this API ------------------------------------------------------------


@pytest.fixture
def cli(net: Network, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Network:
    return point_cli_at(net, monkeypatch, tmp_path / "config")


def test_cli_names_the_line_of_the_field_the_server_refused(cli: Network, tmp_path: Path) -> None:
    path = write(tmp_path, "bad", job_spec("bad", tokens_b=-1))
    done = invoke("submit", path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), start=1) if text.startswith("tokens_b"))
    assert done.exit_code == 2
    assert done.stderr.startswith(f"error: {path}:{line}: field 'tokens_b': Input should be greater than 0")
    assert done.stderr.count("\n") == 1


def test_cli_submits_several_files_and_reports_each_refusal(cli: Network, tmp_path: Path) -> None:
    good = [write(tmp_path, f"good-{i}", job_spec(f"good-{i}")) for i in range(3)]
    bad = write(tmp_path, "bad", job_spec("bad", resources={"accelerators": ["h800"], "count": 0}))
    done = invoke("submit", *good, bad, "--json")
    assert done.exit_code == 2
    out = yaml.safe_load(done.stdout)
    assert [j["name"] for j in out["jobs"]] == ["good-0", "good-1", "good-2"]
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), start=1) if t.strip().startswith("count"))
    assert out["errors"][0]["message"].startswith(f"{bad}:{line}: field 'resources.count': ")
    assert f"error: {bad}:{line}:" in done.stderr


def test_cli_array_submits_numbered_copies_that_see_their_index(cli: Network, tmp_path: Path) -> None:
    spec = job_spec("sweep", run={**RUN, "command": ["python3", "train.py", "--shard", "${SUANLI_ARRAY_INDEX}"]})
    done = invoke("submit", write(tmp_path, "sweep", spec), "--array", "4", "--json")
    assert done.exit_code == 0, done.stderr
    names = [j["name"] for j in yaml.safe_load(done.stdout)["jobs"]]
    assert names == ["sweep-0", "sweep-1", "sweep-2", "sweep-3"]
    by_name = {j["name"]: j["spec"] for j in stored_jobs(cli)}
    assert by_name["sweep-2"]["run"]["command"] == ["python3", "train.py", "--shard", "2"]
    assert by_name["sweep-3"]["run"]["env"] == {"SUANLI_ARRAY_INDEX": "3", "SUANLI_ARRAY_SIZE": "4"}


def test_cli_whoami_and_jobs_in_each_format(cli: Network, tmp_path: Path) -> None:
    invoke("submit", write(tmp_path, "one", job_spec("one")))
    assert f"tenant '{TENANT_A}'" in invoke("whoami").stdout
    assert invoke("jobs", "-o", "json").stdout == invoke("jobs", "--json").stdout
    assert yaml.safe_load(invoke("jobs", "-o", "yaml").stdout)["jobs"][0]["name"] == "one"
    csv_lines = invoke("jobs", "-o", "csv").stdout.splitlines()
    assert csv_lines[0].startswith("id,name,kind,tenant,state") and len(csv_lines) == 2
    table = invoke("jobs").stdout.splitlines()
    assert table[0] == "jobs (1)" and table[1].split()[:5] == ["ID", "NAME", "KIND", "STATE", "SITE"]


def test_cli_plan_with_a_server_shows_the_live_options_and_their_starts(cli: Network, tmp_path: Path) -> None:
    cli.register("qingyang", {"h800": 2})
    path = write(tmp_path, "quote", job_spec("quote", run=None))
    done = invoke("plan", path, "--json")
    assert done.exit_code == 0, done.stderr
    answer = yaml.safe_load(done.stdout)
    assert [o["site"] for o in answer["options"]] == ["qingyang"]
    assert answer["options"][0]["start"] is not None, "two H800 are free now"
    table = invoke("plan", path).stdout
    assert "live plan for quote" in table and "qingyang" in table and "SITE_NOT_LIVE" in table
    offline = invoke("plan", path, "--offline", "--json")
    assert len(yaml.safe_load(offline.stdout)["options"]) > 1, "--offline plans over the catalogue"
    bad = write(tmp_path, "bad", job_spec("bad", tokens_b=-1, run=None))
    refused = invoke("plan", bad)
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), start=1) if t.startswith("tokens_b"))
    assert refused.exit_code == 2 and refused.stderr.startswith(f"error: {bad}:{line}: field 'tokens_b'")
    estimate = invoke("estimate", path, "-a", "h800", "-n", "1", "--json")
    assert [o["count"] for o in yaml.safe_load(estimate.stdout)["options"]] == [1]
