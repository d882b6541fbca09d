"""The review UI's admin pages through Flask's test client: tokens (list, create once, revoke)
and the webhook delivery log; review sessions neither see nor use them.
(tests/e2e/test_admin_browser.py drives them in a real browser.)"""

import re

from mirror.db.engine import writing
from mirror.services import notify, tokens
from mirror.services.webhooks import Deliverer
from tests.web.test_admin import csrf_of, sign_in

PAYLOAD = '<script>window.__pwned=1</script>"><img src=x onerror=alert(1)>'
ADMIN_PAGES = ("/admin/tokens", "/admin/deliveries")


def test_a_review_session_neither_sees_nor_uses_the_admin_pages(open_) -> None:
    client, backends, made = open_
    sign_in(client, made.secrets["review"])
    queue = client.get("/admin/")
    assert "/admin/tokens" not in queue.get_data(as_text=True)
    for path in ADMIN_PAGES:
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "needs an admin token" in refused.get_data(as_text=True)
    form = {"csrf": csrf_of(queue), "scope": "admin", "reason": "escalate"}
    assert client.post("/admin/tokens", data=form).status_code == 403
    revoke = {"csrf": csrf_of(queue), "reason": "lock the admin out"}
    assert client.post(f"/admin/tokens/{made.ids['admin']}/revoke", data=revoke).status_code == 403
    listed = tokens.listing(backends)
    assert len(listed) == len(made.ids)  # nothing created
    assert all(row.revoked_at is None for row in listed if row.id == made.ids["admin"])


def test_an_admin_creates_a_token_shown_once_and_revokes_it(open_) -> None:
    client, backends, made = open_
    sign_in(client, made.secrets["admin"])
    page = client.get("/admin/tokens")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert 'href="/admin/tokens"' in body and 'href="/admin/deliveries"' in body
    for name in ("read-bot", "review-bot", "gone-admin", "old-admin"):
        assert name in body
    assert ">revoked<" in body and ">expired<" in body and ">active<" in body
    assert made.secrets["read"] not in body

    form = {"scope": "review", "ttl": "2h", "name": "bob", "reason": "new reviewer"}
    assert client.post("/admin/tokens", data=form).status_code == 400  # no CSRF token
    created = client.post("/admin/tokens", data={**form, "csrf": csrf_of(page)})
    shown = created.get_data(as_text=True)
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    secret = re.search(r'id="new-secret">(smt_[^<]+)<', shown).group(1)  # type: ignore[union-attr]
    token = tokens.verify(backends, secret)
    assert token is not None and token.name == "bob" and token.scope.label == "review"
    assert (token.expires_at - backends.clock.now()).total_seconds() <= 2 * 3600
    assert secret not in client.get("/admin/tokens").get_data(as_text=True)  # once only

    too_long = client.post("/admin/tokens", data={**form, "ttl": "400d", "csrf": csrf_of(page)})
    assert too_long.status_code == 400
    assert "longer than auth.max_ttl" in too_long.get_data(as_text=True)

    url = f"/admin/tokens/{token.id}/revoke"
    assert client.post(url, data={"csrf": csrf_of(page), "reason": " "}).status_code == 400
    done = client.post(url, data={"csrf": csrf_of(page), "reason": "left the team"})
    assert done.status_code == 303 and done.headers["Location"].endswith("done=revoked")
    assert tokens.verify(backends, secret) is None
    after = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Revoked: the token stops working now" in after and "left the team" in after


def test_the_token_list_shows_last_use_and_ci_identity_as_text(open_) -> None:
    client, backends, made = open_
    with writing(backends.engine) as conn:
        grant = tokens.Grant(
            tokens.Scope.READ,
            tokens.DEFAULT_TTL[tokens.Scope.READ],
            "ci-minted",
            "oidc",
            "exchanged",
            identity={"repository": "org/repo" + PAYLOAD, "workflow": "release.yml"},
        )
        tokens.issue(conn, grant, now=backends.clock.now())
    recorder = tokens.use_recorder_for(backends)
    reader = tokens.verify(backends, made.secrets["read"])
    assert reader is not None
    recorder.used(reader, backends.clock.now())
    recorder.flush()
    sign_in(client, made.secrets["admin"])
    body = client.get("/admin/tokens").get_data(as_text=True)
    row = body[body.index("read-bot") : body.index("</tr>", body.index("read-bot"))]
    assert "never" not in row and " ago" in row
    assert "release.yml" in body and "org/repo&lt;script&gt;" in body
    assert PAYLOAD not in body


def test_the_delivery_log_page_lists_attempts_with_text_escaped(make_app) -> None:
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["blocked"], "secret": "k" * 20}
    app, backends, made = make_app(notify={"webhook": [hook], "timeout": "2s"})
    client = app.test_client()
    event = notify.Event(notify.BLOCKED, "demo blocked: " + PAYLOAD, {}, project="demo")
    with writing(backends.engine) as conn:
        notify.record(conn, event, backends.clock.now())
    assert Deliverer(backends).run().retried == 1
    sign_in(client, made.secrets["admin"])
    body = client.get("/admin/deliveries").get_data(as_text=True)
    assert "http://127.0.0.1:9" in body and "delivery-queued" in body and ">blocked" in body
    assert "demo blocked: &lt;script&gt;" in body and PAYLOAD not in body
    assert "next " in body  # when it is tried again
    failed = client.get("/admin/deliveries?state=failed").get_data(as_text=True)
    assert "delivery-queued" not in failed and "No deliveries failed" in failed
    assert client.get("/admin/deliveries?state=lost").status_code == 400
