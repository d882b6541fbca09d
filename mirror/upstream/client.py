"""HTTP to the upstream index: project pages with conditional requests, and verified downloads.

Every request has a timeout and a bounded number of retries; bodies are read in chunks with a
size cap, so a hostile or broken upstream can cost time but not memory.
"""

import contextlib
import functools
import hashlib
import logging
import os
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin

import urllib3
from urllib3.exceptions import HTTPError
from urllib3.util import Retry, Timeout
from urllib3.util.ssl_ import create_urllib3_context

from mirror.bounded import bounded_chunks
from mirror.errors import DigestMismatchError, UpstreamError
from mirror.simple_api import JSON_TYPE
from mirror.upstream import listing
from mirror.upstream.credentials import Credentials
from mirror.upstream.netpolicy import CheckedPoolManager, Destinations, RefusedDestinationError

log = logging.getLogger(__name__)

PAGE_ACCEPT = f"{JSON_TYPE}, application/json;q=0.9, text/html;q=0.1"
_CHUNK = 1 << 20
USER_AGENT = "signed-mirror/0.1"


@dataclass(frozen=True)
class Page:
    body: bytes
    content_type: str
    url: str
    etag: str | None
    last_modified: str | None

    @functools.cached_property
    def digest(self) -> str:
        """sha256 of what the listing is read from: the body, its type, the URL its relative
        links resolve against, and the version of the parser that reads them."""
        head = f"{listing.PARSER_VERSION}\n{self.url}\n{self.content_type}\n"
        digest = hashlib.sha256(head.encode())
        digest.update(self.body)
        return digest.hexdigest()

    def validators(self) -> dict[str, str | None]:
        """What the project's row keeps to ask for this page again: its ETag and
        Last-Modified for a conditional request, and its digest for an upstream that sends
        neither (an unchanged page is then recognised by its bytes, not parsed again)."""
        return {"etag": self.etag, "last_modified": self.last_modified, "page_sha256": self.digest}


class ProjectNotFoundError(UpstreamError):
    """The upstream answered 404 for the project."""


class ResponseTooLargeError(UpstreamError):
    """The upstream sent (or announced) more bytes than the caller accepts."""


