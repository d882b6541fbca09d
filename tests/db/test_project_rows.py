"""A project created with its columns in one statement is the project created, then
updated: a first look writes its project once."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from mirror.db import project_rows
from mirror.simple_api import ProjectStatus, Status

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_a_project_inserted_with_its_columns_is_the_one_created_then_updated(
    engine: Engine,
) -> None:
    values = {
        "checked_at": NOW,
        "etag": '"abc"',
        "last_modified": None,
        "page_sha256": "ab" * 32,
        **project_rows.status_values(ProjectStatus(Status.QUARANTINED, "malware report")),
    }
    with engine.begin() as conn:
        created = project_rows.create_project(conn, "created", NOW)
        project_rows.update_project(conn, created.id, **values)
        inserted = project_rows.insert_project(conn, "inserted", NOW, **values)
        general = project_rows.get_project(conn, "created")
        one = project_rows.get_project(conn, "inserted")
    assert general is not None and one is not None
    assert one.id == inserted
    ignored = {"id", "name", "display_name"}
    assert {k: v for k, v in one._asdict().items() if k not in ignored} == {
        k: v for k, v in general._asdict().items() if k not in ignored
    }
    assert one.display_name == "inserted"


def test_inserting_a_project_that_exists_fails(engine: Engine) -> None:
    with engine.begin() as conn:
        project_rows.insert_project(conn, "demo", NOW)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        project_rows.insert_project(conn, "demo", NOW)
