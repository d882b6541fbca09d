"""PEP 740 provenance verification for one distribution file.

The caller fetches the file's provenance object (PEP 740 "Provenance objects") and the file's
sha256, and passes bytes in; nothing here touches the network except an optional, explicit
refresh of Sigstore's trust root (``TrustConfig(offline=False)``).

Why not ``pypi_attestations.Attestation.verify``: it always builds its verifier from the
``trusted_root.json`` in the user's cache directory, trusted as-is when offline. The mirror
must decide its own root of trust, so this module builds a ``sigstore`` ``Verifier`` from a
``TrustedRoot`` it chose and repeats the statement checks ``Attestation.verify`` does after
the signature check (one subject, name, digest, predicate type).

Not done here: deciding what a result means for admission (that is ``mirror.policy``), and
checking the optional ``environment`` cryptographically: no Trusted Publisher certificate
carries it, so it is compared with the index's claim only when a pinned publisher names one.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import pydantic
import sigstore.errors
from cryptography import x509
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from pypi_attestations import (
    Attestation,
    AttestationType,
    CircleCIPublisher,
    Distribution,
    GitHubPublisher,
    GitLabPublisher,
    GooglePublisher,
    Provenance,
    Publisher,
)
from sigstore._internal.tuf import DEFAULT_TUF_URL
from sigstore.models import ClientTrustConfig, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import VerificationPolicy

from mirror.publishers import PinnedPublisher, same_publisher

__all__ = [
    "MAX_PROVENANCE_BYTES",
    "AttestationEvidence",
    "ProvenanceResult",
    "TrustConfig",
    "publisher_identity",
    "shipped_trusted_root",
    "verify_provenance",
]

Status = Literal["verified", "failed", "unavailable"]
PublisherModel = GitHubPublisher | GitLabPublisher | GooglePublisher | CircleCIPublisher
_PUBLISHER_ADAPTER: pydantic.TypeAdapter[PublisherModel] = pydantic.TypeAdapter(Publisher)

# A real provenance object is ~10 KiB per attestation; 1 MiB leaves room for ~100 of them
# while bounding parse and verification work on hostile input.
MAX_PROVENANCE_BYTES = 1024 * 1024

# An online-refreshed trust root is rebuilt after this long, so key rotations reach a
# long-running worker; offline roots are fixed files and are never rebuilt.
ONLINE_REFRESH_INTERVAL = timedelta(hours=24)

_IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
_IN_TOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1"
_PREDICATE_TYPES = frozenset(kind.value for kind in AttestationType)
_OIDC_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
_SOURCE_REPOSITORY_DIGEST = "1.3.6.1.4.1.57264.1.13"
_SOURCE_REPOSITORY_REF = "1.3.6.1.4.1.57264.1.14"


class _Failed(Exception):
    """Internal: the provenance is refused for the reason in ``args[0]``."""


def _policy_for(publisher: PinnedPublisher) -> VerificationPolicy:
    """The Sigstore policy for this identity, as pypi-attestations defines it per kind."""
    return _policy_of(_PUBLISHER_ADAPTER.validate_python(publisher.to_dict()))


def _policy_of(model: PublisherModel) -> VerificationPolicy:
    # `_as_policy` is how `Attestation.verify` turns a publisher into a policy; reusing it
    # keeps the per-kind certificate checks in the library that defines them.
    return model._as_policy()


@dataclass(frozen=True)
class TrustConfig:
    """Which Sigstore root of trust verification uses.

    ``trust_root`` set: that ``trusted_root.json`` file, as-is, never refreshed (``offline`` is
    moot). ``trust_root`` None and ``offline``: the ``trusted_root.json`` shipped inside the
    installed ``sigstore`` package. ``trust_root`` None and not ``offline``: a TUF refresh from
    Sigstore's production repository (signed metadata, bootstrapped from the root.json that
    ``sigstore`` ships); any failure there makes results "unavailable".
    """

    offline: bool = False
    trust_root: Path | None = None


@dataclass(frozen=True)
class AttestationEvidence:
    """What one verified attestation proves, for the review UI and the audit trail."""

    predicate_type: str
    log_index: int | None
    integrated_time: datetime | None
    certificate_identity: str
    certificate_issuer: str | None
    source_ref: str | None
    source_digest: str | None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["integrated_time"] = _iso(self.integrated_time)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttestationEvidence:
        return cls(**{**data, "integrated_time": _from_iso(data.get("integrated_time"))})


@dataclass(frozen=True)
class ProvenanceResult:
    """The outcome of ``verify_provenance``.

    ``publisher`` is the identity the provenance names (``PinnedPublisher.to_dict``); it is
    proven only when ``status == "verified"``. "unavailable" means "cannot tell now, retry",
    never "verified".
    """

    status: Status
    publisher: dict[str, str | None] | None = None
    attestations: tuple[AttestationEvidence, ...] = ()
    verified_at: datetime | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "publisher": self.publisher,
            "attestations": [evidence.to_dict() for evidence in self.attestations],
            "verified_at": _iso(self.verified_at),
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProvenanceResult:
        return cls(
            status=data["status"],
            publisher=data.get("publisher"),
            attestations=tuple(AttestationEvidence.from_dict(a) for a in data["attestations"]),
            verified_at=_from_iso(data.get("verified_at")),
            reason=data.get("reason"),
        )


def publisher_identity(result: ProvenanceResult) -> str:
    """The stable identity string of a *verified* result, for continuity comparisons.

    Raises ``ValueError`` for other results: an unverified claim must not become a baseline.
    """
    if result.status != "verified" or result.publisher is None:
        raise ValueError(f"provenance is {result.status}, not verified")
    return PinnedPublisher.parse(result.publisher).identity


def verify_provenance(
    filename: str,
    sha256: str,
    provenance_json: bytes,
    *,
    expected: PinnedPublisher | None,
    trust: TrustConfig,
    now: datetime,
) -> ProvenanceResult:
    """Verify every attestation in a PEP 740 provenance object against one file.

    Args:
        filename: the distribution's exact filename (the in-toto subject name).
        sha256: hex sha256 of the file's bytes, as the mirror computed or will check it.
        provenance_json: the Integrity API response body.
        expected: the pinned publisher (policy mode "required"); None verifies each bundle
            against the publisher it claims (mode "continuity"), and the caller compares the
            recorded identity with the previous release's.
        trust: the root of trust to verify with.
        now: recorded as ``verified_at``; also ages an online-refreshed trust root.
    """
    publisher: dict[str, str | None] | None = None
    try:
        provenance = _parse(provenance_json)
        dist = _distribution(filename, sha256)
        claimed = _claimed_publisher(provenance)
        publisher = claimed.to_dict()
        if expected is not None:
            _check_pinned(claimed, expected)
        policy = _policy_for(expected or claimed)
        verifier = _verifier(trust, now)
        evidence = tuple(
            _verify_attestation(verifier, policy, attestation, dist)
            for bundle in provenance.attestation_bundles
            for attestation in bundle.attestations
        )
    except _Failed as failure:
        return ProvenanceResult("failed", publisher=publisher, reason=str(failure))
    except _TrustUnavailableError as unavailable:
        return ProvenanceResult("unavailable", publisher=publisher, reason=str(unavailable))
    return ProvenanceResult("verified", publisher, evidence, verified_at=now)


def _parse(provenance_json: bytes) -> Provenance:
    if len(provenance_json) > MAX_PROVENANCE_BYTES:
        raise _Failed(
            f"provenance too large: {len(provenance_json)} bytes > {MAX_PROVENANCE_BYTES}"
        )
    try:
        provenance = Provenance.model_validate_json(provenance_json)
    except pydantic.ValidationError as error:
        raise _Failed(_describe_validation_error(error)) from error
    # PEP 740 requires one or more bundles, each with one or more attestations; an empty
    # object must not pass as "all (zero) attestations verified".
    if not provenance.attestation_bundles or not all(
        bundle.attestations for bundle in provenance.attestation_bundles
    ):
        raise _Failed("provenance has an empty attestation bundle list or bundle")
    return provenance


def _describe_validation_error(error: pydantic.ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    if first["type"] == "union_tag_invalid":
        return f"malformed provenance: unknown publisher kind {first.get('ctx', {}).get('tag')!r}"
    where = ".".join(str(part) for part in first["loc"]) or "object"
    return f"malformed provenance: {where}: {first['msg']}"


def _distribution(filename: str, sha256: str) -> Distribution:
    try:
        return Distribution(name=filename, digest=sha256.lower())
    except pydantic.ValidationError as error:
        raise _Failed(f"invalid distribution filename: {filename!r}") from error


def _claimed_publisher(provenance: Provenance) -> PinnedPublisher:
    """The one publisher all bundles name (an unproven claim until verified)."""
    claims = [
        PinnedPublisher.from_fields(bundle.publisher.model_dump())
        for bundle in provenance.attestation_bundles
    ]
    # PEP 740 has one bundle per signing identity; several identities cannot be compared
    # with one previous publisher, so they are refused rather than guessed between.
    if any(not same_publisher(claims[0], other) for other in claims[1:]):
        names = ", ".join(sorted({claim.identity for claim in claims}))
        raise _Failed(f"provenance names more than one publisher: {names}")
    return claims[0]


def _check_pinned(claimed: PinnedPublisher, expected: PinnedPublisher) -> None:
    if not same_publisher(claimed, expected):
        raise _Failed(
            f"provenance publisher {claimed.identity} does not match pinned {expected.identity}"
        )
    if expected.environment is not None and claimed.environment != expected.environment:
        raise _Failed(
            f"provenance environment {claimed.environment!r} does not match pinned"
            f" {expected.environment!r}"
        )


class _TrustUnavailableError(Exception):
    """Internal: no usable root of trust right now (refresh, network or file problem)."""


_verifier_lock = threading.Lock()
_verifiers: dict[TrustConfig, tuple[Verifier, datetime]] = {}


def _verifier(trust: TrustConfig, now: datetime) -> Verifier:
    """A cached ``Verifier`` per trust config (building one reads and parses the root)."""
    with _verifier_lock:
        cached = _verifiers.get(trust)
        online = trust.trust_root is None and not trust.offline
        if cached and not (online and now - cached[1] >= ONLINE_REFRESH_INTERVAL):
            return cached[0]
        try:
            verifier = Verifier(trusted_root=_trusted_root(trust))
        except Exception as error:  # any failure to get a root means "retry later"
            raise _TrustUnavailableError(
                f"trust root unavailable: {type(error).__name__}: {error}"
            ) from error
        _verifiers[trust] = (verifier, now)
        return verifier


def _trusted_root(trust: TrustConfig) -> TrustedRoot:
    if trust.trust_root is not None:
        return TrustedRoot.from_file(str(trust.trust_root))
    if trust.offline:
        return TrustedRoot.from_file(str(shipped_trusted_root()))
    return ClientTrustConfig.production(offline=False).trusted_root


def shipped_trusted_root() -> Path:
    """The production ``trusted_root.json`` inside the installed ``sigstore`` package."""
    # The same place sigstore's own `read_embedded` looks; sigstore is installed unzipped.
    store = importlib.resources.files("sigstore") / "_store" / quote(DEFAULT_TUF_URL, safe="")
    return Path(str(store / "trusted_root.json"))


def _verify_attestation(
    verifier: Verifier, policy: VerificationPolicy, attestation: Attestation, dist: Distribution
) -> AttestationEvidence:
    try:
        # PEP 740 "Attestation objects": the signature, certificate chain, transparency log
        # entry and the certificate's identity (the policy) are checked by sigstore.
        payload_type, payload = verifier.verify_dsse(attestation.to_bundle(), policy)
    except sigstore.errors.MetadataError as error:
        # The trust root lacks keys it needs: our configuration's fault, not the file's.
        raise _TrustUnavailableError(f"trust root unusable: {error}") from error
    except (sigstore.errors.Error, ValueError) as error:
        raise _Failed(str(error)) from error
    if payload_type != _IN_TOTO_PAYLOAD_TYPE:
        raise _Failed(f"expected an in-toto payload, got {payload_type}")
    predicate_type = _check_statement(payload, dist)
    return _evidence(attestation, predicate_type)


def _check_statement(payload: bytes, dist: Distribution) -> str:
    """The statement checks of ``Attestation.verify``, with its messages; the predicate type."""
    try:
        statement = json.loads(payload)
        subjects = statement["subject"]
        predicate_type = statement["predicateType"]
    except (ValueError, TypeError, KeyError) as error:
        raise _Failed(f"invalid statement: {error}") from error
    if statement.get("_type") != _IN_TOTO_STATEMENT_V1:
        raise _Failed(f"invalid statement: _type is not {_IN_TOTO_STATEMENT_V1}")
    # PEP 740: an attestation's statement has exactly one subject, the distribution.
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise _Failed("too many subjects in statement (must be exactly one)")
    subject = subjects[0]
    name = subject.get("name")
    if not isinstance(name, str) or not name:
        raise _Failed("invalid subject: missing name")
    # Names are compared parsed, so wheel tag order and name normalisation do not matter.
    if _parsed_filename(name) != _parsed_filename(dist.name):
        raise _Failed(f"subject does not match distribution name: {name} != {dist.name}")
    digest = subject.get("digest")
    if not isinstance(digest, dict) or digest.get("sha256") != dist.digest:
        raise _Failed("subject does not match distribution digest")
    if not isinstance(predicate_type, str) or predicate_type not in _PREDICATE_TYPES:
        raise _Failed(f"unknown attestation type: {predicate_type}")
    return predicate_type


def _parsed_filename(name: str) -> object:
    try:
        if name.endswith(".whl"):
            return parse_wheel_filename(name)
        if name.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(name)
    except (InvalidWheelFilename, InvalidSdistFilename) as error:
        raise _Failed(f"invalid subject: {error}") from error
    raise _Failed(f"invalid subject: unknown distribution format: {name}")


def _evidence(attestation: Attestation, predicate_type: str) -> AttestationEvidence:
    entry = attestation.verification_material.transparency_entries[0]
    certificate = x509.load_der_x509_certificate(attestation.verification_material.certificate)
    claims = attestation.certificate_claims
    integrated = entry.get("integratedTime")
    log_index = entry.get("logIndex")
    return AttestationEvidence(
        predicate_type=predicate_type,
        log_index=int(log_index) if log_index is not None else None,
        integrated_time=datetime.fromtimestamp(int(integrated), UTC) if integrated else None,
        certificate_identity=_san(certificate),
        certificate_issuer=claims.get(_OIDC_ISSUER_V2),
        source_ref=claims.get(_SOURCE_REPOSITORY_REF),
        source_digest=claims.get(_SOURCE_REPOSITORY_DIGEST),
    )


def _san(certificate: x509.Certificate) -> str:
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    values = [str(n.value) for n in names]
    return ", ".join(values)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
