"""Errors raised by ``tuf_repo``: one base, a few children.

Repository-side errors (keys, store, state, signing) and pipeline-side
verification errors share the ``TufRepoError`` base so a CLI can catch it once
and print one line. Messages are short lowercase phrases naming the role or
target and what was wrong; lower-layer errors are chained with ``from``.
"""


class TufRepoError(Exception):
    """Base of every error raised by ``tuf_repo``."""


class KeyFileError(TufRepoError):
    """A key file is missing, already exists, or cannot be decrypted."""


class MissingKeyError(TufRepoError):
    """The operation needs a private key the key ring does not hold."""


class MetadataExistsError(TufRepoError):
    """A versioned metadata file already exists and must not be overwritten."""


class RepositoryStateError(TufRepoError):
    """The stored metadata is missing, already initialised or inconsistent."""


class SigningError(TufRepoError):
    """New metadata does not verify against its delegator, so it was not written."""


class RootRejectedError(TufRepoError):
    """An imported root does not chain from the current root."""


class VerificationError(TufRepoError):
    """The pipeline-side client refused metadata or a target."""


class TargetNotFoundError(VerificationError):
    """The target is not listed in the signed metadata."""


class HashMismatchError(VerificationError):
    """Downloaded bytes (a target or metadata) do not match the signed length or hash."""


class ExpiredError(VerificationError):
    """Signed metadata has expired (freeze attack or a stalled publisher)."""


class RollbackError(VerificationError):
    """Metadata is older than what the client already trusts."""


class BadSignatureError(VerificationError):
    """Metadata lacks a threshold of valid signatures from trusted keys."""


class MetadataError(VerificationError):
    """Metadata is otherwise inconsistent (e.g. a bin missing from the snapshot)."""


class FetchError(VerificationError):
    """Metadata or a target could not be downloaded from the mirror."""
