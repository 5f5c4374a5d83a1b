"""Block Kit of the CRM's modals (SPEC 5.2): New lead, New opportunity, Log communication,
New follow-up; plus reading a submitted view back.

Conventions every modal follows, so one reader serves them all:
- every input block's ``block_id`` is the field's name (``name``, ``amount``, ``due``, ...)
  and its element's ``action_id`` is :data:`VALUE`; a validation error goes back on the block
  whose id is the field (``response_action: errors``);
- text fields take what ``/crm`` takes (``50k``, ``tomorrow 3pm``, ``L12``) and are parsed by
  the same :mod:`crm.parsing` functions, so a modal and a command accept the same words;
- ``private_metadata`` carries where the modal came from (:class:`Origin`): the channel to
  answer in and, for message shortcuts, the message (channel, ts) and its files.

Pure functions from data to dicts: no queries, no Slack calls.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.blocks.common import Block, context, plain, truncate
from crm.models import COMMUNICATION_TYPES, LEAD_SOURCES, OPEN_STAGES, PRIORITIES

__all__ = [
    "CREATE_ANYWAY",
    "FOLLOWUP_VIEW",
    "LEAD_VIEW",
    "LOG_VIEW",
    "OPP_VIEW",
    "VALUE",
    "Origin",
    "followup_modal",
    "lead_modal",
    "log_modal",
    "opportunity_modal",
    "record_option",
    "record_select",
    "submitted_values",
    "suggest_kinds",
]

# callback ids of the modals (bot/listeners/views/ answers their submissions)
LEAD_VIEW = "lead_modal"
OPP_VIEW = "opportunity_modal"
LOG_VIEW = "log_modal"
FOLLOWUP_VIEW = "followup_modal"

VALUE = "value"  # the action id of every input element
CREATE_ANYWAY = "create_anyway"  # the checkbox that lets a likely duplicate through
TEXT_INPUT_LIMIT = 3000  # Slack's cap on a plain_text_input's value
METADATA_LIMIT = 3000
MAX_FILES = 20

_DIRECTIONS = (("outbound", "Outbound (we reached out)"), ("inbound", "Inbound (they did)"))


@dataclass(frozen=True)
class Origin:
    """Where a modal was opened from, kept in its ``private_metadata``.

    ``channel``: where the receipt goes (ephemeral); ``None`` (global shortcut, App Home)
    means a DM. ``message_ts``/``files``/``team_domain``: the message a shortcut acted on,
    so the submission can link to it (its permalink is looked up when the form is saved).
    """

    channel: str | None = None
    message_ts: str | None = None
    files: tuple[str, ...] = field(default_factory=tuple)
    team_domain: str | None = None

    def dump(self) -> str:
        data: dict[str, Any] = {}
        for key, value in (("c", self.channel), ("ts", self.message_ts), ("d", self.team_domain)):
            if value:
                data[key] = value
        if self.files:
            data["f"] = list(self.files[:MAX_FILES])
        text = json.dumps(data, separators=(",", ":"))
        return text if len(text) <= METADATA_LIMIT else json.dumps({"c": self.channel})

    @classmethod
    def of_message(cls, body: dict[str, Any]) -> Origin:
        """The origin of a message shortcut's payload: its channel, message and files."""
        message = body.get("message") or {}
        files = [f.get("id") for f in message.get("files") or [] if isinstance(f, dict)]
        return cls(
            channel=(body.get("channel") or {}).get("id"),
            message_ts=message.get("ts"),
            files=tuple(f for f in files if isinstance(f, str)),
            team_domain=(body.get("team") or {}).get("domain"),
        )

    @classmethod
    def load(cls, text: str | None) -> Origin:
        """Never raises: metadata we did not write (or none) is an origin without context."""
        try:
            data = json.loads(text or "{}")
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()

        def text_of(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) and value else None

        files = data.get("f") if isinstance(data.get("f"), list) else []
        return cls(
            channel=text_of("c"),
            message_ts=text_of("ts"),
            files=tuple(f for f in files if isinstance(f, str))[:MAX_FILES],
            team_domain=text_of("d"),
        )


# --- inputs ----------------------------------------------------------------------------------


def _input(block_id: str, label: str, element: Block, *, optional: bool, hint: str | None) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": {**element, "action_id": VALUE},
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def text_input(
    block_id: str,
    label: str,
    *,
    initial: str | None = None,
    placeholder: str | None = None,
    optional: bool = False,
    multiline: bool = False,
    max_length: int = TEXT_INPUT_LIMIT,
    hint: str | None = None,
) -> Block:
    element: Block = {"type": "plain_text_input", "multiline": multiline}
    if max_length < TEXT_INPUT_LIMIT:
        element["max_length"] = max_length
    if initial:
        element["initial_value"] = truncate(initial, max_length)
    if placeholder:
        element["placeholder"] = plain(placeholder, 150)
    return _input(block_id, label, element, optional=optional, hint=hint)


