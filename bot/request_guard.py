"""The edge of ``POST /slack/events``: every request is checked here before Bolt sees it.

SPEC 10: a malformed request of any kind answers 400 or 401 with a short body and one log
line, never a 500 or a traceback. Bolt parses the body *before* it verifies the signature
(``BoltRequest.__init__``), trusts the payload's shape when it builds its context, and turns
a non-numeric timestamp into an exception; so the checks cannot be a Bolt middleware, they
come first, in this order:

1. the signature (401): both headers present, the timestamp whole seconds inside the
   five-minute window, the HMAC right. Nothing of an unsigned body is even parsed, so
   anyone on the internet can only ever get a 401;
2. the body (400): UTF-8, form-encoded or JSON as its ``Content-Type`` says, a JSON object
   no deeper than :data:`MAX_DEPTH`;
3. the payload's shape (400): a JSON Schema per kind (:data:`COMMAND`, :data:`EVENT`,
   :data:`INTERACTIVE`) holds every field Bolt or a listener reads with the type it must
   have (``user`` an object with an ``id``, ``actions`` a non-empty list, a modal's state
   values objects with strings where strings belong). Listeners may then read these fields
   without guarding each access.

A request that passes gets its replay key (:mod:`crm.replays`): the event id for an event
(Slack retries send it again with a new timestamp), a digest of the body for everything else
(a byte-for-byte replay), none for what changes nothing and must always be answered
(``url_verification``, ``ssl_check``, type-ahead ``block_suggestion``).

Why our own HMAC instead of ``slack_sdk.signature.SignatureVerifier``: that one decodes the
body as UTF-8 before hashing (raising on bad bytes) and calls ``int()`` on the timestamp
header (``1e3`` raises, 400 digits are accepted); the check is three lines of ``hmac``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match

SIGNATURE_WINDOW = 300  # seconds a signed request stays acceptable (Slack's own rule)
MAX_DEPTH = 40  # Slack nests a modal's state or a rich-text block about ten levels deep
MAX_FORM_FIELDS = 100
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class Refused(Exception):
    """The request is answered ``status`` with ``reason``, and nothing else happens."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = _printable(reason)

    @property
    def body(self) -> str:
        word = "unauthorized" if self.status == 401 else "bad request"
        return f"{word}: {self.reason}\n"


@dataclass(frozen=True)
class Checked:
    """A request that may go on to Bolt."""

    kind: str  # "command", "interactive", "event" or "ssl_check"
    payload: dict[str, Any]
    replay_key: str | None


