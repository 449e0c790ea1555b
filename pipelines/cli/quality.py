"""Commands that measure and learn ranking: evaluate, compare, train-ranker."""

from __future__ import annotations

import json
import shlex
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from models.arrays import Progress
from models.config import RecommenderConfig
from models.embedding_cache import default_cache_dir
from pipelines.cli.common import (
    CacheOption,
    DatasetsArgument,
    EncoderOption,
    ParamsOption,
    PeopleOption,
    TrackOption,
    console,
    encoder_of,
    errors,
    out,
    progress,
)
from pipelines.exceptions import PipelineError
from pipelines.tracking import tracking_uri

if TYPE_CHECKING:
    from pipelines.ranking import Collection


def evaluate(
    dataset_dir: Annotated[
        Path, typer.Argument(help="Folder with documents, people, queries and qrels files.")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the metrics JSON.")],
    index: Annotated[
        Path | None,
        typer.Option(
            "--index", help="Reuse this index instead of building one.", show_default=False
        ),
    ] = None,
    params: ParamsOption = None,
    encoder: EncoderOption = None,
    cache_dir: CacheOption = default_cache_dir(),
    track: TrackOption = True,
) -> None:
    """Score resource and people rankings on a dataset with judgments."""
    from pipelines import evaluate as pipeline
    from pipelines.params import load_params

    with errors():
        settings = load_params(params)
        config = settings.config
        model = encoder_of(encoder, settings)
        with progress() as bars:
            evaluation = pipeline.run(
                dataset_dir,
                index_dir=index,
                config=config,
                model_path=model,
                cache_dir=cache_dir,
                progress=bars,
            )
        pipeline.write_metrics(evaluation, out_file)
        run_id = pipeline.track(evaluation, out_file) if track else None
    table = Table(title=f"{dataset_dir}")
    table.add_column("task")
    for name in (*pipeline.MEASURES, "n_queries"):
        table.add_column(name, justify="right")
    for task, values in evaluation.metrics.items():
        table.add_row(
            task, *(f"{v:.3f}" if isinstance(v, float) else str(v) for v in values.values())
        )
    out.print(table)
    if evaluation.query_seconds:
        ms = sorted(1000 * s for s in evaluation.query_seconds)
        console.print(
            f"{len(ms)} queries, median {statistics.median(ms):.1f} ms; "
            f"total {evaluation.seconds:.1f} s; metrics written to {out_file}"
        )
    if run_id is not None:
        console.print(f"MLflow run {run_id} at {tracking_uri()}", highlight=False)


def compare(
    datasets: DatasetsArgument,
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write every measure as JSON here: mean, 95% interval, difference to the "
            "baseline and its p-value.",
        ),
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write the comparison table (Markdown) here.")
    ] = None,
    folds: Annotated[
        int, typer.Option(min=2, help="Cross-validation folds for the learned rankers.")
    ] = 5,
    mined: Annotated[
        list[Path] | None,
        typer.Option(
            "--mined",
            help="A folder of mined judgments (whoknows mine-judgments) to learn from, "
            "never measured; repeat for several. Alone, the rankers learn from them only.",
        ),
    ] = None,
    with_judged: Annotated[
        bool,
        typer.Option(
            "--with-judged",
            help="With --mined: also learn from the other folds' judged queries.",
        ),
    ] = False,
    own_history: Annotated[
        bool,
        typer.Option(
            "--own-history",
            help="With --mined: each dataset learns only from the mined folder of its own name.",
        ),
    ] = False,
    params: ParamsOption = None,
    encoder: EncoderOption = None,
    cache_dir: CacheOption = default_cache_dir(),
    track: TrackOption = True,
) -> None:
    """Compare every retrieval and expertise method on datasets, learned ones cross-validated.

    Each figure comes with a 95% bootstrap interval over the queries, and each
    method's difference to plain rrf (resources) or Model 2 over rrf (people)
    with a paired randomisation test, so a difference within noise is called that.
    With --mined, the rankers learn from mined judgments instead (and, with
    --with-judged, from the other folds too), so no measured query was seen.
    """
    from pipelines import ranking
    from pipelines.params import load_params

    with errors():
        settings = load_params(params)
        config = settings.config
        model = encoder_of(encoder, settings)
        if (with_judged or own_history) and not mined:
            raise PipelineError("--with-judged and --own-history need --mined folders")
        with progress() as bars:
            collections = _prepare(datasets, config, model, cache_dir, bars)
            history = [
                ranking.prepare(
                    m,
                    config=config,
                    model_path=model,
                    cache_dir=cache_dir,
                    progress=bars,
                    name=f"mined:{m.name}",  # even a folder without as_of: learned from only
                )
                for m in mined or []
            ]
            comparison = ranking.compare(
                collections,
                folds=folds,
                seed=settings.seed,
                progress=bars,
                mined=history,
                with_judged=with_judged,
                own_history=own_history,
            )
        table = ranking.markdown_table(comparison)
        if markdown is not None:
            markdown.write_text(table + "\n", encoding="utf-8")
        if out_file is not None:
            out_file.write_text(
                json.dumps(ranking.as_json(comparison), indent=2) + "\n", encoding="utf-8"
            )
        run_id = ranking.track(comparison, table, config) if track else None
    out.print(table, markup=False, highlight=False)
    if run_id is not None:
        console.print(f"MLflow run {run_id} at {tracking_uri()}", highlight=False)
    how = (
        f"{comparison.folds}-fold cross-validation over the pooled queries"
        if comparison.folds > 1
        else "rankers fitted once"
    )
    console.print(
        f"learned rankers: {comparison.trained_on}; {how}, {comparison.seconds:.0f} s",
        highlight=False,
    )


