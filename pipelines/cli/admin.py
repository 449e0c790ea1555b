"""Commands that administer the store: API keys, chat users, feedback export, migrations.

``whoknows keys create|revoke|list``, ``whoknows link slack|teams|list|remove``,
``whoknows feedback export`` and ``whoknows db upgrade``; each opens the database
of --database-url (WHOKNOWS_DATABASE_URL, default ./whoknows.db), migrating it to
the newest schema.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from models.exceptions import ConfigurationError
from pipelines.cli.common import console, errors, out
from pipelines.store.database import DEFAULT_URL
from pipelines.store.records import as_utc

if TYPE_CHECKING:
    from pipelines.store import Store

DatabaseOption = Annotated[
    str,
    typer.Option(
        "--database-url",
        envvar="WHOKNOWS_DATABASE_URL",
        help="SQLAlchemy URL of the store, e.g. postgresql://user@host:5432/whoknows.",
    ),
]

keys = typer.Typer(help="Create, revoke and list API keys.", no_args_is_help=True)
link = typer.Typer(
    help="Link Slack and Teams users to people: they then ask as that person, with the "
    "link's groups (an unlinked user sees public documents only).",
    no_args_is_help=True,
)
feedback = typer.Typer(help="Turn feedback into evaluation data.", no_args_is_help=True)
db = typer.Typer(help="Migrate the store's database.", no_args_is_help=True)


def _open(url: str) -> Store:
    from pipelines.store import Store

    return Store(url)


@keys.command("create")
def create_key(
    name: Annotated[str, typer.Option("--name", help="A unique name, e.g. the client's.")],
    groups: Annotated[
        str, typer.Option("--groups", help="Comma-separated groups whose resources it may see.")
    ] = "",
    admin: Annotated[bool, typer.Option("--admin", help="May read analytics.")] = False,
    person: Annotated[
        str | None, typer.Option("--person", help="The person id the key acts for.")
    ] = None,
    origins: Annotated[
        str | None,
        typer.Option(
            "--origins",
            help="Comma-separated browser origins the key may be used from, e.g. "
            "https://intranet.example.org: for a key put in a web page (the "
            "api-key attribute of <whoknows-search>). Browsers there may then call the API.",
            show_default=False,
        ),
    ] = None,
    database_url: DatabaseOption = DEFAULT_URL,
) -> None:
    """Make an API key and print its secret, once, on stdout."""
    with errors():
        with _open(database_url) as store:
            key, secret = store.create_key(
                name,
                groups.split(","),
                admin=admin,
                person=person,
                origins=None if origins is None else origins.split(","),
            )
    typer.echo(secret)
    rights = ", ".join(key.groups) or "no groups"
    where = f"; only from {', '.join(key.origins)}" if key.origins else ""
    console.print(
        f"[green]created[/] key {key.name!r} ({rights}{', admin' if key.admin else ''}{where}): "
        "keep the secret above now, it cannot be shown again",
        highlight=False,
    )


@keys.command("revoke")
def revoke_key(
    name: Annotated[str, typer.Argument(help="The key's name.")],
    database_url: DatabaseOption = DEFAULT_URL,
) -> None:
    """Revoke an API key for good; its name is never reused."""
    with errors():
        with _open(database_url) as store:
            key = store.revoke_key(name)
    assert key.revoked_at is not None
    console.print(f"[green]revoked[/] key {key.name!r} at {key.revoked_at:%Y-%m-%d %H:%M} UTC")


@keys.command("list")
def list_keys(database_url: DatabaseOption = DEFAULT_URL) -> None:
    """List the API keys (never their secrets), revoked ones included."""
    with errors():
        with _open(database_url) as store:
            found = store.keys()
    table = Table(title=f"API keys ({len(found)})", title_justify="left")
    columns = ("name", "prefix", "groups", "admin", "person", "origins", "created", "revoked")
    for column in columns:
        table.add_column(column, overflow="fold")
    for key in found:
        table.add_row(
            key.name,
            key.prefix + "...",
            ", ".join(key.groups),
            "yes" if key.admin else "",
            key.person or "",
            ", ".join(key.origins) if key.origins else "any",
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    out.print(table)


ChatUser = Annotated[str, typer.Argument(help="The user's id on the platform.")]
PersonArgument = Annotated[str, typer.Argument(help="The person id in the index.")]
GroupsOption = Annotated[
    str, typer.Option("--groups", help="Comma-separated groups whose resources they may see.")
]


def _link(platform: str, user: str, person: str, groups: str, database_url: str) -> None:
    with errors():
        with _open(database_url) as store:
            made = store.link_chat_user(platform, user, person, groups.split(","))
    rights = ", ".join(made.groups) or "no groups: public documents only"
    console.print(
        f"[green]linked[/] {platform} user {made.user_id} to {made.person} ({rights})",
        highlight=False,
    )


@link.command("slack")
def link_slack(
    user: ChatUser,
    person: PersonArgument,
    groups: GroupsOption = "",
    database_url: DatabaseOption = DEFAULT_URL,
) -> None:
    """Ask as PERSON from Slack user USER (its member id, U...)."""
    _link("slack", user, person, groups, database_url)


@link.command("teams")
def link_teams(
    user: ChatUser,
    person: PersonArgument,
    groups: GroupsOption = "",
    database_url: DatabaseOption = DEFAULT_URL,
) -> None:
    """Ask as PERSON from Teams user USER (their Azure AD object id)."""
    _link("teams", user, person, groups, database_url)


@link.command("list")
def list_links(database_url: DatabaseOption = DEFAULT_URL) -> None:
    """List the linked chat users."""
    with errors():
        with _open(database_url) as store:
            found = store.chat_links()
    table = Table(title=f"Chat users ({len(found)})", title_justify="left")
    for column in ("platform", "user", "person", "groups", "linked"):
        table.add_column(column, overflow="fold")
    for made in found:
        table.add_row(
            made.platform,
            made.user_id,
            made.person,
            ", ".join(made.groups),
            f"{made.created_at:%Y-%m-%d %H:%M}",
        )
    out.print(table)


@link.command("remove")
def remove_link(
    platform: Annotated[str, typer.Argument(help="slack or teams.")],
    user: ChatUser,
    database_url: DatabaseOption = DEFAULT_URL,
) -> None:
    """Unlink a chat user: they ask as a caller of no group again."""
    with errors():
        with _open(database_url) as store:
            removed = store.unlink_chat_user(platform, user)
    if not removed:
        console.print(f"[yellow]no {platform} user {user} was linked[/]", highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]unlinked[/] {platform} user {user}", highlight=False)


@feedback.command("export")
def export(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the three files.")],
    start: Annotated[
        str | None,
        typer.Option("--from", help="First day (or ISO-8601 time, UTC) of recommendations."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Last day (included) or ISO-8601 time (excluded), UTC."),
    ] = None,
    database_url: DatabaseOption = DEFAULT_URL,
) -> None:
    """Write feedback as queries.jsonl, qrels_resources.tsv and qrels_people.tsv."""
    with errors():
        window = parse_time(start, "--from"), parse_time(end, "--to", end_of_day=True)
        with _open(database_url) as store:
            summary = store.export_judgments(out_dir, *window)
    console.print(
        f"[green]wrote[/] {summary.directory}: {summary.queries:,} queries, "
        f"{summary.resource_judgments:,} resource and {summary.people_judgments:,} people "
        "judgments",
        highlight=False,
    )


@db.command("upgrade")
def upgrade(database_url: DatabaseOption = DEFAULT_URL) -> None:
    """Migrate the database to the newest schema (opening it does so too)."""
    from pipelines.store import database

    with errors():
        with _open(database_url) as store:
            url = database.masked(store.url)
    console.print(f"[green]up to date[/] {url} is at revision {database.head()}", highlight=False)


def parse_time(value: str | None, option: str, *, end_of_day: bool = False) -> datetime | None:
    """A day or an ISO-8601 time, in UTC unless it names a zone.

    A day given as the end of a window includes the whole day.

    Raises:
        ConfigurationError: the value is neither.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(
            f"{option} {value!r} is not a date; write e.g. 2025-03-31 or 2025-03-31T14:00"
        ) from None
    if end_of_day and len(text) == 10:
        parsed += timedelta(days=1)
    return as_utc(parsed)
