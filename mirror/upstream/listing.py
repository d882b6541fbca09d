"""Parse an upstream project page (PEP 691 JSON or PEP 503 HTML) into checked records.

Upstream data is hostile until checked: every field is type-checked and bounded, filenames must
belong to the project, URLs must be http(s), and hashes must be sha256 hex. Entries that fail
are dropped with a reason (``Listing.skipped``), never half-trusted.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from mirror.errors import UpstreamError
from mirror.names import version_from_filename
from mirror.simple_api import JSON_TYPE
from mirror.timeutil import parse_timestamp

# Part of the digest a project keeps of its upstream page (``client.Page.digest``), so the same
# bytes are parsed again by a mirror whose parsing changed: raise it with any such change.
PARSER_VERSION = 1
MAX_FILES = 200_000
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_MAX_TEXT = 1000
# The longest version the state database stores (files.version); longer ones are hostile.
MAX_VERSION = 100
_MAX_REQUIRES_PYTHON = 500


@dataclass(frozen=True, slots=True)
class UpstreamFile:
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


def parse_page(project: str, body: bytes, content_type: str, page_url: str) -> Listing:
    """Parse a project page; the format follows the response's Content-Type (PEP 691)."""
    if content_type.split(";")[0].strip().lower() in (JSON_TYPE, "application/json"):
        entries = _json_entries(body)
    else:
        entries = _html_entries(body)
    listing = Listing()
    for entry in entries[:MAX_FILES]:
        try:
            listing.files.append(_checked(project, entry, page_url))
        except ValueError as exc:
            listing.skipped.append(str(exc))
    return listing


def _json_entries(body: bytes) -> list[dict[str, Any]]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise UpstreamError(f"upstream page is not valid JSON: {exc}") from exc
    files = document.get("files") if isinstance(document, dict) else None
    if not isinstance(files, list):
        raise UpstreamError("upstream JSON page has no files list")
    return [entry for entry in files if isinstance(entry, dict)]


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.entries: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a" and len(self.entries) < MAX_FILES:
            self._current = dict(attrs)
            self._current["_text"] = ""

    def handle_data(self, data: str) -> None:
        if self._current is not None and len(self._current["_text"]) < 512:
            self._current["_text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current is not None:
            self.entries.append(_html_to_json_entry(self._current))
            self._current = None


def _html_entries(body: bytes) -> list[dict[str, Any]]:
    parser = _AnchorParser()
    parser.feed(body.decode("utf-8", errors="replace"))
    parser.close()
    return parser.entries


def _html_to_json_entry(attrs: dict[str, Any]) -> dict[str, Any]:
    """Map PEP 503 anchor attributes onto the PEP 691 field names."""
    href = attrs.get("href") or ""
    url, fragment = urldefrag(href)
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


def _checked(project: str, entry: dict[str, Any], page_url: str) -> UpstreamFile:
    filename = _text(entry.get("filename"), "filename")
    version = version_from_filename(project, filename)
    if version is None:
        raise ValueError(f"{filename[:100]!r}: not a distribution of {project}")
    if len(version) > MAX_VERSION:
        raise ValueError(f"{filename[:100]!r}: version longer than {MAX_VERSION} characters")
    hashes = entry.get("hashes")
    sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
    if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256.lower()):
        raise ValueError(f"{filename}: no valid sha256 hash")
    yanked = entry.get("yanked", False)
    return UpstreamFile(
        filename=filename,
        version=version,
        url=_url(entry.get("url"), page_url, filename),
        sha256=sha256.lower(),
        size=_size(entry.get("size"), filename),
        upload_time=_upload_time(entry.get("upload-time"), filename),
        requires_python=_requires_python(entry.get("requires-python"), filename),
        yanked=bool(yanked),
        yanked_reason=_optional_text(yanked) if isinstance(yanked, str) else None,
        metadata_sha256=_metadata_hash(entry),
        provenance_url=_provenance(entry.get("provenance"), page_url),
    )


def _text(value: Any, what: str) -> str:
    # NUL never belongs in these fields, and PostgreSQL refuses it in text columns.
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT or "\x00" in value:
        raise ValueError(f"invalid {what}")
    return value


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
    text = _text(value, f"url of {filename}")
    # Plain absolute http(s) links, the usual case, need neither joining (urljoin would return
    # them as they are) nor splitting: only brackets or non-ASCII make urlsplit refuse one.
    if (
        text.startswith(("https://", "http://"))
        and text.isascii()
        and "[" not in text
        and "]" not in text
    ):
        return text.partition("#")[0]
    try:
        url = urljoin(page_url, text)
        scheme = urlsplit(url).scheme
    except ValueError as exc:
        raise ValueError(f"{filename}: invalid file URL") from exc
    if scheme not in ("http", "https"):
        raise ValueError(f"{filename}: file URL is not http(s)")
    return url.partition("#")[0]


def _size(value: Any, filename: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{filename}: invalid size")
    return value


def _upload_time(value: Any, filename: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(_text(value, "upload-time"))
    except ValueError as exc:
        raise ValueError(f"{filename}: invalid upload-time") from exc


def _metadata_hash(entry: dict[str, Any]) -> str | None:
    # PEP 714 renamed the key; `true` without a hash cannot be verified, so it counts as absent
    # and the mirror extracts the metadata from the wheel itself.
    value = entry.get("core-metadata", entry.get("data-dist-info-metadata"))
    digest = value.get("sha256") if isinstance(value, dict) else None
    return (
        digest.lower() if isinstance(digest, str) and _SHA256_RE.fullmatch(digest.lower()) else None
    )


def _provenance(value: Any, page_url: str) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    url = urljoin(page_url, value[:_MAX_TEXT])
    return url if urlsplit(url).scheme in ("http", "https") else None
