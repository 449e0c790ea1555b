"""Documents from a folder of Markdown, plain text, HTML and PDF files.

Markdown, text and HTML files may start with YAML front matter between ``---``
lines; a PDF may have a sidecar ``<name>.pdf.yaml``. Recognised fields: id,
title, authors, department, type, tags, url, created, allowed_groups. Without an
``id`` a file's id is its path from the folder's parent, e.g. ``wiki/setup.md``.

A file is read no further than the size limits allow (pipelines.ingest.limits),
a file without text is refused as empty, and pypdf's warnings about a damaged
PDF are kept for the report rather than printed.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from markdown_it import MarkdownIt

from models.arrays import Progress
from pipelines.ingest.limits import Limits
from pipelines.ingest.records import DOCUMENT_FIELDS, RecordError

MARKDOWN = frozenset({".md", ".markdown"})
TEXT = frozenset({".txt", ".text"})
HTML = frozenset({".html", ".htm"})
PDF = frozenset({".pdf"})
SUPPORTED = MARKDOWN | TEXT | HTML | PDF
FRONT_MATTER_FIELDS = DOCUMENT_FIELDS - {"text", "contributions", "source"}

_BLANK_LINES = re.compile(r"\n\s*\n\s*")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_markdown = MarkdownIt("commonmark")


def find_files(root: Path) -> tuple[list[Path], dict[str, int]]:
    """Supported files under a folder, sorted, and counts of unsupported suffixes.

    Hidden files and folders (names starting with a dot) and sidecar YAML files
    are left out.
    """
    found: list[Path] = []
    ignored: dict[str, int] = {}
    for path in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(root).parts) or not path.is_file():
            continue
        suffix = path.suffix.lower()
        if suffix in SUPPORTED:
            found.append(path)
        elif suffix not in {".yaml", ".yml"}:
            key = suffix or "(no suffix)"
            ignored[key] = ignored.get(key, 0) + 1
    return found, ignored


class FileRecord(NamedTuple):
    """The raw record of one file, and what was noticed while reading it.

    Attributes:
        record: the raw fields: front matter (or a PDF's sidecar), title and text.
        unknown: names of front-matter fields that are not used.
        notes: (kind, message) warnings for the report: pypdf's complaints about a
            damaged PDF, a text cut to the size limit.
    """

    record: dict[str, Any]
    unknown: list[str]
    notes: list[tuple[str, str]]


def read_file(path: Path, default_id: str, limits: Limits | None = None) -> FileRecord:
    """The raw record of one file, read no further than the size limits allow.

    Raises:
        RecordError: the file cannot be read or parsed, has no text, or is over the
            size limit (unless ``limits`` say to truncate it).
    """
    limits = limits or Limits()
    notes: list[tuple[str, str]] = []
    suffix = path.suffix.lower()
    if suffix in PDF:
        meta, text, title = _read_pdf(path, limits, notes)
    else:
        source = _read_text(path, limits, notes)
        if not source.strip():
            what = "is empty (0 bytes)" if not source else "holds only whitespace"
            raise RecordError("empty", f"the file {what}: there is nothing to index", "text")
        meta, body = split_front_matter(source)
        if suffix in MARKDOWN:
            text, title = _markdown_text(body)
        elif suffix in HTML:
            text, title = _html_text(body)
        else:
            text, title = _clean(body), None
        if not text:
            raise RecordError(
                "empty",
                "the file has no text besides its front matter and markup: there is "
                "nothing to index",
                "text",
            )
    unknown = sorted(set(meta) - FRONT_MATTER_FIELDS)
    record = {k: v for k, v in meta.items() if k in FRONT_MATTER_FIELDS}
    record.setdefault("id", default_id)
    record.setdefault("title", title or _title_from_name(path))
    record["text"] = text
    return FileRecord(record, unknown, notes)


def split_front_matter(source: str) -> tuple[dict[str, Any], str]:
    """Split ``---``-fenced YAML front matter from the body.

    Raises:
        RecordError: the front matter is unterminated, invalid YAML, or not a mapping.
    """
    lines = source.split("\n")
    if not lines or lines[0].rstrip() != "---":
        return {}, source
    for end in range(1, len(lines)):
        if lines[end].rstrip() in ("---", "..."):
            break
    else:
        raise RecordError(
            "invalid front matter",
            "the front matter opened by --- on line 1 is never closed; end it with a --- line",
            "front matter",
        )
    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except RecursionError:
        raise RecordError(
            "invalid front matter", "the front matter is nested too deeply", "front matter"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" on line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise RecordError(
            "invalid front matter",
            f"front matter is not valid YAML{where}: {problem}",
            "front matter",
        ) from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise RecordError(
            "invalid front matter", "front matter must be a mapping of field: value", "front matter"
        )
    return {str(k): v for k, v in meta.items()}, "\n".join(lines[end + 1 :])


def iter_folder(
    root: Path, files: list[Path], progress: Progress | None = None
) -> Iterator[tuple[Path, str]]:
    """Each file with its default id, reporting progress as it goes.

    The id is the path from the folder's parent, whatever the folder was called
    on the command line (``.``, ``../wiki`` or an absolute path give the same ids).
    """
    base = root.resolve().parent
    for done, path in enumerate(files, start=1):
        yield path, path.resolve().relative_to(base).as_posix()
        if progress is not None:
            progress(str(root), done, len(files))


def _read_text(
    path: Path, limits: Limits | None = None, notes: list[tuple[str, str]] | None = None
) -> str:
    """A UTF-8 file's text; past ``limits.max_chars`` characters the file is not read."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            # A character takes 1 to 4 bytes (a BOM 3, and CR LF 2 for one): a file of
            # at most `limit` bytes fits whole, and one of more than 4 * limit + 3 cannot fit.
            if limits is None or size <= limits.max_chars:
                raw, whole = handle.read(), True
            elif size > 4 * limits.max_chars + 3 and not limits.truncate:
                raise limits.too_many_chars(_too_many(size, limits.max_chars))
            else:
                raw = handle.read(4 * limits.max_chars + 4)
                whole = not handle.read(1)
    except OSError as exc:
        raise RecordError("unreadable file", f"cannot read the file: {exc.strerror}") from None
    try:
        # Where the file is read in part, its last bytes may be half a character.
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(raw, final=whole)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise RecordError(
            "invalid UTF-8",
            f"invalid UTF-8 on line {line} (byte {exc.start}); save the file as UTF-8",
        ) from None
    text = text.replace("\r\n", "\n")
    if limits is None or len(text) <= limits.max_chars:
        return text
    what = _too_many(size, limits.max_chars)
    if not limits.truncate:
        raise limits.too_many_chars(what)
    if notes is not None:
        notes.append(("truncated", limits.cut_note(what)))
    return text[: limits.max_chars]


def _too_many(size: int, limit: int) -> str:
    return (
        f"the file ({size:,} bytes) has more characters than ingest.max_document_chars ({limit:,})"
    )


def _read_pdf(
    path: Path, limits: Limits, notes: list[tuple[str, str]]
) -> tuple[dict[str, Any], str, str | None]:
    from pypdf import PdfReader

    meta: dict[str, Any] = {}
    for sidecar in (path.with_name(path.name + ".yaml"), path.with_name(path.name + ".yml")):
        if sidecar.is_file():
            meta = _read_sidecar(sidecar)
            break
    pages: list[str] = []
    cut = False
    with _pdf_complaints() as complaints:
        try:
            with path.open("rb") as handle:  # read as needed, not into memory at once
                reader = PdfReader(handle)
                if reader.is_encrypted and not reader.decrypt(""):
                    raise RecordError(
                        "broken PDF", "the PDF is encrypted; save an unencrypted copy"
                    )
                count, chars = len(reader.pages), 0
                for number, page in enumerate(reader.pages, start=1):
                    pages.append(page.extract_text() or "")
                    chars += len(pages[-1])
                    if chars > limits.max_chars:
                        what = (
                            "the PDF's text passes ingest.max_document_chars "
                            f"({limits.max_chars:,}) on page {number} of {count}"
                        )
                        if not limits.truncate:
                            raise limits.too_many_chars(what)
                        notes.append(("truncated", limits.cut_note(what)))
                        cut = True
                        break
                info = reader.metadata
                title = str(info.title).strip() if info is not None and info.title else None
        except RecordError:
            raise
        except OSError as exc:
            raise RecordError("unreadable file", f"cannot read the file: {exc.strerror}") from None
        except Exception as exc:  # pypdf raises many types on damaged files
            raise RecordError("broken PDF", f"cannot read the PDF: {exc}") from None
    notes.extend(("PDF warning", f"pypdf: {message}") for message in complaints)
    text = _clean("\n\n".join(pages))
    if cut:
        text = text[: limits.max_chars]
    if not text:
        raise RecordError(
            "empty",
            "the PDF has no text layer (a scan?); run OCR on it first, "
            "or add its text as a .txt file",
        )
    return meta, text, title


class _Collect(logging.Handler):
    """Keeps the messages of the records it is given."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _pdf_complaints() -> Iterator[list[str]]:
    """pypdf's warnings (logged, or issued with warnings.warn), each once, for the report.

    They describe one file, so they belong in its report entry, not on stderr.
    """
    logger = logging.getLogger("pypdf")
    handler, propagate = _Collect(), logger.propagate
    complaints: list[str] = []
    logger.addHandler(handler)
    logger.propagate = False
    with warnings.catch_warnings(record=True) as issued:
        warnings.simplefilter("always")
        try:
            yield complaints
        finally:
            logger.removeHandler(handler)
            logger.propagate = propagate
            messages = handler.messages + [str(w.message) for w in issued]
            complaints.extend(dict.fromkeys(m.strip() for m in messages if m.strip()))


def _read_sidecar(path: Path) -> dict[str, Any]:
    """The metadata of a PDF's ``<name>.pdf.yaml`` (a leading ``---`` is allowed)."""
    source = _read_text(path)
    try:
        documents = [d for d in yaml.safe_load_all(source) if d is not None]
    except RecursionError:
        raise RecordError(
            "invalid front matter", f"{path.name} is nested too deeply", "front matter"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" on line {mark.line + 1}" if mark is not None else ""
        raise RecordError(
            "invalid front matter", f"{path.name} is not valid YAML{where}", "front matter"
        ) from None
    if len(documents) > 1 or (documents and not isinstance(documents[0], dict)):
        raise RecordError(
            "invalid front matter",
            f"{path.name} must hold one mapping of field: value",
            "front matter",
        )
    return {str(k): v for k, v in (documents[0] if documents else {}).items()}


def _markdown_text(body: str) -> tuple[str, str | None]:
    heading = re.search(r"^#\s+(.+?)\s*#*\s*$", body, flags=re.MULTILINE)
    text, _ = _html_text(_markdown.render(body))
    return text, heading.group(1).strip() if heading else None


def _html_text(html: str) -> tuple[str, str | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "nav"]):
        tag.decompose()
    title_tag = soup.find("title") or soup.find("h1")
    title = title_tag.get_text(" ", strip=True) if title_tag else None
    if soup.title is not None:
        soup.title.decompose()
    return _clean(soup.get_text("\n")), title or None


def _clean(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize()
