"""The guest lifecycle: legal status moves, as pure rules."""

from __future__ import annotations

from app.core.errors import InvalidTransition
from app.core.vocabulary import GuestStatus as G

# docs/contract.md: anything not listed here is 409 invalid_transition.
GUEST_TRANSITIONS: dict[G, frozenset[G]] = {
    G.WAITING: frozenset({G.NOTIFIED, G.SEATED, G.LEFT, G.NO_SHOW, G.CANCELLED}),
    G.NOTIFIED: frozenset({G.SEATED, G.LEFT, G.NO_SHOW, G.CANCELLED, G.WAITING}),
    G.SEATED: frozenset({G.COMPLETED, G.WAITING}),
    G.COMPLETED: frozenset(),
    G.LEFT: frozenset(),
    G.NO_SHOW: frozenset(),
    G.CANCELLED: frozenset(),
}
FINAL_GUEST_STATUSES = frozenset(s for s, moves in GUEST_TRANSITIONS.items() if not moves)


def can_move(current: str, target: str) -> bool:
    return target in GUEST_TRANSITIONS[G(current)]


def check_move(guest_id: int, current: str, target: str) -> None:
    if current != target and not can_move(current, target):
        raise InvalidTransition(
            f"Guest {guest_id} cannot go from {current} to {target}",
            details={"from": current, "to": target},
        )
