"""What every input of `mirror install` comes down to: pins, each with the files a lock names.

A requirements file pins a version and perhaps some hashes; a lock (``pylock.toml``,
``uv.lock``, ``poetry.lock``) also names each file with its sha256, and a ``pylock.toml`` may
list the publisher identities its files must be attested by.
"""

from dataclasses import dataclass

from mirror.errors import MirrorError


class RequirementsError(MirrorError):
    """The requirements file or lock is unreadable, malformed or not fully pinned."""


@dataclass(frozen=True)
class LockedFile:
    filename: str
    sha256: str


@dataclass(frozen=True)
class Identity:
    """A publisher identity a lock names: ``kind`` plus the fields that kind is matched on."""

    kind: str
    fields: tuple[tuple[str, str], ...]

    def matches(self, publisher: dict[str, str]) -> bool:
        """True when ``publisher`` (as the mirror verified it) has this kind and every field
        the lock names; a field the lock leaves out is not compared."""
        if publisher.get("kind", "").lower() != self.kind.lower():
            return False
        return all(publisher.get(key) == value for key, value in self.fields)

    def __str__(self) -> str:
        return " ".join([self.kind, *(f"{key}={value}" for key, value in self.fields)])


@dataclass(frozen=True)
class Pin:
    """One pinned requirement, as the file states it."""

    project: str
    version: str
    extras: tuple[str, ...]
    hashes: frozenset[str]
    line: int  # in a requirements file; 0 in a lock
    files: tuple[LockedFile, ...] = ()  # a lock's files for this package: the only candidates
    identities: tuple[Identity, ...] = ()

    @classmethod
    def locked(
        cls,
        project: str,
        version: str,
        files: tuple[LockedFile, ...],
        identities: tuple[Identity, ...] = (),
    ) -> "Pin":
        """A lock's package: its files are the only candidates, their digests the hashes."""
        hashes = frozenset(f.sha256 for f in files)
        return cls(project, version, (), hashes, 0, files, identities)

    def __str__(self) -> str:
        return f"{self.project}=={self.version}"

    def as_pip_line(self, sha256: str) -> str:
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        return f"{self.project}{extras}=={self.version} --hash=sha256:{sha256}"


def describe_publisher(publisher: dict[str, str]) -> str:
    """A verified publisher in the form ``Identity`` prints."""
    fields = [f"{key}={value}" for key, value in sorted(publisher.items()) if key != "kind"]
    return " ".join([publisher.get("kind", "?"), *fields])
