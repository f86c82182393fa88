"""The text rule for everything a client sends: no U+0000 and no unpaired surrogate."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

# PostgreSQL cannot store U+0000 in text, and no database driver can encode a lone surrogate
# as UTF-8: refused at the door, such text would fail only when bound, as a 500, and on one
# database but not the other. JSON's "\ud83d\ude00" arrives as one code point, so any surrogate
# left in a decoded string has no partner.
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")

TEXT_ERROR_TYPE = "string_forbidden_character"
TEXT_ERROR_MESSAGE = "Text must not contain U+0000 or an unpaired surrogate"


def is_clean(text: str) -> bool:
    return _FORBIDDEN.search(text) is None


def holds_unclean_text(value: Any) -> bool:
    """True when a string anywhere in a decoded JSON value (keys included) breaks the rule."""
    if isinstance(value, str):
        return not is_clean(value)
    if isinstance(value, dict):
        return any(holds_unclean_text(k) or holds_unclean_text(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(holds_unclean_text(item) for item in value)
    return False


def text_error_detail(loc: list[str | int]) -> dict[str, Any]:
    """One entry of a 422's ``details.errors`` for text that breaks the rule at ``loc``."""
    return {"loc": loc, "msg": TEXT_ERROR_MESSAGE, "type": TEXT_ERROR_TYPE}


def text_error() -> PydanticCustomError:
    return PydanticCustomError(TEXT_ERROR_TYPE, TEXT_ERROR_MESSAGE)


def _clean_text(value: str) -> str:
    if not is_clean(value):
        raise text_error()
    return value


# A single string outside a request model (a header, a form field) under the same rule.
Text = Annotated[str, AfterValidator(_clean_text)]
