"""Send a stored blob: zero-copy from local disk, a redirect to a presigned URL, or streamed.

A blob's key is its sha256, so the digest is a strong ETag and the bytes never change. The
common case, a whole local blob, is answered here directly: 304 when the client's ETag
matches, else the open file handed to the server's ``wsgi.file_wrapper`` (gunicorn sends it
with sendfile(2), so the bytes never pass through Python). A local Range request goes through
werkzeug's ``send_file``. A store without local files (S3) answers with a presigned redirect
when allowed, else streams with the same ETag, Range and conditional answers: the blob's stream
is seekable, so a Range request reads only the bytes it asks for. The short path exists for
speed (issue 7: well under a millisecond of CPU per warm page request).
"""

import os

from flask import Response, request, send_file
from werkzeug.wsgi import FileWrapper, wrap_file

from mirror.web import services

# Chunk handed to the WSGI server per iteration when streaming from a remote store.
STREAM_CHUNK = 256 << 10


def send_blob(
    key: str, sha256: str, content_type: str, *, cache: str, allow_redirect: bool = False
) -> Response:
    """The blob ``key`` as a response. ``allow_redirect``: may answer with a presigned URL.

    ``content_type`` is sent as given (werkzeug's ``mimetype`` would add a second charset).
    """
    store = services().blobs
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
    stream = services().blobs.open(key)
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
    handle = open(path, "rb")  # noqa: SIM115 - closed by the server when the response ends
    headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
    body = wrap_file(request.environ, handle)
    return Response(body, content_type=content_type, headers=headers, direct_passthrough=True)
