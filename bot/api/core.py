"""The JSON API's schema layer: pydantic v2 models validate every request, and the same models
generate ``openapi.json`` (SPEC 8). No OpenAPI text is written by hand.

A resource module declares an operation with :func:`operation`::

    @operation("POST", "/leads", body=LeadIn, query=CreateQuery, response=LeadOut,
               status=201, scope="write", summary="Create a lead", tag="leads")
    def create(call: Call) -> dict: ...

and :func:`install` turns the registry into Flask routes (``/cms/crm`` + path, ``{id}`` as an
integer converter). Each request passes, in order: bearer token (401), scope (403), rate limit
(429), ``Idempotency-Key`` (replay or 409), body and query validation (400 / 422 listing every
bad field), then the handler, whose :class:`crm.errors.CRMError` becomes its status and the
error shape ``{"error": {"code", "message", "field"}}``.

Why our own ~300 lines rather than flask-openapi3 or spectree: both own the request cycle
(their own error bodies, their own 422 shape, their own docs routes from a CDN by default),
while SPEC 8 fixes the error shape, the auth order and the idempotency replay exactly; a
decorator that records the models and a generator over ``pydantic.json_schema`` is all we need
from them. Responses are built as plain dicts for speed (pydantic would re-validate what the
services already validated); their models document them, and the schemathesis test checks
that every answer conforms.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import Flask, Response, request
from peewee import DatabaseError, OperationalError
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticError
from pydantic.json_schema import models_json_schema
from werkzeug.exceptions import HTTPException

import bot.api.auth as auth
import bot.api.replay as replay
from bot.api.errors import ApiError, json_response
from crm.acting import Actor
from crm.db import database
from crm.duplicates import DuplicateFound
from crm.errors import CRMError, InvalidFields

log = logging.getLogger("bot.api")

PREFIX = "/cms/crm"
MAX_ID = 2**31 - 1  # ids are 32-bit integers in both databases: larger ones are "not found"
ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 422, 429)
Scope = Literal["read", "write"]


class Schema(BaseModel):
    """Base of every request model: unknown fields are refused by name (a typo such as
    ``estimated_valu`` is a 422, not silently dropped)."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    """Base of every response model (documentation only; responses are built as dicts)."""


class ErrorDetail(Output):
    field: str | None
    message: str


class ErrorBody(Output):
    code: str
    message: str
    field: str | None
    details: list[ErrorDetail] | None = None
    ref: str | None = None


class ErrorOut(Output):
    error: ErrorBody


@dataclass
class Call:
    """What a handler gets: the acting token, validated body and query, path parameters."""

    actor: Actor
    body: Any
    query: Any
    path: dict[str, int]

    def given(self) -> dict[str, Any]:
        """The body's fields the client actually sent (PATCH changes only those)."""
        return {name: getattr(self.body, name) for name in self.body.model_fields_set}


Handler = Callable[[Call], Any]


@dataclass
class Operation:
    method: str
    path: str  # OpenAPI form, relative to PREFIX: "/leads/{id}"
    handler: Handler
    summary: str
    tag: str
    scope: Scope
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    statuses: tuple[int, ...] = ()  # other success statuses (200 for a replayed order)
    description: str = ""
    params: tuple[str, ...] = field(default_factory=tuple)

    @property
    def operation_id(self) -> str:
        return self.handler.__module__.rsplit(".", 1)[-1] + "_" + self.handler.__name__

    @property
    def flask_rule(self) -> str:
        return PREFIX + re.sub(r"\{(\w+)\}", r"<int:\1>", self.path)


OPERATIONS: list[Operation] = []


def operation(
    method: str,
    path: str,
    *,
    summary: str,
    tag: str,
    scope: Scope,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    statuses: tuple[int, ...] = (),
) -> Callable[[Handler], Handler]:
    """Register a handler as one operation of the API (and of its OpenAPI document)."""

    def register(handler: Handler) -> Handler:
        OPERATIONS.append(
            Operation(
                method=method,
                path=path,
                handler=handler,
                summary=summary,
                tag=tag,
                scope=scope,
                body=body,
                query=query,
                response=response,
                status=status,
                statuses=statuses,
                description=inspect.cleandoc(handler.__doc__ or ""),
                params=tuple(re.findall(r"\{(\w+)\}", path)),
            )
        )
        return handler

    return register


# --- request cycle ---------------------------------------------------------------------------


