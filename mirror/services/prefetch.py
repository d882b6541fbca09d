"""Read a project's dependencies, and download the file a client picked, before its client asks
for them (docs/performance.md, "First looks").

pip resolves one project at a time: a page, then the chosen file's PEP 658 metadata, then the
file, then the pages of the projects that metadata requires. Each first look at a project
costs the mirror upstream round trips and work per listed file, and each first download an
upstream download, a digest check and a content inspection, all on the client's critical path.

Where it runs: not in the serving workers. pip keeps one connection, so one gunicorn worker
serves its whole install, and work on that worker's other threads takes the interpreter from
the client's own requests. A web request only queues what is to be done ahead (``queue``, the
bounded table of ``mirror.db.lookahead_rows``, each entry once); the scheduler's process
(``mirror serve`` starts it beside gunicorn; ``mirror worker`` when scaled out) takes the
entries within ``Lookahead.poll_seconds`` and runs them on threads of its own
(``scheduler.run_until``). Without a scheduler the queue stays bounded and nothing is read ahead.

Read-ahead (``upstream.prefetch_dependencies``): a project a client reads for the first time,
a file's metadata first fetched from upstream, and the METADATA extracted from a wheel's first
download (where upstream has none) queue the first looks of the projects they require. The
scheduler's process looks at each (``sync.first_look``: a client's request meanwhile waits for
the look in progress, across processes on a host, instead of repeating it), signs its pages,
and reads on from the newest admitted file's metadata (the release a resolver usually picks),
down to ``MAX_DEPTH`` levels. Where upstream has no PEP 658 metadata, the METADATA inside the
newest wheel is read by HTTP ranges (``mirror.upstream.remote_wheel``), unverified, so only as
a list of names. Only projects the mirror has no page for, only the requirements that apply
without an extra, and only names that are valid once normalised and that the mirror would ask
upstream about for a client (``refusal.upstream_refusal``): the names come from upstream's
metadata, hostile until checked.

Download-ahead (``upstream.download_ahead_max_bytes``): a client fetching the metadata of a
file whose bytes are not stored yet queues the file, when it is at most that size; the
scheduler's process fetches it through the path a client's first download takes
(``first_download.servable_bytes``: refusal, network policy, digest check, content
inspection; nothing unverified kept) without serving it, so the client's download finds it
stored, or waits for the download in progress (single-flight per digest).
"""

import logging
import threading
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32

from packaging.requirements import InvalidRequirement, Requirement
from sqlalchemy import Engine

from mirror.db import commit_cache, file_rows, lookahead_rows, page_rows
from mirror.db.engine import writing
from mirror.db.lookahead_rows import DOWNLOAD, PROJECT, REQUIRES, Entry
from mirror.db.records import NamedRow
from mirror.errors import MirrorError
from mirror.names import is_valid_project_name, normalize
from mirror.services import files, publish, refusal, sync
from mirror.services.backends import Backends
from mirror.services.first_download import servable_bytes
from mirror.services.wheel_metadata import MAX_METADATA_BYTES, read_metadata
from mirror.storage import blob_key
from mirror.upstream.remote_wheel import RemoteFile

log = logging.getLogger(__name__)

# One metadata file naming hundreds of requirements is not a reason to read hundreds of pages.
MAX_PER_FILE = 64
# Levels of requirements read ahead of a client: deep enough for the usual ML stack, bounded
# where the newest release's requirements stop predicting what the client resolves.
MAX_DEPTH = 4


def dependencies(metadata: bytes) -> list[str]:
    """The normalized names of the projects a distribution requires without any extra, those
    that are valid project names only."""
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
        if is_valid_project_name(name) and name not in names:
            names.append(name)
    return names[:MAX_PER_FILE]


# --- queued by web requests ---------------------------------------------------------------


def after_first_look(backends: Backends, name: str) -> None:
    """Read ahead from a project a client has just read for the first time."""
    if _reads_ahead(backends):
        queue(backends, [Entry(PROJECT, name, "", 0)])


def after_metadata(backends: Backends, row: NamedRow, fetched_now: bool) -> None:
    """A client fetched ``row``'s PEP 658 metadata (from upstream just now: ``fetched_now``):
    read ahead through what it requires, and download the file it will ask for next."""
    entries = []
    if fetched_now and _reads_ahead(backends):
        entries.append(Entry(REQUIRES, row.project, row.filename, 0))
    if _downloads_ahead(backends, row):
        entries.append(Entry(DOWNLOAD, row.project, row.filename, 0))
    if entries:
        queue(backends, entries)


