"""whoknows as a tool for AI assistants: a Model Context Protocol server.

The tools (``find_resources``, ``find_experts``, ``get_resource``, ``get_person``,
``record_feedback``) are thin functions over serving.answering and the recommender's
catalog, so an assistant's question is answered, trimmed to the caller's groups,
logged for feedback and analytics, and rate limited exactly as on the HTTP API.
Answers are text an assistant can quote (serving.mcp_text).

Two transports, one set of tools:

- streamable HTTP at ``/mcp`` in the service's own process (:func:`install`): the
  route takes the same dependencies as /v1, so no credentials answer 401 with
  ``WWW-Authenticate: Bearer``, and every request counts against the caller's rate
  limit. It is stateless (no session is kept between requests), so any worker or
  replica can answer any request.
- stdio (serving.mcp_stdio, ``whoknows mcp --index DIR``) for desktop assistants,
  as the caller of the API key in ``WHOKNOWS_MCP_KEY`` (checked on every call, so
  a revoked key stops working), each tool call counted against its rate limit.

A domain error (blank query, unknown id or department, rate limit) comes back as a
tool error (``isError``) whose text says what to change; arguments that do not fit
a tool's JSON schema are refused by the SDK the same way.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Request, Response
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import ToolAnnotations
from pydantic import Field
from starlette.types import Receive, Scope, Send

from models.exceptions import WhoknowsError
from models.recommender import Recommender
from models.records import ResourceType
from models.results import DEFAULT_LIMIT, Recommendations
from pipelines.store import FeedbackEvent, Store
from pipelines.store.records import Action, ItemKind
from serving import mcp_text
from serving.answering import Exposure, Slots, answer
from serving.auth import Caller
from serving.config import Settings
from serving.deps import CallerDep, StoreDep, served_now
from serving.errors import ServiceUnavailable, status_of

log = logging.getLogger("whoknows.serving")

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])

INSTRUCTIONS = (
    "whoknows finds, inside this organisation, what to read about a question "
    "(find_resources) and which colleagues know about it (find_experts), with the evidence "
    "for each. Quote the links and the evidence; never invent people or documents. Only "
    "what the caller may see is ever returned. Open one result with get_resource or "
    "get_person; tell whoknows what helped with record_feedback."
)

Query = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="The question in natural language, e.g. 'How do I tune Kafka consumer lag?'",
    ),
]
Limit = Annotated[int, Field(ge=1, le=50, description="How many results (1-50).")]
Departments = Annotated[
    tuple[Annotated[str, Field(min_length=1, max_length=200)], ...],
    Field(
        max_length=100,
        description="Only these departments (exact names); empty: all departments.",
    ),
]
Types = Annotated[
    tuple[ResourceType, ...],
    Field(max_length=10, description="Only resources of these types; empty: all types."),
]
Id = Annotated[str, Field(min_length=1, max_length=1000)]

#: How many of the other kind an answer lists in short (colleagues under resources and
#: resources under colleagues). Both kinds are computed and logged, as on the HTTP API:
#: an answer without resources would count as a knowledge gap in analytics, and one
#: without people as a question no expert was found for.
ALSO = 3

READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)


@dataclass(frozen=True, slots=True)
class Channel:
    """What a tool call is answered with: who calls, and the service's parts.

    Attributes:
        caller: the authenticated caller (their groups decide what may be seen).
        recommender: the index served, privacy requests applied.
        store: keys, recommendations and feedback.
        settings: the service's settings (profile fields).
        exposure: everyone's recent exposure, for load-aware routing.
        slots: the process's limit on answers computed at once.
        base_url: the service's address, for links (no trailing slash).
    """

    caller: Caller
    recommender: Recommender
    store: Store
    settings: Settings
    exposure: Exposure
    slots: Slots | None
    base_url: str


#: Resolves the channel of a tool call (may raise a domain error: 401, 429, 503).
ChannelOf = Callable[[Context], Channel]


def create_server(channel_of: ChannelOf) -> MCPServer:
    """The MCP server with whoknows's tools, each call answered through ``channel_of``."""
    server: MCPServer = MCPServer(
        "whoknows", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING"
    )

    def tool(annotations: ToolAnnotations) -> Callable[[_F], _F]:
        """Register a tool, its docstring as its description (one paragraph), its answer text."""

        def register(function: _F) -> _F:
            description = " ".join(inspect.cleandoc(function.__doc__ or "").split())
            server.add_tool(
                function, description=description, annotations=annotations, structured_output=False
            )
            return function

        return register

    async def ask(
        ctx: Context, query: str, resources: int, people: int, **filters: Any
    ) -> tuple[Channel, str, Recommendations]:
        channel = await _run(channel_of, ctx)
        exposure = await _run(channel.exposure, channel.store)
        recommendation_id, result = await _run(
            functools.partial(
                answer,
                channel.recommender,
                channel.store,
                channel.caller,
                query,
                limit_resources=resources,
                limit_people=people,
                asker=channel.caller.person,
                exposure=exposure,
                slots=channel.slots,
                **filters,
            )
        )
        return channel, recommendation_id, result

    @tool(READ_ONLY)
    async def find_resources(
        query: Query,
        ctx: Context,
        limit: Limit = DEFAULT_LIMIT,
        departments: Departments = (),
        types: Types = (),
    ) -> str:
        """Find the organisation's documents that answer a question: wiki pages, reports,
        best practices, case studies, courses, answered questions. Returns them best first,
        each numbered with its title, link, id, type, department, the passage that matched
        and why it was chosen, then the colleagues who know about it in short, plus a
        recommendation id for record_feedback. Only documents the caller may see are
        returned. Use it for "where is ...", "how do we ...",
        "is there a document about ..."."""
        with _tool_errors():
            channel, recommendation_id, result = await ask(
                ctx,
                query,
                limit,
                ALSO,
                departments=departments,
                types=tuple(t.value for t in types),
            )
            return mcp_text.resources_text(
                recommendation_id, result, channel.base_url, channel.settings.profile_fields
            )

    @tool(READ_ONLY)
    async def find_experts(
        query: Query,
        ctx: Context,
        limit: Limit = DEFAULT_LIMIT,
        departments: Departments = (),
        cross_functional: Annotated[
            bool,
            Field(
                description="Prefer colleagues of another department than the caller's when "
                "their evidence is comparable."
            ),
        ] = False,
    ) -> str:
        """Find colleagues who know about a question, from what they wrote, answered and
        worked on. Returns them best first, each numbered with name, title, department, a
        link, why they were chosen and the documents that show it (with links), then
        resources worth reading in short, plus a recommendation id for record_feedback.
        People who opted out never appear, nor evidence the caller may not see. Use it for
        "who knows ...", "whom can I ask ..."."""
        with _tool_errors():
            channel, recommendation_id, result = await ask(
                ctx,
                query,
                ALSO,
                limit,
                departments=departments,
                cross_functional=cross_functional,
            )
            return mcp_text.experts_text(
                recommendation_id, result, channel.base_url, channel.settings.profile_fields
            )

    @tool(READ_ONLY)
    async def get_resource(
        id: Annotated[
            Id, Field(description="A resource id, as find_resources or find_experts gave it.")
        ],  # noqa: A002, E501
        ctx: Context,
    ) -> str:
        """Read one resource in full: title, link, type, department, tags, authors and its
        whole text. A resource the caller may not see is reported as unknown."""
        with _tool_errors():
            channel = await _run(channel_of, ctx)
            document = channel.recommender.resource(id, groups=channel.caller.groups)
            authors = channel.recommender.authors(document)
            fields = channel.settings.profile_fields
            return mcp_text.resource_text(document, authors, channel.base_url, fields)

    @tool(READ_ONLY)
    async def get_person(
        id: Annotated[Id, Field(description="A person id, as find_experts gave it.")],  # noqa: A002
        ctx: Context,
    ) -> str:
        """Look up one colleague: the profile fields the organisation shares and their
        strongest documents that the caller may see, with links. People who opted out are
        reported as unknown."""
        with _tool_errors():
            channel = await _run(channel_of, ctx)
            profile = channel.recommender.profile(id, groups=channel.caller.groups)
            return mcp_text.person_text(profile, channel.base_url, channel.settings.profile_fields)

    @tool(ToolAnnotations(readOnlyHint=False, idempotentHint=True, openWorldHint=False))
    async def record_feedback(
        recommendation_id: Annotated[
            str,
            Field(
                min_length=1,
                max_length=64,
                description="The recommendation id a find_resources or find_experts answer gave.",
            ),
        ],
        item_id: Annotated[Id, Field(description="The resource or person id it listed.")],
        item_kind: Annotated[
            ItemKind, Field(description="resource (from find_resources) or person.")
        ],
        action: Annotated[
            Action,
            Field(
                description="click: the user opened it; helpful / not_helpful: what the user "
                "said of it; contacted: the user got in touch with the person."
            ),
        ],
        ctx: Context,
    ) -> str:
        """Record what the user did with one item of an earlier answer, so whoknows learns
        what helps. Only answers given to the same caller are accepted; the same event twice
        is counted once."""
        with _tool_errors():
            channel = await _run(channel_of, ctx)
            event = FeedbackEvent(
                recommendation_id, item_id, item_kind, action, channel.caller.name
            )
            recorded = await _run(channel.store.add_feedback, event)
            return "Feedback recorded." if recorded else "This feedback was already recorded."

    return server


