"""PEP 740 verification against real Sigstore attestations (shared/fixtures/pep740)."""

import hashlib
import json
import shutil
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypi_attestations import AttestationType
from sigstore.errors import TUFError
from sigstore.models import ClientTrustConfig, TrustedRoot

from mirror.checks import provenance
from mirror.checks.provenance import (
    MAX_PROVENANCE_BYTES,
    ProvenanceResult,
    TrustConfig,
    publisher_identity,
    shipped_trusted_root,
    verify_provenance,
)
from mirror.publishers import PinnedPublisher, same_publisher

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
OFFLINE = TrustConfig(offline=True)
SDIST = "pypi_attestations-0.0.19.tar.gz"
GITHUB = PinnedPublisher.parse(
    {"kind": "github", "repository": "trailofbits/pypi-attestations", "workflow": "release.yml"}
)
PRODUCTION_CASES = [
    (SDIST, "GitHub:trailofbits/pypi-attestations@release.yml"),
    (
        "pypi_attestation_models-0.0.4a2.tar.gz",
        "GitHub:trailofbits/pypi-attestation-models@release.yml",
    ),
    (
        "gitlab_oidc_project-0.0.3.tar.gz",
        "GitLab:facutuesca/gitlab-oidc-project@.gitlab-ci.yml",
    ),
]


