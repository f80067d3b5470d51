"""Dates as feeds, sitemaps and pages write them, read into aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


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
