"""Distribution files, their PEP 658 ``.metadata`` and PEP 740 ``.provenance`` companions, and
their ``.admission`` records."""

from flask import Blueprint, Response

from mirror.errors import NotFoundError
from mirror.intoto import MEDIA_TYPE as RECORD_TYPE
from mirror.names import is_valid_project_name
from mirror.services import admission_records, files, prefetch, refusal
from mirror.services.first_download import servable_bytes
from mirror.services.target_paths import (
    ADMISSION_SUFFIX,
    METADATA_SUFFIX,
    PROVENANCE_SUFFIX,
    companion_of,
)
from mirror.web import backends, downloads
from mirror.web.blobs import send_blob
from mirror.web.downloads import FILE_CACHE

blueprint = Blueprint("packages", __name__)

# A provenance copy can be replaced (re-verified with more attestations); clients revalidate.
PROVENANCE_CACHE = "max-age=60, must-revalidate"
INTEGRITY_TYPE = "application/vnd.pypi.integrity.v1+json"


@blueprint.route("/packages/<project>/<filename>", methods=["GET", "HEAD"])
def distribution(project: str, filename: str) -> Response:
    if not is_valid_project_name(project):
        raise NotFoundError("invalid project name")
    distribution_name, suffix = companion_of(filename)
    row = refusal.servable_file(backends(), project, distribution_name)
    if suffix == METADATA_SUFFIX:
        fetched: list[bytes] = []
        blob = files.core_metadata(backends(), row, fetched=fetched.append)
        prefetch.after_metadata(backends(), row, fetched_now=bool(fetched))
        return send_blob(blob.key, blob.sha256, "text/plain; charset=utf-8", cache=FILE_CACHE)
    if suffix == PROVENANCE_SUFFIX:
        blob = files.provenance_copy(row)
        return send_blob(blob.key, blob.sha256, INTEGRITY_TYPE, cache=PROVENANCE_CACHE)
    if suffix == ADMISSION_SUFFIX:
        # Replaced when the file is decided again: revalidated like a provenance copy.
        blob = admission_records.record_blob(backends(), project, row)
        return send_blob(blob.key, blob.sha256, RECORD_TYPE, cache=PROVENANCE_CACHE)
    # Where upstream has no PEP 658 metadata, clients download wheels to resolve: the METADATA
    # extracted from one names the projects to read ahead, as a .metadata would.
    blob = servable_bytes(
        backends(), row, extracted=lambda _: prefetch.after_extracted(backends(), row)
    )
    return downloads.send_distribution(row, blob, allow_redirect=True)
