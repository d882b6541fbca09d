"""What a first look costs whatever the number of files (docs/performance.md, "First looks"):
the statements it runs, and the answers it reads rather than assumes (an earlier life of the
project)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert

from mirror.db import page_rows
from mirror.db.engine import writing
from mirror.db.schema import tuf_pending
from mirror.services import fetching, first_look, targets
from mirror.services.backends import Backends
from tests.support.fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)
WHEEL = "demo-1.0-py3-none-any.whl"
# The statements of a small project's first look on SQLite, in order. Before the write lock:
# whether the project is private and its blocks (one read for gathering and deciding). Under
# it: the blocks again (a block added meanwhile makes the plan be made again), the project,
# its history listing (two tables) and that listing's audit event, whether anything is signed
# or queued for the project (an earlier life), the pages' targets, the page row. After it:
# upstream's status for /readyz, which is written only when it changes.
FIRST_LOOK_STATEMENTS = [
    "BEGIN",
    "SELECT private_projects",
    "SELECT blocks",
    "BEGIN IMMEDIATE",
    "SELECT blocks",
    "INSERT INTO projects",
    "INSERT INTO histories",
    "INSERT INTO history_entries",
    "INSERT INTO events",
    "SELECT tuf_targets tuf_pending",
    "INSERT INTO tuf_pending",
    "INSERT INTO pages",
    "BEGIN",
    "SELECT status",
]


def test_a_first_look_runs_the_same_few_statements_whatever_its_files(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    # Each statement costs a tenth of a millisecond or more of a first look that pip waits
    # for once per project: a statement more is a regression this makes visible.
    for version in ("1.0", "1.1", "2.0"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path, upload_time=OLD)
    fetched = fetching.fetch(backends, "demo", None)
    assert fetched.page is not None and fetched.listing is not None
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(_kind(statement))

    event.listen(backends.engine, "before_cursor_execute", seen)
    try:
        first_look.take_first_look(backends, "demo", fetched.page, fetched.listing)
    finally:
        event.remove(backends.engine, "before_cursor_execute", seen)
    assert statements == _on(backends.engine.dialect.name, FIRST_LOOK_STATEMENTS)


def _on(dialect: str, statements: list[str]) -> list[str]:
    """SQLite's ``statements`` as ``dialect`` runs them: PostgreSQL begins its transactions
    without a statement of their own, and takes the write lock with an advisory lock
    (``mirror.db.engine.writing``)."""
    if dialect == "sqlite":
        return statements
    lock = {"BEGIN IMMEDIATE": "SELECT pg_advisory_xact_lock"}
    return [lock.get(statement, statement) for statement in statements if statement != "BEGIN"]


def _kind(statement: str) -> str:
    """``statement``'s verb and the tables it names, e.g. ``SELECT blocks``."""
    words = statement.replace("(", " ").split()
    if words[0] == "INSERT":
        return " ".join(words[:3])
    if words[0] != "SELECT":
        return statement
    tables = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "FROM"]
    # A SELECT of no table is a function's: named by it.
    return " ".join([words[0], *(dict.fromkeys(tables) or words[1:2])])


def test_a_first_look_after_changes_queued_in_an_earlier_life_queues_the_difference(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    # Nothing signed for the project, but a change queued and not yet published: the first
    # look queues every target the project should have (its files' too, not deferred), and
    # the removal of the one queued that it should not.
    gone = "packages/demo/demo-0.1.tar.gz"
    with writing(backends.engine) as conn:
        queued = {"project": "demo", "op": "add", "path": gone, "length": 1}
        conn.execute(insert(tuf_pending), queued | {"sha256": "0" * 64, "queued_at": OLD})
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    fetched = fetching.fetch(backends, "demo", None)
    assert fetched.page is not None and fetched.listing is not None
    first_look.take_first_look(backends, "demo", fetched.page, fetched.listing)
    with backends.engine.connect() as conn:
        state = targets.queued_state(conn, "demo")
        page = page_rows.get_page(conn, "demo")
    assert gone not in state
    assert {"simple/demo/index.html", "simple/demo/index.json"} <= set(state)
    assert f"packages/demo/{WHEEL}" in state
    assert page is not None and page.targets_deferred_since is None
