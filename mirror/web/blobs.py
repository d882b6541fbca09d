"""Send a stored blob: zero-copy from local disk when possible, streamed otherwise.

A blob's key is its sha256, so the digest is a strong ETag and the bytes never change. The
common case, a whole local blob, is answered here directly: 304 when the client's ETag
matches, else the open file handed to the server's ``wsgi.file_wrapper`` (gunicorn sends it
with sendfile(2), so the bytes never pass through Python). Ranges and blobs that are not on
local disk go through werkzeug's ``send_file``, which implements Range and conditional
requests in full. The short path exists for speed (issue 7: well under a millisecond of CPU
per warm page request).
"""

import os

from flask import Response, request, send_file
from werkzeug.wsgi import wrap_file

from mirror.web import services


def send_blob(key: str, sha256: str, mimetype: str, *, cache: str) -> Response:
    store = services().blobs
    path = store.local_path(key)
    if path is not None and "Range" not in request.headers:
        return _send_whole(str(path), sha256, mimetype, cache)
    source = path if path is not None else store.open(key)
    response = send_file(
        source, mimetype=mimetype, etag=sha256, conditional=True, max_age=None, last_modified=None
    )
    response.headers["Cache-Control"] = cache
    if path is None and request.method == "HEAD":
        response.close()
    return response


def _send_whole(path: str, sha256: str, mimetype: str, cache: str) -> Response:
    headers = {"ETag": f'"{sha256}"', "Cache-Control": cache, "Accept-Ranges": "bytes"}
    if "If-None-Match" in request.headers and request.if_none_match.contains(sha256):
        return Response(status=304, headers=headers)
    handle = open(path, "rb")  # noqa: SIM115 - closed by the server when the response ends
    headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
    body = wrap_file(request.environ, handle)
    return Response(body, mimetype=mimetype, headers=headers, direct_passthrough=True)
