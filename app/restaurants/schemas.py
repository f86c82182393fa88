"""Restaurant settings on the wire, and the validated shape of service hours."""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Annotated, Any
from zoneinfo import available_timezones

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from app.core.schemas import InputModel, Name, OutputModel, PatchModel
from app.core.vocabulary import TableAfterGuestLeaves

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")


@cache
def _timezones() -> frozenset[str]:
    """The zones of tzdata's zone.tab, plus UTC.

    zone.tab names at least one zone per country under its current name, the way people
    know the place (Europe/Paris, Europe/Oslo, America/Argentina/Buenos_Aires). Whatever
    else zoneinfo can open is left out: `localtime`, `Factory`, `posixrules`,
    the `posix/` and `right/` copies, old aliases (US/Eastern, Asia/Calcutta) and fixed
    offsets (Etc/GMT+5, whose sign is the reverse of what it reads).
    """
    table = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    listed = {
        line.split("\t")[2] for line in table.splitlines() if line and not line.startswith("#")
    }
    # Only names this machine can also open, so a restaurant's zone never fails later.
    return frozenset((listed | {"UTC"}) & (available_timezones() | {"UTC"}))


def _valid_timezone(value: str) -> str:
    if value not in _timezones():
        raise ValueError("must be a canonical IANA time zone such as Europe/Paris, or UTC")
    return value


Timezone = Annotated[
    str,
    Field(
        examples=["Europe/Paris"],
        max_length=64,
        description="A zone of the IANA tz database's zone.tab (`Europe/Paris`, "
        "`America/Argentina/Buenos_Aires`), or `UTC`. Refused: old aliases (`US/Eastern`, "
        "`Asia/Calcutta`), fixed offsets (`Etc/GMT+5`), `localtime`, `Factory`, `posix/...`.",
    ),
    AfterValidator(_valid_timezone),
]
LocalTime = Annotated[str, Field(pattern=_HHMM.pattern, examples=["17:00"])]


class OpeningInterval(InputModel):
    """Open from `open` until `close`, local time; `open` < `close`, and `"24:00"` may close
    a day."""

    open: LocalTime = Field(examples=["11:30"])
    close: LocalTime = Field(examples=["14:30"])


DayHours = Annotated[list[OpeningInterval], Field(max_length=12)]


def minutes_of(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class ServiceHours(InputModel):
    """Opening intervals per weekday in local time; a missing day is closed. A day's
    intervals are in order and do not overlap (back to back is fine)."""

    mon: DayHours = Field(default_factory=list)
    tue: DayHours = Field(default_factory=list)
    wed: DayHours = Field(default_factory=list)
    thu: DayHours = Field(default_factory=list)
    fri: DayHours = Field(default_factory=list)
    sat: DayHours = Field(default_factory=list)
    sun: DayHours = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered_intervals(self) -> ServiceHours:
        for day in WEEKDAYS:
            previous_end = -1
            for interval in getattr(self, day):
                start, end = interval.open, interval.close
                if start == "24:00":
                    raise ValueError(f"{day}: an interval cannot start at 24:00")
                if minutes_of(start) >= minutes_of(end):
                    raise ValueError(f"{day}: {start}-{end} must start before it ends")
                if minutes_of(start) < previous_end:
                    raise ValueError(f"{day}: intervals must be in order and not overlap")
                previous_end = minutes_of(end)
        return self


def stored_hours(hours: ServiceHours) -> dict[str, list[list[str]]]:
    """Service hours as the restaurants table keeps them: every day, each interval an
    `[open, close]` pair (what ``app.reservations.service`` reads)."""
    return {day: [[i.open, i.close] for i in getattr(hours, day)] for day in WEEKDAYS}


def _hours_from_storage(value: Any) -> Any:
    """The stored `[open, close]` pairs as the wire's objects; anything else as it is."""
    if not isinstance(value, dict):
        return value
    hours: dict[str, Any] = {}
    for day, intervals in value.items():
        if isinstance(intervals, list):
            intervals = [
                {"open": i[0], "close": i[1]} if isinstance(i, list | tuple) else i
                for i in intervals
            ]
        hours[day] = intervals
    return hours


class Restaurant(OutputModel):
    id: int
    name: str
    timezone: str
    table_after_guest_leaves: TableAfterGuestLeaves
    default_reservation_minutes: int
    service_hours: Annotated[ServiceHours, BeforeValidator(_hours_from_storage)]
    version: int
    created_at: datetime
    updated_at: datetime


class RestaurantUpdate(PatchModel):
    name: Name | None = None
    timezone: Timezone | None = None
    table_after_guest_leaves: TableAfterGuestLeaves | None = None
    default_reservation_minutes: int | None = Field(default=None, ge=15, le=720)
    service_hours: ServiceHours | None = None
