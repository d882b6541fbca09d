"""Helpers for the tuf_repo tests: key rings of fresh keys, and a local HTTP
server with the mirror's URL layout (/tuf/metadata/..., /tuf/targets/...)."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from securesystemslib.signer import CryptoSigner
from tuf.ngclient import Updater

from tuf_repo.bins import TargetChange
from tuf_repo.keys import KeyRing
from tuf_repo.store import MetadataStore


def make_keyring(root_keys: int = 1, threshold: int = 1) -> KeyRing:
    targets = CryptoSigner.generate_ed25519()
    return KeyRing(
        online=CryptoSigner.generate_ed25519(),
        root=tuple(CryptoSigner.generate_ed25519() for _ in range(root_keys)),
        root_threshold=threshold,
        targets=targets,
        bins=targets,
    )


class TufServer:
    """Serves a MetadataStore and target blobs stored by hash.

    ``require_auth`` makes every request without that exact Authorization
    header a 401; ``seen_auth`` records what each request sent.
    """

    def __init__(self, store: MetadataStore, require_auth: str | None = None) -> None:
        self.store = store
        self.require_auth = require_auth
        self.blobs: dict[str, bytes] = {}  # "<dir>/<sha256>.<name>" -> bytes
        self.seen_auth: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.seen_auth.append(self.headers.get("Authorization"))
                if server.require_auth and self.headers.get("Authorization") != server.require_auth:
                    self.send_error(401)
                    return
                body = server.lookup(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def lookup(self, path: str) -> bytes | None:
        if path.startswith("/tuf/metadata/"):
            name = path.removeprefix("/tuf/metadata/")
            return self.store.read(name) if "/" not in name else None
        if path.startswith("/tuf/targets/"):
            return self.blobs.get(path.removeprefix("/tuf/targets/"))
        return None

    def add_target(self, path: str, data: bytes) -> TargetChange:
        """Store a blob under its hashed URL and return the change that admits it."""
        digest = hashlib.sha256(data).hexdigest()
        directory, _, name = path.rpartition("/")
        self.blobs[f"{directory}/{digest}.{name}"] = data
        return TargetChange.add(path, len(data), digest)

    def __enter__(self) -> TufServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def root_bytes(store: MetadataStore, version: int = 1) -> bytes:
    data = store.read(f"{version}.root.json")
    assert data is not None
    return data


def refreshed_updater(server: TufServer, tmp_path: Path) -> Updater:
    """A plain python-tuf client of ``server`` trusting its version 1 root, refreshed."""
    updater = Updater(
        str(tmp_path / "meta"),
        f"{server.url}/tuf/metadata/",
        str(tmp_path / "dl"),
        f"{server.url}/tuf/targets/",
        bootstrap=root_bytes(server.store),
    )
    updater.refresh()
    return updater
