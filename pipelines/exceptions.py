"""Errors of the offline pipelines.

WhoknowsError                 (models.exceptions)
└── PipelineError             a pipeline cannot do what was asked
    ├── IngestError               no usable input, or skipped records under --strict
    ├── DatasetError              an evaluation dataset lacks a file or is malformed
    ├── TrackingError             MLflow cannot record a run or serve the registry
    └── StoreError                the database of keys, recommendations and feedback
        ├── StoreUnavailableError     the database cannot be reached or migrated (HTTP 503)
        ├── DuplicateKeyError         an API key of that name exists (even if revoked)
        ├── UnknownKeyError           no API key of that name (also a NotFoundError)
        ├── UnknownRecommendationError  feedback names no logged recommendation (NotFoundError)
        └── FeedbackItemError         feedback names an item the recommendation did not hold
                                      (also a QueryError, HTTP 422)
"""

from __future__ import annotations

from models.exceptions import ArtifactError, NotFoundError, QueryError, WhoknowsError


class PipelineError(WhoknowsError):
    """A pipeline step cannot do what was asked."""


class RegistryFetchError(PipelineError, ArtifactError):
    """A registered model (models:/name@alias) could not be fetched from the registry."""


class IngestError(PipelineError):
    """Ingestion found no usable input, or skipped records when told to be strict."""


class DatasetError(PipelineError):
    """An evaluation dataset directory lacks a file or holds malformed lines."""


class TrackingError(PipelineError):
    """The MLflow tracking store or registry refused or could not be reached."""


class StoreError(PipelineError):
    """The store of keys, recommendations, feedback and privacy requests refused a request."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached, opened or migrated; the message names its URL."""


class DuplicateKeyError(StoreError):
    """An API key of that name already exists; names are never reused, even once revoked."""


class UnknownKeyError(StoreError, NotFoundError):
    """No API key has that name."""


class UnknownRecommendationError(StoreError, NotFoundError):
    """Feedback names a recommendation id that was never logged (or has been erased)."""


class FeedbackItemError(StoreError, QueryError):
    """Feedback names an item (id and kind) that the recommendation did not return.

    Attributes:
        field: the request field at fault, ``"item_id"`` unless told otherwise.
    """

    def __init__(self, message: str, *, field: str | None = "item_id") -> None:
        super().__init__(message, field=field)