@pytest.fixture(autouse=True)
def _isolated(sigstore_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test starts without cached verifiers, so trust-root outcomes cannot leak between.
    monkeypatch.setattr(provenance, "_verifiers", {})


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def provenance_of(pep740: Path, filename: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((pep740 / f"{filename}.provenance.json").read_bytes())
    return body


def encode(obj: object) -> bytes:
    return json.dumps(obj).encode()


def verify(
    pep740: Path,
    filename: str = SDIST,
    *,
    dist: Path | None = None,
    body: bytes | None = None,
    expected: PinnedPublisher | None = GITHUB,
    trust: TrustConfig = OFFLINE,
    now: datetime = NOW,
) -> ProvenanceResult:
    """Verify ``filename``'s recorded provenance (or ``body``) against its bytes (or ``dist``)."""
    digest = sha256_of(dist or pep740 / filename)
    raw = body if body is not None else (pep740 / f"{filename}.provenance.json").read_bytes()
    return verify_provenance(filename, digest, raw, expected=expected, trust=trust, now=now)


# --- the real attestations verify ---------------------------------------------------------


@pytest.mark.parametrize(("filename", "identity"), PRODUCTION_CASES)
def test_production_attestations_verify_offline_with_the_pinned_publisher(
    pep740: Path, filename: str, identity: str
) -> None:
    result = verify(pep740, filename, expected=PinnedPublisher.parse(identity))

    assert (result.status, result.reason) == ("verified", None)
    assert publisher_identity(result) == identity
    assert result.verified_at == NOW


@pytest.mark.parametrize(("filename", "identity"), PRODUCTION_CASES)
def test_continuity_mode_verifies_and_records_the_claimed_publisher(
    pep740: Path, filename: str, identity: str
) -> None:
    result = verify(pep740, filename, expected=None)

    assert result.status == "verified"
    assert publisher_identity(result) == identity


def test_evidence_names_the_log_entry_and_the_certificate(pep740: Path) -> None:
    result = verify(pep740)

    assert result.publisher == {
        "kind": "GitHub",
        "repository": "trailofbits/pypi-attestations",
        "workflow": "release.yml",
        "environment": None,
    }
    (evidence,) = result.attestations
    assert evidence.predicate_type == AttestationType.PYPI_PUBLISH_V1.value
    assert evidence.log_index == 153454663
    assert evidence.integrated_time is not None
    assert evidence.integrated_time.date().isoformat() == "2024-12-04"
    assert evidence.certificate_identity == (
        "https://github.com/trailofbits/pypi-attestations/.github/workflows/release.yml"
        "@refs/tags/v0.0.19"
    )
    assert evidence.certificate_issuer == "https://token.actions.githubusercontent.com"
    assert evidence.source_ref == "refs/tags/v0.0.19"
    assert evidence.source_digest == "08802efe1f8e5fec4ad842d6b8ce97656092ee72"


def test_every_attestation_of_a_bundle_is_verified(pep740: Path) -> None:
    body = provenance_of(pep740, SDIST)
    slsa = json.loads((pep740 / f"{SDIST}.slsa.attestation").read_bytes())
    body["attestation_bundles"][0]["attestations"].append(slsa)

    result = verify(pep740, body=encode(body))

    assert result.status == "verified"
    assert [a.predicate_type for a in result.attestations] == [
        AttestationType.PYPI_PUBLISH_V1.value,
        AttestationType.SLSA_PROVENANCE_V1.value,
    ]


def test_result_survives_a_json_round_trip(pep740: Path) -> None:
    result = verify(pep740)

    assert ProvenanceResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


# --- the file does not match --------------------------------------------------------------


@pytest.mark.parametrize("expected", [GITHUB, None])
def test_tampered_file_fails_on_the_digest(pep740: Path, expected: PinnedPublisher | None) -> None:
    result = verify(pep740, dist=pep740 / "tampered" / SDIST, expected=expected)

    assert result.status == "failed"
    assert result.reason == "subject does not match distribution digest"
    assert result.attestations == ()
    assert result.verified_at is None


def test_same_bytes_under_another_filename_fail_on_the_name(pep740: Path) -> None:
    result = verify_provenance(
        "pypi_attestations-0.0.20.tar.gz",
        sha256_of(pep740 / SDIST),
        (pep740 / f"{SDIST}.provenance.json").read_bytes(),
        expected=GITHUB,
        trust=OFFLINE,
        now=NOW,
    )

    assert result.status == "failed"
    assert result.reason is not None
    assert result.reason.startswith("subject does not match distribution name")


def test_a_filename_that_is_no_distribution_fails(pep740: Path) -> None:
    result = verify_provenance(
        "setup.exe",
        sha256_of(pep740 / SDIST),
        (pep740 / f"{SDIST}.provenance.json").read_bytes(),
        expected=GITHUB,
        trust=OFFLINE,
        now=NOW,
    )

    assert (result.status, result.reason) == (
        "failed",
        "invalid distribution filename: 'setup.exe'",
    )


# --- the publisher does not match ---------------------------------------------------------


@pytest.mark.parametrize(
    "pinned",
    [
        "github:trailofbits/pypi-attestations@publish.yml",  # wrong workflow
        "github:evil/fork@release.yml",  # wrong repository
        "github:trailofbits/pypi-attestation-models@release.yml",
        "gitlab:trailofbits/pypi-attestations@release.yml",  # wrong kind
        "google:release@example.test",
    ],
)
def test_a_different_pinned_publisher_fails(pep740: Path, pinned: str) -> None:
    result = verify(pep740, expected=PinnedPublisher.parse(pinned))

    assert result.status == "failed"
    assert result.reason is not None
    assert "does not match pinned" in result.reason
    assert result.publisher is not None  # the claim is kept as evidence, unproven


def test_a_pinned_environment_must_match_the_claim(pep740: Path) -> None:
    pinned = PinnedPublisher.parse("github:trailofbits/pypi-attestations@release.yml#pypi")

    result = verify(pep740, expected=pinned)

    assert result.status == "failed"
    assert result.reason == "provenance environment None does not match pinned 'pypi'"


REWRITES = [
    ({"repository": "evil/fork"}, "OIDCSourceRepositoryURI does not match"),
    ({"workflow": "wrong.yml"}, "does not match expected Trusted Publisher"),
    (
        {"kind": "GitLab", "workflow": None, "workflow_filepath": ".gitlab-ci.yml"},
        "OIDCIssuerV2 does not match",
    ),
]


def rewritten(pep740: Path, change: dict[str, Any]) -> tuple[bytes, PinnedPublisher]:
    body = provenance_of(pep740, SDIST)
    publisher = {**body["attestation_bundles"][0]["publisher"], **change}
    publisher = {key: value for key, value in publisher.items() if value is not None}
    body["attestation_bundles"][0]["publisher"] = publisher
    return encode(body), PinnedPublisher.parse(publisher)


@pytest.mark.parametrize(("change", "reason"), REWRITES)
def test_rewritten_publisher_fails_in_continuity_mode(
    pep740: Path, change: dict[str, Any], reason: str
) -> None:
    body, _ = rewritten(pep740, change)

    result = verify(pep740, body=body, expected=None)

    assert result.status == "failed"
    assert result.reason is not None
    assert reason in result.reason


@pytest.mark.parametrize(("change", "reason"), REWRITES)
def test_rewritten_publisher_fails_even_when_pinned_to_the_rewrite(
    pep740: Path, change: dict[str, Any], reason: str
) -> None:
    # The claim matches our pin, but the certificate proves another identity.
    body, claimed = rewritten(pep740, change)

    result = verify(pep740, body=body, expected=claimed)

    assert result.status == "failed"
    assert result.reason is not None
    assert reason in result.reason


def test_rewritten_publisher_fails_against_the_true_pin(pep740: Path) -> None:
    body, _ = rewritten(pep740, {"repository": "evil/fork"})

    result = verify(pep740, body=body, expected=GITHUB)

    assert result.status == "failed"
    assert result.reason == (
        "provenance publisher GitHub:evil/fork@release.yml does not match pinned "
        "GitHub:trailofbits/pypi-attestations@release.yml"
    )


def test_bundles_from_two_publishers_fail(pep740: Path) -> None:
    body = provenance_of(pep740, SDIST)
    other = provenance_of(pep740, "pypi_attestation_models-0.0.4a2.tar.gz")
    body["attestation_bundles"] += other["attestation_bundles"]

    result = verify(pep740, body=encode(body), expected=None)

    assert result.status == "failed"
    assert result.reason is not None
    assert result.reason.startswith("provenance names more than one publisher")


def test_staging_attestation_fails_on_the_production_trust_root(pep740: Path) -> None:
    result = verify(pep740, "rfc8785-0.1.2-py3-none-any.whl", expected=None)

    assert result.status == "failed"
    assert result.reason is not None
    assert "failed to build timestamp certificate chain" in result.reason


# --- the provenance object is malformed ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "malformed provenance: object: Invalid JSON"),
        (b"[]", "malformed provenance: object: Input should be an object"),
        (b'{"version": 2, "attestation_bundles": []}', "malformed provenance: version"),
        (b'{"version": 1}', "malformed provenance: attestation_bundles: Field required"),
        (b'{"version": 1, "attestation_bundles": []}', "provenance has an empty"),
    ],
)
def test_malformed_provenance_fails(pep740: Path, body: bytes, reason: str) -> None:
    result = verify(pep740, body=body)

    assert result.status == "failed"
    assert result.reason is not None
    assert result.reason.startswith(reason)


