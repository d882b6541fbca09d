"""Blast radius: who downloaded files that are now blocked, rejected or withdrawn, grouped by
identity, with first and last time and count: the credentials to rotate
(docs/advisories-and-audit.md, "Exposure").

The same report answers ``mirror audit exposure``, ``GET /api/v1/exposure/<project>``, the
release page of the review UI, and the ``exposure`` notification a block of an
already-downloaded release sends.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from mirror.db import access, download_rows, file_rows, project_rows
from mirror.errors import NotFoundError
from mirror.names import is_valid_project_name, normalize
from mirror.policy.admission import State
from mirror.policy.rules import parse_specifier, version_in
from mirror.services.backends import Backends
from mirror.timeutil import format_timestamp

EXPOSED_STATES = frozenset({State.BLOCKED, State.REJECTED, State.WITHDRAWN})
_PROJECT_AND_SPECIFIER = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)", re.DOTALL)


@dataclass(frozen=True)
class Identity:
    """Who a download names, as exposure groups downloads: ``kind`` is ``pipeline`` (a token
    minted for a CI identity), ``token`` or ``address``; ``key`` groups; ``label`` is what a
    person reads."""

    kind: str
    key: str
    label: str


def identity_of(pull: Row[Any], token: Row[Any] | None) -> Identity:
    """The identity of one download row (``pull``; ``token``: its token's row, None when
    anonymous or since deleted). The one place that decides it: the identity a token carries
    (a CI pipeline's, for minted tokens) goes first, then the token, then the address."""
    ci = token.identity if token is not None else None
    if ci:
        return _pipeline(ci)
    if pull.token_id:
        name = token.name if token is not None else "unknown token"
        return Identity("token", f"token:{pull.token_id}", f"{name} (token {pull.token_id})")
    address = pull.remote_addr or "unknown address"
    return Identity("address", f"address:{address}", address)


def _pipeline(ci: Mapping[str, str]) -> Identity:
    """A CI pipeline: every run of one workflow of one repository on one ref is one identity
    (each run's token is short-lived; what to rotate are the pipeline's own secrets)."""
    parts = [ci.get(key) or "" for key in ("issuer", "repository", "workflow", "ref")]
    who = " ".join(part for part in parts[1:] if part) or ci.get("subject", "unknown")
    return Identity("pipeline", "pipeline:" + "\x1f".join(parts), f"{who} ({parts[0]})")


@dataclass(frozen=True)
class ExposedFile:
    filename: str
    version: str
    state: str
    reason: str
    decided_by: str


@dataclass(frozen=True)
class ExposedIdentity:
    identity: Identity
    tokens: tuple[tuple[str, str | None], ...]  # (id, name), sorted by id
    addresses: tuple[str, ...]
    files: tuple[str, ...]
    first: datetime
    last: datetime
    downloads: int


@dataclass(frozen=True)
class Exposure:
    project: str
    specifier: str
    files: tuple[ExposedFile, ...]
    # Most recent download first: the likeliest to still hold what was stolen.
    identities: tuple[ExposedIdentity, ...]

    @property
    def downloads(self) -> int:
        return sum(item.downloads for item in self.identities)


def split_release(text: str) -> tuple[str, str]:
    """``PROJECT[SPECIFIER]`` (``litellm``, ``litellm==1.82.8``, ``litellm>=1.82.7,<1.82.9``)
    as a normalised project name and a specifier.

    Raises:
        NotFoundError: no valid project name.
        ConfigError: the specifier is malformed.
    """
    match = _PROJECT_AND_SPECIFIER.fullmatch(text)
    if match is None or not is_valid_project_name(match[1]):
        raise NotFoundError(f"invalid project name in {text[:100]!r}")
    specifier = match[2].strip()
    parse_specifier(specifier)
    return normalize(match[1]), specifier


def exposure(
    backends: Backends, project: str, specifier: str = "", *, version: str | None = None
) -> Exposure:
    """Who downloaded the files of ``project`` matching ``specifier`` (and of exactly
    ``version``, as the mirror lists it, when given) that are now blocked, rejected or
    withdrawn.

    Raises:
        NotFoundError: an invalid project name, or one the mirror never saw.
        ConfigError: the specifier is malformed.
    """
    if not is_valid_project_name(project):
        raise NotFoundError(f"invalid project name {project[:100]!r}")
    project, wanted = normalize(project), parse_specifier(specifier)
    with backends.engine.connect() as conn:
        row = project_rows.get_project(conn, project)
        if row is None:
            raise NotFoundError(f"{project}: no such project known to the mirror")
        exposed = [
            ExposedFile(r.filename, r.version, r.state, r.reason, r.decided_by)
            for r in file_rows.project_files(conn, row.id)
            if r.state in EXPOSED_STATES
            and version_in(wanted, r.version)
            and version in (None, r.version)
        ]
        return exposure_of(conn, project, specifier.strip(), exposed)


def exposure_of(
    conn: Connection, project: str, specifier: str, exposed: Iterable[ExposedFile]
) -> Exposure:
    """The exposure of ``exposed`` (files of ``project``), read on ``conn``: also inside the
    transaction that blocks them."""
    files = tuple(sorted(exposed, key=lambda f: f.filename))
    pulls = download_rows.pulls_of(conn, project, [f.filename for f in files])
    token_rows = access.tokens_by_id(conn, sorted({p.token_id for p in pulls if p.token_id}))
    return Exposure(project, specifier, files, _by_identity(pulls, token_rows))


def _by_identity(
    pulls: Sequence[Row[Any]], token_rows: Mapping[str, Row[Any]]
) -> tuple[ExposedIdentity, ...]:
    groups: dict[Identity, list[Row[Any]]] = {}
    for pull in pulls:
        token = token_rows.get(pull.token_id) if pull.token_id else None
        groups.setdefault(identity_of(pull, token), []).append(pull)
    folded = [_fold(identity, rows, token_rows) for identity, rows in groups.items()]
    return tuple(sorted(folded, key=lambda item: (item.last, item.identity.key), reverse=True))


def _fold(
    identity: Identity, pulls: list[Row[Any]], token_rows: Mapping[str, Row[Any]]
) -> ExposedIdentity:
    token_ids = sorted({p.token_id for p in pulls if p.token_id})
    return ExposedIdentity(
        identity=identity,
        tokens=tuple(
            (token_id, token_rows[token_id].name if token_id in token_rows else None)
            for token_id in token_ids
        ),
        addresses=tuple(sorted({p.remote_addr for p in pulls if p.remote_addr})),
        files=tuple(sorted({p.filename for p in pulls})),
        first=min(p.first for p in pulls),
        last=max(p.last for p in pulls),
        downloads=sum(int(p.pulls) for p in pulls),
    )


def exposure_json(found: Exposure) -> dict[str, Any]:
    """An exposure report as JSON: the event's details and the API's answer."""
    return {
        "project": found.project,
        "specifier": found.specifier,
        "downloads": found.downloads,
        "files": [
            {
                "filename": f.filename,
                "version": f.version,
                "state": f.state,
                "reason": f.reason,
                "decided_by": f.decided_by,
            }
            for f in found.files
        ],
        "identities": [
            {
                "identity": item.identity.label,
                "kind": item.identity.kind,
                "key": item.identity.key,
                "tokens": [{"id": token_id, "name": name} for token_id, name in item.tokens],
                "addresses": list(item.addresses),
                "files": list(item.files),
                "first": format_timestamp(item.first),
                "last": format_timestamp(item.last),
                "downloads": item.downloads,
            }
            for item in found.identities
        ],
    }
