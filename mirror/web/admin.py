"""The review UI at ``/admin/``: server-rendered pages that work without JavaScript.

People sign in with a review or admin token and get a session cookie (HttpOnly,
SameSite=Strict, Secure unless the mirror listens on loopback). Every POST form carries the
session's CSRF token; the sign-in form uses a double-submit cookie. Templates autoescape, and
nothing upstream-supplied is ever marked safe. Messages after an action come from a fixed table,
so no request text is reflected into a page.
"""

import csv
import hmac
import io
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from mirror.errors import ConfigError, MirrorError, NotFoundError
from mirror.names import is_valid_project_name, normalize
from mirror.services import advisories as advisory_store
from mirror.services import (
    exposure,
    release_diff,
    release_summary,
    review,
    review_view,
    sessions,
    tokens,
    webhooks,
)
from mirror.services.review import ReviewError
from mirror.services.sessions import Session
from mirror.services.tokens import Scope, TokenError
from mirror.web import backends, decisions
from mirror.web.api_json import event_json
from mirror.web.auth import set_identity
from mirror.web.errors import status_for
from mirror.web.timefmt import duration_text

blueprint = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

SESSION_COOKIE = "mirror_session"
LOGIN_COOKIE = "mirror_signin"
_OPEN = {"admin.static", "admin.sign_in", "admin.sign_in_form"}
# Pages for admin sessions only: a review token must not mint or revoke tokens, nor read where
# webhooks point (the same rule as the JSON API, docs/review.md).
_ADMIN_ONLY = {"admin.tokens_page", "admin.token_create", "admin.token_revoke", "admin.deliveries"}
DELIVERIES_PER_PAGE = 100
DOWNLOADS_SHOWN = 200
EVENTS_PER_PAGE = 100
EVENTS_EXPORTED = 50_000
_BULK_DONE = {"approve": "bulk-approved", "block": "bulk-blocked"}
_QUEUE_STATES = ["quarantined", "pending", "blocked", "rejected", "withdrawn", "admitted"]
MESSAGES = {
    "approved": "Approved: the release is admitted and on the simple index now.",
    "blocked": "Blocked: matching files are refused and removed from the index.",
    "unblocked": "Unblocked: matching files are evaluated again under the normal policy.",
    "signed-out": "Signed out.",
    "bulk-approved": "Approved: the selected releases are admitted.",
    "bulk-blocked": "Blocked: the selected releases are refused.",
    "bulk-partial": "Some selected releases could not be changed; open them to see why.",
    "revoked": "Revoked: the token stops working now, and so do its sessions.",
}


@blueprint.before_request
def _require_session() -> BaseResponse | None:
    if request.endpoint in _OPEN:
        return None
    session = sessions.resolve(backends(), request.cookies.get(SESSION_COOKIE, ""))
    set_identity(session.token if session else None)
    if session is None:
        if request.method == "GET":
            return redirect(url_for("admin.sign_in_form"))
        abort(401)
    g.session = session
    if request.endpoint in _ADMIN_ONLY and not session.token.allows(Scope.ADMIN):
        abort(403, "this page needs an admin token")
    if request.method == "POST" and not session.csrf_ok(request.form.get("csrf", "")):
        abort(400, "the form expired or came from elsewhere; reload the page and try again")
    return None


@blueprint.after_request
def _no_store(response: BaseResponse) -> BaseResponse:
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.errorhandler(MirrorError)
def _mirror_error(error: MirrorError) -> tuple[str, int]:
    code = 400 if isinstance(error, ReviewError | ConfigError | TokenError) else status_for(error)
    return render_template("admin/error.html", message=str(error), code=code), code


@blueprint.errorhandler(400)
@blueprint.errorhandler(401)
@blueprint.errorhandler(403)
@blueprint.errorhandler(404)
def _http_error(error: Any) -> tuple[str, int]:
    return render_template("admin/error.html", message=error.description, code=error.code), (
        error.code
    )


@blueprint.app_template_filter("when")
def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


@blueprint.app_template_filter("age")
def _age(value: datetime | None) -> str:
    return f"{duration_text(backends().clock.now() - value)} ago" if value else "unknown"


