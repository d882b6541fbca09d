"""The `mirror` command line. Errors are one line on stderr and a non-zero exit."""

import argparse
import getpass
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mirror.config import Config, load_config
from mirror.errors import MirrorError
from mirror.logs import setup_logging
from mirror.pipeline.cli import add_pipeline_commands, reporting_errors

if TYPE_CHECKING:
    from datetime import datetime

    from mirror.services.backends import Backends
    from mirror.services.publish import PublishReport
    from mirror.services.review_view import ReleaseSummary

log = logging.getLogger("mirror.cli")

Handler = Callable[[argparse.Namespace, Config], int]


def _serve(args: argparse.Namespace, config: Config) -> int:
    from mirror.server import serve

    serve(config, bind=args.bind, workers=args.workers)
    return 0


def _worker(args: argparse.Namespace, config: Config) -> int:
    from mirror.scheduler import run_forever
    from mirror.server import initialise
    from mirror.services.backends import Backends

    initialise(config)
    run_forever(Backends.from_config(config))
    return 0


def _sync(args: argparse.Namespace, config: Config) -> int:
    from mirror.names import is_valid_project_name, normalize
    from mirror.scheduler import run_cycle
    from mirror.server import initialise
    from mirror.services.backends import Backends

    invalid = [p for p in args.projects if not is_valid_project_name(p)]
    if invalid:
        raise MirrorError(f"invalid project name: {invalid[0]!r}")
    initialise(config)
    projects = [normalize(p) for p in args.projects] or None
    report = run_cycle(Backends.from_config(config), projects)
    for project in report.refreshed + report.evaluated:
        status = report.failed.get(project, "ok")
        print(f"{project}: {status}")
    if report.tuf_error:
        print(f"publish: failed: {report.tuf_error}")
    elif report.tuf is not None:
        published = report.tuf.publish
        print(f"publish: {published.published} change(s) signed, {published.deferred} waiting")
    return 1 if report.failed or report.tuf_error else 0


def _review_backends(config: Config) -> "Backends":
    from mirror.server import initialise
    from mirror.services.backends import Backends

    initialise(config)
    return Backends.from_config(config)


def _cli_actor() -> str:
    return f"cli:{getpass.getuser()}"


def _review_list(args: argparse.Namespace, config: Config) -> int:
    """One line per release under a header, as the review UI's queue lists them."""
    import json

    from mirror.checks.content import printable
    from mirror.services import review_view
    from mirror.timeutil import format_timestamp

    if args.deprecated_status:
        print("mirror: --status is deprecated; use --state", file=sys.stderr)
    only = review_view.QueueFilter(
        project=args.project.lower() if args.project else None, reason=args.reason, sort=args.sort
    )
    state = args.deprecated_status or args.state
    releases = review_view.queue(_review_backends(config), [state], only=only)

    def when(value: "datetime | None", otherwise: str) -> str:
        return format_timestamp(value) if value else otherwise

    if args.json:
        shown = [_release_json(item, state, when) for item in releases]
        print(json.dumps(shown, indent=1))
        return 0
    if not releases:
        print(f"no {state} releases")
        return 0
    print(f"{'PROJECT':24} {'VERSION':14} {'FILES':>5} {'UNTIL':21} REASON")
    for item in releases:
        reasons = "; ".join(dict.fromkeys(row.reason for row in item.files))
        until = when(item.hold_until, "a person decides" if state == "quarantined" else "-")
        print(
            f"{item.project:24} {item.version:14} {len(item.files):>5} {until:21} "
            f"{printable(reasons)}"
        )
    return 0


def _release_json(item: "ReleaseSummary", state: str, when: Callable[..., str]) -> dict[str, Any]:
    return {
        "project": item.project,
        "version": item.version,
        "state": state,
        "files": [row.filename for row in item.files],
        "reasons": list(dict.fromkeys(row.reason for row in item.files)),
        "hold_until": when(item.hold_until, "") or None,
        "uploaded_at": when(item.uploaded_at, "") or None,
        "first_seen_at": when(item.first_seen_at, ""),
    }


