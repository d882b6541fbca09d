"""Writers are serialised on both backends; readers never wait; bad URLs are one clear line."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from mirror.db import page_rows, project_rows, status_rows
from mirror.db.engine import check_connection, make_engine, migrate, writing
from mirror.errors import ConfigError, StorageError
from tests.support.ports import free_port

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_upserts_insert_then_update(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    page = {"html_sha256": "a" * 64, "html_size": 1, "json_sha256": "b" * 64, "json_size": 2}
    with writing(engine) as conn:
        page_rows.put_page(conn, "demo", page | {"files": 1, "rendered_at": NOW})
        status_rows.set_status(conn, "upstream", {"ok": True}, NOW)
    with writing(engine) as conn:
        page_rows.put_page(conn, "demo", page | {"files": 0, "rendered_at": NOW})
        status_rows.set_status(conn, "upstream", {"ok": False}, NOW)
    with engine.connect() as conn:
        row = page_rows.get_page(conn, "demo")
        assert row is not None and row.files == 0 and row.rendered_at == NOW
        assert status_rows.get_status(conn, "upstream") == {"ok": False}
        assert page_rows.served_projects(conn) == []


def test_second_writer_waits_for_the_first_and_then_sees_its_commit(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    first_inside, release = threading.Event(), threading.Event()

    def first() -> None:
        with writing(engine) as conn:
            project_rows.create_project(conn, "demo", NOW)
            first_inside.set()
            release.wait(30)

    def second() -> bool:
        first_inside.wait(30)
        with writing(engine) as conn:
            # Read-then-write, as the services do: the first writer's row must be visible.
            return project_rows.get_project(conn, "demo") is not None

    with ThreadPoolExecutor(2) as pool:
        done_first = pool.submit(first)
        done_second = pool.submit(second)
        first_inside.wait(30)
        assert not done_second.done()
        with engine.connect() as conn:  # readers do not wait for the writer
            assert project_rows.project_names(conn) == []
        release.set()
        done_first.result(30)
        assert done_second.result(30) is True


@pytest.mark.scaled
def test_postgresql_writer_waits_on_the_advisory_lock(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    migrate(engine)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with writing(engine):
            holding.set()
            release.wait(30)

    def wait() -> None:
        with writing(engine):
            pass

    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(hold)
        holding.wait(30)
        waiting = pool.submit(wait)
        with engine.connect() as conn:
            query = text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
            )
            while conn.execute(query).scalar() != 1:
                conn.commit()  # a new snapshot of pg_stat_activity
        release.set()
        held.result(30)
        waiting.result(30)


@pytest.mark.scaled
def test_nodes_starting_together_migrate_once(postgres_url: str) -> None:
    engines = [make_engine(postgres_url) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(migrate, engines))
    with engines[0].connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() >= 1


def test_unreachable_postgresql_is_one_clear_line() -> None:
    engine = make_engine(f"postgresql+psycopg://mirror:secret@127.0.0.1:{free_port()}/mirror")
    with pytest.raises(StorageError, match=r"^cannot reach database .*refused") as caught:
        check_connection(engine)
    assert "\n" not in str(caught.value) and "secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://h/db", "unsupported database.url"), ("not a url", "invalid database.url")],
)
def test_unsupported_database_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_engine(url)
