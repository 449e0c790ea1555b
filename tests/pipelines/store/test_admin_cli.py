"""`whoknows keys`, `whoknows feedback export` and `whoknows db upgrade`, on both engines."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.store import Store, database
from tests.pipelines.store.data import day, log, rate

runner = CliRunner()


def test_a_created_key_is_printed_once_alone_and_never_listed(database_url: str) -> None:
    made = runner.invoke(
        app,
        ["keys", "create", "--name", "bot", "--groups", "eng,ops", "--admin", "--person", "ada"],
        env={"WHOKNOWS_DATABASE_URL": database_url},
    )
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("wk_") and "\n" not in secret
    assert "cannot be shown again" in made.stderr
    with Store(database_url) as store:
        key = store.authenticate(secret)
    assert key is not None and key.groups == ("eng", "ops") and key.admin and key.person == "ada"
    listed = runner.invoke(app, ["keys", "list", "--database-url", database_url])
    assert listed.exit_code == 0
    assert "bot" in listed.stdout and secret[:8] in listed.stdout
    assert secret not in listed.stdout and secret[8:20] not in listed.stdout


def test_revoking_twice_names_and_unknown_keys_fail_with_a_message(database_url: str) -> None:
    env = {"WHOKNOWS_DATABASE_URL": database_url}
    assert runner.invoke(app, ["keys", "create", "--name", "bot"], env=env).exit_code == 0
    again = runner.invoke(app, ["keys", "create", "--name", "bot"], env=env)
    assert again.exit_code == 1 and "exists already" in again.stderr
    revoked = runner.invoke(app, ["keys", "revoke", "bot"], env=env)
    assert revoked.exit_code == 0 and "revoked" in revoked.stderr
    unknown = runner.invoke(app, ["keys", "revoke", "ghost"], env=env)
    assert unknown.exit_code == 1 and "no API key named 'ghost'" in unknown.stderr
    with Store(database_url) as store:
        assert [k.revoked for k in store.keys()] == [True]


def test_feedback_export_takes_whole_days(database_url: str, tmp_path: Path) -> None:
    with Store(database_url) as store:
        log(store, "r1", day(1, 2), "kafka", department=None, best=0.5, resources=("d1",))
        log(store, "r2", day(1, 3), "roof", department=None, best=0.5, resources=("d1",))
        rate(store, "r1", "resource", "d1", "helpful")
        rate(store, "r2", "resource", "d1", "click")
    out = tmp_path / "judgments"
    result = runner.invoke(
        app,
        ["feedback", "export", "--out", str(out), "--from", "2025-01-02", "--to", "2025-01-02"],
        env={"WHOKNOWS_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    assert "1 queries" in result.stderr
    assert (out / "qrels_resources.tsv").read_text().splitlines()[1:] == ["r1\td1\t2"]
    bad = runner.invoke(
        app,
        ["feedback", "export", "--out", str(out), "--from", "yesterday"],
        env={"WHOKNOWS_DATABASE_URL": database_url},
    )
    assert bad.exit_code == 1 and "--from 'yesterday' is not a date" in bad.stderr


def test_db_upgrade_migrates_a_new_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert f"is at revision {database.head()}" in result.stderr and database.head() == "0004"
    assert (tmp_path / "new.db").is_file()


def test_an_unreachable_database_is_one_line_without_the_password() -> None:
    url = "postgresql://admin:hunter2@127.0.0.1:9/whoknows"
    result = runner.invoke(app, ["keys", "list", "--database-url", url])
    assert result.exit_code == 1
    assert "admin:***@127.0.0.1:9" in result.stderr and "hunter2" not in result.output
    assert "Traceback" not in result.output


def test_a_key_for_a_web_page_names_its_origins(database_url: str) -> None:
    env = {"WHOKNOWS_DATABASE_URL": database_url}
    made = runner.invoke(
        app,
        ["keys", "create", "--name", "intranet", "--origins", "https://intranet.example.org/"],
        env=env,
    )
    assert made.exit_code == 0, made.output
    assert "only from https://intranet.example.org" in made.stderr
    with Store(database_url) as store:
        key = store.authenticate(made.stdout.strip())
    assert key is not None and key.origins == ("https://intranet.example.org",)
    listed = runner.invoke(app, ["keys", "list"], env=env | {"COLUMNS": "200"})
    assert "https://intranet.example.org" in listed.stdout
    wrong = runner.invoke(
        app, ["keys", "create", "--name", "web", "--origins", "intranet.example.org"], env=env
    )
    assert wrong.exit_code == 1 and "is not an origin" in wrong.stderr


def test_chat_users_are_linked_listed_and_removed(database_url: str) -> None:
    env = {"WHOKNOWS_DATABASE_URL": database_url}
    linked = runner.invoke(app, ["link", "slack", "U0123", "ada", "--groups", "eng,ops"], env=env)
    assert linked.exit_code == 0, linked.output
    assert "linked slack user U0123 to ada (eng, ops)" in linked.stderr
    assert runner.invoke(app, ["link", "teams", "aad-1", "bob"], env=env).exit_code == 0
    listed = runner.invoke(app, ["link", "list"], env=env)
    assert "U0123" in listed.stdout and "aad-1" in listed.stdout and "eng, ops" in listed.stdout
    with Store(database_url) as store:
        link = store.chat_link("slack", "U0123")
    assert link is not None and link.person == "ada" and link.groups == ("eng", "ops")
    removed = runner.invoke(app, ["link", "remove", "slack", "U0123"], env=env)
    assert removed.exit_code == 0 and "unlinked" in removed.stderr
    again = runner.invoke(app, ["link", "remove", "slack", "U0123"], env=env)
    assert again.exit_code == 1 and "no slack user U0123 was linked" in again.stderr
