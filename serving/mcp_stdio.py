"""The MCP tools over stdio, for desktop assistants: ``whoknows mcp --index DIR``.

The assistant starts this process and speaks MCP on its stdin and stdout. The tools are
serving.mcp's, answered from a local index and database as the caller of the API key
in ``WHOKNOWS_MCP_KEY``: the key is checked on every call (a revoked key stops working),
every call counts against its rate limit and is logged as a recommendation, and people
who opted out or were erased never appear.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context

from models.exceptions import ConfigurationError
from models.recommender import Recommender
from pipelines.store import Store
from serving.answering import Exposure, Slots
from serving.auth import Authenticator, Caller
from serving.config import Settings
from serving.limits import RateLimiter
from serving.mcp import Channel, ChannelOf, create_server
from serving.privacy import PrivacySync


def stdio_channels(settings: Settings, store: Store, key: str | None) -> ChannelOf:
    """Channels for ``whoknows mcp``: the index of ``settings``, the database ``store``,
    and the caller of ``key`` (or, without one, the anonymous caller if anonymous access
    is on). Links point to WHOKNOWS_PUBLIC_URL (default: a local ``whoknows serve``).

    Raises:
        Unauthenticated: no key and anonymous access off, or an unknown key.
        ConfigurationError: no index directory.
        ArtifactError, EncoderLoadError: the index cannot be loaded.
    """
    authenticator = Authenticator(settings, store)
    limiter = RateLimiter(settings.rate_limit, settings.redis_url)
    authorization = f"Bearer {key}" if key else None

    def caller() -> Caller:
        return authenticator.caller(authorization, "127.0.0.1")  # a local process

    caller()  # refuse to start without a usable key
    if settings.index_dir is None:
        raise ConfigurationError("no index: give --index DIR (or set WHOKNOWS_INDEX_DIR)")
    recommender = Recommender.load(settings.index_dir, model_path=settings.encoder_path)
    privacy = PrivacySync(store)
    privacy.prepare(recommender)  # opted-out and erased people never appear
    exposure, slots = Exposure(), Slots()
    base_url = (settings.public_url or "http://127.0.0.1:8000").rstrip("/")

    def channel_of(ctx: Context) -> Channel:
        current = caller()
        limiter.hit(current.identity)
        privacy.refresh(recommender)
        return Channel(current, recommender, store, settings, exposure, slots, base_url)

    return channel_of


def run_stdio(settings: Settings, key: str | None) -> None:
    """Answer MCP over this process's stdin and stdout until the client closes them."""
    store = Store(settings.database_url)
    try:
        create_server(stdio_channels(settings, store, key)).run("stdio")
    finally:
        store.close()
