"""A whole stored file goes out with the connection corked, and the connection is uncorked
once the server has sent the body (closed the response)."""

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask.testing import FlaskClient

from tests.support.fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)
WHEEL = "/packages/demo/demo-1.0-py3-none-any.whl"


def corked(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK))


def test_a_download_is_corked_until_its_body_is_sent(
    client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake = fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    assert client.get("/simple/demo/").status_code == 200
    assert client.get(WHEEL).status_code == 200  # stored now
    with (
        socket.create_server(("127.0.0.1", 0)) as listener,
        socket.create_connection(listener.getsockname()) as sock,
    ):
        response = client.get(WHEEL, environ_base={"gunicorn.socket": sock}, buffered=False)
        assert corked(sock)
        body = b"".join(response.iter_encoded())
        response.close()
        assert not corked(sock)
    assert body == fake.content


def test_no_cork_without_a_tcp_connection(
    client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake = fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    assert client.get("/simple/demo/").status_code == 200
    left, right = socket.socketpair()
    with left, right:
        response = client.get(WHEEL, environ_base={"gunicorn.socket": left})
        assert response.data == fake.content
