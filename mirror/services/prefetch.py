"""Read a project's dependencies before its client asks for them (docs/performance.md, "First
looks").

pip resolves one project at a time: a page, then the chosen file's PEP 658 metadata, then the
pages of the projects that metadata requires. Each first look at a project costs the mirror
upstream round trips and work per listed file, on the client's critical path. Started when a
file's metadata is first fetched from upstream (or extracted from a wheel's first download,
where upstream has none), the first looks of the projects it requires run on a background
thread, on the other core, while the client downloads and resolves; the client's request then
finds the page signed, or waits for the look in progress (``sync.first_look``) instead of
repeating it.

The look-ahead also runs on from a project a client reads for the first time, and from each
project it reads itself: the newest admitted file's metadata (the release a resolver usually
picks) names the next projects, down to ``MAX_DEPTH`` levels. Where upstream has no PEP 658
metadata, the METADATA inside the newest wheel is read by HTTP ranges
(``mirror.upstream.remote_wheel``), unverified, so only as a list of names. pip's
one-at-a-time chain of first looks then runs ahead of pip on the other core.

Only projects the mirror has no page for, and only the requirements that apply without an
extra. Upstream mostly sees the requests the client's own would cause moments later (a
requirement behind another platform's marker is read too, and the newest release's when the
client resolves an older one). ``upstream.prefetch_dependencies = false`` turns it off.
"""

import logging
import os
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from email.parser import BytesHeaderParser
from email.policy import compat32

from packaging.requirements import InvalidRequirement, Requirement

from mirror.db import file_rows, page_rows
from mirror.errors import MirrorError
from mirror.names import normalize
from mirror.services import files, publish, sync
from mirror.services.backends import Backends
from mirror.services.wheel_metadata import read_metadata
from mirror.upstream.remote_wheel import RemoteFile

log = logging.getLogger(__name__)

# One metadata file naming hundreds of requirements is not a reason to read hundreds of pages.
MAX_PER_FILE = 64
# Levels of requirements read ahead of a client: deep enough for the usual ML stack, bounded
# where the newest release's requirements stop predicting what the client resolves.
MAX_DEPTH = 4
_WORKERS = 2


def dependencies(metadata: bytes) -> list[str]:
    """The normalized names of the projects a distribution requires without any extra."""
    message = BytesHeaderParser(policy=compat32).parsebytes(metadata)
    names: list[str] = []
    for value in message.get_all("Requires-Dist") or []:
        try:
            requirement = Requirement(str(value))
        except InvalidRequirement:
            continue
        if requirement.marker is not None and "extra" in str(requirement.marker):
            continue  # needed only when the client asks for that extra
        name = normalize(requirement.name)
        if name not in names:
            names.append(name)
    return names[:MAX_PER_FILE]


class Prefetcher:
    """First looks of dependencies on background threads of this process, each name once."""

    def __init__(self, backends: Backends) -> None:
        self._backends = backends
        self._lock = threading.Lock()
        self._queued: set[str] = set()
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0

    def after_first_look(self, name: str) -> None:
        """Read ahead from a project a client has just read for the first time."""
        if self._enabled():
            self._executor().submit(self._read_ahead, name, 0)

    def after_metadata(self, metadata: bytes, depth: int = 0) -> None:
        """Queue the first looks of the projects ``metadata`` requires that are not known yet;
        ``depth``: how many levels below a client's own request the metadata is."""
        if not self._enabled():
            return
        with self._backends.engine.connect() as conn:
            unknown = [n for n in dependencies(metadata) if page_rows.get_page(conn, n) is None]
        for name in unknown:
            if self._backends.rules.project_refusal(name):
                continue
            with self._lock:
                if name in self._queued:
                    continue
                self._queued.add(name)
            self._executor().submit(self._look, name, depth + 1)

    def _enabled(self) -> bool:
        return self._backends.config.upstream.prefetch_dependencies

    def _executor(self) -> ThreadPoolExecutor:
        # Created in the process that uses it: a pool made before gunicorn forks has no threads.
        if self._pool is None or self._pid != os.getpid():
            self._pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="prefetch")
            self._pid = os.getpid()
        return self._pool

    def _look(self, name: str, depth: int) -> None:
        try:
            sync.first_look(self._backends, name)
            publish.publish_now(self._backends, name, pages_only=True)
        except MirrorError as exc:
            # Not upstream, refused, or upstream down: the client's own request will say so.
            log.info("dependency not prefetched", extra={"project": name, "error": str(exc)})
            return
        except Exception:
            log.exception("dependency prefetch failed", extra={"project": name})
            return
        finally:
            with self._lock:
                self._queued.discard(name)
        if depth < MAX_DEPTH:
            self._read_ahead(name, depth)

    def _read_ahead(self, name: str, depth: int) -> None:
        """Look at what ``name``'s newest admitted file requires: from its PEP 658 metadata
        (verified and stored, so the client's own request finds it), else from the METADATA
        inside the wheel, read by ranges (a hint only: nothing read so is kept or served)."""
        with self._backends.engine.connect() as conn:
            row = file_rows.newest_with_metadata(conn, name)
        if row is None:
            return
        try:
            if row.metadata_sha256:
                files.core_metadata(
                    self._backends, row, fetched=lambda data: self.after_metadata(data, depth)
                )
            elif row.size is not None:
                upstream = self._backends.upstream.for_project(name)
                remote = RemoteFile(upstream, row.url, row.size)
                with zipfile.ZipFile(remote) as wheel:
                    metadata = read_metadata(wheel, row.filename)
                if metadata is not None:
                    self.after_metadata(metadata, depth)
        except (MirrorError, zipfile.BadZipFile) as exc:
            log.info("metadata not prefetched", extra={"project": name, "error": str(exc)})
        except Exception:
            log.exception("metadata prefetch failed", extra={"project": name})
