"""The queue: one row per release, sortable, filterable, with bulk approve and block; and
`mirror review list` with the same state names (docs/review.md, "Queue"). The forms are
posted as a browser without JavaScript posts them."""

import re
from datetime import UTC, datetime, timedelta

from mirror.db import file_rows
from tests.web.test_admin import csrf_of, sign_in


def _rows(page: str) -> list[str]:
    return re.findall(r'name="release" value="([^"]+)"', page)


def test_sorting_and_absolute_until(open_) -> None:  # type: ignore[no-untyped-def]
    client, _backends, made = open_
    sign_in(client, made.secrets["review"])
    by_project = client.get("/admin/?sort=project").get_data(as_text=True)
    assert _rows(by_project) == ["demo==2.0", "other==3.0"]
    assert re.search(r"<td class=\"nowrap\">\d{4}-\d\d-\d\d \d\d:\d\d UTC</td>", by_project)
    assert re.search(r"6d 1\dh left", by_project)
    assert client.get("/admin/?sort=bogus").status_code == 400
    admitted = client.get("/admin/?state=admitted&sort=uploaded").get_data(as_text=True)
    assert _rows(admitted) == ["demo==1.0"]


def test_filters_by_project_glob_and_reason(open_) -> None:  # type: ignore[no-untyped-def]
    client, _backends, made = open_
    sign_in(client, made.secrets["review"])
    assert _rows(client.get("/admin/?project=oth*").get_data(as_text=True)) == ["other==3.0"]
    assert _rows(client.get("/admin/?project=DEMO").get_data(as_text=True)) == ["demo==2.0"]
    held = client.get("/admin/?reason=QUARANTINE").get_data(as_text=True)
    assert _rows(held) == ["demo==2.0", "other==3.0"]
    none = client.get("/admin/?reason=no-such-reason").get_data(as_text=True)
    assert _rows(none) == [] and "Nothing quarantined" in none


def test_bulk_approve_and_block_with_one_reason(open_) -> None:  # type: ignore[no-untyped-def]
    client, backends, made = open_
    sign_in(client, made.secrets["review"])
    page = client.get("/admin/")
    form = {"csrf": csrf_of(page), "release": ["demo==2.0"], "reason": "diffs read"}
    assert client.post("/admin/bulk", data={**form, "csrf": "forged"}).status_code == 400
    assert client.post("/admin/bulk", data={**form, "reason": " "}).status_code == 400
    done = client.post("/admin/bulk", data={**form, "action": "approve", "sort": "project"})
    assert done.status_code == 303 and "sort=project" in done.headers["Location"]
    assert "Approved: the selected releases" in client.get(done.headers["Location"]).get_data(
        as_text=True
    )
    blocked = client.post(
        "/admin/bulk",
        data={**form, "release": ["other==3.0", "nothing==9"], "action": "block"},
    )
    assert "done=bulk-blocked" in blocked.headers["Location"]
    with backends.engine.connect() as conn:
        assert {r.state for r in file_rows.release_files(conn, "demo", "2.0")} == {"admitted"}
        assert {r.state for r in file_rows.release_files(conn, "other", "3.0")} == {"blocked"}
    log = client.get("/admin/events").get_data(as_text=True)
    assert "approved: diffs read" in log and "block ==3.0: diffs read" in log


def test_bulk_reports_a_partial_failure(open_) -> None:  # type: ignore[no-untyped-def]
    client, _backends, made = open_
    sign_in(client, made.secrets["review"])
    csrf = csrf_of(client.get("/admin/"))
    done = client.post(
        "/admin/bulk",
        data={"csrf": csrf, "release": ["demo==1.0"], "reason": "r", "action": "approve"},
    )
    assert "done=bulk-partial" in done.headers["Location"]


def test_queue_times_are_ordered_by_time_left(open_) -> None:  # type: ignore[no-untyped-def]
    client, backends, made = open_
    later = datetime.now(UTC) + timedelta(days=30)
    with backends.engine.begin() as conn:
        for row in file_rows.release_files(conn, "demo", "2.0"):
            file_rows.update_file(conn, row, hold_until=later)
    sign_in(client, made.secrets["review"])
    assert _rows(client.get("/admin/").get_data(as_text=True)) == ["other==3.0", "demo==2.0"]