def check(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> Checked:
    """The request as Bolt may see it, or :class:`Refused` saying why not."""
    verify_signature(headers, body, secret, now)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8 text") from None
    media = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media == "application/json":
        payload = _json_object(text, "body")
        _validate(EVENT, payload, "body")
        kind = "event"
    elif media == "application/x-www-form-urlencoded":
        form = _form(text)
        if "payload" in form:
            payload = _json_object(form["payload"], "payload")
            _validate(INTERACTIVE, payload, "payload")
            kind = "interactive"
        elif "command" in form:
            payload = form
            _validate(COMMAND, payload, "form")
            kind = "command"
        elif form.get("ssl_check") == "1":
            return Checked("ssl_check", form, None)
        else:
            raise Refused(400, "a form body needs a command or a payload field")
    else:
        raise Refused(
            400, "Content-Type must be application/json or application/x-www-form-urlencoded"
        )
    return Checked(kind, payload, replay_key(kind, payload, body))


def verify_signature(headers: Mapping[str, str], body: bytes, secret: str, now: float) -> None:
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not timestamp or not signature:
        raise Refused(401, "X-Slack-Request-Timestamp and X-Slack-Signature are required")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Refused(401, "X-Slack-Request-Timestamp must be whole seconds since 1970")
    if abs(now - int(timestamp)) > SIGNATURE_WINDOW:
        raise Refused(401, "X-Slack-Request-Timestamp is more than 5 minutes away")
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = b"v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest().encode()
    if not hmac.compare_digest(expected, signature.encode("latin-1", "replace")):
        raise Refused(401, "X-Slack-Signature does not match the body")


def replay_key(kind: str, payload: dict[str, Any], body: bytes) -> str | None:
    """What identifies this request among its retries and replays (:mod:`crm.replays`)."""
    kind_of = payload.get("type")
    if kind == "event":
        if kind_of != "event_callback":
            return None  # url_verification, app_rate_limited: nothing to repeat
        event_id = payload.get("event_id")
        if isinstance(event_id, str) and event_id:
            return f"event:{payload.get('api_app_id') or ''}:{event_id}"[:100]
    elif kind_of == "block_suggestion":
        return None  # type-ahead reads; the same text typed twice must be answered twice
    return "body:" + hashlib.sha256(body).hexdigest()


# --- parsing ---------------------------------------------------------------------------------


def _form(text: str) -> dict[str, str]:
    try:
        parsed = parse_qs(
            text,
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError:  # UnicodeDecodeError of a %-escape is a ValueError too
        raise Refused(400, "the body is not application/x-www-form-urlencoded") from None
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    if repeated:
        raise Refused(400, f"form field {repeated[0][:40]!r} is given more than once")
    return {name: values[0] for name, values in parsed.items()}


def _json_object(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except RecursionError:
        raise Refused(400, f"{where} is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as e:
        raise Refused(400, f"{where} is not JSON ({e})") from None
    if not isinstance(data, dict):
        raise Refused(400, f"{where} must be a JSON object, not {_json_type(data)}")
    if _depth(data) > MAX_DEPTH:
        raise Refused(400, f"{where} is nested more than {MAX_DEPTH} levels deep")
    return data


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else type(value).__name__


def _validate(validator: Draft202012Validator, payload: dict[str, Any], where: str) -> None:
    error = best_match(validator.iter_errors(payload))
    if error is not None:
        raise Refused(400, _describe(error, where))


def _describe(error: SchemaError, where: str) -> str:
    path = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "a field"
        return f"{path}.{missing} is required"
    if error.validator == "type":
        expected = error.validator_value
        names = expected if isinstance(expected, list) else [expected]
        return f"{path} must be {' or '.join(_TYPE_NAMES.get(n, n) for n in names)}"
    if error.validator == "anyOf":
        needed = [alt["required"][0] for alt in error.validator_value if "required" in alt]
        if needed:
            return f"{path} needs {' or '.join(needed)}"
    if error.validator == "minItems":
        return f"{path} must not be empty"
    if error.validator == "pattern":
        return f"{path} is not in the expected form"
    return f"{path} is malformed"


_TYPE_NAMES = {
    "string": "text",
    "null": "null",
    "object": "an object",
    "array": "a list",
    "integer": "a whole number",
    "boolean": "true or false",
}


def _printable(text: str) -> str:
    """One short log line whatever the request carried."""
    return "".join(c if c.isprintable() else "?" for c in text)[:200]


# --- the shapes --------------------------------------------------------------------------------

_STR: dict[str, Any] = {"type": "string"}
_OPT_STR: dict[str, Any] = {"type": ["string", "null"]}
_FLAG: dict[str, Any] = {"type": ["boolean", "string", "null"]}
_WITH_ID: dict[str, Any] = {"type": "object", "properties": {"id": _STR}, "required": ["id"]}
# team, channel, enterprise: an id, an object carrying one, or null
_REF: dict[str, Any] = {"anyOf": [{"type": ["string", "null"]}, _WITH_ID]}
_USER: dict[str, Any] = {
    "anyOf": [
        _STR,
        {
            "type": "object",
            "properties": {"id": _STR, "team_id": _OPT_STR, "username": _OPT_STR},
            "required": ["id"],
        },
    ]
}
_OPTION: dict[str, Any] = {
    "type": "object",
    "properties": {"value": _STR},
    "required": ["value"],
}
_ELEMENT_STATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": _STR,
        "action_id": _STR,
        "block_id": _STR,
        "action_ts": _STR,
        "value": _OPT_STR,
        "selected_option": {"anyOf": [{"type": "null"}, _OPTION]},
        "selected_options": {"type": "array", "items": _OPTION},
        "selected_user": _OPT_STR,
        "selected_users": {"type": "array", "items": _STR},
        "selected_conversation": _OPT_STR,
        "selected_conversations": {"type": "array", "items": _STR},
        "selected_channel": _OPT_STR,
        "selected_channels": {"type": "array", "items": _STR},
        "selected_date": _OPT_STR,
        "selected_time": _OPT_STR,
        "selected_date_time": {"type": ["integer", "null"]},
        "timezone": _OPT_STR,
        "rich_text_value": {"type": ["object", "null"]},
    },
}
_VIEW: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": _STR,
        "type": _STR,
        "callback_id": _STR,
        "private_metadata": _OPT_STR,
        "hash": _OPT_STR,
        "team_id": _OPT_STR,
        "app_installed_team_id": _OPT_STR,
        "root_view_id": _OPT_STR,
        "previous_view_id": _OPT_STR,
        "external_id": _OPT_STR,
        "blocks": {"type": "array", "items": {"type": "object"}},
        "state": {
            "type": "object",
            "properties": {
                "values": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": _ELEMENT_STATE,
                    },
                }
            },
            "required": ["values"],
        },
    },
}
_ENVELOPE: dict[str, Any] = {
    "type": _STR,
    "team": _REF,
    "enterprise": _REF,
    "channel": _REF,
    "user": _USER,
    "team_id": _OPT_STR,
    "enterprise_id": _OPT_STR,
    "user_id": _OPT_STR,
    "channel_id": _OPT_STR,
    "api_app_id": _OPT_STR,
    "token": _OPT_STR,
    "trigger_id": _OPT_STR,
    "response_url": _OPT_STR,
    "callback_id": _OPT_STR,
    "thread_ts": _OPT_STR,
    "is_enterprise_install": _FLAG,
    "is_ext_shared_channel": _FLAG,
    "authorizations": {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "team_id": _OPT_STR,
                "enterprise_id": _OPT_STR,
                "user_id": _OPT_STR,
                "is_enterprise_install": _FLAG,
            },
        },
    },
    "response_urls": {
        "type": "array",
        "items": {"type": "object", "properties": {"response_url": _STR}},
    },
    "container": {
        "type": "object",
        "properties": {
            "type": _OPT_STR,
            "channel_id": _OPT_STR,
            "message_ts": _OPT_STR,
            "view_id": _OPT_STR,
            "is_ephemeral": _FLAG,
        },
    },
    "message": {"type": "object", "properties": {"ts": _OPT_STR, "text": _OPT_STR}},
    "previous_message": {"type": "object"},
    "item": {"type": "object"},
    "function_data": {"type": "object"},
    "view": _VIEW,
    "actions": {
        "type": "array",
        "minItems": 1,
        "items": {**_ELEMENT_STATE, "required": ["action_id"]},
    },
    "action_id": _STR,
    "value": _STR,
    "event": {
        "type": "object",
        "properties": {
            "type": _STR,
            "user": {"anyOf": [{"type": "null"}, _USER]},
            "channel": _REF,
            "tab": _OPT_STR,
            "event_ts": _OPT_STR,
            "user_team": _OPT_STR,
            "team": _OPT_STR,
            "message": {"type": ["object", "null"]},
            "previous_message": {"type": ["object", "null"]},
            # Workflow Builder steps (function_executed)
            "function": {"type": ["object", "null"]},
            "inputs": {"type": ["object", "null"]},
            "function_execution_id": _OPT_STR,
            "bot_access_token": _OPT_STR,
        },
        "required": ["type"],
    },
}


