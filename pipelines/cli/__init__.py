"""The ``whoknows`` command.

A thin layer: each command parses options, calls a pipeline's ``run()`` or the
recommender, and renders the outcome. Errors whoknows raises on purpose are
printed as one clear message with exit code 1, never as a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from dotenv import load_dotenv

from pipelines.cli import admin, assistant, indexing, insights, lifecycle, mentoring, quality

app = typer.Typer(
    help="whoknows: for any question, what to read and who knows about it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _settings_from_dotenv() -> None:
    """Read WHOKNOWS_* settings from a .env file, as the service does."""
    load_dotenv(Path.cwd() / ".env", override=False)


app.command()(indexing.build)
app.command()(indexing.ingest)
app.command()(indexing.embed)
app.command()(indexing.index)
app.command()(indexing.serve)
app.command()(assistant.mcp)
app.command()(indexing.query)
app.command()(quality.evaluate)
app.command()(quality.compare)
app.command("train-ranker")(quality.train_ranker)
app.command("mine-judgments")(quality.mine_judgments)
app.command()(quality.replay)
app.command()(insights.topics)
app.command("evaluate-mentoring")(mentoring.evaluate_mentoring)
app.command()(lifecycle.train)
app.command()(lifecycle.register)
app.add_typer(admin.keys, name="keys")
app.add_typer(admin.link, name="link")
app.add_typer(admin.feedback, name="feedback")
app.add_typer(admin.db, name="db")


def main() -> None:
    """Entry point for ``python -m pipelines.cli``."""
    app(sys.argv[1:])


if __name__ == "__main__":
    main()
