"""Tables. SQLAlchemy Core only, no dialect-specific SQL, so SQLite and PostgreSQL both run it.

Changing a table here needs a new Alembic revision in ``migrations/versions``.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no zone, so we never rely on one."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


metadata = MetaData()

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # When the mirror last read the upstream page successfully: a file first seen later with an
    # upload time before this was hidden from us, and is treated as an anomaly.
    Column("checked_at", UTCDateTime),
    Column("etag", String(500)),
    Column("last_modified", String(100)),
    # sha256 of the upstream page last recorded (``Page.digest``): the same bytes are not parsed
    # and reconciled again, whether or not upstream answers conditional requests.
    Column("page_sha256", String(64)),
    Column("upstream_gone", Boolean, nullable=False, default=False),
    Column("last_error", Text),
    # The status marker (PEP 792) of the upstream page last recorded, None when it said none,
    # and its reason.
    Column("upstream_status", String(20)),
    Column("upstream_status_reason", Text),
)

files = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    Column("filename", String(255), nullable=False, unique=True),
    Column("version", String(100), nullable=False),
    Column("url", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger),
    Column("upload_time", UTCDateTime),
    Column("requires_python", String(500)),
    Column("yanked", Boolean, nullable=False, default=False),
    Column("yanked_reason", Text),
    Column("upstream_metadata_sha256", String(64)),
    # The PEP 658 file we serve: from upstream, or extracted from the cached wheel.
    Column("metadata_sha256", String(64)),
    # Its length, once the mirror stored its bytes: the TUF target's, when queued after that.
    Column("metadata_size", Integer),
    Column("provenance_url", Text),
    # The mirror's copy of the PEP 740 provenance object, set only once its attestations
    # verified: what our own pages link to (`provenance`, `data-provenance`).
    Column("provenance_sha256", String(64)),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("present_upstream", Boolean, nullable=False, default=True),
    Column("state", String(20), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("decided_by", String(200), nullable=False, default=""),
    Column("state_at", UTCDateTime, nullable=False),
    # quarantined: the time it may be admitted; None while it waits for a person.
    Column("hold_until", UTCDateTime),
    Column("cached", Boolean, nullable=False, default=False),
    Column("evidence", JSON, nullable=False, default=dict),
    Index("ix_files_project_state", "project_id", "state"),
    Index("ix_files_state_hold", "state", "hold_until"),
)

# A project's history (docs/admission.md, "History"): the files its first look found already
# older than the quarantine, admitted by one decision and kept as one record instead of a files
# row each. A file of it gets its own files row when something happens to it (a download, an
# inspection, a block, a change upstream); that row then stands for it (``file_rows``).
histories = Table(
    "histories",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id"), primary_key=True),
    # The first look: when the files were first seen and decided.
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("decided_by", String(200), nullable=False),
    # The evidence every file of it has: seen at the first look, nothing gathered.
    Column("evidence", JSON, nullable=False),
    Column("count", Integer, nullable=False),
    # The sha256 of the listing's canonical JSON, which ``history_entries`` holds compressed.
    Column("sha256", String(64), nullable=False),
    # Its distinct versions, read across all projects without opening the listings.
    Column("versions", JSON, nullable=False),
    # How many of its files have their own row since.
    Column("materialized", Integer, nullable=False, default=0),
)

# A listing's entries, in a table of their own: in one row with the head, every read of a
# column stored after them and every update of the row would read them all (SQLite walks a
# large value's overflow pages to reach what follows it, and rewrites the whole row).
history_entries = Table(
    "history_entries",
    metadata,
    Column("project_id", Integer, ForeignKey("histories.project_id"), primary_key=True),
    Column("entries", LargeBinary, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("project", String(200), nullable=False),
    Column("filename", String(255)),
    Column("from_state", String(20)),
    Column("to_state", String(20)),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_events_project", "project", "at"),
)

_STALE = text("stale_since IS NOT NULL")
_DEFERRED = text("targets_deferred_since IS NOT NULL")
_RECORDS_DUE = text("records_due_since IS NOT NULL")
pages = Table(
    "pages",
    metadata,
    Column("project", String(200), primary_key=True),
    Column("html_sha256", String(64), nullable=False),
    Column("html_size", Integer, nullable=False),
    Column("json_sha256", String(64), nullable=False),
    Column("json_size", Integer, nullable=False),
    Column("files", Integer, nullable=False),
    Column("rendered_at", UTCDateTime, nullable=False),
    # Set when what the page shows changed without rendering it (a first download's extracted
    # METADATA): the scheduler renders it again once clients pause.
    Column("stale_since", UTCDateTime),
    # Set when a first look queued only the pages' TUF targets: the next full batch queues the
    # files' (``pages.queue_deferred_targets``), off the client's path.
    Column("targets_deferred_since", UTCDateTime),
    # Set when the page lists a file without an admission record of its current decision:
    # the next full batch writes it (``admission_records.produce``), off the client's path.
    Column("records_due_since", UTCDateTime),
    # The scheduler's watch asks for the newest of each every half second: with these it
    # reads one index entry, not every project's row (6 ms for 100,000 projects).
    Index("ix_pages_stale", "stale_since", sqlite_where=_STALE, postgresql_where=_STALE),
    Index(
        "ix_pages_deferred",
        "targets_deferred_since",
        sqlite_where=_DEFERRED,
        postgresql_where=_DEFERRED,
    ),
    Index(
        "ix_pages_records_due",
        "records_due_since",
        sqlite_where=_RECORDS_DUE,
        postgresql_where=_RECORDS_DUE,
    ),
)

# The signed admission record of each admitted file (docs/tuf.md, "Admission records"): an
# in-toto statement stored as a blob, valid while the file's decision is the one it describes
# (``decided_at`` equals ``files.state_at``). Keyed by the filename, unique across the mirror:
# a file admitted as history has no files row until something happens to it.
admission_records = Table(
    "admission_records",
    metadata,
    Column("project", String(200), nullable=False),
    Column("filename", String(255), primary_key=True),
    Column("decided_at", UTCDateTime, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_admission_records_project", "project"),
)

status = Table(
    "status",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

blocks = Table(
    "blocks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(200), nullable=False),
    # A PEP 440 specifier ("", every version). Blocks apply to files seen later too.
    Column("specifier", String(500), nullable=False, default=""),
    Column("reason", Text, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("lifted_at", UTCDateTime),
    Column("lifted_by", String(200)),
    Column("lift_reason", Text),
    Index("ix_blocks_project", "project"),
)

# --- access (tokens and review-UI sessions) ---------------------------------------------------

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("scope", String(10), nullable=False),
    # sha256 of the secret: the secret itself is shown once and never stored.
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_reason", Text, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("revoked_by", String(200)),
    Column("revoked_reason", Text),
    # Who a token minted by the CI identity exchange was minted for (docs/review.md, "CI
    # identity tokens"): issuer, subject, repository, workflow, ref, sha, run_id. None otherwise.
    Column("identity", JSON),
    # When the token was last accepted, to the minute or so (services/tokens.py, LAST_USE_STEP).
    Column("last_used_at", UTCDateTime),
    # An upload token's project name patterns (docs/private-packages.md); None for the others.
    Column("projects", JSON),
)

# CI identity tokens already exchanged, by issuer and jti, until they expire: each is
# exchanged once, whichever node it is sent to.
oidc_exchanges = Table(
    "oidc_exchanges",
    metadata,
    Column("issuer", String(500), primary_key=True),
    Column("jti", String(200), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_oidc_exchanges_expires", "expires_at"),
)

admin_sessions = Table(
    "admin_sessions",
    metadata,
    # sha256 of the cookie value, so a database reader cannot take over a session.
    Column("id_sha256", String(64), primary_key=True),
    Column("token_id", String(32), ForeignKey("tokens.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_admin_sessions_expires", "expires_at"),
)


# --- advisories and download audit (migration 0006_advisories) ---

advisories = Table(
    "advisories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("osv_id", String(200), nullable=False, unique=True),
    # OSV "modified": a re-import replaces the stored advisory only when this moved forward.
    Column("modified", UTCDateTime, nullable=False),
    Column("published", UTCDateTime),
    Column("withdrawn", UTCDateTime),
    Column("summary", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("aliases", JSON, nullable=False),
    Column("links", JSON, nullable=False),
    # Malicious-package entries block what they name; the others are evidence only.
    Column("malicious", Boolean, nullable=False),
    Column("source", Text, nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
)

advisory_ranges = Table(
    "advisory_ranges",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("advisory_id", Integer, ForeignKey("advisories.id"), nullable=False),
    Column("project", String(200), nullable=False),
    # The affected versions as a PEP 440 specifier ("" for every version), one row per interval.
    Column("specifier", String(500), nullable=False),
    Index("ix_advisory_ranges_project", "project"),
    Index("ix_advisory_ranges_advisory", "advisory_id"),
)

downloads = Table(
    "downloads",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("project", String(200), nullable=False),
    Column("version", String(100), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("token_id", String(100)),
    Column("remote_addr", String(100)),
    Column("user_agent", String(500)),
    # The CI identity of a token minted by the exchange (repository, workflow, run_id, ref), so
    # the audit names pipelines; None for other tokens and anonymous reads.
    Column("identity", JSON),
    Index("ix_downloads_release", "project", "version", "at"),
)

# TUF publishing (docs/tuf.md, "How changes are published"). Every change to what is
# served queues a row here in the same transaction as the state change; the publisher signs a
# batch of them and stamps ``published_at``.
_QUEUED = text("published_at IS NULL")
tuf_pending = Table(
    "tuf_pending",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project", String(200), nullable=False),
    Column("op", String(10), nullable=False),
    Column("path", String(500), nullable=False),
    # None until the bytes are in the blob store (a file whose upstream gave no size, or a
    # PEP 658 companion): the publisher learns it before signing.
    Column("length", BigInteger),
    Column("sha256", String(64)),
    Column("queued_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime),
    Column("snapshot_version", Integer),
    Index("ix_tuf_pending_open", "published_at", "id"),
    Index("ix_tuf_pending_project", "project", "published_at"),
    # The queued changes by path, and only those: whether a page waits, and which pages do, are
    # asked on each first look, while tens of thousands of file targets may be queued.
    Index("ix_tuf_pending_queued_path", "path", sqlite_where=_QUEUED, postgresql_where=_QUEUED),
)

# What the current signed metadata lists: the pages served at /simple/<project>/ come from here,
# so a client sees exactly the bytes TUF signs.
tuf_targets = Table(
    "tuf_targets",
    metadata,
    Column("path", String(500), primary_key=True),
    Column("project", String(200), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("length", BigInteger, nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Index("ix_tuf_targets_project", "project"),
)

# --- notifications (migration 0013_notifications; docs/notifications.md) ---

# One row per event, written in the transaction of what caused it (a block, a hold, a failed
# publish), so an event is never lost to a crash and never sent for a change rolled back.
_UNDISPATCHED = text("dispatched_at IS NULL")
notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("project", String(200)),
    # Events that several processes may notice (a stalled scheduler) carry a key: the unique
    # index keeps the second one out.
    Column("dedupe_key", String(200), unique=True),
    Column("summary", Text, nullable=False),
    Column("details", JSON, nullable=False),
    # When a delivery worker made the deliveries of the webhooks that subscribe to it.
    Column("dispatched_at", UTCDateTime),
    Index(
        "ix_notifications_undispatched",
        "id",
        sqlite_where=_UNDISPATCHED,
        postgresql_where=_UNDISPATCHED,
    ),
)

# One row per event and webhook: the queue the delivery workers claim from, and its log.
notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column(
        "notification_id",
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("notifications.id"),
        nullable=False,
    ),
    Column("webhook", String(200), nullable=False),
    # queued (waiting or being sent), delivered, failed (gave up).
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    # A worker sending it holds it until then; a worker that died lets it go at that time.
    Column("lease_until", UTCDateTime),
    Column("claim", String(64)),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_notification_deliveries_due", "state", "next_attempt_at"),
    Index("ix_notification_deliveries_notification", "notification_id"),
)

# --- private packages (docs/private-packages.md) ----------------------------------------------

# A project named here is uploaded, never proxied: upstream is not asked about it.
private_projects = Table(
    "private_projects",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
)

# Who uploaded each private file, and from where.
uploads = Table(
    "uploads",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("project", String(200), nullable=False),
    Column("version", String(100), nullable=False),
    Column("filename", String(255), nullable=False, unique=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("token_id", String(100)),
    Column("remote_addr", String(100)),
    Column("user_agent", String(500)),
    Index("ix_uploads_project", "project", "at"),
)

# --- read-ahead (migration 0021_lookahead; docs/performance.md, "First looks") ---------------

# What web requests asked the scheduler's process to do ahead of their clients: read a project,
# the projects a file's metadata requires, or download a file. Each entry once; bounded in
# size and age (``mirror.db.lookahead_rows``), so a mirror without a scheduler keeps few rows.
lookahead = Table(
    "lookahead",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("project", String(200), nullable=False),
    # The file's name for a file's entry; "" for a project's (unique keys treat NULLs apart).
    Column("filename", String(255), nullable=False),
    # Levels below a client's own request.
    Column("depth", Integer, nullable=False),
    Column("queued_at", UTCDateTime, nullable=False),
    Index("ux_lookahead_entry", "kind", "project", "filename", unique=True),
    Index("ix_lookahead_queued_at", "queued_at"),
)
