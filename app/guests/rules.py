"""The guest lifecycle: legal status moves, as pure rules."""

from __future__ import annotations

from app.core.errors import InvalidTransition

# API.md: anything not listed here is 409 invalid_transition.
GUEST_TRANSITIONS: dict[str, frozenset[str]] = {
    "waiting": frozenset({"notified", "seated", "left", "no_show", "cancelled"}),
    "notified": frozenset({"seated", "left", "no_show", "cancelled", "waiting"}),
    "seated": frozenset({"completed", "waiting"}),
    "completed": frozenset(),
    "left": frozenset(),
    "no_show": frozenset(),
    "cancelled": frozenset(),
}
FINAL_GUEST_STATUSES = frozenset(s for s, moves in GUEST_TRANSITIONS.items() if not moves)


def can_move(current: str, target: str) -> bool:
    return target in GUEST_TRANSITIONS[current]


def check_move(guest_id: int, current: str, target: str) -> None:
    if current != target and not can_move(current, target):
        raise InvalidTransition(
            f"Guest {guest_id} cannot go from {current} to {target}",
            details={"from": current, "to": target},
        )
