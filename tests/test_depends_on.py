"""``depends_on`` (Slurm's ``afterok``): a job waits until every job it names SUCCEEDED, is
cancelled when one of them FAILED or was CANCELLED, and is refused at submission when it
names a job the tenant does not have, itself, or too many; on SQLite and PostgreSQL (the
``store`` fixture), through the API in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from suanli.service.control.feeder import DEPENDENCY_NEVER_SATISFIED, WAITING_FOR_DEPENDENCY
from suanli.store import Store
from suanli.workload.spec import MAX_DEPENDS
from tests.api_builders import AGENT_SITE, Network, job_spec
from tests.api_cli import invoke, point_cli_at, write


@pytest.fixture
def net(store: Store) -> Network:
    net = Network.build(store)
    net.register(AGENT_SITE, {"h800": 4})
    return net


def post(net: Network, spec: dict[str, Any], who: str = "tenant_a") -> Any:
    return net.api.post("/v1/jobs", json={"spec": spec}, headers=net.headers(who))


def test_a_dependent_job_waits_with_the_reason_until_its_dependency_succeeds_then_runs(net: Network) -> None:
    train = net.submit(spec=job_spec("demo-train"))
    evaluate = post(net, job_spec("demo-eval", depends_on=[train.id]))
    assert evaluate.status_code == 201, evaluate.text
    assert evaluate.json()["depends_on"] == [train.id]
    eval_id = evaluate.json()["id"]

    assert net.cycle().placed == [(train.id, AGENT_SITE, "h800")], "only the job without dependencies is offered"
    row = net.job(eval_id)
    assert row["state"] == "PENDING"
    assert row["reasons"][0]["code"] == WAITING_FOR_DEPENDENCY
    assert f"waiting for {train.id} (demo-train) to succeed" in row["reasons"][0]["message"]
    assert row["eta"] is None, "a held job has no ETA before its dependency succeeds"

    net.report(AGENT_SITE, train.id, 1, state="RUNNING")
    assert net.cycle().placed == [], "a running dependency is not a succeeded one"
    net.report(AGENT_SITE, train.id, 1, state="SUCCEEDED", exit_code=0)
    assert net.cycle().placed == [(eval_id, AGENT_SITE, "h800")]


def test_a_name_means_the_tenants_newest_job_of_that_name_at_submission(net: Network) -> None:
    older = net.submit(spec=job_spec("prep"))
    newer = net.submit(spec=job_spec("prep"))
    net.submit("tenant_b", job_spec("prep"))  # another tenant's job of that name is never chosen
    answer = post(net, job_spec("train", depends_on="prep"))  # one name, not a list
    assert answer.status_code == 201, answer.text
    assert answer.json()["depends_on"] == [newer.id] != [older.id]


def test_a_job_may_depend_on_the_previous_job_of_its_own_name(net: Network) -> None:
    first = net.submit(spec=job_spec("nightly"))
    answer = post(net, job_spec("nightly", depends_on=["nightly"]))
    assert answer.status_code == 201, answer.text
    assert answer.json()["depends_on"] == [first.id]


@pytest.mark.parametrize("ended", ["FAILED", "CANCELLED"])
def test_a_job_whose_dependency_ends_unsuccessfully_is_cancelled_naming_it(net: Network, ended: str) -> None:
    train = net.submit(spec=job_spec("demo-train"))
    after = post(net, job_spec("demo-eval", depends_on=[train.id])).json()["id"]
    then = post(net, job_spec("demo-report", depends_on=[after])).json()["id"]
    net.cycle()
    if ended == "FAILED":
        net.report(AGENT_SITE, train.id, 1, state="RUNNING")
        net.report(AGENT_SITE, train.id, 1, state="FAILED", exit_code=3)
    else:
        assert net.api.post(f"/v1/jobs/{train.id}/cancel", headers=net.headers("tenant_a")).status_code == 200
    net.cycle()
    row = net.job(after)
    assert row["state"] == "CANCELLED"
    assert row["reasons"][0]["code"] == DEPENDENCY_NEVER_SATISFIED
    assert row["message"] == f"dependency {train.id} (demo-train) ended {ended}, so this job can never start"
    net.cycle()
    assert net.job(then)["state"] == "CANCELLED", "the chain ends the same way, a cycle later"
    assert f"dependency {after} (demo-eval) ended CANCELLED" in net.job(then)["message"]


def field_error(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["code"] == "INVALID_INPUT"
    detail: dict[str, Any] = body["details"][0]
    return detail


def test_an_unknown_id_or_name_is_refused_naming_the_entry(net: Network) -> None:
    known = net.submit(spec=job_spec("known"))
    detail = field_error(post(net, job_spec("x", depends_on=[known.id, "j-000000000000"])))
    assert detail["field"] == "depends_on[1]"
    assert "no job 'j-000000000000' of this tenant" in detail["message"]


def test_another_tenants_job_is_refused_as_a_missing_one(net: Network) -> None:
    theirs = net.submit("tenant_b", job_spec("secret"))
    for ref in (theirs.id, "secret"):
        detail = field_error(post(net, job_spec("x", depends_on=[ref])))
        assert (detail["field"], detail["message"]) == ("depends_on[0]", f"no job '{ref}' of this tenant")


def test_a_job_naming_itself_with_no_earlier_job_of_that_name_is_refused(net: Network) -> None:
    detail = field_error(post(net, job_spec("loop", depends_on=["loop"])))
    assert "a job cannot depend on itself" in detail["message"]


def test_a_dependency_that_already_failed_is_refused_at_submission(net: Network) -> None:
    gone = net.submit(spec=job_spec("gone"))
    net.api.post(f"/v1/jobs/{gone.id}/cancel", headers=net.headers("tenant_a"))
    detail = field_error(post(net, job_spec("x", depends_on=["gone"])))
    assert f"job {gone.id} (gone) is CANCELLED, so this job could never start" in detail["message"]


def test_more_than_the_bound_is_refused(net: Network) -> None:
    detail = field_error(post(net, job_spec("x", depends_on=[f"j-{i:012x}" for i in range(MAX_DEPENDS + 1)])))
    assert detail["field"] == "depends_on"
    assert f"at most {MAX_DEPENDS}" in detail["message"]


def test_the_same_dependency_twice_is_stored_once(net: Network) -> None:
    train = net.submit(spec=job_spec("t"))
    answer = post(net, job_spec("x", depends_on=[train.id, "t"]))
    assert answer.json()["depends_on"] == [train.id]


def test_a_spec_with_array_is_refused_by_the_server_which_takes_the_copies(net: Network) -> None:
    detail = field_error(post(net, job_spec("x", array=4)))
    assert detail["field"] == "array"
    assert "suanli submit" in detail["hint"]


# -- suanli submit --depends-on, and depends_on in a file -------------------------------------------


@pytest.fixture
def cli(net: Network, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Network:
    return point_cli_at(net, monkeypatch, tmp_path / "config")


def test_submit_depends_on_adds_to_the_specs_own_list(cli: Network, tmp_path: Path) -> None:
    prep = cli.submit(spec=job_spec("prep"))
    train = cli.submit(spec=job_spec("demo-train"))
    path = write(tmp_path, "eval", job_spec("demo-eval", depends_on=["prep"]))
    done = invoke("submit", path, "--depends-on", "demo-train", "--json")
    assert done.exit_code == 0, done.stderr
    assert cli.job(yaml.safe_load(done.stdout)["id"])["depends_on"] == [prep.id, train.id]


def test_an_unknown_dependency_in_a_file_is_named_at_its_line(cli: Network, tmp_path: Path) -> None:
    path = write(tmp_path, "eval", job_spec("demo-eval", depends_on=["nope"]))
    done = invoke("submit", path)
    assert done.exit_code == 2
    line = next(i for i, t in enumerate(path.read_text().splitlines(), start=1) if t.strip() == "- nope")
    assert done.stderr.startswith(f"error: {path}:{line}: field 'depends_on[0]': no job 'nope' of this tenant")
    assert done.stderr.count("\n") == 1


def test_an_unknown_dependency_from_the_flag_is_named_without_a_traceback(cli: Network, tmp_path: Path) -> None:
    done = invoke("submit", write(tmp_path, "eval", job_spec("demo-eval")), "--depends-on", "j-000000000000")
    assert done.exit_code == 2
    assert "field 'depends_on[0]': no job 'j-000000000000' of this tenant" in done.stderr
    assert done.stderr.count("\n") == 1


def test_jobs_and_status_show_a_held_jobs_reason(cli: Network, tmp_path: Path) -> None:
    train = cli.submit(spec=job_spec("demo-train"))
    done = invoke("submit", write(tmp_path, "eval", job_spec("demo-eval")), "--depends-on", train.id, "--json")
    eval_id = yaml.safe_load(done.stdout)["id"]
    cli.cycle()  # no site is up: the reason says so; the dependency is still what it waits for
    cli.register(AGENT_SITE, {"h800": 4})
    cli.cycle()
    status = invoke("status", eval_id).stdout
    assert f"WAITING_FOR_DEPENDENCY: waiting for {train.id} (demo-train) to succeed" in status
