"""The TUF queue's batch queries, on both backends: what a batch reads, and how stamping it
makes the published set follow the queue."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from mirror.db import targets
from mirror.db.engine import make_engine, migrate, writing
from mirror.db.schema import tuf_pending, tuf_targets
from tests.support.query_plans import query_plans

NOW = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def _change(op: str, path: str, length: int | None = 10, sha256: str | None = "a" * 64) -> Any:
    if op == "remove":
        length = sha256 = None
    project = path.split("/")[1]
    return {"project": project, "op": op, "path": path, "length": length, "sha256": sha256}


def _queue(engine: Engine, *changes: dict[str, Any]) -> None:
    with writing(engine) as conn:
        targets.queue(conn, [c | {"queued_at": NOW - timedelta(minutes=1)} for c in changes])


def _ready(engine: Engine, *, pages_only: bool = False) -> list[targets.QueuedTarget]:
    with engine.connect() as conn:
        return targets.ready(conn, pages_only=pages_only)


def _published(engine: Engine) -> dict[str, tuple[str, str, int, datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(select(tuf_targets))
        return {r.path: (r.project, r.sha256, r.length, r.published_at) for r in rows}


def _stamps(engine: Engine) -> dict[int, tuple[datetime | None, int | None]]:
    with engine.connect() as conn:
        rows = conn.execute(select(tuf_pending))
        return {r.id: (r.published_at, r.snapshot_version) for r in rows}


def test_ready_reads_the_queue_in_order_and_holds_back_paths_of_unknown_length(
    engine: Engine,
) -> None:
    _queue(
        engine,
        _change("add", "packages/a/a-1.whl"),
        _change("add", "packages/a/a-1.whl.metadata", length=None),  # its bytes are not stored
        _change("add", "packages/b/b-1.whl.metadata", length=None),
        _change("remove", "packages/b/b-1.whl.metadata"),  # then blocked: nothing to wait for
        _change("add", "packages/a/a-1.whl", length=11),
        _change("add", "simple/a/index.html"),
        _change("remove", "packages/c/c-1.whl"),
        _change("add", "simple/b/index.json"),
        _change("add", "packages/c/c-1.whl", length=None),  # the latest change waits: all wait
    )
    ready = _ready(engine)
    assert [(c.op, c.path, c.length) for c in ready] == [
        ("add", "packages/a/a-1.whl", 10),
        ("add", "packages/b/b-1.whl.metadata", None),
        ("remove", "packages/b/b-1.whl.metadata", None),
        ("add", "packages/a/a-1.whl", 11),
        ("add", "simple/a/index.html", 10),
        ("add", "simple/b/index.json", 10),
    ]
    assert [c.id for c in ready] == sorted(c.id for c in ready)
    assert ready[0] == (ready[0].id, "a", "add", "packages/a/a-1.whl", 10, "a" * 64)
    assert [c.path for c in _ready(engine, pages_only=True)] == [
        "simple/a/index.html",
        "simple/b/index.json",
    ]
    with writing(engine) as conn:
        targets.learn_length(conn, "a", "a" * 64, 12)
    assert len(_ready(engine)) == 7  # the same bytes queued for c wait for c's own learning
    with writing(engine) as conn:
        targets.learn_length(conn, "c", "a" * 64, 12)
    assert len(_ready(engine)) == 9


def test_a_batch_is_stamped_and_the_published_set_follows_its_latest_changes(
    engine: Engine,
) -> None:
    with writing(engine) as conn:
        conn.execute(
            tuf_targets.insert(),
            [
                {"path": p, "project": p.split("/")[1], "sha256": "0" * 64, "length": 1}
                | {"published_at": NOW - timedelta(days=1)}
                for p in ("packages/a/old.whl", "packages/a/kept.whl", "packages/b/b-1.whl")
            ],
        )
    _queue(
        engine,
        _change("add", "packages/a/a-1.whl"),
        _change("remove", "packages/a/old.whl"),
        _change("add", "packages/a/a-2.whl"),
    )
    _queue(engine, _change("add", "simple/x/index.html"))  # a change the batch leaves out
    _queue(
        engine,
        _change("add", "packages/a/a-2.whl", length=22, sha256="c" * 64),  # replaces its add
        _change("add", "packages/b/b-1.whl", length=5, sha256="d" * 64),  # replaces a target
        _change("add", "packages/b/b-2.whl"),
        _change("remove", "packages/b/b-2.whl"),  # added then blocked: never published
    )
    batch = [c for c in _ready(engine) if c.path != "simple/x/index.html"]
    left_out = next(c.id for c in _ready(engine) if c.path == "simple/x/index.html")
    with writing(engine) as conn:
        targets.mark_published(conn, batch, NOW, 7)

    stamps = _stamps(engine)
    assert {i for i, stamp in stamps.items() if stamp == (NOW, 7)} == {c.id for c in batch}
    assert stamps[left_out] == (None, None)
    assert _published(engine) == {
        "packages/a/kept.whl": ("a", "0" * 64, 1, NOW - timedelta(days=1)),
        "packages/a/a-1.whl": ("a", "a" * 64, 10, NOW),
        "packages/a/a-2.whl": ("a", "c" * 64, 22, NOW),
        "packages/b/b-1.whl": ("b", "d" * 64, 5, NOW),
    }
    assert [c.id for c in _ready(engine)] == [left_out]
    with writing(engine) as conn:
        targets.mark_published(conn, [], NOW, 8)  # an empty batch changes nothing
    assert _stamps(engine) == stamps


def test_runs_are_consecutive_ids() -> None:
    assert targets._runs([]) == []
    assert targets._runs([7, 3, 4, 5, 9, 10, 12]) == [
        {"first": 3, "last": 5},
        {"first": 7, "last": 7},
        {"first": 9, "last": 10},
        {"first": 12, "last": 12},
    ]


def test_queued_pages_are_found_through_the_index_of_queued_paths(tmp_path: Path) -> None:
    """Each first look asks which pages wait while thousands of file targets may: SQLite, with
    no statistics, would read every queued row to answer."""
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    _queue(engine, *(_change("add", f"packages/a/a-{n}.whl") for n in range(50)))
    _queue(engine, _change("add", "simple/a/index.html"), _change("add", "simple/b/index.json"))
    with query_plans(engine) as plans:
        assert [c.path for c in _ready(engine, pages_only=True)] == [
            "simple/a/index.html",
            "simple/b/index.json",
        ]
        with engine.connect() as conn:
            assert targets.queued(conn, ["simple/b/index.html", "simple/b/index.json"])
            assert not targets.queued(conn, ["simple/c/index.html", "simple/c/index.json"])
    assert [plan.split(" (")[0] for plan in plans] == [
        "SEARCH tuf_pending USING INDEX ix_tuf_pending_queued_path"
    ] * 3
    assert "(path>? AND path<?)" in plans[0]
    engine.dispose()
