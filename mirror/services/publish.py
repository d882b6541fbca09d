"""The publisher: signs queued target changes as one TUF batch, and keeps the metadata fresh.

One publish (docs/tuf.md, "How changes are published"):

1. Outside any lock, write the admission records due (``admission_records.produce``) and
   learn the length of queued files the blob store does not hold yet by
   fetching them (verified against their sha256, like any download).
2. Under ``publish_lock`` (not the database's write lock: first looks and decisions go on
   queueing meanwhile), read the queue in order; a path whose bytes are still unknown waits
   for a later batch, together with every later change to it.
3. ``tuf_repo.publish`` writes the touched bins, then the snapshot, then the timestamp.
4. Still under the lock, one write transaction stamps the rows published and makes the
   published target set (what ``/simple/`` serves) follow them.

A crash before step 4 commits leaves the rows queued; publishing them again changes no bin that
already holds them, so the next batch completes what the crashed one began. ``maintain`` runs
each scheduler cycle: publish, re-sign the timestamp when it is an hour old, renew roles with
less than 12 hours left, sweep unreachable versions and log the alerts.
"""

import gc
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row

from mirror.db import file_rows, page_rows, project_rows
from mirror.db import targets as db
from mirror.db.engine import writing
from mirror.db.locks import LockBusyError, publish_lock
from mirror.db.targets import QueuedTarget
from mirror.errors import MirrorError, PublishError
from mirror.services import admission_records, files, pages, refusal
from mirror.services.backends import Backends
from mirror.services.signing import available_keys, load_keys
from mirror.storage import BlobStore, blob_key
from tuf_repo import TargetChange, TufRepoError, refresh_timestamp, renew, status
from tuf_repo import publish as sign_batch
from tuf_repo.bins import (
    METADATA_SUFFIX,
    PROVENANCE_SUFFIX,
    companion_of,
    index_html_path,
    index_json_path,
)
from tuf_repo.repository import CrashHook, sweep
from tuf_repo.store import TIMESTAMP_NAME, MetadataStore

log = logging.getLogger(__name__)

# About an hour of batches at one per scheduler minute: clients mid-refresh can still fetch
# what a recent snapshot lists (docs/tuf.md, "What is signed").
SWEEP_KEEP_SNAPSHOTS = 60
# A first look at a large project queues thousands of `.metadata` companions to fetch; beyond
# this many per cycle they wait for later cycles, so the cycle's other work is not held up.
FETCHES_PER_CYCLE = 500
# Published queue rows are kept this long, for debugging what a batch contained.
KEEP_PUBLISHED_ROWS = timedelta(days=7)


class NotPublishedYetError(PublishError):
    """The change is recorded but not signed yet; the worker's next cycle publishes it."""


@dataclass(frozen=True)
class PublishReport:
    published: int
    deferred: int
    snapshot_version: int | None = None


