"""Plain python-tuf clients for tests: an ngclient ``Updater`` over a Flask test client or a
real server, with nothing of the mirror's own client code in between."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from tuf.api.exceptions import DownloadHTTPError
from tuf.ngclient import FetcherInterface, Updater


class FlaskFetcher(FetcherInterface):
    """Fetches ``http://mirror/<path>`` from a Flask test client."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def _fetch(self, url: str) -> Iterator[bytes]:
        response = self.client.get(urlsplit(url).path)
        if response.status_code != 200:
            raise DownloadHTTPError(f"{url}: {response.status_code}", response.status_code)
        return iter([response.data])


def plain_updater(
    base_url: str, root: bytes, cache: Path, fetcher: FetcherInterface | None = None
) -> Updater:
    """A bare ngclient Updater for the mirror at ``base_url``, trusting ``root``."""
    (cache / "metadata").mkdir(parents=True, exist_ok=True)
    (cache / "targets").mkdir(parents=True, exist_ok=True)
    return Updater(
        str(cache / "metadata"),
        f"{base_url}/tuf/metadata/",
        str(cache / "targets"),
        f"{base_url}/tuf/targets/",
        fetcher=fetcher,
        bootstrap=root,
    )
