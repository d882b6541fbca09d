"""Private packages uploaded through POST /legacy/ (docs/private-packages.md): who may upload,
what is refused and why, and that an upload is served, signed, from the same /simple/."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from mirror.app import create_app
from mirror.db import private_rows
from mirror.scheduler import run_cycle
from mirror.services import signing, tokens
from mirror.services.backends import Backends
from mirror.services.tokens import Scope, TokenError
from tests.support.dists import DistBuilder, build_wheel
from tests.support.fake_upstream import FakeUpstream
from tests.support.tuf_clients import FlaskFetcher, plain_updater
from tests.support.uploads import basic, post_upload, upload_token
from tests.web.conftest import OLD

WHEEL = "acme_tools-1.0-py3-none-any.whl"


@pytest.fixture
def wheel(dist_builder: DistBuilder) -> Path:
    return dist_builder.wheel("acme-tools", "1.0")


def test_an_upload_is_served_on_simple_and_signed(
    backends: Backends, client: FlaskClient, wheel: Path, tmp_path: Path
) -> None:
    response = post_upload(client, wheel, upload_token(backends))
    assert response.status_code == 200, response.data
    page = client.get("/simple/acme-tools/").get_data(as_text=True)
    assert WHEEL in page and "data-dist-info-metadata" in page
    assert client.get(f"/packages/acme-tools/{WHEEL}").data == wheel.read_bytes()
    updater = plain_updater(
        "http://mirror",
        signing.current_root(backends.config),
        tmp_path / "tuf",
        FlaskFetcher(client),
    )
    updater.refresh()
    info = updater.get_targetinfo(f"packages/acme-tools/{WHEEL}")
    assert info is not None
    target = updater.download_target(info, filepath=str(tmp_path / "got.whl"))
    assert Path(target).read_bytes() == wheel.read_bytes()


def test_the_upload_is_recorded_with_who_uploaded(
    backends: Backends, client: FlaskClient, wheel: Path
) -> None:
    assert post_upload(client, wheel, upload_token(backends)).status_code == 200
    with backends.engine.connect() as conn:
        row = private_rows.upload_of(conn, WHEEL)
        assert private_rows.is_private(conn, "acme-tools")
    assert row is not None and row.actor.startswith("ci (token ")
    assert row.sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()
    events = client.get("/api/v1/events?project=acme-tools", headers=review(backends)).json
    assert events is not None
    assert any(e["actor"] == row.actor for e in events["events"])


def review(backends: Backends) -> dict[str, str]:
    made = tokens.create(backends, "review", ttl=None, name="r", created_by="t", reason="r")
    return basic(made.secret)


@pytest.mark.parametrize("scope", ["read", "review", "admin"])
def test_other_scopes_cannot_upload(
    backends: Backends, client: FlaskClient, wheel: Path, scope: str
) -> None:
    secret = tokens.create(backends, scope, ttl=None, name="x", created_by="t", reason="r").secret
    response = post_upload(client, wheel, secret)
    assert response.status_code == 403
    assert client.get("/simple/acme-tools/").status_code == 404


def test_no_token_is_challenged(client: FlaskClient, wheel: Path) -> None:
    response = post_upload(client, wheel, None)
    assert response.status_code == 401
    assert "Basic" in response.headers["WWW-Authenticate"]


def test_an_upload_token_reads_and_decides_nothing(backends: Backends, client: FlaskClient) -> None:
    headers = basic(upload_token(backends))
    assert client.get("/api/v1/releases", headers=headers).status_code == 403
    assert client.post("/api/v1/blocks", headers=headers, json={}).status_code == 403
    assert not Scope.UPLOAD.grants(Scope.READ) and not Scope.ADMIN.grants(Scope.UPLOAD)


def test_outside_the_token_patterns_is_forbidden(
    backends: Backends, client: FlaskClient, dist_builder: DistBuilder
) -> None:
    other = dist_builder.wheel("other-tools", "1.0")
    response = post_upload(client, other, upload_token(backends))
    assert response.status_code == 403
    assert "other-tools" in response.status


def test_patterns_are_normalised_and_checked(backends: Backends) -> None:
    made = tokens.create_upload(
        backends, ["Acme_*"], ttl=None, name=None, created_by="t", reason="r"
    )
    assert made.token.projects == ("acme-*",)
    assert made.token.may_upload("acme-tools") and not made.token.may_upload("tools")
    for bad in ([], ["acme/*"], [""]):
        with pytest.raises(TokenError):
            tokens.create_upload(backends, bad, ttl=None, name=None, created_by="t", reason="r")
    with pytest.raises(TokenError):
        tokens.create(
            backends, "read", ttl=None, name=None, created_by="t", reason="r", projects=["a"]
        )


def test_a_proxied_name_is_refused(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("acme-tools", "0.9", tmpdir=tmp_path / "up", upload_time=OLD)
    assert client.get("/simple/acme-tools/").status_code == 200  # proxied from now on
    wheel = build_wheel(tmp_path / "mine", "acme-tools", "1.0")
    response = post_upload(client, wheel, upload_token(backends))
    assert response.status_code == 400
    assert "proxied" in response.status


def test_a_private_name_is_never_fetched_upstream(
    backends: Backends,
    client: FlaskClient,
    wheel: Path,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    assert post_upload(client, wheel, upload_token(backends)).status_code == 200
    fake_upstream.publish_release("acme-tools", "9.0", tmpdir=tmp_path / "up", upload_time=OLD)
    run_cycle(backends, ["acme-tools"])
    run_cycle(backends)
    page = client.get("/simple/acme-tools/").get_data(as_text=True)
    assert WHEEL in page and "9.0" not in page
    assert client.get("/packages/acme-tools/acme_tools-9.0-py3-none-any.whl").status_code == 404
    assert fake_upstream.requests["/simple/acme-tools/"] == 0


def test_a_reupload_is_refused(backends: Backends, client: FlaskClient, wheel: Path) -> None:
    secret = upload_token(backends)
    assert post_upload(client, wheel, secret).status_code == 200
    again = post_upload(client, wheel, secret)
    assert again.status_code == 400
    assert again.status.startswith("400 File already exists")


def test_a_tampered_sha256_is_refused(backends: Backends, client: FlaskClient, wheel: Path) -> None:
    response = post_upload(client, wheel, upload_token(backends), sha256_digest="0" * 64)
    assert response.status_code == 400
    assert "sha256_digest does not match" in response.status
    assert client.get("/simple/acme-tools/").status_code == 404


def test_a_version_other_than_the_filename_is_refused(
    backends: Backends, client: FlaskClient, wheel: Path
) -> None:
    response = post_upload(client, wheel, upload_token(backends), version="2.0")
    assert response.status_code == 400
    assert "does not match the filename" in response.status


def test_metadata_that_disagrees_with_the_filename_is_refused(
    backends: Backends, client: FlaskClient, tmp_path: Path
) -> None:
    # A wheel of 1.1 renamed to 1.0: the filename and form agree, the METADATA does not.
    built = build_wheel(tmp_path / "b", "acme-tools", "1.1")
    renamed = tmp_path / WHEEL
    renamed.write_bytes(built.read_bytes())
    response = post_upload(client, renamed, upload_token(backends))
    assert response.status_code == 400
    assert "metadata gives the version '1.1'" in response.status


def test_a_hostile_archive_is_refused(
    backends: Backends, client: FlaskClient, tmp_path: Path
) -> None:
    hostile = build_wheel(
        tmp_path / "h", "acme-tools", "1.0", files={"../../etc/cron.d/acme": b"* * * * * x\n"}
    )
    response = post_upload(client, hostile, upload_token(backends))
    assert response.status_code == 400
    assert "outside the directory" in response.status


def test_a_corrupt_archive_is_refused(backends: Backends, client: FlaskClient, wheel: Path) -> None:
    data = wheel.read_bytes()[:200]
    response = post_upload(client, wheel, upload_token(backends), data=data)
    assert response.status_code == 400
    assert "no readable core metadata" in response.status


def test_a_sdist_upload_is_served(
    backends: Backends, client: FlaskClient, dist_builder: DistBuilder
) -> None:
    sdist = dist_builder.sdist("acme-tools", "1.0")
    assert post_upload(client, sdist, upload_token(backends)).status_code == 200
    assert sdist.name in client.get("/simple/acme-tools/").get_data(as_text=True)


def test_a_file_over_the_size_limit_is_refused(make_backends: Any, wheel: Path) -> None:
    backends = make_backends(private={"max_upload_bytes": 100})
    client = create_app(backends.config, backends).test_client()
    response = post_upload(client, wheel, upload_token(backends))
    assert response.status_code in (400, 413)
    with zipfile.ZipFile(wheel) as archive:
        assert archive.namelist()  # the wheel itself is fine: only its size is refused


def admin(backends: Backends) -> dict[str, str]:
    made = tokens.create(backends, "admin", ttl=None, name="boss", created_by="t", reason="r")
    return basic(made.secret)


def test_an_admin_yanks_and_deletes_an_upload_with_an_audit_record(
    backends: Backends, client: FlaskClient, wheel: Path
) -> None:
    secret = upload_token(backends)
    assert post_upload(client, wheel, secret).status_code == 200
    base = f"/api/v1/private/acme-tools/files/{WHEEL}"
    assert (
        client.post(f"{base}/yank", headers=review(backends), json={"reason": "x"}).status_code
        == 403
    )
    yanked = client.post(f"{base}/yank", headers=admin(backends), json={"reason": "broken"})
    assert yanked.status_code == 200, yanked.data
    assert 'data-yanked="broken"' in client.get("/simple/acme-tools/").get_data(as_text=True)
    deleted = client.post(f"{base}/delete", headers=admin(backends), json={"reason": "leak"})
    assert deleted.status_code == 200, deleted.data
    assert WHEEL not in client.get("/simple/acme-tools/").get_data(as_text=True)
    assert client.get(f"/packages/acme-tools/{WHEEL}").status_code == 404
    run_cycle(backends)  # the scheduler never brings it back
    assert client.get(f"/packages/acme-tools/{WHEEL}").status_code == 404
    assert post_upload(client, wheel, secret).status_code == 400  # the filename stays taken
    events = client.get("/api/v1/events?project=acme-tools", headers=review(backends)).json
    assert events is not None
    reasons = [(e["actor"], e["reason"]) for e in events["events"]]
    assert any(actor.startswith("boss") and reason == "deleted: leak" for actor, reason in reasons)
    assert any(actor.startswith("boss") and reason == "yanked: broken" for actor, reason in reasons)


def test_only_uploaded_files_can_be_yanked_here(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path / "up", upload_time=OLD)
    assert client.get("/simple/demo/").status_code == 200
    path = "/api/v1/private/demo/files/demo-1.0-py3-none-any.whl/yank"
    assert client.post(path, headers=admin(backends), json={"reason": "x"}).status_code == 404
