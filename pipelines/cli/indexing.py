"""Commands that make and use an index: ingest, embed, index, build, serve, query.

``build`` does ingest + embed + index in one go; the three stage commands are
the same steps with files between them, as the DVC pipeline (dvc.yaml) runs them.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from models.embedding_cache import default_cache_dir
from models.exceptions import ConfigurationError, InvalidFilterError
from models.records import ResourceType
from models.results import DEFAULT_LIMIT, Filters
from pipelines.cli.common import (
    CacheOption,
    EncoderOption,
    ParamsOption,
    PeopleOption,
    TrackOption,
    console,
    encoder_of,
    errors,
    out,
    progress,
    service_settings,
)
from pipelines.cli.render import print_answer, print_report

if TYPE_CHECKING:
    from models.embeddings import Changes

DocumentsOption = Annotated[
    list[Path],
    typer.Option(
        "--documents",
        "-d",
        help="JSONL file (normalised format), folder of .md/.txt/.html/.pdf, "
        "or one such file. Repeatable.",
    ),
]
StrictOption = Annotated[
    bool, typer.Option("--strict", help="Fail (exit 1) if any record or file is skipped.")
]
ErasureDatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="WHOKNOWS_DATABASE_URL",
        help="The store whose erasure requests to honour (default: ./whoknows.db if it exists).",
        show_default=False,
    ),
]


def build(
    documents: DocumentsOption,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Index directory to write (with --update: the default "
            "is the index updated, in place).",
            show_default=False,
        ),
    ] = None,
    people: PeopleOption = None,
    params: ParamsOption = None,
    encoder: EncoderOption = None,
    cache_dir: CacheOption = default_cache_dir(),
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Embed everything afresh.")] = False,
    strict: StrictOption = False,
    track: TrackOption = True,
    database_url: ErasureDatabaseOption = None,
    update: Annotated[
        bool,
        typer.Option(
            "--update",
            help="Bring the index given by --index up to the sources: only new and changed "
            "passages are embedded; the result is the index a full build would give.",
        ),
    ] = False,
    index_dir: Annotated[
        Path | None,
        typer.Option("--index", help="The index to update (with --update).", show_default=False),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="Where passages are embedded: local, or ray (Ray Data on a Ray cluster).",
        ),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            envvar="RAY_ADDRESS",
            help="The Ray cluster's head (host:port); default: a local Ray for the build.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Ingest documents and people, embed them and write an index directory."""
    from pipelines import build as pipeline
    from pipelines.params import load_params

    with errors():
        if update and index_dir is None:
            raise ConfigurationError("--update needs the index to update: --index DIR")
        if not update and index_dir is not None:
            raise ConfigurationError("--index is the index to update: add --update")
        if not update and out_dir is None:
            raise ConfigurationError("give the index directory to write: --out DIR")
        settings = load_params(params)
        erased = _erased(database_url)
        common: dict[str, Any] = {
            "config": settings.config,
            "model_path": encoder_of(encoder, settings),
            "cache_dir": None if no_cache else cache_dir,
            "strict": strict,
            "erased": erased,
            "limits": settings.limits(),
            "history": settings.mining,
            "seed": settings.seed,
            "engine": pipeline.Engine(engine, ray_address if engine == "ray" else None),
        }
        with progress() as bars:
            if update:
                assert index_dir is not None
                updated = pipeline.update(
                    documents, people or [], index_dir, out_dir, progress=bars, **common
                )
                result_path, recommender = updated.path, updated.recommender
                report, seconds = updated.report, updated.seconds
            else:
                assert out_dir is not None
                built = pipeline.run(documents, people or [], out_dir, progress=bars, **common)
                result_path, recommender = out_dir, built.recommender
                report, seconds = built.report, built.seconds
        print_report(report)
        if update:
            _changes(updated.changes)
        _built(result_path, recommender, seconds, track)


def _changes(changes: Changes) -> None:
    console.print(
        f"update: documents {changes.documents_added:,} added, {changes.documents_changed:,} "
        f"changed, {changes.documents_removed:,} removed, {changes.documents_unchanged:,} "
        f"unchanged; people {changes.people_added:,} added, {changes.people_changed:,} "
        f"changed, {changes.people_removed:,} removed; embedded "
        f"{changes.passages_embedded:,} passages and {changes.profiles_embedded:,} profiles",
        highlight=False,
    )


