"""Scaled out: `mirror worker` rides out a PostgreSQL restart or a stalled PostgreSQL and signs
again afterwards."""

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from mirror.db import status_rows, targets
from mirror.db.engine import make_engine
from mirror.services.status import SCHEDULER_STATUS
from mirror.timeutil import parse_timestamp
from tests.support import postgres
from tests.support.config_files import base_sections, merge, write_config
from tests.support.fake_upstream import FakeUpstream
from tests.support.postgres import PostgresServer
from tests.support.processes import client_env, stop_process
from tests.support.waiting import wait_until


def last_complete_cycle(engine: Engine) -> float:
    try:
        with engine.connect() as conn:
            status: dict[str, Any] = status_rows.get_status(conn, SCHEDULER_STATUS) or {}
    except Exception:  # the database is still starting
        return 0.0
    last = status.get("last_complete_cycle")
    return parse_timestamp(last).timestamp() if last else 0.0


def restart_after_five_seconds(server: PostgresServer) -> None:
    server.stop()
    time.sleep(5)
    server.start()


def stall_for_eight_seconds(server: PostgresServer) -> None:
    # Accepts TCP connections (the kernel does) and never answers: only the worker's bounded
    # connect and statement timeouts get it out.
    with postgres.paused(server):
        time.sleep(8)


@pytest.mark.slow
@pytest.mark.parametrize("outage", [restart_after_five_seconds, stall_for_eight_seconds])
def test_the_worker_rides_out_a_postgresql_outage(
    outage: Callable[[PostgresServer], None],
    own_postgres_server: PostgresServer,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    postgres_url = own_postgres_server.database()
    config = write_config(
        tmp_path / "worker.toml",
        merge(
            base_sections(tmp_path / "data", fake_upstream.simple_url),
            {
                "database": {
                    "url": postgres_url,
                    "connect_timeout": "2s",
                    "statement_timeout": "2s",
                },
                "server": {"scheduler": False},
            },
        ),
    )
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "mirror", "--config", str(config), "worker"],
            env=client_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    engine = make_engine(postgres_url)
    try:
        assert wait_until(lambda: last_complete_cycle(engine) > 0, 60)
        outage(own_postgres_server)
        restarted = time.time()
        engine.dispose()
        assert wait_until(lambda: last_complete_cycle(engine) > restarted, 60), (
            log_path.read_text()[-3000:]
        )
        assert worker.poll() is None
        with engine.connect() as conn:
            assert targets.pending_count(conn) == 0
    finally:
        stop_process(worker)
        engine.dispose()
    assert worker.returncode == 0, log_path.read_text()[-3000:]
