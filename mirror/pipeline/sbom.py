"""The CycloneDX SBOM of what `mirror install` installed: the inventory a responder asks for.

One component per installed file: name, version, sha256, the TUF target path it was verified
as, the Trusted Publisher identity the mirror verified (PEP 740), where it recorded one: read
from the mirror's copy of the file's provenance object, itself a TUF target; and the target
path and sha256 of the mirror's signed admission record of the file (docs/tuf.md, "Admission
records"), which ``mirror verify-sbom`` checks again later. The mirror's root URL (without
credentials) is a property of the SBOM's metadata.
"""

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot5
from packageurl import PackageURL

from mirror.intoto import admitted_subject

PROPERTY_PREFIX = "signed-mirror"
TARGET_PROPERTY = f"{PROPERTY_PREFIX}:tuf-target"
FILENAME_PROPERTY = f"{PROPERTY_PREFIX}:filename"
RECORD_PROPERTY = f"{PROPERTY_PREFIX}:admission-record"
RECORD_SHA256_PROPERTY = f"{PROPERTY_PREFIX}:admission-record:sha256"
MIRROR_PROPERTY = f"{PROPERTY_PREFIX}:mirror"


@dataclass(frozen=True)
class InstalledFile:
    project: str
    version: str
    filename: str
    sha256: str
    target_path: str
    publishers: list[dict[str, str]] = field(default_factory=list)
    record_path: str | None = None
    record_sha256: str | None = None


def with_record(item: InstalledFile, record_path: str, data: bytes) -> InstalledFile:
    """``item`` with its admission record (verified bytes of the TUF target ``record_path``).

    Raises:
        ValueError: the record is malformed, did not pass, or is about other bytes.
    """
    name, sha256 = admitted_subject(data)
    if (name, sha256) != (item.filename, item.sha256):
        raise ValueError(f"the admission record is about {name} (sha256 {sha256})")
    return replace(item, record_path=record_path, record_sha256=hashlib.sha256(data).hexdigest())


def publishers_in(provenance: Any) -> list[dict[str, str]]:
    """The Trusted Publisher identities a PEP 740 provenance object names, one per bundle."""
    bundles = provenance.get("attestation_bundles") if isinstance(provenance, dict) else None
    found = []
    for bundle in bundles if isinstance(bundles, list) else []:
        publisher = bundle.get("publisher") if isinstance(bundle, dict) else None
        if isinstance(publisher, dict):
            found.append({str(k): str(v) for k, v in publisher.items() if v is not None})
    return found


def component(item: InstalledFile) -> Component:
    properties = [
        Property(name=TARGET_PROPERTY, value=item.target_path),
        Property(name=FILENAME_PROPERTY, value=item.filename),
    ]
    if item.record_path and item.record_sha256:
        properties.append(Property(name=RECORD_PROPERTY, value=item.record_path))
        properties.append(Property(name=RECORD_SHA256_PROPERTY, value=item.record_sha256))
    for publisher in item.publishers:
        for key, value in sorted(publisher.items()):
            properties.append(Property(name=f"{PROPERTY_PREFIX}:publisher:{key}", value=value))
    return Component(
        type=ComponentType.LIBRARY,
        name=item.project,
        version=item.version,
        bom_ref=f"{item.project}=={item.version}:{item.filename}",
        purl=PackageURL(
            "pypi", name=item.project, version=item.version, qualifiers={"file_name": item.filename}
        ),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=item.sha256)],
        properties=properties,
    )


def write_sbom(path: Path, installed: list[InstalledFile], mirror_url: str | None = None) -> None:
    """Write the SBOM; ``mirror_url``: the mirror's root, credentials left out."""
    bom = Bom(components=[component(item) for item in installed])
    if mirror_url:
        bom.metadata.properties.add(Property(name=MIRROR_PROPERTY, value=mirror_url))
    path.write_text(JsonV1Dot5(bom).output_as_string(indent=2))
