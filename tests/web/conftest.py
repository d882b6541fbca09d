"""A mirror with one admitted and one quarantined release, and a token of every kind."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mirror.app import create_app
from mirror.services import sync, tokens
from mirror.services.backends import Backends
from mirror.timeutil import Clock
from tests.support.fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)
# Fresh uploads are 5 h old when seeded (not at import: a long run would age them past the
# tolerance the API tests allow).
FRESH_AGE = timedelta(hours=5)
KINDS = ("read", "review", "admin", "expired", "revoked")


@dataclass
class Tokens:
    """Secrets by kind: read, review, admin, expired (an admin token), revoked (an admin token)."""

    secrets: dict[str, str]
    ids: dict[str, str]

    def basic(self, kind: str) -> dict[str, str]:
        raw = base64.b64encode(f"__token__:{self.secrets[kind]}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    def bearer(self, kind: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets[kind]}"}


def make_tokens(backends: Backends) -> Tokens:
    secrets: dict[str, str] = {}
    ids: dict[str, str] = {}
    for scope in ("read", "review", "admin"):
        made = tokens.create(
            backends, scope, ttl=None, name=f"{scope}-bot", created_by="test", reason="r"
        )
        secrets[scope], ids[scope] = made.secret, made.token.id
    past = replace(backends, clock=Clock(-timedelta(days=1)))
    expired = tokens.create(
        past, "admin", ttl="1h", name="old-admin", created_by="test", reason="r"
    )
    secrets["expired"], ids["expired"] = expired.secret, expired.token.id
    revoked = tokens.create(
        backends, "admin", ttl=None, name="gone-admin", created_by="test", reason="r"
    )
    tokens.revoke(backends, revoked.token.id, by="test", reason="r")
    secrets["revoked"], ids["revoked"] = revoked.secret, revoked.token.id
    return Tokens(secrets, ids)


def seed(fake_upstream: FakeUpstream, backends: Backends, tmp_path: Path) -> None:
    """demo 1.0 (admitted) and 2.0 (quarantined), other 3.0 (quarantined)."""
    build = tmp_path / "build"
    fresh = datetime.now(UTC) - FRESH_AGE
    fake_upstream.publish_release("demo", "1.0", tmpdir=build, upload_time=OLD)
    fake_upstream.publish_release("demo", "2.0", tmpdir=build, upload_time=fresh)
    fake_upstream.publish_release("other", "3.0", tmpdir=build, upload_time=fresh)
    for project in ("demo", "other"):
        sync.refresh(backends, project)


@pytest.fixture
def make_app(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> Callable[..., tuple[Flask, Backends, Tokens]]:
    def build(**sections: dict) -> tuple[Flask, Backends, Tokens]:  # type: ignore[type-arg]
        backends = make_backends(**sections)
        seed(fake_upstream, backends, tmp_path)
        return create_app(backends.config, backends), backends, make_tokens(backends)

    return build


@pytest.fixture
def closed(make_app) -> tuple[FlaskClient, Backends, Tokens]:  # type: ignore[no-untyped-def]
    """Anonymous reads off."""
    app, backends, made = make_app(auth={"anonymous_read": False})
    return app.test_client(), backends, made


@pytest.fixture
def open_(make_app) -> tuple[FlaskClient, Backends, Tokens]:  # type: ignore[no-untyped-def]
    """Anonymous reads on (the loopback default)."""
    app, backends, made = make_app()
    return app.test_client(), backends, made
