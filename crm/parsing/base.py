"""Shared by every parser: normalising raw input and wording the one error type."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from decimal import Decimal

from crm.errors import ValidationError

# --------------------------------------------------------------------------------------------
# shared helpers

_RAW_LIMIT = 1000  # longer input is refused before any normalisation work is spent on it
_SHOW_LIMIT = 40  # how much of a bad value an error message echoes
_INT64_MAX = 2**63 - 1  # what a BIGINT column holds; ids and counts beyond it are nonsense


def _show(value: object) -> str:
    """A short, printable, quoted echo of a bad value, so a message never carries control
    characters, a megabyte of text or a Python repr nobody asked for."""
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, bytes | bytearray):
        text = repr(bytes(value[: _SHOW_LIMIT * 2]))
    elif isinstance(value, bool) or value is None:
        text = str(value).lower()
    elif isinstance(value, int | float | Decimal):
        try:
            text = str(value)
        except ValueError:  # ints beyond sys.get_int_max_str_digits()
            text = "a very large number"
    else:
        text = type(value).__name__
    text = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text[:200])
    if len(text) > _SHOW_LIMIT:
        text = text[: _SHOW_LIMIT - 1] + "…"
    return f'"{text}"'


def _invalid(field: str, value: object, what: str, hint: str) -> ValidationError:
    return ValidationError(field, f"{_show(value)} is not {what}", hint=hint)


def _clean(raw: str) -> str:
    """NFKC-normalise, drop invisible format characters, strip. Why NFKC: members paste from
    phones and spreadsheets (full-width digits, non-breaking spaces, the Kelvin sign instead of
    K), and all of those mean the plain ASCII a parser expects."""
    if raw.isascii():  # NFKC leaves ASCII as it is, and no format character is ASCII
        return raw.strip()
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return text.strip()


def _text(
    value: object, field: str, what: str, hint: str, *, limit: int = 100, numbers: bool = False
) -> str:
    """Turn ``value`` into cleaned text or refuse it.

    ``numbers`` lets ints and integral floats through as their decimal text, because JSON
    clients send ``"probability": 40`` as often as ``"40"``. Booleans never count as numbers
    (``True`` is an int in Python, not a probability).
    """
    if value is None:
        raise ValidationError(field, "a value is required", hint=hint)
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > 10**30:
            raise ValidationError(field, f"{_show(value)} is too large", hint=hint)
        return str(value)
    if numbers and isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")) or not value.is_integer():
            raise _invalid(field, value, what, hint)
        if abs(value) > 1e30:
            raise ValidationError(field, f"{_show(value)} is too large", hint=hint)
        return str(int(value))
    if not isinstance(value, str):
        raise _invalid(field, value, what, hint)
    if len(value) > _RAW_LIMIT:
        raise ValidationError(field, f"{_show(value)} is too long", hint=hint)
    text = _clean(value)
    if not text:
        raise ValidationError(field, "a value is required", hint=hint)
    if len(text) > limit:
        raise ValidationError(field, f"{_show(value)} is too long", hint=hint)
    return text


def _join_or(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"
