"""Several upstream indexes: each project comes from exactly one, with that index's settings,
network limits and credentials (docs/admission.md, "Several upstream indexes")."""

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from mirror.app import create_app
from mirror.db import file_rows
from mirror.errors import ConfigError
from mirror.policy.admission import State
from mirror.scheduler import run_cycle
from mirror.services import sync
from mirror.services.backends import Backends
from mirror.timeutil import Clock
from tests.support.fake_upstream import FakeUpstream
from tests.support.lookahead import run_lookahead

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
OLD = datetime.now(UTC) - timedelta(days=30)
SECRET = "s3cret-token-value"
TORCH = "torch-2.0-py3-none-any.whl"


@pytest.fixture
def gpu() -> Iterator[FakeUpstream]:
    """A second index, like a vendor's wheel index: it publishes no upload times."""
    with FakeUpstream() as upstream:
        yield upstream


def indexes(gpu: FakeUpstream, **gpu_settings: Any) -> dict[str, Any]:
    """An ``[upstream]`` section: torch-like names from ``gpu``, everything else from the
    default index (the fake upstream of ``make_backends``)."""
    routed = {"name": "gpu", "url": gpu.simple_url, "projects": ["torch", "nvidia-*"]}
    return {"indexes": [routed | gpu_settings, {"name": "default"}]}


def client_of(backends: Backends) -> FlaskClient:
    return create_app(backends.config, backends).test_client()


def listed(client: FlaskClient, project: str) -> list[str]:
    response = client.get(f"/simple/{project}/", headers=JSON)
    assert response.status_code == 200, response.data
    return [entry["filename"] for entry in json.loads(response.data)["files"]]


def row_of(backends: Backends, project: str, filename: str) -> Any:
    with backends.engine.connect() as conn:
        row = file_rows.file_by_name(conn, project, filename)
    assert row is not None, filename
    return row


def asked_for(upstream: FakeUpstream, word: str) -> list[str]:
    return [path for path in upstream.requests if word in path]


def test_a_routed_project_comes_from_its_index_only(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    gpu: FakeUpstream,
    tmp_path: Path,
) -> None:
    """The default index lists torch with a higher version: never asked, never served."""
    gpu.publish_release("torch", "2.0", tmpdir=tmp_path / "gpu", upload_time="absent")
    fake_upstream.publish_release("torch", "9.9", tmpdir=tmp_path / "pub", upload_time=OLD)
    fake_upstream.publish_release("numpy", "1.0", tmpdir=tmp_path / "pub", upload_time=OLD)
    gpu.publish_release("numpy", "99.0", tmpdir=tmp_path / "gpu", upload_time="absent")
    backends = make_backends(
        upstream=indexes(gpu, missing_upload_time="first-seen", quarantine="0s")
    )
    client = client_of(backends)
    assert listed(client, "torch") == []  # aged, but its content is inspected by a cycle
    assert listed(client, "numpy") == ["numpy-1.0-py3-none-any.whl"]
    run_cycle(backends, ["torch", "numpy"])
    assert listed(client, "torch") == [TORCH]
    assert client.get(f"/packages/torch/{TORCH}").status_code == 200
    assert asked_for(fake_upstream, "torch") == []
    assert asked_for(gpu, "numpy") == []


def test_a_project_its_index_lacks_is_not_looked_up_elsewhere(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    gpu: FakeUpstream,
    tmp_path: Path,
) -> None:
    fake_upstream.publish_release("nvidia-cublas", "1.0", tmpdir=tmp_path, upload_time=OLD)
    client = client_of(make_backends(upstream=indexes(gpu)))
    assert client.get("/simple/nvidia-cublas/").status_code == 404
    assert gpu.hits("/simple/nvidia-cublas/") == 1
    assert asked_for(fake_upstream, "nvidia") == []