def _review_show(args: argparse.Namespace, config: Config) -> int:
    from mirror.services import review
    from mirror.timeutil import format_timestamp

    backends = _review_backends(config)
    rows, events = review.release(backends, args.project, args.version)
    for row in rows:
        uploaded = format_timestamp(row.upload_time) if row.upload_time else "unknown"
        print(
            f"{row.filename}\n  state: {row.state} ({row.reason}) by {row.decided_by}\n"
            f"  sha256: {row.sha256}\n  uploaded: {uploaded}\n  yanked: {row.yanked}"
        )
        for line in review.evidence_lines(row.evidence or {}):
            print(f"  {line}")
    names = {row.filename for row in rows}
    print("history:")
    for event in events:
        if event.filename in names or event.filename is None:
            print(
                f"  {format_timestamp(event.at)} {event.filename or ''} "
                f"{event.from_state or ''}->{event.to_state or ''} {event.actor}: {event.reason}"
            )
    _print_release_advisories(backends, args.project, args.version)
    return 0


def _review_action(args: argparse.Namespace, config: Config) -> int:
    from mirror.services import decisions

    backends = _review_backends(config)
    actor = _cli_actor()
    if args.action == "approve":
        decided = decisions.approve(
            backends, args.project, args.version, actor=actor, reason=args.reason
        )
    else:
        act = decisions.block if args.action == "block" else decisions.unblock
        decided = act(backends, args.project, args.specifier, actor=actor, reason=args.reason)
    outcome = decided.outcome
    print(f"{args.action}: {outcome.project}: {len(outcome.changed)} file(s) changed")
    for filename in outcome.changed:
        print(f"  {filename}")
    _print_published(decided.published)
    return 0


def _private_action(args: argparse.Namespace, config: Config) -> int:
    from mirror.names import normalize
    from mirror.services import decisions

    act = decisions.yank_upload if args.action == "yank" else decisions.delete_upload
    project = normalize(args.project)
    decided = act(
        _review_backends(config), project, args.filename, actor=_cli_actor(), reason=args.reason
    )
    print(f"{args.action}: {project}: {args.filename}")
    _print_published(decided.published)
    return 0


def _add_private(commands: Any) -> None:
    private = commands.add_parser("private", help="uploaded (private) files: yank, delete")
    actions = private.add_subparsers(dest="action", required=True)
    for action, text in (
        ("yank", "mark an uploaded file yanked (PEP 592)"),
        ("delete", "withdraw an uploaded file for good (its filename stays taken)"),
    ):
        parser = actions.add_parser(action, help=text)
        parser.add_argument("project")
        parser.add_argument("filename")
        parser.add_argument("--reason", required=True)
    private.set_defaults(handler=_private_action)


def _print_published(report: "PublishReport | None") -> None:
    if report is None:
        print("publish: left to the worker (no signing key here)")
    else:
        print(f"publish: {report.published} change(s) signed")


def _why(args: argparse.Namespace, config: Config) -> int:
    """Print why a release is not installable (the sentence the index answers with); 1 when
    it is not, 0 when it is."""
    from mirror.services import problems, review_view

    project, separator, version = args.release.partition("==")
    if not separator or not project.strip() or not version.strip():
        raise MirrorError(f"expected PROJECT==VERSION, not {args.release!r}")
    refused = review_view.why(_review_backends(config), project.strip(), version.strip())
    if refused is None:
        print(f"{project.strip()}=={version.strip()}: installable")
        return 0
    problem = problems.problem_for(refused)
    print(problem.detail)
    print(f"  {problem.title} ({problem.type})")
    return 1


