"""The admin JSON API: evidence, decisions with who and why, and the auth matrix."""

import json

import pytest

from mirror.services import sessions
from tests.web.test_admin import sign_in

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def simple_files(client, headers) -> list[str]:  # type: ignore[no-untyped-def]
    response = client.get("/simple/demo/", headers={**JSON, **headers})
    assert response.status_code == 200
    return [f["filename"] for f in json.loads(response.data)["files"]]


def test_release_shows_its_evidence_beside_the_previous_admitted_release(closed) -> None:
    client, _backends, made = closed
    response = client.get("/api/v1/projects/demo/releases/2.0", headers=made.bearer("read"))
    assert response.status_code == 200
    release = response.get_json()
    assert (release["project"], release["version"]) == ("demo", "2.0")
    (entry,) = release["files"]
    assert entry["filename"] == "demo-2.0-py3-none-any.whl"
    assert entry["state"] == "quarantined"
    assert entry["decided_by"] == "policy"
    assert "quarantine" in entry["reason"]
    assert entry["hold_until"].endswith("Z")
    assert 4.9 * 3600 < entry["age_seconds"] < 5.1 * 3600
    assert len(entry["sha256"]) == 64
    assert release["previous_admitted"]["version"] == "1.0"
    assert release["previous_admitted"]["files"][0]["state"] == "admitted"
    assert release["events"][0]["to_state"] == "quarantined"
    spelled = client.get("/api/v1/projects/Demo/releases/v2.0", headers=made.bearer("read"))
    assert (spelled.get_json()["project"], spelled.get_json()["version"]) == ("demo", "2.0")
    missing = client.get("/api/v1/projects/demo/releases/9.9", headers=made.bearer("read"))
    assert missing.status_code == 404 and "error" in missing.get_json()


def test_queue_lists_releases_by_state_newest_first(open_) -> None:
    client, _backends, _made = open_
    held = client.get("/api/v1/releases").get_json()["releases"]
    assert [(r["project"], r["version"]) for r in held] == [("other", "3.0"), ("demo", "2.0")]
    only = client.get("/api/v1/releases?state=admitted&project=Demo").get_json()["releases"]
    assert [(r["project"], r["version"]) for r in only] == [("demo", "1.0")]
    assert client.get("/api/v1/releases?state=nope").status_code == 400
    assert client.get("/api/v1/releases?limit=0").status_code == 400


def test_approve_admits_now_and_records_who_and_why(closed) -> None:
    client, _backends, made = closed
    url = "/api/v1/projects/demo/releases/2.0/approve"
    assert client.post(url, json={"reason": "  "}, headers=made.bearer("review")).status_code == 400
    assert client.post(url, data="reason", headers=made.bearer("review")).status_code == 400
    done = client.post(url, json={"reason": "diff reviewed"}, headers=made.bearer("review"))
    assert done.status_code == 200
    assert done.get_json() == {"project": "demo", "changed": ["demo-2.0-py3-none-any.whl"]}
    assert "demo-2.0-py3-none-any.whl" in simple_files(client, made.bearer("read"))
    event = client.get("/api/v1/events?project=demo&limit=1", headers=made.bearer("read"))
    (latest,) = event.get_json()["events"]
    assert latest["actor"] == f"review-bot (token {made.ids['review']})"
    assert latest["reason"] == "approved: diff reviewed"
    assert latest["to_state"] == "admitted" and latest["at"].endswith("Z")
    again = client.post(url, json={"reason": "again"}, headers=made.bearer("review"))
    assert again.status_code == 400 and "nothing to approve" in again.get_json()["error"]


