from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from models.encoder import Encoder
from models.recommender import Recommender
from models.records import Document, Person
from pipelines.store import Store
from serving.app import create_app
from serving.config import Settings
from tests.conftest import tiny_records

#: The address TestClient reports: loopback, where anonymous access may be allowed.
LOOPBACK = ("127.0.0.1", 50000)


def bearer(credential: str) -> dict[str, str]:
    """The Authorization header that presents an API key or a token."""
    return {"Authorization": f"Bearer {credential}"}


def anonymous_client(recommender: Recommender, **settings: object) -> TestClient:
    """The real app with anonymous loopback access (as `make run`) and an in-memory store."""
    app = create_app(
        Settings(anonymous=True, **settings),  # type: ignore[arg-type]
        recommender=recommender,
        store=Store("sqlite://"),
    )
    return TestClient(app, client=LOOPBACK)


@pytest.fixture(scope="module")
def client(sample: Recommender) -> Iterator[TestClient]:
    """The real app serving the sample index, to anonymous loopback callers."""
    with anonymous_client(sample, rate_limit=0) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def tiny_client(tiny: Recommender) -> Iterator[TestClient]:
    """The real app serving the eight-document index, to anonymous loopback callers."""
    with anonymous_client(tiny, rate_limit=0) as test_client:
        yield test_client


#: The id of the one restricted document of the ``restricted`` index.
PAYROLL = "finance/payroll-runbook"


@pytest.fixture(scope="module")
def restricted(encoder: Encoder) -> Recommender:
    """Four tiny documents, one of them visible to the finance group only."""
    documents, people = tiny_records()
    by_id = {d.id: d for d in documents}
    payroll = Document(
        PAYROLL,
        "Payroll run book",
        "Close the salary run on the 25th and send payslips after tax withholding.",
        department="Finance",
        authors=("dee",),
        allowed_groups=("finance",),
    )
    chosen: list[Document] = [by_id["d1"], by_id["d2"], by_id["d4"], payroll]
    kept: list[Person] = [p for p in people if p.id in {"ada", "bob", "cy", "dee"}]
    return Recommender.build(chosen, kept, encoder=encoder)