async def _run(function: Callable[..., _T], *args: Any) -> _T:
    """Run blocking work (the store, the encoder) off the event loop."""
    return await anyio.to_thread.run_sync(functools.partial(function, *args))


@contextmanager
def _tool_errors() -> Iterator[None]:
    """A domain error as a tool error that says what to change (a 5xx says only what failed)."""
    try:
        yield
    except WhoknowsError as exc:
        if status_of(exc) < 500 or isinstance(exc, ServiceUnavailable):
            raise ToolError(str(exc)) from exc
        log.error("MCP tool call failed: %s", exc)
        raise ToolError("whoknows cannot answer now; the server log has the details") from exc


# the streamable HTTP transport, in the service's process

router = APIRouter(include_in_schema=False)

_CALLER, _STORE = "whoknows.caller", "whoknows.store"


class _Delegate(Response):
    """Hands the request to the MCP session manager once the route's dependencies passed."""

    def __init__(self, sessions: StreamableHTTPSessionManager) -> None:
        super().__init__()
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.sessions.handle_request(scope, receive, send)


@router.api_route("/mcp", methods=["GET", "POST", "DELETE"])
async def mcp_endpoint(request: Request, caller: CallerDep, store: StoreDep) -> Response:
    """The MCP endpoint: authenticated and rate limited by the same dependencies as /v1."""
    request.scope[_CALLER] = caller
    request.scope[_STORE] = store
    return _Delegate(request.app.state.mcp_sessions)