def test_block_and_unblock_by_specifier(closed) -> None:
    client, _backends, made = closed
    review = made.bearer("review")
    body = {"project": "Demo", "specifier": "<2", "reason": "compromised maintainer"}
    created = client.post("/api/v1/blocks", json=body, headers=review)
    assert created.status_code == 201
    assert created.get_json()["changed"] == ["demo-1.0-py3-none-any.whl"]
    assert simple_files(client, made.bearer("read")) == []
    (block,) = client.get("/api/v1/blocks", headers=made.bearer("read")).get_json()["blocks"]
    assert (block["project"], block["specifier"], block["reason"]) == ("demo", "<2", body["reason"])
    assert block["actor"].startswith("review-bot (token ")
    release = client.get("/api/v1/projects/demo/releases/1.0", headers=review).get_json()
    assert release["files"][0]["state"] == "blocked"
    assert release["blocks"][0]["id"] == block["id"]
    bad = client.post("/api/v1/blocks", json={**body, "specifier": "~~1"}, headers=review)
    assert bad.status_code == 400
    lifted = client.post(
        "/api/v1/blocks/unblock", json={**body, "reason": "false alarm"}, headers=review
    )
    assert lifted.status_code == 200
    assert simple_files(client, made.bearer("read")) == ["demo-1.0-py3-none-any.whl"]
    gone = client.post("/api/v1/blocks/unblock", json=body, headers=review)
    assert gone.status_code == 404


def test_exposure_names_who_pulled_a_blocked_release(closed) -> None:
    client, _backends, made = closed
    wheel = "demo-1.0-py3-none-any.whl"
    assert client.get(f"/packages/demo/{wheel}", headers=made.bearer("read")).status_code == 200
    client.application.extensions["mirror_downloads"].flush()
    block = {"project": "demo", "specifier": "==1.0", "reason": "credential stealer"}
    assert (
        client.post("/api/v1/blocks", json=block, headers=made.bearer("review")).status_code == 201
    )

    answer = client.get("/api/v1/exposure/Demo?specifier===1.0", headers=made.bearer("review"))
    assert answer.status_code == 200
    report = answer.get_json()
    assert [f["filename"] for f in report["files"]] == [wheel]
    (who,) = report["identities"]
    assert who["tokens"] == [{"id": made.ids["read"], "name": "read-bot"}]
    assert (who["kind"], who["downloads"]) == ("token", 1)
    bad = client.get("/api/v1/exposure/demo?specifier=>>1", headers=made.bearer("review"))
    assert bad.status_code == 400
    unknown = client.get("/api/v1/exposure/nothing-here", headers=made.bearer("review"))
    assert unknown.status_code == 404
    log = client.get("/api/v1/notifications/deliveries", headers=made.bearer("admin"))
    assert log.status_code == 200 and log.get_json() == {"deliveries": []}  # no webhooks
    bad_state = "/api/v1/notifications/deliveries?state=lost"
    assert client.get(bad_state, headers=made.bearer("admin")).status_code == 400


def test_admin_tokens_manage_tokens(closed) -> None:
    client, _backends, made = closed
    admin = made.bearer("admin")
    body = {"scope": "read", "name": "ci", "reason": "nightly builds"}
    assert client.post("/api/v1/tokens", json={"scope": "read"}, headers=admin).status_code == 400
    created = client.post("/api/v1/tokens", json=body, headers=admin)
    assert created.status_code == 201
    new = created.get_json()
    assert new["token"].startswith("smt_") and new["scope"] == "read"
    assert (
        client.get("/simple/", headers={"Authorization": f"Bearer {new['token']}"}).status_code
        == 200
    )
    listed = client.get("/api/v1/tokens", headers=admin).get_json()["tokens"]
    assert {t["id"]: t["status"] for t in listed}[made.ids["revoked"]] == "revoked"
    assert all("token" not in t and "secret_sha256" not in t for t in listed)
    revoked = client.post(
        f"/api/v1/tokens/{new['id']}/revoke", json={"reason": "rotated"}, headers=admin
    )
    assert revoked.status_code == 200
    assert (
        client.get("/simple/", headers={"Authorization": f"Bearer {new['token']}"}).status_code
        == 401
    )
    bad_scope = client.post("/api/v1/tokens", json={**body, "scope": "god"}, headers=admin)
    assert bad_scope.status_code == 400
    listed = {t["id"]: t for t in client.get("/api/v1/tokens", headers=admin).get_json()["tokens"]}
    assert listed[new["id"]]["created_reason"] == "nightly builds"
    assert listed[new["id"]]["revoked_reason"] == "rotated"
    assert listed[new["id"]]["revoked_by"] == f"admin-bot (token {made.ids['admin']})"


