"""``POST /legacy/``: the upload API twine and ``uv publish`` speak (docs/private-packages.md).

A multipart form with ``:action=file_upload``, the project ``name`` and ``version``, the file as
``content`` and its ``sha256_digest``, sent with an upload token (HTTP basic auth, user
``__token__``). Refusals answer 400 (403 outside the token's patterns) with the reason in the
status line too: that line is what twine and uv print.
"""

from flask import Blueprint, Response, request
from werkzeug.datastructures import FileStorage

from mirror.services import uploads
from mirror.services.tokens import Scope
from mirror.web import backends
from mirror.web.auth import challenge, current_token, forbidden

blueprint = Blueprint("legacy", __name__)

# Form fields besides the file are small; bound what is parsed before the view runs.
_MAX_FORM_FIELD_BYTES = 1 << 20
_FORM_OVERHEAD_BYTES = 8 << 20


@blueprint.post("/legacy/")
def upload() -> Response:
    token = current_token()
    if token is None:
        return challenge()
    if token.scope != Scope.UPLOAD:
        return forbidden(Scope.UPLOAD)
    limit = backends().config.private.max_upload_bytes
    request.max_content_length = limit + _FORM_OVERHEAD_BYTES
    request.max_form_memory_size = _MAX_FORM_FIELD_BYTES
    form = request.form
    if form.get(":action") != "file_upload":
        return _refused(400, "only :action=file_upload is supported")
    content = request.files.get("content")
    missing = [key for key in ("name", "version", "sha256_digest") if not form.get(key)]
    if content is None or not content.filename or missing:
        return _refused(400, f"missing form fields: {', '.join(missing or ['content'])}")
    return _accept(content, form.get("name", ""), form.get("version", ""), form)


def _accept(content: FileStorage, name: str, version: str, form: dict[str, str]) -> Response:
    token = current_token()
    assert token is not None and content.filename
    mirror = backends()
    try:
        staged = uploads.stage(mirror, content.stream)
    except uploads.UploadError as exc:
        return _refused(400, str(exc))
    upload = uploads.Upload(
        name=name,
        version=version,
        filename=content.filename,
        sha256_digest=form.get("sha256_digest", ""),
        staged=staged,
    )
    uploader = uploads.Uploader(token, request.remote_addr, request.headers.get("User-Agent"))
    try:
        uploads.accept(mirror, upload, uploader)
    except uploads.UploadForbiddenError as exc:
        return _refused(403, str(exc))
    except uploads.UploadError as exc:
        return _refused(400, str(exc))
    finally:
        staged.unlink(missing_ok=True)
    return Response("OK\n", status=200, mimetype="text/plain")


def _refused(status: int, message: str) -> Response:
    # The reason phrase is one line of printable latin-1: what twine shows.
    phrase = "".join(c if c.isprintable() and ord(c) < 256 else "?" for c in message)[:500]
    return Response(f"{message}\n", status=f"{status} {phrase}", mimetype="text/plain")
