"""GET /reservations/availability: 15-minute slots in local service hours, free tables only."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient

from app.restaurants.schemas import WEEKDAYS
from tests.fixtures.auth import Actor
from tests.fixtures.errors import assert_validation_error
from tests.reservations.factories import (
    AVAILABILITY,
    RESERVATIONS,
    availability,
    configure,
    create_reservation,
    create_table,
    interval,
    iso,
    parse,
)

DAY = datetime.now(UTC).date() + timedelta(days=3)
ALL_DAY = [interval("00:00", "24:00")]


def utc(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=UTC)


def quarters(start: datetime, end: datetime) -> list[str]:
    """The 15-minute instants in [start, end), in wire form."""
    out = []
    while start < end:
        out.append(iso(start))
        start += timedelta(minutes=15)
    return out


async def open_on(
    client: AsyncClient, actor: Actor, day: date, hours: list[dict[str, str]], **settings: Any
) -> None:
    await configure(client, actor, serviceHours={WEEKDAYS[day.weekday()]: hours}, **settings)


def starts(body: dict[str, Any]) -> list[str]:
    return [slot["startsAt"] for slot in body["slots"]]


async def test_slots_every_15_minutes_within_service_hours(
    client: AsyncClient, owner: Actor
) -> None:
    table = await create_table(client, owner, "1", capacity=4)
    await open_on(client, owner, DAY, [interval("12:00", "14:00"), interval("18:00", "19:30")])
    body = await availability(client, owner, DAY, 2)
    assert set(body) == {"date", "partySize", "slots"}
    assert body["date"] == DAY.isoformat() and body["partySize"] == 2
    assert starts(body) == quarters(utc(DAY, 12), utc(DAY, 14)) + quarters(
        utc(DAY, 18), utc(DAY, 19, 30)
    )
    assert all(slot["tableIds"] == [table["id"]] for slot in body["slots"])
    assert all(set(slot) == {"startsAt", "tableIds"} for slot in body["slots"])


async def test_service_hours_are_local_time(client: AsyncClient, owner: Actor) -> None:
    await create_table(client, owner, "1")
    await open_on(client, owner, DAY, [interval("18:00", "19:00")], timezone="Asia/Tokyo")
    body = await availability(client, owner, DAY)
    tokyo = ZoneInfo("Asia/Tokyo")
    opens = datetime.combine(DAY, time(18), tzinfo=tokyo)
    assert starts(body) == quarters(opens, opens + timedelta(hours=1))
    assert starts(body)[0] == iso(utc(DAY, 9))
    # The next local day is closed, whatever its UTC date.
    assert (await availability(client, owner, DAY + timedelta(days=1)))["slots"] == []


async def test_a_closed_day_has_no_slots(client: AsyncClient, owner: Actor) -> None:
    await create_table(client, owner, "1")
    await open_on(client, owner, DAY + timedelta(days=1), ALL_DAY)
    assert (await availability(client, owner, DAY))["slots"] == []
    assert (await availability(client, owner, DAY + timedelta(days=1)))["slots"]


async def test_no_fitting_table_means_no_slots(client: AsyncClient, owner: Actor) -> None:
    await open_on(client, owner, DAY, ALL_DAY)
    assert (await availability(client, owner, DAY))["slots"] == []
    await create_table(client, owner, "1", capacity=4)
    assert (await availability(client, owner, DAY, 5))["slots"] == []
    assert (await availability(client, owner, DAY, 50))["slots"] == []


@pytest.mark.parametrize(
    ("party", "fitting"),
    [(1, ["A", "E"]), (2, ["A", "E"]), (3, ["B", "E"]), (4, ["B", "E"]), (6, ["C", "E"]), (9, [])],
)
async def test_tables_fit_by_min_capacity_and_capacity(
    client: AsyncClient, owner: Actor, party: int, fitting: list[str]
) -> None:
    tables = {
        "A": await create_table(client, owner, "A", capacity=2),
        "B": await create_table(client, owner, "B", capacity=4, minCapacity=3),
        "C": await create_table(client, owner, "C", capacity=6, minCapacity=5),
        "D": await create_table(client, owner, "D", capacity=8, status="out_of_service"),
        "E": await create_table(client, owner, "E", capacity=8),
    }
    await open_on(client, owner, DAY, [interval("18:00", "19:00")])
    body = await availability(client, owner, DAY, party)
    expected = sorted(tables[name]["id"] for name in fitting)
    if not expected:
        assert body["slots"] == []
        return
    assert starts(body) == quarters(utc(DAY, 18), utc(DAY, 19))
    assert all(sorted(slot["tableIds"]) == expected for slot in body["slots"])


async def test_a_holding_reservation_blocks_overlapping_slots_on_its_table_only(
    client: AsyncClient, owner: Actor
) -> None:
    busy = await create_table(client, owner, "1")
    free = await create_table(client, owner, "2")
    await open_on(client, owner, DAY, [interval("17:00", "21:00")])
    # Held [18:30, 19:30); a slot takes the default 90 minutes.
    await create_reservation(
        client, owner, tableId=busy["id"], startsAt=utc(DAY, 18, 30), durationMinutes=60
    )
    body = await availability(client, owner, DAY)
    assert starts(body) == quarters(utc(DAY, 17), utc(DAY, 21))
    by_start = {slot["startsAt"]: slot["tableIds"] for slot in body["slots"]}
    blocked = set(quarters(utc(DAY, 17, 15), utc(DAY, 19, 30)))
    for slot_start, table_ids in by_start.items():
        if slot_start in blocked:
            assert table_ids == [free["id"]], slot_start
        else:
            assert sorted(table_ids) == sorted([busy["id"], free["id"]]), slot_start
    # Back to back on both sides: 17:00 ends at 18:30, 19:30 starts at its end.
    assert busy["id"] in by_start[iso(utc(DAY, 17))]
    assert busy["id"] in by_start[iso(utc(DAY, 19, 30))]


async def test_only_holding_reservations_block(client: AsyncClient, owner: Actor) -> None:
    only = await create_table(client, owner, "1")
    await open_on(client, owner, DAY, [interval("18:00", "20:00")], defaultReservationMinutes=30)
    for status in ("cancelled", "no_show"):
        row = await create_reservation(client, owner, tableId=only["id"], startsAt=utc(DAY, 18))
        response = await client.patch(
            f"{RESERVATIONS}/{row['id']}", headers=owner.headers, json={"status": status}
        )
        assert response.status_code == 200, response.text
    assert starts(await availability(client, owner, DAY)) == quarters(utc(DAY, 18), utc(DAY, 20))

    await create_reservation(
        client, owner, tableId=only["id"], startsAt=utc(DAY, 19), status="confirmed"
    )
    # With a 30-minute default, [19:00, 19:30) blocks 18:45, 19:00 and 19:15 only; with one
    # table, those slots disappear.
    expected = quarters(utc(DAY, 18), utc(DAY, 18, 45)) + quarters(utc(DAY, 19, 30), utc(DAY, 20))
    assert starts(await availability(client, owner, DAY)) == expected


async def test_past_slots_are_left_out(client: AsyncClient, owner: Actor) -> None:
    await create_table(client, owner, "1")
    await configure(client, owner, serviceHours={day: ALL_DAY for day in WEEKDAYS})
    before = datetime.now(UTC)
    today = before.date()
    body = await availability(client, owner, today)
    after = datetime.now(UTC)
    got = [parse(s) for s in starts(body)]
    every = [parse(s) for s in quarters(utc(today, 0), utc(today, 0) + timedelta(days=1))]
    assert set(got) <= set(every)
    assert all(s >= before for s in got)
    assert [s for s in every if s >= after] == [s for s in got if s >= after]
    assert (await availability(client, owner, today - timedelta(days=1)))["slots"] == []
    assert len((await availability(client, owner, today + timedelta(days=1)))["slots"]) == 96


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/Los_Angeles"])
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
async def test_dates_at_the_edge_of_the_calendar_never_fail(
    client: AsyncClient, owner: Actor, zone: str, day: str
) -> None:
    await create_table(client, owner, "1")
    await configure(client, owner, timezone=zone, serviceHours={d: ALL_DAY for d in WEEKDAYS})
    response = await client.get(
        AVAILABILITY, headers=owner.headers, params={"date": day, "partySize": 2}
    )
    # West of UTC, 0001-01-01 still fits in datetime; every other case runs off the calendar.
    if day == "0001-01-01" and zone == "America/Los_Angeles":
        assert response.status_code == 200, response.text
        assert response.json()["slots"] == []  # the far past
    else:
        assert_validation_error(response, "date")


def paris_local(slot: str) -> datetime:
    return parse(slot).astimezone(ZoneInfo("Europe/Paris"))


async def test_spring_forward_day_has_92_slots_and_none_in_the_skipped_hour(
    client: AsyncClient, owner: Actor
) -> None:
    await create_table(client, owner, "1")
    day = date(2027, 3, 28)
    await open_on(client, owner, day, ALL_DAY, timezone="Europe/Paris")
    slots = starts(await availability(client, owner, day))
    assert len(slots) == 92 == len(set(slots))
    assert slots[0] == "2027-03-27T23:00:00Z" and slots[-1] == "2027-03-28T21:45:00Z"
    assert slots == quarters(parse(slots[0]), parse("2027-03-28T22:00:00Z"))
    local = [paris_local(s) for s in slots]
    assert all(t.date() == day for t in local)
    assert not [t for t in local if t.hour == 2]
    assert local[8].isoformat() == "2027-03-28T03:00:00+02:00"


async def test_fall_back_day_has_100_distinct_slots(client: AsyncClient, owner: Actor) -> None:
    await create_table(client, owner, "1")
    day = date(2027, 10, 31)
    await open_on(client, owner, day, ALL_DAY, timezone="Europe/Paris")
    slots = starts(await availability(client, owner, day))
    assert len(slots) == 100 == len(set(slots))
    assert slots[0] == "2027-10-30T22:00:00Z" and slots[-1] == "2027-10-31T22:45:00Z"
    assert slots == quarters(parse(slots[0]), parse("2027-10-31T23:00:00Z"))
    local = [paris_local(s) for s in slots]
    assert all(t.date() == day for t in local)
    # The hour from 02:00 to 03:00 happens twice.
    assert len([t for t in local if t.hour == 2]) == 8


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date": "2030-01-01", "partySize": 0}, "partySize"),
        ({"date": "2030-01-01", "partySize": 51}, "partySize"),
        ({"date": "2030-01-01", "partySize": "two"}, "partySize"),
        ({"date": "2030-01-01"}, "partySize"),
        ({"partySize": 2}, "date"),
        ({"date": "2030-13-01", "partySize": 2}, "date"),
        ({"date": "tomorrow", "partySize": 2}, "date"),
    ],
)
async def test_bad_queries_are_422(
    client: AsyncClient, owner: Actor, params: dict[str, Any], field: str
) -> None:
    response = await client.get(AVAILABILITY, headers=owner.headers, params=params)
    assert_validation_error(response, field)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # 01:00 CET until the jump at 02:00, then 03:00 CEST until 04:00: two real hours.
        (date(2027, 3, 28), ("2027-03-28T00:00:00Z", "2027-03-28T02:00:00Z")),
        # 01:00 CEST, 02:00-03:00 twice (CEST, then CET), until 04:00 CET: four real hours.
        (date(2027, 10, 31), ("2027-10-30T23:00:00Z", "2027-10-31T03:00:00Z")),
    ],
    ids=["spring", "fall"],
)
async def test_hours_across_a_dst_jump_count_real_time(
    client: AsyncClient, owner: Actor, day: date, expected: tuple[str, str]
) -> None:
    await create_table(client, owner, "1")
    await open_on(client, owner, day, [interval("01:00", "04:00")], timezone="Europe/Paris")
    slots = starts(await availability(client, owner, day))
    assert slots == quarters(parse(expected[0]), parse(expected[1]))