def _by_type(cases: dict[str, dict[str, Any]], always: list[str]) -> list[dict[str, Any]]:
    """``then`` schemas per payload ``type``, and what every payload of the kind needs."""
    return [
        {"if": {"properties": {"type": {"const": kind}}, "required": ["type"]}, "then": then}
        for kind, then in cases.items()
    ] + [{"required": always}]


def _needs(*fields: str, **nested: list[str]) -> dict[str, Any]:
    return {
        "required": [*fields, *nested],
        "properties": {name: {"required": inner} for name, inner in nested.items()},
    }


_MEMBER: dict[str, Any] = _USER["anyOf"][1]  # an interaction's user is always an object

INTERACTIVE = Draft202012Validator(
    {
        "type": "object",
        "properties": {**_ENVELOPE, "user": _MEMBER},
        "allOf": _by_type(
            {
                # a click on a message is answered through its response_url; one on App
                # Home or in a modal carries the view instead
                "block_actions": {
                    **_needs("actions"),
                    "anyOf": [{"required": ["response_url"]}, {"required": ["view"]}],
                },
                "block_suggestion": _needs("action_id", "value"),
                "view_submission": _needs(view=["id", "type", "callback_id", "state"]),
                "view_closed": _needs(view=["id", "type", "callback_id"]),
                "shortcut": _needs("callback_id", "trigger_id"),
                "message_action": _needs("callback_id", "trigger_id", "message"),
            },
            ["type", "user"],
        ),
    }
)
EVENT = Draft202012Validator(
    {
        "type": "object",
        "properties": {**_ENVELOPE, "challenge": _STR, "event_id": _STR},
        "allOf": _by_type(
            {
                "url_verification": _needs("challenge"),
                "event_callback": _needs("event", "event_id"),
            },
            ["type"],
        ),
    }
)
COMMAND = Draft202012Validator(
    {
        "type": "object",
        "properties": {
            "command": {"type": "string", "pattern": "^/[a-z0-9_.-]{1,32}$"},
            "team_id": {"type": "string", "pattern": "^[A-Z0-9]{1,32}$"},
            "user_id": {"type": "string", "pattern": "^[A-Z0-9]{1,32}$"},
        },
        "required": ["command", "team_id", "user_id"],
    }
)
