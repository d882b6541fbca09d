"""The review UI through Flask's test client: sessions, CSRF, cookies, escaping.
(tests/e2e/test_admin_browser.py drives the same pages in a real browser.)"""

import re

from mirror.db import file_rows
from mirror.services import review, sync, tokens
from mirror.web.admin import LOGIN_COOKIE, SESSION_COOKIE

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(client, secret: str):  # type: ignore[no-untyped-def]
    form = client.get("/admin/sign-in")
    nonce = CSRF.search(form.get_data(as_text=True)).group(1)
    return client.post("/admin/sign-in", data={"csrf": nonce, "token": secret})


def csrf_of(page) -> str:  # type: ignore[no-untyped-def]
    return CSRF.search(page.get_data(as_text=True)).group(1)


def test_pages_need_a_session(open_) -> None:
    client, _backends, made = open_
    for path in ("/admin/", "/admin/blocks", "/admin/events", "/admin/projects/demo/releases/2.0"):
        response = client.get(path, headers=made.bearer("admin"))
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/admin/sign-in")
    assert client.post("/admin/blocks", data={"project": "demo", "reason": "x"}).status_code == 401


def test_sign_in_sets_a_strict_http_only_session_cookie(open_) -> None:
    client, _backends, made = open_
    for kind in ("read", "expired", "revoked"):
        refused = sign_in(client, made.secrets[kind])
        assert refused.status_code == 401
        assert "Sign-in failed." in refused.get_data(as_text=True)
    assert client.post("/admin/sign-in", data={"token": made.secrets["review"]}).status_code == 400
    done = sign_in(client, made.secrets["review"])
    assert done.status_code == 303
    cookie = next(c for c in done.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin/" in cookie
    assert "Secure" not in cookie  # loopback bind: plain HTTP is allowed
    queue = client.get("/admin/")
    assert queue.status_code == 200
    assert queue.headers["Cache-Control"] == "no-store"
    assert made.secrets["review"] not in queue.get_data(as_text=True)


def test_cookies_are_secure_off_loopback(make_app) -> None:
    app, _backends, _made = make_app(server={"bind": "0.0.0.0:8080"})
    client = app.test_client()
    form = client.get("/admin/sign-in")
    assert "Secure" in form.headers["Set-Cookie"] and LOGIN_COOKIE in form.headers["Set-Cookie"]


def test_queue_filters_and_time_left(open_) -> None:
    client, _backends, made = open_
    sign_in(client, made.secrets["review"])
    page = client.get("/admin/").get_data(as_text=True)
    assert page.index(">demo<") < page.index(">other<")  # same time left: by project
    assert re.search(r"6d 1\dh left", page)
    assert "younger than the quarantine of 7d" in page
    only = client.get("/admin/?state=admitted&project=demo").get_data(as_text=True)
    assert ">1.0<" in only and ">other<" not in only
    assert client.get("/admin/?state=bogus").status_code == 400


def test_approve_and_block_need_the_session_csrf_token(open_) -> None:
    client, backends, made = open_
    sign_in(client, made.secrets["review"])
    page = client.get("/admin/projects/demo/releases/2.0")
    body = page.get_data(as_text=True)
    assert "What changed since 1.0" in body
    url = "/admin/projects/demo/releases/2.0/approve"
    assert client.post(url, data={"reason": "ok"}).status_code == 400
    assert client.post(url, data={"reason": "ok", "csrf": "forged"}).status_code == 400
    empty = client.post(url, data={"reason": " ", "csrf": csrf_of(page)})
    assert empty.status_code == 400 and "a reason is required" in empty.get_data(as_text=True)
    done = client.post(url, data={"reason": "diff reviewed", "csrf": csrf_of(page)})
    assert done.status_code == 303 and done.headers["Location"].endswith("done=approved")
    after = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Approved: the release is admitted" in after
    assert f"review-bot (token {made.ids['review']})" in after
    blocked = client.post(
        "/admin/blocks",
        data={"project": "other", "specifier": "", "reason": "typosquat", "csrf": csrf_of(page)},
    )
    assert blocked.status_code == 303
    listing = client.get("/admin/blocks").get_data(as_text=True)
    assert "typosquat" in listing and ">other<" in listing
    with backends.engine.connect() as conn:
        (row,) = file_rows.files_by_state(conn, ["blocked"])
    assert row.filename == "other-3.0-py3-none-any.whl"
    events = client.get("/admin/events?project=other").get_data(as_text=True)
    assert "block (all versions): typosquat" in events


def test_signing_out_or_revoking_ends_the_session(open_) -> None:
    client, backends, made = open_
    sign_in(client, made.secrets["admin"])
    page = client.get("/admin/")
    assert client.post("/admin/sign-out", data={"csrf": csrf_of(page)}).status_code == 303
    assert client.get("/admin/").status_code == 302
    sign_in(client, made.secrets["admin"])
    assert client.get("/admin/").status_code == 200
    tokens.revoke(backends, made.ids["admin"], by="test", reason="r")
    assert client.get("/admin/").status_code == 302


def test_release_page_lists_the_credentials_to_rotate_once_it_is_blocked(open_) -> None:
    client, backends, made = open_
    wheel = "demo-1.0-py3-none-any.whl"
    reader = {"Authorization": f"Bearer {made.secrets['read']}"}
    assert client.get(f"/packages/demo/{wheel}", headers=reader).status_code == 200
    client.application.extensions["mirror_downloads"].flush()
    sign_in(client, made.secrets["review"])
    page = "/admin/projects/demo/releases/1.0"
    assert "credentials to rotate" not in client.get(page).get_data(as_text=True)
    review.block(backends, "demo", "==1.0", actor="alice", reason="credential stealer")
    body = client.get(page).get_data(as_text=True)
    panel = body[body.index("Exposure: credentials to rotate") : body.index("Who pulled this")]
    assert f"read-bot (token {made.ids['read']})" in panel
    assert "now blocked" in panel and wheel in panel


def test_a_release_page_says_which_clock_aged_each_file(make_app, fake_upstream, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app, backends, made = make_app(policy={"missing_upload_time": "first-seen"})
    fake_upstream.publish_release("late", "1.0", tmpdir=tmp_path / "l", upload_time="absent")
    sync.refresh(backends, "late")
    client = app.test_client()
    sign_in(client, made.secrets["review"])
    page = client.get("/admin/projects/late/releases/1.0").get_data(as_text=True)
    assert "age from the mirror's first sight" in page
    dated = client.get("/admin/projects/demo/releases/2.0").get_data(as_text=True)
    assert "age from the upload time" in dated
