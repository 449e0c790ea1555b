"""Generated requests against the app's own OpenAPI schema (Schemathesis), with keys.

Every operation is called with examples generated from the schema (valid and
invalid), as an administrator and as a caller of one group, and every answer is
checked with Schemathesis's default checks: no 5xx, a status the schema lists,
a body and headers that match it, invalid input refused and valid input
accepted. The stateful phase chains operations (a recommendation's id into
feedback, a listed id into a lookup) on a throwaway database. Examples are
bounded (WHOKNOWS_SCHEMA_EXAMPLES, default 15 per operation) to keep the suite fast;
raise it for a deeper run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from models.recommender import Recommender
from pipelines.store import Store
from serving.app import create_app
from serving.config import Settings
from tests.conftest import tiny_records

EXAMPLES = int(os.environ.get("WHOKNOWS_SCHEMA_EXAMPLES", "15"))
#: Chat webhooks check their platform's signature before anything else: generated
#: requests can only be refused there, which the chat tests cover with real signatures.
WEBHOOKS = ("/slack/", "/teams/")
#: Operations whose parameters constrain each other ('from' not after 'to', at most 366
#: points of a step), which a JSON schema cannot say: a schema-valid pair may be a
#: 422 there.
CROSS_FIELD = ("/v1/analytics", "/v1/analytics/series", "/v1/insights/gaps")


def unsayable(case: schemathesis.Case) -> list[Any]:
    """The check that schema-valid input is accepted, where the schema cannot say what
    is valid: cross-field rules (above), and department filters, whose values are the
    departments of the index served (an unknown one is a 422 that lists them). Every
    other check still runs on those requests, and this one on all others."""
    body = case.body if isinstance(case.body, dict) else {}
    filters = body.get("filters")
    departments = isinstance(filters, dict) and bool(filters.get("departments"))
    return [positive_data_acceptance] if case.operation.path in CROSS_FIELD or departments else []


def call(case: schemathesis.Case, secret: str) -> None:
    headers = {"Authorization": f"Bearer {secret}"}
    case.call_and_validate(headers=headers, excluded_checks=unsayable(case))


@pytest.fixture(scope="module")
def service(
    encoder: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    """The app over its own copy of the tiny index and a throwaway SQLite database,
    started (its lifespan run), with an admin key and a key of group ``eng``."""
    documents, people = tiny_records()
    recommender = Recommender.build(documents, people, encoder=encoder)  # type: ignore[arg-type]
    folder: Path = tmp_path_factory.mktemp("schema")
    store = Store(f"sqlite:///{folder}/store.db")
    _, admin = store.create_key("schema-admin", [], admin=True)
    _, member = store.create_key("schema-member", ["eng"])
    app = create_app(Settings(rate_limit=0), recommender=recommender, store=store)
    with TestClient(app):
        yield app, {"admin": admin, "member": member}
    store.close()


@pytest.fixture(scope="module")
def api_schema(service: tuple[FastAPI, dict[str, str]]) -> schemathesis.BaseSchema:
    app, _ = service
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return schema.exclude(path_regex="|".join(f"^{w}" for w in WEBHOOKS))


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """Schemathesis 4.32's lazy schemas read ``node._nodeid``, which pytest 9.2 no
    longer sets (it is ``node.nodeid``)."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@schema.parametrize()
@BOUNDED
def test_every_operation_answers_an_administrator_as_its_schema_says(
    case: schemathesis.Case, service: tuple[FastAPI, dict[str, str]]
) -> None:
    call(case, service[1]["admin"])


@schema.parametrize()
@BOUNDED
def test_every_operation_answers_a_group_member_as_its_schema_says(
    case: schemathesis.Case, service: tuple[FastAPI, dict[str, str]]
) -> None:
    call(case, service[1]["member"])


def test_operations_chained_statefully(
    api_schema: schemathesis.BaseSchema, service: tuple[FastAPI, dict[str, str]]
) -> None:
    _, keys = service
    machine = api_schema.as_state_machine()

    class Chained(machine):  # type: ignore[valid-type, misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
            return {"headers": {"Authorization": f"Bearer {keys['admin']}"}}

        def validate_response(
            self, response: Any, case: schemathesis.Case, additional_checks: Any = None, **kw: Any
        ) -> None:
            case.validate_response(
                response,
                additional_checks=additional_checks,
                excluded_checks=unsayable(case),
                transport_kwargs=kw or None,
                recorder=getattr(self, "recorder", None),
            )

    Chained.run(
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )
