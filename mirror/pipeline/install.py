"""`mirror install`: pinned requirements -> files verified through TUF -> pip, offline.

1. Read the pins (``requirements.read_pins``); an unpinned set is refused.
2. Trust only the pinned root (``--root``), or the mirror's first root with an explicit
   ``--trust-on-first-use``; refresh TUF metadata through the mirror (credentials from the
   index URL go with every request).
3. For each pin, read ``simple/<project>/index.json`` as a TUF target, choose the file for this
   interpreter, and download it as a TUF target into a private folder; a pinned hash must match.
   Every refusal is collected and names its requirement; any refusal installs nothing.
4. Run pip on that folder only: ``--no-index --find-links``, ``--require-hashes`` with the
   verified digests, and no pip configuration from the machine or the environment.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from mirror.errors import MirrorError
from mirror.pipeline.mirror_api import MirrorApi
from mirror.pipeline.requirements import Pin, read_pins
from mirror.pipeline.sbom import InstalledFile, publishers_in, with_record, write_sbom
from mirror.pipeline.selection import choose, release_files
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


def install(options: InstallOptions) -> Iterator[str]:
    """Verify and install; yields progress lines. Raises ``InstallError`` naming what failed."""
    for arg in options.pip_args:
        if arg.split("=", 1)[0] in _SOURCE_OPTIONS or arg.startswith(("-i", "-f")):
            raise InstallError(f"pip option {arg!r} is not allowed: only the verified set is used")
    pins = read_pins(Path(options.requirements))
    mirror = parse_index_url(options.index_url)
    api = MirrorApi(mirror.base_url, mirror.auth)
    cache = Path(options.tuf_cache) if options.tuf_cache else default_cache(mirror.base_url)
    with tempfile.TemporaryDirectory(prefix="mirror-install-") as tmp, _locked(cache):
        work = Path(tmp)
        root = _trusted_root(options, api)
        if options.trust_on_first_use:
            digest = hashlib.sha256(root).hexdigest()
            yield f"warning: trusting the mirror's first root on first use (sha256 {digest})"
        client = MirrorClient(mirror.base_url, root, cache, auth=mirror.auth)
        wheelhouse = work / "wheelhouse"
        wheelhouse.mkdir()
        verified: list[InstalledFile] = []
        failures: list[str] = []
        for pin in pins:
            try:
                item = _verify(client, api, pin, wheelhouse)
                if options.sbom:
                    item = _with_record(client, pin, item)
            except _Refused as exc:
                failures.append(f"{pin}: {exc}")
                continue
            verified.append(item)
            yield f"verified {pin}: {item.filename} (sha256 {item.sha256[:12]}…)"
        if failures:
            raise InstallError(f"nothing installed; {'; '.join(failures)}")
        report = _pip(pins, verified, wheelhouse, work, options.pip_args)
        installed = _installed(report, verified)
        yield f"installed {len(installed)} file(s) from the verified set"
        if options.sbom:
            write_sbom(Path(options.sbom), installed, mirror.base_url)
            yield f"SBOM written to {options.sbom}"


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


def _trusted_root(options: InstallOptions, api: MirrorApi) -> bytes:
    if options.root:
        try:
            return Path(options.root).read_bytes()
        except OSError as exc:
            raise InstallError(f"cannot read --root {options.root}: {exc.strerror}") from exc
    data = api.get_bytes("tuf/metadata/1.root.json")
    if data is None:
        raise InstallError("cannot fetch the mirror's first root (tuf/metadata/1.root.json)")
    return data


def _verify(client: MirrorClient, api: MirrorApi, pin: Pin, wheelhouse: Path) -> InstalledFile:
    page_path = f"simple/{pin.project}/index.json"
    try:
        page = json.loads(client.fetch_bytes(page_path))
    except TargetNotFoundError:
        raise _Refused(f"not admitted ({pin.project} is not on the mirror)") from None
    except VerificationError as exc:
        raise InstallError(f"{pin}: {exc}") from exc
    except TufRepoError as exc:
        raise InstallError(f"{pin}: {exc}") from exc
    entries = release_files(page, pin)
    if not entries:
        raise _Refused(api.why_missing(pin.project, pin.version))
    candidate = choose(entries, pin)
    if candidate is None:
        names = ", ".join(sorted(e["filename"] for e in entries))
        hashes = " with the pinned hashes" if pin.hashes else ""
        raise _Refused(f"no file for this interpreter and platform{hashes} (has: {names})")
    target = f"packages/{pin.project}/{candidate.filename}"
    dest = wheelhouse / candidate.filename
    info = _listed(client, pin, target, lambda: client.download(target, dest))
    sha256 = info.hashes["sha256"]
    if sha256 != candidate.sha256 or (pin.hashes and sha256 not in pin.hashes):
        raise InstallError(f"{pin}: {candidate.filename}: signed sha256 {sha256} does not match")
    publishers = signed_publishers(client, pin, target) if candidate.provenance else []
    return InstalledFile(pin.project, pin.version, candidate.filename, sha256, target, publishers)


def signed_publishers(client: MirrorClient, pin: Pin, target: str) -> list[dict[str, str]]:
    """The Trusted Publishers named by the provenance the signed page links for ``target``,
    read from the mirror's copy of it, a TUF target like the file."""
    provenance = target + PROVENANCE_SUFFIX
    data = _listed(client, pin, provenance, lambda: client.fetch_bytes(provenance))
    try:
        return publishers_in(json.loads(data))
    except ValueError as exc:
        raise InstallError(f"{pin}: {provenance}: not JSON") from exc


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


def _pip(
    pins: list[Pin], verified: list[InstalledFile], wheelhouse: Path, work: Path, extra: list[str]
) -> Path:
    requirements = work / "verified.txt"
    requirements.write_text(
        "".join(
            pin.as_pip_line(item.sha256) + "\n" for pin, item in zip(pins, verified, strict=True)
        )
    )
    report = work / "report.json"
    command = [
        sys.executable,
        "-m",
        "pip",
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
        *extra,
    ]
    # No pip configuration may add an index or a find-links folder to the verified one.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
        detail = errors[0] if errors else (result.stderr.strip().splitlines() or ["?"])[-1]
        raise InstallError(f"pip refused the verified set: {detail}")
    return report


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
