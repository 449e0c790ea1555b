from __future__ import annotations

import pytest

from models.records import Contribution, Document, Person, ResourceType


@pytest.mark.parametrize(
    "raw", ["best-practice", "Best Practice", "best_practice", " BEST-PRACTICE "]
)
def test_resource_types_are_read_leniently(raw: str) -> None:
    assert ResourceType.parse(raw) is ResourceType.BEST_PRACTICE


def test_unknown_resource_type_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="case-study"):
        ResourceType.parse("memo")


def test_document_round_trips_through_a_dict() -> None:
    document = Document(
        "d",
        "T",
        "body",
        ResourceType.COURSE,
        "Data",
        ("a",),
        (Contribution("a", "answered", 2.0, "2024-01-01"),),
        ("x",),
        "https://example.org",
        "2024-01-01",
        ("hr",),
    )
    assert Document.from_dict(document.to_dict()) == document


def test_authors_without_roles_count_as_authors() -> None:
    document = Document("d", "T", "", authors=("a", "b"))
    assert [(c.person, c.role) for c in document.roles()] == [("a", "author"), ("b", "author")]


def test_profile_text_leaves_out_the_name_and_is_empty_without_content() -> None:
    assert Person("p", "Jo").profile_text() == ""
    text = Person("p", "Jo", title="SRE", bio="On call", skills=("k8s", "go")).profile_text()
    assert "Jo" not in text and "SRE" in text and "k8s, go" in text
