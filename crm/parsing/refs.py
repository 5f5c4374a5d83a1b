"""Record references: ``L12``, ``O7``, ``C3``, ``F9``, ``S2``, ``M4``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from crm.errors import ValidationError
from crm.parsing.base import _INT64_MAX, _invalid, _join_or, _show, _text

# --------------------------------------------------------------------------------------------
# record references

REF_PREFIX: dict[str, str] = {
    "lead": "L",
    "opportunity": "O",
    "customer": "C",
    "followup": "F",
    "segment": "S",
    "campaign": "M",
}
_REF_KIND = {letter: kind for kind, letter in REF_PREFIX.items()}
_REF_EXAMPLE = {
    "lead": "L12",
    "opportunity": "O7",
    "customer": "C3",
    "followup": "F9",
    "segment": "S2",
    "campaign": "M4",
}
_KIND_NAME = {"followup": "follow-up"}
_REF_RE = re.compile(r"(?P<letter>[a-z])(?P<id>[0-9]{1,19})", re.IGNORECASE)


@dataclass(frozen=True)
class Ref:
    """A typed record reference such as ``L12``: the short form members type and read in
    Slack, so a lead and a customer with the same id cannot be confused."""

    kind: str
    id: int

    def __post_init__(self) -> None:
        if self.kind not in REF_PREFIX:
            raise ValueError(f"unknown record kind {self.kind!r}")

    def __str__(self) -> str:
        return f"{REF_PREFIX[self.kind]}{self.id}"


def parse_record_id(text: str, kind: str, field: str | None = None) -> int:
    """A record id as a button carries it, plain (``9``) or as a reference (``F9``).

    Button values come back from Slack as the app wrote them, but anyone holding the signing
    secret's requests can send any text: ``int()`` alone accepts 40 digits, which no id
    column holds. The reference rules (kind, at most 19 digits, within 64 bits) apply.
    """
    raw = text.strip() if isinstance(text, str) else ""
    if raw.isascii() and raw.isdigit():
        raw = REF_PREFIX[kind] + raw
    return parse_ref(raw or text, field or kind, (kind,)).id


def parse_ref(text: str | Ref, field: str = "ref", kinds: Iterable[str] | None = None) -> Ref:
    """Read ``L12``/``o7``/`` C3 `` into a :class:`Ref`.

    ``kinds`` narrows what the caller can use (a communication's subject is a lead, customer or
    opportunity), so a wrong kind is refused here with the accepted prefixes listed instead of
    surfacing later as "not found". Unknown names in ``kinds`` are a programming error
    (ValueError). Whether the record exists, and in which company, is the service's business.
    """
    allowed = tuple(REF_PREFIX) if kinds is None else tuple(kinds)
    unknown = [kind for kind in allowed if kind not in REF_PREFIX]
    if unknown or not allowed:
        raise ValueError(f"unknown record kinds {unknown or allowed!r}")
    ordered = [kind for kind in REF_PREFIX if kind in allowed]
    hint = _join_or([_REF_EXAMPLE[kind] for kind in ordered])
    if isinstance(text, Ref):
        ref = text
    else:
        raw = _text(text, field, "a record reference", hint, limit=25)
        match = _REF_RE.fullmatch(raw)
        letter = match["letter"].upper() if match else ""
        if not match or letter not in _REF_KIND or int(match["id"]) < 1:
            raise _invalid(field, text, "a record reference", hint)
        if int(match["id"]) > _INT64_MAX:
            raise _invalid(field, text, "a record reference", hint)
        ref = Ref(_REF_KIND[letter], int(match["id"]))
    if ref.kind not in ordered:
        names = [_KIND_NAME.get(kind, kind) for kind in ordered]
        article = "an" if ref.kind == "opportunity" else "a"
        raise ValidationError(
            field,
            f"{_show(str(ref))} is {article} {_KIND_NAME.get(ref.kind, ref.kind)}; "
            f"here it must be {'an' if names[0][0] in 'aeiou' else 'a'} {_join_or(names)}",
            hint=hint,
        )
    return ref
