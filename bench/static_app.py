"""A static file server as a bare WSGI app: the Python-side bar for serving pages.

It serves ``$BENCH_STATIC_ROOT``: a file as it is, a folder as its ``index.json`` when the
client accepts JSON, else its ``index.html`` (the negotiation nginx does in the benchmark).
A file with a ``.gz`` copy beside it is answered with the copy when the client accepts gzip
(nginx's ``gzip_static``): compressed once, when the root was built, never per request.
Bodies go to the server's ``wsgi.file_wrapper`` (sendfile under gunicorn). Nothing else: no
logging, no metrics, no ETag; what remains is what gunicorn itself costs per request.
"""

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("BENCH_STATIC_ROOT", ".")).resolve()
_TYPES = {".html": "text/html", ".json": "application/vnd.pypi.simple.v1+json"}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    # normpath, not resolve: ".." cannot leave the root, a symlink in it may (the large file).
    target = Path(os.path.normpath(ROOT / environ["PATH_INFO"].lstrip("/")))
    if target.is_dir():
        json_ = "json" in environ.get("HTTP_ACCEPT", "")
        target = target / ("index.json" if json_ else "index.html")
    if not target.is_relative_to(ROOT) or not target.is_file():
        start_response("404 Not Found", [("Content-Length", "0")])
        return []
    headers = [("Content-Type", _TYPES.get(target.suffix, "application/octet-stream"))]
    compressed = target.with_name(f"{target.name}.gz")
    if compressed.is_file():
        headers.append(("Vary", "Accept-Encoding"))
        if _accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", "")):
            target = compressed
            headers.append(("Content-Encoding", "gzip"))
    handle = target.open("rb")
    headers.append(("Content-Length", str(os.fstat(handle.fileno()).st_size)))
    start_response("200 OK", headers)
    wrapper: Callable[[Any], Iterable[bytes]] = environ["wsgi.file_wrapper"]
    return wrapper(handle)


def _accepts_gzip(accept_encoding: str) -> bool:
    # The least a server can do: the benchmark's clients send "gzip, deflate" or nothing, never
    # a weight of 0 (ours and nginx read the weights, at a cost this bar leaves out).
    return "gzip" in accept_encoding
