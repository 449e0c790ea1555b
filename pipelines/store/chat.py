"""The store's part for chat tools: users linked to people, and signed requests already seen.

A Slack or Teams user asks as the person they are linked to, with that link's
groups (``whoknows link slack U123 ada --groups eng``); an unlinked user asks as
a caller of no group. A signed request is answered once: its digest is kept
until the request would be too old to be accepted anyway, so a replay within
that window is refused by every worker that shares the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select
from sqlalchemy.exc import IntegrityError

from pipelines.exceptions import StoreError
from pipelines.store.records import PLATFORMS, ChatLink, Platform, utcnow
from pipelines.store.schema import chat_links, seen_requests


def chat_caller(platform: str, user_id: str) -> str:
    """The caller name under which a chat user's recommendations and feedback are kept."""
    return f"{platform}:{user_id}"


class ChatLinks:
    """Chat links and request sightings, for :class:`pipelines.store.Store`."""

    def _transaction(self) -> AbstractContextManager[Connection]:  # pragma: no cover
        raise NotImplementedError  # the Store's own

    def link_chat_user(
        self, platform: str, user_id: str, person: str, groups: Sequence[str]
    ) -> ChatLink:
        """Link a chat user to a person and groups, replacing an earlier link.

        Raises:
            StoreError: an unknown platform, or a blank user or person.
        """
        platform, user_id, person = platform.strip().lower(), user_id.strip(), person.strip()
        if platform not in PLATFORMS:
            raise StoreError(f"unknown chat platform {platform!r}; use one of {sorted(PLATFORMS)}")
        if not user_id or not person:
            raise StoreError("give the chat user's id and the person id they are")
        link = ChatLink(
            platform=_platform(platform),
            user_id=user_id,
            person=person,
            groups=tuple(dict.fromkeys(g.strip() for g in groups if g.strip())),
            created_at=utcnow(),
        )
        key = (chat_links.c.platform == platform) & (chat_links.c.user_id == user_id)
        with self._transaction() as connection:
            connection.execute(delete(chat_links).where(key))
            connection.execute(
                insert(chat_links).values(
                    platform=link.platform,
                    user_id=link.user_id,
                    person=link.person,
                    groups=list(link.groups),
                    created_at=link.created_at,
                )
            )
        return link

    def unlink_chat_user(self, platform: str, user_id: str) -> bool:
        """Remove a chat user's link; False if there was none."""
        key = (chat_links.c.platform == platform.strip().lower()) & (
            chat_links.c.user_id == user_id.strip()
        )
        with self._transaction() as connection:
            return bool(connection.execute(delete(chat_links).where(key)).rowcount)

    def chat_link(self, platform: str, user_id: str) -> ChatLink | None:
        """The link of one chat user, if any."""
        key = (chat_links.c.platform == platform) & (chat_links.c.user_id == user_id)
        with self._transaction() as connection:
            row = connection.execute(select(chat_links).where(key)).first()
        return None if row is None else _link(row)

    def chat_links(self) -> list[ChatLink]:
        """Every link, by platform and user."""
        order = (chat_links.c.platform, chat_links.c.user_id)
        with self._transaction() as connection:
            return [_link(row) for row in connection.execute(select(chat_links).order_by(*order))]

    def first_sighting(self, digest: str, lifetime: timedelta, now: datetime | None = None) -> bool:
        """Record a signed request; False if it was seen before (a replay).

        Args:
            digest: what identifies the request (a hash of its signature).
            lifetime: how long it must be remembered: as long as it would be accepted.
            now: the current time (tests).
        """
        moment = now or utcnow()
        with self._transaction() as connection:
            connection.execute(delete(seen_requests).where(seen_requests.c.expires_at < moment))
        try:
            with self._transaction() as connection:
                connection.execute(
                    insert(seen_requests).values(digest=digest, expires_at=moment + lifetime)
                )
        except IntegrityError:
            return False
        return True


def _platform(value: str) -> Platform:
    assert value in PLATFORMS
    return "slack" if value == "slack" else "teams"


def _link(row: Row[Any]) -> ChatLink:
    return ChatLink(
        platform=_platform(row.platform),
        user_id=row.user_id,
        person=row.person,
        groups=tuple(row.groups),
        created_at=row.created_at,
    )
