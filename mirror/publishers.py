"""Trusted Publisher identities (PEP 740 "Publisher" objects): as the configuration pins them
(``policy.projects.<name>.publisher``) and as a verified provenance names them; and the
provenance modes a project may be held to.

Plain data, importing nothing of the mirror: the configuration parses pins with it, and the
provenance check (``mirror.checks.provenance``) compares what a signature proves against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

# What a project requires of provenance (docs/admission.md, "Provenance (PEP 740)"): always
# ("required"), once its releases attest ("continuity"), or nothing ("off").
ProvenanceMode = Literal["required", "continuity", "off"]

_KINDS = {"github": "GitHub", "gitlab": "GitLab", "google": "Google", "circleci": "CircleCI"}
# Fields that name the identity, per kind; `environment` is extra, optional and unsigned.
_IDENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "GitHub": ("repository", "workflow"),
    "GitLab": ("repository", "workflow_filepath"),
    "Google": ("email",),
    "CircleCI": ("project_id", "pipeline_definition_id"),
}
_OPTIONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "GitHub": ("environment",),
    "GitLab": ("environment",),
    "Google": (),
    "CircleCI": (),
}


@dataclass(frozen=True)
class PinnedPublisher:
    """A Trusted Publisher identity (PEP 740 "Publisher" objects), pinned or observed.

    Only the fields of ``kind`` are set. ``identity`` is a stable one-line form, also accepted
    by ``parse``: ``GitHub:owner/repo@release.yml``, ``GitLab:group/project@.gitlab-ci.yml``,
    ``Google:account@example.test``, ``CircleCI:project-id/pipeline-definition-id``; a
    GitHub/GitLab string may end in ``#environment``.
    """

    kind: str
    repository: str | None = None
    workflow: str | None = None
    workflow_filepath: str | None = None
    environment: str | None = None
    email: str | None = None
    project_id: str | None = None
    pipeline_definition_id: str | None = None

    @classmethod
    def parse(cls, value: str | Mapping[str, Any]) -> PinnedPublisher:
        """Build from a config string or table. Raises ``ValueError`` naming the problem."""
        if isinstance(value, str):
            return cls._from_string(value)
        fields = dict(value)
        kind = _canonical_kind(str(fields.pop("kind", "")))
        allowed = _IDENTITY_FIELDS[kind] + _OPTIONAL_FIELDS[kind]
        if unknown := sorted(set(fields) - set(allowed)):
            raise ValueError(f"{kind} publisher does not take {', '.join(unknown)}")
        return cls(kind=kind, **fields)

    @classmethod
    def _from_string(cls, text: str) -> PinnedPublisher:
        kind_text, sep, rest = text.partition(":")
        if not sep:
            raise ValueError(f"publisher {text!r} is not KIND:IDENTITY")
        kind = _canonical_kind(kind_text)
        if kind == "Google":
            return cls(kind=kind, email=rest)
        if kind == "CircleCI":
            project_id, _, pipeline = rest.partition("/")
            return cls(kind=kind, project_id=project_id, pipeline_definition_id=pipeline)
        rest, _, environment = rest.partition("#")
        repository, _, workflow = rest.partition("@")
        field = "workflow" if kind == "GitHub" else "workflow_filepath"
        return cls(
            kind=kind, repository=repository, environment=environment or None, **{field: workflow}
        )

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> PinnedPublisher:
        """The identity in a publisher object's fields; fields its kind does not name (such
        as CircleCI's extra VCS fields) are dropped."""
        kind = fields["kind"]
        if kind not in _IDENTITY_FIELDS:
            raise ValueError(f"unknown publisher kind {kind!r}")
        keep = _IDENTITY_FIELDS[kind] + _OPTIONAL_FIELDS[kind]
        return cls(kind=kind, **{name: fields.get(name) for name in keep})

    def __post_init__(self) -> None:
        if self.kind not in _IDENTITY_FIELDS:
            raise ValueError(f"unknown publisher kind {self.kind!r}; use PinnedPublisher.parse")
        for name in _IDENTITY_FIELDS[self.kind] + _OPTIONAL_FIELDS[self.kind]:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"publisher {name} must be a string")
            if not value and name in _IDENTITY_FIELDS[self.kind]:
                raise ValueError(f"{self.kind} publisher needs {name}")
        # GitHub pins a workflow *file name*; the certificate's Build Config URI adds the path.
        if self.kind == "GitHub" and "/" in (self.workflow or ""):
            raise ValueError("GitHub workflow is a file name such as release.yml, not a path")

    @property
    def identity(self) -> str:
        """``KIND:...`` naming what the Sigstore certificate proves (no environment)."""
        if self.kind == "GitHub":
            return f"GitHub:{self.repository}@{self.workflow}"
        if self.kind == "GitLab":
            return f"GitLab:{self.repository}@{self.workflow_filepath}"
        if self.kind == "Google":
            return f"Google:{self.email}"
        return f"CircleCI:{self.project_id}/{self.pipeline_definition_id}"

    def to_dict(self) -> dict[str, str | None]:
        """Kind plus this kind's fields (``environment`` included, possibly None)."""
        names = _IDENTITY_FIELDS[self.kind] + _OPTIONAL_FIELDS[self.kind]
        return {"kind": self.kind, **{name: getattr(self, name) for name in names}}


def _canonical_kind(text: str) -> str:
    try:
        return _KINDS[text.strip().lower()]
    except KeyError:
        known = ", ".join(_KINDS.values())
        raise ValueError(f"unknown publisher kind {text!r} (known: {known})") from None


def same_publisher(a: PinnedPublisher, b: PinnedPublisher) -> bool:
    """Same Trusted Publisher identity; ``environment`` is ignored (it is not signed)."""
    return a.kind == b.kind and all(
        getattr(a, name) == getattr(b, name) for name in _IDENTITY_FIELDS[a.kind]
    )