def test_a_bundle_without_attestations_fails(pep740: Path) -> None:
    body = provenance_of(pep740, SDIST)
    body["attestation_bundles"][0]["attestations"] = []

    result = verify(pep740, body=encode(body))

    assert (result.status, result.reason) == (
        "failed",
        "provenance has an empty attestation bundle list or bundle",
    )


def test_unknown_publisher_kind_fails(pep740: Path) -> None:
    body = provenance_of(pep740, SDIST)
    body["attestation_bundles"][0]["publisher"]["kind"] = "Jenkins"

    result = verify(pep740, body=encode(body), expected=None)

    assert (result.status, result.reason) == (
        "failed",
        "malformed provenance: unknown publisher kind 'Jenkins'",
    )


def test_oversized_provenance_fails_before_parsing(pep740: Path) -> None:
    result = verify(pep740, body=b" " * (MAX_PROVENANCE_BYTES + 1))

    assert result.status == "failed"
    assert result.reason == f"provenance too large: {MAX_PROVENANCE_BYTES + 1} bytes > 1048576"


def test_a_corrupt_certificate_fails(pep740: Path) -> None:
    body = provenance_of(pep740, SDIST)
    body["attestation_bundles"][0]["attestations"][0]["verification_material"]["certificate"] = (
        "AAAA"
    )

    result = verify(pep740, body=encode(body))

    assert (result.status, result.reason) == ("failed", "invalid X.509 certificate")


