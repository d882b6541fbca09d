"""TUF metadata and targets (docs/tuf.md, "What is signed").

``/tuf/metadata/<N>.<role>.json`` never changes once written, so it may be cached for a year;
``/tuf/metadata/timestamp.json`` is the one mutable file and is revalidated on every use.
``/tuf/targets/<dir>/<sha256>.<name>`` serves the blob stored under that hash: the same bytes
as the file URL or the ``/simple/`` page. Only what the mirror serves elsewhere is served here:
an admitted file (or its PEP 658 or PEP 740 companion, or its current admission record) whose
digest matches, or a page as last
signed.
"""

import re

from flask import Blueprint, Response

from mirror.errors import NotFoundError
from mirror.intoto import MEDIA_TYPE as RECORD_TYPE
from mirror.names import is_valid_project_name
from mirror.services import admission_records, files, refusal
from mirror.services.files import Blob
from mirror.services.signed_pages import signed_page
from mirror.services.target_paths import (
    ADMISSION_SUFFIX,
    METADATA_SUFFIX,
    PROVENANCE_SUFFIX,
    companion_of,
)
from mirror.web import backends, downloads
from mirror.web.blobs import send_blob
from mirror.web.downloads import FILE_CACHE
from mirror.web.packages import INTEGRITY_TYPE

blueprint = Blueprint("tuf", __name__)

JSON = "application/json"
TIMESTAMP_CACHE = "no-cache"
_METADATA_NAME = re.compile(r"(?:[1-9][0-9]*\.[A-Za-z0-9][A-Za-z0-9_-]*|timestamp)\.json")
_HASHED = re.compile(r"([0-9a-f]{64})\.(.+)")


@blueprint.get("/tuf/metadata/<name>")
def metadata(name: str) -> Response:
    data = backends().metadata.read(name) if _METADATA_NAME.fullmatch(name) else None
    if data is None:
        raise NotFoundError(f"no TUF metadata {name[:100]!r}")
    response = Response(data, mimetype=JSON)
    response.headers["Cache-Control"] = TIMESTAMP_CACHE if name == "timestamp.json" else FILE_CACHE
    return response


@blueprint.route("/tuf/targets/<area>/<project>/<hashed>", methods=["GET", "HEAD"])
def target(area: str, project: str, hashed: str) -> Response:
    match = _HASHED.fullmatch(hashed)
    if area not in ("packages", "simple") or match is None or not is_valid_project_name(project):
        raise NotFoundError("no such TUF target")
    sha256, name = match.groups()
    if area == "simple":
        return _page(project, name, sha256)
    return _package_file(project, name, sha256)


def _page(project: str, name: str, sha256: str) -> Response:
    refusal.check_project(backends(), project)
    if signed_page(backends(), project, name) != sha256:
        raise NotFoundError(f"simple/{project}/{name}: no such signed page")
    mimetype = JSON if name.endswith(".json") else "text/html; charset=utf-8"
    blob = Blob.stored(sha256)
    return send_blob(blob.key, blob.sha256, mimetype, cache=FILE_CACHE)


def _package_file(project: str, name: str, sha256: str) -> Response:
    filename, suffix = companion_of(name)
    row = refusal.servable_file(backends(), project, filename)
    if suffix == ADMISSION_SUFFIX:
        blob = admission_records.record_blob(backends(), project, row)
        if blob.sha256 != sha256:
            raise NotFoundError(f"{name}: no such version")
        return send_blob(blob.key, blob.sha256, RECORD_TYPE, cache=FILE_CACHE)
    digests = {
        "": row.sha256,
        METADATA_SUFFIX: row.metadata_sha256,
        PROVENANCE_SUFFIX: row.provenance_sha256,
    }
    if digests[suffix] != sha256:
        raise NotFoundError(f"{name}: no such version")
    if suffix == METADATA_SUFFIX:
        blob, mimetype = files.core_metadata(backends(), row), "text/plain; charset=utf-8"
    elif suffix == PROVENANCE_SUFFIX:
        blob, mimetype = files.provenance_copy(row), INTEGRITY_TYPE
    else:
        # Not redirected: a TUF client fetches the target path it verifies.
        return downloads.send_distribution(
            row, refusal.servable_distribution(backends(), row), allow_redirect=False
        )
    return send_blob(blob.key, blob.sha256, mimetype, cache=FILE_CACHE)
