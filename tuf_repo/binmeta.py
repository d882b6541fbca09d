"""A hash bin's signed metadata, kept as its canonical JSON text.

At 100k targets a bin holds about 400 targets. python-tuf's ``Metadata``
builds a ``TargetFile`` per target to read a bin and a dict per target to
write it back, and even plain ``json.loads``/``json.dumps`` of every touched
bin was most of a publish's time. A batch touches a few targets per bin, so
a bin here stays the text it was stored as and a publish splices the changed
entries into it. Other roles are small and keep python-tuf's objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from tuf.api.metadata import Targets

from tuf_repo.errors import RepositoryStateError

# python-tuf's format for "expires" (Signed._common_fields_to_dict).
EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# A bin's `signed` in canonical form: the fields python-tuf writes for a
# Targets without delegations, in sorted order, and nothing else.
_HEAD = re.compile(
    r'\{"_type":"targets","expires":"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)",'
    r'"spec_version":"([0-9]+\.[0-9]+\.[0-9]+)","targets":\{'
)
_TAIL = re.compile(r'\},"version":([1-9][0-9]*)\}')
_ENTRY_HEAD = '":{"hashes":{"sha256":"'
_ENTRY_MIDDLE = '"},"length":'
# Entries are joined by a comma after the "}" that closes the previous one; the
# only other "}," in an entry follows its hash, a quote.
_SEPARATOR = '},"'


def entry_text(path: str, length: int, sha256: str) -> str:
    """Return a target's entry in a bin's canonical ``targets`` (TUF spec 4.5).

    ``path`` and ``sha256`` need no JSON escaping (``TargetChange`` checks
    both), so this is what ``json.dumps`` would write.
    """
    return f'"{path}{_ENTRY_HEAD}{sha256}{_ENTRY_MIDDLE}{length}}}'


@dataclass
class BinMetadata:
    """The ``signed`` part of one bin, kept as its canonical text.

    ``body`` is the text inside ``"targets":{...}``: one entry per target
    (``entry_text``), sorted by path and joined by commas. A publish edits a
    few entries of a bin of hundreds, so it splices the stored text instead
    of parsing and re-serialising every entry.
    """

    expires_text: str
    spec_version: str
    version: int
    body: str

    @classmethod
    def new(cls, now: datetime) -> BinMetadata:
        empty = Targets(expires=now)
        return cls(now.astimezone(UTC).strftime(EXPIRES_FORMAT), empty.spec_version, 0, "")

    @classmethod
    def from_bytes(cls, data: bytes, name: str) -> BinMetadata:
        """Read a stored bin, as this library writes them (compact JSON,
        sorted keys, ``signatures`` then ``signed``).

        Raises:
            RepositoryStateError: not a bin in that form.
        """
        try:
            text = data.decode()
        except UnicodeDecodeError as e:
            raise RepositoryStateError(f"{name} is not UTF-8: {e}") from e
        marker = text.find(',"signed":')
        head = _HEAD.match(text, marker + len(',"signed":')) if marker > 0 else None
        tail = text.rfind('},"version":') if head else -1
        version = _TAIL.fullmatch(text, tail, len(text) - 1) if tail > 0 else None
        body = text[head.end() : tail] if head and version else ""
        if (
            not text.startswith('{"signatures":[')
            or not text.endswith("}")
            or head is None
            or version is None
            or not _is_entry_list(body)
        ):
            raise RepositoryStateError(f"{name} is not a bin in the form this library writes")
        return cls(head[1], head[2], int(version[1]), body)

    @property
    def expires(self) -> datetime:
        return datetime.strptime(self.expires_text, EXPIRES_FORMAT).replace(tzinfo=UTC)

    def set_version(self, version: int, expires: datetime) -> None:
        self.version = version
        self.expires_text = expires.astimezone(UTC).strftime(EXPIRES_FORMAT)

    def signed_text(self) -> str:
        """Return the canonical JSON of ``signed``, which the signature covers."""
        return (
            f'{{"_type":"targets","expires":"{self.expires_text}",'
            f'"spec_version":"{self.spec_version}","targets":{{{self.body}}},'
            f'"version":{self.version}}}'
        )

    def apply(self, changes: dict[str, str | None]) -> bool:
        """Set each path's entry text, or remove the path for None, in one
        pass over the sorted entries.

        Returns True if anything changed: an identical entry or removing an
        absent path is a no-op, so it does not cost a new bin version.
        """
        body = self.body
        out: list[str] = []  # runs of untouched entries and new entries, in order
        cursor = 0  # start of the first entry not yet copied or replaced
        next_path = _path_at(body, cursor)  # that entry's path, kept as a batch adds runs
        changed = False
        for path in sorted(changes):
            new = changes[path]
            if next_path is not None and next_path < path:  # keep the entries before path
                start = _lower_bound(body, path, cursor)
                out.append(_run(body, cursor, start))
                cursor = start
                next_path = _path_at(body, cursor)
            if next_path == path:
                end = _next_entry(body, cursor + 1)
                changed |= new != _run(body, cursor, end)
                cursor = end
                next_path = _path_at(body, cursor)
            else:
                changed |= new is not None
            if new is not None:
                out.append(new)
        if cursor < len(body):
            out.append(body[cursor:])
        self.body = ",".join(out)
        return changed


def _is_entry_list(body: str) -> bool:
    """Check that ``body`` holds only entries in ``entry_text`` form.

    Counting is enough to catch a field this library does not write (every
    extra key adds a '":') at a fraction of a parse's cost; the bins are the
    library's own output, not untrusted input.
    """
    count = body.count(_ENTRY_HEAD)
    return (
        "\\" not in body
        and (count == 0) == (body == "")
        and body.count(_ENTRY_MIDDLE) == count
        and body.count('":') == 4 * count
        and body.count(_SEPARATOR) == 2 * count - 1 + (count == 0)
    )


def _key(body: str, start: int) -> str:
    return body[start + 1 : body.index('"', start + 1)]


def _path_at(body: str, start: int) -> str | None:
    """The path of the entry at ``start``; None at the end of ``body``."""
    return _key(body, start) if start < len(body) else None


def _next_entry(body: str, pos: int) -> int:
    """Return where the first entry at or after ``pos`` starts, or len(body)."""
    if pos == 0:
        return 0
    at = max(pos - 2, 0)
    while (at := body.find(_SEPARATOR, at)) >= 0:
        if body[at - 1].isdigit():  # after a length, not after a hash
            return at + 2
        at += 1
    return len(body)


def _lower_bound(body: str, path: str, lo: int) -> int:
    """Return where the first entry at or after ``lo`` whose path is not
    below ``path`` starts, or len(body): a binary search over offsets."""
    found = hi = len(body)
    while lo < hi:
        mid = (lo + hi) // 2
        start = _next_entry(body, mid)
        if start >= hi:
            hi = mid
        elif _key(body, start) < path:
            lo = start + 1
        else:
            found, hi = start, mid
    return found


def _run(body: str, start: int, end: int) -> str:
    """Return the entries from ``start`` up to the one starting at ``end``,
    without the comma between."""
    return body[start : end - 1] if end < len(body) else body[start:end]