def _has_nul(value: Any) -> str | None:
    """The dotted path of the first string holding NUL, which neither database can store."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return where or None
        elif isinstance(item, dict):
            for k, v in item.items():
                if isinstance(k, str) and "\x00" in k:
                    return where or None
                stack.append((f"{where}.{k}" if where else str(k), v))
        elif isinstance(item, list):
            stack.extend((f"{where}.{i}" if where else str(i), v) for i, v in enumerate(item))
    return None


def _field_name(loc: tuple[Any, ...]) -> str | None:
    # pydantic adds the union member's type name to a location ("amount.decimal"): drop it
    parts = [
        str(p)
        for p in loc
        if not (
            isinstance(p, str)
            and p.startswith(
                (
                    "function-",
                    "decimal",
                    "int",
                    "str",
                    "float",
                    "constrained-",
                    "lax-",
                    "json-or-python",
                )
            )
        )
    ]
    return ".".join(parts) or None


def _invalid(exc: PydanticError, where: str) -> ApiError:
    details = []
    for err in exc.errors(include_url=False, include_input=False):
        name = _field_name(err["loc"])
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "is not a field of this request"
        elif err["type"] == "missing":
            message = "is required"
        details.append({"field": name, "message": message})
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for d in details:
        key = (d["field"], d["message"])
        if key not in seen:
            seen.add(key)
            unique.append(d)
    first = unique[0] if unique else {"field": None, "message": "invalid"}
    summary = "; ".join(f"{d['field'] or where}: {d['message']}" for d in unique[:5])
    return ApiError(422, "invalid", summary, first["field"], details=unique)


def _read_body(op: Operation) -> Any:
    if op.body is None:
        return None
    raw = request.get_data(cache=True)
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise ApiError(400, "bad_json", "the body is not valid JSON", None) from None
    where = _has_nul(data)
    if where is not None:
        raise ApiError(422, "invalid", f"{where}: NUL characters are not allowed", where)
    try:
        return op.body.model_validate(data)
    except RecursionError:
        raise ApiError(400, "bad_json", "the body is nested too deeply", None) from None
    except PydanticError as exc:
        raise _invalid(exc, "body") from None


def _read_query(op: Operation) -> Any:
    if op.query is None:
        return None
    args = {k: v for k, v in request.args.items()}
    where = _has_nul(args)
    if where is not None:
        raise ApiError(422, "invalid", f"{where}: NUL characters are not allowed", where)
    try:
        return op.query.model_validate(args)
    except PydanticError as exc:
        raise _invalid(exc, "query") from None


# The services name a field as a rep types it in Slack (``company=Acme``, ``due=friday``); the
# original bodies name it otherwise. A refusal names the body's field where the body has it.
BODY_NAMES = {
    "company": "company_name",
    "due": "due_date",
    "at": "communicated_at",
    "duration": "duration_minutes",
    "reason": "loss_reason",
    "customer": "customer_id",
    "lead": "lead_id",
    "assign": "assigned_to",
}


def _named(op: Operation, field: str | None, message: str) -> tuple[str | None, str]:
    """``field`` and ``message`` with the service's name of the field replaced by the body's."""
    name = BODY_NAMES.get(field or "")
    if field is None or name is None or op.body is None or name not in op.body.model_fields:
        return field, message
    if message.startswith(f"{field}: "):
        message = f"{name}: {message[len(field) + 2 :]}"
    return name, message


def _crm_error(exc: CRMError, op: Operation) -> ApiError:
    extra: dict[str, Any] = {}
    if isinstance(exc, DuplicateFound) and exc.candidates:
        extra["ref"] = exc.candidates[0].ref
    field, message = _named(op, exc.field, exc.message)
    if isinstance(exc, InvalidFields):  # every bad field, as a body's schema errors are
        named = [_named(op, e.field, e.message) for e in exc.errors]
        extra["details"] = [{"field": f, "message": m} for f, m in named]
        message = "; ".join(m for _, m in named)
    return ApiError(exc.status, exc.code, message, field, **extra)


def _dispatch(op: Operation, path: dict[str, int]) -> Response:
    for name, value in path.items():
        if not 1 <= value <= MAX_ID:
            raise ApiError(404, "not_found", f"{name} {value} not found", name)
    actor = auth.authenticate(request.headers.get("Authorization"))
    if op.scope == "write" and actor.scope != "write":
        raise ApiError(
            403, "forbidden", "this token may only read; ask an admin for a write token", None
        )
    auth.limit(actor)
    body = _read_body(op)
    query = _read_query(op)
    call = Call(actor=actor, body=body, query=query, path=path)
    key = request.headers.get("Idempotency-Key")
    if op.method == "POST" and key is not None:
        return replay.once(actor, key, lambda: _run(op, call))
    return _run(op, call)


def _run(op: Operation, call: Call) -> Response:
    try:
        result = op.handler(call)
    except CRMError as exc:
        raise _crm_error(exc, op) from None
    status = op.status
    if isinstance(result, tuple):
        result, status = result
    return json_response(result, status)


def _view(op: Operation) -> Callable[..., Response]:
    def view(**path: int) -> Response:
        try:
            return _dispatch(op, path)
        except ApiError as exc:
            return exc.response()
        except OperationalError as exc:
            log.warning("api %s %s: database unavailable (%s)", op.method, op.path, exc)
            return ApiError(503, "unavailable", "the database is unavailable; retry").response()
        except DatabaseError:
            log.exception("api %s %s failed", op.method, op.path)
            return ApiError(500, "server_error", "something went wrong on our side").response()

    view.__name__ = f"api_{op.operation_id}"
    return view


def install(app: Flask) -> None:
    """Add every registered operation to ``app``, and JSON errors for the prefix's 404, 405,
    413 and malformed requests (Flask's own answers are HTML)."""
    for op in OPERATIONS:
        app.add_url_rule(op.flask_rule, view_func=_view(op), methods=[op.method])

    @app.errorhandler(HTTPException)
    def api_http_error(exc: HTTPException) -> Any:
        if not request.path.startswith(PREFIX + "/") and request.path != PREFIX:
            return exc
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.code or 400, "bad_request"
        )
        message = {
            404: "no such route or record",
            405: f"{request.method} is not allowed here",
            413: "the body is larger than 1 MiB",
        }.get(exc.code or 400, exc.description or "bad request")
        response = ApiError(exc.code or 400, code, message).response()
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.teardown_request
    def api_close(_exc: BaseException | None) -> None:
        if request.path.startswith(PREFIX) and not database.is_closed():
            database.close()