def ingest(
    documents: DocumentsOption,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the checked records.")],
    people: PeopleOption = None,
    params: ParamsOption = None,
    strict: StrictOption = False,
    database_url: ErasureDatabaseOption = None,
) -> None:
    """Check documents and people and write them as records (the first pipeline stage)."""
    from pipelines import ingest as pipeline
    from pipelines.ingest import processed
    from pipelines.params import load_params

    with errors():
        limits = load_params(params).limits()
        erased = _erased(database_url)
        with progress() as bars:
            result = pipeline.run(
                documents, people or [], erased=erased, limits=limits, progress=bars
            )
        if strict:
            result.raise_if_skipped()
        processed.save(result, out_dir)
        print_report(result.report)
        console.print(f"[green]wrote[/] {out_dir}", highlight=False)


def embed(
    processed: Annotated[
        Path, typer.Option("--processed", help="Records written by `whoknows ingest`.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for passages and vectors.")],
    params: ParamsOption = None,
    encoder: EncoderOption = None,
    cache_dir: CacheOption = default_cache_dir(),
) -> None:
    """Split records into passages and embed them (the second pipeline stage)."""
    from pipelines import build as pipeline
    from pipelines.params import load_params

    with errors():
        settings = load_params(params)
        with progress() as bars:
            embeddings = pipeline.embed(
                processed,
                out_dir,
                config=settings.config,
                model_path=encoder_of(encoder, settings),
                cache_dir=cache_dir,
                progress=bars,
            )
        console.print(
            f"[green]wrote[/] {out_dir}: {len(embeddings.passage_vectors):,} passage vectors, "
            f"{len(embeddings.profile_vectors):,} profiles ({embeddings.encoder['name']})",
            highlight=False,
        )


def index(
    embeddings: Annotated[
        Path, typer.Option("--embeddings", help="Vectors written by `whoknows embed`.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Index directory to write.")],
    params: ParamsOption = None,
    encoder: EncoderOption = None,
    track: TrackOption = True,
) -> None:
    """Build the searchable index from embeddings (the third pipeline stage)."""
    import time

    from pipelines import build as pipeline
    from pipelines.params import load_params

    with errors():
        settings = load_params(params)
        started = time.perf_counter()
        with progress() as bars:
            recommender = pipeline.index(
                embeddings,
                out_dir,
                config=settings.config,
                model_path=encoder_of(encoder, settings),
                history=settings.mining,
                seed=settings.seed,
                progress=bars,
            )
        _built(out_dir, recommender, time.perf_counter() - started, track)


def serve(
    ctx: typer.Context,
    index: Annotated[
        Path | None,
        typer.Option("--index", envvar="WHOKNOWS_INDEX_DIR", help="Index directory to serve."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            envvar="WHOKNOWS_MODEL_URI",
            help="Serve a registered model instead, e.g. models:/whoknows@champion.",
        ),
    ] = None,
    topics: Annotated[
        Path | None,
        typer.Option(
            "--topics",
            envvar="WHOKNOWS_TOPICS_DIR",
            help="The index's topic model (whoknows topics), for the expertise map; "
            "without it the service fits one when the index loads.",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="WHOKNOWS_WORKERS",
            help="Worker processes, each with its own copy of the index (memory grows "
            "with each). uvicorn restarts one that dies.",
        ),
    ] = 1,
    watch: Annotated[
        float | None,
        typer.Option(
            "--watch",
            min=0.0,
            help="Every this many seconds, reload the index directory if it holds a new "
            "build (each worker does). Default: WHOKNOWS_WATCH_SECONDS, else not watching.",
        ),
    ] = None,
    encoder: EncoderOption = None,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from serving.app import create_app
    from serving.server import READ_TIMEOUT_VARIABLE, BoundedH11Protocol

    if index is not None and model is not None:
        # One typed on the command line wins over the other from the environment.
        # (by name: typer vendors its own click, with its own ParameterSource)
        index_typed = getattr(ctx.get_parameter_source("index"), "name", "") == "COMMANDLINE"
        model_typed = getattr(ctx.get_parameter_source("model"), "name", "") == "COMMANDLINE"
        if index_typed != model_typed:
            index, model = (index, None) if index_typed else (None, model)
        else:
            fix = (
                "give only one of --index and --model"
                if index_typed
                else "set in the environment (or .env): unset WHOKNOWS_INDEX_DIR or "
                "WHOKNOWS_MODEL_URI"
            )
            console.print(
                f"[bold red]error:[/] both an index ({index}) and a model ({model}) are "
                f"given; serve one of them: {fix}"
            )
            raise typer.Exit(2)
    if index is None and model is None:
        console.print(
            "[bold red]error:[/] give either the index to serve (--index DIR or "
            "WHOKNOWS_INDEX_DIR) or a registered model (--model models:/whoknows@champion "
            "or WHOKNOWS_MODEL_URI)"
        )
        raise typer.Exit(2)
    settings = service_settings(
        index_dir=index, model_uri=model, encoder_path=encoder, topics_dir=topics
    )
    if watch is not None:  # typed: wins over the environment
        settings = settings.model_copy(update={"watch_seconds": watch})
    logging = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    logging["loggers"]["whoknows"] = {"handlers": ["default"], "level": log_level.upper()}
    # Every worker bounds how long a request may take to arrive (serving.server).
    os.environ[READ_TIMEOUT_VARIABLE] = str(settings.read_timeout)
    # A factory with its settings rather than an app: each worker process builds its own
    # app (and loads its own index), and a factory of a pickled Settings crosses to them.
    config = uvicorn.Config(
        functools.partial(create_app, settings),
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=logging,
        http=BoundedH11Protocol,
    )
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"whoknows will answer on http://{shown}:{port}/ (the search page; API docs at /docs) "
        "once the index is loaded",
        highlight=False,
    )
    try:
        if workers > 1:
            _migrate_once(settings.database_url)
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server.run()
    except KeyboardInterrupt:
        pass
    if workers == 1 and not server.started:
        raise typer.Exit(3)  # uvicorn's own code for a failed start-up


