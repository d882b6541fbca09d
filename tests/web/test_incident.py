"""After an incident: which advisories cover a release, and who pulled it (API and review UI)."""

from pathlib import Path

from mirror.services import advisories
from tests.support import osv
from tests.web.test_admin import sign_in

WHEEL = "/packages/demo/demo-1.0-py3-none-any.whl"


def pull(client, headers, agent: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(WHEEL, headers={**headers, "User-Agent": agent})
    assert response.status_code == 200
    response.close()
    client.application.extensions["mirror_downloads"].flush()


def test_who_pulled_a_release(open_) -> None:
    client, _backends, made = open_
    pull(client, made.bearer("read"), "pip/26.0 nightly-build")
    pull(client, {}, "uv/0.9")
    url = "/api/v1/projects/Demo/downloads?version=1.0"
    assert client.get(url, headers=made.bearer("read")).status_code == 403
    found = client.get(url, headers=made.bearer("review")).get_json()["downloads"]
    assert [(d["token_name"], d["token_id"], d["user_agent"]) for d in found] == [
        (None, None, "uv/0.9"),
        ("read-bot", made.ids["read"], "pip/26.0 nightly-build"),
    ]
    assert found[0]["filename"] == "demo-1.0-py3-none-any.whl" and found[0]["at"].endswith("Z")
    none = client.get("/api/v1/projects/demo/downloads?version=2.0", headers=made.bearer("review"))
    assert none.get_json() == {"downloads": []}
    sign_in(client, made.secrets["review"])
    page = client.get("/admin/projects/demo/releases/1.0").get_data(as_text=True)
    section = page[page.index("Who pulled this") :]
    assert "read-bot" in section and made.ids["read"] in section and "anonymous" in section
    assert "pip/26.0 nightly-build" in section
    assert "Nobody has downloaded" in client.get("/admin/projects/demo/releases/2.0").get_data(
        as_text=True
    )


def test_malicious_advisory_blocks_and_shows_as_evidence(open_, tmp_path: Path) -> None:
    client, backends, made = open_
    feed = tmp_path / "feed"
    feed.mkdir()
    osv.write_json(feed / "MAL-2026-1.json", osv.malicious("MAL-2026-1", "demo", versions=["1.0"]))
    osv.write_json(
        feed / "PYSEC-1.json", osv.vulnerability("PYSEC-1", "demo", introduced="0", fixed="1.5")
    )
    advisories.import_path(backends, feed)
    listed = client.get("/api/v1/advisories?project=demo").get_json()["advisories"]
    assert {(a["id"], a["malicious"]) for a in listed} == {("MAL-2026-1", True), ("PYSEC-1", False)}
    release = client.get("/api/v1/projects/demo/releases/1.0").get_json()
    assert release["files"][0]["state"] == "blocked"
    assert sorted(a["id"] for a in release["advisories"]) == ["MAL-2026-1", "PYSEC-1"]
    newer = client.get("/api/v1/projects/demo/releases/2.0").get_json()
    assert newer["advisories"] == []
    sign_in(client, made.secrets["review"])
    page = client.get("/admin/advisories").get_data(as_text=True)
    assert "MAL-2026-1" in page and "Malicious code in demo (PyPI)" in page
    assert "CVE-2026-0001" in page
    shown = client.get("/admin/projects/demo/releases/1.0").get_data(as_text=True)
    assert "MAL-2026-1" in shown and "advisory:MAL-2026-1" in shown