def _add_review(commands: Any) -> None:
    review = commands.add_parser("review", help="the quarantine queue and decisions on it")
    actions = review.add_subparsers(dest="action", required=True)
    listing = actions.add_parser(
        "list", help="releases with files in one state (default: quarantined)"
    )
    states = ["quarantined", "pending", "blocked", "rejected", "withdrawn", "admitted"]
    listing.add_argument("--state", default="quarantined", choices=states)
    listing.add_argument(
        "--status", dest="deprecated_status", choices=states, help="deprecated: --state"
    )
    listing.add_argument("--project", help="a project name or glob (num*)")
    listing.add_argument("--reason", help="only files whose hold reason contains this text")
    listing.add_argument(
        "--sort", default="time-left", choices=["time-left", "uploaded", "project", "seen"]
    )
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(handler=_review_list)
    show = actions.add_parser("show", help="the evidence and history of one release")
    show.add_argument("project")
    show.add_argument("version")
    show.set_defaults(handler=_review_show)
    why = commands.add_parser("why", help="why a release is not installable through the mirror")
    why.add_argument("release", metavar="PROJECT==VERSION")
    why.set_defaults(handler=_why)
    approve = actions.add_parser("approve", help="admit a held release now")
    approve.add_argument("project")
    approve.add_argument("version")
    approve.add_argument("--reason", required=True)
    approve.set_defaults(handler=_review_action)
    for name, text in (
        ("block", "refuse releases, also already admitted ones"),
        ("unblock", "lift a block"),
    ):
        parser = actions.add_parser(name, help=text)
        parser.add_argument("project")
        parser.add_argument(
            "specifier",
            nargs="?",
            default="",
            help='PEP 440 specifier, e.g. ">=1.82.7,<1.82.9" (default: all)',
        )
        parser.add_argument("--reason", required=True)
        parser.set_defaults(handler=_review_action)


# --- tokens -------------------------------------------------------------------------------


def _token_action(args: argparse.Namespace, config: Config) -> int:
    from mirror.services import tokens
    from mirror.timeutil import format_timestamp

    backends = _review_backends(config)
    if args.action == "create":
        created = tokens.create(
            backends,
            args.scope,
            ttl=args.ttl,
            name=args.name,
            created_by=_cli_actor(),
            reason=args.reason,
            projects=_patterns(args.projects),
        )
        token = created.token
        print(f"id: {token.id}\nname: {token.name}\nscope: {token.scope.label}")
        if token.projects:
            print(f"projects: {', '.join(token.projects)}")
        print(f"expires: {format_timestamp(token.expires_at)}\ntoken: {created.secret}")
        print("The token is shown only now; keep it in a secret store.", file=sys.stderr)
    elif args.action == "list":
        _token_list(backends, unused=args.unused)
    else:
        tokens.revoke(backends, args.id, by=_cli_actor(), reason=args.reason)
        print(f"revoked {args.id}")
    return 0


def _token_list(backends: "Backends", *, unused: bool) -> None:
    """One line per token: id, scope, status, expiry, last use, name, and the CI identity of
    a token minted by the exchange."""
    from mirror.services import tokens
    from mirror.timeutil import format_timestamp

    now = backends.clock.now()
    rows = [row for row in tokens.listing(backends) if not unused or tokens.never_used(row)]
    for row in rows:
        used = format_timestamp(row.last_used_at) if row.last_used_at else "never"
        # The identity's values came from a CI's token: nothing in them may steer the terminal.
        identity = " ".join(f"{k}={v}" for k, v in (row.identity or {}).items())
        line = (
            f"{row.id}\t{row.scope}\t{tokens.status(row, now)}\t"
            f"{format_timestamp(row.expires_at)}\t{used}\t{row.name}"
        )
        if row.projects:
            line += f"\tprojects={','.join(row.projects)}"
        print(f"{line}\t{identity.encode('unicode_escape').decode()}" if identity else line)
    if not rows:
        print("no unused read tokens" if unused else "no tokens")


def _patterns(text: str | None) -> list[str]:
    return [part for part in (text or "").split(",") if part.strip()]


