"""Where a job may work: ``run.workdir`` and ``run.checkpoint_dir`` inside the job's own
directory (relative, without ``..``) or under a shared root the operator declared
(``suanli serve --shared-root``); anything else is a 422 naming the field, on SQLite and
PostgreSQL, for ``POST /v1/jobs`` and each item of a batch."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from suanli.service.control.paths import normalise_root, shared_roots_of
from suanli.store import Store
from tests.api_builders import GENEROUS, RUN, Network, job_spec

SHARED = "/mnt/shared"


@pytest.fixture
def net(store: Store) -> Network:
    return Network.build(store, dataclasses.replace(GENEROUS, shared_roots=(SHARED,)))


def with_run(**paths: str) -> dict[str, Any]:
    return job_spec("pathed", run={**RUN, **paths})


ACCEPTED = {
    "a relative workdir": {"workdir": "src"},
    "a relative checkpoint_dir with dots": {"checkpoint_dir": "./ckpt/v1.2"},
    "a checkpoint_dir under the shared root": {"checkpoint_dir": f"{SHARED}/ckpt/run-1"},
    "the shared root itself": {"workdir": SHARED},
    "a shared-root path written with // and /./": {"checkpoint_dir": "/mnt//shared/./ckpt"},
    "both under the shared root": {"workdir": f"{SHARED}/code", "checkpoint_dir": f"{SHARED}/ckpt"},
}

REFUSED = {
    "workdir: ../..": ("run.workdir", {"workdir": "../.."}, "'..'"),
    "a relative checkpoint_dir that climbs out": ("run.checkpoint_dir", {"checkpoint_dir": "ckpt/../../x"}, "'..'"),
    "an absolute path outside every shared root": ("run.checkpoint_dir", {"checkpoint_dir": "/etc/ckpt"}, SHARED),
    "a sibling that only starts like the shared root": ("run.workdir", {"workdir": "/mnt/shared-not"}, SHARED),
    "'..' inside the shared root": ("run.checkpoint_dir", {"checkpoint_dir": f"{SHARED}/../../etc"}, "'..'"),
}


@pytest.mark.parametrize("paths", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_a_path_inside_the_job_or_a_shared_root_is_accepted(net: Network, paths: dict[str, str]) -> None:
    answer = net.api.post("/v1/jobs", json={"spec": with_run(**paths)}, headers=net.headers("tenant_a"))
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize(("field", "paths", "named"), REFUSED.values(), ids=REFUSED.keys())
def test_a_path_that_leaves_them_is_422_naming_the_field(
    net: Network, field: str, paths: dict[str, str], named: str
) -> None:
    answer = net.api.post("/v1/jobs", json={"spec": with_run(**paths)}, headers=net.headers("tenant_a"))
    assert answer.status_code == 422, answer.text
    error = answer.json()
    assert error["code"] == "PATH_NOT_ALLOWED"
    assert f"field '{field}'" in error["message"] and named in error["message"]
    assert "To fix:" in error["message"]
    assert [d["field"] for d in error["details"]] == [field], "the CLI maps it to the file's line"


def test_without_a_shared_root_an_absolute_path_says_how_to_declare_one(store: Store) -> None:
    net = Network.build(store)
    answer = net.api.post(
        "/v1/jobs", json={"spec": with_run(checkpoint_dir="/tmp/ckpt")}, headers=net.headers("tenant_a")
    )
    assert answer.status_code == 422
    assert "declares no shared root" in answer.json()["message"]
    assert "--shared-root" in answer.json()["message"]


def test_a_batch_item_with_a_bad_path_gets_its_own_error(net: Network) -> None:
    jobs = [{"spec": with_run(workdir="../..")}, {"spec": with_run(checkpoint_dir=f"{SHARED}/ok")}]
    items = net.api.post("/v1/jobs:batch", json={"jobs": jobs}, headers=net.headers("tenant_a")).json()["items"]
    assert items[0]["error"]["code"] == "PATH_NOT_ALLOWED"
    assert items[0]["error"]["details"][0]["field"] == "run.workdir"
    assert items[1]["created"] is True


@pytest.mark.parametrize(
    ("given", "kept"),
    [("/mnt/shared/", "/mnt/shared"), ("/mnt//a/./b", "/mnt/a/b"), ("/", "/")],
)
def test_shared_roots_are_normalised(given: str, kept: str) -> None:
    assert normalise_root(given) == kept


@pytest.mark.parametrize("bad", ["relative/dir", "/mnt/../etc"])
def test_a_shared_root_must_be_absolute_and_without_dot_dot(bad: str) -> None:
    with pytest.raises(ValueError, match="shared root"):
        shared_roots_of([bad])
