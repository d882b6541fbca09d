"""What a server costs, read from /proc: CPU time and resident memory summed over its tree.

A server is often several processes (gunicorn's arbiter and workers, our scheduler, nginx's
master and workers), so every figure is a sum over the root process and its descendants.
"""

import os
import threading
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def tree(root: int) -> list[int]:
    """``root`` and its living descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(root: int) -> float:
    """User + system CPU of the tree's living processes (reaped children not counted)."""
    total = 0
    for pid in tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def rss_by_process(root: int) -> list[int]:
    """Resident set size of each process of the tree (shared pages counted in each, like ps)."""
    sizes = []
    for pid in tree(root):
        try:
            sizes.append(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE)
        except (OSError, IndexError):
            continue
    return sizes


class PeakRss:
    """Samples the tree's RSS every ``interval`` seconds in a thread until stopped.

    ``peak`` is the largest sum over the tree, ``peak_process`` the largest single process.
    """

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self.peak = 0
        self.peak_process = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def _sample(self) -> None:
        sizes = rss_by_process(self.root)
        self.peak = max(self.peak, sum(sizes))
        self.peak_process = max([self.peak_process, *sizes])

    def __enter__(self) -> "PeakRss":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
