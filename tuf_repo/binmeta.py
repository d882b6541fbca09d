"""A hash bin's signed metadata kept as parsed JSON, and the canonical bytes
that signatures cover.

At 100k targets a bin holds about 400 targets. python-tuf's ``Metadata``
builds a ``TargetFile`` per target to read a bin and a dict per target to
write it back, which was most of a publish's time; a bin here stays the dict
``json.loads`` returned, and a publish edits its ``targets`` in place.
Other roles are small and keep python-tuf's objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from securesystemslib.formats import encode_canonical
from tuf.api.metadata import Targets

from tuf_repo.errors import RepositoryStateError

# python-tuf's format for "expires" (Signed._common_fields_to_dict).
EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

TargetEntries = dict[str, dict[str, Any]]


def canonical(signed: dict[str, Any]) -> tuple[bytes, bool]:
    """Return the canonical JSON bytes of a ``signed`` dict, which signatures
    cover, and whether they are also valid JSON.

    ``json.dumps`` with sorted keys and no whitespace produces the same bytes
    as securesystemslib's pure-Python ``encode_canonical`` (what python-tuf's
    ``CanonicalJSONSerializer`` and ``Metadata.sign`` use) unless a string
    needs escaping beyond quote and backslash, and is about ten times faster.
    Any backslash in the output sends the dict through the reference encoder
    instead; its output is not JSON then (canonical JSON leaves control
    characters, e.g. the newlines of a PEM public key, unescaped). Metadata
    holds no floats, whose forms would differ.
    """
    text = json.dumps(signed, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if "\\" in text:
        return encode_canonical(signed).encode(), False
    return text.encode(), True


def metadata_bytes(
    signatures: list[dict[str, Any]], signed: dict[str, Any], payload: bytes, payload_is_json: bool
) -> bytes:
    """Return the stored file: compact JSON with sorted keys, as python-tuf's
    ``JSONSerializer(compact=True)`` writes it. ``payload`` and
    ``payload_is_json`` are what ``canonical(signed)`` returned."""
    if not payload_is_json:
        document = {"signatures": signatures, "signed": signed}
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    # Splice the payload instead of serialising `signed` a second time;
    # "signatures" sorts before "signed", so this is the same compact sorted
    # form.
    encoded = json.dumps(signatures, sort_keys=True, separators=(",", ":"))
    return b'{"signatures":' + encoded.encode() + b',"signed":' + payload + b"}"


@dataclass
class BinMetadata:
    """The ``signed`` part of one bin, as JSON-shaped data.

    ``targets`` maps each target path to its JSON entry
    (``{"length": n, "hashes": {"sha256": hex}}``).
    """

    signed: dict[str, Any]

    @classmethod
    def new(cls, now: datetime) -> BinMetadata:
        return cls(Targets(expires=now).to_dict())

    @classmethod
    def from_bytes(cls, data: bytes, name: str) -> BinMetadata:
        """Parse a stored bin, checking the fields this library relies on.

        Raises:
            RepositoryStateError: not a bin this library could have written.
        """
        try:
            signed = json.loads(data)["signed"]
            valid = (
                signed["_type"] == Targets.type
                and "delegations" not in signed
                and isinstance(signed["version"], int)
                and isinstance(signed["targets"], dict)
            )
            datetime.strptime(signed["expires"], EXPIRES_FORMAT)
        except (ValueError, KeyError, TypeError) as e:
            raise RepositoryStateError(f"{name} is not valid bin metadata: {e!r}") from e
        if not valid:
            raise RepositoryStateError(f"{name} is not valid bin metadata")
        return cls(signed)

    @property
    def targets(self) -> TargetEntries:
        entries: TargetEntries = self.signed["targets"]
        return entries

    @property
    def version(self) -> int:
        version: int = self.signed["version"]
        return version

    @property
    def expires(self) -> datetime:
        return datetime.strptime(self.signed["expires"], EXPIRES_FORMAT).replace(tzinfo=UTC)

    def set_version(self, version: int, expires: datetime) -> None:
        self.signed["version"] = version
        self.signed["expires"] = expires.astimezone(UTC).strftime(EXPIRES_FORMAT)
