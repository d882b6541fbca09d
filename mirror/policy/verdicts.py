"""What the provenance and content evidence of a file means for its admission (pure).

The evidence itself is gathered by ``mirror.services.evidence`` and stored per file in
``files.evidence``; this module reads that record and says which checks a file still needs,
and whether the result holds it for review, rejects it, or leaves it waiting.

Which files are checked (docs/admission.md, "Cost"): files the mirror has not admitted yet,
except *historic* ones, i.e. files already older than the quarantine when the mirror first
looked at the project; in ``required`` mode every unadmitted file. Per project, one file of
the newest settled release that upstream lists provenance for is verified once as the
continuity anchor; history above it is checked like a candidate.

Not done here: fetching, verifying or inspecting anything, and the age check (``admission``).
"""

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from packaging.version import InvalidVersion, Version

from mirror import scanner_rules
from mirror.names import wheel_platform
from mirror.policy.admission import State, is_review_hold
from mirror.publishers import ProvenanceMode

PROVENANCE = "provenance"
FIRST_LOOK = "first_look"
# Evidence of a file upstream gives no upload time for, aged from the mirror's first sight.
AGE_CLOCK = "age_clock"
FIRST_SEEN = "first-seen"
# The evidence of a file listed at the project's first look with nothing gathered for it yet:
# one document shared by all such files (never changed in place).
HISTORY_EVIDENCE: dict[str, Any] = {FIRST_LOOK: True}
_OPEN = (State.PENDING, State.QUARANTINED)


# A named tuple, not a frozen dataclass: one is made per file per evaluation, and a frozen
# dataclass sets each field through ``object.__setattr__`` (four times the cost).
class FileView(NamedTuple):
    """The facts about one file that the checks need (a database row, reduced)."""

    filename: str
    version: str
    state: State
    hold_until: datetime | None
    present_upstream: bool
    historic: bool
    evidence: Mapping[str, Any]
    # Upstream's page links a provenance object for it (PEP 740): known without a fetch.
    listed: bool = False
    # Its content evidence holds a report made by today's inspector rules (the inspector,
    # ``mirror.checks.content``, knows which rules made a report; the caller asks it).
    report_current: bool = False

    @property
    def open(self) -> bool:
        """Not decided for good: still waiting for its age, its evidence or a person."""
        return self.state in _OPEN and self.present_upstream

    @property
    def settled(self) -> bool:
        """Admitted, or history the mirror admits without checks: a baseline for newer files."""
        if self.state == State.ADMITTED:
            return True
        return self.open and self.historic and not is_review_hold(self.state, self.hold_until)

    @property
    def provenance(self) -> Mapping[str, Any] | None:
        return record_of(self.evidence, "provenance")

    @property
    def content(self) -> Mapping[str, Any] | None:
        return record_of(self.evidence, "content")

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


