"""`mirror serve` and `mirror worker` check their backends at start: an unreachable or
misconfigured database or bucket stops them with one clear line and a non-zero exit."""

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.config_files import write_config
from tests.support.fixtures import S3Bucket
from tests.support.ports import free_port
from tests.support.postgres import PostgresServer
from tests.support.processes import client_env
from tests.support.seaweed import aws_env

pytestmark = pytest.mark.scaled

Sections = dict[str, dict[str, Any]]


def database_down(request: pytest.FixtureRequest) -> tuple[Sections, str]:
    url = f"postgresql+psycopg://mirror@127.0.0.1:{free_port()}/mirror"
    return {"database": {"url": url}}, "cannot reach database postgresql+psycopg://mirror@"


def database_missing(request: pytest.FixtureRequest) -> tuple[Sections, str]:
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.url("no_such_database")
    return {"database": {"url": url}}, 'database "no_such_database" does not exist'


def bucket_missing(request: pytest.FixtureRequest) -> tuple[Sections, str]:
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    storage = bucket.storage_section(bucket="no-such-bucket")
    return {"storage": storage}, "S3 bucket 'no-such-bucket' does not exist"


def bad_credentials(request: pytest.FixtureRequest) -> tuple[Sections, str]:
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv(
        "AWS_SECRET_ACCESS_KEY", aws_env(secret_key="wrong")["AWS_SECRET_ACCESS_KEY"]
    )
    return {"storage": bucket.storage_section()}, "S3 access denied to s3://"


def s3_unreachable(request: pytest.FixtureRequest) -> tuple[Sections, str]:
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    storage = bucket.storage_section(endpoint_url=f"http://127.0.0.1:{free_port()}")
    return {"storage": storage}, "cannot reach S3 s3://"


def no_bucket_configured(request: pytest.FixtureRequest) -> tuple[Sections, str]:
    return {"storage": {"backend": "s3"}}, "storage.backend is s3 but storage.s3.bucket is empty"


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    "broken",
    [
        database_down,
        database_missing,
        bucket_missing,
        bad_credentials,
        s3_unreachable,
        no_bucket_configured,
    ],
)
def test_start_fails_with_one_clear_line(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    command: str,
    broken: Callable[[pytest.FixtureRequest], tuple[Sections, str]],
) -> None:
    sections, message = broken(request)
    storage = {"path": str(tmp_path / "data")} | sections.pop("storage", {})
    config = write_config(
        tmp_path / "mirror.toml",
        {"storage": storage, "server": {"bind": f"127.0.0.1:{free_port()}"}} | sections,
    )
    result = subprocess.run(
        [sys.executable, "-m", "mirror", "--config", str(config), command],
        env=client_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mirror: error: ") and message in lines[0]
