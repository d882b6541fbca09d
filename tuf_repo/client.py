"""The pipeline-side verifying client: python-tuf's ``Updater`` against a mirror.

Trust starts from a pinned root (``mirror keys export-root``), never from a
first download. Metadata comes from ``<base>/tuf/metadata/`` and targets from
``<base>/tuf/targets/`` (hash-prefixed names, consistent snapshots). Every
refusal becomes a ``VerificationError`` subclass naming the target and why.

Use one cache folder per job: ngclient does not support concurrent updaters
on one folder. Not done here: choosing files from index pages or running pip.
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import tuf
from tuf.api import exceptions
from tuf.api.metadata import TargetFile
from tuf.ngclient import Updater, Urllib3Fetcher
from tuf.ngclient._internal.proxy import ProxyEnvironment

from tuf_repo.errors import (
    BadSignatureError,
    ExpiredError,
    FetchError,
    HashMismatchError,
    MetadataError,
    RollbackError,
    TargetNotFoundError,
)

# Basic (user, password) as pip sends ``__token__:TOKEN``, or a bearer token.
Auth = tuple[str, str] | str


def authorization_header(auth: Auth) -> str:
    """Return the Authorization header value for ``auth``."""
    if isinstance(auth, tuple):
        user, password = auth
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Bearer {auth}"


class AuthFetcher(Urllib3Fetcher):
    """``Urllib3Fetcher`` that sends an Authorization header with every request.

    The default fetcher ignores ``user:token@`` in URLs. This keeps its
    timeouts, retries and proxy handling and only adds the header; urllib3
    drops it on redirects to another host. ``ProxyEnvironment`` is python-tuf
    internal, which is acceptable because tuf is pinned (pyproject.toml).
    """

    def __init__(self, auth: Auth, socket_timeout: int = 30) -> None:
        super().__init__(socket_timeout=socket_timeout)
        headers = {
            "User-Agent": f"signed-mirror python-tuf/{tuf.__version__}",
            "Authorization": authorization_header(auth),
        }
        self._proxy_env = ProxyEnvironment(headers=headers)


@contextmanager
def _translate(subject: str) -> Iterator[None]:
    """Turn python-tuf's exceptions into ours, naming ``subject``."""
    try:
        yield
    except exceptions.ExpiredMetadataError as e:
        raise ExpiredError(f"{subject}: metadata expired: {e}") from e
    except exceptions.BadVersionNumberError as e:
        raise RollbackError(f"{subject}: rollback refused: {e}") from e
    except exceptions.UnsignedMetadataError as e:
        raise BadSignatureError(f"{subject}: bad signature: {e}") from e
    except (exceptions.LengthOrHashMismatchError, exceptions.DownloadLengthMismatchError) as e:
        raise HashMismatchError(f"{subject}: length or hash mismatch: {e}") from e
    except exceptions.RepositoryError as e:
        raise MetadataError(f"{subject}: invalid metadata: {e}") from e
    except exceptions.DownloadHTTPError as e:
        raise FetchError(f"{subject}: HTTP {e.status_code} from the mirror") from e
    except exceptions.DownloadError as e:
        raise FetchError(f"{subject}: download failed: {e}") from e


class MirrorClient:
    """Verify and download targets from a signed mirror.

    Args:
        base_url: the mirror root, e.g. ``https://mirror.example/``.
        root_bytes: the pinned trusted root metadata.
        cache_dir: per-job folder for verified metadata.
        auth: ``(user, password)`` for basic auth or a bearer token string.
    """

    def __init__(
        self,
        base_url: str,
        root_bytes: bytes,
        cache_dir: Path,
        auth: Auth | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        self._metadata_url = f"{base}/tuf/metadata/"
        self._targets_url = f"{base}/tuf/targets/"
        self._root = root_bytes
        self._metadata_dir = Path(cache_dir, "metadata")
        self._download_dir = Path(cache_dir, "downloads")
        self._metadata_dir.mkdir(parents=True, exist_ok=True)
        self._download_dir.mkdir(parents=True, exist_ok=True)
        self._fetcher = None if auth is None else AuthFetcher(auth)
        self._updater: Updater | None = None

    def refresh(self) -> None:
        """Load the newest root, timestamp, snapshot and targets.

        An ``Updater`` refreshes only once, so each call starts a new one; the
        cached metadata still protects against rollback across calls.
        """
        self._updater = self._new_updater()
        with _translate("refresh"):
            self._updater.refresh()

    def _refreshed(self) -> Updater:
        if self._updater is None:
            self.refresh()
        assert self._updater is not None  # set by refresh()
        return self._updater

    def _new_updater(self) -> Updater:
        with _translate("pinned root"):
            return Updater(
                str(self._metadata_dir),
                self._metadata_url,
                str(self._download_dir),
                self._targets_url,
                fetcher=self._fetcher,
                bootstrap=self._root,
            )

    def get_targetinfo(self, target_path: str) -> TargetFile:
        """Return the signed length and hashes of ``target_path``.

        Raises:
            TargetNotFoundError: no signed metadata lists it.
            VerificationError: metadata failed to verify.
        """
        with _translate(target_path):
            info = self._refreshed().get_targetinfo(target_path)
        if info is None:
            raise TargetNotFoundError(f"{target_path}: not found in signed metadata")
        return info

    def download(self, target_path: str, dest: Path) -> TargetFile:
        """Download ``target_path`` to ``dest`` after verifying it.

        ngclient checks length and hashes on a temporary file before copying
        to ``dest``, so ``dest`` never holds unverified bytes.
        """
        info = self.get_targetinfo(target_path)
        with _translate(target_path):
            self._refreshed().download_target(info, filepath=str(dest))
        return info

    def fetch_bytes(self, target_path: str) -> bytes:
        """Return the verified bytes of a small target such as an index page."""
        with tempfile.TemporaryDirectory(dir=self._download_dir) as tmp:
            path = Path(tmp, "target")
            self.download(target_path, path)
            return path.read_bytes()
