"""The pipeline client's commands, `mirror install`, `mirror lock-identities` and `mirror
verify-sbom`: part of the `mirror` command line, and the whole of it in the light client,
signed-mirror-client (docs/tuf.md, "The light client"), which has none of the server. Their
handlers take the parsed arguments only; the server's command line passes its configuration
too, unused here.
"""

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mirror.errors import MirrorError
from mirror.logs import setup_logging

log = logging.getLogger("mirror.cli")


def _install(args: argparse.Namespace, *_: object) -> int:
    from mirror.pipeline.install import InstallOptions, install

    pip_args = args.pip_args[1:] if args.pip_args[:1] == ["--"] else args.pip_args
    options = InstallOptions(
        requirements=args.requirements,
        index_url=args.index_url,
        root=args.root,
        trust_on_first_use=args.trust_on_first_use,
        sbom=args.sbom,
        tuf_cache=args.tuf_cache,
        pip_args=pip_args,
        oidc_audience=args.oidc,
        python=args.python,
        target_dir=args.target,
        allow_sdist=args.allow_sdist,
        require_isolation=args.require_isolation,
    )
    for line in install(options):
        print(line)
    return 0


def _lock_identities(args: argparse.Namespace, *_: object) -> int:
    from mirror.pipeline.install import session
    from mirror.pipeline.lock_identities import lock_identities

    with session(args.index_url, args.root, args.trust_on_first_use, args.tuf_cache) as mirror:
        if mirror.warning:
            print(mirror.warning)
        for line in lock_identities(Path(args.lock), mirror):
            print(line)
    return 0


def _verify_sbom(args: argparse.Namespace, *_: object) -> int:
    from mirror.pipeline.verify_sbom import VerifySbomOptions, verify_sbom

    options = VerifySbomOptions(args.sbom, args.root, args.index_url, args.tuf_cache)
    for line in verify_sbom(options):
        print(line)
    return 0


def _add_mirror_options(command: argparse.ArgumentParser) -> None:
    """How a pipeline command reaches the mirror and what it trusts."""
    command.add_argument("--index-url", required=True, help="the mirror's /simple/ URL")
    trust = command.add_mutually_exclusive_group(required=True)
    trust.add_argument("--root", help="the pinned root.json (mirror keys export-root)")
    trust.add_argument(
        "--trust-on-first-use",
        action="store_true",
        help="fetch the mirror's first root and trust it (weaker than --root)",
    )
    command.add_argument(
        "--tuf-cache",
        help="verified-metadata folder kept between runs, for rollback protection "
        "(default: $XDG_CACHE_HOME/signed-mirror/tuf/<mirror>)",
    )


def add_pipeline_commands(commands: Any) -> None:
    """Add `install`, `lock-identities` and `verify-sbom` to ``commands`` (a subparsers
    action)."""
    install = commands.add_parser(
        "install", help="install a lock or pinned requirements, each file verified through TUF"
    )
    install.add_argument(
        "-r",
        dest="requirements",
        required=True,
        metavar="FILE",
        help="requirements.txt (pinned), pylock.toml, uv.lock or poetry.lock",
    )
    _add_mirror_options(install)
    install.add_argument(
        "--python",
        help="the interpreter to install for (default: the active virtual environment, else "
        "python3 on PATH; never mirror's own unless named here)",
    )
    install.add_argument("--target", help="install into this folder (pip's --target)")
    install.add_argument(
        "--oidc",
        nargs="?",
        const="signed-mirror",
        metavar="AUDIENCE",
        help="exchange the CI's identity token (audience: auth.oidc.audience, default "
        "signed-mirror) for a short-lived token; the pipeline stores no secret",
    )
    install.add_argument("--sbom", help="write a CycloneDX SBOM of what was installed")
    install.add_argument(
        "--allow-sdist",
        action="store_true",
        help="build sdists the lock selects (building one runs its code); default: refuse them",
    )
    install.add_argument(
        "--require-isolation",
        action="store_true",
        help="fail unless pip can run in a private network namespace (default: say so, go on)",
    )
    install.add_argument("pip_args", nargs="*", metavar="-- PIP ARGS")
    install.set_defaults(handler=_install)
    identities = commands.add_parser(
        "lock-identities", help="write the publisher identities the mirror verified into a pylock"
    )
    identities.add_argument("lock", metavar="PYLOCK")
    _add_mirror_options(identities)
    identities.set_defaults(handler=_lock_identities)
    verify = commands.add_parser(
        "verify-sbom", help="check an SBOM of `mirror install --sbom` against the mirror now"
    )
    verify.add_argument("sbom", metavar="SBOM")
    verify.add_argument("--root", required=True, help="the pinned root.json")
    verify.add_argument(
        "--index-url", help="the mirror's /simple/ URL, with credentials (default: the SBOM's)"
    )
    verify.add_argument("--tuf-cache", help="verified-metadata folder (default: as install)")
    verify.set_defaults(handler=_verify_sbom)


def reporting_errors(run: Callable[[], int], *, verbose: bool) -> int:
    """``run()``'s exit status; a ``MirrorError`` is one line on stderr and status 1."""
    try:
        return run()
    except MirrorError as exc:
        if verbose:
            log.exception("command failed")
        print(f"mirror: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """The light client's `mirror` command."""
    parser = argparse.ArgumentParser(
        prog="mirror", description="the signed-mirror pipeline client (signed-mirror-client)"
    )
    parser.add_argument("--verbose", action="store_true", help="show tracebacks")
    add_pipeline_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    setup_logging("DEBUG" if args.verbose else "INFO")
    return reporting_errors(lambda: int(args.handler(args)), verbose=args.verbose)
