"""`mirror install`: a lock or pinned requirements -> files verified through TUF -> pip.

0. Find the target interpreter (``target``): ``--python``, else the active virtual
   environment, else ``python3`` on PATH, never the client's own unless named.
1. Read the pins for that target (``inputs.read_input``: requirements, ``pylock.toml``,
   ``uv.lock``, ``poetry.lock``); an unpinned set is refused.
2. Trust only the pinned root (``--root``), or the mirror's first root with an explicit
   ``--trust-on-first-use``; refresh TUF metadata through the mirror (credentials from the
   index URL, or with ``--oidc`` a token minted for the CI job's identity, go with every
   request).
3. For each pin, read ``simple/<project>/index.json`` as a TUF target, choose the file for this
   target, and download it as a TUF target into a private folder; a locked sha256 must be the
   one the mirror signs, and a lock's publisher identities must match the provenance the mirror
   verified (read as a TUF target too). Every refusal is collected and names its requirement;
   any refusal installs nothing.
   An sdist is refused unless ``--allow-sdist``: building one runs its code.
   With ``--sbom``, once every file is downloaded, each one's admission record is read as a
   TUF target too: history is recorded in the batch after its first download, so this waits
   for one batch, not one per requirement.
4. Run pip under the target interpreter on that folder only: ``--no-index --find-links``,
   ``--require-hashes`` with the verified digests, and no pip configuration from the machine or
   the environment (``run_pip``), in a private network namespace where the system allows one
   (``offline``; with ``--require-isolation`` nowhere else).
5. With ``--sbom``, write what pip reports it installed (see ``sbom``).
"""

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import id
import urllib3

from mirror.errors import MirrorError
from mirror.pipeline.inputs import read_input
from mirror.pipeline.mirror_api import MirrorApi
from mirror.pipeline.offline import offline, unavailable_reason
from mirror.pipeline.pins import Pin, describe_publisher
from mirror.pipeline.sbom import InstalledFile, publishers_in, with_record, write_sbom
from mirror.pipeline.selection import HashMismatch, choose, release_files
from mirror.pipeline.target import Target, find_target
from tuf_repo import MirrorClient
from tuf_repo.bins import ADMISSION_SUFFIX, PROVENANCE_SUFFIX
from tuf_repo.client import Auth
from tuf_repo.errors import TargetNotFoundError, TufRepoError, VerificationError


class InstallError(MirrorError):
    """A requirement could not be verified or installed; nothing was installed."""


@dataclass(frozen=True)
class InstallOptions:
    requirements: str
    index_url: str
    root: str | None = None
    trust_on_first_use: bool = False
    sbom: str | None = None
    tuf_cache: str | None = None
    pip_args: list[str] = field(default_factory=list)
    # Exchange the CI's ambient identity token, for this audience, for a short-lived token.
    oidc_audience: str | None = None
    python: str | None = None  # the target interpreter; None: see ``target.find_target``
    target_dir: str | None = None  # pip's --target
    allow_sdist: bool = False  # building an sdist runs its code
    require_isolation: bool = False  # refuse to run pip where it would have the network


@dataclass(frozen=True)
class Mirror:
    base_url: str  # the mirror root, ending in "/"
    auth: Auth | None