class UpstreamClient:
    """One upstream index: its pages, and the files, metadata and provenance they name.

    Each index has a client of its own, so each connects only where its own URL and allowed
    hosts let it (``mirror.upstream.netpolicy``) and sends its credentials to itself only.
    """

    def __init__(
        self,
        simple_url: str,
        *,
        timeout: float,
        retries: int,
        max_page_bytes: int,
        max_file_bytes: int,
        allowed_hosts: Sequence[str] = (),
        name: str = "default",
        credentials: Credentials | None = None,
    ) -> None:
        self.name = name
        self.simple_url = simple_url if simple_url.endswith("/") else simple_url + "/"
        self._credentials = credentials
        self.max_page_bytes = max_page_bytes
        self.max_file_bytes = max_file_bytes
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            backoff_factor=0.2,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods={"GET"},
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        self._http = CheckedPoolManager(
            Destinations(self.simple_url, allowed_hosts),
            num_pools=8,
            maxsize=16,
            retries=retry,
            timeout=Timeout(connect=min(timeout, 10.0), read=timeout),
            headers={"User-Agent": USER_AGENT},
            ssl_context=_tls_context(),
        )

    def project_url(self, project: str) -> str:
        return urljoin(self.simple_url, f"{project}/")

    def fetch_page(
        self, project: str, etag: str | None = None, last_modified: str | None = None
    ) -> Page | None:
        """The project's page, or None when it is unchanged since ``etag``/``last_modified``.

        Raises:
            ProjectNotFoundError: upstream has no such project.
            UpstreamError: upstream failed, timed out, or sent too much.
        """
        headers = {"Accept": PAGE_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        url = self.project_url(project)
        with self._get(url, headers) as response:
            if response.status == 304:
                return None
            if response.status == 404:
                raise ProjectNotFoundError(f"upstream has no project {project!r}")
            _check_status(response, url)
            body = _read_bounded(response, self.max_page_bytes, url)
            return Page(
                body=body,
                content_type=response.headers.get("Content-Type", ""),
                # urllib3 reports only the path of the final URL; file links resolve against it.
                url=urljoin(url, response.geturl() or ""),
                etag=_validator(response.headers.get("ETag"), 500),
                last_modified=_validator(response.headers.get("Last-Modified"), 100),
            )

    def fetch_small(self, url: str, max_bytes: int, accept: str = "*/*") -> bytes | None:
        """A small document (provenance, metadata); None on 404."""
        with self._get(url, {"Accept": accept}) as response:
            if response.status == 404:
                return None
            _check_status(response, url)
            return _read_bounded(response, max_bytes, url)

    def fetch_range(self, url: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``url`` from offset ``start`` (an HTTP range request).

        Raises:
            UpstreamError: upstream failed, or answered with other bytes than those asked for
                (no range support: a whole file is never read here).
        """
        end = start + length - 1
        with self._get(url, {"Range": f"bytes={start}-{end}"}) as response:
            if response.status != 206:
                raise UpstreamError(f"upstream answered {response.status} to a range of {url}")
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {start}-{end}/"):
                raise UpstreamError(f"upstream sent another range of {url}: {content_range!r}")
            return _read_bounded(response, length, url)

    def download(self, url: str, sha256: str, size: int | None, staging: Path) -> Path:
        """Stream ``url`` into a temporary file under ``staging`` and verify it.

        The file is returned only when its length and sha256 match what upstream advertised;
        otherwise it is deleted, so nothing unverified survives.

        Raises:
            DigestMismatchError: the bytes do not match the advertised digest or size.
            UpstreamError: the download failed or was cut off.
        """
        fd, name = tempfile.mkstemp(dir=staging, prefix="dl-", suffix=".part")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out, self._get(url, {}) as response:
                _check_status(response, url)
                digest, length = _copy_hashing(response, out, self.max_file_bytes, url)
                out.flush()
                os.fsync(out.fileno())
            _verify(url, sha256, size, digest, length)
            return path
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def _get(self, url: str, headers: dict[str, str]) -> Iterator[urllib3.BaseHTTPResponse]:
        if self._credentials is not None:
            headers = {**headers, **self._credentials.headers_for(url)}
        try:
            response = self._http.request(
                "GET", url, headers=headers, preload_content=False, redirect=True
            )
        except RefusedDestinationError as exc:
            refused = RefusedDestinationError(f"refused upstream-named URL {url}: {exc}")
            log.warning("%s", refused)
            raise refused from exc
        except HTTPError as exc:
            raise UpstreamError(f"upstream unreachable for {url}: {_reason(exc)}") from exc
        try:
            yield response
        except HTTPError as exc:
            raise UpstreamError(f"upstream transfer failed for {url}: {_reason(exc)}") from exc
        finally:
            response.release_conn()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """urllib3's own TLS defaults and the system's trusted CAs, loaded once per process.

    Without a context urllib3 builds one per connection and loads the CA bundle into it, about
    20 ms of CPU each: a cold install through an HTTPS upstream opens dozens of connections at
    once (every page and file fetched concurrently), and a third of the workers' CPU went there.
    """
    context = create_urllib3_context()
    context.load_default_certs()
    return context


def _check_status(response: urllib3.BaseHTTPResponse, url: str) -> None:
    if response.status != 200:
        raise UpstreamError(f"upstream answered {response.status} for {url}")


def _read_bounded(response: urllib3.BaseHTTPResponse, limit: int, url: str) -> bytes:
    declared = response.headers.get("Content-Length")
    too_large = f"upstream response for {url} is larger than {limit} bytes"
    if declared and declared.isdigit() and int(declared) > limit:
        raise ResponseTooLargeError(too_large)
    chunks = bounded_chunks(
        response.stream(_CHUNK), limit, lambda: ResponseTooLargeError(too_large)
    )
    return b"".join(chunks)


def _copy_hashing(
    response: urllib3.BaseHTTPResponse, out: BinaryIO, limit: int, url: str
) -> tuple[str, int]:
    digest = hashlib.sha256()
    length = 0
    too_large = f"upstream file {url} is larger than {limit} bytes"
    for chunk in bounded_chunks(response.stream(_CHUNK), limit, lambda: UpstreamError(too_large)):
        length += len(chunk)
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest(), length


def _verify(url: str, sha256: str, size: int | None, digest: str, length: int) -> None:
    if size is not None and length != size:
        raise DigestMismatchError(f"size mismatch for {url}: expected {size}, got {length}")
    if digest != sha256:
        raise DigestMismatchError(f"sha256 mismatch for {url}: expected {sha256}, got {digest}")


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc.__class__.__name__)[:200]


def _validator(value: str | None, max_length: int) -> str | None:
    """A cache validator worth keeping: an oversized one is dropped (the page is re-read)."""
    return value if value and len(value) <= max_length else None
