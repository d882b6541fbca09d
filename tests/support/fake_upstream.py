"""A fake upstream package index that tests control, served for real on 127.0.0.1.

It serves the simple API as PEP 503 HTML and PEP 691 JSON (api-version 1.3: PEP 592 yanked,
PEP 658/714 core-metadata, PEP 700 upload-time and versions, PEP 740 provenance), the files and
their ``.metadata``, and the PEP 740 Integrity API. Tests may change its state and inject
faults while it runs; every access to the state takes one lock.

Not done: authentication, uploads, PEP 708 tracks/alternate-locations, HTTPS.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import glob
import hashlib
import html
import json
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import dists

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
INTEGRITY_JSON = "application/vnd.pypi.integrity.v1+json"
API_VERSION = "1.3"

# PEP 691: `latest` aliases answer with the concrete v1 type. text/html comes first so that a
# client accepting anything (`*/*`, a browser) gets HTML, as the public index does.
_SIMPLE_OFFERS = {
    TEXT_HTML: TEXT_HTML,
    SIMPLE_JSON: SIMPLE_JSON,
    "application/vnd.pypi.simple.latest+json": SIMPLE_JSON,
    SIMPLE_HTML: SIMPLE_HTML,
    "application/vnd.pypi.simple.latest+html": SIMPLE_HTML,
}
_INTEGRITY_OFFERS = [INTEGRITY_JSON, "application/json"]
_EPOCH = datetime.fromtimestamp(0, UTC)
_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz")

UploadTime = datetime | Literal["absent", "now"] | None
_FaultKind = Literal["delay", "hang", "respond", "corrupt", "truncate"]


@dataclass(frozen=True)
class FakeFile:
    """One distribution file as the fake index advertises and serves it.

    Frozen, so a page rendered outside the lock is consistent: a change (``yank``, ...)
    replaces the object, and ``get_file`` returns the current one.
    """

    project: str  # normalized name
    filename: str
    version: str
    content: bytes
    # None is sent as JSON null; "absent" leaves the PEP 700 key out entirely.
    upload_time: datetime | Literal["absent"] | None
    yanked: bool | str = False
    requires_python: str | None = None
    metadata: bytes | None = None
    provenance: bytes | None = None
    sha256_override: str | None = None
    size_override: int | None = None

    @property
    def sha256(self) -> str:
        """The sha256 of the bytes actually served."""
        return hashlib.sha256(self.content).hexdigest()

    @property
    def advertised_sha256(self) -> str:
        return self.sha256_override or self.sha256

    @property
    def size(self) -> int:
        return len(self.content) if self.size_override is None else self.size_override


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake upstream received it (for asserting what a client sent)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]


@dataclass
class _Project:
    display_name: str
    files: dict[str, FakeFile]
    modified: datetime
    # PEP 792: the status marker and its reason; None shows none (``active``).
    status: tuple[str, str | None] | None = None


@dataclass
class _Fault:
    kind: _FaultKind
    pattern: str  # fnmatch glob over the request path
    remaining: int | None  # None: every time
    seconds: float = 0.0
    at_bytes: int = 0
    respond: Callable[[], Response] | None = None


@dataclass
class _Page:
    """Everything one simple page shows: the single source for its HTML and JSON forms."""

    title: str
    json_doc: dict[str, Any]
    anchors: list[tuple[str, str, dict[str, str]]]  # (href, text, data-* attributes)
    modified: datetime
    meta: dict[str, str] = field(default_factory=dict)  # further <meta> tags, by name


class _QuietHandler(WSGIRequestHandler):
    # One access-log line per request drowns test output; errors are still logged.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _bump(previous: datetime) -> datetime:
    # HTTP dates have one-second resolution; always moving forward by at least a second
    # keeps If-Modified-Since from answering 304 for a change made in the same second.
    now = datetime.now(UTC).replace(microsecond=0)
    return max(now, previous + timedelta(seconds=1))


def _iso_z(moment: datetime) -> str:
    # PEP 700 upload-time, in the exact form the public index sends.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _checked_time(value: UploadTime) -> datetime | Literal["absent"] | None:
    if value == "now":
        return datetime.now(UTC)
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("upload_time must be timezone-aware")
    return value


def _version_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return filename.split("-")[1]
    for suffix in _SDIST_SUFFIXES:
        if filename.endswith(suffix):
            return filename.removesuffix(suffix).rsplit("-", 1)[1]
    raise ValueError(f"cannot tell the version of {filename!r}; pass version=")


def _replace(entry: _Project, filename: str, **changes: Any) -> None:
    entry.files[filename] = dataclasses.replace(entry.files[filename], **changes)


def _last_segment(filename: str) -> str:
    # A glob for any path ending in this file; request paths are matched percent-decoded.
    return "*/" + glob.escape(filename)


def _corrupted(data: bytes) -> bytes:
    # Same length, one bit flipped in the middle: only a hash check can notice.
    if not data:
        return b"\x00"
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def _json_message(status: int, message: str, content_type: str = "application/json") -> Response:
    return Response(json.dumps({"message": message}), status=status, content_type=content_type)


def _render_html(page: _Page) -> str:
    links = []
    for href, text, attrs in page.anchors:
        extra = "".join(f' {k}="{html.escape(v)}"' for k, v in attrs.items())
        links.append(f'    <a href="{html.escape(href)}"{extra}>{html.escape(text)}</a><br />')
    title = html.escape(page.title)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            "<html>",
            "  <head>",
            f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
            *(f'    <meta name="{k}" content="{html.escape(v)}">' for k, v in page.meta.items()),
            f"    <title>{title}</title>",
            "  </head>",
            "  <body>",
            f"    <h1>{title}</h1>",
            *links,
            "  </body>",
            "</html>",
            "",
        ]
    )


def _oversized_response(n_bytes: int, *, chunked: bool) -> Response:
    head = b"<!DOCTYPE html><html><body>\n"[:n_bytes]

    def body() -> Iterator[bytes]:
        # Streamed so that a page of hundreds of megabytes costs the test no memory.
        yield head
        remaining, chunk = n_bytes - len(head), b" " * 65536
        while remaining > 0:
            yield chunk[:remaining]
            remaining -= len(chunk)

    response = Response(body(), content_type=TEXT_HTML, direct_passthrough=True)
    if not chunked:
        response.headers["Content-Length"] = str(n_bytes)
    return response


class FakeUpstream:
    """A PEP 503/691 index on an ephemeral 127.0.0.1 port, run in a background thread.

    Use as a context manager (or ``start``/``stop``). Files are served under ``files_path``;
    pages link to them by absolute URL on ``files_host_url`` (default: this server), or by a
    URL relative to the page when ``relative_urls`` is set; provenance links name
    ``integrity_host_url`` (default: this server). ``html_only`` imitates an index without
    PEP 691: HTML whatever the client accepts. ``tls`` serves HTTPS with that context.
    """

    def __init__(
        self,
        *,
        html_only: bool = False,
        relative_urls: bool = False,
        files_path: str = "/files",
        files_host_url: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.html_only = html_only
        self.tls = tls
        self.relative_urls = relative_urls
        self.files_host_url = files_host_url
        self.integrity_host_url: str | None = None
        # Integrity API answers 403, as when the public index's admins switch PEP 740 off.
        self.attestations_disabled = False
        self.files_path = "/" + files_path.strip("/")
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._projects: dict[str, _Project] = {}
        self._index_modified = _bump(_EPOCH)
        self._faults: list[_Fault] = []
        self._hits: Counter[str] = Counter()
        self._log: list[RecordedRequest] = []
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        self._server = make_server(
            "127.0.0.1",
            0,
            self._wsgi,
            threaded=True,
            request_handler=_QuietHandler,
            ssl_context=self.tls,
        )
        # A short poll interval keeps stop() (and so every test using this) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"fake-upstream:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent); requests held by ``hang`` or ``delay`` are released.

        An instance serves once: it cannot be started again after ``stop``.
        """
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("fake upstream not started")
        return self._server.server_port

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def simple_url(self) -> str:
        return f"{self.url}/simple/"

    def project_url(self, project: str) -> str:
        return f"{self.simple_url}{dists.normalize(project)}/"

    def file_url(self, project: str, filename: str) -> str:
        base = self.files_host_url or self.url
        return f"{base.rstrip('/')}{self._file_path(project, filename)}"

    def integrity_url(self, project: str, version: str, filename: str) -> str:
        # PEP 740: the JSON `provenance` value is a fully qualified URL.
        project = dists.normalize(project)
        base = (self.integrity_host_url or self.url).rstrip("/")
        return f"{base}/integrity/{project}/{version}/{quote(filename)}/provenance"

    def _file_path(self, project: str, filename: str) -> str:
        return f"{self.files_path}/{dists.normalize(project)}/{quote(filename)}"

    # -- state ----------------------------------------------------------------------------

    def add_file(
        self,
        project: str,
        content: Path | bytes,
        *,
        filename: str | None = None,
        version: str | None = None,
        upload_time: UploadTime = "now",
        yanked: bool | str = False,
        requires_python: str | None = None,
        metadata: bytes | Literal[True] | None = None,
        provenance: bytes | None = None,
        sha256_override: str | None = None,
        size_override: int | None = None,
    ) -> FakeFile:
        """Publish a file (replacing one of the same name) and return it.

        Args:
            content: a path (its name is the default ``filename``) or the bytes.
            version: default parsed from the filename; used by the Integrity API URL.
            upload_time: ``"now"``, an aware datetime, None (JSON null) or ``"absent"``.
            metadata: PEP 658 ``.metadata`` bytes; True extracts them from the wheel.
            sha256_override, size_override: advertise a wrong hash or size.
        """
        if isinstance(content, Path):
            filename = filename or content.name
            if metadata is True:
                metadata = dists.metadata_bytes(content)
            content = content.read_bytes()
        if filename is None:
            raise ValueError("filename is required when content is bytes")
        if metadata is True:
            raise ValueError("metadata=True needs content to be a wheel path")
        fake = FakeFile(
            project=dists.normalize(project),
            filename=filename,
            version=version or _version_of(filename),
            content=content,
            upload_time=_checked_time(upload_time),
            yanked=yanked,
            requires_python=requires_python,
            metadata=metadata,
            provenance=provenance,
            sha256_override=sha256_override,
            size_override=size_override,
        )
        with self._lock:
            entry = self._projects.get(fake.project)
            if entry is None:
                entry = _Project(project, {}, _EPOCH)
                self._projects[fake.project] = entry
                self._index_modified = _bump(self._index_modified)
            entry.files[filename] = fake
            entry.modified = _bump(entry.modified)
        return fake

    def publish_release(
        self,
        project: str,
        version: str,
        *,
        tmpdir: Path,
        upload_time: UploadTime = "now",
        deps: Sequence[str] = (),
        requires_python: str | None = None,
        files: Mapping[str, bytes] | None = None,
        entry_points: Mapping[str, Mapping[str, str]] | None = None,
        pth: Mapping[str, str] | None = None,
        native: bool = False,
        **file_kw: Any,
    ) -> FakeFile:
        """Build a wheel with :func:`dists.build_wheel` and add it, with its metadata.

        ``file_kw`` goes to :meth:`add_file` (yanked, provenance, overrides, ...).
        """
        wheel = dists.build_wheel(
            tmpdir,
            project,
            version,
            requires=deps,
            requires_python=requires_python,
            files=files,
            entry_points=entry_points,
            pth=pth,
            native=native,
        )
        file_kw.setdefault("metadata", True)
        return self.add_file(
            project, wheel, upload_time=upload_time, requires_python=requires_python, **file_kw
        )

    def get_file(self, project: str, filename: str) -> FakeFile:
        with self._lock:
            return self._projects[dists.normalize(project)].files[filename]

    def remove_file(self, project: str, filename: str) -> None:
        self._update(project, filename, lambda entry: entry.files.pop(filename))

    def remove_project(self, project: str) -> None:
        with self._lock:
            del self._projects[dists.normalize(project)]
            self._index_modified = _bump(self._index_modified)

    def yank(self, project: str, filename: str, reason: str | bool = True) -> None:
        """PEP 592 yank; a string is the reason, False un-yanks."""
        self._update(project, filename, lambda entry: _replace(entry, filename, yanked=reason))

    def set_status(self, project: str, status: str | None, reason: str | None = None) -> None:
        """PEP 792 status marker (None: none). A ``quarantined`` project's page lists no file,
        as the marker's meaning requires."""
        with self._lock:
            entry = self._projects[dists.normalize(project)]
            entry.status = None if status is None else (status, reason)
            entry.modified = _bump(entry.modified)

    def set_upload_time(self, project: str, filename: str, upload_time: UploadTime) -> None:
        moment = _checked_time(upload_time)
        self._update(project, filename, lambda entry: _replace(entry, filename, upload_time=moment))

    def _update(self, project: str, filename: str, change: Callable[[_Project], object]) -> None:
        with self._lock:
            entry = self._projects[dists.normalize(project)]
            if filename not in entry.files:
                raise KeyError(filename)
            change(entry)
            entry.modified = _bump(entry.modified)

    # -- faults ---------------------------------------------------------------------------

    def fail(self, status: int = 500, *, path: str = "*", times: int | None = None) -> None:
        """Answer ``status`` to requests whose path matches the glob ``path``."""
        self._add_fault("respond", path, times, respond=lambda: Response("fault", status=status))

    def redirect(
        self, location: str, *, path: str = "*", status: int = 302, times: int | None = None
    ) -> None:
        """Redirect requests whose path matches the glob ``path`` to ``location``."""
        self._add_fault(
            "respond",
            path,
            times,
            respond=lambda: Response(status=status, headers={"Location": location}),
        )

    def delay(self, seconds: float, *, path: str = "*", times: int | None = None) -> None:
        self._add_fault("delay", path, times, seconds=seconds)

    def hang(self, *, path: str = "*", times: int | None = None) -> None:
        """Never answer matching requests until the server stops (client timeouts)."""
        self._add_fault("hang", path, times)

    def truncate(self, filename: str, at_bytes: int, *, times: int | None = None) -> None:
        """Send the full Content-Length but only ``at_bytes`` of the body, then close."""
        self._add_fault("truncate", _last_segment(filename), times, at_bytes=at_bytes)

    def corrupt(self, filename: str, *, times: int | None = None) -> None:
        """Serve bytes that differ from the advertised hash (same length)."""
        self._add_fault("corrupt", _last_segment(filename), times)

    def garbage_page(
        self,
        project: str,
        body: bytes | str,
        *,
        content_type: str = TEXT_HTML,
        times: int | None = None,
    ) -> None:
        """Serve ``body`` verbatim as the project's simple page (hostile or broken content)."""
        self._add_fault(
            "respond",
            f"/simple/{dists.normalize(project)}/",
            times,
            respond=lambda: Response(body, content_type=content_type),
        )

    def oversized_page(
        self, project: str, n_bytes: int, *, chunked: bool = False, times: int | None = None
    ) -> None:
        """Serve an ``n_bytes`` project page; ``chunked`` omits Content-Length."""
        self._add_fault(
            "respond",
            f"/simple/{dists.normalize(project)}/",
            times,
            respond=lambda: _oversized_response(n_bytes, chunked=chunked),
        )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _add_fault(self, kind: _FaultKind, pattern: str, times: int | None, **params: Any) -> None:
        with self._lock:
            self._faults.append(_Fault(kind, pattern, times, **params))

    def _take_fault(self, kind: _FaultKind, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if (
                    fault.kind == kind
                    and fault.remaining != 0
                    and fnmatch.fnmatchcase(path, fault.pattern)
                ):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None

    # -- what tests observe ---------------------------------------------------------------

    @property
    def requests(self) -> Counter[str]:
        """Requests seen so far, by path (a snapshot)."""
        with self._lock:
            return Counter(self._hits)

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits[path]

    @property
    def log(self) -> list[RecordedRequest]:
        """Every request seen so far, in order, with its headers (a snapshot)."""
        with self._lock:
            return list(self._log)

    # -- HTTP -----------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        self._record(request)
        response = self._fault_response(request.path) or self._dispatch(request)
        # The HTTP server sends its own Date; a second one from make_conditional is noise.
        response.headers.pop("Date", None)
        return response(environ, start_response)

    def _record(self, request: Request) -> None:
        recorded = RecordedRequest(
            request.method,
            request.path,
            request.query_string.decode(),
            dict(request.headers.items()),
        )
        with self._lock:
            self._hits[request.path] += 1
            self._log.append(recorded)

    def _fault_response(self, path: str) -> Response | None:
        if delayed := self._take_fault("delay", path):
            self._stopping.wait(delayed.seconds)
        if self._take_fault("hang", path):
            self._stopping.wait()
            return Response("stopped", status=503)
        if (canned := self._take_fault("respond", path)) and canned.respond is not None:
            return canned.respond()
        return None

    def _dispatch(self, request: Request) -> Response:
        parts = request.path.split("/")[1:]  # "/simple/x/" -> ["simple", "x", ""]
        if parts == ["simple"]:
            return self._redirect(request, "/simple/")
        if parts == ["simple", ""]:
            return self._simple(request, self._index_page())
        if len(parts) in (2, 3) and parts[0] == "simple" and parts[1] and parts[2:] in ([], [""]):
            return self._project_page(request, parts[1])
        if len(parts) == 5 and parts[0] == "integrity" and parts[4] == "provenance":
            return self._integrity(request, *parts[1:4])
        files_depth = self.files_path.count("/")
        if request.path.startswith(self.files_path + "/") and len(parts) == files_depth + 2:
            return self._file(request, parts[-2], parts[-1])
        return Response("not found", status=404)

    def _redirect(self, request: Request, location: str) -> Response:
        query = request.query_string.decode()
        target = f"{location}?{query}" if query else location
        return Response(status=301, headers={"Location": target})

    def _project_page(self, request: Request, name: str) -> Response:
        # PEP 503: clients should use the normalized name; a real index redirects the rest.
        normalized = dists.normalize(name)
        if name != normalized or not request.path.endswith("/"):
            return self._redirect(request, f"/simple/{normalized}/")
        page = self._project_snapshot(normalized)
        if page is None:
            return Response("not found", status=404)
        return self._simple(request, page)

    def _negotiate(self, request: Request) -> str | None:
        if self.html_only:
            return TEXT_HTML
        if "format" in request.args:
            return _SIMPLE_OFFERS.get(request.args["format"])
        if "Accept" not in request.headers:
            return TEXT_HTML
        best = request.accept_mimetypes.best_match(list(_SIMPLE_OFFERS))
        return _SIMPLE_OFFERS.get(best) if best else None

    def _simple(self, request: Request, page: _Page) -> Response:
        content_type = self._negotiate(request)
        if content_type is None:
            return Response("not acceptable", status=406)
        if content_type == SIMPLE_JSON:
            body = json.dumps(page.json_doc, sort_keys=True)
        else:
            body = _render_html(page)
        response = Response(body, content_type=content_type)
        response.vary.add("Accept")
        response.last_modified = page.modified
        response.add_etag()
        return response.make_conditional(request)

    def _index_page(self) -> _Page:
        with self._lock:
            names = sorted((key, p.display_name) for key, p in self._projects.items())
            modified = self._index_modified
        return _Page(
            title="Simple index",
            json_doc={
                "meta": {"api-version": API_VERSION},
                "projects": [{"name": d} for _, d in names],
            },
            anchors=[(f"{key}/", display, {}) for key, display in names],
            modified=modified,
        )

    def _project_snapshot(self, project: str) -> _Page | None:
        with self._lock:
            entry = self._projects.get(project)
            if entry is None:
                return None
            files = list(entry.files.values())
            modified = entry.modified
            status = entry.status
        versions = list(dict.fromkeys(f.version for f in files))
        json_doc: dict[str, Any] = {"meta": {"api-version": API_VERSION}, "name": project}
        meta: dict[str, str] = {}
        if status is not None:
            marker, reason = status
            json_doc["project-status"] = {
                "status": marker,
                **({"reason": reason} if reason else {}),
            }
            meta["pypi:project-status"] = marker
            if reason:
                meta["pypi:project-status-reason"] = reason
            if marker == "quarantined":
                files = []
        json_doc.update(versions=versions, files=[self._file_json(f) for f in files])
        return _Page(
            title=f"Links for {project}",
            json_doc=json_doc,
            anchors=[self._file_anchor(f) for f in files],
            modified=modified,
            meta=meta,
        )

    def _page_href(self, fake: FakeFile) -> str:
        if self.relative_urls:
            # Relative to /simple/<project>/, so two levels up reach the site root.
            return "../.." + self._file_path(fake.project, fake.filename)
        return self.file_url(fake.project, fake.filename)

    def _provenance_url(self, fake: FakeFile) -> str | None:
        if fake.provenance is None:
            return None
        return self.integrity_url(fake.project, fake.version, fake.filename)

    def _file_json(self, fake: FakeFile) -> dict[str, Any]:
        core_metadata: dict[str, str] | bool = False
        if fake.metadata is not None:
            core_metadata = {"sha256": hashlib.sha256(fake.metadata).hexdigest()}
        doc: dict[str, Any] = {
            "filename": fake.filename,
            "url": self._page_href(fake),
            "hashes": {"sha256": fake.advertised_sha256},
            "requires-python": fake.requires_python,
            "size": fake.size,
            "yanked": fake.yanked,
            # PEP 714 renamed the key; indexes send both for older clients.
            "core-metadata": core_metadata,
            "data-dist-info-metadata": core_metadata,
            "provenance": self._provenance_url(fake),
        }
        if fake.upload_time != "absent":
            doc["upload-time"] = None if fake.upload_time is None else _iso_z(fake.upload_time)
        return doc

    def _file_anchor(self, fake: FakeFile) -> tuple[str, str, dict[str, str]]:
        attrs: dict[str, str] = {}
        if fake.requires_python is not None:
            attrs["data-requires-python"] = fake.requires_python
        if fake.yanked is not False:
            attrs["data-yanked"] = "" if fake.yanked is True else str(fake.yanked)
        if fake.metadata is not None:
            digest = f"sha256={hashlib.sha256(fake.metadata).hexdigest()}"
            attrs["data-core-metadata"] = attrs["data-dist-info-metadata"] = digest
        if (provenance := self._provenance_url(fake)) is not None:
            attrs["data-provenance"] = provenance
        href = f"{self._page_href(fake)}#sha256={fake.advertised_sha256}"
        return href, fake.filename, attrs

    def _lookup(self, project: str, filename: str) -> FakeFile | None:
        with self._lock:
            entry = self._projects.get(project)
            return entry.files.get(filename) if entry else None

    def _file(self, request: Request, project: str, filename: str) -> Response:
        fake = self._lookup(project, filename)
        if fake is not None:
            return self._blob(request, fake.content)
        base = self._lookup(project, filename.removesuffix(".metadata"))
        if filename.endswith(".metadata") and base is not None and base.metadata is not None:
            return self._blob(request, base.metadata)
        return Response("not found", status=404)

    def _blob(self, request: Request, data: bytes) -> Response:
        if self._take_fault("corrupt", request.path):
            data = _corrupted(data)
        if truncated := self._take_fault("truncate", request.path):
            # werkzeug keeps an explicit Content-Length and closes the connection after
            # every response, so the client sees a short body and then EOF.
            response = Response(data[: truncated.at_bytes], content_type="application/octet-stream")
            response.headers["Content-Length"] = str(len(data))
            return response
        response = Response(data, content_type="application/octet-stream")
        response.add_etag()
        return response.make_conditional(request, accept_ranges=True, complete_length=len(data))

    def _integrity(self, request: Request, project: str, version: str, filename: str) -> Response:
        # Checked in the public index's order: feature flag, content type, then the file.
        if self.attestations_disabled:
            return _json_message(403, "Attestations temporarily disabled")
        content_type: str | None = INTEGRITY_JSON
        if "Accept" in request.headers:
            content_type = request.accept_mimetypes.best_match(_INTEGRITY_OFFERS)
        if content_type is None:
            return _json_message(406, "Request not acceptable")
        fake = self._lookup(project, filename)
        if fake is None or fake.version != version:
            return Response("not found", status=404)
        if fake.provenance is None:
            response = _json_message(404, f"No provenance available for {filename}", content_type)
        else:
            response = Response(fake.provenance, content_type=content_type)
        response.vary.add("Accept")
        return response


__all__ = [
    "API_VERSION",
    "INTEGRITY_JSON",
    "SIMPLE_HTML",
    "SIMPLE_JSON",
    "TEXT_HTML",
    "FakeFile",
    "FakeUpstream",
    "RecordedRequest",
    "UploadTime",
]
