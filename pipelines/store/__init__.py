"""The store of API keys, logged recommendations, feedback and privacy requests.

``Store(url)`` opens a SQLite or PostgreSQL database and migrates it to the
newest schema; the serving layer and offline jobs (feedback export, erasure in
builds, key administration) share it.
"""

from pipelines.store.analytics import Analytics, CrossFunctional, Gaps, Load
from pipelines.store.records import (
    ApiKey,
    ExportSummary,
    FeedbackEvent,
    LoggedItem,
    RecommendationLog,
    person_hash,
    utcnow,
)
from pipelines.store.store import Store

__all__ = [
    "Analytics",
    "ApiKey",
    "CrossFunctional",
    "ExportSummary",
    "FeedbackEvent",
    "Gaps",
    "Load",
    "LoggedItem",
    "RecommendationLog",
    "Store",
    "person_hash",
    "utcnow",
]