@blueprint.app_template_filter("size")
def _size(value: int | None) -> str:
    if value is None:
        return "?"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(amount) < 1024 or unit == "GiB":
            return f"{value} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return ""


@blueprint.app_template_filter("time_left")
def _time_left(value: datetime | None) -> str:
    if value is None:
        return "awaiting review"
    left = value - backends().clock.now()
    return f"{duration_text(left)} left" if left.total_seconds() > 0 else "due at next cycle"


@blueprint.context_processor
def _page_context() -> dict[str, Any]:
    session: Session | None = g.get("session")
    return {
        "session": session,
        "is_admin": session is not None and session.token.allows(Scope.ADMIN),
        "csrf": session.csrf if session else "",
        "message": MESSAGES.get(request.args.get("done", "")),
    }


# -- signing in and out --------------------------------------------------------------------


@blueprint.get("/sign-in")
def sign_in_form() -> BaseResponse:
    return _sign_in_page(failed=False)


@blueprint.post("/sign-in")
def sign_in() -> BaseResponse:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    presented = request.form.get("csrf", "")
    if not expected or not hmac.compare_digest(expected.encode(), presented.encode()):
        abort(400, "the sign-in form expired; reload the page and try again")
    started = sessions.sign_in(backends(), request.form.get("token", ""))
    if started is None:
        return _sign_in_page(failed=True)
    cookie, _session = started
    response = redirect(url_for("admin.queue"), code=303)
    _set_cookie(response, SESSION_COOKIE, cookie, max_age=int(sessions.MAX_AGE.total_seconds()))
    response.delete_cookie(LOGIN_COOKIE, path="/admin/")
    return response


@blueprint.post("/sign-out")
def sign_out() -> BaseResponse:
    sessions.sign_out(backends(), request.cookies.get(SESSION_COOKIE, ""))
    response = redirect(url_for("admin.sign_in_form", done="signed-out"), code=303)
    response.delete_cookie(SESSION_COOKIE, path="/admin/")
    return response


def _sign_in_page(*, failed: bool) -> BaseResponse:
    """The sign-in form with a fresh double-submit nonce (cookie and hidden field)."""
    nonce = secrets.token_urlsafe(32)
    page = render_template("admin/sign_in.html", nonce=nonce, failed=failed)
    response = Response(page, status=401 if failed else 200)
    _set_cookie(response, LOGIN_COOKIE, nonce, max_age=1800)
    return response


def _set_cookie(response: BaseResponse, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/admin/",
        httponly=True,
        samesite="Strict",
        secure=not backends().config.loopback_bind,
    )


# -- pages ---------------------------------------------------------------------------------


@blueprint.get("/")
def queue() -> str:
    state = request.args.get("state", "quarantined")
    sort = request.args.get("sort", "time-left")
    if state not in _QUEUE_STATES or sort not in review_view.SORTS:
        abort(400, "unknown state or order")
    only = review_view.QueueFilter(
        project=request.args.get("project", "").strip().lower() or None,
        reason=request.args.get("reason", "").strip() or None,
        sort=sort,
    )
    return render_template(
        "admin/queue.html",
        releases=review_view.queue(backends(), [state], only=only),
        state=state,
        states=_QUEUE_STATES,
        only=only,
        sorts={"time-left": "Time left", "uploaded": "Uploaded", "project": "Project"},
        approvable=state in review.APPROVABLE,
    )


@blueprint.post("/bulk")
def bulk() -> BaseResponse:
    """Approve or block the selected releases (``PROJECT==VERSION`` each) with one reason;
    each release is its own decision, as if made on its page."""
    action = request.form.get("action", "")
    selected = request.form.getlist("release")
    if action not in _BULK_DONE or not selected:
        abort(400, "choose releases and an action")
    reason = request.form.get("reason", "")
    if not reason.strip():
        abort(400, "a reason is required")
    failed = 0
    for item in selected:
        project, sep, version = item.partition("==")
        try:
            if not sep:
                raise ReviewError("not PROJECT==VERSION")
            if action == "approve":
                decisions.approve(project, version, actor=_actor(), reason=reason)
            else:
                decisions.block(project, f"=={version}", actor=_actor(), reason=reason)
        except (ReviewError, NotFoundError):
            failed += 1
    done = "bulk-partial" if failed else _BULK_DONE[action]
    keep = {"state": "state", "sort": "sort", "project": "project", "filter_reason": "reason"}
    back: dict[str, Any] = {
        name: request.form[field] for field, name in keep.items() if request.form.get(field)
    }
    return redirect(url_for("admin.queue", done=done, **back), code=303)


