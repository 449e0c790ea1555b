"""Domain errors raised by whoknows models.

Every error derives from :class:`WhoknowsError`, so callers can catch one type.
The serving layer maps each branch to one HTTP status in a single place.

    WhoknowsError
    ├── ConfigurationError        a parameter or setting has an invalid value
    ├── EncoderLoadError          the encoder's model folder is missing or unreadable
    ├── ArtifactError             an index directory cannot be used
    │   ├── ArtifactNotFoundError     there is no index at the path
    │   ├── ArtifactFormatError       corrupt, incomplete or of an unsupported version
    │   └── EncoderMismatchError      built with another encoder or dimension
    ├── QueryError                the request itself is wrong (HTTP 422)
    │   ├── InvalidQueryError         empty, blank or too long a query; limit out of range
    │   └── InvalidFilterError        a filter names an unknown department or type
    └── NotFoundError             an id that the index does not hold (HTTP 404)
        ├── UnknownResourceError
        └── UnknownPersonError
"""

from __future__ import annotations


class WhoknowsError(Exception):
    """Base class of every error whoknows raises on purpose."""


class ConfigurationError(WhoknowsError, ValueError):
    """A parameter or setting has a value whoknows cannot work with."""


class EncoderLoadError(WhoknowsError):
    """The sentence-transformers model folder is missing, incomplete or unreadable."""


class ArtifactError(WhoknowsError):
    """An index directory cannot be loaded or written."""


class ArtifactNotFoundError(ArtifactError, FileNotFoundError):
    """There is no index (no manifest.json) at the given path."""


class ArtifactFormatError(ArtifactError):
    """The index directory is corrupt, incomplete or of an unsupported format version."""


class EncoderMismatchError(ArtifactError):
    """The index was built with another encoder, or vectors of another dimension."""


class QueryError(WhoknowsError, ValueError):
    """The caller's request is invalid; the message says what to change.

    Attributes:
        field: the request field at fault (e.g. ``"query"``, ``"filters.types"``).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidQueryError(QueryError):
    """The query text or a limit is unusable: empty, blank, too long, out of range."""


class InvalidFilterError(QueryError):
    """A filter names a department or resource type that the index does not hold."""


class NotFoundError(WhoknowsError, LookupError):
    """An id that the index does not hold."""


class UnknownResourceError(NotFoundError):
    """No resource with this id."""


class UnknownPersonError(NotFoundError):
    """No person with this id."""
