"""Health, readiness, metrics and the structured access log of a running mirror."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.fake_upstream import FakeUpstream
from tests.support.processes import stop_process

OLD = datetime.now(UTC) - timedelta(days=30)


def test_health_metrics_and_access_log(
    start_mirror,
    fake_upstream: FakeUpstream,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    fake_upstream.publish_release("demo", "2.0", tmpdir=tmp_path, upload_time="now")
    # Behind one proxy: the client's address is the last X-Forwarded-For entry, which the
    # proxy appended; the one before it is whatever the client claimed.
    mirror = start_mirror(server={"trusted_proxies": 1})
    assert mirror.get("/healthz").status == 200
    forwarded = {"X-Forwarded-For": "198.51.100.66, 192.0.2.7"}
    assert mirror.get("/simple/demo/", headers=forwarded).status == 200
    ready = mirror.get("/readyz")
    assert ready.status == 200 and ready.json()["ready"] is True
    metrics = mirror.get("/metrics").data.decode()
    assert 'mirror_files{state="admitted"} 1.0' in metrics
    assert 'mirror_files{state="quarantined"} 1.0' in metrics
    assert "mirror_upstream_up 1.0" in metrics
    assert 'mirror_http_requests_total{endpoint="simple.project_page",status="200"}' in metrics
    [page] = mirror.access_lines("/simple/demo/")
    assert page["status"] == 200 and page["remote_addr"] == "192.0.2.7"
    assert page["duration_ms"] >= 0


def test_every_access_line_is_written_by_the_time_the_server_has_stopped(
    start_mirror,  # type: ignore[no-untyped-def]
) -> None:
    mirror = start_mirror()
    for _ in range(3):
        assert mirror.get("/simple/").status == 200
    stop_process(mirror.process)
    assert len(mirror.access_lines("/simple/", count=3, seconds=0)) == 3
