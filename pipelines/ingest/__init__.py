"""Ingestion of documents and people from files into checked records."""

from pipelines.ingest.pipeline import IngestResult, run
from pipelines.ingest.report import IngestReport, Problem

__all__ = ["IngestReport", "IngestResult", "Problem", "run"]
