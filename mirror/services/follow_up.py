"""Sign, from the scheduler's process, what web requests left queued, once they pause.

A client's first look at a project signs the project's two pages in the web request
(``publish.publish_now(pages_only=True)``) and leaves the files' targets to the next full
batch, which queues them (``pages.queue_deferred_targets``) and signs them: thousands for a
large project. Signing those in the web worker would take CPU from the next first look its
client waits for (pip reads one project after another on one connection, so one worker
serves them all), and its write transactions would hold up the downloads that follow.
The scheduler's process signs them instead: a thread of its own, during cycles too, looks at
the queue every ``poll_seconds`` and publishes one batch once clients paused for ``quiet``:
nothing queued and nothing downloaded (the download audit, written within a second)
meanwhile, so a resolver's first looks and then its downloads are over. Requests that never
pause wait ``longest`` at most. Changes it tried and found not ready (files whose length waits
for their bytes) wait for the cycle, which fetches them. Pages that first downloads left to
render again (a wheel's extracted METADATA) are rendered just before the batch, which signs
them.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from mirror.db import download_rows, page_rows
from mirror.db import targets as db
from mirror.services import pages, publish
from mirror.services.backends import Backends

log = logging.getLogger(__name__)


@dataclass
class FollowUp:
    """The scheduler's watch on the queue (``scheduler.run_until`` runs it on its own thread)."""

    backends: Backends
    # How long clients must have paused, and the longest a batch waits for them to.
    quiet: timedelta = timedelta(seconds=2)
    longest: timedelta = timedelta(seconds=10)
    # How often the scheduler's thread calls ``poll``.
    poll_seconds: float = 0.5
    # The newest queued change the last batch saw: nothing newer, nothing to do.
    seen: datetime | None = None
    # When a change newer than ``seen`` was first noticed.
    noticed: datetime | None = None

    def poll(self) -> publish.PublishReport | None:
        """Publish one batch if new changes are queued and the requests queueing them paused."""
        with self.backends.engine.connect() as conn:
            newest = _newest_change(conn)
            if newest is None or newest == self.seen:
                return None
            downloaded = download_rows.last_download_at(conn)
        now = self.backends.clock.now()
        self.noticed = self.noticed or now
        active = max(newest, downloaded) if downloaded else newest
        if now - active < self.quiet and now - self.noticed < self.longest:
            return None
        self.seen, self.noticed = newest, None
        pages.render_stale(self.backends.engine, self.backends.blobs, now)
        return publish.publish_now(self.backends)


def _newest_change(conn: Connection) -> datetime | None:
    """When the newest change waiting for this watch was made: a queued target, a page to
    render again, files' targets to queue or their admission records to write."""
    waiting = [t for t in (db.newest_queued(conn), page_rows.newest_page_change(conn)) if t]
    return max(waiting, default=None)
