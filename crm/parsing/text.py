"""The one rule for free text that people store (names, titles, notes, reasons), whatever the
surface: Slack commands and modals, CSV import, the JSON API all reach it through the services.

Why a rule of our own: no library says which characters a CRM should keep. What it refuses:

- control characters (NUL, ESC of ANSI colour codes, DEL, the C1 range): PostgreSQL refuses
  NUL outright, terminals run the rest, and nobody types them; tab, newline and carriage
  return are the exceptions (kept in notes, folded into spaces in one-line fields such as
  names);
- bidi embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069): they make
  text display differently from what it is (``evil\\u202egnp.exe``); right-to-left scripts
  do not need them;
- text with no visible character at all (only zero-width or other invisible characters):
  a record nobody can see or pick;
- lone surrogates, which no database can store as UTF-8.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from crm.errors import ValidationError

_KEPT_CONTROLS = frozenset("\t\n\r")
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# letters and symbols that render as nothing (fillers), besides the format characters (Cf)
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e\u034f")


def _refusal(ch: str) -> str | None:
    if ch in _KEPT_CONTROLS:
        return None
    if ch in _BIDI_CONTROLS:
        return f"contains a bidi control (U+{ord(ch):04X}) that makes text show differently"
    category = unicodedata.category(ch)
    if category == "Cc":
        return f"contains the control character U+{ord(ch):04X}"
    if category == "Cs":
        return "contains an unpaired surrogate (not valid text)"
    return None


def _visible(ch: str) -> bool:
    return not (ch.isspace() or ch in _INVISIBLE or unicodedata.category(ch) == "Cf")


def check_text(value: str, field: str, *, hint: str | None = None) -> str:
    """Refuse text that breaks the rule (module docstring); returns it unchanged. For
    validators that keep their own wording for missing or overlong values."""
    if value.isascii() and value.isprintable() and value.strip():
        return value  # printable ASCII (most of what is typed) breaks none of the rules
    for ch in value:
        why = _refusal(ch)
        if why is not None:
            raise ValidationError(field, f"{why}; use plain text", hint=hint)
    if value.strip() and not any(_visible(ch) for ch in value):
        raise ValidationError(field, "has no visible characters", hint=hint)
    return value


def parse_text(
    value: Any,
    field: str,
    max_length: int,
    *,
    required: bool = False,
    multiline: bool = False,
    hint: str | None = None,
) -> str | None:
    """Stored text, or ``None`` for blank (refused when ``required``).

    One-line text (``multiline=False``) has runs of whitespace collapsed into one space;
    ``multiline`` text keeps its tabs and line breaks (``\\r\\n`` becomes ``\\n``).
    """
    example = hint or f'{field}="Jane Doe"'
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(field, "a value is required", hint=example)
        return None
    if not isinstance(value, str):
        raise ValidationError(field, "must be text", hint=example)
    check_text(value, field, hint=example)
    if multiline:
        text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    else:
        text = " ".join(value.split())
    if len(text) > max_length:
        raise ValidationError(field, f"is longer than {max_length} characters", hint=example)
    return text
