"""Tests that start a server are marked slow by tests/conftest.py, whoever writes them, so the
fast loop (`-m "not slow"`) leaves them out."""

import pytest

pytest_plugins = ["pytester"]

CONFTEST = """
import pytest

from tests.conftest import pytest_collection_modifyitems


@pytest.fixture
def start_mirror(): ...


@pytest.fixture
def seaweed_server(): ...


@pytest.fixture
def s3_bucket(seaweed_server): ...
"""

TESTS = """
import pytest


def test_in_process(): ...


def test_starts_a_mirror(start_mirror): ...


def test_needs_s3_through_another_fixture(s3_bucket): ...


@pytest.mark.scaled
def test_marked_scaled(): ...


def test_asks_for_a_server_while_running(request):
    request.getfixturevalue("start_mirror")
"""


def test_only_tests_that_name_no_server_stay_in_the_fast_loop(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_marks=TESTS)
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow\n    scaled: scaled\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-m", "not slow", "-n", "0")
    result.assert_outcomes(passed=2, deselected=3)
    # A fixture asked for while the test runs is beyond what collection sees: mark such a
    # test yourself, or ask for the fixture by parameter.
    result.stdout.fnmatch_lines(["*test_marks.py ..*"])