def parse_index_url(index_url: str) -> Mirror:
    """Split ``https://user:token@host/prefix/simple/`` into the mirror root and credentials."""
    parts = urlsplit(index_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InstallError(f"--index-url {index_url!r}: expected http(s)://host/.../simple/")
    path = parts.path.rstrip("/")
    if not path.endswith("/simple"):
        raise InstallError("--index-url must be the mirror's /simple/ URL")
    auth: Auth | None = None
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port:
        netloc += f":{parts.port}"
    root = urlunsplit((parts.scheme, netloc, path.removesuffix("simple"), "", ""))
    return Mirror(root, auth)


# pip options that would let pip look beyond the verified folder.
_SOURCE_OPTIONS = ("-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--no-index")
# pip options `mirror install` has its own flags for.
_TARGET_OPTIONS = ("--python", "--target", "-t")


@dataclass(frozen=True)
class Session:
    """A mirror reached through TUF, from the trusted root on."""

    client: MirrorClient
    api: MirrorApi
    warning: str | None  # said before anything else when the root was trusted on first use


@contextmanager
def session(
    index_url: str,
    root: str | None,
    trust_on_first_use: bool,
    tuf_cache: str | None,
    *,
    oidc_audience: str | None = None,
) -> Iterator[Session]:
    mirror = parse_index_url(index_url)
    if oidc_audience is not None:
        mirror = with_ci_identity(mirror, oidc_audience)
    api = MirrorApi(mirror.base_url, mirror.auth)
    cache = Path(tuf_cache) if tuf_cache else default_cache(mirror.base_url)
    with _locked(cache):
        trusted = _trusted_root(root, api)
        warning = None
        if trust_on_first_use:
            digest = hashlib.sha256(trusted).hexdigest()
            warning = f"warning: trusting the mirror's first root on first use (sha256 {digest})"
        client = MirrorClient(mirror.base_url, trusted, cache, auth=mirror.auth)
        yield Session(client, api, warning)


def install(options: InstallOptions) -> Iterator[str]:
    """Verify and install; yields progress lines. Raises ``InstallError`` naming what failed."""
    _check_pip_args(options.pip_args)
    target = find_target(options.python)
    pins = read_input(Path(options.requirements), target.markers)
    yield f"target: {target.python} (Python {target.python_version})"
    no_network = unavailable_reason()
    if no_network is None:
        yield "pip runs offline, in a private network namespace"
    elif options.require_isolation:
        raise InstallError(f"--require-isolation: {no_network}")
    else:
        yield f"warning: pip runs with the network: {no_network}"
    with (
        session(
            options.index_url,
            options.root,
            options.trust_on_first_use,
            options.tuf_cache,
            oidc_audience=options.oidc_audience,
        ) as mirror,
        tempfile.TemporaryDirectory(prefix="mirror-install-") as tmp,
    ):
        if options.oidc_audience is not None:
            yield "exchanged the CI identity token for a short-lived mirror token"
        if mirror.warning:
            yield mirror.warning
        work = Path(tmp)
        wheelhouse = work / "wheelhouse"
        wheelhouse.mkdir()
        verified: list[InstalledFile] = []
        failures: list[str] = []
        for pin in pins:
            try:
                item = _verify(mirror, pin, target, wheelhouse, options.allow_sdist)
            except _Refused as exc:
                failures.append(f"{pin}: {exc}")
                continue
            verified.append(item)
            yield f"verified {pin}: {item.filename} (sha256 {item.sha256[:12]}…)"
        _refuse(failures)
        if options.sbom:
            verified = yield from _with_records(mirror.client, pins, verified)
        report = _pip_install(target, pins, verified, wheelhouse, work, options, no_network is None)
        installed = _installed(report, verified)
        yield f"installed {len(installed)} file(s) from the verified set"
        if options.sbom:
            write_sbom(Path(options.sbom), installed, mirror.api.base_url)
            yield f"SBOM written to {options.sbom}"


def with_ci_identity(mirror: Mirror, audience: str) -> Mirror:
    """``mirror`` with a token minted for the CI's ambient identity token (docs/review.md, "CI
    identity tokens"): the pipeline stores no secret."""
    if mirror.auth is not None:
        raise InstallError("--oidc: the --index-url must carry no credentials")
    try:
        id_token = id.detect_credential(audience)
    except id.IdentityError as exc:
        raise InstallError(f"--oidc: cannot get the CI's identity token: {exc}") from exc
    if id_token is None:
        raise InstallError(
            "--oidc: no CI identity token here (GitHub Actions needs the job "
            "permission id-token: write; GitLab CI an id_tokens entry)"
        )
    api = MirrorApi(mirror.base_url, None)
    try:
        status, answer = api.post_json("api/v1/oidc/mint-token", {"token": id_token})
    except urllib3.exceptions.HTTPError as exc:
        raise InstallError(f"--oidc: cannot reach the mirror: {exc}") from exc
    token = answer.get("token") if isinstance(answer, dict) else None
    if status != 200 or not isinstance(token, str):
        raise InstallError(
            f"--oidc: the mirror refused the CI identity token ({status}); its "
            "log says which check failed"
        )
    return Mirror(mirror.base_url, ("__token__", token))


def _check_pip_args(pip_args: list[str]) -> None:
    for arg in pip_args:
        option = arg.split("=", 1)[0]
        if option in _SOURCE_OPTIONS or arg.startswith(("-i", "-f")):
            raise InstallError(f"pip option {arg!r} is not allowed: only the verified set is used")
        if option in _TARGET_OPTIONS:
            raise InstallError(
                f"pip option {arg!r}: give `mirror install` --python or --target instead"
            )


def default_cache(base_url: str) -> Path:
    """Where verified metadata is kept between runs, one folder per mirror.

    Keeping it is what lets TUF refuse a replayed older timestamp or snapshot (rollback): a
    fresh folder trusts any unexpired metadata the pinned root's keys signed.
    """
    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(home, "signed-mirror", "tuf", hashlib.sha256(base_url.encode()).hexdigest()[:16])


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    # ngclient does not support two updaters on one folder: concurrent jobs take turns.
    try:
        cache.mkdir(parents=True, exist_ok=True)
        handle = (cache / ".lock").open("a")
    except OSError as exc:
        raise InstallError(f"cannot use TUF cache {cache}: {exc.strerror}") from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# Seconds between lookups of a listed file's target: about a minute, the scheduler's cycle.
LISTED_TARGET_RETRIES = (0.2, 0.5, 1, 2, 4, 8, 15, 30)


class _Refused(Exception):
    """One requirement failed; the message says why."""


def _trusted_root(root: str | None, api: MirrorApi) -> bytes:
    if root:
        try:
            return Path(root).read_bytes()
        except OSError as exc:
            raise InstallError(f"cannot read --root {root}: {exc.strerror}") from exc
    data = api.get_bytes("tuf/metadata/1.root.json")
    if data is None:
        raise InstallError("cannot fetch the mirror's first root (tuf/metadata/1.root.json)")
    return data


def _verify(
    mirror: Session, pin: Pin, target: Target, wheelhouse: Path, allow_sdist: bool
) -> InstalledFile:
    client = mirror.client
    entries = release_files(signed_page(client, pin), pin)
    if not entries:
        raise _Refused(mirror.api.why_missing(pin.project, pin.version))
    try:
        candidate = choose(entries, pin, target)
    except HashMismatch as exc:
        raise _Refused(str(exc)) from None
    if candidate is None:
        names = ", ".join(sorted(e["filename"] for e in entries))
        locked = " of the lock" if pin.files else ""
        raise _Refused(f"no file{locked} for the target interpreter and platform (has: {names})")
    if not allow_sdist and not candidate.filename.endswith(".whl"):
        raise _Refused(
            f"{candidate.filename} is an sdist: building it runs its code; "
            "give --allow-sdist to build it (offline where the system allows)"
        )
    target_path = f"packages/{pin.project}/{candidate.filename}"
    dest = wheelhouse / candidate.filename
    info = _listed(client, pin, target_path, lambda: client.download(target_path, dest))
    sha256 = info.hashes["sha256"]
    if sha256 != candidate.sha256:
        raise InstallError(f"{pin}: {candidate.filename}: signed sha256 {sha256} does not match")
    publishers = signed_publishers(client, pin, target_path) if candidate.provenance else []
    _check_identities(pin, candidate.filename, publishers)
    return InstalledFile(
        pin.project, pin.version, candidate.filename, sha256, target_path, publishers
    )


def signed_page(client: MirrorClient, pin: Pin) -> dict[str, Any]:
    """The project's PEP 691 page, read as a TUF target."""
    try:
        page = json.loads(client.fetch_bytes(f"simple/{pin.project}/index.json"))
    except TargetNotFoundError:
        raise _Refused(f"not admitted ({pin.project} is not on the mirror)") from None
    except (VerificationError, TufRepoError) as exc:
        raise InstallError(f"{pin}: {exc}") from exc
    if not isinstance(page, dict):
        raise InstallError(f"{pin}: the signed page is not a JSON object")
    return page


def _check_identities(pin: Pin, filename: str, publishers: list[dict[str, str]]) -> None:
    """A lock's publisher identities must each have been verified: every publisher the mirror
    verified for the file must be one the lock lists, and there must be one."""
    if not pin.identities:
        return
    if publishers and all(any(i.matches(p) for i in pin.identities) for p in publishers):
        return
    listed = "; ".join(str(identity) for identity in pin.identities)
    verified = "; ".join(describe_publisher(p) for p in publishers) or "no provenance"
    raise _Refused(
        f"{filename}: publisher identity mismatch: the lock lists {listed}; "
        f"the mirror verified {verified}"
    )


def signed_publishers(client: MirrorClient, pin: Pin, target: str) -> list[dict[str, str]]:
    """The Trusted Publishers named by the provenance the signed page links for ``target``,
    read from the mirror's copy of it, a TUF target like the file."""
    provenance = target + PROVENANCE_SUFFIX
    data = _listed(client, pin, provenance, lambda: client.fetch_bytes(provenance))
    try:
        return publishers_in(json.loads(data))
    except ValueError as exc:
        raise InstallError(f"{pin}: {provenance}: not JSON") from exc


def _refuse(failures: list[str]) -> None:
    """Any refused requirement installs nothing; the error names each."""
    if failures:
        raise InstallError(f"nothing installed; {'; '.join(failures)}")


def _with_records(
    client: MirrorClient, pins: list[Pin], verified: list[InstalledFile]
) -> Generator[str, None, list[InstalledFile]]:
    """``verified`` (one file per pin, downloaded) with their admission records; yields a
    progress line per record.

    Fetched once every file is: a file admitted as history gets its record in the batch after
    its first download (docs/tuf.md, "Admission records"), so the first lookup waits for that
    one batch and finds the others signed in it too.
    """
    recorded: list[InstalledFile] = []
    failures: list[str] = []
    for pin, item in zip(pins, verified, strict=True):
        try:
            item = _with_record(client, pin, item)
        except _Refused as exc:
            failures.append(f"{pin}: {exc}")
            continue
        recorded.append(item)
        digest = (item.record_sha256 or "")[:12]
        yield f"admission record {pin}: {item.filename}.admission (sha256 {digest}…)"
    _refuse(failures)
    return recorded


def _with_record(client: MirrorClient, pin: Pin, item: InstalledFile) -> InstalledFile:
    """``item`` with the admission record the mirror signs beside it (docs/tuf.md)."""
    record = item.target_path + ADMISSION_SUFFIX
    data = _listed(client, pin, record, lambda: client.fetch_bytes(record))
    try:
        return with_record(item, record, data)
    except ValueError as exc:
        raise InstallError(f"{pin}: {record}: {exc}") from exc


_T = TypeVar("_T")


def _listed(client: MirrorClient, pin: Pin, target: str, fetch: Callable[[], _T]) -> _T:
    """``fetch`` a target the signed page lists. A first look signs the page one batch before
    the files' targets (``publish.publish_now``), so a missing target is looked up again in
    newer snapshots for about a scheduler cycle before the requirement is refused."""
    try:
        for delay in LISTED_TARGET_RETRIES:
            try:
                return fetch()
            except TargetNotFoundError:
                time.sleep(delay)
                client.refresh()
        return fetch()
    except TargetNotFoundError:
        raise _Refused(f"{target.rsplit('/', 1)[1]} is not in the signed metadata") from None
    except TufRepoError as exc:
        raise InstallError(f"{pin}: {exc}") from exc


def _pip_install(
    target: Target,
    pins: list[Pin],
    verified: list[InstalledFile],
    wheelhouse: Path,
    work: Path,
    options: InstallOptions,
    isolated: bool,
) -> Path:
    requirements = work / "verified.txt"
    requirements.write_text(
        "".join(
            pin.as_pip_line(item.sha256) + "\n" for pin, item in zip(pins, verified, strict=True)
        )
    )
    report = work / "report.json"
    arguments = [
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--no-index",
        "--find-links",
        str(wheelhouse),
        "--require-hashes",
        "--report",
        str(report),
        "-r",
        str(requirements),
        *(["--target", options.target_dir] if options.target_dir else []),
        *options.pip_args,
    ]
    result = run_pip(target, arguments, isolated=isolated)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
        detail = errors[0] if errors else (result.stderr.strip().splitlines() or ["?"])[-1]
        raise InstallError(f"pip refused the verified set: {detail}")
    return report


def run_pip(
    target: Target, arguments: list[str], *, isolated: bool
) -> subprocess.CompletedProcess[str]:
    """pip ``arguments``, run under the target interpreter (pip's ``--python``: the client's
    pip, which the target then needs none of), with no pip configuration from the machine or
    the environment, so nothing can add an index or a find-links folder to the verified one;
    ``isolated``: in a private network namespace (``offline``), where nothing pip runs can
    connect anywhere."""
    command = [sys.executable, "-m", "pip", "--python", target.python, *arguments]
    if isolated:
        command = offline(command)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return subprocess.run(command, env=env, capture_output=True, text=True)


def _installed(report: Path, verified: list[InstalledFile]) -> list[InstalledFile]:
    """The verified files pip's installation report lists (by sha256)."""
    by_hash = {item.sha256: item for item in verified}
    try:
        entries = json.loads(report.read_text()).get("install", [])
    except (OSError, ValueError) as exc:
        raise InstallError(f"pip wrote no readable installation report: {exc}") from exc
    installed = []
    for entry in entries:
        hashes = entry.get("download_info", {}).get("archive_info", {}).get("hashes", {})
        item = by_hash.get(hashes.get("sha256", ""))
        if item is None:
            raise InstallError(f"pip installed something outside the verified set: {entry}")
        installed.append(item)
    return installed
