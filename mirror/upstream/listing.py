"""Parse an upstream project page (PEP 691 JSON or PEP 503 HTML) into checked records.

Upstream data is hostile until checked: every field is type-checked and bounded, filenames must
belong to the project (and be listed once), URLs must be http(s), hashes must be sha256 hex and
upload times must fall in a sane window. Entries that fail are dropped with a reason
(``Listing.skipped``), never half-trusted: each costs only itself. The project's status marker
(PEP 792) is read the same way: one that is not a known marker counts as unsaid (``active``),
with a note in ``skipped``, and its reason is bounded text.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any, NamedTuple, TypeGuard
from urllib.parse import urljoin, urlsplit

from mirror.errors import UpstreamError
from mirror.names import version_from_filename
from mirror.simple_api import ACTIVE, JSON_TYPE, STATUSES, ProjectStatus
from mirror.timeutil import parse_utc

# Part of the digest a project keeps of its upstream page (``client.Page.digest``), so the same
# bytes are parsed again by a mirror whose parsing changed: raise it with any such change.
PARSER_VERSION = 4
MAX_FILES = 200_000
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_is_sha256 = _SHA256_RE.fullmatch
_MAX_TEXT = 1000
# The longest version the state database stores (files.version); longer ones are hostile.
MAX_VERSION = 100
_MAX_REQUIRES_PYTHON = 500
# The largest size the state database stores (files.size, a signed 64-bit integer); larger
# ones are hostile, and would fail the write that gives the file its row (a first look, or a
# block of a history file) instead of costing only the entry.
MAX_SIZE = 2**63 - 1
# Upload times outside this window are hostile or broken: nothing was uploaded to a Python
# package index before 2005, and a time in the future would shorten no quarantine but makes
# date arithmetic overflow (year 9999 plus a quarantine). A day of slack for clock skew.
EARLIEST_UPLOAD = datetime(2005, 1, 1, tzinfo=UTC)
UPLOAD_CLOCK_SKEW = timedelta(days=1)


# A NamedTuple, not a frozen dataclass: as immutable, and made three times faster, which counts
# for a page of thousands of files.
class UpstreamFile(NamedTuple):
    filename: str
    version: str
    url: str
    sha256: str
    size: int | None
    upload_time: datetime | None
    requires_python: str | None
    yanked: bool
    yanked_reason: str | None
    metadata_sha256: str | None
    provenance_url: str | None


@dataclass
class Listing:
    files: list[UpstreamFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    status: ProjectStatus = ACTIVE


def parse_page(
    project: str, body: bytes, content_type: str, page_url: str, now: datetime
) -> Listing:
    """Parse a project page; the format follows the response's Content-Type (PEP 691).

    ``now`` bounds the upload times accepted (the injected clock's, so drills shifting it agree).
    A filename listed twice keeps its first valid entry: the files are keyed by name.
    """
    # Only JSON escapes (\ud800) give text that is no UTF-8: HTML decoding replaces it.
    surrogates = False
    if content_type.split(";")[0].strip().lower() in (JSON_TYPE, "application/json"):
        entries, marker, reason = _json_entries(body)
        surrogates = _SURROGATE_ESCAPE.search(body) is not None
    else:
        entries, marker, reason = _html_entries(body)
    listing = Listing()
    _read_status(listing, marker, reason if not surrogates or _is_utf8(reason) else None)
    seen: set[str] = set()
    latest_upload = now + UPLOAD_CLOCK_SKEW
    for entry in entries[:MAX_FILES]:
        try:
            if surrogates and not _is_utf8(entry):
                raise ValueError(f"{str(entry.get('filename'))[:100]!r}: not UTF-8 text")
            checked = _checked(project, entry, page_url, latest_upload)
        except ValueError as exc:
            listing.skipped.append(str(exc))
            continue
        if checked.filename in seen:
            listing.skipped.append(f"{checked.filename}: listed more than once")
            continue
        seen.add(checked.filename)
        listing.files.append(checked)
    return listing


# A JSON escape of a lone surrogate: it decodes to text that no page, database or log can
# encode, so the entry holding it is skipped (the rest of the page is not).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _is_utf8(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


# A page's file entries, its status marker and the marker's reason, each as the page gave it.
_Entries = tuple[list[dict[str, Any]], Any, Any]


def _json_entries(body: bytes) -> _Entries:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise UpstreamError(f"upstream page is not valid JSON: {exc}") from exc
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, list):
        raise UpstreamError("upstream JSON page has no files list")
    status = document.get("project-status")
    marker, reason = (
        (status.get("status"), status.get("reason")) if isinstance(status, dict) else (None, None)
    )
    return [entry for entry in files if isinstance(entry, dict)], marker, reason


def _read_status(listing: Listing, marker: Any, reason: Any) -> None:
    """Set ``listing.status`` from the page's marker; an unknown one is noted and unsaid."""
    if marker is None:
        return
    known = STATUSES.get(marker.strip().lower()) if isinstance(marker, str) else None
    if known is None:
        listing.skipped.append(f"project-status {str(marker)[:40]!r}: not a known status marker")
        return
    listing.status = ProjectStatus(known, _optional_text(reason))


# PEP 792's meta tags on an HTML project page.
STATUS_META = "pypi:project-status"
STATUS_REASON_META = "pypi:project-status-reason"
_STATUS_META = (STATUS_META, STATUS_REASON_META)


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.entries: list[dict[str, Any]] = []
        self.meta: dict[str, str | None] = {}
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a" and len(self.entries) < MAX_FILES:
            self._current = dict(attrs)
            self._current["_text"] = ""
        elif tag == "meta":
            named = dict(attrs)
            name = named.get("name")
            # The first of a repeated meta tag stands, as the first of a repeated file does.
            if name in _STATUS_META and name not in self.meta:
                self.meta[name] = named.get("content")

    def handle_data(self, data: str) -> None:
        if self._current is not None and len(self._current["_text"]) < 512:
            self._current["_text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current is not None:
            self.entries.append(_html_to_json_entry(self._current))
            self._current = None


def _html_entries(body: bytes) -> _Entries:
    parser = _AnchorParser()
    parser.feed(body.decode("utf-8", errors="replace"))
    parser.close()
    return parser.entries, parser.meta.get(STATUS_META), parser.meta.get(STATUS_REASON_META)


def _html_to_json_entry(attrs: dict[str, Any]) -> dict[str, Any]:
    """Map PEP 503 anchor attributes onto the PEP 691 field names."""
    # Split by hand: urldefrag parses the whole URL and raises on hostile ones (a lone "["),
    # which would cost the whole page instead of this entry.
    url, _, fragment = (attrs.get("href") or "").partition("#")
    hashes = dict([fragment.split("=", 1)]) if "=" in fragment else {}
    yanked = attrs.get("data-yanked")
    metadata = attrs.get("data-core-metadata") or attrs.get("data-dist-info-metadata")
    return {
        "filename": attrs["_text"].strip() or url.rsplit("/", 1)[-1],
        "url": url,
        "hashes": hashes,
        "requires-python": attrs.get("data-requires-python"),
        "yanked": (yanked or True) if yanked is not None else False,
        "core-metadata": dict([metadata.split("=", 1)]) if metadata and "=" in metadata else None,
        "provenance": attrs.get("data-provenance"),
    }


def _checked(
    project: str, entry: dict[str, Any], page_url: str, latest_upload: datetime
) -> UpstreamFile:
    filename = entry.get("filename")
    if not _is_text(filename):
        raise ValueError("invalid filename")
    version = version_from_filename(project, filename)
    if version is None:
        raise ValueError(f"{filename[:100]!r}: not a distribution of {project}")
    if len(version) > MAX_VERSION:
        raise ValueError(f"{filename[:100]!r}: version longer than {MAX_VERSION} characters")
    hashes = entry.get("hashes")
    sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
    if not isinstance(sha256, str) or not _is_sha256(sha256 := sha256.lower()):
        raise ValueError(f"{filename}: no valid sha256 hash")
    # Most fields of most entries are absent or null: those skip their check, which would
    # answer None for them anyway.
    size = entry.get("size")
    upload_time = entry.get("upload-time")
    requires_python = entry.get("requires-python")
    yanked = entry.get("yanked", False)
    metadata = entry.get("core-metadata", entry.get("data-dist-info-metadata"))
    provenance = entry.get("provenance")
    # _make takes the fields as one tuple: the keyword-ready constructor costs a third more.
    return UpstreamFile._make(
        (
            filename,
            version,
            _url(entry.get("url"), page_url, filename),
            sha256,
            None if size is None else _size(size, filename),
            None if upload_time is None else _upload_time(upload_time, filename, latest_upload),
            None if requires_python is None else _requires_python(requires_python, filename),
            bool(yanked),
            _optional_text(yanked) if isinstance(yanked, str) else None,
            _metadata_hash(metadata) if metadata else None,
            _provenance(provenance, page_url) if provenance else None,
        )
    )


def _is_text(value: Any) -> TypeGuard[str]:
    # NUL never belongs in these fields, and PostgreSQL refuses it in text columns.
    return isinstance(value, str) and 0 < len(value) <= _MAX_TEXT and "\x00" not in value


def _optional_text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value[:_MAX_TEXT].replace("\x00", "")


def _requires_python(value: Any, filename: str) -> str | None:
    text = _optional_text(value)
    if text is not None and len(text) > _MAX_REQUIRES_PYTHON:
        # Cutting a specifier short would change its meaning: drop the entry instead.
        raise ValueError(f"{filename}: requires-python longer than {_MAX_REQUIRES_PYTHON}")
    return text


def _url(value: Any, page_url: str, filename: str) -> str:
    if not _is_text(value):  # the message is made only for a bad one
        raise ValueError(f"invalid url of {filename}")
    # Plain absolute http(s) links, the usual case, need neither joining (urljoin would return
    # them as they are) nor splitting: only brackets or non-ASCII make urlsplit refuse one.
    if (
        value.startswith(("https://", "http://"))
        and value.isascii()
        and "[" not in value
        and "]" not in value
    ):
        return value.partition("#")[0]
    try:
        url = urljoin(page_url, value)
        scheme = urlsplit(url).scheme
    except ValueError as exc:
        raise ValueError(f"{filename}: invalid file URL") from exc
    if scheme not in ("http", "https"):
        raise ValueError(f"{filename}: file URL is not http(s)")
    return url.partition("#")[0]


def _size(value: Any, filename: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SIZE:
        raise ValueError(f"{filename}: invalid size")
    return value


def _upload_time(value: Any, filename: str, latest: datetime) -> datetime:
    try:
        # In UTC at once: an offset at either end of the calendar overflows on conversion.
        moment = parse_utc(value) if _is_text(value) else None
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise ValueError(f"{filename}: invalid upload-time")
    if not EARLIEST_UPLOAD <= moment <= latest:
        raise ValueError(f"{filename}: upload-time {value[:40]!r} outside the plausible window")
    return moment


def _metadata_hash(value: Any) -> str | None:
    """The digest of an entry's core-metadata (PEP 714 renamed its key, so either key's)."""
    # `true` without a hash cannot be verified, so it counts as absent and the mirror extracts
    # the metadata from the wheel itself.
    digest = value.get("sha256") if isinstance(value, dict) else None
    return digest.lower() if isinstance(digest, str) and _is_sha256(digest.lower()) else None


def _provenance(value: Any, page_url: str) -> str | None:
    # NUL as for the file's URL: PostgreSQL refuses it in the row a file gets (at the first
    # look, or later for a history file), so keeping it would cost more than this entry. An
    # over-long one is not cut short: its first characters would be a URL upstream never named.
    if not _is_text(value):
        return None
    try:
        url = urljoin(page_url, value)
        scheme = urlsplit(url).scheme
    except ValueError:  # brackets or characters urlsplit refuses: no provenance, not no file
        return None
    return url if scheme in ("http", "https") else None
