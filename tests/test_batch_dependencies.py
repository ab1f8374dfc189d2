"""``depends_on`` within one ``POST /v1/jobs:batch`` (suanli.service.control.batch_deps): a
spec names an earlier spec of the same batch by its name and gets the id stored in the
same transaction; a later item, or itself, is one 422 naming the item and the entry; on
SQLite and PostgreSQL, through the API in-process and ``suanli submit a.yaml b.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from suanli.store import Store
from tests.api_builders import AGENT_SITE, Network, job_spec
from tests.api_cli import invoke, point_cli_at, write
from tests.test_api_batch import batch, stored_jobs


@pytest.fixture
def net(store: Store) -> Network:
    net = Network.build(store)
    net.register(AGENT_SITE, {"h800": 4})
    return net


def jobs_of(answer: Any) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    assert all(item["error"] is None for item in items), [item["error"] for item in items]
    return [item["job"] for item in items]


def test_a_spec_depends_on_an_earlier_one_by_name_and_gets_its_new_id(net: Network) -> None:
    old = net.submit(spec=job_spec("train"))  # an older job of that name is not the one meant
    prep, train, evaluate = jobs_of(
        batch(
            net,
            [
                job_spec("prep"),
                job_spec("train", depends_on="prep"),
                job_spec("eval", depends_on=["train", "prep", old.id]),
            ],
        )
    )
    assert train["depends_on"] == [prep["id"]]
    assert evaluate["depends_on"] == [train["id"], prep["id"], old.id] and train["id"] != old.id
    stored = {j["name"]: j for j in stored_jobs(net) if j["id"] != old.id}
    assert stored["eval"]["depends_on"] == [train["id"], prep["id"], old.id]
    # and the dependency holds as for any job: only prep (and the old train) are offered first
    placed = {job_id for job_id, _, _ in net.cycle().placed}
    assert placed == {prep["id"], old.id}


def test_the_latest_earlier_item_of_a_name_is_the_one_meant(net: Network) -> None:
    specs = [job_spec("nightly"), job_spec("nightly", depends_on="nightly"), job_spec("x", depends_on="nightly")]
    first, second, after = jobs_of(batch(net, specs))
    assert second["depends_on"] == [first["id"]], "its own name: the previous job of that name"
    assert after["depends_on"] == [second["id"]]


def refusal(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 422, answer.text
    body: dict[str, Any] = answer.json()
    assert body["code"] == "INVALID_INPUT"
    return body


def test_a_dependency_on_a_later_item_is_refused_naming_the_item_and_entry(net: Network) -> None:
    net.submit(spec=job_spec("train"))  # a stored job of that name does not make the order right
    specs = [job_spec("prep"), job_spec("eval", depends_on=["prep", "train"]), job_spec("train")]
    body = refusal(batch(net, specs))
    assert body["message"].startswith(
        "jobs[1].spec: field 'depends_on[1]': 'train' is item 2 of this batch, which comes after item 1"
    )
    (detail,) = body["details"]
    assert (detail["index"], detail["field"]) == (1, "depends_on[1]")
    assert "put item 2 ('train') before item 1" in detail["hint"]
    assert [j["name"] for j in stored_jobs(net)] == ["train"], "nothing of the batch is stored"


def test_a_dependency_on_itself_is_refused_naming_the_item_and_entry(net: Network) -> None:
    body = refusal(batch(net, [job_spec("a"), job_spec("loop", depends_on=["a", "loop"])]))
    (detail,) = body["details"]
    assert (detail["index"], detail["field"]) == (1, "depends_on[1]")
    assert "a job cannot depend on itself" in detail["message"]
    assert stored_jobs(net) == []


def test_an_item_after_a_refused_one_it_depends_on_is_refused_and_the_others_go_in(net: Network) -> None:
    specs = [job_spec("bad", tokens_b=-1), job_spec("eval", depends_on="bad"), job_spec("free")]
    items = batch(net, specs).json()["items"]
    assert items[0]["error"]["code"] == "INVALID_INPUT"
    error = items[1]["error"]
    assert error["code"] == "INVALID_INPUT" and error["details"][0]["field"] == "depends_on[0]"
    assert "item 0 of this batch, which item 1 depends on, was refused" in error["message"]
    assert items[2]["job"]["name"] == "free"
    assert [j["name"] for j in stored_jobs(net)] == ["free"]


# -- suanli submit a.yaml b.yaml ----------------------------------------------------------------------


@pytest.fixture
def cli(net: Network, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Network:
    return point_cli_at(net, monkeypatch, tmp_path / "config")


def test_submit_of_two_files_chains_the_second_after_the_first(cli: Network, tmp_path: Path) -> None:
    train = write(tmp_path, "train", job_spec("demo-train"))
    evaluate = write(tmp_path, "eval", job_spec("demo-eval", depends_on=["demo-train"]))
    done = invoke("submit", train, evaluate, "--json")
    assert done.exit_code == 0, done.stderr
    ids = {j["name"]: j["id"] for j in yaml.safe_load(done.stdout)["jobs"]}
    assert cli.job(ids["demo-eval"])["depends_on"] == [ids["demo-train"]]


def test_submit_in_the_wrong_order_names_the_file_and_line(cli: Network, tmp_path: Path) -> None:
    evaluate = write(tmp_path, "eval", job_spec("demo-eval", depends_on=["demo-train"]))
    train = write(tmp_path, "train", job_spec("demo-train"))
    done = invoke("submit", evaluate, train)
    assert done.exit_code == 2
    line = next(i for i, t in enumerate(evaluate.read_text().splitlines(), start=1) if t.strip() == "- demo-train")
    assert done.stderr.startswith(f"error: {evaluate}:{line}: field 'depends_on[0]': 'demo-train' is item 1")
    assert "Traceback" not in done.stderr
    assert stored_jobs(cli) == []


def test_submit_in_several_batches_refuses_a_dependency_on_a_later_batch_before_sending_any(
    cli: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More jobs than one batch holds go in several batches; the server sees one at a time
    and would take 'demo-train' in a later batch for no job (or a stored one), so the CLI
    checks the order over all of them first."""
    import suanli.client._wire as wire

    monkeypatch.setattr(wire, "MAX_BATCH", 2)
    first = write(tmp_path, "first", job_spec("demo-first"))
    evaluate = write(tmp_path, "eval", job_spec("demo-eval", depends_on=["demo-train"]))
    train = write(tmp_path, "train", job_spec("demo-train"))
    done = invoke("submit", first, evaluate, train)
    assert done.exit_code == 2, done.stderr
    line = next(i for i, t in enumerate(evaluate.read_text().splitlines(), start=1) if t.strip() == "- demo-train")
    assert done.stderr.startswith(
        f"error: {evaluate}:{line}: field 'depends_on[0]': 'demo-train' is job 3 of the 3 this submits ({train})"
    ), done.stderr
    assert "Traceback" not in done.stderr
    assert stored_jobs(cli) == [], "nothing was sent"

    done = invoke("submit", first, train, evaluate, "--json")
    assert done.exit_code == 0, done.stderr
    ids = {j["name"]: j["id"] for j in yaml.safe_load(done.stdout)["jobs"]}
    assert cli.job(ids["demo-eval"])["depends_on"] == [ids["demo-train"]], "the right order goes in, across batches"
