"""Scaled out: `mirror worker` rides out a PostgreSQL restart and signs again afterwards."""

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from mirror.db import status_rows, targets
from mirror.db.engine import make_engine
from mirror.services.status import SCHEDULER_STATUS
from mirror.timeutil import parse_timestamp
from tests.conftest import base_sections, client_env, merge, stop_process, write_config
from tests.support.fake_upstream import FakeUpstream
from tests.support.postgres import PostgresServer
from tests.support.waiting import wait_until


def last_complete_cycle(engine: Engine) -> float:
    try:
        with engine.connect() as conn:
            status: dict[str, Any] = status_rows.get_status(conn, SCHEDULER_STATUS) or {}
    except Exception:  # the database is still starting
        return 0.0
    last = status.get("last_complete_cycle")
    return parse_timestamp(last).timestamp() if last else 0.0


@pytest.mark.slow
def test_the_worker_rides_out_a_postgresql_restart(
    postgres_server: PostgresServer,
    postgres_url: str,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    config = write_config(
        tmp_path / "worker.toml",
        merge(
            base_sections(tmp_path / "data", fake_upstream.simple_url),
            {"database": {"url": postgres_url}, "server": {"scheduler": False}},
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
        postgres_server.stop()
        time.sleep(5)
        postgres_server.start()
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
