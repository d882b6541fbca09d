"""Send a stored blob: zero-copy from local disk when possible, streamed otherwise.

``send_file`` with a path hands the body to the server's ``wsgi.file_wrapper`` (sendfile under
gunicorn) and answers Range and conditional requests from the ETag.
"""

from flask import Response, request, send_file

from mirror.web import services


def send_blob(key: str, sha256: str, mimetype: str, *, cache: str) -> Response:
    store = services().blobs
    path = store.local_path(key)
    source = path if path is not None else store.open(key)
    response = send_file(
        source, mimetype=mimetype, etag=sha256, conditional=True, max_age=None, last_modified=None
    )
    response.headers["Cache-Control"] = cache
    if path is None and request.method == "HEAD":
        response.close()
    return response
