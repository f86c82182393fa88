"""app/guests/rules.py on its own: every status pair, legal or not, as docs/contract.md lists
them."""

from __future__ import annotations

import itertools

import pytest

from app.core.errors import InvalidTransition
from app.guests import rules
from tests.fixtures.floor import FINAL_GUEST_STATUSES, GUEST_STATUSES, LEGAL_GUEST_MOVES

LEGAL = LEGAL_GUEST_MOVES
PAIRS = [(a, b) for a, b in itertools.product(GUEST_STATUSES, repeat=2) if a != b]
ILLEGAL = [pair for pair in PAIRS if pair not in LEGAL]


def test_the_table_of_moves_covers_exactly_the_documented_statuses() -> None:
    assert set(rules.GUEST_TRANSITIONS) == set(GUEST_STATUSES)
    moves = {(a, b) for a, targets in rules.GUEST_TRANSITIONS.items() for b in targets}
    assert moves == LEGAL


def test_final_statuses_are_the_documented_ones() -> None:
    assert set(rules.FINAL_GUEST_STATUSES) == set(FINAL_GUEST_STATUSES)


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_legal_moves_are_allowed(current: str, target: str) -> None:
    assert rules.can_move(current, target)
    rules.check_move(7, current, target)  # does not raise


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_illegal_moves_are_refused(current: str, target: str) -> None:
    assert not rules.can_move(current, target)
    with pytest.raises(InvalidTransition) as raised:
        rules.check_move(7, current, target)
    error = raised.value
    assert error.status_code == 409
    assert error.code == "invalid_transition"
    assert error.details == {"from": current, "to": target}
    assert "7" in error.message and current in error.message and target in error.message


@pytest.mark.parametrize("status", GUEST_STATUSES)
def test_staying_in_the_same_status_is_not_a_move(status: str) -> None:
    assert not rules.can_move(status, status)
    rules.check_move(1, status, status)  # a no-op, never an error


@pytest.mark.parametrize("status", FINAL_GUEST_STATUSES)
def test_nothing_leaves_a_final_status(status: str) -> None:
    for target in GUEST_STATUSES:
        assert not rules.can_move(status, target)
        if target != status:
            with pytest.raises(InvalidTransition):
                rules.check_move(1, status, target)


def test_the_count_of_pairs_adds_up() -> None:
    assert len(PAIRS) == 42
    assert len(LEGAL) + len(ILLEGAL) == len(PAIRS)
