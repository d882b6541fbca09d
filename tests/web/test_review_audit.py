"""The audit log: people's decisions by default, automatic changes one line per pass with a
count, filters by kind, actor and date, CSV and JSON export (docs/review.md, "Audit log")."""

import csv
import io
import json

from tests.web.test_admin import csrf_of, sign_in

FORMULA = '=HYPERLINK("http://evil.invalid","x")'


def _decide(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/admin/projects/demo/releases/2.0")
    form = {"csrf": csrf_of(page), "project": "other", "specifier": "", "reason": FORMULA}
    assert client.post("/admin/blocks", data=form).status_code == 303


def test_people_first_automatic_summarised(open_) -> None:  # type: ignore[no-untyped-def]
    client, _backends, made = open_
    sign_in(client, made.secrets["review"])
    _decide(client)
    people = client.get("/admin/events").get_data(as_text=True)
    assert "review-bot (token" in people and "policy" not in people
    everything = client.get("/admin/events?kind=all").get_data(as_text=True)
    assert "review-bot (token" in everything and "automatic changes by policy" in everything
    automatic = client.get("/admin/events?kind=automatic").get_data(as_text=True)
    assert "review-bot (token" not in automatic and "policy" in automatic
    assert client.get("/admin/events?kind=bogus").status_code == 400
    assert client.get("/admin/events?since=yesterday").status_code == 400


def test_a_first_look_is_one_expandable_line(open_) -> None:  # type: ignore[no-untyped-def]
    client, _backends, made = open_
    sign_in(client, made.secrets["review"])
    page = client.get("/admin/events?kind=automatic&project=demo").get_data(as_text=True)
    assert page.count("<details>") == 1
    assert "2 automatic changes by policy: pending → " in page


def test_filters_by_actor_and_date(open_) -> None:  # type: ignore[no-untyped-def]
    client, _backends, made = open_
    sign_in(client, made.secrets["review"])
    _decide(client)
    assert "review-bot (token" in client.get("/admin/events?actor=review").get_data(as_text=True)
    assert "No events." in client.get("/admin/events?actor=nobody").get_data(as_text=True)
    assert "No events." in client.get("/admin/events?until=2000-01-01").get_data(as_text=True)
    since = client.get("/admin/events?since=2000-01-01").get_data(as_text=True)
    assert "review-bot (token" in since


def test_csv_and_json_export(open_) -> None:  # type: ignore[no-untyped-def]
    client, _backends, made = open_
    sign_in(client, made.secrets["review"])
    _decide(client)
    exported = client.get("/admin/events.json?kind=people")
    assert exported.headers["Content-Disposition"] == "attachment; filename=audit-log.json"
    records = json.loads(exported.get_data(as_text=True))
    assert "block (all versions): " + FORMULA in [r["reason"] for r in records]
    table = client.get("/admin/events.csv?kind=all").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(table)))
    assert len(rows) > 1 and {"at", "actor", "reason"} <= set(rows[0])
    cells = [value for row in rows for value in row.values()]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert client.get("/admin/events.xml").status_code == 404
