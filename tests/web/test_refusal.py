"""One refusal on every route, at once, for what was admitted before the rule too
(docs/admission.md, "Refusals").

The mirror admits and serves ``demo`` (its page signed, a file downloaded, the files' targets
signed), then starts again over the same data with a rule that refuses it. From then on every
route that serves a page, a file or a companion answers 404 with the reason, the root index
no longer lists it, the next publish takes its targets out of the signed metadata, and the
mirror never contacts upstream for it again.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from mirror.app import create_app
from mirror.db import targets
from mirror.scheduler import run_cycle
from mirror.services import review
from mirror.services.backends import Backends
from tests.support.fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)
WHEEL = "demo-1.0-py3-none-any.whl"
UNFETCHED = "demo-0.9-py3-none-any.whl"  # admitted, never downloaded before the rule
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}

# What refuses the whole project, and the reason its answers give.
PROJECT_RULES = [
    pytest.param({"internal": ["demo"]}, "internal name", id="internal"),
    pytest.param({"allowlist_only": True, "allow": ["other"]}, "not on the allowlist", id="allow"),
]
# What refuses demo 1.0 only, and the reason.
FILE_RULES = [
    pytest.param({"deny": ["demo==1.0"]}, "denied by rule", id="deny"),
    pytest.param({"allow": ["demo<1.0"]}, "outside allowed versions", id="allowed-versions"),
]


@dataclass
class Served:
    """What the mirror served and signed for demo before the rule."""

    signed: dict[str, tuple[str, int]]  # demo's TUF targets: path -> (sha256, length)

    def target_url(self, path: str) -> str:
        folder, name = path.rsplit("/", 1)
        return f"/tuf/targets/{folder}/{self.signed[path][0]}.{name}"


@pytest.fixture
def served(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> Served:
    for version in ("0.9", "1.0"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path, upload_time=OLD)
    fake_upstream.publish_release("other", "1.0", tmpdir=tmp_path, upload_time=OLD)
    backends = make_backends()
    client = create_app(backends.config, backends).test_client()
    for project in ("demo", "other"):
        assert client.get(f"/simple/{project}/").status_code == 200
    assert client.get(f"/packages/demo/{WHEEL}").status_code == 200
    run_cycle(backends, [])  # signs the files' targets
    with backends.engine.connect() as conn:
        signed = targets.published(conn, "demo")
    assert f"packages/demo/{WHEEL}" in signed and "simple/demo/index.json" in signed
    return Served(signed)


def restarted(make_backends: Callable[..., Backends], policy: dict[str, Any]) -> Flask:
    """A new process over the same data directory and database, with ``policy``."""
    backends = make_backends(policy=policy)
    return create_app(backends.config, backends)


def services_of(app: Flask) -> Backends:
    result: Backends = app.extensions["mirror"]
    return result


def file_urls(served: Served, filename: str) -> list[str]:
    """Every URL that serves ``filename``'s bytes or a companion's."""
    urls = [f"/packages/demo/{filename}{suffix}" for suffix in ("", ".metadata", ".provenance")]
    urls += [
        served.target_url(path)
        for path in served.signed
        if path.startswith(f"packages/demo/{filename}")
    ]
    return urls


def page_urls(served: Served) -> list[str]:
    return ["/simple/demo/", *(served.target_url(p) for p in served.signed if "simple/" in p)]


def assert_refused(app: Flask, urls: list[str], reason: str) -> None:
    client = app.test_client()
    for url in urls:
        for method in (client.get, client.head):
            response = method(url, headers=JSON)
            assert response.status_code == 404, (url, response.status_code)
        assert reason in client.get(url).get_data(as_text=True), url


@pytest.mark.parametrize(("policy", "reason"), PROJECT_RULES)
def test_a_refused_project_is_served_by_no_route(
    served: Served,
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    policy: dict[str, Any],
    reason: str,
) -> None:
    app = restarted(make_backends, policy)
    before = len(fake_upstream.log)
    assert_refused(
        app, page_urls(served) + file_urls(served, WHEEL) + file_urls(served, UNFETCHED), reason
    )
    index = app.test_client().get("/simple/", headers=JSON).get_json()
    assert [p["name"] for p in index["projects"]] == ["other"]
    run_cycle(services_of(app))  # the scheduler's next cycle
    run_cycle(services_of(app), ["demo"])  # and a sync that names it
    assert [r.path for r in fake_upstream.log[before:] if "demo" in r.path] == []
    with services_of(app).engine.connect() as conn:
        assert targets.published(conn, "demo") == {}
    assert app.test_client().get("/simple/other/").status_code == 200


@pytest.mark.parametrize(("policy", "reason"), FILE_RULES)
def test_a_refused_release_is_served_by_no_route(
    served: Served,
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    policy: dict[str, Any],
    reason: str,
) -> None:
    app = restarted(make_backends, policy)
    assert_refused(app, file_urls(served, WHEEL), reason)
    run_cycle(services_of(app))
    with services_of(app).engine.connect() as conn:
        left = set(targets.published(conn, "demo"))
    assert not any(path.startswith(f"packages/demo/{WHEEL}") for path in left)
    assert f"packages/demo/{UNFETCHED}" in left
    page = json.loads(app.test_client().get("/simple/demo/", headers=JSON).data)
    assert [f["filename"] for f in page["files"]] == [UNFETCHED]


def test_a_block_is_served_by_no_route(
    served: Served, make_backends: Callable[..., Backends]
) -> None:
    app = restarted(make_backends, {})
    review.block(services_of(app), "demo", "==1.0", actor="alice", reason="compromised")
    assert_refused(app, file_urls(served, WHEEL), "blocked: compromised")


def test_a_lifted_rule_serves_the_project_again(
    served: Served, make_backends: Callable[..., Backends]
) -> None:
    refusing = restarted(make_backends, {"internal": ["demo"]})
    run_cycle(services_of(refusing))
    app = restarted(make_backends, {})
    run_cycle(services_of(app))
    client = app.test_client()
    assert client.get("/simple/demo/").status_code == 200
    assert client.get(f"/packages/demo/{WHEEL}").status_code == 200
    with services_of(app).engine.connect() as conn:
        assert set(targets.published(conn, "demo")) == set(served.signed)


# Routes that serve no project's bytes, and why; every other route must be exercised above.
NOT_SERVING_PROJECTS = {
    "/static/<path:filename>": "the review UI's assets",
    "/tuf/metadata/<name>": "signed metadata, which lists what the targets routes serve",
    "/healthz": "health",
    "/readyz": "health",
    "/metrics": "metrics",
    "/problems/<kind>": "what each problem type means",
}
SERVING = {
    "/simple/": "the root index (test_a_refused_project_is_served_by_no_route)",
    "/simple/<project>/": "page_urls",
    "/packages/<project>/<filename>": "file_urls",
    "/tuf/targets/<area>/<project>/<hashed>": "page_urls and file_urls",
}


def test_every_route_that_serves_a_project_is_covered(app: Flask) -> None:
    """A new route that serves bytes must be added to the tests above (and ask the refusal)."""
    readable = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or set()) and not rule.rule.startswith(("/api/", "/admin/"))
    }
    assert readable - set(NOT_SERVING_PROJECTS) == set(SERVING)
