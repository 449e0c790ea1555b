"""Commands that describe the organisation's knowledge: topics."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import JustifyMethod
from rich.table import Table

from pipelines.cli.common import ParamsOption, console, errors, out, progress


def topics(
    index: Annotated[
        Path,
        typer.Option("--index", envvar="WHOKNOWS_INDEX_DIR", help="Index directory to describe."),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the topic model and its report.")
    ],
    params: ParamsOption = None,
    count: Annotated[
        int | None,
        typer.Option(
            "--topics",
            min=1,
            help="How many topics (default: params.yaml topics.count, else sqrt(documents / 2)).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Cluster the documents into topics: who knows each, silos and fragile topics."""
    from pipelines import topics as pipeline
    from pipelines.params import load_params

    with errors():
        config = load_params(params).topics
        if count is not None:
            config = dataclasses.replace(config, count=count)
        with progress() as bars:
            result = pipeline.run(index, out_dir, config, progress=bars)
    found = result.map
    table = Table(title=f"Topics of {index}", title_justify="left", box=box.SIMPLE_HEAD)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("#", "right"),
        ("label", "left"),
        ("docs", "right"),
        ("bus factor", "right"),
        ("silo", "left"),
        ("fragile", "left"),
        ("departments (expertise)", "left"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify, overflow="fold")
    for topic in found.topics:
        table.add_row(
            str(topic.id),
            topic.label,
            str(topic.documents),
            str(topic.bus_factor),
            "yes" if topic.silo else "",
            "yes" if topic.fragile else "",
            pipeline.departments(topic, limit=2),
        )
    out.print(table)
    console.print(
        f"[green]wrote[/] {result.path}: {result.model.count} topics over {found.documents:,} "
        f"documents (silhouette {result.model.silhouette}), {len(found.silos())} silos, "
        f"{len(found.fragile())} fragile, in {result.seconds:.1f} s",
        highlight=False,
    )
