"""The CycloneDX SBOM of what `mirror install` installed: the inventory a responder asks for.

One component per installed file: name, version, sha256, the TUF target path it was verified
as, and the Trusted Publisher identity the mirror verified (PEP 740), where it recorded one: read
from the mirror's copy of the file's provenance object, itself a TUF target.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot5
from packageurl import PackageURL

PROPERTY_PREFIX = "signed-mirror"


@dataclass(frozen=True)
class InstalledFile:
    project: str
    version: str
    filename: str
    sha256: str
    target_path: str
    publishers: list[dict[str, str]] = field(default_factory=list)


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
        Property(name=f"{PROPERTY_PREFIX}:tuf-target", value=item.target_path),
        Property(name=f"{PROPERTY_PREFIX}:filename", value=item.filename),
    ]
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


def write_sbom(path: Path, installed: list[InstalledFile]) -> None:
    bom = Bom(components=[component(item) for item in installed])
    path.write_text(JsonV1Dot5(bom).output_as_string(indent=2))
