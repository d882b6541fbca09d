"""A file's bytes as a client's download gets them: the path a client's first download takes
and the download-ahead (``mirror.services.prefetch``) share, so both fetch, verify, inspect and
refuse alike."""

from collections.abc import Callable

from mirror.db.records import NamedRow
from mirror.errors import DigestMismatchError
from mirror.services import files, publish, refusal
from mirror.services.backends import Backends


def servable_bytes(
    backends: Backends, row: NamedRow, extracted: Callable[[bytes], None] | None = None
) -> files.Blob:
    """``refusal.servable_distribution`` of a row ``refusal.servable_file`` gave.

    Raises what it raises; on a digest mismatch the file is rejected and its page signed at
    once without it.
    """
    try:
        return refusal.servable_distribution(backends, row, extracted)
    except DigestMismatchError:
        # The file is rejected now (upstream's bytes do not match): its page stops listing it
        # as soon as it is signed. A first download that only gave the page a PEP 658 metadata
        # hash (extracted from the wheel) leaves the page to the scheduler's next batch:
        # signing waits for the publish lock, which a client's concurrent first looks hold in
        # turn, and the client asked for this file, not for the page.
        publish.publish_now(backends, row.project, pages_only=True)
        raise