def _option(value: str, text: str | None = None) -> Block:
    return {"text": plain(text or value.replace("_", " ").capitalize(), 75), "value": value}


def select_input(
    block_id: str,
    label: str,
    choices: Sequence[str | tuple[str, str]],
    *,
    initial: str | None = None,
    optional: bool = False,
    hint: str | None = None,
) -> Block:
    options = [_option(*c) if isinstance(c, tuple) else _option(c) for c in choices]
    element: Block = {"type": "static_select", "options": options}
    chosen = next((o for o in options if o["value"] == initial), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return _input(block_id, label, element, optional=optional, hint=hint)


def user_input(block_id: str, label: str, *, initial_user: str | None, hint: str | None) -> Block:
    element: Block = {"type": "users_select"}
    if initial_user:
        element["initial_user"] = initial_user
    return _input(block_id, label, element, optional=True, hint=hint)


# type-ahead: the kinds of record a field refers to ride in its action id (``value:lco``), so
# the one options listener (bot/listeners/options) knows what to search without a registry
SUGGEST_CODES = {"lead": "l", "customer": "c", "opportunity": "o", "segment": "s"}
SUGGEST_PREFIX = f"{VALUE}:"
SUGGEST_MIN_CHARS = 2
OPTION_TEXT_LIMIT = 75


def suggest_action(kinds: Sequence[str]) -> str:
    return SUGGEST_PREFIX + "".join(SUGGEST_CODES[k] for k in kinds)


def suggest_kinds(action_id: str) -> tuple[str, ...] | None:
    """The kinds an options request's ``action_id`` asks for; ``None`` if it is not ours."""
    codes = action_id.removeprefix(SUGGEST_PREFIX) if action_id.startswith(SUGGEST_PREFIX) else ""
    by_code = {code: kind for kind, code in SUGGEST_CODES.items()}
    if not codes or any(c not in by_code for c in codes) or len(set(codes)) != len(codes):
        return None
    return tuple(by_code[c] for c in codes)


def record_option(ref: str, text: str | None = None) -> Block:
    """An option of a type-ahead: the ref is the value (what the submission reads, exactly
    what a member would type), the text shows ref and name."""
    return {
        "text": plain(truncate(text or ref, OPTION_TEXT_LIMIT), OPTION_TEXT_LIMIT),
        "value": ref,
    }


def record_select(
    block_id: str,
    label: str,
    kinds: Sequence[str],
    *,
    initial: Block | None = None,
    initial_options: Sequence[Block] = (),
    multi: bool = False,
    optional: bool = False,
    placeholder: str | None = None,
    hint: str | None = None,
) -> Block:
    """An input that refers to records (SPEC 5.2): an ``external_select`` answered from
    ``block_suggestion`` with the workspace's best matches, name and ref. ``multi`` for a
    list of them (a campaign's customers). ``initial``: a :func:`record_option`. Usable in
    any modal; the submission reads like a typed ref (``L12``), or a list of them."""
    element: Block = {
        "type": "multi_external_select" if multi else "external_select",
        "action_id": suggest_action(kinds),
        "min_query_length": SUGGEST_MIN_CHARS,
        "placeholder": plain(placeholder or "Type a name, email or phone", 150),
    }
    if initial is not None and not multi:
        element["initial_option"] = initial
    if initial_options and multi:
        element["initial_options"] = list(initial_options)
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def _ref_option(ref: str | None) -> Block | None:
    return record_option(ref) if ref else None


def date_input(block_id: str, label: str, *, hint: str | None = None) -> Block:
    return _input(block_id, label, {"type": "datepicker"}, optional=True, hint=hint)


def checkbox_input(block_id: str, label: str, text: str, description: str) -> Block:
    option = {"text": plain(text, 75), "value": "yes", "description": plain(description, 75)}
    return _input(
        block_id, label, {"type": "checkboxes", "options": [option]}, optional=True, hint=None
    )


def modal(callback_id: str, title: str, blocks: list[Block], origin: Origin, submit: str) -> Block:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "submit": plain(submit, 24),
        "close": plain("Cancel", 24),
        "blocks": blocks,
        "private_metadata": origin.dump(),
    }


# --- the modals ------------------------------------------------------------------------------


def lead_modal(
    origin: Origin,
    *,
    assignee: str | None,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    note: str | None = None,
) -> Block:
    """New lead: the fields of ``/crm lead add``; the assignee defaults to the member."""
    blocks: list[Block] = []
    if note:
        blocks.append(context(note))
    blocks += [
        text_input("name", "Name", initial=name, placeholder="Jane Doe", max_length=200),
        text_input("email", "Email", initial=email, placeholder="jane@example.com", optional=True),
        text_input("phone", "Phone", initial=phone, placeholder="+260971234567", optional=True),
        text_input("company", "Company", placeholder="Acme Ltd", optional=True, max_length=200),
        select_input("source", "Source", LEAD_SOURCES, initial="other"),
        text_input("value", "Estimated value", placeholder="50k", optional=True),
        text_input("prob", "Probability (%)", placeholder="40", optional=True),
        select_input("priority", "Priority", PRIORITIES, initial="medium"),
        user_input("assign", "Assigned to", initial_user=assignee, hint="Empty: unassigned"),
        checkbox_input(
            CREATE_ANYWAY,
            "Likely duplicates",
            "Create anyway",
            "even if it looks like a lead we have",
        ),
    ]
    return modal(LEAD_VIEW, "New lead", blocks, origin, "Create")


