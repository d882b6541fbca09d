"""Uploads to POST /legacy/ from a Flask test client, as twine sends them."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mirror.services import tokens
from mirror.services.backends import Backends


def basic(secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"__token__:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def upload_token(backends: Backends, *patterns: str) -> str:
    return tokens.create_upload(
        backends, patterns or ("acme-*",), ttl=None, name="ci", created_by="test", reason="r"
    ).secret


def post_upload(
    client: FlaskClient,
    path: Path,
    secret: str | None,
    *,
    data: bytes | None = None,
    **fields: str,
) -> TestResponse:
    """Upload ``path`` (its bytes, or ``data`` in their place); ``fields`` replace the form's."""
    content = path.read_bytes() if data is None else data
    name, version = path.name.split("-")[:2]
    form: dict[str, Any] = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": name,
        "version": version.removesuffix(".tar.gz"),
        "filetype": "bdist_wheel" if path.name.endswith(".whl") else "sdist",
        "pyversion": "py3",
        "metadata_version": "2.1",
        "sha256_digest": hashlib.sha256(content).hexdigest(),
        **fields,
        "content": (io.BytesIO(content), path.name),
    }
    headers = basic(secret) if secret else {}
    return client.post("/legacy/", data=form, headers=headers, content_type="multipart/form-data")
