"""Blast radius: after a block, who downloaded the blocked files, grouped by identity, and the
``exposure`` event recorded with the block when the release had been downloaded."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from mirror.db.engine import writing
from mirror.db.schema import notifications
from mirror.errors import NotFoundError
from mirror.services import exposure, review, tokens
from mirror.services.backends import Backends
from tests.support.fake_upstream import FakeUpstream
from tests.test_cli import assert_one_line_error, mirror

OLD = datetime.now(UTC) - timedelta(days=30)
WHEEL = "demo-{}-py3-none-any.whl"


@pytest.fixture
def demo(client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path) -> FlaskClient:
    """demo 1.0 and 2.0, both admitted."""
    for version in ("1.0", "2.0"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path / "b", upload_time=OLD)
    assert client.get("/simple/demo/").status_code == 200
    return client


def token(backends: Backends, name: str) -> tuple[str, str]:
    """A read token's id and secret."""
    made = tokens.create(backends, "read", ttl=None, name=name, created_by="test", reason="t")
    return made.token.id, made.secret


def pull(client: FlaskClient, version: str, address: str, secret: str | None = None) -> None:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    response = client.get(
        f"/packages/demo/{WHEEL.format(version)}",
        headers=headers,
        environ_base={"REMOTE_ADDR": address},
    )
    assert response.status_code == 200


def kinds(backends: Backends) -> list[str]:
    with backends.engine.connect() as conn:
        query = select(notifications.c.kind).order_by(notifications.c.id)
        return list(conn.execute(query).scalars())


def exposure_events(backends: Backends) -> list[dict]:  # type: ignore[type-arg]
    with backends.engine.connect() as conn:
        query = select(notifications.c.details).where(notifications.c.kind == "exposure")
        return list(conn.execute(query).scalars())


def test_exposure_after_a_block_lists_exactly_who_downloaded_it(
    backends: Backends, demo: FlaskClient
) -> None:
    main_id, main = token(backends, "ci-main")
    nightly_id, nightly = token(backends, "ci-nightly")
    other_id, other = token(backends, "ci-other")
    pull(demo, "2.0", "10.0.0.1", main)
    pull(demo, "2.0", "10.0.0.2", main)  # the same token from a second runner
    pull(demo, "2.0", "10.0.0.3", nightly)
    pull(demo, "2.0", "10.0.0.9")  # anonymous
    pull(demo, "1.0", "10.0.0.4", other)  # another release: not exposed
    pull(demo, "1.0", "10.0.0.8")
    demo.application.extensions["mirror_downloads"].flush()
    assert exposure.exposure(backends, "demo").identities == ()  # nothing blocked yet

    review.block(backends, "demo", "==2.0", actor="alice", reason="credential stealer")

    found = exposure.exposure(backends, "Demo")
    assert [f.filename for f in found.files] == [WHEEL.format("2.0")]
    by_key = {item.identity.key: item for item in found.identities}
    assert set(by_key) == {f"token:{main_id}", f"token:{nightly_id}", "address:10.0.0.9"}
    assert f"token:{other_id}" not in by_key
    main_pulls = by_key[f"token:{main_id}"]
    assert main_pulls.identity.label == f"ci-main (token {main_id})"
    assert (main_pulls.downloads, main_pulls.addresses) == (2, ("10.0.0.1", "10.0.0.2"))
    assert main_pulls.tokens == ((main_id, "ci-main"),)
    assert main_pulls.first <= main_pulls.last
    assert by_key["address:10.0.0.9"].tokens == ()
    assert found.downloads == 4
    # A specifier narrows the report; admitted releases are exposed to nobody.
    assert exposure.exposure(backends, "demo", "==1.0").files == ()
    assert exposure.exposure(backends, "demo", ">=2").downloads == 4


def test_blocking_a_downloaded_release_records_an_exposure_event(
    backends: Backends, demo: FlaskClient
) -> None:
    main_id, main = token(backends, "ci-main")
    pull(demo, "2.0", "10.0.0.1", main)
    demo.application.extensions["mirror_downloads"].flush()

    review.block(backends, "demo", "==1.0", actor="alice", reason="never downloaded")
    assert kinds(backends) == ["blocked"]  # a release nobody pulled exposes nobody

    review.block(backends, "demo", "==2.0", actor="alice", reason="credential stealer")
    assert kinds(backends) == ["blocked", "blocked", "exposure"]
    (event,) = exposure_events(backends)
    assert [item["key"] for item in event["identities"]] == [f"token:{main_id}"]
    assert event["identities"][0]["downloads"] == 1
    assert [f["filename"] for f in event["files"]] == [WHEEL.format("2.0")]


def test_mirror_audit_exposure_prints_the_credentials_to_rotate(
    backends: Backends, demo: FlaskClient
) -> None:
    if backends.engine.dialect.name != "sqlite":
        pytest.skip("the command reads the same service; once is enough")
    main_id, main = token(backends, "ci-main")
    pull(demo, "2.0", "10.0.0.1", main)
    pull(demo, "2.0", "10.0.0.9")
    demo.application.extensions["mirror_downloads"].flush()
    review.block(backends, "demo", ">=2", actor="alice", reason="credential stealer")

    result = mirror("--config", backends.config.source, "audit", "exposure", "Demo>=2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:3] == [WHEEL.format("2.0"), "blocked", "by"]
    assert lines[2] == "downloaded by (rotate what these held):"
    assert lines[3].split()[:2] == ["IDENTITY", "COUNT"]
    assert {line.split()[0] for line in lines[4:]} == {"ci-main", "10.0.0.9"}
    assert f"(token {main_id})" in result.stdout
    assert_one_line_error(
        mirror("--config", backends.config.source, "audit", "exposure", "demo>=nonsense"),
        "invalid version specifier",
    )


def test_exposure_names_the_project_it_was_asked_about() -> None:
    assert exposure.split_release("LiteLLM>=1.82.7,<1.82.9") == ("litellm", ">=1.82.7,<1.82.9")
    assert exposure.split_release("demo") == ("demo", "")
    with pytest.raises(NotFoundError):
        exposure.split_release("../etc")


def minted(backends: Backends, run_id: str) -> tuple[str, str]:
    """A read token as the CI identity exchange mints it, for one run of acme/app's release
    workflow."""
    identity = {
        "issuer": "https://ci.example",
        "subject": "repo:acme/app:ref:refs/heads/main",
        "repository": "acme/app",
        "workflow": "release",
        "ref": "refs/heads/main",
        "run_id": run_id,
    }
    grant = tokens.Grant(
        tokens.Scope.READ, timedelta(minutes=15), None, "oidc", "exchange", identity
    )
    with writing(backends.engine) as conn:
        made = tokens.issue(conn, grant, now=backends.clock.now())
    return made.token.id, made.secret


def test_downloads_by_minted_tokens_group_under_their_pipeline(
    backends: Backends, demo: FlaskClient
) -> None:
    first_id, first = minted(backends, "101")
    second_id, second = minted(backends, "102")
    pull(demo, "2.0", "10.0.0.1", first)
    pull(demo, "2.0", "10.0.0.2", second)
    demo.application.extensions["mirror_downloads"].flush()
    review.block(backends, "demo", "==2.0", actor="alice", reason="credential stealer")
    (found,) = exposure.exposure(backends, "demo").identities
    assert found.identity.kind == "pipeline"
    assert found.identity.label == "acme/app release refs/heads/main (https://ci.example)"
    assert found.downloads == 2
    assert {token_id for token_id, _ in found.tokens} == {first_id, second_id}
