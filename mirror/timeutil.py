"""Durations, timestamps and the injectable clock.

Policy code never reads the wall clock itself: it is handed ``now``. The one ``Clock`` here is
what services pass down, so tests and drills can shift time through configuration instead of
sleeping.
"""

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from mirror.errors import ConfigError

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


# Policy code asks for the same configured durations once per file of a project.
@functools.lru_cache(maxsize=64, typed=True)
def parse_duration(text: str | int | float) -> timedelta:
    """Parse ``"7d"``, ``"36h"``, ``"90m"``, ``"30s"``, ``"2w"`` or a number of seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ConfigError(f"duration must not be negative: {text}")
        return timedelta(seconds=text)
    match = _DURATION_RE.match(str(text))
    if not match:
        raise ConfigError(f'invalid duration {text!r} (use e.g. "7d", "36h", "90m", "0")')
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (PEP 700 upload-time); naive values are taken as UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# A first look formats each listed file's upload time for its pages and again for its history
# listing, thousands of times each: the text of an instant in UTC is kept, for the instants
# parsed or formatted last. An instant's text never changes, so none can be stale.
_FORMATTED: dict[datetime, str] = {}
_FORMATTED_KEPT = 1 << 15  # about 5 MB at most; more than the files of most projects


def parse_utc(text: str) -> datetime:
    """``parse_timestamp(text)`` in UTC. A text already in ``format_timestamp``'s form (an
    upstream's PEP 700 upload time, usually) is kept as the instant's text: a first look then
    formats thousands of upload times for its pages by a lookup each."""
    moment = parse_timestamp(text)
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    if _in_formatted_form(text, moment) and len(_FORMATTED) < _FORMATTED_KEPT:
        _FORMATTED[moment] = text
    return moment


def _in_formatted_form(text: str, moment: datetime) -> bool:
    """Whether ``text``, which parsed as ``moment``, is ``format_timestamp(moment)``.

    That form is "YYYY-MM-DDTHH:MM:SSZ", with ".ffffff" before the "Z" unless the microseconds
    are 0. Having parsed, ``text`` holds digits wherever these separators do not stand.
    """
    return (
        text[4:20:3] == _SEPARATORS.get(len(text))
        and text[-1] == "Z"
        and (len(text) == 27) == (moment.microsecond != 0)
    )


# The characters at places 4, 7, 10, 13, 16 and 19 of ``format_timestamp``'s texts, by length.
_SEPARATORS = {20: "--T::Z", 27: "--T::."}


def format_timestamp(value: datetime) -> str:
    """PEP 700 form: ISO 8601 in UTC with a trailing ``Z``."""
    if value.tzinfo is not UTC:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    text = _FORMATTED.get(value)
    if text is None:
        if len(_FORMATTED) >= _FORMATTED_KEPT:
            _FORMATTED.clear()
        # An instant in UTC is written with the offset "+00:00" at its end, and only there.
        text = _FORMATTED[value] = f"{value.isoformat()[:-6]}Z"
    return text


def format_timestamps(values: list[datetime]) -> list[str]:
    """``format_timestamp`` of each of ``values``; the texts kept are looked up in C, at once."""
    texts: list[str | None] = list(map(_FORMATTED.get, values))
    if None not in texts:
        return cast(list[str], texts)
    return [text or format_timestamp(value) for text, value in zip(texts, values, strict=True)]


@dataclass(frozen=True)
class Clock:
    """The wall clock, optionally shifted (config ``debug.clock_offset``; never in production)."""

    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset
