"""The histories table: the files a project's first look admitted as history, as one record
(docs/admission.md, "History").

A listing is stored as canonical JSON, one array per column, compressed; its sha256 names it.
Reading it back gives the same ``FileRecord``s a files row would: admitted by the listing's
one decision at the first look, with no id (``UNSAVED``) until the file gets a row of its own.
Listings never change once written, so each process keeps the ones it decoded last.
"""

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, update

from mirror.codings import packed, unpacked
from mirror.db.records import Decided, FileRecord, listed_records
from mirror.db.schema import histories, history_entries, projects
from mirror.timeutil import format_timestamps

# What a listing keeps of each file: what upstream said. The rest is the listing's decision.
_COLUMNS = (
    "filename",
    "version",
    "url",
    "sha256",
    "size",
    "upload_time",
    "requires_python",
    "yanked",
    "yanked_reason",
    "metadata_sha256",
    "provenance_url",
)
# Where each column is in a record: a listing's thousands of records are read column by column.
_INDEXES = {name: FileRecord._fields.index(name) for name in _COLUMNS}
# Files of decoded listings kept per process (under 1 KB each): the largest projects list tens
# of thousands, and decoding a listing again costs about a microsecond per file.
_CACHED_FILES = 25_000


@dataclass(frozen=True)
class Listing:
    """A history listing ready to insert: its columns but the project's id."""

    values: dict[str, Any]

    @classmethod
    def of(
        cls, records: Sequence[FileRecord], reason: str, decided_by: str, now: datetime
    ) -> "Listing":
        """The listing of ``records``, with the same evidence: unsaved, admitted at ``now`` for
        ``reason`` by ``decided_by`` (the first look's decision, whatever state, reason and
        decider the records still carry: only what upstream said of them is read)."""
        columns = {name: list(map(itemgetter(index), records)) for name, index in _INDEXES.items()}
        # ``datetime.isoformat`` of each, from the texts the pages' rendering formatted just
        # before (mostly): an instant in UTC ends in "+00:00" there, and "Z" in those.
        texts = format_timestamps(columns["upload_time"])
        columns["upload_time"] = [f"{text[:-1]}+00:00" for text in texts]
        body = _canonical(columns).encode()
        return cls(
            {
                "recorded_at": now,
                "reason": reason,
                "decided_by": decided_by,
                "evidence": records[0].evidence,
                "count": len(records),
                "sha256": hashlib.sha256(body).hexdigest(),
                "entries": packed(body),
                "versions": sorted(set(columns["version"])),
            }
        )


def _canonical(columns: dict[str, list[Any]]) -> str:
    """``json.dumps(columns, separators=(",", ":"), ensure_ascii=False)``, its columns of text
    that the encoder leaves as it is written as they are: thousands of strings at once."""
    return "{" + ",".join(f'"{name}":{_column(values)}' for name, values in columns.items()) + "}"


# What ``json.dumps`` escapes with ``ensure_ascii=False``: the double quote, the backslash and
# the control characters. No other character's UTF-8 has these bytes.
_JSON_ESCAPED = bytes(range(0x20)) + b'"\\'


def _column(values: list[Any]) -> str:
    if values and _left_as_they_are(values):
        return '["' + '","'.join(values) + '"]'
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False)


def _left_as_they_are(values: list[Any]) -> bool:
    """Whether ``values`` are strings ``json.dumps`` writes as they are, between quotes."""
    try:
        text = "".join(values)
    except TypeError:  # not only strings
        return False
    encoded = text.encode("utf-8", "surrogatepass")
    return len(encoded.translate(None, _JSON_ESCAPED)) == len(encoded)


def record_listing(conn: Connection, project_id: int, listing: Listing) -> None:
    head = {name: value for name, value in listing.values.items() if name != "entries"}
    conn.execute(histories.insert(), {"project_id": project_id, **head})
    entries = {"project_id": project_id, "entries": listing.values["entries"]}
    conn.execute(history_entries.insert(), entries)


def history_files(conn: Connection, project_id: int) -> dict[str, FileRecord]:
    """The project's history files by filename (sorted), as rows, empty when it has none."""
    entries = history_listing(conn, project_id)
    return {} if entries is None else entries.records()


def history_listing(conn: Connection, project_id: int) -> "Entries | None":
    """The project's history listing, each file's record built when asked for; None when it
    has none."""
    head = conn.execute(_HEAD_BY_ID, {"project_id": project_id}).first()
    return None if head is None else _decoded(conn, head)


def history_file(conn: Connection, project: str, filename: str) -> FileRecord | None:
    """The history record of ``project``'s file ``filename``, if its listing has one."""
    head = conn.execute(_HEAD_BY_NAME, {"project": project}).first()
    return None if head is None else _decoded(conn, head).record(filename)


def project_names(conn: Connection) -> list[str]:
    """The projects that have a history listing."""
    query = select(projects.c.name).join(histories, histories.c.project_id == projects.c.id)
    return list(conn.execute(query).scalars())


def listed_versions(conn: Connection) -> list[tuple[str, str]]:
    """(project, version) of every listing's files."""
    query = select(projects.c.name, histories.c.versions).join(
        projects, projects.c.id == histories.c.project_id
    )
    return [(name, version) for name, versions in conn.execute(query) for version in versions]


def unmaterialized_count(conn: Connection) -> int:
    """The history files that have no row of their own."""
    query = select(histories.c.count - histories.c.materialized)
    return sum(conn.execute(query).scalars())


def count_materialized(conn: Connection, project_id: int, count: int) -> None:
    """``count`` more of the project's history files got their own rows."""
    conn.execute(_COUNT_MATERIALIZED, {"of_project": project_id, "more": count})


_ADMITTED = "admitted"  # the state of every history file
# A listing's row but its entries, which are read only when this process has not decoded it.
_HEAD = select(
    *(
        histories.c[name]
        for name in ("project_id", "sha256", "recorded_at", "reason", "decided_by", "evidence")
    )
)
# Built once, as the statements below: a client's first download or `.metadata` of a history
# file runs them, and building one cost more than running it.
_HEAD_BY_ID = _HEAD.where(histories.c.project_id == bindparam("project_id"))
_HEAD_BY_NAME = _HEAD.join(projects, projects.c.id == histories.c.project_id).where(
    projects.c.name == bindparam("project")
)
_ENTRIES = select(history_entries.c.entries).where(
    history_entries.c.project_id == bindparam("project_id")
)
_COUNT_MATERIALIZED = (
    update(histories)
    .where(histories.c.project_id == bindparam("of_project"))
    .values(materialized=histories.c.materialized + bindparam("more"))
)


class Entries:
    """A decoded listing: its columns as stored and each file's place in them, until every
    record was asked for; then its records by filename (sorted).

    A download asks for one file of a listing of thousands: building only that record costs
    what one file costs, where the records of all cost about 3 us each (an upload time parsed
    and a record built per file, then a sort). What is kept swaps as one attribute, so a
    thread reading it meanwhile sees the columns or the records, never half of either.
    """

    def __init__(self, head: Row[Any], columns: dict[str, list[Any]]) -> None:
        at = head.recorded_at
        self._project_id = head.project_id
        # What a listing's one decision gives every file, after its upstream fields.
        self._decided = Decided(at, True, _ADMITTED, head.reason, head.decided_by, at, None, False)
        self._evidence = head.evidence
        entries = [columns[name] for name in _COLUMNS]
        # The last of a repeated filename stands, as in the records by filename.
        places = dict(zip(entries[0], range(len(entries[0])), strict=True))
        self.count = len(entries[0])
        self._kept: tuple[list[list[Any]], dict[str, int]] | dict[str, FileRecord] = (
            entries,
            places,
        )

    def record(self, filename: str) -> FileRecord | None:
        kept = self._kept
        if isinstance(kept, dict):
            return kept.get(filename)
        entries, places = kept
        place = places.get(filename)
        return None if place is None else self._records([[column[place]] for column in entries])[0]

    def versions(self) -> dict[str, str]:
        """Each file's version by filename, no record built."""
        kept = self._kept
        if isinstance(kept, dict):
            return {filename: r.version for filename, r in kept.items()}
        filenames, versions = kept[0][:2]
        return dict(zip(filenames, versions, strict=True))

    def records(self) -> dict[str, FileRecord]:
        kept = self._kept
        if isinstance(kept, dict):
            return kept
        built = sorted(self._records(kept[0]), key=_filename)
        records = {r.filename: r for r in built}
        self._kept = records
        return records

    def _records(self, columns: list[list[Any]]) -> list[FileRecord]:
        """The records of the listing's ``columns`` (all of them, or one place of each)."""
        # The listing keeps ``datetime.isoformat`` texts; a record, instants in UTC.
        uploaded = [datetime.fromisoformat(text).astimezone(UTC) for text in columns[5]]
        entries = zip(*columns[:5], uploaded, *columns[6:], strict=True)
        evidence = self._evidence
        return listed_records(entries, self._project_id, self._decided, evidence, evidence)


class _Decoded:
    """Decoded listings by (project id, sha256), newest used last, within a budget of files."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[int, str], Entries] = OrderedDict()
        self._files = 0

    def get(self, key: tuple[int, str]) -> Entries | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[int, str], entries: Entries) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = entries
            self._files += entries.count
            while self._files > self._budget and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._files -= dropped.count


_CACHE = _Decoded(_CACHED_FILES)


def _decoded(conn: Connection, head: Row[Any]) -> Entries:
    key = (head.project_id, head.sha256)
    found = _CACHE.get(key)
    if found is None:
        entries = conn.execute(_ENTRIES, {"project_id": head.project_id}).scalar_one()
        found = Entries(head, json.loads(unpacked(entries)))
        _CACHE.put(key, found)
    return found


def _filename(record: FileRecord) -> str:
    return record.filename


def sorted_union(rows: Iterable[FileRecord], history: dict[str, FileRecord]) -> list[FileRecord]:
    """A project's files: its rows, and the history files that have none, by filename."""
    own = {r.filename: r for r in rows}
    merged = [r for name, r in history.items() if name not in own]
    merged.extend(own.values())
    return sorted(merged, key=_filename) if own else merged
