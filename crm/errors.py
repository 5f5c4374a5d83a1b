"""The few exception types every entrypoint (Slack, JSON API, CLI, workers) knows how to render.

Services raise these and nothing else for expected failures, so an adapter needs one
``except CRMError`` to turn any refusal into a friendly message or an HTTP status.
"""

from __future__ import annotations


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