def test_without_a_catch_all_other_names_are_not_served(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    gpu: FakeUpstream,
    tmp_path: Path,
) -> None:
    fake_upstream.publish_release("numpy", "1.0", tmpdir=tmp_path, upload_time=OLD)
    only_gpu = {"indexes": indexes(gpu)["indexes"][:1]}
    client = client_of(make_backends(upstream=only_gpu))
    response = client.get("/simple/numpy/")
    assert response.status_code == 404
    assert fake_upstream.requests == {} and gpu.requests == {}


def test_the_look_ahead_asks_each_dependency_of_its_own_index(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    gpu: FakeUpstream,
    tmp_path: Path,
) -> None:
    """The default index's app requires torch; torch's wheel (no PEP 658 metadata, so read by
    ranges) requires nvidia-cublas: both are read from the gpu index only, although the default
    index lists them too. (Upload times here, so the first looks admit what they read.)"""
    fake_upstream.publish_release(
        "app", "1.0", tmpdir=tmp_path / "a", upload_time=OLD, deps=["torch"]
    )
    for name in ("torch", "nvidia-cublas"):
        fake_upstream.publish_release(name, "9.9", tmpdir=tmp_path / "p", upload_time=OLD)
    gpu.publish_release(
        "torch",
        "2.0",
        tmpdir=tmp_path / "g",
        upload_time=OLD,
        deps=["nvidia-cublas"],
        metadata=None,
    )
    gpu.publish_release("nvidia-cublas", "12.0", tmpdir=tmp_path / "g", upload_time=OLD)
    backends = make_backends(upstream=indexes(gpu))
    client = client_of(backends)
    assert listed(client, "app") == ["app-1.0-py3-none-any.whl"]
    assert client.get("/packages/app/app-1.0-py3-none-any.whl.metadata").status_code == 200
    assert run_lookahead(backends)  # the scheduler's process reads ahead
    assert gpu.hits("/simple/torch/") == 1
    assert gpu.hits("/simple/nvidia-cublas/") == 1  # from the torch wheel, read by ranges
    assert any("Range" in request.headers for request in gpu.log)
    assert asked_for(fake_upstream, "torch") == asked_for(fake_upstream, "nvidia") == []


def test_first_seen_ages_a_file_from_the_mirrors_first_sight(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    gpu: FakeUpstream,
    tmp_path: Path,
) -> None:
    """The gpu index publishes no upload times and ages from first sight; the default index
    still holds such a file for review (its [policy] setting)."""
    gpu.publish_release("torch", "2.0", tmpdir=tmp_path / "g", upload_time="absent")
    fake_upstream.publish_release("numpy", "1.0", tmpdir=tmp_path / "p", upload_time="absent")
    backends = make_backends(
        upstream=indexes(gpu, missing_upload_time="first-seen", quarantine="2d")
    )
    client = client_of(backends)
    assert listed(client, "torch") == [] and listed(client, "numpy") == []
    torch = row_of(backends, "torch", TORCH)
    assert torch.state == State.QUARANTINED
    assert torch.hold_until == torch.first_seen_at + timedelta(days=2)
    assert torch.evidence["age_clock"] == "first-seen"
    assert "first sight" in torch.reason
    numpy = row_of(backends, "numpy", "numpy-1.0-py3-none-any.whl")
    assert "age_clock" not in numpy.evidence
    assert numpy.hold_until is None and "no upload time" in numpy.reason

    backends.clock = Clock(timedelta(days=1, hours=23))
    run_cycle(backends, ["torch"])
    assert listed(client, "torch") == []
    backends.clock = Clock(timedelta(days=2, minutes=1))
    run_cycle(backends, ["torch", "numpy"])
    assert listed(client, "torch") == [TORCH]
    assert listed(client, "numpy") == []
    torch = row_of(backends, "torch", TORCH)
    assert torch.state == State.ADMITTED and "first sight" in torch.reason
    # Pages name no upload time the upstream did not give (PEP 700's key is left out: uv
    # refuses a null one); the clock is the mirror's own.
    entry = json.loads(client.get("/simple/torch/", headers=JSON).data)["files"][0]
    assert "upload-time" not in entry


