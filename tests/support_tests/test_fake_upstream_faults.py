"""Each fault of the fake upstream does what it says, and only where it is aimed."""

from __future__ import annotations

import hashlib
import http.client
import threading
import time
from typing import Any

import pytest
import urllib3
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from tests.support.dists import DistBuilder
from tests.support.fake_upstream import SIMPLE_JSON, FakeFile, FakeUpstream


def get(url: str, **kw: Any) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", url, redirect=False, retries=False, **kw)


@pytest.fixture
def release(fake_upstream: FakeUpstream, dist_builder: DistBuilder) -> FakeFile:
    return fake_upstream.publish_release("demo", "1.0", tmpdir=dist_builder.dir)


def test_fail_n_times_then_recover(fake_upstream: FakeUpstream, release: FakeFile) -> None:
    fake_upstream.fail(503, path="/simple/demo/", times=2)
    url = fake_upstream.project_url("demo")
    assert get(fake_upstream.simple_url).status == 200  # other paths untouched
    assert [get(url).status for _ in range(3)] == [503, 503, 200]


def test_fail_by_glob_and_clear(fake_upstream: FakeUpstream, release: FakeFile) -> None:
    fake_upstream.fail(500, path="*.whl")
    file_url = fake_upstream.file_url("demo", release.filename)
    assert get(file_url).status == 500
    assert get(file_url + ".metadata").status == 200
    fake_upstream.clear_faults()
    assert get(file_url).status == 200


def test_delay(fake_upstream: FakeUpstream, release: FakeFile) -> None:
    fake_upstream.delay(0.3, path="/simple/demo/", times=1)
    started = time.monotonic()
    assert get(fake_upstream.project_url("demo")).status == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    get(fake_upstream.project_url("demo"))
    assert time.monotonic() - started < 0.2


def test_hang_times_out_the_client_and_stop_releases_it() -> None:
    with FakeUpstream() as upstream:
        upstream.hang(path="/simple/*")
        with pytest.raises(ReadTimeoutError):
            get(upstream.simple_url, timeout=urllib3.Timeout(connect=1, read=0.2))
        assert get(f"{upstream.url}/files/x/y").status == 404  # other paths still answer
        started = time.monotonic()
        upstream.stop()
        assert time.monotonic() - started < 1


def test_truncate_sends_a_short_body(fake_upstream: FakeUpstream, release: FakeFile) -> None:
    fake_upstream.truncate(release.filename, 100, times=1)
    path = f"/files/demo/{release.filename}"
    connection = http.client.HTTPConnection("127.0.0.1", fake_upstream.port, timeout=5)
    connection.request("GET", path)
    response = connection.getresponse()
    assert response.headers["Content-Length"] == str(len(release.content))
    with pytest.raises(http.client.IncompleteRead) as short:
        response.read()
    assert short.value.partial == release.content[:100]
    connection.close()
    # times=1: the next request is whole again.
    assert get(fake_upstream.url + path).data == release.content


def test_truncate_fails_a_length_checking_client(
    fake_upstream: FakeUpstream, release: FakeFile
) -> None:
    fake_upstream.truncate(release.filename, 100)
    with pytest.raises(ProtocolError):
        get(fake_upstream.file_url("demo", release.filename))


def test_corrupt_keeps_the_size_but_not_the_hash(
    fake_upstream: FakeUpstream, release: FakeFile
) -> None:
    fake_upstream.corrupt(release.filename)
    served = get(fake_upstream.file_url("demo", release.filename)).data
    assert len(served) == len(release.content)
    assert hashlib.sha256(served).hexdigest() != release.sha256
    # The page still advertises the true hash: the mismatch is for the client to catch.
    page = get(fake_upstream.project_url("demo"), headers={"Accept": SIMPLE_JSON}).json()
    assert page["files"][0]["hashes"]["sha256"] == release.sha256


def test_garbage_page(fake_upstream: FakeUpstream, release: FakeFile) -> None:
    hostile = '<a href="javascript:alert(1)"><script>x</script></a>'
    fake_upstream.garbage_page("Demo", hostile)
    fake_upstream.garbage_page("other", b"{not json", content_type=SIMPLE_JSON)
    response = get(fake_upstream.project_url("demo"))
    assert response.data.decode() == hostile
    broken = get(fake_upstream.project_url("other"))
    assert (broken.headers["Content-Type"], broken.data) == (SIMPLE_JSON, b"{not json")


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_page(fake_upstream: FakeUpstream, release: FakeFile, chunked: bool) -> None:
    size = 3 * 1024 * 1024 + 7
    fake_upstream.oversized_page("demo", size, chunked=chunked)
    response = get(fake_upstream.project_url("demo"), preload_content=False)
    assert ("Content-Length" in response.headers) is not chunked
    assert sum(len(chunk) for chunk in response.stream(65536)) == size


def test_mutations_while_serving_are_safe(fake_upstream: FakeUpstream) -> None:
    statuses: list[int] = []

    def poll() -> None:
        for _ in range(20):
            statuses.append(get(fake_upstream.simple_url).status)

    readers = [threading.Thread(target=poll) for _ in range(4)]
    for reader in readers:
        reader.start()
    for n in range(50):
        fake_upstream.add_file(f"p{n}", b"x", filename=f"p{n}-1.zip")
    for reader in readers:
        reader.join()
    assert statuses == [200] * 80
    assert fake_upstream.hits("/simple/") == 80
