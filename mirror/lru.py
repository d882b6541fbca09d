"""Bytes kept in memory by key within a byte budget, least recently used out first, safe across
threads: the one shape of the mirror's in-memory caches (signed pages, small S3 blobs, signed
TUF metadata read from S3). Its users keep only what never changes under its key."""

import threading
from collections import OrderedDict


class ByteBudgetLRU:
    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._lock = threading.Lock()
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: str, data: bytes) -> None:
        """Keep ``data``; older items go until the budget holds (``data`` too, when it alone
        is larger)."""
        with self._lock:
            self._size -= len(self._items.pop(key, b""))
            self._items[key] = data
            self._size += len(data)
            while self._size > self._budget:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)

    def pop(self, key: str) -> None:
        with self._lock:
            self._size -= len(self._items.pop(key, b""))
