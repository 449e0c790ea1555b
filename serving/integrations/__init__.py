"""Chat tools where people ask: a Slack slash command and a Microsoft Teams outgoing webhook.

Each platform has a verifier in its own module (the request is checked before
anything else is read) and a module that translates: the question to
serving.answering (the same Recommender, the same permissions and logging as the
HTTP API), the answer to the platform's cards. None ranks anything itself.
"""

from __future__ import annotations

from fastapi import FastAPI

from serving.integrations.slack import router as slack_router
from serving.integrations.teams import router as teams_router


def install(app: FastAPI) -> None:
    """Add the Slack and Teams routes (each answers only when its secret is set)."""
    app.include_router(slack_router)
    app.include_router(teams_router)