@blueprint.get("/projects/<project>/releases/<version>")
def release(project: str, version: str) -> str:
    report = review_view.report(backends(), project, version)
    downloads, token_names = review_view.downloads(
        backends(), report.project, report.version, DOWNLOADS_SHOWN
    )
    return render_template(
        "admin/release.html",
        report=report,
        downloads=downloads,
        token_names=token_names,
        download_limit=DOWNLOADS_SHOWN,
        exposed=exposure.exposure(backends(), report.project, version=report.version),
        approvable=any(row.state in review.APPROVABLE for row in report.files),
        **_release_summary(report),
    )


def _release_summary(report: review_view.ReleaseReport) -> dict[str, Any]:
    """The decision block, the evidence in words and the diff against the previous release."""
    diff = release_diff.release_diff(report.files, report.previous_version, report.previous_files)
    return {
        "decision": release_summary.decision(report.files),
        "groups": release_summary.file_groups(report.files),
        "checks": release_summary.check_lines(
            report.files, report.previous_files, diff, report.advisories
        ),
        "diff": diff,
        "evidence_lines": review.evidence_lines,
    }


@blueprint.post("/projects/<project>/releases/<version>/approve")
def approve(project: str, version: str) -> BaseResponse:
    outcome = decisions.approve(
        project, version, actor=_actor(), reason=request.form.get("reason", "")
    )
    return _back_to_release(outcome.project, version, "approved")


@blueprint.get("/blocks")
def blocks() -> str:
    return render_template("admin/blocks.html", blocks=review_view.blocked(backends()))


@blueprint.post("/blocks")
def block() -> BaseResponse:
    return _block_action(decisions.block, "blocked")


@blueprint.post("/blocks/unblock")
def unblock() -> BaseResponse:
    return _block_action(decisions.unblock, "unblocked")


@blueprint.get("/advisories")
def advisories() -> str:
    project = _project_filter()
    found = advisory_store.list_advisories(backends(), project)
    return render_template("admin/advisories.html", advisories=found, project=project or "")


@blueprint.get("/events")
def events() -> str:
    project, only, kind = _event_filter()
    rows = review_view.audit_log(
        backends(), project=project, before_id=_before_id(), limit=EVENTS_PER_PAGE, only=only
    )
    return render_template(
        "admin/events.html",
        groups=review_view.grouped_events(rows),
        project=project or "",
        only=only,
        kind=kind,
        filters=_event_args(),
        older=rows[-1].id if len(rows) == EVENTS_PER_PAGE else None,
    )


@blueprint.get("/events.<fmt>")
def events_export(fmt: str) -> BaseResponse:
    """The filtered audit log as CSV or JSON, newest first, up to ``EVENTS_EXPORTED`` rows."""
    if fmt not in ("csv", "json"):
        abort(404)
    project, only, _kind = _event_filter()
    rows = review_view.audit_log(backends(), project=project, limit=EVENTS_EXPORTED, only=only)
    records = [event_json(row) for row in rows]
    if fmt == "json":
        response = Response(json.dumps(records, indent=1), mimetype="application/json")
    else:
        response = Response(_csv(records), mimetype="text/csv")
    response.headers["Content-Disposition"] = f"attachment; filename=audit-log.{fmt}"
    return response