def _http_channel(ctx: Context) -> Channel:
    request: Request | None = ctx.request_context.request
    if request is None:  # pragma: no cover (the HTTP transport always sets it)
        raise ServiceUnavailable("no HTTP request behind this tool call", retry=False)
    state = request.app.state
    served = served_now(state.index, state.privacy)
    settings: Settings = state.settings
    return Channel(
        caller=request.scope[_CALLER],
        recommender=served.recommender,
        store=request.scope[_STORE],
        settings=settings,
        exposure=state.exposure,
        slots=state.slots,
        base_url=(settings.public_url or str(request.base_url)).rstrip("/"),
    )


def install(app: FastAPI) -> Callable[[], AbstractAsyncContextManager[None]]:
    """Serve the MCP tools at ``/mcp``; returns the lifespan part that runs its sessions.

    Every request needs the same credentials as /v1, so the SDK's DNS-rebinding check is
    needed only when anonymous loopback access is on (a page of any site could
    otherwise reach a local service through a rebound name).
    """
    server = create_server(_http_channel)
    settings: Settings = app.state.settings
    if settings.anonymous:
        security = TransportSecuritySettings(
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    else:
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app.include_router(router)

    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        # A session manager runs once: a new one for each start of the app.
        server.streamable_http_app(
            stateless_http=True, json_response=True, transport_security=security
        )
        app.state.mcp_sessions = server.session_manager
        async with server.session_manager.run():
            yield

    return running