def after_extracted(backends: Backends, row: NamedRow) -> None:
    """A client's first download of a wheel without upstream metadata stored the METADATA
    extracted from it: read ahead through what it requires, as a ``.metadata`` would."""
    if _reads_ahead(backends):
        queue(backends, [Entry(REQUIRES, row.project, row.filename, 0)])


def queue(backends: Backends, entries: Sequence[Entry]) -> None:
    """Queue ``entries`` for the scheduler's process; a failure costs only the head start."""
    try:
        with writing(backends.engine) as conn:
            lookahead_rows.queue(conn, entries, backends.clock.now())
    except Exception as exc:  # a database busy or away: the client's own requests still work
        log.warning("read-ahead not queued", extra={"error": f"{type(exc).__name__}: {exc}"})


def queue_requirements(backends: Backends, metadata: bytes, depth: int) -> None:
    """Queue the first looks of the projects ``metadata`` requires that the mirror has no page
    for and may ask upstream about; ``depth``: the metadata's level below a client's request."""
    with backends.engine.connect() as conn:
        unknown = [n for n in dependencies(metadata) if page_rows.get_page(conn, n) is None]
    wanted = [n for n in unknown if refusal.upstream_refusal(backends, n) is None]
    if wanted:
        queue(backends, [Entry(PROJECT, name, "", depth + 1) for name in wanted])


def _reads_ahead(backends: Backends) -> bool:
    return backends.config.upstream.prefetch_dependencies


def _downloads_ahead(backends: Backends, row: NamedRow) -> bool:
    """Whether ``row``'s bytes are still to fetch from upstream and small enough to fetch
    before the client asks (a size upstream did not give is not known to be)."""
    limit = backends.config.upstream.download_ahead_max_bytes
    return bool(row.url) and not row.cached and row.size is not None and row.size <= limit


# --- run by the scheduler's process ---------------------------------------------------------


