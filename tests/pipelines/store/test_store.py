"""Keys, logged recommendations, feedback and privacy requests, on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from models.exceptions import NotFoundError, QueryError
from pipelines.exceptions import (
    DuplicateKeyError,
    FeedbackItemError,
    StoreError,
    StoreUnavailableError,
    UnknownKeyError,
    UnknownRecommendationError,
)
from pipelines.store import FeedbackEvent, LoggedItem, RecommendationLog, Store, person_hash
from pipelines.store.database import masked, normalise_url
from pipelines.store.schema import api_keys, feedback, recommendations, recommended_items
from pipelines.store.schema import suppressions as suppressions_table

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2025, 3, 4, 12, 30, 15, 123456, tzinfo=UTC)


def logged(
    rec_id: str,
    *,
    caller_person: str | None = "asker",
    caller: str = "key:tester",
    people: tuple[str, ...] = ("ada", "bob"),
    resources: tuple[str, ...] = ("doc1",),
) -> RecommendationLog:
    items = tuple(LoggedItem("resource", r, i) for i, r in enumerate(resources, start=1)) + tuple(
        LoggedItem("person", p, i, "Data") for i, p in enumerate(people, start=1)
    )
    return RecommendationLog(
        id=rec_id,
        created_at=NOW,
        caller=caller,
        caller_person=caller_person,
        caller_department="Data",
        query="kafka consumer lag",
        index_version="v1",
        best_relevance=0.7,
        items=items,
    )


def test_a_key_authenticates_until_revoked_and_its_secret_is_not_kept(store: Store) -> None:
    key, secret = store.create_key("ci-bot", ["eng", "ops", "eng"], admin=True, person="ada")
    assert secret.startswith("wk_") and len(secret) > 40
    assert key.prefix == secret[:8]
    assert key.groups == ("eng", "ops")
    assert store.authenticate(secret) == key
    with store.engine.connect() as connection:
        stored = [str(v) for row in connection.execute(select(api_keys)) for v in row]
    assert not any(secret in value for value in stored)
    revoked = store.revoke_key("ci-bot")
    assert revoked.revoked and revoked.revoked_at is not None
    assert store.authenticate(secret) is None
    assert store.revoke_key("ci-bot").revoked_at == revoked.revoked_at  # first revocation kept
    assert store.keys() == [revoked]


def test_key_times_come_back_as_utc_to_the_microsecond(store: Store) -> None:
    key, _ = store.create_key("k", [])
    (listed,) = store.keys()
    assert listed.created_at == key.created_at
    assert listed.created_at.tzinfo is not None
    assert listed.created_at.utcoffset() == timedelta(0)


def test_unknown_or_malformed_secrets_do_not_authenticate(store: Store) -> None:
    store.create_key("k", [])
    assert store.authenticate("wk_" + "x" * 43) is None
    assert store.authenticate("") is None
    assert store.authenticate("not a key") is None


def test_key_names_are_never_reused(store: Store) -> None:
    store.create_key("k", [])
    with pytest.raises(DuplicateKeyError, match="'k' exists already"):
        store.create_key("k", [])
    store.revoke_key("k")
    with pytest.raises(DuplicateKeyError):
        store.create_key(" k ", [])
    with pytest.raises(StoreError, match="needs a name"):
        store.create_key("  ", [])


def test_revoking_an_unknown_key_is_a_not_found_error(store: Store) -> None:
    with pytest.raises(UnknownKeyError, match="no API key named 'ghost'") as caught:
        store.revoke_key("ghost")
    assert isinstance(caught.value, NotFoundError)


def test_feedback_must_name_a_logged_recommendation_and_one_of_its_items(store: Store) -> None:
    store.log_recommendation(logged("r1"))
    store.add_feedback(FeedbackEvent("r1", "doc1", "resource", "helpful", "key:tester", NOW))
    store.add_feedback(FeedbackEvent("r1", "ada", "person", "contacted", "key:tester", NOW))
    with pytest.raises(UnknownRecommendationError, match="no recommendation 'r9'") as missing:
        store.add_feedback(FeedbackEvent("r9", "doc1", "resource", "click", "key:tester"))
    with pytest.raises(UnknownRecommendationError):  # another caller's recommendation
        store.add_feedback(FeedbackEvent("r1", "doc1", "resource", "click", "key:someone-else"))
    assert isinstance(missing.value, NotFoundError)
    with pytest.raises(FeedbackItemError, match="did not return the resource 'doc2'") as wrong:
        store.add_feedback(FeedbackEvent("r1", "doc2", "resource", "click", "key:tester"))
    assert isinstance(wrong.value, QueryError) and wrong.value.field == "item_id"
    with pytest.raises(FeedbackItemError, match="did not return the resource 'ada'"):
        store.add_feedback(FeedbackEvent("r1", "ada", "resource", "click", "key:tester"))
    with pytest.raises(FeedbackItemError, match="unknown feedback action") as action:
        store.add_feedback(FeedbackEvent("r1", "ada", "person", "like", "x"))  # type: ignore[arg-type]
    assert action.value.field == "action"
    with store.engine.connect() as connection:
        assert connection.execute(
            select(feedback.c.item_id).order_by(feedback.c.id)
        ).scalars().all() == [
            "doc1",
            "ada",
        ]


def test_the_same_feedback_twice_is_kept_and_counted_once(store: Store) -> None:
    store.log_recommendation(logged("r1"))
    helpful = FeedbackEvent("r1", "doc1", "resource", "helpful", "key:tester", NOW)
    assert store.add_feedback(helpful) is True
    assert store.add_feedback(replace(helpful, created_at=NOW + timedelta(seconds=1))) is False
    assert store.add_feedback(replace(helpful, action="click")) is True  # another action
    assert store.add_feedback(FeedbackEvent("r1", "ada", "person", "not_helpful", "key:tester"))
    with store.engine.connect() as connection:
        actions = connection.execute(select(feedback.c.action).order_by(feedback.c.id))
        assert actions.scalars().all() == ["helpful", "click", "not_helpful"]
    day = timedelta(days=1)
    report = store.analytics(NOW - day, NOW + day, people={"ada": "Data"}, gap_threshold=0.3)
    assert report.helpful_rate == 0.5  # one helpful, one not helpful: not two to one


def test_a_recommendation_id_is_logged_once(store: Store) -> None:
    store.log_recommendation(logged("r1"))
    with pytest.raises(StoreError, match="'r1' is logged already"):
        store.log_recommendation(logged("r1"))


def test_logged_times_keep_their_instant_whatever_the_zone(store: Store) -> None:
    local = NOW.astimezone(timezone(timedelta(hours=-5)))
    store.log_recommendation(replace(logged("r1"), created_at=local))
    with store.engine.connect() as connection:
        (stored,) = connection.execute(select(recommendations.c.created_at)).scalars()
    assert stored == NOW and stored.tzinfo is not None


def test_suppression_keeps_only_a_hash_and_erasure_outranks_opt_out(store: Store) -> None:
    store.suppress("ada", "opt_out")
    store.suppress("ada", "opt_out")
    store.suppress("bob", "erasure")
    store.suppress("bob", "opt_out")
    assert store.suppressed() == {person_hash("ada"): "opt_out", person_hash("bob"): "erasure"}
    store.suppress("ada", "erasure")
    assert store.suppressed()[person_hash("ada")] == "erasure"
    with store.engine.connect() as connection:
        assert "ada" not in connection.execute(select(suppressions_table)).scalars().all()
    with pytest.raises(StoreError, match="unknown suppression reason"):
        store.suppress("cy", "forget")  # type: ignore[arg-type]


def test_erasure_deletes_what_names_the_person_and_nothing_else(store: Store) -> None:
    store.log_recommendation(logged("r1", caller_person="cy", caller="cy", people=("ada", "bob")))
    store.log_recommendation(logged("r2", caller_person="ada", caller="ada", people=("bob",)))
    store.log_recommendation(logged("r3", caller_person="cy", caller="cy", people=("bob",)))
    store.add_feedback(FeedbackEvent("r1", "ada", "person", "contacted", "cy"))
    store.add_feedback(FeedbackEvent("r1", "bob", "person", "click", "cy"))
    store.add_feedback(FeedbackEvent("r2", "bob", "person", "contacted", "ada"))
    store.add_feedback(FeedbackEvent("r3", "doc1", "resource", "helpful", "cy"))
    store.create_key("ada-laptop", [], person="ada")
    store.create_key("cy-laptop", [], person="cy")
    # feedback about ada (1) and on r2 (1); ada in r1 (1) and r2's 2 items; r2; ada's key
    assert store.erase("ada") == 7
    assert store.suppressed() == {person_hash("ada"): "erasure"}
    assert [k.name for k in store.keys()] == ["cy-laptop"]
    with store.engine.connect() as connection:
        assert sorted(connection.execute(select(recommendations.c.id)).scalars()) == ["r1", "r3"]
        items = connection.execute(select(recommended_items.c.item_id)).scalars().all()
        assert "ada" not in items and sorted(items) == ["bob", "bob", "doc1", "doc1"]
        left = connection.execute(select(feedback.c.item_id)).scalars().all()
        assert sorted(left) == ["bob", "doc1"]
    assert store.erase("ada") == 0  # twice is harmless


def test_the_store_serves_many_threads_at_once(store: Store) -> None:
    def work(n: int) -> None:
        store.log_recommendation(logged(f"r{n}"))
        store.add_feedback(FeedbackEvent(f"r{n}", "doc1", "resource", "click", "key:tester"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.engine.connect() as connection:
        assert len(connection.execute(select(feedback.c.id)).all()) == 8


def test_an_in_memory_store_is_one_database_for_every_thread() -> None:
    with Store("sqlite://") as store:
        store.create_key("k", [])
        seen: list[int] = []
        thread = threading.Thread(target=lambda: seen.append(len(store.keys())))
        thread.start()
        thread.join()
        assert seen == [1]


def test_a_sqlite_file_keeps_a_write_ahead_log_and_commits_survive_a_killed_process(
    tmp_path: Path,
) -> None:
    """Commits do not wait for the disk (synchronous=NORMAL in WAL mode) yet what was
    acknowledged before a kill -9 of the process is there afterwards."""
    url = f"sqlite:///{tmp_path}/store.db"
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(ROOT)!r})
from tests.pipelines.store.test_store import logged
from pipelines.store import FeedbackEvent, Store
store = Store({url!r})
store.log_recommendation(logged("r1"))
store.add_feedback(FeedbackEvent("r1", "doc1", "resource", "helpful", "key:tester"))
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    with Store(url) as store, store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert connection.execute(select(recommendations.c.id)).scalars().all() == ["r1"]
        assert connection.execute(select(feedback.c.action)).scalars().all() == ["helpful"]


def test_plain_postgresql_urls_use_psycopg_and_passwords_are_masked() -> None:
    assert normalise_url("postgresql://u@h:5432/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"
    assert masked("postgresql://u:hunter2@h/db") == "postgresql://u:***@h/db"


def test_an_unreachable_database_names_its_url_without_the_password() -> None:
    with pytest.raises(StoreUnavailableError, match=r"u:\*\*\*@127\.0\.0\.1:9/x") as caught:
        Store("postgresql://u:hunter2@127.0.0.1:9/x")
    assert "hunter2" not in str(caught.value)
    assert "WHOKNOWS_DATABASE_URL" in str(caught.value)


def test_a_sqlite_file_in_a_missing_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError, match="unable to open database file"):
        Store(f"sqlite:///{tmp_path}/no/such/folder/store.db")


def test_a_url_that_is_not_one_says_what_to_write() -> None:
    with pytest.raises(StoreUnavailableError, match="not a SQLAlchemy URL"):
        Store("whoknows.db")


def test_long_ids_and_callers_are_kept_whole_on_every_engine(store: Store) -> None:
    long_id = "wiki/" + "deeply/nested/" * 60 + "page.md"
    caller = "jwt:" + "x" * 700
    store.log_recommendation(logged("r1", caller=caller, resources=(long_id,)))
    store.add_feedback(FeedbackEvent("r1", long_id, "resource", "helpful", caller))
    with store.engine.connect() as connection:
        assert connection.execute(select(feedback.c.item_id)).scalar_one() == long_id


def test_an_overlong_key_name_is_refused_with_the_limit(store: Store) -> None:
    with pytest.raises(StoreError, match="at most 200 characters"):
        store.create_key("k" * 201, [])


def test_exposure_weighs_position_contacts_and_age(store: Store) -> None:
    from models.routing import CONTACT_WEIGHT, decayed, exposure_weight

    now = NOW + timedelta(days=60)
    store.log_recommendation(replace(logged("old", people=("ada", "bob")), created_at=NOW))
    store.log_recommendation(
        replace(logged("new", people=("bob", "ada")), created_at=now - timedelta(days=1))
    )
    store.add_feedback(FeedbackEvent("new", "bob", "person", "contacted", "key:tester", now))
    exposure = store.exposure(now)
    assert exposure["ada"] == pytest.approx(
        decayed(exposure_weight(1), 60) + decayed(exposure_weight(2), 1)
    )
    assert exposure["bob"] == pytest.approx(
        decayed(exposure_weight(2), 60) + decayed(exposure_weight(1), 1) + CONTACT_WEIGHT
    )
    assert "doc1" not in exposure, "resources are not people"
    assert store.exposure(now + timedelta(days=400)) == {}, "old exposure is not read"
