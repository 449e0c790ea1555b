"""The MCP server, through the SDK's own client: over HTTP against the service running in
uvicorn on a free port, and over stdio against ``whoknows mcp``.

The index is the eight tiny documents, one of them (d4, the leaking roof) shared with
the ``facilities`` group only: a key of no group must never get it, nor see it named
as evidence for Bob, who wrote it.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import uvicorn
from fastapi import FastAPI
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent
from sqlalchemy import select

from models.encoder import Encoder
from models.recommender import Recommender
from pipelines.store import Store
from pipelines.store.schema import recommendations
from serving.app import create_app
from serving.config import Settings
from tests.conftest import ROOT, free_port, tiny_records

HIDDEN = "d4"
TOOLS = {"find_resources", "find_experts", "get_resource", "get_person", "record_feedback"}


@dataclass(frozen=True)
class Service:
    """The service answering on ``url``, its database, and keys of two callers."""

    url: str
    store: Store
    public_key: str  # no group: public documents only
    facilities_key: str  # may see the hidden document


@pytest.fixture(scope="module")
def hidden_index(encoder: Encoder) -> Recommender:
    """The tiny corpus with d4 restricted to the facilities group."""
    documents, people = tiny_records()
    documents = [
        dataclasses.replace(d, allowed_groups=("facilities",)) if d.id == HIDDEN else d
        for d in documents
    ]
    return Recommender.build(documents, people, encoder=encoder)


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start in 30 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def service(hidden_index: Recommender) -> Iterator[Service]:
    store = Store("sqlite://")
    _, public = store.create_key("assistant", [])
    _, facilities = store.create_key("facilities-assistant", ["facilities"])
    app = create_app(Settings(rate_limit=0), recommender=hidden_index, store=store)
    with running(app) as url:
        yield Service(url, store, public, facilities)
    store.close()


@asynccontextmanager
async def connect(url: str, key: str) -> AsyncIterator[Client]:
    """The SDK's client, connected over streamable HTTP with a key."""
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        yield client


def call(service: Service, key: str, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    async def go() -> CallToolResult:
        async with connect(service.url, key) as client:
            return await client.call_tool(tool, arguments)

    return anyio.run(go)


def logged(store: Store, recommendation_id: str) -> tuple[str, str] | None:
    """The caller and query of a logged recommendation."""
    with store.engine.connect() as connection:
        row = connection.execute(
            select(recommendations.c.caller, recommendations.c.query).where(
                recommendations.c.id == recommendation_id
            )
        ).first()
    return None if row is None else (row.caller, row.query)


def text(result: CallToolResult) -> str:
    assert all(isinstance(c, TextContent) for c in result.content)
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def test_the_tools_are_listed_with_schemas(service: Service) -> None:
    async def go() -> dict[str, dict[str, Any]]:
        async with connect(service.url, service.public_key) as client:
            listed = await client.list_tools()
        return {t.name: t.input_schema for t in listed.tools}

    schemas = anyio.run(go)
    assert set(schemas) == TOOLS
    find = schemas["find_experts"]
    assert find["required"] == ["query"]
    assert find["properties"]["limit"]["maximum"] == 50
    assert "cross_functional" in find["properties"]
    assert schemas["record_feedback"]["properties"]["action"]["enum"] == [
        "click",
        "helpful",
        "not_helpful",
        "contacted",
    ]


def test_find_experts_answers_with_evidence_links_and_a_logged_recommendation(
    service: Service,
) -> None:
    result = call(service, service.public_key, "find_experts", {"query": "Kafka consumer lag"})
    answer = text(result)
    assert not result.is_error, answer
    assert "1. Ada Lovelace (ada) (Data engineer, Data)" in answer
    assert f"{service.url}/v1/people/ada" in answer
    assert f"{service.url}/v1/resources/d1" in answer  # evidence, linked
    recommendation_id = answer.split("recommendation id ", 1)[1].split(":", 1)[0]
    assert logged(service.store, recommendation_id) == ("assistant", "Kafka consumer lag")

    feedback = {
        "recommendation_id": recommendation_id,
        "item_id": "ada",
        "item_kind": "person",
        "action": "contacted",
    }
    first = call(service, service.public_key, "record_feedback", feedback)
    assert text(first) == "Feedback recorded."
    again = call(service, service.public_key, "record_feedback", feedback)
    assert text(again) == "This feedback was already recorded."
    # Only the caller who got the answer may give feedback on it.
    other = call(service, service.facilities_key, "record_feedback", feedback)
    assert other.is_error and "no recommendation" in text(other)


def test_find_resources_get_resource_and_get_person(service: Service) -> None:
    found = call(
        service,
        service.public_key,
        "find_resources",
        {"query": "Spark out of memory", "limit": 2, "types": ["wiki"]},
    )
    answer = text(found)
    assert not found.is_error, answer
    assert "1. Spark job runs out of memory" in answer and "Passage:" in answer
    assert "2." not in answer  # only one wiki page
    resource = text(call(service, service.public_key, "get_resource", {"id": "d3"}))
    assert "raise spark.executor.memory" in resource and "Authors: Ada Lovelace (ada)" in resource
    person = text(call(service, service.public_key, "get_person", {"id": "bob"}))
    assert person.startswith("Bob Builder (bob)") and "Heating maintenance schedule" in person


def test_a_hidden_document_is_never_returned_nor_evidence_outside_its_groups(
    service: Service,
) -> None:
    question = {"query": "How do I fix a leaking roof with broken tiles?", "limit": 8}
    for tool in ("find_resources", "find_experts"):
        public = text(call(service, service.public_key, tool, question))
        allowed = text(call(service, service.facilities_key, tool, question))
        assert "Fixing a leaking roof" not in public and f"/{HIDDEN}" not in public
        assert "Fixing a leaking roof" in allowed
    bob = text(call(service, service.public_key, "get_person", {"id": "bob"}))
    assert "Fixing a leaking roof" not in bob
    hidden = call(service, service.public_key, "get_resource", {"id": HIDDEN})
    assert hidden.is_error and text(hidden).endswith(f"no resource with id {HIDDEN!r}")


def test_no_credentials_is_401(service: Service) -> None:
    response = httpx.post(
        f"{service.url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "authentication required" in response.json()["detail"]

    async def go() -> None:
        async with Client(f"{service.url}/mcp") as client:
            await client.list_tools()

    # The SDK's client gets no tools, only an error (it does not say which status).
    with pytest.raises(ExceptionGroup) as refused:
        anyio.run(go)
    assert refused.group_contains(MCPError)


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("find_experts", {"query": "   "}, "ask a question in words"),
        ("find_experts", {"query": "kafka", "limit": 500}, "less than or equal to 50"),
        ("find_resources", {"query": "kafka", "departments": ["Astrology"]}, "Astrology"),
        ("find_resources", {"query": "kafka", "types": ["poem"]}, "poem"),
        ("find_resources", {}, "query"),
        ("get_person", {"id": "nobody"}, "nobody"),
        ("record_feedback", {"recommendation_id": "x", "item_id": "d1"}, "item_kind"),
    ],
)
def test_bad_arguments_are_a_clear_tool_error(
    service: Service, tool: str, arguments: dict[str, Any], message: str
) -> None:
    result = call(service, service.public_key, tool, arguments)
    assert result.is_error
    assert message in text(result)


