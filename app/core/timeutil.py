"""Restaurant-local dates and times, and the wire format of timestamps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_today(timezone: str, now: datetime | None = None) -> date:
    """The restaurant's current local date (at ``now``, by default the present)."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date()


def local_day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day, in UTC (23 or 25 hours long on DST days)."""
    tz = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_instant(day: date, minutes: int, timezone: str) -> datetime:
    """The UTC instant of a local wall-clock time (minutes after midnight, 1440 = next
    midnight). A time skipped by a DST jump resolves to the same instant after the jump."""
    tz = ZoneInfo(timezone)
    day = day + timedelta(days=minutes // 1440)
    minutes %= 1440
    naive = datetime.combine(day, time(minutes // 60, minutes % 60))
    return naive.replace(tzinfo=tz).astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def epoch_micros(value: datetime) -> int:
    """Exact integer microseconds since the epoch (for cursors)."""
    return (value - _EPOCH) // _MICRO


def from_epoch_micros(value: int) -> datetime:
    return _EPOCH + value * _MICRO


def parse_stored_timestamp(value: str) -> datetime:
    """A timestamp as SQLite stores it (naive UTC text), as an aware datetime."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)