def record_of(evidence: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    """The record of one check in a file's evidence, None when there is none (or it is not a
    mapping)."""
    value = evidence.get(key)
    # Most files have none: skip the costly isinstance against an abstract class for them.
    return value if value is not None and isinstance(value, Mapping) else None


def is_historic(
    evidence: Mapping[str, Any],
    upload_time: datetime | None,
    first_seen_at: datetime,
    quarantine: timedelta,
) -> bool:
    """Seen on the mirror's first look at the project, and already past its quarantine then."""
    if not evidence.get(FIRST_LOOK) or upload_time is None:
        return False
    return upload_time + quarantine <= first_seen_at


@dataclass(frozen=True)
class Baseline:
    """The newest settled file whose attestations verified: the publisher to continue."""

    filename: str
    identity: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the evidence says: hold reasons, a rejection reason, or why it must wait."""

    hold_reasons: tuple[str, ...] = ()
    rejection: str | None = None
    waiting: str | None = None


# What evidence with nothing against the file says: most files of a large project. Verdicts are
# immutable, so this one serves them all (``combine`` passes it through without a new object).
CLEAR = Verdict()


# A large project lists thousands of files over a few hundred versions, sorted more than once.
@functools.lru_cache(maxsize=8192)
def version_key(version: str) -> tuple[int, tuple[Any, ...] | str]:
    """Sort key, oldest first; a string that is no PEP 440 version sorts before every one.

    The key ``Version`` compares itself by (a tuple of ints and strings): ordered as the
    versions are, by tuple comparison in C, where a ``Version`` in the key costs two Python
    calls per comparison, tens of thousands to sort a large project's releases.
    """
    try:
        return (1, Version(version)._key)
    except InvalidVersion:
        return (0, version)


def anchor_file(files: Iterable[FileView], *, unlisted_may_attest: bool) -> FileView | None:
    """The file whose provenance anchors continuity: one that upstream lists provenance for,
    in the newest settled release that has one.

    Upstream's listing says which files are attested at no cost, so a newer release without
    attestations (a stolen token used after the project adopted Trusted Publishing) cannot
    become the anchor and bury the attested history below it. A rejected anchor is not
    settled: the next attested release below takes its place. ``unlisted_may_attest``: the
    page may list none yet an Integrity API URL be configured; with nothing listed, the
    newest settled release is the anchor then.

    One file per release is enough: a release is published by one Trusted Publisher. An
    sdist is preferred (one per release), else the first wheel by name.
    """
    return anchor_among([f for f in files if f.settled], unlisted_may_attest=unlisted_may_attest)


def anchor_among(settled: list[FileView], *, unlisted_may_attest: bool) -> FileView | None:
    """``anchor_file`` of files known to be settled (a first look's history: thousands of
    files, not tested one by one again)."""
    attested = [f for f in settled if f.listed] or (settled if unlisted_may_attest else [])
    if not attested:
        return None
    return min(_newest_release(attested), key=lambda f: (f.is_wheel, f.filename))


def above_anchor(f: FileView, anchor: FileView | None) -> bool:
    """Whether ``f`` is past the continuity anchor, so its age alone does not admit it.

    Past means a newer release; or, in the anchor's own release, a file upstream lists no
    provenance for beside an anchor it lists provenance for (a wheel added to an attested
    release), or any other file once the anchor failed verification.
    """
    if anchor is None or f.filename == anchor.filename:
        return False
    mine, theirs = version_key(f.version), version_key(anchor.version)
    if mine != theirs:
        return mine > theirs
    failed = anchor.provenance is not None and anchor.provenance.get("status") == "failed"
    return failed or (anchor.listed and not f.listed)


def publisher_baseline(files: Iterable[FileView]) -> Baseline | None:
    """The newest settled file with verified attestations, by version."""
    # The provenance record first: most files have none, and it is the cheaper test.
    verified = [
        f
        for f in files
        if f.provenance is not None and f.provenance.get("status") == "verified" and f.settled
    ]
    if not verified:
        return None
    newest = max(verified, key=lambda f: (version_key(f.version), f.filename))
    assert newest.provenance is not None
    return Baseline(newest.filename, str(newest.provenance["identity"]))


def content_baseline(files: Iterable[FileView], candidate: FileView) -> FileView | None:
    """The same kind of file in the previous settled release (the one it is compared with).

    Previous means the highest settled version below the candidate's. Among that release's
    files of the same kind (wheel or sdist), the one with the same tags is preferred, else the
    closest platform: the same family (Linux, macOS, Windows), then architecture, then Python
    (a release may rename its manylinux tags; a macOS wheel says nothing of a Linux one).
    """
    below = [
        f
        for f in files
        if f.settled
        and f.is_wheel == candidate.is_wheel
        and version_key(f.version) < version_key(candidate.version)
    ]
    if not below:
        return None
    tags, platform = _tags(candidate.filename), wheel_platform(candidate.filename)
    return min(
        _newest_release(below),
        key=lambda f: (
            _tags(f.filename) != tags,
            *platform.distance(wheel_platform(f.filename)),
            f.filename,
        ),
    )


def releases_below(versions: Mapping[str, str], candidate: str) -> list[list[str]]:
    """The files ``content_baseline`` may compare ``candidate`` with, as releases, newest first:
    the files of its kind (wheel or sdist) of each lower version (PEP 440-equal versions are one
    release), by filename. ``versions``: every file's version by filename, ``candidate``'s too.

    Whether a file is settled needs its row: walking releases down, the first with a settled
    file holds the baseline, and the files of the others need not be read.
    """
    mine = version_key(versions[candidate])
    wheel = candidate.endswith(".whl")
    by_version: dict[str, list[str]] = {}
    for filename, version in versions.items():
        if filename.endswith(".whl") == wheel:
            by_version.setdefault(version, []).append(filename)
    releases: dict[tuple[int, tuple[Any, ...] | str], list[str]] = {}
    for version, filenames in by_version.items():
        key = version_key(version)
        if key < mine:
            releases.setdefault(key, []).extend(filenames)
    return [releases[key] for key in sorted(releases, reverse=True)]


def _newest_release(files: list[FileView]) -> list[FileView]:
    """The files of the highest version among ``files`` (PEP 440-equal versions are one).

    Versions are compared once per distinct string, not per file: a large project lists
    thousands of files over a few hundred versions.
    """
    versions = {f.version for f in files}
    newest = max(version_key(version) for version in versions)
    release = {version for version in versions if version_key(version) == newest}
    return [f for f in files if f.version in release]


def _tags(filename: str) -> str:
    # PEP 427: name-version(-build)?-python-abi-platform.whl; sdists have none.
    if not filename.endswith(".whl"):
        return ""
    return "-".join(filename.removesuffix(".whl").split("-")[-3:])


def provenance_needed(mode: ProvenanceMode, f: FileView, anchor: FileView | None) -> bool:
    """Whether ``f`` must have current provenance evidence before it can be admitted."""
    if mode == "off":
        return False
    if anchor is not None and f.filename == anchor.filename:
        return True
    return f.open and (mode == "required" or not f.historic or above_anchor(f, anchor))


def historic_needing_provenance(
    mode: ProvenanceMode, historic: list[FileView], anchor: FileView | None
) -> list[FileView]:
    """The files of ``historic`` (all ``FileView.historic``) that ``provenance_needed``.

    Outside ``required`` mode a historic file needs provenance only as the anchor or above
    it, so at or above the anchor's release: the other releases' files, most of a first
    look's history, are not asked one by one.
    """
    if mode == "required":
        near = historic
    elif anchor is None:
        near = []  # nothing is at or above an anchor there is not
    else:
        floor = version_key(anchor.version)
        versions = {f.version for f in historic}
        reach = {v for v in versions if version_key(v) >= floor}
        near = [f for f in historic if f.version in reach]
    return [f for f in near if provenance_needed(mode, f, anchor)]


def provenance_current(f: FileView, pinned: str | None) -> bool:
    """Gathered, final (not "cannot verify now"), and against today's pinned publisher."""
    record = f.provenance
    return (
        record is not None
        and record.get("status") != "unavailable"
        and record.get("pinned") == pinned
    )


def content_needed(f: FileView) -> bool:
    return f.open and not f.historic


def content_current(f: FileView) -> bool:
    """Flags made by this inspector's rules: older ones may have missed what it now holds."""
    record = f.content
    return record is not None and "flags" in record and f.report_current


def provenance_verdict(
    mode: ProvenanceMode,
    f: FileView,
    *,
    pinned: str | None,
    baseline: Baseline | None,
    anchor: FileView | None,
    needed: bool,
) -> Verdict:
    """PEP 740 evidence against the project's mode (docs/admission.md, "Provenance")."""
    if mode == "off":
        return CLEAR
    record = f.provenance
    if record is None or not provenance_current(f, pinned):
        if not needed:
            return CLEAR
        if record is not None and record.get("status") == "unavailable":
            return Verdict(waiting=f"cannot verify provenance now: {record.get('reason')}")
        return Verdict(waiting="provenance not checked yet")
    status, reason = record.get("status"), record.get("reason")
    if status == "failed":
        # A bad attestation is evidence of tampering: never admitted by age.
        return Verdict(rejection=f"provenance verification failed: {reason}")
    if mode == "required":
        if status != "verified":
            return Verdict(hold_reasons=(f"provenance required, but {reason}",))
        return CLEAR
    if (f.historic and not above_anchor(f, anchor)) or (
        baseline is not None and baseline.filename == f.filename
    ):
        return CLEAR
    if status != "verified":
        attested = _attested_before(baseline, anchor)
        if attested is None:
            return CLEAR
        return Verdict(hold_reasons=(f"no verified attestations ({reason}), but {attested}",))
    if baseline is None:
        return CLEAR
    identity = record.get("identity")
    if identity != baseline.identity:
        return Verdict(
            hold_reasons=(
                f"publisher changed to {identity} from {baseline.identity} "
                f"(verified for {baseline.filename})",
            )
        )
    return CLEAR


def _attested_before(baseline: Baseline | None, anchor: FileView | None) -> str | None:
    """What says the project attests its releases: a verified publisher, else the listing."""
    if baseline is not None:
        return f"{baseline.filename} was published with attestations by {baseline.identity}"
    if anchor is not None and anchor.listed:
        return f"upstream lists attestations for {anchor.filename}"
    return None


def content_verdict(f: FileView) -> Verdict:
    """Content flags against the previous admitted release (docs/admission.md, "Content
    inspection")."""
    if not content_needed(f):
        return CLEAR
    record = f.content
    if record is None or not content_current(f):
        error = record.get("error") if record is not None else None
        return Verdict(waiting=f"content not inspected yet{f': {error}' if error else ''}")
    return Verdict(hold_reasons=content_hold_reasons(f.evidence))


def content_hold_reasons(evidence: Mapping[str, Any]) -> tuple[str, ...]:
    """The hold reasons of a file's inspection: its content flags, then the ``hold_on``
    conditions its external scanners matched (none: the content is clear)."""
    flags = tuple(f"content: {flag['text']}" for flag in evidence["content"]["flags"])
    scanners = evidence.get("external")
    return flags + (scanner_rules.hold_reasons(scanners) if isinstance(scanners, Mapping) else ())


def combine(*verdicts: Verdict) -> Verdict:
    objecting = [v for v in verdicts if v is not CLEAR]
    if len(objecting) <= 1:
        return objecting[0] if objecting else CLEAR
    waiting = [v.waiting for v in verdicts if v.waiting]
    return Verdict(
        hold_reasons=tuple(reason for v in verdicts for reason in v.hold_reasons),
        rejection=next((v.rejection for v in verdicts if v.rejection), None),
        waiting="; ".join(waiting) if waiting else None,
    )
