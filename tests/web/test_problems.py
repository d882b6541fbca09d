"""Refusals a program can read (docs/admission.md, "Problem types"): every refused project or
file answers 404 with an RFC 9457 problem, as ``application/problem+json`` when the client
accepts it and as the same sentence in plain text otherwise; ``mirror why`` and
``GET /api/v1/why/...`` give that sentence too, and upstream text in it is inert."""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from mirror.app import create_app
from mirror.cli import main
from mirror.scheduler import run_cycle
from mirror.services import publish, review
from mirror.services.backends import Backends
from tests.support.fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)
PROBLEM = {"Accept": "application/problem+json"}
# What pip, uv and a browser send for files and pages: each gets the plain sentence.
PLAIN = [{"Accept": "text/plain"}, {"Accept": "text/html"}, {"Accept": "*/*"}, {}]


def wheel(version: str) -> str:
    return f"demo-{version}-py3-none-any.whl"


@pytest.fixture
def mirror(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> tuple[Backends, FlaskClient]:
    """demo 1.0 admitted, 2.0 held by age, 3.0 blocked by a person, 4.0 rejected (its bytes
    do not match upstream's digest); secret-pkg an internal name."""
    for version in ("1.0", "3.0", "4.0"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path, upload_time=OLD)
    fake_upstream.publish_release("demo", "2.0", tmpdir=tmp_path, upload_time="now")
    backends = make_backends(policy={"internal": ["secret-pkg"]})
    client = create_app(backends.config, backends).test_client()
    assert client.get("/simple/demo/").status_code == 200
    review.block(backends, "demo", "==3.0", actor="alice", reason="credential stealer")
    fake_upstream.corrupt(wheel("4.0"))
    assert client.get(f"/packages/demo/{wheel('4.0')}").status_code == 502
    run_cycle(backends, [])
    publish.publish_now(backends)
    return backends, client


# (path, problem kind, words the detail says)
REFUSED = [
    pytest.param(f"/packages/demo/{wheel('2.0')}", "held", "held until", id="held"),
    pytest.param(f"/packages/demo/{wheel('3.0')}", "blocked", "credential stealer", id="blocked"),
    pytest.param(f"/packages/demo/{wheel('4.0')}", "rejected", "rejected", id="rejected"),
    pytest.param("/simple/secret-pkg/", "internal", "internal name", id="internal"),
    pytest.param(
        "/packages/secret-pkg/secret_pkg-1.0.tar.gz", "internal", "internal", id="int-file"
    ),
    pytest.param("/simple/no-such-project/", "unknown", "no such project", id="unknown"),
    pytest.param(f"/packages/demo/{wheel('9.0')}", "unknown", "not known", id="unknown-file"),
]


@pytest.mark.parametrize(("path", "kind", "words"), REFUSED)
def test_each_refusal_is_a_problem_in_json_or_the_same_sentence_in_text(
    mirror: tuple[Backends, FlaskClient], path: str, kind: str, words: str
) -> None:
    _, client = mirror
    response = client.get(path, headers=PROBLEM)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "Accept" in response.headers["Vary"]
    problem = json.loads(response.data)
    assert problem["type"] == f"/problems/{kind}"
    assert problem["status"] == 404 and problem["title"]
    assert words in problem["detail"]
    assert (kind == "held") == ("until" in problem)
    for headers in PLAIN:
        text = client.get(path, headers=headers)
        assert text.status_code == 404
        assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert text.data.decode() == f"{problem['detail']}\n"
    described = client.get(problem["type"])
    assert described.status_code == 200 and problem["title"] in described.data.decode()


def test_the_signed_targets_of_a_refused_file_answer_the_same_problem(
    mirror: tuple[Backends, FlaskClient],
) -> None:
    _, client = mirror
    page = client.get("/packages/demo/" + wheel("3.0"), headers=PROBLEM)
    fake = "/tuf/targets/packages/demo/" + "0" * 64 + "." + wheel("3.0")
    target = client.get(fake, headers=PROBLEM)
    assert target.status_code == 404
    assert json.loads(target.data) == json.loads(page.data)


def test_a_404_that_is_no_refusal_is_an_untyped_problem(
    mirror: tuple[Backends, FlaskClient],
) -> None:
    _, client = mirror
    response = client.get("/tuf/metadata/nothing.json", headers=PROBLEM)
    assert response.status_code == 404
    problem = json.loads(response.data)
    assert (problem["type"], problem["title"]) == ("about:blank", "Not Found")


def why_cli(tmp_path: Path, release: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["why", release, "--config", str(tmp_path / "mirror.toml")])
    return code, capsys.readouterr().out


@pytest.mark.parametrize(
    ("release", "kind"),
    [
        ("demo==2.0", "held"),
        ("demo==3.0", "blocked"),
        ("demo==4.0", "rejected"),
        ("secret-pkg==1.0", "internal"),
        ("demo==9.0", "unknown"),
        ("Demo==v2.0", "held"),
    ],
)
def test_mirror_why_and_the_api_give_the_same_sentence(
    mirror: tuple[Backends, FlaskClient],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    release: str,
    kind: str,
) -> None:
    _, client = mirror
    project, version = release.split("==")
    answer = client.get(f"/api/v1/why/{project}/{version}")
    assert answer.status_code == 200
    document: dict[str, Any] = json.loads(answer.data)
    assert document["installable"] is False
    problem = document["problem"]
    assert problem["type"] == f"/problems/{kind}"
    code, out = why_cli(tmp_path, release, capsys)
    assert code == 1
    assert out.splitlines()[0] == problem["detail"]
    assert problem["title"] in out.splitlines()[1]


def test_an_installable_release_has_no_problem(
    mirror: tuple[Backends, FlaskClient], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, client = mirror
    document = json.loads(client.get("/api/v1/why/demo/1.0").data)
    assert (document["installable"], document["problem"]) == (True, None)
    assert why_cli(tmp_path, "demo==1.0", capsys) == (0, "demo==1.0: installable\n")


def test_upstream_text_in_a_detail_is_inert(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hostile = "\x1b[2J\x1b[31mpwned\u202e</script><b>\r\nX-Injected: 1"
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    backends = make_backends()
    client = create_app(backends.config, backends).test_client()
    assert client.get("/simple/demo/").status_code == 200
    fake_upstream.set_status("demo", "quarantined", hostile)
    run_cycle(backends, ["demo"])
    response = client.get(f"/packages/demo/{wheel('1.0')}", headers=PROBLEM)
    body = response.data.decode()
    assert response.status_code == 404
    for unsafe in ("\x1b", "\u202e", "\r", "\n", "<", ">"):
        assert unsafe not in body
    detail = json.loads(body)["detail"]
    assert "\\u001b[2J" in detail and "</script><b>" in detail  # shown, not acted on
    text = client.get(f"/packages/demo/{wheel('1.0')}").data.decode()
    assert text == f"{detail}\n"
    assert "X-Injected" not in response.headers
    code, out = why_cli(tmp_path, "demo==1.0", capsys)
    assert code == 1 and "\\u001b[2J" in out.splitlines()[0]
    assert "\x1b" not in out and "\u202e" not in out