def opportunity_modal(origin: Origin, *, assignee: str | None, ref: str | None = None) -> Block:
    """New opportunity: for exactly one customer or lead, in an open stage."""
    blocks = [
        text_input("name", "Name", placeholder="Acme renewal 2026", max_length=200),
        record_select("ref", "Customer or lead", ("customer", "lead"), initial=_ref_option(ref)),
        text_input("amount", "Amount", placeholder="120k"),
        select_input("stage", "Stage", OPEN_STAGES, initial="prospecting"),
        text_input(
            "prob",
            "Probability (%)",
            placeholder="40",
            optional=True,
            hint="Empty: the stage's default (prospecting 10, qualification 25, ...)",
        ),
        date_input("close", "Expected close"),
        user_input("assign", "Assigned to", initial_user=assignee, hint="Empty: unassigned"),
    ]
    return modal(OPP_VIEW, "New opportunity", blocks, origin, "Create")


def log_modal(
    origin: Origin,
    *,
    ref: str | None = None,
    type: str = "call",
    direction: str = "outbound",
    content: str | None = None,
    note: str | None = None,
) -> Block:
    """Log communication; from a message shortcut the message text is the content and the
    message's link and files come along (``note`` says so)."""
    blocks: list[Block] = []
    if note:
        blocks.append(context(note))
    blocks += [
        record_select("ref", "On", ("lead", "customer", "opportunity"), initial=_ref_option(ref)),
        select_input("type", "Type", COMMUNICATION_TYPES, initial=type),
        select_input("direction", "Direction", _DIRECTIONS, initial=direction),
        text_input("subject", "Subject", optional=True, max_length=255),
        text_input(
            "content",
            "What was said",
            initial=content,
            multiline=True,
            optional=bool(origin.message_ts),
        ),
        text_input("duration", "Duration", placeholder="15m or 1h30m", optional=True),
        text_input(
            "at",
            "When",
            placeholder="yesterday 3pm",
            optional=True,
            hint="Empty: now. Times are in your time zone.",
        ),
    ]
    return modal(LOG_VIEW, "Log communication", blocks, origin, "Log")


def followup_modal(
    origin: Origin,
    *,
    assignee: str | None,
    ref: str | None = None,
    title: str | None = None,
    note: str | None = None,
) -> Block:
    """New follow-up; from a message shortcut it links back to the message."""
    blocks: list[Block] = []
    if note:
        blocks.append(context(note))
    blocks += [
        record_select("ref", "On", ("lead", "customer", "opportunity"), initial=_ref_option(ref)),
        text_input("title", "Title", initial=title, placeholder="Send the quote", max_length=255),
        text_input(
            "due",
            "Due",
            initial="tomorrow",
            placeholder="tomorrow 10am, fri, 2026-03-15 14:30",
            hint="Times are in your time zone; a bare date means 09:00.",
        ),
        select_input("priority", "Priority", PRIORITIES, initial="medium"),
        text_input("notes", "Notes", multiline=True, optional=True),
        user_input("assign", "Assigned to", initial_user=assignee, hint="Empty: unassigned"),
    ]
    return modal(FOLLOWUP_VIEW, "New follow-up", blocks, origin, "Save")


# --- reading a submission --------------------------------------------------------------------


def submitted_values(view: dict[str, Any]) -> dict[str, Any]:
    """``{block_id: value}`` of a submitted view: text as ``str`` (blank -> ``None``), a
    select's chosen value, a user id, a date ``YYYY-MM-DD``, checkboxes as a list."""
    found: dict[str, Any] = {}
    state = ((view or {}).get("state") or {}).get("values") or {}
    for block_id, actions in state.items():
        actions = actions or {}
        element = actions.get(VALUE)
        if element is None:  # a type-ahead's action id names its kinds (value:lco)
            element = next((v for k, v in actions.items() if k.startswith(SUGGEST_PREFIX)), None)
        if not isinstance(element, dict):
            continue
        kind = element.get("type")
        if kind in ("static_select", "external_select"):
            value = (element.get("selected_option") or {}).get("value")
        elif kind == "users_select":
            value = element.get("selected_user")
        elif kind == "datepicker":
            value = element.get("selected_date")
        elif kind in ("multi_external_select", "checkboxes"):
            value = [o.get("value") for o in element.get("selected_options") or []]
        else:
            value = element.get("value")
        if isinstance(value, str):
            value = value.strip() or None
        found[block_id] = value
    return found
