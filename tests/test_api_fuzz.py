"""Fuzzing the whole OpenAPI with schemathesis, bounded in time for CI.

Every operation of ``/v1/openapi.json`` gets schema-valid and schema-violating requests
(schemathesis' examples, coverage and fuzzing phases; at most ``MAX_EXAMPLES`` generated
ones per operation, derandomised so CI sees the same requests every run), three times over:
with a tenant's token (every operation), an admin's (every operation but the agents'), and
a site agent's (the agents' operations). Every answer must pass schemathesis' checks: no
5xx, a documented status, a body that matches its documented schema, a 401 without the
token, a 4xx for schema-violating input, an ``Allow`` header on 405s.

One allowance, in ``CONFIG``: a schema-valid request may get 422. The schema cannot say
which names are in the catalogue (models, accelerators, sites, families) or which field
combinations a job kind needs, so a well-formed request can still be refused, with a reason.

The app runs on SQLite with some history (a running job, a filing, a quota, a registered
site), so list answers hold real objects for the response-schema checks.
"""

from __future__ import annotations

import tempfile

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from suanli.schemas import FilingCreate, QuotaIn
from suanli.service.control import admin
from suanli.store import Store, open_store
from tests.api_builders import AGENT_SITE, TENANT_A, Network

MAX_EXAMPLES = 25
"""Generated requests per operation and pass (the coverage phase adds its own, bounded ones):
with three passes about 40 s of CPU on one core, 25 s wall on two (``pytest -n 2``)."""
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
ACCEPTED_FOR_VALID_DATA = ["2xx", "401", "403", "404", "409", "422", "429"]
"""What schema-valid requests may get (schemathesis' default, plus 422: see above)."""
REFUSALS_OF_INVALID_DATA = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
"""What schema-violating requests may get: schemathesis' default plus 413 (a batch of over
1,000 jobs is also a body over the 1 MB limit, refused before it is parsed)."""


def config_for(token: str) -> SchemathesisConfig:
    """Schemathesis' settings, authenticating with ``token`` through the API's bearer scheme
    (so its checks know which requests carried it, and which it left out on purpose)."""
    return SchemathesisConfig.from_dict(
        {
            "seed": 20250101,
            "auth": {"openapi": {"token": {"bearer": token}}},
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ACCEPTED_FOR_VALID_DATA},
                "negative_data_rejection": {"expected-statuses": REFUSALS_OF_INVALID_DATA},
            },
        }
    )


def seeded_network(store: Store) -> Network:
    """A network with some history."""
    net = Network.build(store)
    job = net.place("tenant_a", AGENT_SITE)
    net.report(AGENT_SITE, job.id, 1, state="RUNNING", logs="step 1\n", checkpoint="s3://ckpt/1")
    net.submit("tenant_a")
    admin.file_model(net.cp, net.principal("tenant_a"), FilingCreate(model="qwen2.5-7b"))
    admin.set_quota(net.cp, net.principal("admin"), TENANT_A, "*", QuotaIn(accelerator_hours=100, max_concurrent=8))
    return net


_DATA = tempfile.TemporaryDirectory(prefix="suanli-fuzz-")
"""The fuzzed app's SQLite store (removed when the test process exits)."""
NET = seeded_network(open_store(_DATA.name))
AS_TENANT, AS_ADMIN, AS_AGENT = (
    schemathesis.openapi.from_asgi("/v1/openapi.json", NET.api.app, config=config_for(NET.tokens[who]))
    for who in ("tenant_a", "admin", "agent")
)


@AS_TENANT.parametrize()
@FUZZ
def test_as_a_tenant(case: schemathesis.Case) -> None:
    case.call_and_validate()


@AS_ADMIN.exclude(tag="agents").parametrize()
@FUZZ
def test_as_an_admin(case: schemathesis.Case) -> None:
    case.call_and_validate()


@AS_AGENT.include(tag="agents").parametrize()
@FUZZ
def test_as_a_site_agent(case: schemathesis.Case) -> None:
    case.call_and_validate()
