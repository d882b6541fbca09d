"""Send a stored blob: zero-copy from local disk, a redirect to a presigned URL, or streamed.

A blob's key is its sha256, so the digest is a strong ETag and the bytes never change. The
common case, a whole local blob, is answered here directly: 304 when the client's ETag
matches, else the open file handed to the server's ``wsgi.file_wrapper`` (gunicorn sends it
with sendfile(2), so the bytes never pass through Python; the connection is corked meanwhile).
A local Range request goes through werkzeug's ``send_file``. A store without local files (S3)
answers with a presigned redirect when allowed, else streams with the same ETag, Range and
conditional answers: the blob's stream is seekable, so a Range request reads only the bytes it
asks for. The short path exists for speed (docs/performance.md: well under a millisecond of CPU per
warm page request).
"""

import io
import os
import socket
from typing import Any

from flask import Response, request, send_file
from werkzeug.wsgi import FileWrapper, wrap_file

from mirror.web import backends

# Chunk handed to the WSGI server per iteration when streaming from a remote store.
STREAM_CHUNK = 256 << 10


def send_blob(
    key: str, sha256: str, content_type: str, *, cache: str, allow_redirect: bool = False
) -> Response:
    """The blob ``key`` as a response. ``allow_redirect``: may answer with a presigned URL.

    ``content_type`` is sent as given (werkzeug's ``mimetype`` would add a second charset).
    """
    store = backends().blobs
    path = store.local_path(key)
    if path is not None:
        if "Range" not in request.headers:
            return _send_whole(str(path), sha256, content_type, cache)
        response = send_file(path, etag=sha256, conditional=True, max_age=None, last_modified=None)
        response.headers["Content-Type"] = content_type
        response.headers["Cache-Control"] = cache
        return response
    url = store.presigned_url(key) if allow_redirect else None
    if url is not None:
        response = Response(status=302, headers={"Location": url})
        # The URL expires within minutes: a cache must not keep the redirect like the file.
        response.headers["Cache-Control"] = "no-store"
        return response
    response = _stream(key, sha256, content_type)
    response.headers["Cache-Control"] = cache
    return response


def _stream(key: str, sha256: str, content_type: str) -> Response:
    stream = backends().blobs.open(key)
    size = stream.seek(0, 2)
    stream.seek(0)
    body = FileWrapper(stream, STREAM_CHUNK)
    response = Response(body, content_type=content_type, direct_passthrough=True)
    response.content_length = size
    response.set_etag(sha256)
    response.make_conditional(request.environ, accept_ranges=True, complete_length=size)
    if request.method == "HEAD" or response.status_code in {304, 412}:
        response.close()
    return response


def _send_whole(path: str, sha256: str, content_type: str, cache: str) -> Response:
    headers = {"ETag": f'"{sha256}"', "Cache-Control": cache, "Accept-Ranges": "bytes"}
    if "If-None-Match" in request.headers and request.if_none_match.contains(sha256):
        return Response(status=304, headers=headers)
    sock = _tcp_socket(request.environ)
    # Closed by the server when the response ends.
    handle = _CorkedFile(path, sock) if sock else open(path, "rb")  # noqa: SIM115
    headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
    body = wrap_file(request.environ, handle)
    return Response(body, content_type=content_type, headers=headers, direct_passthrough=True)


class _CorkedFile(io.FileIO):
    """A file sent with the connection corked (``TCP_CORK``), as nginx's ``tcp_nopush`` does:
    the kernel sends the headers and the sendfile(2) body in full segments only. Closing the
    file (the server does once the body is sent) uncorks, which sends what is left and leaves
    the connection as it was for the next response. A 1 GB download went from about 2,100 to
    2,600-3,000 MB/s here (bench/README.md)."""

    def __init__(self, path: str, sock: socket.socket) -> None:
        super().__init__(path, "rb")
        self._sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)

    def close(self) -> None:
        try:
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        except OSError:
            pass  # the client went away: nothing is left to send
        finally:
            super().close()


def _tcp_socket(environ: dict[str, Any]) -> socket.socket | None:
    """The client's TCP connection, when the server (gunicorn) hands it to the app."""
    sock = environ.get("gunicorn.socket")
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        return sock
    return None
