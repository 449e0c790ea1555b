"""What the commands share: consoles, options, error handling and progress bars."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from models.exceptions import WhoknowsError

if TYPE_CHECKING:
    from pipelines.params import Params
    from serving.config import Settings

console = Console(stderr=True, soft_wrap=True)  # messages keep whole paths on one line
out = Console()

EncoderOption = Annotated[
    Path | None,
    typer.Option(
        "--encoder",
        envvar="WHOKNOWS_ENCODER_PATH",
        help="Local sentence-transformers model folder (default: params.yaml's encoder, "
        "else the bundled all-MiniLM-L6-v2).",
        show_default=False,
    ),
]
CacheOption = Annotated[
    Path,
    typer.Option(
        "--cache-dir",
        envvar="WHOKNOWS_CACHE_DIR",
        help="Where embeddings are cached between builds.",
    ),
]
ParamsOption = Annotated[
    Path | None,
    typer.Option(
        "--params",
        help="params.yaml (encoder, seed, recommender, train, ingest limits).",
        show_default=False,
    ),
]


def service_settings(**given: Any) -> Settings:
    """The service's settings: the options ``given`` win over the environment and .env,
    the rest come from them. A value that does not fit exits 2 naming its variable."""
    from pydantic import ValidationError

    from serving.config import Settings

    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"WHOKNOWS_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        console.print(f"[bold red]error:[/] invalid settings: {problems}", highlight=False)
        raise typer.Exit(2) from None


@contextmanager
def errors() -> Iterator[None]:
    """Turn whoknows errors and Ctrl-C into a message and an exit code."""
    try:
        yield
    except WhoknowsError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: nothing was written; cached embeddings are kept")
        raise typer.Exit(130) from None


#: Without a terminal (CI, a job log, a pipe) progress is a plain line per stage
#: at its start, at every further tenth of it, at least this often, and at its end.
PLAIN_PROGRESS_SECONDS = 30.0


@contextmanager
def progress() -> Iterator[Callable[[str, int, int], None]]:
    """A (stage, done, total) callback: bars on a terminal, plain lines otherwise."""
    if not console.is_terminal:
        yield _plain_progress()
        return
    bars = Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total)
        bars.update(tasks[stage], completed=done, total=total)

    with bars:
        yield update


def _plain_progress() -> Callable[[str, int, int], None]:
    started: dict[str, float] = {}
    last: dict[str, tuple[int, float]] = {}  # stage -> (tenths reported, when)

    def update(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        tenths = 10 * done // total if total > 0 else 10
        first = stage not in last
        if first:
            started[stage] = now
        elif done < total:
            reported, when = last[stage]
            if tenths <= reported and now - when < PLAIN_PROGRESS_SECONDS:
                return
        elif last[stage][0] > 10:
            return  # the end was already reported
        last[stage] = (11 if done >= total else tenths, now)
        elapsed = f", {now - started[stage]:.0f} s" if not first else ""
        console.print(f"{stage}: {done}/{total}{elapsed}", highlight=False)

    return update


PeopleOption = Annotated[
    list[Path] | None,
    typer.Option("--people", "-p", help="People as JSONL or CSV. Repeatable."),
]
DatasetsArgument = Annotated[
    list[Path], typer.Argument(help="Dataset folders (documents, people, queries, qrels).")
]

TrackOption = Annotated[
    bool, typer.Option(help="Log the run to MLflow (MLFLOW_TRACKING_URI, or ./mlflow.db).")
]


def encoder_of(option: Path | None, params: Params) -> Path | None:
    """The encoder folder to use: the option, else params.yaml's, else None (the default)."""
    return option if option is not None else params.encoder
