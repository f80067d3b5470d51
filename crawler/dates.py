"""Dates and times as feeds, sitemaps and pages write them (read into aware datetimes), and as
the config and the command line write them (intervals like ``15m``, moments like ``6h``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_iso_datetime(value: str | None) -> datetime | None:
    """An ISO 8601 / W3C datetime (``2026-11-20``, ``...T10:30:00+03:30``, ``...Z``), in a
    zone (UTC when it names none)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_interval(text: str) -> timedelta:
    """``"15m"`` -> 15 minutes. Units: s, m, h, d."""
    match = _INTERVAL.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not an interval like '90s', '15m', '2h' or '1d'")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_window(text: str) -> timedelta | None:
    """An interval that ``"0"`` turns off (None)."""
    if text.strip() == "0":
        return None
    try:
        return parse_interval(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an interval like '12h' or '2d' nor \"0\" (off)"
        ) from None


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """``"6h"`` (that long ago) or an ISO date/time (UTC when it names no zone)."""
    try:
        return (now or datetime.now(UTC)) - parse_interval(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO date/time nor an age like 6h") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
