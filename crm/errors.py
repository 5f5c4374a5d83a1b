"""The few exception types every entrypoint (Slack, JSON API, CLI, workers) knows how to render.

Services raise these and nothing else for expected failures, so an adapter needs one
``except CRMError`` to turn any refusal into a friendly message or an HTTP status.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any


class CRMError(Exception):
    """Base of every expected failure; ``code`` doubles as the JSON API error code."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class ValidationError(CRMError):
    """Bad input: names the field and shows the accepted form, e.g.
    ``amount: "12x" is not an amount; try amount=12000 or amount=12k``."""

    code = "invalid"
    status = 422

    def __init__(self, field: str, message: str, *, hint: str | None = None) -> None:
        text = f"{field}: {message}" if field else message
        if hint:
            text = f"{text}; try {hint}"
        super().__init__(text, field=field)
        self.hint = hint


class InvalidFields(ValidationError):
    """Several fields are wrong at once: every one is in :attr:`errors` (the JSON API lists
    them all in one 422, a form shows each under its field), the first names the error."""

    def __init__(self, errors: list[ValidationError]) -> None:
        CRMError.__init__(self, "; ".join(e.message for e in errors), field=errors[0].field)
        self.hint = errors[0].hint
        self.errors = errors


def cleaned(**cleaners: Callable[[], Any]) -> dict[str, Any]:
    """Each field's value from its cleaner, all of them run: a body with a bad email and a bad
    phone is refused once, naming both, instead of one round of corrections per field."""
    values: dict[str, Any] = {}
    errors: list[ValidationError] = []
    for name, clean in cleaners.items():
        try:
            values[name] = clean()
        except InvalidFields as exc:
            errors.extend(exc.errors)
        except ValidationError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InvalidFields(errors)
    return values


def cleaned_fields(
    cleaners: Mapping[str, Callable[[Any], Any]], fields: Mapping[str, Any]
) -> dict[str, Any]:
    """:func:`cleaned` for a PATCH: each given field through its cleaner, in the cleaners'
    order; a given field without a cleaner is the caller's (a lookup, not a form to check)."""
    return cleaned(
        **{
            name: functools.partial(clean, fields[name])
            for name, clean in cleaners.items()
            if name in fields
        }
    )


class NotFound(CRMError):
    """Missing records and records of another company look the same (rule 8)."""

    code = "not_found"
    status = 404


class PermissionDenied(CRMError):
    """The actor's role does not allow the action; the message names the role needed."""

    code = "forbidden"
    status = 403


class Conflict(CRMError):
    """The action contradicts the record's state (second conversion, stale undo, ...)."""

    code = "conflict"
    status = 409
