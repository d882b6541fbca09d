"""A pipeline that stores nothing: its CI identity token (from a real issuer on 127.0.0.1) is
exchanged at a running mirror for a short-lived token, with which pip, uv and
`mirror install --oidc` install; the download audit names the pipeline."""

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import urllib3

from tests.e2e.test_advisories_audit import audited
from tests.e2e.test_token_clients import installed, pip, run
from tests.support.fake_upstream import FakeUpstream
from tests.support.oidc_issuer import GHA_REQUEST_TOKEN, OidcIssuer
from tests.support.running_mirror import RunningMirror

pytestmark = pytest.mark.slow
OLD = datetime.now(UTC) - timedelta(days=30)


@pytest.fixture
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


@pytest.fixture
def mirror(start_mirror, fake_upstream: FakeUpstream, issuer: OidcIssuer, tmp_path: Path):  # type: ignore[no-untyped-def]
    build = tmp_path / "build"
    fake_upstream.publish_release("app-pkg", "1.0", tmpdir=build, upload_time=OLD, deps=["lib-a"])
    fake_upstream.publish_release("lib-a", "1.0", tmpdir=build, upload_time=OLD)
    trust = {"issuer": issuer.url, "claims": {"repository": "acme/*"}, "ttl": "10m"}
    return start_mirror(auth={"anonymous_read": False, "oidc": {"trust": [trust]}})


def exchange(mirror: RunningMirror, id_token: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("POST", f"{mirror.url}/api/v1/oidc/mint-token", json={"token": id_token})


def with_token(mirror: RunningMirror, token: str) -> str:
    return mirror.index_url.replace("http://", f"http://__token__:{token}@")


def test_pip_and_uv_install_with_a_minted_token(
    mirror: RunningMirror, issuer: OidcIssuer, tmp_path: Path
) -> None:
    id_token = issuer.token()
    answer = exchange(mirror, id_token)
    assert answer.status == 200, answer.data
    minted = answer.json()
    assert minted["scope"] == "read"
    index_url = with_token(mirror, minted["token"])
    done = pip(index_url, tmp_path / "pip")
    assert done.returncode == 0, done.stderr
    assert installed(tmp_path / "pip") == {"app_pkg-1.0.dist-info", "lib_a-1.0.dist-info"}
    uv = ["uv", "pip", "install", "--no-cache", "--target", str(tmp_path / "uv")]
    done = run([*uv, "--python", sys.executable, "--index-url", index_url, "app-pkg"])
    assert done.returncode == 0, done.stderr
    assert "lib_a-1.0.dist-info" in installed(tmp_path / "uv")
    assert exchange(mirror, id_token).status == 401  # once only
    listed = mirror.cli("token", "list").stdout
    assert re.search(r"\tread\tactive\t\S+Z\t\S+Z\toidc:acme/app\t.*repository=acme/app", listed)
    table = audited(mirror, "lib-a==1.0")
    assert "acme/app" in table and "run 4242" in table


def test_mirror_install_oidc_exchanges_the_ambient_github_token(
    mirror: RunningMirror, issuer: OidcIssuer, tmp_path: Path
) -> None:
    assert "app-pkg: ok" in mirror.cli("sync", "app-pkg", "lib-a").stdout
    root = tmp_path / "root.json"
    root.write_text(mirror.cli("keys", "export-root").stdout)
    (tmp_path / "reqs.txt").write_text("app-pkg==1.0\nlib-a==1.0\n")

    def install(target: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run(
            [
                sys.executable, "-m", "mirror", "install", "-r", str(tmp_path / "reqs.txt"),
                "--index-url", mirror.index_url, "--root", str(root), "--oidc",
                "--tuf-cache", str(tmp_path / f"cache-{target}"),
                "--python", sys.executable, "--target", str(tmp_path / target),
            ],
            **env,
        )  # fmt: skip

    github = {
        "GITHUB_ACTIONS": "true",
        "ACTIONS_ID_TOKEN_REQUEST_URL": issuer.token_request_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": GHA_REQUEST_TOKEN,
    }
    done = install("ok", **github)
    assert done.returncode == 0, done.stderr
    assert "exchanged the CI identity token" in done.stdout
    assert installed(tmp_path / "ok") == {"app_pkg-1.0.dist-info", "lib_a-1.0.dist-info"}
    issuer.job_claims = {"repository": "evil/app"}
    refused = install("refused", **github)
    assert refused.returncode == 1
    assert "the mirror refused the CI identity token (401)" in refused.stderr
    assert not installed(tmp_path / "refused")
    gitlab = install("gitlab", GITLAB_CI="true", SIGNED_MIRROR_ID_TOKEN=issuer.token())
    assert gitlab.returncode == 0, gitlab.stderr
    assert "lib_a-1.0.dist-info" in installed(tmp_path / "gitlab")
    outside_ci = install("outside")
    assert outside_ci.returncode == 1 and "no CI identity token here" in outside_ci.stderr
