"""The CycloneDX SBOM of what `mirror install` installed: the inventory a responder asks for.

One component per installed file: name, version, sha256, the TUF target path it was verified
as, and the Trusted Publisher identity the mirror verified (PEP 740), where it recorded one.
"""

from dataclasses import dataclass, field
from pathlib import Path

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
