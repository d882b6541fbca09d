"""Durations as people read them in the review UI ("3d 4h", "25m")."""

from datetime import timedelta

_UNITS = (("d", 86400), ("h", 3600), ("m", 60))


def duration_text(delta: timedelta) -> str:
    """The two largest units of ``delta`` (absolute), e.g. ``"6d 23h"``; under a minute: "<1m"."""
    seconds = abs(int(delta.total_seconds()))
    parts = []
    for unit, size in _UNITS:
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2]) or "<1m"
