"""A wheel's METADATA, extracted when upstream offers no PEP 658 copy of it."""

import logging
import zipfile

from mirror.errors import MirrorError
from mirror.services.backends import Backends

log = logging.getLogger(__name__)

MAX_METADATA_BYTES = 16 << 20


def extract_metadata(backends: Backends, key: str, filename: str) -> bytes | None:
    """The METADATA of the wheel kept under ``key``; None (and a warning) when it has none."""
    try:
        with backends.blobs.open(key) as handle, zipfile.ZipFile(handle) as wheel:
            return read_metadata(wheel, filename)
    except (zipfile.BadZipFile, OSError, MirrorError) as exc:
        log.warning("no metadata extracted", extra={"file": filename, "error": str(exc)})
        return None


def read_metadata(wheel: zipfile.ZipFile, filename: str) -> bytes | None:
    """The wheel's ``*.dist-info/METADATA``, or None when it has not exactly one (or a huge one)."""
    # PEP 427: exactly one top-level *.dist-info/METADATA; anything else is not trusted.
    names = [n for n in wheel.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    if len(names) != 1 or wheel.getinfo(names[0]).file_size > MAX_METADATA_BYTES:
        log.warning("wheel has no single METADATA", extra={"file": filename})
        return None
    return wheel.read(names[0])