def test_an_upload_time_that_appears_later_becomes_the_clock(
    make_backends: Callable[..., Backends], gpu: FakeUpstream, tmp_path: Path
) -> None:
    gpu.publish_release("torch", "2.0", tmpdir=tmp_path, upload_time="absent")
    backends = make_backends(
        upstream=indexes(gpu, missing_upload_time="first-seen", quarantine="2d")
    )
    sync.refresh(backends, "torch", force=True)
    gpu.set_upload_time("torch", TORCH, OLD)
    sync.refresh(backends, "torch", force=True)
    torch = row_of(backends, "torch", TORCH)
    assert "age_clock" not in torch.evidence
    assert torch.state == State.ADMITTED


@pytest.mark.parametrize(
    ("settings", "header"),
    [
        ({"token_env": "GPU_TOKEN"}, f"Bearer {SECRET}"),
        (
            {"username": "ci", "password_file": "{secret_file}"},
            "Basic Y2k6czNjcmV0LXRva2VuLXZhbHVl",
        ),
    ],
    ids=["token", "password"],
)
def test_credentials_go_to_their_index_only_and_are_never_logged(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    gpu: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    settings: dict[str, str],
    header: str,
) -> None:
    """The gpu index's files live on a files host of their own (allowed for that index): it
    gets no credentials, and neither does the default index."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("GPU_TOKEN", SECRET)
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    settings = {k: v.format(secret_file=secret_file) for k, v in settings.items()}
    with FakeUpstream() as files_host:
        gpu.files_host_url = files_host.url
        wheel = gpu.publish_release("torch", "2.0", tmpdir=tmp_path, upload_time="absent")
        files_host.add_file("torch", wheel.content, filename=TORCH, upload_time="absent")
        fake_upstream.publish_release("numpy", "1.0", tmpdir=tmp_path / "p", upload_time=OLD)
        gpu_index = settings | {
            "missing_upload_time": "first-seen",
            "quarantine": "0s",
            "allowed_hosts": [f"127.0.0.1:{files_host.port}"],
        }
        backends = make_backends(upstream=indexes(gpu, **gpu_index))
        client = client_of(backends)
        client.get("/simple/torch/")
        run_cycle(backends, ["torch"])
        assert listed(client, "torch") == [TORCH]
        assert client.get(f"/packages/torch/{TORCH}").status_code == 200
        assert listed(client, "numpy") == ["numpy-1.0-py3-none-any.whl"]
        gpu.fail(500)
        run_cycle(backends, ["torch"])
        to_files_host = files_host.log
    assert gpu.log and all(r.headers.get("Authorization") == header for r in gpu.log)
    assert to_files_host and all("Authorization" not in r.headers for r in to_files_host)
    assert all("Authorization" not in r.headers for r in fake_upstream.log)
    assert SECRET not in caplog.text
    assert header.split()[1] not in caplog.text
    assert SECRET not in repr(backends.upstream.clients)
    assert SECRET not in repr(backends.config)


def test_a_missing_credential_is_one_line_naming_the_variable(
    make_backends: Callable[..., Backends], gpu: FakeUpstream
) -> None:
    with pytest.raises(ConfigError, match="environment variable GPU_TOKEN is not set"):
        make_backends(upstream=indexes(gpu, token_env="GPU_TOKEN"))


def test_an_index_may_not_send_the_mirror_to_another_indexs_address(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    """The gpu index names its files on the default index's (loopback) host and port: trusted
    for the default index, refused for the gpu index."""
    with FakeUpstream(files_host_url=fake_upstream.url) as gpu:
        wheel = gpu.publish_release("torch", "2.0", tmpdir=tmp_path, upload_time="absent")
        fake_upstream.add_file("torch", wheel.content, filename=TORCH, upload_time=OLD)
        backends = make_backends(
            upstream=indexes(gpu, missing_upload_time="first-seen", quarantine="0s")
        )
        client = client_of(backends)
        client.get("/simple/torch/")
        assert client.get(f"/packages/torch/{TORCH}").status_code in (404, 502)
    assert asked_for(fake_upstream, "torch") == []
