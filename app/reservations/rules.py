"""The reservation lifecycle and the time rules, as pure functions."""

from __future__ import annotations

from datetime import datetime

from app.core.errors import InvalidTransition
from app.core.vocabulary import ReservationStatus as R

RESERVATION_TRANSITIONS: dict[R, frozenset[R]] = {
    R.BOOKED: frozenset({R.CONFIRMED, R.CANCELLED, R.NO_SHOW, R.CHECKED_IN}),
    R.CONFIRMED: frozenset({R.CANCELLED, R.NO_SHOW, R.CHECKED_IN}),
    # checked_in -> completed happens only with its guest, never by hand.
    R.CHECKED_IN: frozenset(),
    R.COMPLETED: frozenset(),
    R.CANCELLED: frozenset(),
    R.NO_SHOW: frozenset(),
}


def check_move(reservation_id: int, current: str, target: str) -> None:
    if current != target and target not in RESERVATION_TRANSITIONS[R(current)]:
        raise InvalidTransition(
            f"Reservation {reservation_id} cannot go from {current} to {target}",
            details={"from": current, "to": target},
        )


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Half-open intervals: back to back does not overlap."""
    return a_start < b_end and b_start < a_end
