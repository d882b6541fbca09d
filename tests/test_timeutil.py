"""Timestamps as the pages and the history listings write them: the kept texts of instants in
UTC (``timeutil._FORMATTED``), whether formatted or parsed, are the texts the general
conversion makes."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirror import timeutil
from mirror.timeutil import format_timestamp, format_timestamps, parse_utc

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


@given(value=INSTANTS)
def test_an_instant_kept_in_utc_is_written_in_the_zone_it_is_asked_in(value: datetime) -> None:
    """Equal instants in other zones are equal keys: each is written in its own zone."""
    in_utc = value.astimezone(UTC)
    assert format_timestamp(in_utc) == format_timestamp(value) == pep700(value)


# The ways ISO 8601 text may write an instant that ``datetime.fromisoformat`` reads: either
# separator, the fraction of a second at any precision or none, "Z" or an offset, the basic
# form; some of these texts are ``format_timestamp``'s own, most are not.
SEPARATORS = st.sampled_from(["T", " ", "t", "x"])
FRACTIONS = st.sampled_from(["", ".000", ".000000", ".123", ".123456", ",123456", ".000001"])


@st.composite
def iso_texts(draw: st.DrawFn) -> str:
    value = draw(INSTANTS).astimezone(UTC).replace(microsecond=0)
    date, time = value.date().isoformat(), value.time().isoformat()
    if draw(st.booleans()):  # the basic form
        date, time = date.replace("-", ""), time.replace(":", "")
    zone = draw(st.sampled_from(["Z", "+00:00", "+0000", "", "-00:00"]))
    return f"{date}{draw(SEPARATORS)}{time}{draw(FRACTIONS)}{zone}"


@given(text=iso_texts() | INSTANTS.map(pep700) | INSTANTS.map(datetime.isoformat))
def test_a_parsed_text_is_kept_only_as_the_general_conversion_writes_it(text: str) -> None:
    """What an upstream wrote is kept as an instant's text only where it is that text: a
    page's bytes never depend on how the upstream wrote the time."""
    timeutil._FORMATTED.clear()
    moment = parse_utc(text)
    assert moment.tzinfo is UTC
    assert format_timestamp(moment) == pep700(moment)


def test_an_upload_time_as_the_upstream_writes_it_is_kept() -> None:
    """The public index writes every upload time with six digits of fraction: where they are
    not all 0, its text is the instant's, and formatting it looks the text up."""
    timeutil._FORMATTED.clear()
    moment = parse_utc("2024-03-01T12:30:45.123456Z")
    assert dict(timeutil._FORMATTED) == {moment: "2024-03-01T12:30:45.123456Z"}
    assert parse_utc("2024-03-01T12:30:45.000000Z") == datetime(2024, 3, 1, 12, 30, 45, tzinfo=UTC)
    assert len(timeutil._FORMATTED) == 1  # not its own text: ".000000" is left out


@given(values=st.lists(INSTANTS, max_size=5), kept=st.lists(st.booleans(), max_size=5))
def test_timestamps_formatted_at_once_are_those_formatted_one_by_one(
    values: list[datetime], kept: list[bool]
) -> None:
    timeutil._FORMATTED.clear()
    for value, keep in zip(values, kept, strict=False):
        if keep:
            format_timestamp(value)
    assert format_timestamps(values) == [pep700(value) for value in values]


def test_the_kept_texts_stay_within_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeutil, "_FORMATTED", {})
    monkeypatch.setattr(timeutil, "_FORMATTED_KEPT", 2)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    moments = [start + timedelta(seconds=s, microseconds=s % 2) for s in range(5)]
    for moment in moments * 2:
        assert format_timestamp(moment) == pep700(moment)
        assert len(timeutil._FORMATTED) <= 2
