"""The JSON API's refusals in SPEC 8's shape: ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

import json
from typing import Any

from flask import Response


class ApiError(Exception):
    """An answer other than success, raised anywhere in the request cycle."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> Response:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "field": self.field}
        body.update(self.extra)
        return json_response({"error": body}, self.status, self.headers)


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return Response(text, status, headers=headers, mimetype="application/json")