def _add_token(commands: Any) -> None:
    token = commands.add_parser("token", help="API and index tokens (read, review, admin; upload)")
    actions = token.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a new token, shown once")
    create.add_argument("--scope", required=True, choices=["read", "review", "admin", "upload"])
    create.add_argument(
        "--projects",
        help='upload tokens: the project names it may publish, comma-separated globs ("acme-*")',
    )
    create.add_argument("--ttl", help="lifetime, e.g. 30d, 12h (default: 30d/12h/1h/30d by scope)")
    create.add_argument("--name", help="who or what uses it (default: derived from the id)")
    create.add_argument("--reason", default="issued on the command line", help="recorded")
    listing = actions.add_parser("list", help="tokens, their status and last use (no secrets)")
    listing.add_argument(
        "--unused",
        action="store_true",
        help="only read tokens never used: revoke the active ones, issue fewer or shorter",
    )
    revoke = actions.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("id")
    revoke.add_argument("--reason", default="revoked on the command line", help="recorded")
    token.set_defaults(handler=_token_action)


# --- advisories and download audit ---


def _advisories_import(args: argparse.Namespace, config: Config) -> int:
    from mirror.services import advisories

    backends = _review_backends(config)
    report = advisories.import_path(backends, args.path)
    print(
        f"advisories: {len(report.added)} new, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {report.ignored} without PyPI packages"
    )
    print(f"files blocked or released: {len(report.changed_files)}")
    for filename in report.changed_files:
        print(f"  {filename}")
    if report.changed_files:
        # Sign the import's effect now when this host holds the online key, not a cycle later.
        from mirror.services import publish

        _print_published(publish.publish_now(backends))
    return 0


def _advisories_list(args: argparse.Namespace, config: Config) -> int:
    from mirror.services import advisories
    from mirror.timeutil import format_timestamp

    found = advisories.list_advisories(_review_backends(config), args.project)
    for item in found:
        kind = "withdrawn" if item.withdrawn else "malicious" if item.malicious else "advisory"
        ranges = "; ".join(f"{a.project}{a.specifier or ' (all)'}" for a in item.affected)
        print(f"{item.osv_id}\t{kind}\t{format_timestamp(item.modified)}\t{ranges}\t{item.summary}")
    if not found:
        print("no advisories")
    return 0


def _print_release_advisories(backends: "Backends", project: str, version: str) -> None:
    from mirror.services import advisories

    found = advisories.advisories_for(backends, project, version)
    print("advisories:" if found else "advisories: none")
    for item in found:
        kind = "malicious" if item.malicious else "advisory"
        print(f"  {item.osv_id} ({kind}): {item.summary}")


def _audit_downloads(args: argparse.Namespace, config: Config) -> int:
    from mirror.services import audit
    from mirror.timeutil import format_timestamp

    project, _, version = args.release.partition("==")
    found = audit.downloads(_review_backends(config), project.strip(), version.strip() or None)
    rows = [
        (
            format_timestamp(d.at),
            d.token_id or "-",
            d.pipeline or "-",
            d.remote_addr or "-",
            d.user_agent or "-",
            d.filename,
        )
        for d in found
    ]
    _print_table(("TIME", "TOKEN", "PIPELINE", "ADDRESS", "USER AGENT", "FILE"), rows)
    if not rows:
        print(f"no downloads of {args.release}")
    return 0


def _audit_exposure(args: argparse.Namespace, config: Config) -> int:
    from mirror.services import exposure
    from mirror.timeutil import format_timestamp

    project, specifier = exposure.split_release(args.release)
    found = exposure.exposure(_review_backends(config), project, specifier)
    print(f"files blocked, rejected or withdrawn: {len(found.files) or 'none'}")
    for item in found.files:
        print(f"  {item.filename}  {item.state} by {item.decided_by}: {item.reason}")
    rows = [
        (
            who.identity.label,
            str(who.downloads),
            format_timestamp(who.first),
            format_timestamp(who.last),
            ", ".join(who.addresses) or "-",
            ", ".join(who.files),
        )
        for who in found.identities
    ]
    if rows:
        print("downloaded by (rotate what these held):")
        _print_table(("IDENTITY", "COUNT", "FIRST", "LAST", "ADDRESSES", "FILES"), rows)
    else:
        print(f"nobody downloaded them ({args.release})")
    return 0