def replay(
    datasets: DatasetsArgument,
    knobs: Annotated[
        str, typer.Option(help="Comma-separated load_balance values to replay.")
    ] = "0,0.5,1,2,4,8",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write every measure as JSON here.")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write the trade-off table (Markdown) here.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw the trade-off (PNG) here.")
    ] = None,
    folds: Annotated[
        int, typer.Option(min=2, help="Cross-fitting folds of the people ranker.")
    ] = 5,
    params: ParamsOption = None,
    encoder: EncoderOption = None,
    cache_dir: CacheOption = default_cache_dir(),
) -> None:
    """Replay the judged queries in time order: load-aware routing's spread against quality."""
    from pipelines import replay as replaying
    from pipelines.params import load_params

    with errors():
        try:
            values = [float(k) for k in knobs.split(",") if k.strip()]
        except ValueError:
            raise PipelineError(
                f"--knobs must be numbers separated by commas, not {knobs!r}"
            ) from None
        if not values or min(values) < 0:
            raise PipelineError("give at least one load_balance value, each >= 0")
        settings = load_params(params)
        model = encoder_of(encoder, settings)
        with progress() as bars:
            collections = _prepare(datasets, settings.config, model, cache_dir, bars)
            queries = replaying.prepare(collections, folds=folds, seed=settings.seed, progress=bars)
            everyone = {c.name: len(c.recommender.people) for c in collections}
            table = replaying.tradeoff(queries, values, everyone, progress=bars)
        text = replaying.markdown_table(table)
        if markdown is not None:
            markdown.write_text(text, encoding="utf-8")
        if out_file is not None:
            out_file.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
        if plot is not None:
            replaying.plot(table, plot)
    out.print(text, markup=False, highlight=False)
    console.print(
        f"{len(queries)} judged queries replayed in time order, scored by people rankers "
        f"cross-fitted over {folds} folds",
        highlight=False,
    )


def train_ranker(
    datasets: DatasetsArgument,
    out_dir: Annotated[
        Path,
        typer.Option("--out", help="Folder for resources.json, people.json and evidence.json."),
    ],
    params: ParamsOption = None,
    encoder: EncoderOption = None,
    cache_dir: CacheOption = default_cache_dir(),
) -> None:
    """Fit the resources, people and evidence rankers on every judged query of the datasets."""
    from pipelines import ranking
    from pipelines.params import load_params

    with errors():
        settings = load_params(params)
        config = settings.config
        model = encoder_of(encoder, settings)
        with progress() as bars:
            collections = _prepare(datasets, config, model, cache_dir, bars)
            rankers = ranking.fit_rankers(collections, seed=settings.seed)
        if not rankers.present():
            raise PipelineError("the datasets hold no judgments to learn a ranker from")
        command = shlex.join(
            ["whoknows", "train-ranker", *map(str, datasets), "--out", str(out_dir)]
        )
        written = ranking.save_rankers(rankers.present(), out_dir, {"command": command})
    for task, ranker in (("resources", rankers.resources), ("people", rankers.people)):
        if ranker is None:
            console.print(f"[yellow]no {task} judgments[/]: no {task} ranker written")
    for ranker, path in zip(rankers.present().values(), written, strict=True):
        weights = ", ".join(
            f"{f} {w:+.3f}" for f, w in zip(ranker.features, ranker.weights, strict=True)
        )
        console.print(f"[green]wrote[/] {path}: {weights}", highlight=False)


def _prepare(
    datasets: list[Path],
    config: RecommenderConfig,
    model: Path | None,
    cache_dir: Path,
    bars: Progress,
) -> list[Collection]:
    from pipelines import ranking

    return [
        ranking.prepare(d, config=config, model_path=model, cache_dir=cache_dir, progress=bars)
        for d in datasets
    ]


def mine_judgments(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="An evaluation-set folder (documents.jsonl, people.jsonl), or documents "
            "as `whoknows build --documents` takes them."
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the judgments.")],
    people: PeopleOption = None,
    raw: Annotated[
        Path | None,
        typer.Option(
            "--raw",
            help="A folder of original files with links between the documents: "
            "Stack Exchange PostLinks.xml (in a folder named as the site), cacm.all, CISI.ALL.",
        ),
    ] = None,
    max_queries: Annotated[
        int | None, typer.Option("--max", min=1, help="Keep at most this many queries.")
    ] = None,
    params: ParamsOption = None,
) -> None:
    """Mine judgments from history: threads' answerers and links between documents.

    Writes an evaluation-set folder whose queries are asked as of their own time
    (only older documents may answer them) for `whoknows train-ranker` and
    `whoknows compare --mined`.
    """
    from pipelines import mining
    from pipelines.params import load_params

    with errors():
        settings = load_params(params)
        records = mining.read_sources(sources, people or [])
        links = mining.links_from_raw(raw) if raw is not None else []
        mined = mining.mine(
            records.documents,
            links,
            max_queries=max_queries or settings.mining.max_judgments,
            seed=settings.seed,
        )
        if not mined.queries:
            raise PipelineError(
                "nothing to mine: no question thread (a document with `asked` and "
                "`answered` contributions) and no link between two documents"
            )
        mining.write(out_dir, records, mined, [str(s) for s in sources])
    counts = mined.counts()
    console.print(
        f"[green]mined[/] {counts['queries']:,} queries from {counts['documents']:,} documents "
        f"({counts['threads']:,} threads, {counts['links']:,} links): "
        f"{counts['people_judgments']:,} people and {counts['resource_judgments']:,} resource "
        f"judgments in {counts['seconds']:.1f} s -> {out_dir}",
        highlight=False,
    )
