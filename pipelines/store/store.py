"""The store: API keys, logged recommendations, feedback and privacy requests.

One SQL database (SQLite or PostgreSQL) serves the HTTP API and the offline
jobs (feedback export, the erasure list that builds honour, key administration).
A :class:`Store` is safe to share between threads: each call runs in its own
transaction on a pooled connection.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Insert,
    Row,
    Table,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)

from models.routing import CONTACT_WEIGHT, HALF_LIFE_DAYS, decayed, exposure_weight
from pipelines.exceptions import (
    DuplicateKeyError,
    FeedbackItemError,
    StoreError,
    StoreUnavailableError,
    UnknownKeyError,
    UnknownRecommendationError,
)
from pipelines.store import analytics as analytics_module
from pipelines.store import database, export
from pipelines.store.analytics import Analytics
from pipelines.store.chat import ChatLinks, chat_caller
from pipelines.store.gaps import QUEUE_LENGTH, GapEntry, gap_queue
from pipelines.store.records import (
    ACTIONS,
    ITEM_KINDS,
    REASONS,
    ApiKey,
    ExportSummary,
    FeedbackEvent,
    Reason,
    RecommendationLog,
    normalise_origin,
    person_hash,
    utcnow,
)
from pipelines.store.schema import (
    api_keys,
    chat_links,
    feedback,
    recommendations,
    recommended_items,
)
from pipelines.store.schema import suppressions as suppressions_table

SECRET_PREFIX = "wk_"
#: Exposure older than this many half-lives is not read (it weighs under 2%).
EXPOSURE_HORIZON = 6
#: The most windows one analytics series may have.
MAX_BUCKETS = 366
SHOWN_PREFIX = 8


def hash_secret(secret: str) -> str:
    """The sha256 hex digest under which a key's secret is kept."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Store(ChatLinks):
    """The database of keys, recommendations, feedback and privacy requests.

    Args:
        url: a SQLAlchemy URL: ``sqlite:///path.db``, ``sqlite://`` (in memory) or
            ``postgresql://user@host:port/db`` (psycopg 3 is used).
        migrate: upgrade the schema to the newest revision first (the default).

    Raises:
        StoreUnavailableError: the database cannot be reached or migrated; the
            message names the URL, its password masked.
    """

    def __init__(self, url: str | URL = database.DEFAULT_URL, *, migrate: bool = True) -> None:
        self.url = database.normalise_url(url)
        self.engine = database.make_engine(self.url)
        # One in-memory SQLite connection is shared by every thread: take turns.
        self._lock: AbstractContextManager[Any] = (
            threading.RLock() if database.is_memory(self.url) else nullcontext()
        )
        if migrate:
            with self._guard():
                database.upgrade(self.engine)

    def close(self) -> None:
        """Release the pooled connections."""
        self.engine.dispose()

    def reachable(self) -> bool:
        """Whether the database answers a trivial query now (for readiness probes)."""
        try:
            with self._lock, self._guard(), self.engine.connect() as connection:
                connection.execute(select(1))
        except StoreError:
            return False
        return True

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({database.masked(self.url)!r})"

    # keys

    def create_key(
        self,
        name: str,
        groups: Sequence[str],
        *,
        admin: bool = False,
        person: str | None = None,
        origins: Sequence[str] | None = None,
    ) -> tuple[ApiKey, str]:
        """Make an API key; the secret is returned once and kept only as a hash.

        Args:
            name: a unique name.
            groups: the groups whose restricted documents it may see.
            admin: may read analytics and administer the service.
            person: the person it acts for.
            origins: the browser origins it may be used from (a key in a web page);
                None for any caller.

        Raises:
            StoreError: the name is blank, or an origin is not one.
            DuplicateKeyError: a key of that name exists, even a revoked one.
        """
        name = name.strip()
        if not name:
            raise StoreError("an API key needs a name; give e.g. --name ci-bot")
        if len(name) > 200:
            raise StoreError(f"an API key name has at most 200 characters, not {len(name)}")
        allowed = None
        if origins is not None:
            try:
                allowed = tuple(dict.fromkeys(normalise_origin(o) for o in origins if o.strip()))
            except ValueError as exc:
                raise StoreError(str(exc)) from None
            if not allowed:
                raise StoreError("give at least one origin, e.g. https://intranet.example.org")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            name=name,
            prefix=secret[:SHOWN_PREFIX],
            groups=tuple(dict.fromkeys(g.strip() for g in groups if g.strip())),
            admin=admin,
            person=person or None,
            created_at=utcnow(),
            origins=allowed,
        )
        row = {
            "name": key.name,
            "prefix": key.prefix,
            "secret_sha256": hash_secret(secret),
            "groups": list(key.groups),
            "admin": key.admin,
            "person": key.person,
            "created_at": key.created_at,
            "origins": None if allowed is None else list(allowed),
        }
        duplicate = DuplicateKeyError(
            f"an API key named {name!r} exists already (names are never reused, even "
            "after revocation); choose another name"
        )
        try:
            with self._transaction() as connection:
                if connection.scalar(select(api_keys.c.id).where(api_keys.c.name == name)):
                    raise duplicate
                connection.execute(insert(api_keys).values(row))
        except IntegrityError:  # created by someone else in the meantime
            raise duplicate from None
        return key, secret

    def revoke_key(self, name: str) -> ApiKey:
        """Revoke a key for good; revoking a revoked key keeps its first revocation time.

        Raises:
            UnknownKeyError: no key has that name.
        """
        with self._transaction() as connection:
            found = connection.execute(select(api_keys).where(api_keys.c.name == name)).first()
            if found is None:
                raise UnknownKeyError(
                    f"no API key named {name!r}; `whoknows keys list` shows the names"
                )
            if found.revoked_at is None:
                connection.execute(
                    update(api_keys).where(api_keys.c.name == name).values(revoked_at=utcnow())
                )
                found = connection.execute(select(api_keys).where(api_keys.c.name == name)).one()
        return _key(found)

    def keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        with self._transaction() as connection:
            rows = connection.execute(select(api_keys).order_by(api_keys.c.id)).all()
        return [_key(row) for row in rows]

    def key_origins(self) -> frozenset[str]:
        """Every origin some valid key may be used from (what browsers may call from)."""
        with self._transaction() as connection:
            rows = connection.execute(
                select(api_keys.c.origins).where(
                    api_keys.c.revoked_at.is_(None), api_keys.c.origins.is_not(None)
                )
            ).all()
        return frozenset(origin for row in rows for origin in row.origins or ())

    def authenticate(self, secret: str) -> ApiKey | None:
        """The key with this secret, or None if there is none or it was revoked."""
        if not secret.startswith(SECRET_PREFIX):
            return None
        with self._transaction() as connection:
            row = connection.execute(
                select(api_keys).where(api_keys.c.secret_sha256 == hash_secret(secret))
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        return _key(row)

    # recommendations and feedback

    def log_recommendation(self, log: RecommendationLog) -> None:
        """Keep a recommendation as served, so that feedback can refer to it.

        Raises:
            StoreError: the id was logged before, or an item has an unknown kind.
        """
        for item in log.items:
            if item.kind not in ITEM_KINDS:
                raise StoreError(f"logged item {item.item_id!r} has unknown kind {item.kind!r}")
        try:
            with self._transaction() as connection:
                if connection.dialect.name == "postgresql":
                    # a log line need not wait for the server's disk: a crash of the
                    # server may lose the last ones, never feedback (which waits)
                    connection.execute(text("SET LOCAL synchronous_commit TO OFF"))
                connection.execute(
                    insert(recommendations).values(
                        id=log.id,
                        created_at=log.created_at,
                        caller=log.caller,
                        caller_person=log.caller_person,
                        caller_department=log.caller_department,
                        query=log.query,
                        index_version=log.index_version,
                        best_relevance=log.best_relevance,
                        best_expert_relevance=log.best_expert_relevance,
                    )
                )
                if log.items:
                    connection.execute(
                        insert(recommended_items),
                        [
                            {
                                "recommendation_id": log.id,
                                "kind": item.kind,
                                "item_id": item.item_id,
                                "rank": item.rank,
                                "department": item.department,
                            }
                            for item in log.items
                        ],
                    )
        except IntegrityError:
            raise StoreError(
                f"recommendation {log.id!r} is logged already; give each one a new id"
            ) from None

    def add_feedback(self, event: FeedbackEvent) -> bool:
        """Record what a caller did with an item of a recommendation, once.

        Only the caller who received a recommendation may give feedback on it: to
        anyone else it does not exist (so that its items cannot be probed). The same
        caller, recommendation, item and action again is the same event (a retried
        request, a double click): kept once, counted once.

        Returns:
            True if recorded now, False if it was recorded before.

        Raises:
            UnknownRecommendationError: no recommendation has that id, or it was
                made for another caller.
            FeedbackItemError: the recommendation did not return that item, or the
                action or kind is unknown.
        """
        if event.action not in ACTIONS:
            raise FeedbackItemError(
                f"unknown feedback action {event.action!r}; use one of "
                + ", ".join(sorted(ACTIONS)),
                field="action",
            )
        if event.item_kind not in ITEM_KINDS:
            raise FeedbackItemError(
                f"unknown item kind {event.item_kind!r}; use resource or person",
                field="item_kind",
            )
        try:
            return self._add_feedback(event)
        except IntegrityError:  # the same event, recorded meanwhile by another request
            return False

    def _add_feedback(self, event: FeedbackEvent) -> bool:
        with self._transaction() as connection:
            known = connection.scalar(
                select(recommendations.c.id).where(
                    recommendations.c.id == event.recommendation_id,
                    recommendations.c.caller == event.caller,
                )
            )
            if known is None:
                raise UnknownRecommendationError(
                    f"no recommendation {event.recommendation_id!r}; give the id returned "
                    "with the recommendation (it may have been erased)"
                )
            held = connection.scalar(
                select(func.count())
                .select_from(recommended_items)
                .where(
                    recommended_items.c.recommendation_id == event.recommendation_id,
                    recommended_items.c.item_id == event.item_id,
                    recommended_items.c.kind == event.item_kind,
                )
            )
            if not held:
                raise FeedbackItemError(
                    f"recommendation {event.recommendation_id!r} did not return the "
                    f"{event.item_kind} {event.item_id!r}; give the id and kind of one of "
                    "its items"
                )
            same = {
                "recommendation_id": event.recommendation_id,
                "item_id": event.item_id,
                "item_kind": event.item_kind,
                "action": event.action,
                "caller": event.caller,
            }
            if connection.scalar(
                select(feedback.c.id).where(*(feedback.c[k] == v for k, v in same.items()))
            ):
                return False
            connection.execute(insert(feedback).values(**same, created_at=event.created_at))
        return True

    def export_judgments(
        self, out_dir: Path, start: datetime | None = None, end: datetime | None = None
    ) -> ExportSummary:
        """Write feedback as an evaluation dataset: queries.jsonl and two qrels files.

        Only recommendations made in [start, end) that received feedback are
        written. Grades: 2 helpful or contacted, else 1 click, else 0 not_helpful.
        People who opted out or were erased are left out.
        """
        with self._transaction() as connection:
            return export.export_judgments(connection, Path(out_dir), start, end)

    # privacy

    def suppress(self, person_id: str, reason: Reason) -> None:
        """Never recommend this person again; only the id's hash is kept.

        Idempotent. An erasure request outranks an opt-out: once erased, a later
        opt-out changes nothing.

        Raises:
            StoreError: the reason is neither ``opt_out`` nor ``erasure``.
        """
        if reason not in REASONS:
            raise StoreError(f"unknown suppression reason {reason!r}; use opt_out or erasure")
        digest = person_hash(person_id)
        with self._transaction() as connection:
            add = _insert_ignoring_duplicates(connection, suppressions_table, "person_sha256")
            connection.execute(add.values(person_sha256=digest, reason=reason, created_at=utcnow()))
            if reason == "erasure":
                connection.execute(
                    update(suppressions_table)
                    .where(
                        suppressions_table.c.person_sha256 == digest,
                        suppressions_table.c.reason == "opt_out",
                    )
                    .values(reason="erasure")
                )

    def exposure(self, now: datetime | None = None) -> dict[str, float]:
        """Each person's recent exposure, as models.routing counts it: every time they
        were recommended (weighted by position) or contacted, decayed with its age.

        Only the last HORIZON half-lives are read: older exposure counts for nothing.
        """
        moment = now or utcnow()
        since = moment - timedelta(days=EXPOSURE_HORIZON * HALF_LIFE_DAYS)
        shown = (
            select(
                recommended_items.c.item_id, recommended_items.c.rank, recommendations.c.created_at
            )
            .join(recommendations, recommendations.c.id == recommended_items.c.recommendation_id)
            .where(recommended_items.c.kind == "person", recommendations.c.created_at >= since)
        )
        contacted = select(feedback.c.item_id, feedback.c.created_at).where(
            feedback.c.item_kind == "person",
            feedback.c.action == "contacted",
            feedback.c.created_at >= since,
        )
        totals: dict[str, float] = {}
        with self._transaction() as connection:
            for row in connection.execute(shown):
                age = (moment - row.created_at).total_seconds() / 86400
                weight = decayed(exposure_weight(row.rank), age)
                totals[row.item_id] = totals.get(row.item_id, 0.0) + weight
            for contact in connection.execute(contacted):
                age = (moment - contact.created_at).total_seconds() / 86400
                added = decayed(CONTACT_WEIGHT, age)
                totals[contact.item_id] = totals.get(contact.item_id, 0.0) + added
        return totals

    def suppressed(self) -> dict[str, str]:
        """Every suppressed person: id hash -> ``opt_out`` or ``erasure``."""
        with self._transaction() as connection:
            rows = connection.execute(
                select(suppressions_table.c.person_sha256, suppressions_table.c.reason)
            ).all()
        return {row.person_sha256: row.reason for row in rows}

    def mentions(self, person_id: str) -> bool:
        """Whether any record names the person: a privacy request, a recommendation
        that showed or asked for them, a key bound to them or a linked chat user."""
        queries = (
            select(suppressions_table.c.person_sha256).where(
                suppressions_table.c.person_sha256 == person_hash(person_id)
            ),
            select(recommended_items.c.id).where(
                recommended_items.c.kind == "person", recommended_items.c.item_id == person_id
            ),
            select(recommendations.c.id).where(recommendations.c.caller_person == person_id),
            select(api_keys.c.name).where(api_keys.c.person == person_id),
            select(chat_links.c.person).where(chat_links.c.person == person_id),
        )
        with self._transaction() as connection:
            return any(connection.execute(q.limit(1)).first() is not None for q in queries)

    def erase(self, person_id: str) -> int:
        """Forget a person: suppress them for good and delete what names them.

        Deleted: feedback about the person, their appearances in recommendations,
        the recommendations they asked for (with that feedback), keys bound to
        them and chat users linked to them. Builds drop them from the index once
        suppressed.

        Returns:
            The number of rows deleted.
        """
        self.suppress(person_id, "erasure")
        about = and_(recommended_items.c.kind == "person", recommended_items.c.item_id == person_id)
        asked = select(recommendations.c.id).where(recommendations.c.caller_person == person_id)
        bound_keys = select(api_keys.c.name).where(api_keys.c.person == person_id)
        linked = select(chat_links.c.platform, chat_links.c.user_id).where(
            chat_links.c.person == person_id
        )
        deleted = 0
        with self._transaction() as connection:
            # Callers that were this person: keys bound to them, their token subject,
            # and the chat users linked to them.
            callers = [row.name for row in connection.execute(bound_keys)] + [f"jwt:{person_id}"]
            callers += [chat_caller(r.platform, r.user_id) for r in connection.execute(linked)]
            for statement in (
                delete(feedback).where(
                    or_(
                        and_(feedback.c.item_kind == "person", feedback.c.item_id == person_id),
                        feedback.c.recommendation_id.in_(asked),
                        feedback.c.caller.in_(callers),
                    )
                ),
                delete(recommended_items).where(
                    or_(about, recommended_items.c.recommendation_id.in_(asked))
                ),
                delete(recommendations).where(recommendations.c.caller_person == person_id),
                delete(api_keys).where(api_keys.c.person == person_id),
                delete(chat_links).where(chat_links.c.person == person_id),
            ):
                deleted += connection.execute(statement).rowcount
        return deleted

    # analytics

    def analytics(
        self,
        start: datetime,
        end: datetime,
        *,
        people: Mapping[str, str | None],
        gap_threshold: float,
    ) -> Analytics:
        """What the service's use says about the organisation, over [start, end).

        Args:
            start, end: the window, by when recommendations were made.
            people: id -> department of everyone who may be counted; items of
                anyone else are ignored.
            gap_threshold: a best resource relevance under this makes a gap.
        """
        with self._transaction() as connection:
            return analytics_module.compute(
                connection, start, end, people=people, gap_threshold=gap_threshold
            )

    def analytics_series(
        self,
        start: datetime,
        end: datetime,
        step: timedelta,
        *,
        people: Mapping[str, str | None],
        gap_threshold: float,
    ) -> list[Analytics]:
        """The analytics of each consecutive window of length ``step`` from ``start``
        (the last one ends at ``end``), for charts over time.

        Raises:
            StoreError: more than MAX_BUCKETS windows, or a step that is not positive.
        """
        if step <= timedelta(0):
            raise StoreError("the step of a series must be positive")
        count = math.ceil((end - start) / step)
        if count > MAX_BUCKETS:
            raise StoreError(
                f"{count} windows asked for; at most {MAX_BUCKETS}: ask for a longer step"
            )
        bounds = [start + i * step for i in range(count)] + [end]
        with self._transaction() as connection:
            return [
                analytics_module.compute(
                    connection, lo, hi, people=people, gap_threshold=gap_threshold
                )
                for lo, hi in itertools.pairwise(bounds)
            ]

    def gaps(
        self,
        start: datetime,
        end: datetime,
        *,
        people: Mapping[str, str | None],
        gap_threshold: float,
        limit: int = QUEUE_LENGTH,
    ) -> list[GapEntry]:
        """The knowledge-gap queue over [start, end) (pipelines.store.gaps)."""
        with self._transaction() as connection:
            return gap_queue(
                connection, start, end, people=people, gap_threshold=gap_threshold, limit=limit
            )

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._lock, self._guard(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn a lost or refused connection into StoreUnavailableError naming the URL."""
        try:
            yield
        except (OperationalError, InterfaceError) as exc:
            raise self._unavailable(exc) from exc
        except DataError as exc:
            raise StoreError(f"the database refused a value: {_reason(exc)}") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise self._unavailable(exc) from exc
            raise

    def _unavailable(self, exc: DBAPIError) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"the database {database.masked(self.url)} is unavailable ({_reason(exc)}); check "
            "WHOKNOWS_DATABASE_URL and that the server is running"
        )


def _reason(exc: DBAPIError) -> str:
    """The first line of what the database driver said."""
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)


def _insert_ignoring_duplicates(connection: Connection, table: Table, column: str) -> Insert:
    """An INSERT that does nothing when a row with the same ``column`` exists."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=[column])
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=[column])


def _key(row: Row[Any]) -> ApiKey:
    return ApiKey(
        name=row.name,
        prefix=row.prefix,
        groups=tuple(row.groups),
        admin=bool(row.admin),
        person=row.person,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        origins=None if row.origins is None else tuple(row.origins),
    )