def _print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    # Control characters in a client-supplied user agent must not reach the terminal.
    safe = [tuple(cell.encode("unicode_escape").decode() for cell in row) for row in rows]
    widths = [max(len(r[i]) for r in [header, *safe]) for i in range(len(header))]
    for row in [header, *safe]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _add_advisories_and_audit(commands: Any) -> None:
    advisories = commands.add_parser("advisories", help="OSV advisories")
    actions = advisories.add_subparsers(dest="action", required=True)
    load = actions.add_parser(
        "import", help="import OSV JSON (a file, a folder or a zip); malicious entries block"
    )
    load.add_argument("path")
    load.set_defaults(handler=_advisories_import)
    listing = actions.add_parser("list", help="imported advisories, newest first")
    listing.add_argument("project", nargs="?")
    listing.set_defaults(handler=_advisories_list)
    audit = commands.add_parser("audit", help="the download audit")
    queries = audit.add_subparsers(dest="action", required=True)
    pulled = queries.add_parser("downloads", help="who pulled a project or one release")
    pulled.add_argument("release", metavar="PROJECT[==VERSION]")
    pulled.set_defaults(handler=_audit_downloads)
    exposed = queries.add_parser(
        "exposure", help="who downloaded what is now blocked, rejected or withdrawn"
    )
    exposed.add_argument("release", metavar="PROJECT[SPECIFIER]")
    exposed.set_defaults(handler=_audit_exposure)


# --- end of advisories and download audit ---


def _notify_log(args: argparse.Namespace, config: Config) -> int:
    from mirror.services import webhooks
    from mirror.timeutil import format_timestamp

    found = webhooks.delivery_log(_review_backends(config), state=args.state, limit=args.limit)
    rows = [
        (
            str(d.id),
            format_timestamp(d.event_at),
            d.kind,
            d.webhook,
            d.state,
            str(d.attempts),
            d.last_error or ("-" if d.last_status is None else str(d.last_status)),
            d.summary,
        )
        for d in found
    ]
    _print_table(
        ("ID", "EVENT TIME", "EVENT", "WEBHOOK", "STATE", "TRIES", "LAST", "SUMMARY"), rows
    )
    if not rows:
        print("no deliveries")
    return 0


def _notify_deliver(args: argparse.Namespace, config: Config) -> int:
    from mirror.services.webhooks import Deliverer

    report = Deliverer(_review_backends(config)).run()
    print(
        f"events: {report.dispatched} new; deliveries: {report.delivered} delivered, "
        f"{report.retried} to retry, {report.failed} given up"
    )
    return 0


def _add_notify(commands: Any) -> None:
    notify = commands.add_parser("notify", help="webhook notifications and their delivery log")
    actions = notify.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("log", help="deliveries, newest first")
    listing.add_argument("--state", choices=["queued", "delivered", "failed"])  # DELIVERY_STATES
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(handler=_notify_log)
    deliver = actions.add_parser("deliver", help="send what is due now (the scheduler does too)")
    deliver.set_defaults(handler=_notify_deliver)


def _keys_init(args: argparse.Namespace, config: Config) -> int:
    from mirror.db.engine import make_engine
    from mirror.server import initialise
    from mirror.services import signing

    initialise(config, tuf=False)
    passphrase = _new_passphrase() if args.encrypt else None
    signing.create_keys(
        config,
        make_engine(config.database_url),
        passphrase,
        root_keys=args.root_keys,
        threshold=args.threshold,
    )
    print(f"TUF keys created in {config.keys_dir}; pin the root with `mirror keys export-root`")
    return 0


def _new_passphrase() -> str:
    first = getpass.getpass("passphrase for the offline keys: ")
    if not first or first != getpass.getpass("again: "):
        raise MirrorError("passphrases are empty or differ")
    return first


