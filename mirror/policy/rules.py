"""Allow, deny and internal-name rules from configuration (docs/admission.md, "Refusals").

``allow`` entries constrain the projects they name to the versions they admit; with
``allowlist_only`` every project without an ``allow`` entry is refused as a whole. ``deny``
entries block matching files. ``internal`` names are never taken from upstream (the
dependency-confusion guard). Entries are names, globs (``acme-*``) or PEP 508 requirement
strings (``"litellm>=1.82.7,<1.82.9"``).
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from mirror.errors import ConfigError
from mirror.names import is_glob, is_valid_glob, normalize

# Project refusals remembered per process: beyond this many names the memory starts over.
_REMEMBERED_NAMES = 100_000


@dataclass(frozen=True)
class Rule:
    """One entry: a normalised name or glob, and the versions it covers."""

    pattern: str
    specifier: SpecifierSet
    text: str

    def matches_name(self, project: str) -> bool:
        return fnmatchcase(project, self.pattern)

    def matches(self, project: str, version: str) -> bool:
        return self.matches_name(project) and version_in(self.specifier, version)


def version_in(specifier: SpecifierSet, version: str) -> bool:
    """Whether ``specifier`` covers ``version``; an empty specifier covers every version."""
    if not specifier:
        return True
    try:
        return specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        # A version PEP 440 cannot parse cannot be shown to be outside the range.
        return True


def parse_specifier(text: str) -> SpecifierSet:
    """A PEP 440 specifier for a block ("" for every version).

    Raises:
        ConfigError: the specifier is malformed.
    """
    try:
        return SpecifierSet(text.strip())
    except InvalidSpecifier as exc:
        raise ConfigError(f"invalid version specifier {text!r}") from exc


def parse_rule(text: str, key: str) -> Rule:
    """Parse one configured entry.

    Raises:
        ConfigError: the entry is neither a name, a glob nor a requirement string.
    """
    stripped = text.strip()
    if is_glob(stripped):
        if not is_valid_glob(stripped):
            # It would match no project name: a rule that silently refuses nothing.
            raise ConfigError(
                f"policy.{key}: glob {text!r} may only hold name characters and * ? [ ] !"
            )
        return Rule(normalize(stripped), SpecifierSet(), text)
    try:
        requirement = Requirement(stripped)
    except InvalidRequirement as exc:
        raise ConfigError(f"policy.{key}: invalid entry {text!r}: {exc}") from exc
    if requirement.url or requirement.marker or requirement.extras:
        raise ConfigError(f"policy.{key}: {text!r} may only hold a name and version specifier")
    return Rule(normalize(requirement.name), requirement.specifier, text)


@dataclass(frozen=True)
class Rules:
    """The configured rules, parsed once."""

    internal: Sequence[Rule]
    allow: Sequence[Rule]
    deny: Sequence[Rule]
    allowlist_only: bool
    # Every request for a page asks (the warm page path too): a dictionary lookup after the
    # first time a name is asked about.
    _project_refusals: dict[str, str | None] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @classmethod
    def parse(
        cls,
        *,
        internal: Iterable[str],
        allow: Iterable[str],
        deny: Iterable[str],
        allowlist_only: bool,
    ) -> "Rules":
        internal_rules = [parse_rule(t, "internal") for t in internal]
        if any(rule.specifier for rule in internal_rules):
            raise ConfigError("policy.internal takes names or globs, not version specifiers")
        return cls(
            internal=internal_rules,
            allow=[parse_rule(t, "allow") for t in allow],
            deny=[parse_rule(t, "deny") for t in deny],
            allowlist_only=bool(allowlist_only),
        )

    def is_internal(self, project: str) -> bool:
        return any(rule.matches_name(project) for rule in self.internal)

    @property
    def fingerprint(self) -> str:
        """A digest of the rules as configured: it changes when any rule does."""
        text = repr(
            (
                [r.text for r in self.internal],
                [r.text for r in self.allow],
                [r.text for r in self.deny],
                self.allowlist_only,
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def project_refusal(self, project: str) -> str | None:
        """Why a whole project is not served from upstream, or None."""
        try:
            return self._project_refusals[project]
        except KeyError:
            pass
        reason = self._refuse_project(project)
        if len(self._project_refusals) >= _REMEMBERED_NAMES:
            self._project_refusals.clear()
        self._project_refusals[project] = reason
        return reason

    def _refuse_project(self, project: str) -> str | None:
        if self.is_internal(project):
            return "internal name: never taken from upstream"
        if self.allowlist_only and not any(r.matches_name(project) for r in self.allow):
            return "not on the allowlist"
        return None

    def refuses_versions(self, project: str) -> bool:
        """Whether ``file_refusal`` may refuse some version of ``project``: the project is
        refused, or a deny or allow rule names it. Most projects no rule names: one test for
        the project instead of one per version (a first look asks about hundreds)."""
        if self.project_refusal(project):
            return True
        return any(rule.matches_name(project) for rule in (*self.deny, *self.allow))

    def file_refusal(self, project: str, version: str) -> str | None:
        """Why a release is blocked by rule (its project's refusal included), or None when the
        rules let it through."""
        refused = self.project_refusal(project)
        if refused:
            return refused
        for rule in self.deny:
            if rule.matches(project, version):
                return f"denied by rule {rule.text!r}"
        constraining = [r for r in self.allow if r.matches_name(project)]
        if constraining and not any(r.matches(project, version) for r in constraining):
            return "outside allowed versions " + ", ".join(repr(r.text) for r in constraining)
        return None
