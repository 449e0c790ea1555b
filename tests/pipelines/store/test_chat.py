"""Key origins, chat users linked to people, and replayed requests, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipelines.exceptions import StoreError
from pipelines.store import Store
from pipelines.store.chat import chat_caller
from pipelines.store.records import normalise_origin

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def test_a_key_remembers_the_origins_it_may_be_used_from(store: Store) -> None:
    key, secret = store.create_key(
        "intranet", ["eng"], origins=["https://Intranet.example.org/", "http://127.0.0.1:8080"]
    )
    assert key.origins == ("https://intranet.example.org", "http://127.0.0.1:8080")
    assert store.authenticate(secret) == key
    anywhere, _ = store.create_key("ci-bot", [])
    assert anywhere.origins is None
    assert store.key_origins() == {"https://intranet.example.org", "http://127.0.0.1:8080"}
    store.revoke_key("intranet")
    assert store.key_origins() == frozenset(), "a revoked key opens no origin"


@pytest.mark.parametrize(
    "origin", ["intranet.example.org", "https://x.org/page", "https://x.org?q=1", "file:///tmp"]
)
def test_what_is_not_an_origin_is_refused_by_name(store: Store, origin: str) -> None:
    with pytest.raises(StoreError, match="is not an origin"):
        store.create_key("web", [], origins=[origin])
    with pytest.raises(StoreError, match="at least one origin"):
        store.create_key("web", [], origins=["  "])
    assert store.keys() == []


def test_origins_are_spelled_as_browsers_send_them() -> None:
    assert normalise_origin("HTTPS://Example.ORG:443") == "https://example.org"
    assert normalise_origin("http://[::1]:3000/") == "http://[::1]:3000"


def test_a_chat_user_is_linked_relinked_and_unlinked(store: Store) -> None:
    assert store.chat_link("slack", "U1") is None
    first = store.link_chat_user("slack", "U1", "ada", ["eng", "eng", " ops "])
    assert first.groups == ("eng", "ops")
    assert store.chat_link("slack", "U1") == first
    again = store.link_chat_user("slack", "U1", "bob", [])
    assert store.chat_link("slack", "U1") == again and again.person == "bob"
    store.link_chat_user("teams", "U1", "cy", ["hr"])
    assert [(link.platform, link.person) for link in store.chat_links()] == [
        ("slack", "bob"),
        ("teams", "cy"),
    ]
    assert store.unlink_chat_user("slack", "U1") and not store.unlink_chat_user("slack", "U1")
    with pytest.raises(StoreError, match="unknown chat platform 'irc'"):
        store.link_chat_user("irc", "U1", "ada", [])
    with pytest.raises(StoreError, match="user's id and the person id"):
        store.link_chat_user("slack", " ", "ada", [])


def test_erasing_a_person_removes_their_chat_links(store: Store) -> None:
    store.link_chat_user("slack", "U9", "ada", ["eng"])
    store.link_chat_user("slack", "U8", "bob", [])
    store.erase("ada")
    assert [link.user_id for link in store.chat_links()] == ["U8"]
    assert chat_caller("slack", "U9") == "slack:U9"


def test_a_request_is_accepted_once_until_it_has_expired(store: Store) -> None:
    window = timedelta(minutes=10)
    assert store.first_sighting("a" * 64, window, now=NOW)
    assert not store.first_sighting("a" * 64, window, now=NOW + timedelta(minutes=9))
    assert store.first_sighting("b" * 64, window, now=NOW)
    # Forgotten once it could not be accepted anyway.
    assert store.first_sighting("a" * 64, window, now=NOW + timedelta(minutes=11))
