"""Trusted publishing: a CI job exchanges its identity token (from a real issuer on 127.0.0.1)
at a running mirror for an upload token, and twine publishes with it, within the trust entry's
project patterns only (docs/private-packages.md, "Trusted publishing")."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_oidc_clients import exchange
from tests.e2e.test_private_uploads import pip_install, twine
from tests.support.dists import DistBuilder
from tests.support.oidc_issuer import OidcIssuer

pytestmark = pytest.mark.slow


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


def test_twine_publishes_with_a_token_minted_for_the_ci_identity(
    start_mirror, issuer: OidcIssuer, dist_builder: DistBuilder, tmp_path: Path
) -> None:
    trust = {
        "issuer": issuer.url,
        "claims": {"repository": "acme/*", "ref": "refs/heads/main"},
        "scope": "upload",
        "projects": ["acme-*"],
    }
    mirror = start_mirror(auth={"oidc": {"trust": [trust]}})
    answer = exchange(mirror, issuer.token())
    assert answer.status == 200, answer.data
    minted = answer.json()
    assert minted["scope"] == "upload"

    outside = twine(mirror, minted["token"], dist_builder.wheel("other", "1.0"))
    assert outside.returncode != 0 and "may not upload" in outside.stdout + outside.stderr
    done = twine(mirror, minted["token"], dist_builder.wheel("acme-app", "1.0"))
    assert done.returncode == 0, done.stdout + done.stderr
    listed = mirror.cli("token", "list").stdout
    assert "oidc:acme/app" in listed and "projects=acme-*" in listed

    installed = pip_install(mirror, tmp_path / "site", "acme-app")
    assert installed.returncode == 0, installed.stderr
    assert [p.name for p in (tmp_path / "site").glob("*.dist-info")] == ["acme_app-1.0.dist-info"]
