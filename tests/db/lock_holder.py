"""A publish lock held by another process that is then killed: shared by both backends' tests."""

import signal
import subprocess
import sys
import textwrap

import pytest

from mirror.db.engine import make_engine
from mirror.db.locks import LockBusyError, publish_lock


def assert_the_lock_dies_with_its_holder(url: str) -> None:
    holder = textwrap.dedent(
        f"""
        import time
        from mirror.db.engine import make_engine
        from mirror.db.locks import publish_lock
        with publish_lock(make_engine({url!r})):
            print("holding", flush=True)
            time.sleep(300)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline() == "holding\n"
        engine = make_engine(url)
        with pytest.raises(LockBusyError), publish_lock(engine, wait=False):
            pass
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        with publish_lock(engine, wait=False):  # released with the process (or its connection)
            pass
    finally:
        process.kill()
        process.wait()
