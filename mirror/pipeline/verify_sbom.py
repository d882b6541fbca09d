"""`mirror verify-sbom`: check an SBOM that `mirror install --sbom` wrote against the mirror now.

Trust starts from the pinned root, as for an install, and the same verified-metadata cache is
used, so replayed older metadata cannot hide a later block. For each component:

- its file must still be a TUF target with the sha256 the SBOM recorded; a file that is not
  (blocked, withdrawn, held again) is reported with the mirror's reason where its release API
  gives one, and makes the run fail;
- its admission record is looked up too: one signed with other bytes means the file was
  decided again since (it stays admitted), and is reported without failing the run.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mirror.errors import MirrorError
from mirror.pipeline.install import _locked, default_cache, parse_index_url
from mirror.pipeline.mirror_api import MirrorApi, explain
from mirror.pipeline.sbom import (
    FILENAME_PROPERTY,
    MIRROR_PROPERTY,
    RECORD_PROPERTY,
    RECORD_SHA256_PROPERTY,
    TARGET_PROPERTY,
)
from tuf_repo import MirrorClient
from tuf_repo.errors import TargetNotFoundError, TufRepoError


class SbomCheckError(MirrorError):
    """The SBOM could not be checked, or some component is no longer admitted."""


@dataclass(frozen=True)
class VerifySbomOptions:
    sbom: str
    root: str
    index_url: str | None = None
    tuf_cache: str | None = None


@dataclass(frozen=True)
class Component:
    """What the SBOM recorded of one installed file."""

    name: str
    version: str
    filename: str
    sha256: str
    target: str
    record: str | None
    record_sha256: str | None

    def __str__(self) -> str:
        return f"{self.name}=={self.version} ({self.filename})"


def verify_sbom(options: VerifySbomOptions) -> Iterator[str]:
    """One line per component; raises ``SbomCheckError`` when any is no longer admitted."""
    document = _read_json(options.sbom)
    mirror = parse_index_url(options.index_url or _simple_url(document))
    components = components_in(document)
    root = _read_root(options.root)
    cache = Path(options.tuf_cache) if options.tuf_cache else default_cache(mirror.base_url)
    api = MirrorApi(mirror.base_url, mirror.auth)
    refused = []
    with _locked(cache):
        client = MirrorClient(mirror.base_url, root, cache, auth=mirror.auth)
        try:
            client.refresh()
            for item in components:
                problem = _file_problem(client, api, item)
                if problem is not None:
                    refused.append(f"{item}: {problem}")
                    yield f"REFUSED {item}: {problem}"
                else:
                    yield f"ok {item}{_record_note(client, item)}"
        except TufRepoError as exc:
            raise SbomCheckError(f"cannot verify the mirror's metadata: {exc}") from exc
    if refused:
        raise SbomCheckError(
            f"{len(refused)} of {len(components)} component(s) no longer admitted; "
            + "; ".join(refused)
        )


def components_in(document: Any) -> list[Component]:
    """The components `mirror install --sbom` recorded.

    Raises:
        SbomCheckError: the document is not such an SBOM.
    """
    entries = document.get("components") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise SbomCheckError("not a CycloneDX JSON SBOM (no components)")
    return [_component(entry) for entry in entries]


def _component(entry: Any) -> Component:
    properties = {
        p.get("name"): p.get("value")
        for p in entry.get("properties", [])
        if isinstance(p, dict) and isinstance(p.get("value"), str)
    }
    hashes = {h.get("alg"): h.get("content") for h in entry.get("hashes", [])}
    fields = (
        entry.get("name"),
        entry.get("version"),
        properties.get(FILENAME_PROPERTY),
        hashes.get("SHA-256"),
        properties.get(TARGET_PROPERTY),
    )
    if not all(isinstance(value, str) for value in fields):
        raise SbomCheckError(f"component {entry.get('bom-ref')!r}: not written by mirror install")
    name, version, filename, sha256, target = (str(value) for value in fields)
    return Component(
        name,
        version,
        filename,
        sha256,
        target,
        properties.get(RECORD_PROPERTY),
        properties.get(RECORD_SHA256_PROPERTY),
    )


def _file_problem(client: MirrorClient, api: MirrorApi, item: Component) -> str | None:
    """Why the component's file is no longer what the SBOM recorded; None when it is."""
    try:
        signed = client.get_targetinfo(item.target).hashes.get("sha256")
    except TargetNotFoundError:
        return f"no longer signed by the mirror: {_why(api, item)}"
    if signed != item.sha256:
        return f"the mirror now signs sha256 {signed}, the SBOM recorded {item.sha256}"
    return None


def _record_note(client: MirrorClient, item: Component) -> str:
    if item.record is None:
        return " (no admission record in the SBOM)"
    try:
        signed = client.get_targetinfo(item.record).hashes.get("sha256")
    except TargetNotFoundError:
        return "; decided again since: its admission record is not signed now"
    if signed != item.record_sha256:
        return f"; decided again since: the admission record is now sha256 {signed}"
    return ""


def _why(api: MirrorApi, item: Component) -> str:
    """The file's state and reason from the mirror's release API, when it answers."""
    answer = api.get_json(
        f"api/v1/projects/{quote(item.name, safe='')}/releases/{quote(item.version, safe='')}"
    )
    files = answer.get("files") if isinstance(answer, dict) else None
    if not isinstance(files, list):
        return "no details"
    own = [f for f in files if isinstance(f, dict) and f.get("filename") == item.filename]
    return explain(own or files)


def _read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise SbomCheckError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise SbomCheckError(f"{path} is not JSON: {exc}") from exc


def _read_root(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SbomCheckError(f"cannot read --root {path}: {exc.strerror}") from exc


def _simple_url(document: Any) -> str:
    """The mirror's /simple/ URL the SBOM names (``sbom.MIRROR_PROPERTY``)."""
    metadata = document.get("metadata", {}) if isinstance(document, dict) else {}
    for prop in metadata.get("properties", []) if isinstance(metadata, dict) else []:
        if isinstance(prop, dict) and prop.get("name") == MIRROR_PROPERTY:
            return f"{str(prop.get('value')).rstrip('/')}/simple/"
    raise SbomCheckError("the SBOM names no mirror: give --index-url")