# -- the matrix: each endpoint x {no token, read, review, admin, expired, revoked} ---------------

ENDPOINTS = [
    ("GET", "/simple/", None, "read"),
    ("GET", "/simple/demo/", None, "read"),
    ("GET", "/packages/demo/demo-1.0-py3-none-any.whl", None, "read"),
    ("GET", "/api/v1/releases", None, "read"),
    ("GET", "/api/v1/projects/demo/releases/2.0", None, "read"),
    ("GET", "/api/v1/blocks", None, "read"),
    ("GET", "/api/v1/events", None, "read"),
    ("POST", "/api/v1/projects/demo/releases/2.0/approve", {"reason": "ok"}, "review"),
    ("POST", "/api/v1/blocks", {"project": "other", "specifier": "==3.0", "reason": "x"}, "review"),
    ("POST", "/api/v1/blocks/unblock", {"project": "other", "reason": "x"}, "review"),
    ("GET", "/api/v1/advisories", None, "read"),
    ("GET", "/api/v1/projects/demo/downloads?version=1.0", None, "review"),
    ("GET", "/api/v1/exposure/demo", None, "review"),
    ("GET", "/api/v1/notifications/deliveries", None, "admin"),
    ("GET", "/api/v1/tokens", None, "admin"),
    ("POST", "/api/v1/tokens", {"scope": "read", "reason": "x"}, "admin"),
    ("POST", "/api/v1/tokens/000000000000/revoke", {"reason": "x"}, "admin"),
]
LEVEL = {"read": 1, "review": 2, "admin": 3}
UI_PAGES = ["/admin/", "/admin/blocks", "/admin/events", "/admin/advisories"]


@pytest.mark.parametrize("anonymous_read", [False, True])
def test_auth_matrix(make_app, anonymous_read: bool) -> None:
    app, _backends, made = make_app(auth={"anonymous_read": anonymous_read})
    client = app.test_client()
    for method, path, body, needed in ENDPOINTS:
        for kind in ("none", "read", "review", "admin", "expired", "revoked"):
            headers = made.basic(kind) if kind != "none" else {}
            status = client.open(path, method=method, json=body, headers=headers).status_code
            if kind in ("expired", "revoked"):
                expected = {401}
            elif kind == "none":
                expected = {401} if needed != "read" or not anonymous_read else None
            else:
                expected = {403} if LEVEL[kind] < LEVEL[needed] else None
            where = f"{method} {path} as {kind}"
            if expected is None:
                assert status not in (401, 403) and status < 500, f"{where}: {status}"
            else:
                assert status in expected, f"{where}: {status}"


def test_review_ui_sign_in_matrix(make_app) -> None:
    """Only review and admin tokens open a session, and a session opens every page."""
    app, backends, made = make_app()
    allowed = {
        k
        for k in ("read", "review", "admin", "expired", "revoked")
        if sessions.sign_in(backends, made.secrets[k])
    }
    assert allowed == {"review", "admin"}
    for kind in sorted(allowed):
        client = app.test_client()
        sign_in(client, made.secrets[kind])
        for path in UI_PAGES:
            assert client.get(path).status_code == 200, (path, kind)


def test_review_ui_matrix_headers_are_never_a_session(make_app) -> None:
    """The UI takes only its session cookie: a browser resends basic credentials by itself."""
    app, _backends, made = make_app()
    client = app.test_client()
    for path in [*UI_PAGES, "/admin/projects/demo/releases/2.0"]:
        for kind in ("none", "read", "review", "admin", "expired", "revoked"):
            headers = made.basic(kind) if kind != "none" else {}
            status = client.get(path, headers=headers).status_code
            assert status == (401 if kind in ("expired", "revoked") else 302), (path, kind)
