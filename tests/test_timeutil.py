"""Timestamps as the pages and the history listings write them: the kept texts of instants in
UTC (``timeutil._FORMATTED``) are the texts the general conversion makes."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirror import timeutil
from mirror.timeutil import format_timestamp, isoformat

# Offsets within a day, as ISO 8601 allows, seconds and microseconds included.
ZONES = st.just(UTC) | st.builds(
    lambda seconds: timezone(timedelta(seconds=seconds)), st.integers(-86_399, 86_399)
)
# In UTC at once, as an upload time is parsed: an offset at either end overflows otherwise.
INSTANTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES
)


def pep700(value: datetime) -> str:
    """The general conversion ``format_timestamp`` makes."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@given(value=INSTANTS)
def test_a_timestamp_is_written_as_the_general_conversion_writes_it(value: datetime) -> None:
    # Twice: once formatted, once kept.
    assert format_timestamp(value) == format_timestamp(value) == pep700(value)
    assert isoformat(value) == isoformat(value) == value.isoformat()


@given(value=INSTANTS)
def test_an_instant_kept_in_utc_is_written_in_the_zone_it_is_asked_in(value: datetime) -> None:
    """Equal instants in other zones are equal keys: each is written in its own zone."""
    in_utc = value.astimezone(UTC)
    assert format_timestamp(in_utc) == format_timestamp(value)
    assert isoformat(in_utc) == in_utc.isoformat()
    assert isoformat(value) == value.isoformat()


def test_the_kept_texts_stay_within_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeutil, "_FORMATTED", {})
    monkeypatch.setattr(timeutil, "_FORMATTED_KEPT", 2)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    moments = [start + timedelta(seconds=s, microseconds=s % 2) for s in range(5)]
    for moment in moments * 2:
        assert format_timestamp(moment) == pep700(moment)
        assert len(timeutil._FORMATTED) <= 2
