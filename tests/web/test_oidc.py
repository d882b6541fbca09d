"""The CI identity exchange, POST /api/v1/oidc/mint-token, against a real issuer on 127.0.0.1
(tests/support/oidc_issuer.py): what is minted, every refusal the same 401, expiry through the
mirror's clock, and each ID token exchanged once across nodes on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mirror.app import create_app
from mirror.errors import ConfigError
from mirror.services import audit, oidc, tokens
from mirror.services.backends import Backends
from mirror.timeutil import Clock
from tests.support.dists import DistBuilder
from tests.support.oidc_issuer import OidcIssuer, ec_key, rsa_key
from tests.support.uploads import post_upload
from tests.web.conftest import seed

MINT = "/api/v1/oidc/mint-token"
WHEEL = "/packages/demo/demo-1.0-py3-none-any.whl"
IDENTITY = {
    "issuer": "",  # the issuer's URL, set per test
    "subject": "repo:acme/app:ref:refs/heads/main",
    "repository": "acme/app",
    "workflow": "acme/app/.github/workflows/ci.yml@refs/heads/main",
    "ref": "refs/heads/main",
    "sha": "0123456789abcdef0123456789abcdef01234567",
    "run_id": "4242",
}


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


def auth_section(issuer: OidcIssuer, **trust: Any) -> dict[str, Any]:
    entry = {
        "issuer": issuer.url,
        "claims": {"repository": "acme/*", "ref": "refs/heads/main"},
        "ttl": "15m",
        **trust,
    }
    return {"anonymous_read": False, "oidc": {"audience": "signed-mirror", "trust": [entry]}}


@pytest.fixture
def node(
    make_backends: Callable[..., Backends], fake_upstream, tmp_path: Path, issuer: OidcIssuer
) -> tuple[FlaskClient, Backends]:
    """A mirror trusting ``issuer`` for acme/* on main, anonymous reads off, demo 1.0 admitted."""
    backends = make_backends(auth=auth_section(issuer))
    seed(fake_upstream, backends, tmp_path)
    return create_app(backends.config, backends).test_client(), backends


def mint(client: FlaskClient, id_token: str) -> Any:
    return client.post(MINT, json={"token": id_token})


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("key", [rsa_key("rsa-new"), ec_key("ec-new")], ids=["RSA", "EC"])
def test_an_id_token_is_exchanged_for_a_short_lived_read_token_with_its_identity(
    node, issuer: OidcIssuer, key
) -> None:
    client, backends = node
    issuer.add_key(key)
    answer = mint(client, issuer.token(key))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert set(body) == {"token", "expires", "scope"} and body["scope"] == "read"
    assert answer.headers["Cache-Control"] == "no-store"
    assert client.get("/simple/demo/").status_code == 401
    assert client.get("/simple/demo/", headers=bearer(body["token"])).status_code == 200
    (row,) = [row for row in tokens.listing(backends) if row.created_by.startswith("oidc:")]
    assert row.identity == {**IDENTITY, "issuer": issuer.url}
    assert row.name == "oidc:acme/app" and row.scope == "read"
    assert row.expires_at - row.created_at == timedelta(minutes=15)
    assert body["expires"] == row.expires_at.isoformat().replace("+00:00", "Z")


def refusals(issuer: OidcIssuer) -> dict[str, tuple[str, str]]:
    """Each refused ID token, with the check the log must name."""
    now = int(time.time())
    stranger = rsa_key("rsa-1")  # the issuer's key id, another key: the signature fails
    return {
        "wrong audience": (issuer.token(aud="another-mirror"), "audience"),
        "expired": (issuer.token(iat=now - 900, nbf=now - 900, exp=now - 600), "expired"),
        "not yet valid": (issuer.token(nbf=now + 600), "not yet valid"),
        "issued in the future": (issuer.token(iat=now + 600), "issued in the future"),
        "alg none": (issuer.unsigned(), "algorithm"),
        "HS256 with the public key": (issuer.hs256_with_public_key(), "algorithm"),
        "unknown kid": (issuer.token(rsa_key("never-published")), "unknown key id"),
        "forged signature": (issuer.token(stranger), "signature"),
        "another repository": (issuer.token(repository="evil/app"), "claims"),
        "another ref": (issuer.token(ref="refs/heads/feature"), "claims"),
        "untrusted issuer": (issuer.token(iss="https://token.ci.example"), "untrusted issuer"),
        "no jti": (issuer.token(jti=None), "missing claim"),
        "not a JWT": ("not.a.jwt", "malformed token"),
    }


def test_every_refusal_is_the_same_401_and_the_log_names_the_check(
    node, issuer: OidcIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    client, backends = node
    caplog.set_level(logging.WARNING, logger="mirror.web.oidc")
    bodies = set()
    for case, (id_token, check) in refusals(issuer).items():
        caplog.clear()
        answer = mint(client, id_token)
        assert answer.status_code == 401, case
        bodies.add(answer.get_data())
        assert f"CI identity token refused: {check}" in caplog.text, (case, caplog.text)
    for malformed in ({"token": 5}, {"other": "x"}):
        answer = client.post(MINT, json=malformed)
        assert answer.status_code == 401
        bodies.add(answer.get_data())
    assert len(bodies) == 1
    assert json.loads(bodies.pop()) == {"error": "the identity token was refused"}
    assert not [row for row in tokens.listing(backends) if row.created_by.startswith("oidc:")]


def test_a_valid_token_minted_in_another_context_still_works(node, issuer: OidcIssuer) -> None:
    """The refusals above are refusals, not a broken exchange: the same issuer's valid token
    right after them is accepted."""
    client, _backends = node
    for id_token, _check in refusals(issuer).values():
        mint(client, id_token)
    assert mint(client, issuer.token()).status_code == 200


def test_the_minted_token_stops_working_at_its_expiry(node, issuer: OidcIssuer) -> None:
    client, backends = node
    secret = mint(client, issuer.token()).get_json()["token"]
    backends.clock = Clock(timedelta(minutes=14, seconds=59))
    assert client.get("/simple/demo/", headers=bearer(secret)).status_code == 200
    backends.clock = Clock(timedelta(minutes=15))
    assert client.get("/simple/demo/", headers=bearer(secret)).status_code == 401


def test_expiry_is_judged_by_the_mirrors_clock(node, issuer: OidcIssuer) -> None:
    client, backends = node
    id_token = issuer.token()
    backends.clock = Clock(timedelta(minutes=10))  # past exp (5 min) and the leeway
    assert mint(client, id_token).status_code == 401
    backends.clock = Clock(timedelta(0))
    assert mint(client, id_token).status_code == 200


def test_a_rotated_key_is_fetched_for_its_unknown_kid_after_a_cooldown(
    node, issuer: OidcIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _backends = node
    assert mint(client, issuer.token()).status_code == 200
    assert (issuer.hits["/.well-known/openid-configuration"], issuer.hits["/jwks"]) == (1, 1)
    rotated = rsa_key("rsa-2")
    issuer.add_key(rotated)
    # Within the cooldown an unknown kid costs the issuer nothing.
    assert mint(client, issuer.token(rotated)).status_code == 401
    assert issuer.hits["/jwks"] == 1
    monkeypatch.setattr(oidc, "JWKS_COOLDOWN", 0.0)
    assert mint(client, issuer.token(rotated)).status_code == 200
    assert issuer.hits["/jwks"] == 2
    assert mint(client, issuer.token()).status_code == 200  # the old key is still there
    assert issuer.hits["/jwks"] == 2


def test_keys_from_a_jwks_file_need_no_discovery(
    make_backends, issuer: OidcIssuer, tmp_path: Path
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(issuer.jwks()))
    backends = make_backends(auth=auth_section(issuer, jwks_file=str(jwks)))
    client = create_app(backends.config, backends).test_client()
    assert mint(client, issuer.token(issuer.keys[1])).status_code == 200
    assert not issuer.hits


def test_claims_choose_the_trust_entry_and_its_scope_and_ttl(
    make_backends, issuer: OidcIssuer
) -> None:
    main = {"issuer": issuer.url, "claims": {"ref": "refs/heads/main"}, "ttl": "1h"}
    tags = {"issuer": issuer.url, "claims": {"ref": "refs/tags/v*"}, "ttl": "5m"}
    backends = make_backends(
        auth={"max_ttl": "30m", "oidc": {"audience": "signed-mirror", "trust": [main, tags]}}
    )
    client = create_app(backends.config, backends).test_client()
    assert mint(client, issuer.token(ref="refs/tags/v1.2")).status_code == 200
    assert mint(client, issuer.token()).status_code == 200
    rows = sorted(tokens.listing(backends), key=lambda row: row.identity["ref"])
    lifetimes = [(row.identity["ref"], row.expires_at - row.created_at) for row in rows]
    # auth.max_ttl caps the main entry's hour.
    assert lifetimes == [
        ("refs/heads/main", timedelta(minutes=30)),
        ("refs/tags/v1.2", timedelta(minutes=5)),
    ]


@pytest.mark.parametrize(
    ("trust", "message"),
    [
        ({"scope": "admin"}, "a CI identity gets no admin"),
        ({"scope": "everything"}, "unknown scope"),
    ],
)
def test_a_trust_entry_scope_is_checked_when_the_app_starts(
    make_backends, issuer: OidcIssuer, trust: dict[str, str], message: str
) -> None:
    backends = make_backends(auth=auth_section(issuer, **trust))
    with pytest.raises(ConfigError, match=message):
        create_app(backends.config, backends)


def test_an_upload_entry_mints_a_token_that_publishes_only_its_projects(
    make_backends, issuer: OidcIssuer, dist_builder: DistBuilder
) -> None:
    """Trusted publishing: the CI identity gets the entry's project patterns, normalised."""
    backends = make_backends(auth=auth_section(issuer, scope="upload", projects=["Acme_*"]))
    client = create_app(backends.config, backends).test_client()
    answer = mint(client, issuer.token())
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["scope"] == "upload"
    secret = answer.get_json()["token"]
    (row,) = tokens.listing(backends)
    assert (row.scope, row.projects, row.identity["repository"]) == (
        "upload",
        ["acme-*"],
        "acme/app",
    )
    outside = post_upload(client, dist_builder.wheel("other-tools", "1.0"), secret)
    assert outside.status_code == 403 and "other-tools" in outside.status
    published = post_upload(client, dist_builder.wheel("acme-tools", "1.0"), secret)
    assert published.status_code == 200, published.get_data(as_text=True)
    reader = tokens.create(backends, "read", ttl=None, name="r", created_by="t", reason="r")
    page = client.get("/simple/acme-tools/", headers=bearer(reader.secret))
    assert "acme_tools-1.0-py3-none-any.whl" in page.get_data(as_text=True)


def test_no_trusted_issuer_refuses_like_any_other_check(backends, issuer: OidcIssuer) -> None:
    client = create_app(backends.config, backends).test_client()
    answer = mint(client, issuer.token())
    assert answer.status_code == 401
    assert answer.get_json() == {"error": "the identity token was refused"}


def test_downloads_with_a_minted_token_name_the_pipeline(node, issuer: OidcIssuer) -> None:
    client, backends = node
    secret = mint(client, issuer.token()).get_json()["token"]
    response = client.get(WHEEL, headers=bearer(secret))
    assert response.status_code == 200
    response.close()
    client.application.extensions["mirror_downloads"].flush()
    (pulled,) = audit.downloads(backends, "demo", "1.0")
    assert pulled.identity == {**IDENTITY, "issuer": issuer.url}
    assert pulled.pipeline == (
        "acme/app acme/app/.github/workflows/ci.yml@refs/heads/main refs/heads/main run 4242"
    )
    review = tokens.create(backends, "review", ttl=None, name="r", created_by="t", reason="r")
    found = client.get(
        "/api/v1/projects/demo/downloads?version=1.0", headers=bearer(review.secret)
    ).get_json()["downloads"]
    assert [d["identity"] for d in found] == [{**IDENTITY, "issuer": issuer.url}]


def nodes(backends: Backends) -> tuple[Flask, Flask]:
    """Two apps on one database, as two `mirror serve` nodes: each its own key cache."""
    return create_app(backends.config, backends), create_app(backends.config, backends)


def assert_exchanged_once(backends: Backends, issuer: OidcIssuer) -> None:
    first, second = (app.test_client() for app in nodes(backends))
    id_token = issuer.token()
    assert mint(first, id_token).status_code == 200
    assert mint(second, id_token).status_code == 401
    assert mint(first, id_token).status_code == 401
    assert mint(second, issuer.token()).status_code == 200
    minted = [row for row in tokens.listing(backends) if row.created_by.startswith("oidc:")]
    assert len(minted) == 2


def test_an_id_token_is_exchanged_once_across_nodes_on_sqlite(
    make_backends, issuer: OidcIssuer
) -> None:
    assert_exchanged_once(make_backends(auth=auth_section(issuer)), issuer)


def test_an_id_token_is_exchanged_once_across_nodes_on_postgresql(
    make_backends, issuer: OidcIssuer, postgres_url: str
) -> None:
    backends = make_backends(auth=auth_section(issuer), database={"url": postgres_url})
    assert_exchanged_once(backends, issuer)


def test_remembered_ids_are_forgotten_after_the_token_expired(node, issuer: OidcIssuer) -> None:
    client, backends = node
    assert mint(client, issuer.token()).status_code == 200
    with backends.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM oidc_exchanges").scalar() == 1
    backends.clock = Clock(timedelta(minutes=7))  # past the first token's exp and leeway
    assert mint(client, issuer.token(exp=int(time.time()) + 900)).status_code == 200
    with backends.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM oidc_exchanges").scalar() == 1