# --- whose trust root ---------------------------------------------------------------------


def sigstore_staging_root() -> Path:
    # sigstore ships its staging instance's root beside the production one.
    for path in shipped_trusted_root().parent.parent.glob("*/trusted_root.json"):
        if path.parent != shipped_trusted_root().parent:
            return path
    raise AssertionError("sigstore ships no staging trusted_root.json")


def test_shipped_trusted_root_is_sigstores_production_root() -> None:
    root = TrustedRoot.from_file(str(shipped_trusted_root()))

    assert root.get_fulcio_certs()


def test_a_configured_trust_root_is_the_one_used(pep740: Path, tmp_path: Path) -> None:
    staging = tmp_path / "staging_root.json"
    shutil.copy(sigstore_staging_root(), staging)

    result = verify(pep740, trust=TrustConfig(offline=True, trust_root=staging))

    assert result.status == "failed"
    assert result.reason is not None
    assert "certificate chain" in result.reason


def test_a_trust_root_lacking_keys_makes_results_unavailable(pep740: Path, tmp_path: Path) -> None:
    root = json.loads(shipped_trusted_root().read_bytes())
    root["ctlogs"] = []
    broken = tmp_path / "no_ct_logs.json"
    broken.write_text(json.dumps(root))

    result = verify(pep740, trust=TrustConfig(offline=True, trust_root=broken))

    assert result.status == "unavailable"
    assert result.reason == "trust root unusable: CTFE keys not found in trusted root"


def test_a_missing_trust_root_file_makes_results_unavailable(pep740: Path, tmp_path: Path) -> None:
    result = verify(pep740, trust=TrustConfig(offline=True, trust_root=tmp_path / "nope.json"))

    assert result.status == "unavailable"
    assert result.reason is not None
    assert result.reason.startswith("trust root unavailable: FileNotFoundError")


def test_a_root_planted_in_sigstores_user_cache_is_ignored(
    pep740: Path, sigstore_dirs: Path
) -> None:
    # Plain offline sigstore trusts this cache file as-is; the mirror must not.
    store = shipped_trusted_root().parent.name
    planted = sigstore_dirs / "sigstore-python" / "tuf" / store / "trusted_root.json"
    planted.parent.mkdir(parents=True)
    shutil.copy(sigstore_staging_root(), planted)

    assert verify(pep740).status == "verified"