@pytest.mark.slow  # builds the sample index (shared with the other route tests)
def test_every_tool_answers_on_the_sample(sample: Recommender) -> None:
    store = Store("sqlite://")
    _, key = store.create_key("sample-assistant", [])
    app = create_app(Settings(rate_limit=0), recommender=sample, store=store)
    question = "How do I run a circuit on IBM's quantum hardware?"

    async def go(url: str) -> dict[str, CallToolResult]:
        async with connect(url, key) as client:
            experts = await client.call_tool("find_experts", {"query": question, "limit": 3})
            resources = await client.call_tool("find_resources", {"query": question})
            expert_id = text(experts).split("Id: ", 1)[1].split("\n", 1)[0]
            resource_id = text(resources).split("Id: ", 1)[1].split(" ", 1)[0]
            recommendation_id = text(resources).split("recommendation id ", 1)[1][:32]
            return {
                "find_experts": experts,
                "find_resources": resources,
                "get_person": await client.call_tool("get_person", {"id": expert_id}),
                "get_resource": await client.call_tool("get_resource", {"id": resource_id}),
                "record_feedback": await client.call_tool(
                    "record_feedback",
                    {
                        "recommendation_id": recommendation_id,
                        "item_id": resource_id,
                        "item_kind": "resource",
                        "action": "helpful",
                    },
                ),
            }

    with running(app) as url:
        results = anyio.run(go, url)
    store.close()
    assert set(results) == TOOLS
    for name, result in results.items():
        assert not result.is_error, (name, text(result))
    assert "Quantum Computing" in text(results["find_experts"])
    assert "https://quantumcomputing.stackexchange.com/" in text(results["find_resources"])
    assert text(results["record_feedback"]) == "Feedback recorded."


def test_rate_limits_count_mcp_requests_as_api_requests(hidden_index: Recommender) -> None:
    store = Store("sqlite://")
    _, key = store.create_key("busy-assistant", [])
    app = create_app(Settings(rate_limit=3), recommender=hidden_index, store=store)
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {key}"}
    with running(app) as url:
        statuses = [
            httpx.post(f"{url}/mcp", json=listing, headers=headers).status_code for _ in range(3)
        ]
        refused = httpx.post(f"{url}/mcp", json=listing, headers=headers)
        api = httpx.post(f"{url}/v1/recommendations", json={"query": "kafka"}, headers=headers)
    store.close()
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert api.status_code == 429  # one allowance for the key, whatever the channel


@pytest.mark.slow
def test_stdio(hidden_index: Recommender, tmp_path: Path) -> None:
    hidden_index.save(tmp_path / "index")
    url = f"sqlite:///{tmp_path}/whoknows.db"
    store = Store(url)
    _, key = store.create_key("desktop", [])
    store.close()
    parameters = StdioServerParameters(
        command=sys.executable,
        args=["-m", "pipelines.cli", "mcp", "--index", str(tmp_path / "index")],
        env={**os.environ, "WHOKNOWS_DATABASE_URL": url, "WHOKNOWS_MCP_KEY": key},
        cwd=ROOT,
    )

    async def go() -> tuple[set[str], CallToolResult]:
        async with Client(parameters) as client:
            listed = await client.list_tools()
            found = await client.call_tool("find_resources", {"query": "leaking roof tiles"})
        return {t.name for t in listed.tools}, found

    names, found = anyio.run(go)
    assert names == TOOLS
    answer = text(found)
    assert not found.is_error, answer
    assert "Roof inspection checklist" in answer and "Fixing a leaking roof" not in answer
    recommendation_id = answer.split("recommendation id ", 1)[1].split(":", 1)[0]
    store = Store(url)
    try:
        assert logged(store, recommendation_id) == ("desktop", "leaking roof tiles")
    finally:
        store.close()


@pytest.mark.slow
def test_stdio_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("WHOKNOWS_MCP_KEY", "WHOKNOWS_ANONYMOUS")
    }
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "mcp", "--index", str(tmp_path)],
        env={**env, "WHOKNOWS_DATABASE_URL": f"sqlite:///{tmp_path}/whoknows.db"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "WHOKNOWS_MCP_KEY" in done.stderr and done.stdout == ""
