"""The `mirror` command line. Errors are one line on stderr and a non-zero exit."""

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from mirror.config import Config, load_config
from mirror.errors import MirrorError
from mirror.logs import setup_logging

log = logging.getLogger("mirror.cli")

Handler = Callable[[argparse.Namespace, Config], int]


def _serve(args: argparse.Namespace, config: Config) -> int:
    from mirror.server import serve

    serve(config, bind=args.bind, workers=args.workers)
    return 0


def _worker(args: argparse.Namespace, config: Config) -> int:
    from mirror.scheduler import run_forever
    from mirror.server import initialise
    from mirror.services.context import Services

    initialise(config)
    run_forever(Services.from_config(config))
    return 0


def _sync(args: argparse.Namespace, config: Config) -> int:
    from mirror.names import is_valid_project_name, normalize
    from mirror.scheduler import run_cycle
    from mirror.server import initialise
    from mirror.services.context import Services

    invalid = [p for p in args.projects if not is_valid_project_name(p)]
    if invalid:
        raise MirrorError(f"invalid project name: {invalid[0]!r}")
    initialise(config)
    projects = [normalize(p) for p in args.projects] or None
    report = run_cycle(Services.from_config(config), projects)
    for project in report.refreshed + report.evaluated:
        status = report.failed.get(project, "ok")
        print(f"{project}: {status}")
    return 1 if report.failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mirror", description=__doc__)
    parser.add_argument("--config", help="TOML config file (default: $MIRROR_CONFIG, "
                                         "./mirror.toml, built-in defaults)")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the mirror under gunicorn")
    serve.add_argument("--bind", help="HOST:PORT (default: server.bind)")
    serve.add_argument("--workers", type=int, help="gunicorn workers (default: server.workers)")
    serve.set_defaults(handler=_serve)
    worker = commands.add_parser("worker", help="run the admission/publish scheduler alone")
    worker.set_defaults(handler=_worker)
    sync = commands.add_parser("sync", help="one admission + publish cycle now")
    sync.add_argument("projects", nargs="*", metavar="PROJECT")
    sync.set_defaults(handler=_sync)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging("DEBUG" if args.verbose else "INFO")
    try:
        config = load_config(args.config)
        handler: Handler = args.handler
        return handler(args, config)
    except MirrorError as exc:
        if args.verbose:
            log.exception("command failed")
        print(f"mirror: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
