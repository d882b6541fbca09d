"""OSV documents shaped like real ones: malicious-packages reports (MAL-) and PyPI advisories."""

import json
import zipfile
from pathlib import Path
from typing import Any


def malicious(
    osv_id: str,
    project: str,
    *,
    versions: list[str] | None = None,
    ranges: list[dict[str, Any]] | None = None,
    modified: str = "2026-03-24T12:00:00Z",
    summary: str | None = None,
) -> dict[str, Any]:
    """A report as the OpenSSF malicious-packages database publishes it."""
    affected: dict[str, Any] = {
        "package": {"ecosystem": "PyPI", "name": project, "purl": f"pkg:pypi/{project}"}
    }
    if versions is not None:
        affected["versions"] = versions
    if ranges is not None:
        affected["ranges"] = ranges
    return {
        "modified": modified,
        "published": "2026-03-24T10:00:00Z",
        "schema_version": "1.7.4",
        "id": osv_id,
        "summary": summary or f"Malicious code in {project} (PyPI)",
        "details": "\n---\n_-= Per source details. Do not edit below this line.=-_\n\n"
        "Category: MALICIOUS - credential stealer in a .pth file run at interpreter start.\n",
        "affected": [affected],
        "references": [{"type": "WEB", "url": f"https://security.example/reports/{project}"}],
        "credits": [{"name": "Example Research", "type": "FINDER"}],
        "database_specific": {
            "malicious-packages-origins": [
                {
                    "source": "example-research",
                    "sha256": "a41c15f96ec30c93ecb085b355bf3eb2dee03f07694c82b67a58b3ec858883ad",
                    "import_time": "2026-03-24T11:00:00.784806698Z",
                    "modified_time": modified,
                    "versions": versions or [],
                }
            ]
        },
    }


def vulnerability(osv_id: str, project: str, *, introduced: str, fixed: str) -> dict[str, Any]:
    """An ordinary (non-malicious) vulnerability advisory, as the PyPI advisory database has."""
    return {
        "id": osv_id,
        "modified": "2026-01-10T08:00:00Z",
        "published": "2026-01-09T08:00:00Z",
        "aliases": ["CVE-2026-0001"],
        "summary": f"Path traversal in {project}",
        "details": "A crafted archive member name escapes the target directory.",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": project},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": introduced}, {"fixed": fixed}]},
                    {
                        "type": "GIT",
                        "repo": "https://git.example/x",
                        "events": [{"introduced": "0"}],
                    },
                ],
            }
        ],
        "references": [{"type": "ADVISORY", "url": "https://security.example/CVE-2026-0001"}],
        "database_specific": {"cwe_ids": ["CWE-22"]},
    }


def npm_malicious(osv_id: str, name: str) -> dict[str, Any]:
    doc = malicious(osv_id, "placeholder", versions=["1.0.0"])
    doc["affected"] = [{"package": {"ecosystem": "npm", "name": name}, "versions": ["1.0.0"]}]
    return doc


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
    return path


def write_zip(path: Path, members: dict[str, Any]) -> Path:
    """A zip of JSON documents (values) under member names (keys); bytes are stored as given."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, document in members.items():
            data = document if isinstance(document, bytes) else json.dumps(document).encode()
            archive.writestr(name, data)
    return path
