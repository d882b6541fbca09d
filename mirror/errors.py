"""The mirror's error hierarchy.

A held or refused release is a normal result with reasons, not an exception; these are for
things that stop an operation. The CLI prints ``str(error)`` as one line; the web layer maps
them to status codes.
"""

import errno
import os


class MirrorError(Exception):
    """Base of every error the mirror reports to a person."""


class ConfigError(MirrorError):
    """The configuration is missing, malformed or contradictory."""


class UpstreamError(MirrorError):
    """The upstream index failed, timed out or sent something unacceptable."""


class DigestMismatchError(UpstreamError):
    """Bytes from upstream do not match the digest or size the upstream advertised."""


class NotFoundError(MirrorError):
    """The requested project or file does not exist or is not admitted."""


class StorageError(MirrorError):
    """The blob store or database could not be reached or written."""


class PublishError(MirrorError):
    """TUF metadata could not be published: keys not loaded, metadata not signed or written.

    The mirror's own error for its publishing paths; ``tuf_repo.errors.SigningError`` is the
    library's, raised when one role's metadata cannot be signed.
    """


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def disk_full(exc: BaseException) -> str | None:
    """The reason to report when ``exc`` is a write that found no space left, else None."""
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        return f"disk full: {os.strerror(exc.errno)}"
    return None
