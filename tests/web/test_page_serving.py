"""Warm page requests: cached page rows stay correct, and pages answer ETag and HEAD."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import Engine

from mirror.app import create_app
from mirror.db import commit_cache
from mirror.scheduler import run_cycle
from mirror.services.backends import Backends
from tests.support.fake_upstream import FakeUpstream
from tests.support.query_plans import selects

OLD = datetime.now(UTC) - timedelta(days=30)
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def files_on_page(client: FlaskClient, project: str) -> list[str]:
    response = client.get(f"/simple/{project}/", headers=JSON)
    assert response.status_code == 200, response.data
    return [f["filename"] for f in response.get_json()["files"]]


def test_cached_page_follows_a_publish_by_another_connection(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    fake_upstream.publish_release("demo", "2.0", tmpdir=tmp_path, upload_time=OLD)
    backends = make_backends()
    client = create_app(backends.config, backends).test_client()
    assert len(files_on_page(client, "demo")) == 2
    # Another process's view of the same database (here: another engine) blocks 2.0.
    run_cycle(make_backends(policy={"deny": ["demo>=2"]}), ["demo"])
    assert files_on_page(client, "demo") == ["demo-1.0-py3-none-any.whl"]


def test_page_lookup_loads_again_only_after_a_commit(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    files_on_page(client, "demo")
    loads: list[str] = []

    def load(engine: Engine, project: str) -> str:
        assert engine is backends.engine
        loads.append(project)
        return f"digests of {project}"

    digests = commit_cache.CommitCache(backends.engine, load)
    assert digests.get("demo") == digests.get("demo") == "digests of demo"
    assert loads == ["demo"]
    run_cycle(backends, ["demo"])  # commits, even when nothing on the page changed
    assert digests.get("demo") == "digests of demo" and loads == ["demo", "demo"]


def test_page_etag_head_and_not_modified(
    client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    full = client.get("/simple/demo/", headers=JSON)
    etag = full.headers["ETag"]
    assert full.headers["Content-Length"] == str(len(full.data))
    head = client.head("/simple/demo/", headers=JSON)
    assert head.status_code == 200 and head.data == b"" and head.headers["ETag"] == etag
    again = client.get("/simple/demo/", headers={**JSON, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    html = client.get("/simple/demo/", headers={"If-None-Match": etag})
    assert html.status_code == 200 and html.headers["ETag"] != etag


def test_root_index_lists_served_projects_and_is_rendered_once_per_commit(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path / "demo", upload_time=OLD)
    fake_upstream.publish_release("fresh", "1.0", tmpdir=tmp_path / "fresh", upload_time="now")
    fake_upstream.publish_release("later", "1.0", tmpdir=tmp_path / "later", upload_time=OLD)
    files_on_page(client, "demo")
    assert files_on_page(client, "fresh") == []  # quarantined: nothing served, not listed
    with selects(backends.engine) as reads:
        first = client.get("/simple/", headers=JSON)
        assert first.get_json()["projects"] == [{"name": "demo"}]
        assert len(reads) == 1
        again = client.get("/simple/", headers={**JSON, "If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and len(reads) == 1  # nothing read: no commit since
        html = client.get("/simple/")
        assert html.content_type.startswith("text/html") and len(reads) == 2
        assert '<a href="demo/">demo</a>' in html.text and "fresh" not in html.text
    files_on_page(client, "later")  # a commit: the next root request reads the list again
    projects = client.get("/simple/", headers=JSON).get_json()["projects"]
    assert projects == [{"name": "demo"}, {"name": "later"}]


def test_non_ascii_names_that_fold_to_ascii_are_404_on_every_route(
    client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    # U+017F and U+0131 fold to "s" and "i" under Unicode case-insensitive matching.
    fake_upstream.publish_release("setuptools", "1.0", tmpdir=tmp_path, upload_time=OLD)
    for name in ("%C5%BFetuptools", "%C4%B1nternal"):
        for path in (
            f"/simple/{name}/",
            f"/packages/{name}/x-1.0.tar.gz",
            f"/tuf/targets/simple/{name}/{'0' * 64}.index.json",
        ):
            response = client.get(path)
            assert response.status_code == 404, (path, response.data)
    assert fake_upstream.requests == {}