def _keys_rotate(args: argparse.Namespace, config: Config) -> int:
    from mirror.db.engine import make_engine
    from mirror.server import initialise
    from mirror.services import signing

    initialise(config)
    passphrase = getpass.getpass("passphrase for the offline keys: ") if args.encrypted else None
    role = "online" if args.role in ("snapshot", "timestamp") else args.role
    keyid = signing.rotate(config, make_engine(config.database_url), role, passphrase)
    print(f"{role} key rotated; new key id {keyid}")
    if role == "root":
        print("pipelines keep working; re-export the root for new pins: mirror keys export-root")
    return 0


def _keys_export_root(args: argparse.Namespace, config: Config) -> int:
    from mirror.server import initialise
    from mirror.services import signing

    initialise(config)
    sys.stdout.buffer.write(signing.current_root(config))
    sys.stdout.flush()
    return 0


def _keys_import_root(args: argparse.Namespace, config: Config) -> int:
    from mirror.db.engine import make_engine
    from mirror.server import initialise
    from mirror.services import signing

    initialise(config)
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise MirrorError(f"cannot read {args.file}: {exc.strerror}") from exc
    version = signing.import_root(config, make_engine(config.database_url), data)
    print(f"root version {version} imported; clients pick it up at their next refresh")
    return 0


def _add_keys(commands: Any) -> None:
    keys = commands.add_parser("keys", help="TUF keys and the trusted root")
    actions = keys.add_subparsers(dest="action", required=True)
    init = actions.add_parser("init", help="create the keys and sign the first metadata")
    init.add_argument("--root-keys", type=int, default=1, help="number of root keys (default 1)")
    init.add_argument("--threshold", type=int, default=1, help="root signatures needed")
    init.add_argument("--encrypt", action="store_true", help="passphrase-protect offline keys")
    init.set_defaults(handler=_keys_init)
    rotate = actions.add_parser("rotate", help="replace a key and re-sign what depends on it")
    rotate.add_argument("role", choices=["online", "snapshot", "timestamp", "root"])
    rotate.add_argument("--encrypted", action="store_true", help="offline keys need a passphrase")
    rotate.set_defaults(handler=_keys_rotate)
    export = actions.add_parser("export-root", help="print the trusted root for pipelines")
    export.set_defaults(handler=_keys_export_root)
    imported = actions.add_parser("import-root", help="publish a root signed elsewhere")
    imported.add_argument("file", metavar="FILE")
    imported.set_defaults(handler=_keys_import_root)


def _add_common_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--config",
        default=default,
        help="TOML config file (default: $MIRROR_CONFIG, ./mirror.toml, built-in defaults)",
    )
    parser.add_argument(
        "--verbose", action="store_true", default=default or False, help="show tracebacks"
    )


class _Subcommand(argparse.ArgumentParser):
    """A command's parser: takes --config and --verbose after the command's name too (the docs
    write `mirror serve --config F`). Their default is "not given", so a value given before
    the command is kept."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _add_common_options(self, argparse.SUPPRESS)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mirror", description=__doc__)
    _add_common_options(parser, None)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Subcommand)
    serve = commands.add_parser("serve", help="run the mirror under gunicorn")
    serve.add_argument("--bind", help="HOST:PORT (default: server.bind)")
    serve.add_argument("--workers", type=int, help="gunicorn workers (default: server.workers)")
    serve.set_defaults(handler=_serve)
    worker = commands.add_parser("worker", help="run the admission/publish scheduler alone")
    worker.set_defaults(handler=_worker)
    sync = commands.add_parser("sync", help="one admission + publish cycle now")
    sync.add_argument("projects", nargs="*", metavar="PROJECT")
    sync.set_defaults(handler=_sync)
    _add_review(commands)
    _add_token(commands)
    _add_private(commands)
    _add_advisories_and_audit(commands)
    _add_notify(commands)
    _add_keys(commands)
    add_pipeline_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging("DEBUG" if args.verbose else "INFO")

    def run() -> int:
        handler: Handler = args.handler
        return handler(args, load_config(args.config))

    return reporting_errors(run, verbose=args.verbose)
