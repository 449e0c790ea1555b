"""``whoknows mcp``: the tools for AI assistants over stdio, for desktop assistants.

The same tools as the service's ``/mcp`` endpoint (serving.mcp), answered in this
process from a local index, as the caller of the API key in ``WHOKNOWS_MCP_KEY``.
stdout carries the protocol; messages go to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.common import EncoderOption, console, errors, service_settings


def mcp(
    index: Annotated[
        Path,
        typer.Option(
            "--index", envvar="WHOKNOWS_INDEX_DIR", help="Index directory to answer from."
        ),
    ],
    encoder: EncoderOption = None,
) -> None:
    """Serve the MCP tools over stdio (for an assistant that starts whoknows itself).

    Answers as the caller of the API key in WHOKNOWS_MCP_KEY (make one with
    `whoknows keys create`); without it, only if WHOKNOWS_ANONYMOUS is on.
    """
    from serving.errors import Unauthenticated
    from serving.mcp_stdio import run_stdio

    settings = service_settings(index_dir=index, encoder_path=encoder)
    key = settings.mcp_key.get_secret_value() if settings.mcp_key else None
    with errors():
        try:
            run_stdio(settings, key)
        except Unauthenticated as exc:
            console.print(
                f"[bold red]error:[/] {exc}. Set WHOKNOWS_MCP_KEY to an API key "
                "(`whoknows keys create --name NAME --groups ...`), or WHOKNOWS_ANONYMOUS=1 for "
                "public documents only.",
                highlight=False,
            )
            raise typer.Exit(1) from None
