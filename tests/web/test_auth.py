"""Tokens on the index: basic auth and bearer, anonymous reads off, and answers that reveal
nothing about which tokens or projects exist."""

from dataclasses import replace
from datetime import timedelta

import pytest

from mirror.db import access
from mirror.errors import ConfigError, NotFoundError
from mirror.services import tokens
from mirror.services.tokens import Scope, TokenError
from mirror.timeutil import Clock


def test_tokens_are_stored_as_hashes_and_expire_by_scope(backends) -> None:
    made = {
        s: tokens.create(
            backends,
            s,
            ttl=None,
            name=None,
            created_by="t",
            reason="r",
            projects=["acme-*"] if s == "UPLOAD" else (),
        )
        for s in Scope.__members__
    }
    with backends.engine.connect() as conn:
        rows = {row.scope: row for row in access.all_tokens(conn)}
    for scope, new in made.items():
        row = rows[scope.lower()]
        assert new.secret not in repr(tuple(row))
        assert row.secret_sha256 == tokens.digest(new.secret)
    lifetimes = {s: made[s].token.expires_at - rows[s.lower()].created_at for s in made}
    assert lifetimes == {
        "READ": timedelta(days=30),
        "REVIEW": timedelta(hours=12),
        "ADMIN": timedelta(hours=1),
        "UPLOAD": timedelta(days=30),
    }
    custom = tokens.create(backends, "read", ttl="2h", name="ci", created_by="t", reason="r")
    assert tokens.verify(backends, custom.secret) == custom.token
    later = replace(backends, clock=Clock(timedelta(hours=2, seconds=1)))
    assert tokens.verify(later, custom.secret) is None


def test_bad_token_requests_are_one_line_errors(backends) -> None:
    with pytest.raises(TokenError, match="unknown scope"):
        tokens.create(backends, "root", ttl=None, name=None, created_by="t", reason="r")
    with pytest.raises(TokenError, match="longer than zero"):
        tokens.create(backends, "read", ttl="0", name=None, created_by="t", reason="r")
    with pytest.raises(ConfigError, match="invalid duration"):
        tokens.create(backends, "read", ttl="soon", name=None, created_by="t", reason="r")
    with pytest.raises(TokenError, match="printable"):
        tokens.create(backends, "read", ttl=None, name="a\nb", created_by="t", reason="r")
    with pytest.raises(TokenError, match="reason is required"):
        tokens.create(backends, "read", ttl=None, name=None, created_by="t", reason=" ")
    with pytest.raises(NotFoundError):
        tokens.revoke(backends, "nope", by="t", reason="r")
    made = tokens.create(backends, "read", ttl=None, name=None, created_by="t", reason="r")
    tokens.revoke(backends, made.token.id, by="t", reason="r")
    with pytest.raises(TokenError, match="already revoked"):
        tokens.revoke(backends, made.token.id, by="t", reason="r")


@pytest.mark.parametrize(
    "path",
    [
        "/simple/",
        "/simple/demo/",
        "/packages/demo/demo-1.0-py3-none-any.whl",
        "/simple/no-such-project/",
        "/nothing/here",
    ],
)
def test_anonymous_read_off_needs_a_read_token_everywhere(closed, path: str) -> None:
    client, _backends, made = closed
    refused = client.get(path)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith('Basic realm="signed-mirror"')
    for kind in ("expired", "revoked"):
        again = client.get(path, headers=made.basic(kind))
        assert (again.status_code, again.data) == (401, refused.data)
    wrong = client.get(path, headers={"Authorization": "Bearer smt_" + "x" * 43})
    assert (wrong.status_code, wrong.data) == (401, refused.data)
    if path != "/nothing/here" and "no-such" not in path:
        for kind in ("read", "review", "admin"):
            assert client.get(path, headers=made.basic(kind)).status_code == 200
            assert client.get(path, headers=made.bearer(kind)).status_code == 200


def test_basic_auth_needs_the_token_user(closed) -> None:
    client, _backends, made = closed
    import base64

    raw = base64.b64encode(f"alice:{made.secrets['read']}".encode()).decode()
    assert client.get("/simple/", headers={"Authorization": f"Basic {raw}"}).status_code == 401
    assert client.get("/simple/", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert client.get("/simple/", headers={"Authorization": "Digest x"}).status_code == 401


def test_probes_stay_open_and_wrong_tokens_fail_even_where_none_is_needed(open_, closed) -> None:
    for client, _backends, made in (open_, closed):
        for path in ("/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"):
            assert client.get(path).status_code == 200, path
        assert client.get("/simple/", headers=made.bearer("revoked")).status_code == 401
    assert open_[0].get("/simple/demo/").status_code == 200


def test_every_answer_carries_the_security_headers(open_) -> None:
    client, _backends, _made = open_
    for path in ("/simple/", "/admin/sign-in", "/api/v1/openapi.json", "/simple/nope/"):
        headers = client.get(path).headers
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


def test_revoking_a_token_locks_it_out_at_once(closed) -> None:
    client, backends, made = closed
    assert client.get("/simple/", headers=made.bearer("read")).status_code == 200
    tokens.revoke(backends, made.ids["read"], by="t", reason="r")
    assert client.get("/simple/", headers=made.bearer("read")).status_code == 401


def test_max_ttl_caps_every_token(make_backends) -> None:
    backends = make_backends(auth={"max_ttl": "2d"})
    with pytest.raises(TokenError, match=r"longer than auth\.max_ttl"):
        tokens.create(backends, "read", ttl="3d", name=None, created_by="t", reason="r")
    read = tokens.create(backends, "read", ttl=None, name=None, created_by="t", reason="r")
    admin = tokens.create(backends, "admin", ttl=None, name=None, created_by="t", reason="r")
    now = backends.clock.now()
    assert timedelta(days=2) - timedelta(minutes=1) < read.token.expires_at - now
    assert read.token.expires_at - now <= timedelta(days=2)
    assert admin.token.expires_at - now <= timedelta(hours=1)  # shorter defaults stay


def test_last_use_is_recorded_off_the_serving_path_about_once_a_minute(closed) -> None:
    client, backends, made = closed
    uses = client.application.extensions["mirror_token_uses"]
    assert client.get("/simple/demo/", headers=made.bearer("read")).status_code == 200
    assert last_used(backends, made.ids["read"]) is None  # buffered, not written yet
    assert uses.flush() == 1
    first = last_used(backends, made.ids["read"])
    assert first is not None and backends.clock.now() - first < timedelta(seconds=5)
    assert client.get("/simple/demo/", headers=made.bearer("read")).status_code == 200
    assert uses.flush() == 0  # used again within the minute: nothing to write
    backends.clock = Clock(tokens.LAST_USE_STEP)
    assert client.get("/simple/demo/", headers=made.bearer("read")).status_code == 200
    assert uses.flush() == 1
    assert last_used(backends, made.ids["read"]) - first >= tokens.LAST_USE_STEP
    rows = {row.id: row for row in tokens.listing(backends)}
    assert not tokens.never_used(rows[made.ids["read"]])
    unused = tokens.create(backends, "read", ttl="1h", name="idle", created_by="t", reason="r")
    review = {row.id: row for row in tokens.listing(backends)}[made.ids["review"]]
    assert tokens.never_used({row.id: row for row in tokens.listing(backends)}[unused.token.id])
    assert not tokens.never_used(review)  # only read tokens are machines' credentials


def last_used(backends, token_id: str):  # type: ignore[no-untyped-def]
    with backends.engine.connect() as conn:
        return access.token_by_id(conn, token_id).last_used_at