@dataclass
class _Lane:
    """Entries of ``kinds`` run ``workers`` at a time, on threads of their own: a download is
    not queued behind a deep read-ahead."""

    kinds: tuple[str, ...]
    workers: int
    name: str
    running: int = 0
    _pool: ThreadPoolExecutor | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def free(self) -> int:
        with self._lock:
            return self.workers - self.running

    def busy(self) -> bool:
        return self.free() < self.workers

    def run(self, action: Callable[[Entry], None], entry: Entry) -> None:
        with self._lock:
            self.running += 1
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=self.name)
        self._pool.submit(self._finish, action, entry)

    def _finish(self, action: Callable[[Entry], None], entry: Entry) -> None:
        try:
            action(entry)
        finally:
            with self._lock:
                self.running -= 1

    def stop(self) -> None:
        """Wait for what runs; nothing is left queued in the pool (taken only when free)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


@dataclass
class Lookahead:
    """The scheduler's consumer of the queue (``scheduler.run_until`` runs it)."""

    backends: Backends
    # How often the queue is looked at: a client's next request comes within tens of ms. On
    # SQLite an idle look costs no query (``commit_cache``: nothing committed, nothing new).
    poll_seconds: float = 0.02
    lanes: tuple[_Lane, ...] = field(init=False)
    # Entries being run: one taken again meanwhile (queued anew once taken) is dropped.
    _running: set[Entry] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Held from taking entries until their lanes count them as running.
    _taking: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.lanes = (
            _Lane((PROJECT, REQUIRES), workers=2, name="read-ahead"),
            _Lane((DOWNLOAD,), workers=2, name="download-ahead"),
        )

    def run_until(self, stop: threading.Event) -> None:
        """Take and run entries until ``stop`` is set; then finish what was taken."""
        try:
            while not stop.wait(self.poll_seconds):
                self._poll_safely()
        finally:
            for lane in self.lanes:
                lane.stop()

    def poll(self) -> None:
        """Take as many queued entries as the lanes have free threads, and start them."""
        queued = commit_cache.lookup(self.backends.engine, "", _queued_kinds) or frozenset()
        with self._taking:
            self._take(queued)

    def _take(self, queued: frozenset[str]) -> None:
        reading, downloading = self.lanes
        for lane in self.lanes:
            free = lane.free()
            if free <= 0 or not queued.intersection(lane.kinds):
                continue
            if lane is downloading and (reading.busy() or queued.intersection(reading.kinds)):
                # One interpreter: a download's inspection would slow the first look the client
                # asks for next, and clients download once they have resolved.
                continue
            with writing(self.backends.engine) as conn:
                taken = lookahead_rows.take(conn, lane.kinds, free)
            for entry in taken:
                lane.run(self._run, entry)

    def idle(self) -> bool:
        """Whether nothing taken is running."""
        with self._taking:
            return not any(lane.busy() for lane in self.lanes)

    def _poll_safely(self) -> None:
        # Fifty times a second: a passing failure (the database busy or away) must not end
        # the thread; the entries wait in the queue.
        try:
            self.poll()
        except Exception as exc:
            log.warning("read-ahead queue not read", extra={"error": f"{type(exc).__name__}"})

    def _run(self, entry: Entry) -> None:
        with self._lock:
            if entry in self._running:
                return
            self._running.add(entry)
        try:
            self._actions[entry.kind](entry)
        except MirrorError as exc:
            # Not upstream, refused, or upstream down: the client's own request will say so.
            log.info(
                "not done ahead",
                extra={"project": entry.project, "file": entry.filename, "error": str(exc)},
            )
        except Exception:
            log.exception("done ahead failed", extra={"project": entry.project})
        finally:
            with self._lock:
                self._running.discard(entry)

    @property
    def _actions(self) -> dict[str, Callable[[Entry], None]]:
        return {PROJECT: self._look, REQUIRES: self._requires, DOWNLOAD: self._download}

    def _look(self, entry: Entry) -> None:
        name, backends = entry.project, self.backends
        if refusal.upstream_refusal(backends, name) is not None:
            return
        with backends.engine.connect() as conn:
            known = page_rows.get_page(conn, name) is not None
        if not known:
            sync.first_look(backends, name)
            publish.publish_now(backends, name, pages_only=True)
        if entry.depth < MAX_DEPTH:
            self._read_ahead(name, entry.depth)

    def _read_ahead(self, name: str, depth: int) -> None:
        """Look at what ``name``'s newest admitted file requires: from its PEP 658 metadata
        (verified and stored, so the client's own request finds it), else from the METADATA
        inside the wheel, read by ranges (a hint only: nothing read so is kept or served)."""
        backends = self.backends
        with backends.engine.connect() as conn:
            row = file_rows.newest_with_metadata(conn, name)
        if row is None:
            return
        try:
            if row.metadata_sha256:
                files.core_metadata(
                    backends, row, fetched=lambda data: queue_requirements(backends, data, depth)
                )
            elif row.size is not None:
                upstream = backends.upstream.for_project(name)
                remote = RemoteFile(upstream, row.url, row.size)
                with zipfile.ZipFile(remote) as wheel:
                    metadata = read_metadata(wheel, row.filename)
                if metadata is not None:
                    queue_requirements(backends, metadata, depth)
        except zipfile.BadZipFile as exc:
            log.info("metadata not read ahead", extra={"project": name, "error": str(exc)})

    def _requires(self, entry: Entry) -> None:
        """Queue what the stored metadata of the entry's file requires."""
        with self.backends.engine.connect() as conn:
            row = file_rows.file_by_name(conn, entry.project, entry.filename)
        if row is None or not row.metadata_sha256:
            return
        with self.backends.blobs.open(blob_key(row.metadata_sha256)) as stored:
            metadata = stored.read(MAX_METADATA_BYTES)
        queue_requirements(self.backends, metadata, entry.depth)

    def _download(self, entry: Entry) -> None:
        """Fetch the file as a client's first download would, without serving it."""
        row = refusal.servable_file(self.backends, entry.project, entry.filename)
        if _downloads_ahead(self.backends, row):
            servable_bytes(self.backends, row)
            log.info("downloaded ahead", extra={"project": row.project, "file": row.filename})


def _queued_kinds(engine: Engine, _key: str) -> frozenset[str]:
    with engine.connect() as conn:
        return lookahead_rows.queued_kinds(conn)
