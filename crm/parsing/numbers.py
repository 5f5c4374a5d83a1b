"""Percentages, choices from a fixed list, bounded integers."""

from __future__ import annotations

import re
from collections.abc import Sequence

from crm.errors import ValidationError
from crm.parsing.base import _INT64_MAX, _invalid, _show, _text

# --------------------------------------------------------------------------------------------
# small scalars


def parse_percent(text: str | int, field: str = "probability") -> int:
    """A whole percentage 0-100 (``40`` or ``40%``): probabilities are whole numbers in the
    data model, and "0.4" is more likely a mistake than 0.4%, so fractions are refused."""
    hint = f"{field}=40 or {field}=40%"
    what = "a percentage"
    raw = _text(text, field, what, hint, limit=10, numbers=True)
    match = re.fullmatch(r"(-?[0-9]{1,3})\s*%?", raw)
    if not match:
        raise _invalid(field, text, what, hint)
    value = int(match[1])
    if not 0 <= value <= 100:
        raise ValidationError(field, f"{_show(text)} is not between 0 and 100", hint=hint)
    return value


def _normal_choice(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def parse_choice(text: str, field: str, choices: Sequence[str]) -> str:
    """One of ``choices``, returned exactly as spelt in ``choices``.

    Case-insensitive, and spaces or hyphens count as underscores (``cold call`` and
    ``Cold-Call`` are ``cold_call``) because that is how people type them; but no prefix
    matching: ``q`` silently becoming ``qualified`` is worse than asking again.
    """
    options = list(choices)
    hint = f"{field}={options[0]}" if options else field
    message_tail = f"one of {', '.join(options)}" if options else "allowed here"
    raw = _text(text, field, message_tail, hint, limit=60)
    wanted = _normal_choice(raw)
    for option in options:
        if _normal_choice(option) == wanted:
            return option
    raise _invalid(field, text, message_tail, hint)


def parse_int(
    text: str | int,
    field: str,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """A whole number within optional bounds (``1,000`` and ``+5`` are fine).

    Without a ``maximum`` the value must still fit a signed 64-bit column, so a runaway number
    is a validation error here rather than a database error later.
    """
    example = 12
    if minimum is not None:
        example = max(example, minimum)
    if maximum is not None:
        example = min(example, maximum)
    hint = f"{field}={example}"
    what = "a whole number"
    raw = _text(text, field, what, hint, limit=30, numbers=True)
    match = re.fullmatch(r"([+-]?)\s*([0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,31})", raw)
    if not match:
        raise _invalid(field, text, what, hint)
    value = int(match[2].replace(",", ""))
    if match[1] == "-":
        value = -value
    low = -_INT64_MAX - 1 if minimum is None else minimum
    high = _INT64_MAX if maximum is None else maximum
    if not low <= value <= high:
        if minimum is not None and maximum is not None:
            detail = f"is not between {minimum} and {maximum}"
        elif value < low:
            detail = f"is less than {low}"
        else:
            detail = f"is more than {high}"
        raise ValidationError(field, f"{_show(text)} {detail}", hint=hint)
    return value