# --- the OpenAPI document -------------------------------------------------------------------


def _responses(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    def content(schema: dict[str, Any]) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": schema}}}

    error = refs[(ErrorOut, "serialization")]
    out: dict[str, Any] = {}
    for status in (op.status, *op.statuses):
        doc = {"description": "success"}
        if op.response is not None:
            doc.update(content(refs[(op.response, "serialization")]))
        out[str(status)] = doc
    reasons = {
        400: "malformed request (not JSON, nested too deeply)",
        401: "missing, unknown or revoked token",
        403: "the token may not do this (a read token writing)",
        404: "no such record in the token's company",
        409: "conflict: a second conversion, a likely duplicate, an Idempotency-Key reused",
        413: "body larger than 1 MiB",
        422: "invalid fields (every one listed in error.details)",
        429: "rate limit reached (see Retry-After)",
        503: "the database is unavailable",
    }
    for status in (*ERROR_STATUSES, 503):
        out[str(status)] = {"description": reasons[status], **content(error)}
    # answered by gunicorn before the app sees the request, so not in the JSON shape
    out["414"] = {"description": "request line (path and query) longer than 4094 bytes"}
    return out


def _parameters(op: Operation, refs: dict[Any, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "description": "the record's number, as in its ref (L12 -> 12)",
        }
        for name in op.params
    ]
    if op.query is not None:
        ref = refs[(op.query, "validation")]["$ref"].rsplit("/", 1)[-1]
        schema = defs[ref]
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": {k: v for k, v in prop.items() if k not in ("title", "description")},
            }
            if prop.get("description"):
                param["description"] = prop["description"]
            params.append(param)
    if op.method == "POST":
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": "the same key and body answer the first response again",
            }
        )
    return params


def _openapi30(node: Any) -> Any:
    """pydantic writes JSON Schema 2020-12 (OpenAPI 3.1); the document is OpenAPI 3.0.3,
    which Swagger UI 4 and every client generator read: ``anyOf [X, null]`` becomes
    ``nullable``, ``const`` a one-value ``enum``."""
    if isinstance(node, list):
        return [_openapi30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi30(v) for k, v in node.items() if k != "examples"}
    if "const" in out:
        out["enum"] = [out.pop("const")]
    variants = out.get("anyOf")
    if isinstance(variants, list) and {"type": "null"} in variants:
        others = [v for v in variants if v != {"type": "null"}]
        del out["anyOf"]
        if len(others) == 1 and "$ref" in others[0]:
            out["allOf"] = others
        elif len(others) == 1:
            out = {**others[0], **out}
        else:
            out["anyOf"] = others
        out["nullable"] = True
    return out


def openapi(server_url: str = PREFIX) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document of every registered operation, from the pydantic models."""
    wanted: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (ErrorOut, "serialization")
    ]
    for op in OPERATIONS:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        if op.query is not None:
            wanted.append((op.query, "validation"))
        if op.response is not None:
            wanted.append((op.response, "serialization"))
    wanted = list(dict.fromkeys(wanted))
    refs, top = models_json_schema(wanted, ref_template="#/components/schemas/{model}")
    defs = top.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        doc: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "security": [{"bearer": []}],
            "parameters": _parameters(op, refs, defs),
            "responses": _responses(op, refs),
            "x-scope": op.scope,
        }
        if op.description:
            doc["description"] = op.description
        if op.body is not None:
            doc["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = doc
    query_names = {
        refs[(op.query, "validation")]["$ref"].rsplit("/", 1)[-1]
        for op in OPERATIONS
        if op.query is not None
    }
    return _openapi30(
        {
            "openapi": "3.0.3",
            "info": {
                "title": "CRM JSON API",
                "version": "1",
                "description": (
                    "The original system's /cms/crm routes. Authenticate with "
                    "`Authorization: Bearer <token>` (`crm token create`). Errors are "
                    '`{"error": {"code", "message", "field"}}`.'
                ),
            },
            "servers": [{"url": server_url}],
            "paths": paths,
            "components": {
                "schemas": {k: v for k, v in defs.items() if k not in query_names},
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        }
    )
