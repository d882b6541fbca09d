"""A read-only file over bytes fetched by offset: an S3 object's or an upstream file's ranges."""

import errno
import io


class OffsetReader(io.RawIOBase):
    """Seeking only moves the position; a subclass reads from it (``readinto``), so that
    :mod:`zipfile` and friends can read a remote file without having all of it."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        position = base + offset
        if position < 0:
            # As a file does: zipfile takes OSError for "too short to be a zip".
            raise OSError(errno.EINVAL, f"negative seek position {position}")
        self._position = position
        return position