def test_a_failing_online_refresh_is_unavailable(
    pep740: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refresh_fails(offline: bool = False) -> ClientTrustConfig:
        raise TUFError("Failed to refresh TUF metadata")

    monkeypatch.setattr(ClientTrustConfig, "production", refresh_fails)

    result = verify(pep740, trust=TrustConfig(offline=False))

    assert result.status == "unavailable"
    assert result.reason == "trust root unavailable: TUFError: Failed to refresh TUF metadata"


def test_no_network_for_an_online_refresh_is_unavailable(
    pep740: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)

    result = verify(pep740, trust=TrustConfig(offline=False))

    assert result.status == "unavailable"
    assert result.reason is not None
    assert result.reason.startswith("trust root unavailable: TUFError")


def test_an_online_root_is_cached_and_refreshed_daily(
    pep740: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refreshes: list[bool] = []
    shipped = ClientTrustConfig.production(offline=True)

    def refresh(offline: bool = False) -> ClientTrustConfig:
        refreshes.append(offline)
        return shipped

    monkeypatch.setattr(ClientTrustConfig, "production", refresh)
    online = TrustConfig(offline=False)

    for hours in (0, 1, 23, 24):
        assert verify(pep740, trust=online, now=NOW + timedelta(hours=hours)).status == "verified"

    assert refreshes == [False, False]


def test_an_offline_verifier_is_built_once(pep740: Path, tmp_path: Path) -> None:
    root = tmp_path / "root.json"
    shutil.copy(shipped_trusted_root(), root)
    trust = TrustConfig(offline=True, trust_root=root)

    assert verify(pep740, trust=trust).status == "verified"
    root.write_text("{}")  # a rebuild would now fail

    assert verify(pep740, trust=trust).status == "verified"


# --- publishers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        (
            "GitHub:owner/repo@release.yml#pypi",
            {"repository": "owner/repo", "workflow": "release.yml", "environment": "pypi"},
        ),
        (
            "gitlab:group/sub/project@ci/release.yml",
            {"repository": "group/sub/project", "workflow_filepath": "ci/release.yml"},
        ),
        ("google:builder@example.test", {"email": "builder@example.test"}),
        ("CircleCI:proj-1/pipe-2", {"project_id": "proj-1", "pipeline_definition_id": "pipe-2"}),
    ],
)
def test_publisher_strings_parse(text: str, fields: dict[str, str]) -> None:
    pinned = PinnedPublisher.parse(text)

    assert {k: v for k, v in pinned.to_dict().items() if v is not None and k != "kind"} == fields
    assert PinnedPublisher.parse(pinned.identity) == PinnedPublisher.parse(text.split("#")[0])


def test_publisher_tables_parse() -> None:
    pinned = PinnedPublisher.parse(
        {
            "kind": "github",
            "repository": "owner/repo",
            "workflow": "release.yml",
            "environment": "pypi",
        }
    )

    assert pinned == PinnedPublisher(
        kind="GitHub", repository="owner/repo", workflow="release.yml", environment="pypi"
    )
    assert pinned.identity == "GitHub:owner/repo@release.yml"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("jenkins:owner/repo@x", "unknown publisher kind 'jenkins'"),
        ({"kind": "bitbucket"}, "unknown publisher kind 'bitbucket'"),
        ("owner/repo", "is not KIND:IDENTITY"),
        ("github:owner/repo", "GitHub publisher needs workflow"),
        ({"kind": "gitlab", "repository": "a/b"}, "GitLab publisher needs workflow_filepath"),
        ({"kind": "github", "repository": "a/b", "workflow_file": "x"}, "does not take"),
        ({"kind": "github", "repository": "a/b", "workflow": 1}, "must be a string"),
        ("github:a/b@.github/workflows/release.yml", "a file name such as release.yml"),
    ],
)
def test_bad_publisher_config_is_refused(value: str | dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PinnedPublisher.parse(value)


def test_same_publisher_ignores_the_unsigned_environment() -> None:
    plain = PinnedPublisher.parse("github:owner/repo@release.yml")

    assert same_publisher(plain, PinnedPublisher.parse("github:owner/repo@release.yml#pypi"))
    assert not same_publisher(plain, PinnedPublisher.parse("github:owner/repo@other.yml"))
    assert not same_publisher(plain, PinnedPublisher.parse("gitlab:owner/repo@release.yml"))


def test_publisher_identity_refuses_an_unverified_result(pep740: Path) -> None:
    failed = verify(pep740, dist=pep740 / "tampered" / SDIST)

    with pytest.raises(ValueError, match="provenance is failed, not verified"):
        publisher_identity(failed)
