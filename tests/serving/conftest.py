from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from models.recommender import Recommender
from serving.app import create_app
from serving.config import Settings


@pytest.fixture(scope="module")
def client(sample: Recommender) -> Iterator[TestClient]:
    """The real app serving the sample index."""
    with TestClient(create_app(Settings(), recommender=sample)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def tiny_client(tiny: Recommender) -> Iterator[TestClient]:
    """The real app serving the eight-document index."""
    with TestClient(create_app(Settings(), recommender=tiny)) as test_client:
        yield test_client
