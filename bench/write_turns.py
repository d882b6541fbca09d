"""How long SQLite's write lock sits idle while writers wait for it: writers taking turns
(``mirror.db.write_turns``, what ``writing`` does) against SQLite's busy timeout alone.

Three processes (two web workers and the scheduler's, as ``mirror serve`` runs them) of four
threads each run short write transactions, each holding the lock a fixed time, all at once.
Reported per way of waiting: the wall time of the run against the time the lock was held
(its idle share), and the waits of the writers (median, 99th percentile, longest).

Run from the repository root: ``python -m bench.write_turns [--tiny]``; prints JSON, and writes
it to bench/results/write_turns.json unless ``--tiny``.
"""

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from bench import report
from mirror.db import status_rows
from mirror.db.engine import make_engine, migrate, writing

RESULTS = Path(__file__).parent / "results" / "write_turns.json"
PROCESSES = 3
THREADS = 4
HOLD_SECONDS = 0.002


@contextmanager
def busy_timeout_only(engine: Engine) -> Iterator[Connection]:
    """A write transaction as ``writing`` opened one before writers took turns."""
    with engine.connect().execution_options(immediate=True) as connection, connection.begin():
        yield connection


WAYS: dict[str, Callable[[Engine], AbstractContextManager[Connection]]] = {
    "turns": writing,
    "busy_timeout_only": busy_timeout_only,
}


def _writer(way: str, database: str, transactions: int, spans: Any, start: Any) -> None:
    """One process: ``THREADS`` threads of ``transactions`` write transactions each, once
    every process is ready; each transaction's (asked, got, done) on the monotonic clock,
    which all processes share."""
    engine = make_engine(f"sqlite:///{database}")
    with engine.connect():  # the connection made before the clock runs
        pass
    lock = threading.Lock()

    def run(thread: int) -> None:
        for n in range(transactions):
            asked = time.monotonic()
            with WAYS[way](engine) as conn:
                got = time.monotonic()
                status_rows.set_status(conn, f"bench-{thread}", {"n": n}, datetime.now(UTC))
                time.sleep(HOLD_SECONDS)
            done = time.monotonic()  # before the wait for the shared list, which is no writing
            with lock:
                spans.append((asked, got, done))

    start.wait()

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def measure_way(way: str, work: Path, transactions: int) -> dict[str, Any]:
    database = str(work / f"{way}.db")
    migrate(make_engine(f"sqlite:///{database}"))
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager:
        shared, start = manager.list(), manager.Barrier(PROCESSES)
        processes = [
            spawn.Process(target=_writer, args=(way, database, transactions, shared, start))
            for _ in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        spans = list(shared)
    return summarize(spans)


def held_seconds(spans: list[tuple[float, float, float]]) -> float:
    """How long any writer held the lock: the union of the (got, done) spans. A sum would
    count twice the moments where one writer's clock already runs while the one before is
    still returning from its commit."""
    held, end = 0.0, float("-inf")
    for _, got, done in sorted(spans, key=lambda span: span[1]):
        held += max(0.0, done - max(got, end))
        end = max(end, done)
    return held


def summarize(spans: list[tuple[float, float, float]]) -> dict[str, Any]:
    """The report of one way of waiting from its transactions' (asked, got, done)."""
    wall = max(done for _, _, done in spans) - min(asked for asked, _, _ in spans)
    held = held_seconds(spans)
    waited = sorted(got - asked for asked, got, _ in spans)
    return {
        "transactions": len(spans),
        "wall_seconds": round(wall, 3),
        "held_seconds": round(held, 3),
        "lock_idle_share": round(1 - held / wall, 3),
        "wait_ms": {
            "median": round(statistics.median(waited) * 1e3, 2),
            "p99": round(waited[int(len(waited) * 0.99) - 1] * 1e3, 2),
            "max": round(waited[-1] * 1e3, 2),
        },
    }


def measure(transactions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="write-turns-") as work:
        by_way = {way: measure_way(way, Path(work), transactions) for way in WAYS}
    return {
        "processes": PROCESSES,
        "threads_per_process": THREADS,
        "hold_ms": HOLD_SECONDS * 1e3,
        **by_way,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a few transactions (smoke test)")
    args = parser.parse_args(argv)
    report.publish(measure(transactions=3 if args.tiny else 40), RESULTS, keep=not args.tiny)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
