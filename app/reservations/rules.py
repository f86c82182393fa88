"""The reservation lifecycle and the time rules, as pure functions."""

from __future__ import annotations

from datetime import datetime

from app.core.errors import InvalidTransition

RESERVATION_TRANSITIONS: dict[str, frozenset[str]] = {
    "booked": frozenset({"confirmed", "cancelled", "no_show", "checked_in"}),
    "confirmed": frozenset({"cancelled", "no_show", "checked_in"}),
    # checked_in -> completed happens only with its guest, never by hand.
    "checked_in": frozenset(),
    "completed": frozenset(),
    "cancelled": frozenset(),
    "no_show": frozenset(),
}


def check_move(reservation_id: int, current: str, target: str) -> None:
    if current != target and target not in RESERVATION_TRANSITIONS[current]:
        raise InvalidTransition(
            f"Reservation {reservation_id} cannot go from {current} to {target}",
            details={"from": current, "to": target},
        )


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Half-open intervals: back to back does not overlap."""
    return a_start < b_end and b_start < a_end
