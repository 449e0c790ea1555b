"""Commands of the retraining loop: train (fine-tune the encoder) and register (promote)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.common import (
    EncoderOption,
    ParamsOption,
    TrackOption,
    console,
    encoder_of,
    errors,
    progress,
)
from pipelines.tracking import tracking_uri


def train(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the new model.")],
    documents: Annotated[
        list[Path] | None,
        typer.Option("--documents", "-d", help="Documents to learn from, as for build."),
    ] = None,
    processed: Annotated[
        Path | None,
        typer.Option("--processed", help="Or records written by `whoknows ingest`."),
    ] = None,
    judgments: Annotated[
        list[Path] | None,
        typer.Option(
            "--judgments",
            help="Dataset folder(s) whose judged (query, document) pairs are added, "
            "e.g. exported feedback. Repeatable.",
        ),
    ] = None,
    params: ParamsOption = None,
    encoder: EncoderOption = None,
    epochs: Annotated[
        int | None, typer.Option(help="Override params.yaml train.epochs.", show_default=False)
    ] = None,
    max_pairs: Annotated[
        int | None, typer.Option(help="Override params.yaml train.max_pairs.", show_default=False)
    ] = None,
    track: TrackOption = True,
) -> None:
    """Fine-tune the encoder on your documents; `build --encoder DIR` then uses it."""
    from pipelines import ingest
    from pipelines import train as pipeline
    from pipelines.exceptions import PipelineError
    from pipelines.ingest import processed as processed_records
    from pipelines.params import load_params

    with errors():
        if (documents is None) == (processed is None):
            raise PipelineError("give the documents to learn from: --documents or --processed")
        settings = load_params(params)
        config = settings.train
        overrides = {"epochs": epochs, "max_pairs": max_pairs, "seed": settings.seed}
        config = dataclasses.replace(
            config, **{k: v for k, v in overrides.items() if v is not None}
        )
        if documents is not None:
            records = ingest.run(documents, limits=settings.limits()).documents
        else:
            assert processed is not None
            records = processed_records.load(processed)[0]
        with progress() as bars:
            result = pipeline.run(
                records,
                out_dir,
                base=encoder_of(encoder, settings),
                config=config,
                judgments=judgments or [],
                track=track,
                progress=bars,
            )
    console.print(
        f"[green]trained[/] {out_dir} on {result.pairs:,} pairs in {result.seconds:.0f} s "
        f"({result.steps} steps, loss {result.loss:.3f}); build with --encoder {out_dir}",
        highlight=False,
    )


def register(
    index: Annotated[
        Path | None,
        typer.Option("--index", help="A built index directory to log as a new version."),
    ] = None,
    name: Annotated[str, typer.Option(help="Registered model name.")] = "whoknows",
    alias: Annotated[
        str | None,
        typer.Option(help="Point this alias (e.g. champion) at the version."),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            help="Instead of --index: point --alias at this existing version (promote "
            "or roll back).",
            show_default=False,
        ),
    ] = None,
    metrics: Annotated[
        Path | None,
        typer.Option(help="Metrics JSON of this index (from `whoknows evaluate`) to log."),
    ] = None,
    encoder: EncoderOption = None,
) -> None:
    """Register an index as an MLflow model (pyfunc), or move an alias to a version."""
    from pipelines.exceptions import PipelineError
    from pipelines.registry import register as log_model
    from pipelines.registry import set_alias

    with errors():
        if (index is None) == (version is None):
            raise PipelineError(
                "give --index DIR to register a new version, or --version N --alias NAME "
                "to point an alias at an existing one"
            )
        if version is not None:
            if alias is None:
                raise PipelineError("--version needs --alias: which alias should point at it?")
            registered = set_alias(name, alias, version)
        else:
            assert index is not None
            registered = log_model(
                index, name=name, alias=alias, metrics_file=metrics, encoder_dir=encoder
            )
    target = f"models:/{registered.name}@{alias}" if alias else registered.uri
    action = "registered" if version is None else f"pointed {alias} at"
    console.print(
        f"[green]{action}[/] {registered.name} version {registered.version} "
        f"(run {registered.run_id}) at {tracking_uri()}; serve it with "
        f"`whoknows serve --model {target}`",
        highlight=False,
    )
