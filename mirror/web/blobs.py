"""Send a stored blob: zero-copy from local disk, a redirect to a presigned URL, or streamed.

``send_file`` with a path hands the body to the server's ``wsgi.file_wrapper`` (sendfile under
gunicorn) and answers Range and conditional requests from the ETag. A store without local files
(S3) streams instead, with the same ETag, Range and conditional answers: the blob's stream is
seekable, so a Range request reads only the bytes it asks for.
"""

from flask import Response, request, send_file
from werkzeug.wsgi import FileWrapper

from mirror.web import services

# Chunk handed to the WSGI server per iteration when streaming from a remote store.
STREAM_CHUNK = 256 << 10


def send_blob(
    key: str, sha256: str, mimetype: str, *, cache: str, allow_redirect: bool = False
) -> Response:
    """The blob ``key`` as a response. ``allow_redirect``: may answer with a presigned URL."""
    store = services().blobs
    path = store.local_path(key)
    if path is not None:
        response = send_file(
            path, mimetype=mimetype, etag=sha256, conditional=True, max_age=None, last_modified=None
        )
        response.headers["Cache-Control"] = cache
        return response
    url = store.presigned_url(key) if allow_redirect else None
    if url is not None:
        response = Response(status=302, headers={"Location": url})
        # The URL expires within minutes: a cache must not keep the redirect like the file.
        response.headers["Cache-Control"] = "no-store"
        return response
    response = _stream(key, sha256, mimetype)
    response.headers["Cache-Control"] = cache
    return response


def _stream(key: str, sha256: str, mimetype: str) -> Response:
    stream = services().blobs.open(key)
    size = stream.seek(0, 2)
    stream.seek(0)
    body = FileWrapper(stream, STREAM_CHUNK)
    response = Response(body, mimetype=mimetype, direct_passthrough=True)
    response.content_length = size
    response.set_etag(sha256)
    response.make_conditional(request.environ, accept_ranges=True, complete_length=size)
    if request.method == "HEAD" or response.status_code in {304, 412}:
        response.close()
    return response
