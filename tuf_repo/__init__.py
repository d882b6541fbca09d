"""TUF repository library for the signed mirror, and the pipeline-side client.

``keys`` holds key files and the ``KeyRing``; ``bins`` the pure path and
hash-bin helpers; ``binmeta`` a bin's metadata as canonical text and
``canonical`` the signed bytes of other roles; ``store`` the
``MetadataStore`` protocol; ``repository``
the operations (bootstrap, publish, refresh, renew, rotate, import, sweep);
``client`` the verifying ``MirrorClient``. No Flask and no database here.
"""

from tuf_repo.bins import TargetChange, bin_for_path
from tuf_repo.client import MirrorClient
from tuf_repo.errors import TufRepoError, VerificationError
from tuf_repo.keys import KeyRing, init_keys, load_keyring
from tuf_repo.repository import (
    PublishResult,
    bootstrap,
    publish,
    refresh_timestamp,
    renew,
    status,
)
from tuf_repo.store import DirectoryMetadataStore, MetadataStore

__all__ = [
    "DirectoryMetadataStore",
    "KeyRing",
    "MetadataStore",
    "MirrorClient",
    "PublishResult",
    "TargetChange",
    "TufRepoError",
    "VerificationError",
    "bin_for_path",
    "bootstrap",
    "init_keys",
    "load_keyring",
    "publish",
    "refresh_timestamp",
    "renew",
    "status",
]