def query(
    text: Annotated[str, typer.Argument(help="The question.")],
    index: Annotated[
        Path, typer.Option("--index", envvar="WHOKNOWS_INDEX_DIR", help="Index directory.")
    ],
    limit_resources: Annotated[
        int, typer.Option("--resources", "-r", help="How many resources.")
    ] = DEFAULT_LIMIT,
    limit_people: Annotated[
        int, typer.Option("--people", "-p", help="How many people.")
    ] = DEFAULT_LIMIT,
    department: Annotated[
        list[str] | None, typer.Option("--department", help="Only this department. Repeatable.")
    ] = None,
    resource_type: Annotated[
        list[str] | None, typer.Option("--type", help="Only this resource type. Repeatable.")
    ] = None,
    encoder: EncoderOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Ask an index a question and print resources and people as tables."""
    from models.recommender import Recommender

    with errors():
        try:
            types = tuple(ResourceType.parse(t).value for t in resource_type or ())
        except ValueError as exc:
            raise InvalidFilterError(str(exc), field="type") from None
        recommender = Recommender.load(index, model_path=encoder)
        answer = recommender.recommend(
            text,
            limit_resources=limit_resources,
            limit_people=limit_people,
            filters=Filters(tuple(department or ()), types),
        )
    if as_json:
        out.print_json(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        print_answer(answer)


def _migrate_once(database_url: str) -> None:
    """Bring the database to the newest schema before the workers start, so that they
    do not all migrate it at once; a worker that cannot open it says so itself."""
    from pipelines.exceptions import StoreError
    from pipelines.store import Store

    try:
        Store(database_url).close()
    except StoreError as exc:
        console.print(f"[yellow]warning:[/] {exc}", highlight=False)


def _erased(database_url: str | None) -> set[str]:
    """The id hashes of people erased on request, from the store if there is one."""
    from pipelines.store import Store
    from pipelines.store.database import DEFAULT_FILE, DEFAULT_URL

    if not database_url:
        if not Path(DEFAULT_FILE).is_file():
            return set()
        database_url = DEFAULT_URL
    with Store(database_url) as store:
        return {digest for digest, reason in store.suppressed().items() if reason == "erasure"}


def _built(out_dir: Path, recommender: object, seconds: float, track: bool) -> None:
    from models.recommender import Recommender
    from pipelines.build import HISTORY_FILE, track_build
    from pipelines.tracking import tracking_uri

    assert isinstance(recommender, Recommender)
    counts = recommender.manifest.counts
    console.print(
        f"[green]built[/] {out_dir} in {seconds:.1f} s: "
        f"{counts['documents']:,} documents, {counts['passages']:,} passages, "
        f"{counts['people']:,} people (index {recommender.index_version})",
        highlight=False,
    )
    history = out_dir / HISTORY_FILE
    if history.is_file():
        how = json.loads(history.read_text(encoding="utf-8"))
        mined = how["mined"]
        kept = "; ".join(f"{task} kept as configured ({why})" for task, why in how["kept"].items())
        console.print(
            f"rankers from history: {mined['queries']:,} mined queries "
            f"({mined['people_queries']:,} people, {mined['resource_queries']:,} resources); "
            f"fitted {', '.join(how['fitted']) or 'none'}" + (f"; {kept}" if kept else ""),
            highlight=False,
        )
    if track:
        run_id = track_build(recommender, out_dir, seconds)
        console.print(f"MLflow run {run_id} at {tracking_uri()}", highlight=False)
