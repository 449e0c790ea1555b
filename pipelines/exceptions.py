"""Errors of the offline pipelines.

WhoknowsError                 (models.exceptions)
└── PipelineError             a pipeline cannot do what was asked
    ├── IngestError               no usable input, or skipped records under --strict
    ├── DatasetError              an evaluation dataset lacks a file or is malformed
    └── TrackingError             MLflow cannot record a run or serve the registry
"""

from __future__ import annotations

from models.exceptions import WhoknowsError


class PipelineError(WhoknowsError):
    """A pipeline step cannot do what was asked."""


class IngestError(PipelineError):
    """Ingestion found no usable input, or skipped records when told to be strict."""


class DatasetError(PipelineError):
    """An evaluation dataset directory lacks a file or holds malformed lines."""


class TrackingError(PipelineError):
    """The MLflow tracking store or registry refused or could not be reached."""