def publish_pending(
    backends: Backends,
    *,
    fetch: bool = True,
    wait: bool = True,
    project: str | None = None,
    pages_only: bool = False,
    crash_hook: CrashHook | None = None,
    max_fetches: int = FETCHES_PER_CYCLE,
) -> PublishReport:
    """Sign everything queued (and ready) as one batch.

    Args:
        fetch: download queued files of unknown length first (the scheduler does; a web
            request does not).
        wait: wait for another publisher instead of raising ``LockBusyError``.
        project: sign only if some of this project's changes are still queued (and ready) once
            the lock is held: concurrent first looks then share the batch of whoever signs next.
        pages_only: sign only queued pages, every project's (two targets each, whatever the
            number of files they list): the files' targets follow in a later batch
            (``publish_now``).
        crash_hook: test seam passed to ``tuf_repo.publish``.
        max_fetches: with ``fetch``, how many files to download at most; the rest wait for
            the next batch.

    Raises:
        PublishError: keys or metadata could not be loaded or written.
        LockBusyError: ``wait`` is False and another process holds the lock.
    """
    if not pages_only:
        pages.queue_deferred_targets(backends.engine)
        admission_records.produce(backends)
    if fetch:
        _learn_lengths(backends, max_fetches)
    if pages_only and project is not None and not _pages_queued(backends, project):
        return PublishReport(0, 0)  # without waiting for the lock a long batch may hold
    keys = load_keys(backends.config, offline=False)
    with publish_lock(backends.engine, wait=wait), _collector_paused():
        with backends.engine.connect() as conn:
            ready, deferred = _ready(conn, pages_only)
        if project is not None and all(c.project != project for c in ready):
            ready = []
        if not ready:
            return PublishReport(0, deferred)
        # Only a path's last change counts (an add then a block is a removal).
        changes = [_change(c) for c in {c.path: c for c in ready}.values()]
        now = backends.clock.now()
        try:
            result = sign_batch(backends.metadata, keys, changes, now, crash_hook=crash_hook)
        except TufRepoError as exc:
            raise PublishError(f"publishing failed: {exc}") from exc
        with writing(backends.engine) as conn:
            db.mark_published(conn, ready, now, result.snapshot_version)
    log.info(
        "published",
        extra={
            "changes": len(ready),
            "deferred": deferred,
            "bins": len(result.bins),
            "snapshot_version": result.snapshot_version,
        },
    )
    return PublishReport(len(ready), deferred, result.snapshot_version)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector off during a batch.

    A batch holds a few objects per target until it ends, thousands of them in no reference
    cycle: as they pile up, the collector would move them to its oldest generation and then
    scan the whole heap for nothing (a tenth of a large batch's CPU). They are freed by
    reference counting when the batch ends; garbage with cycles made meanwhile, by any
    thread, waits for the collection after it. Batches do not overlap (``publish_lock``).
    """
    if not gc.isenabled():  # someone else's pause: theirs to end
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _ready(conn: Connection, pages_only: bool) -> tuple[list[QueuedTarget], int]:
    """The ready changes (only pages if ``pages_only``), and how many other changes wait for
    their length (none among pages)."""
    if pages_only:
        return db.ready(conn, pages_only=True), 0
    ready = db.ready(conn)
    return ready, db.pending_count(conn) - len(ready)


def _change(queued: QueuedTarget) -> TargetChange:
    if queued.op == "remove":
        return TargetChange.remove(queued.path)
    assert queued.length is not None and queued.sha256 is not None  # as ``db.ready`` promises
    return TargetChange.add(queued.path, queued.length, queued.sha256)


def _page_paths(project: str) -> tuple[str, str]:
    return index_html_path(project), index_json_path(project)


def _pages_queued(backends: Backends, project: str) -> bool:
    with backends.engine.connect() as conn:
        return db.queued(conn, _page_paths(project))


def _learn_lengths(backends: Backends, max_fetches: int) -> None:
    """Give queued files of unknown length theirs, oldest first, fetching the bytes first where
    the blob store lacks them (at most ``max_fetches``), so the next batch can sign them."""
    with backends.engine.connect() as conn:
        unknown = db.unknown_lengths(conn)
    learned: dict[tuple[str, str], int] = {}
    fetches = 0
    for change in unknown:
        key = blob_key(change.sha256)
        if (change.project, change.sha256) in learned:
            continue
        if not backends.blobs.exists(key):
            if fetches == max_fetches:
                break
            fetches += 1
            try:
                _fetch(backends, change)
            except MirrorError as exc:
                log.warning(
                    "cannot fetch a file to sign; it waits for the next cycle",
                    extra={"project": change.project, "target": change.path, "error": str(exc)},
                )
                continue
        size = backends.blobs.size(key)
        if size is not None:
            learned[change.project, change.sha256] = size
    if learned:
        with writing(backends.engine) as conn:
            for (project, sha256), size in learned.items():
                db.learn_length(conn, project, sha256, size)


def _fetch(backends: Backends, change: Row[Any]) -> None:
    filename, suffix = companion_of(change.path.rsplit("/", 1)[1])
    if suffix == PROVENANCE_SUFFIX:
        # The mirror's own copy, stored when its attestations verified: nothing to fetch.
        log.warning("provenance copy missing from the store", extra={"target": change.path})
        return
    with backends.engine.connect() as conn:
        row = file_rows.file_by_name(conn, change.project, filename)
    if row is None or refusal.refusal(backends, change.project, row) is not None:
        return  # a later queued change removes it again
    if suffix == METADATA_SUFFIX and row.metadata_sha256 == change.sha256:
        files.core_metadata(backends, row)
    elif not suffix and row.sha256 == change.sha256:
        files.distribution(backends, row)


def queue_all_projects(engine: Engine, blobs: BlobStore, now: datetime) -> None:
    """Queue the targets of every project that already has pages: a repository bootstrapped
    over existing data (an upgrade, or metadata lost and re-created) starts complete."""
    with writing(engine) as conn:
        for name in project_rows.project_names(conn):
            project = project_rows.get_project(conn, name)
            if project is not None and page_rows.get_page(conn, name) is not None:
                pages.render_and_queue(conn, blobs, project.id, name, now)


def publish_now(
    backends: Backends, project: str | None = None, *, pages_only: bool = False
) -> PublishReport | None:
    """Publish what is queued, if this process can sign; never downloads.

    A web request that changed what is served (a project's first look, a file rejected at its
    first download) calls this so its client's next read sees the change; with ``project``, only
    while that project still has changes queued. Where the keys are not (a scaled-out web
    node), the worker's next cycle publishes instead.

    ``pages_only``: sign just the new pages, two targets per project whatever the number of
    files they list, and leave the files' targets to the scheduler's next batch
    (``mirror.services.follow_up``). A client reading the page gets it without waiting for
    thousands of file targets; pip and uv check each file against the page's sha256, and the
    pipeline client (``mirror install``) waits for the next snapshot when a file listed on a
    signed page is not a target yet. Every project's queued pages go into the batch: a
    resolver asks for many projects at once, and their first looks, finishing together, would
    otherwise sign one after another behind the lock.
    """
    try:
        return publish_pending(backends, fetch=False, project=project, pages_only=pages_only)
    except (PublishError, LockBusyError) as exc:
        log.info("not publishing from this process", extra={"error": str(exc)})
        return None


def timestamp_expiry(store: MetadataStore) -> datetime | None:
    """When the published timestamp expires (pipelines fail closed then); None before bootstrap."""
    data = store.read(TIMESTAMP_NAME)
    if data is None:
        return None
    expires = json.loads(data)["signed"]["expires"]
    return datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Maintenance:
    publish: PublishReport
    timestamp_refreshed: bool
    renewed: list[str]
    swept: int
    alerts: list[str]


def maintain(backends: Backends) -> Maintenance:
    """One scheduler cycle's TUF work (docs/tuf.md, "How changes are published"); first,
    once per change of the configured rules, the decisions they move (``refusal.apply_rules``),
    so what they refuse leaves the signed targets in this batch."""
    refusal.apply_rules(backends)
    report = publish_pending(backends)
    keys = available_keys(backends.config)
    now = backends.clock.now()
    store = backends.metadata
    try:
        with publish_lock(backends.engine):
            refreshed = refresh_timestamp(store, keys, now)
            renewed = renew(store, keys, now)
            swept = sweep(store, SWEEP_KEEP_SNAPSHOTS)
        with writing(backends.engine) as conn:
            db.forget_published(conn, now - KEEP_PUBLISHED_ROWS)
        alerts = status(store, now).alerts
    except TufRepoError as exc:
        raise PublishError(f"TUF maintenance failed: {exc}") from exc
    for alert in alerts:
        log.warning("TUF alert: %s", alert, extra={"alert": alert})
    if renewed:
        log.info("renewed TUF roles", extra={"roles": len(renewed)})
    return Maintenance(report, refreshed, renewed, len(swept), alerts)
