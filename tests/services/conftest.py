"""Every service test runs twice: on the embedded default (SQLite + local files) and scaled out
(PostgreSQL + S3 on SeaweedFS), through the same data layer and blob store protocol."""

from collections.abc import Callable

import pytest

from mirror.services.backends import Backends


@pytest.fixture(params=["embedded", pytest.param("scaled", marks=pytest.mark.scaled)])
def backends(request: pytest.FixtureRequest, make_backends: Callable[..., Backends]) -> Backends:
    if request.param == "embedded":
        return make_backends()
    bucket = request.getfixturevalue("s3_bucket")
    url = request.getfixturevalue("postgres_url")
    return make_backends(database={"url": url}, storage=bucket.storage_section())
