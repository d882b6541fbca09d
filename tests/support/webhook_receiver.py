"""A webhook receiver on 127.0.0.1 for the notification tests: it checks each request's
HMAC-SHA256 signature as docs/notifications.md tells receivers to, and answers the statuses
it is given in turn (then 200)."""

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIGNATURE_HEADER = "X-Signed-Mirror-Signature"


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    signature_ok: bool
    status: int

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    secret: str
    url: str = ""
    answers: list[int] = field(default_factory=list)
    redirect_to: str | None = None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verified(self, body: bytes, header: str | None) -> bool:
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return header is not None and hmac.compare_digest(expected, header)

    def answer(self, body: bytes, headers: dict[str, str]) -> int:
        with self.lock:
            status = self.answers.pop(0) if self.answers else 200
            ok = self.verified(body, headers.get(SIGNATURE_HEADER))
            self.received.append(Received(body, headers, ok, status if ok else 401))
            return status if ok else 401

    def ids(self) -> list[int]:
        with self.lock:
            return [item.document["id"] for item in self.received]


@contextmanager
def running_receiver(secret: str) -> Iterator[Receiver]:
    receiver = Receiver(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.answer(body, dict(self.headers.items()))
            self.send_response(status)
            if 300 <= status < 400 and receiver.redirect_to:
                self.send_header("Location", receiver.redirect_to)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
