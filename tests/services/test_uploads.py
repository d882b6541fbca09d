"""An upload on both storage backends (local files + SQLite, S3 + PostgreSQL): the blob is
written once, under its sha256, and served from the same /simple/ after the publish."""

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mirror.app import create_app
from mirror.services.backends import Backends
from mirror.storage import blob_key
from tests.support.dists import DistBuilder
from tests.support.uploads import post_upload, upload_token


def test_an_upload_is_stored_once_and_served(
    backends: Backends, dist_builder: DistBuilder, tmp_path: Path
) -> None:
    client = create_app(backends.config, backends).test_client()
    wheel = dist_builder.wheel("acme-tools", "1.0")
    secret = upload_token(backends)
    assert post_upload(client, wheel, secret).status_code == 200
    key = blob_key(hashlib.sha256(wheel.read_bytes()).hexdigest())
    assert backends.blobs.size(key) == wheel.stat().st_size
    assert post_upload(client, wheel, secret).status_code == 400  # never written twice
    assert wheel.name in client.get("/simple/acme-tools/").get_data(as_text=True)
    assert client.get(f"/packages/acme-tools/{wheel.name}").data == wheel.read_bytes()
    assert list(backends.blobs.staging_dir().glob("upload-*")) == []


def test_two_nodes_take_one_filename_once(
    backends: Backends, dist_builder: DistBuilder, tmp_path: Path
) -> None:
    # Two nodes (their own engine and store client on the same database and storage) get the
    # same file at once: one upload is kept, the other refused, the blob written once, and
    # both nodes serve it.
    other = Backends.from_config(backends.config)
    nodes = [create_app(b.config, b).test_client() for b in (backends, other)]
    wheel = dist_builder.wheel("acme-tools", "2.0")
    secret = upload_token(backends)
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda node: post_upload(node, wheel, secret), nodes))
    assert sorted(a.status_code for a in answers) == [200, 400]
    refused = next(a for a in answers if a.status_code == 400)
    assert "already exists" in refused.status
    key = blob_key(hashlib.sha256(wheel.read_bytes()).hexdigest())
    assert backends.blobs.size(key) == wheel.stat().st_size
    for node in nodes:
        assert wheel.name in node.get("/simple/acme-tools/").get_data(as_text=True)
        assert node.get(f"/packages/acme-tools/{wheel.name}").data == wheel.read_bytes()
    other.engine.dispose()