def _csv(records: list[dict[str, Any]]) -> str:
    """CSV whose cells a spreadsheet reads as text: a cell starting with = + - @ (upstream
    reasons can) gets a leading apostrophe, so it is never evaluated as a formula."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(_EXPORT_FIELDS))
    writer.writeheader()
    for record in records:
        writer.writerow({k: _inert_cell(v) for k, v in record.items()})
    return out.getvalue()


def _inert_cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


_EXPORT_FIELDS = ("id", "at", "project", "filename", "from_state", "to_state", "actor", "reason")
_EVENT_KINDS = {"people": True, "automatic": False, "all": None}


def _event_filter() -> tuple[str | None, review_view.EventFilter, str]:
    kind = request.args.get("kind", "people")
    if kind not in _EVENT_KINDS:
        abort(400, "unknown kind")
    only = review_view.EventFilter(
        automatic=review_view.AUTOMATIC_ACTORS,
        people=_EVENT_KINDS[kind],
        actor=request.args.get("actor", "").strip() or None,
        since=_day(request.args.get("since", "")),
        until=_day(request.args.get("until", ""), next_day=True),
    )
    return _project_filter(), only, kind


def _event_args() -> dict[str, str]:
    names = ("project", "kind", "actor", "since", "until")
    return {name: request.args[name] for name in names if request.args.get(name)}


def _day(text: str, *, next_day: bool = False) -> datetime | None:
    """A YYYY-MM-DD filter as a UTC time (the day after it, for an inclusive "until")."""
    if not text.strip():
        return None
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        abort(400, "dates are YYYY-MM-DD")
    return day + timedelta(days=1) if next_day else day


@blueprint.get("/tokens")
def tokens_page() -> str:
    return _tokens_page(created=None)


@blueprint.post("/tokens")
def token_create() -> str:
    """A new token, shown once: in this answer only (``no-store``), never again."""
    created = tokens.create(
        backends(),
        request.form.get("scope", ""),
        ttl=request.form.get("ttl", "").strip() or None,
        name=request.form.get("name", "").strip() or None,
        created_by=_actor(),
        reason=request.form.get("reason", ""),
    )
    return _tokens_page(created=created)


@blueprint.post("/tokens/<token_id>/revoke")
def token_revoke(token_id: str) -> BaseResponse:
    tokens.revoke(backends(), token_id, by=_actor(), reason=request.form.get("reason", ""))
    return redirect(url_for("admin.tokens_page", done="revoked"), code=303)


def _tokens_page(*, created: tokens.NewToken | None) -> str:
    now = backends().clock.now()
    rows = [(row, tokens.status(row, now)) for row in tokens.listing(backends())]
    return render_template(
        "admin/tokens.html",
        rows=rows,
        created=created,
        scopes=[scope.label for scope in Scope],
        default_ttls={scope.label: duration_text(ttl) for scope, ttl in tokens.DEFAULT_TTL.items()},
        max_ttl=duration_text(backends().config.auth.max_ttl),
    )


@blueprint.get("/deliveries")
def deliveries() -> str:
    state = request.args.get("state", "") or None
    if state is not None and state not in webhooks.DELIVERY_STATES:
        abort(400, "unknown state")
    rows = webhooks.delivery_log(
        backends(), state=state, before=_before_id(), limit=DELIVERIES_PER_PAGE
    )
    return render_template(
        "admin/deliveries.html",
        rows=rows,
        state=state or "",
        states=webhooks.DELIVERY_STATES,
        older=rows[-1].id if len(rows) == DELIVERIES_PER_PAGE else None,
    )


def _block_action(action: Callable[..., review.Outcome], done: str) -> BaseResponse:
    outcome = action(
        request.form.get("project", ""),
        request.form.get("specifier", ""),
        actor=_actor(),
        reason=request.form.get("reason", ""),
    )
    version = request.form.get("version", "")
    if version:
        return _back_to_release(outcome.project, version, done)
    return redirect(url_for("admin.blocks", done=done), code=303)


def _back_to_release(project: str, version: str, done: str) -> BaseResponse:
    target = url_for("admin.release", project=project, version=version, done=done)
    return redirect(target, code=303)


def _before_id() -> int | None:
    """The ``before`` paging argument: a row id, or None (the newest page)."""
    before = request.args.get("before", "")
    return int(before) if before.isdigit() and len(before) < 19 else None


def _actor() -> str:
    session: Session = g.session
    return session.token.actor


def _project_filter() -> str | None:
    text = request.args.get("project", "").strip()
    if not text:
        return None
    if not is_valid_project_name(text):
        raise NotFoundError("no such project")
    return normalize(text)
