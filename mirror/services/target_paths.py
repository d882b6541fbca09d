"""Where a file and its companions live under ``packages/`` and a project's pages under
``simple/``: the same path names a URL and its TUF target.

The layout is defined once, in ``tuf_repo.bins``, which the signer and the pipeline client
share; the web reads it here, as it reaches every backend through services.
"""

from tuf_repo.bins import (
    ADMISSION_SUFFIX,
    METADATA_SUFFIX,
    PROVENANCE_SUFFIX,
    companion_of,
    index_html_path,
    index_json_path,
    package_path,
)

__all__ = [
    "ADMISSION_SUFFIX",
    "METADATA_SUFFIX",
    "PROVENANCE_SUFFIX",
    "companion_of",
    "index_html_path",
    "index_json_path",
    "package_path",
]
