"""What to do when a test needs a system program that is not installed.

On a developer's machine such tests skip and say what to install. `.ci/run` installs every
system dependency and sets REQUIRE_SYSTEM_DEPS=1, so there a missing program fails the run
instead of quietly skipping the tests that need it.
"""

import os
from typing import NoReturn

import pytest


def missing(reason: str) -> NoReturn:
    if os.environ.get("REQUIRE_SYSTEM_DEPS") == "1":
        pytest.fail(f"{reason} (REQUIRE_SYSTEM_DEPS=1: .ci/run installs it)")
    pytest.skip(reason)
