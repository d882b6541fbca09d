"""A TUF metadata store in a dict, for tests and benchmarks (the mirror ships the directory
and S3 stores)."""

from tuf_repo.errors import MetadataExistsError
from tuf_repo.store import check_metadata_name, is_versioned


class MemoryMetadataStore:
    """A dict-backed store for tests and benchmarks."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def read(self, name: str) -> bytes | None:
        return self.files.get(name)

    def write(self, name: str, data: bytes) -> None:
        check_metadata_name(name)
        if is_versioned(name) and name in self.files:
            raise MetadataExistsError(f"{name} already exists")
        self.files[name] = bytes(data)

    def list(self) -> list[str]:
        return list(self.files)

    def delete(self, name: str) -> None:
        self.files.pop(name, None)
