"""Block Kit building blocks as plain functions returning dicts.

Dicts, not ``slack_sdk.models`` objects: they are what Slack, the tests and ``json.dumps`` all
speak, and a renderer stays a pure function of its data. The e2e tests validate every payload
the app sends with ``slack_sdk.models`` instead, and check Slack's size limits.

Text that came from people (names, notes) goes through :func:`escape` before it lands in
``mrkdwn``; Slack would otherwise read ``<`` and ``&`` as markup, and a stored
``<@U123>``, ``<#C123>`` or ``<!here>`` would ping when echoed. A message's ``text`` (the
notification and screen-reader fallback, also parsed as mrkdwn) goes through
:func:`fallback`, which escapes all of it: fallbacks name people by name, never by mention.
"""

from __future__ import annotations

from typing import Any

Block = dict[str, Any]

SECTION_TEXT_LIMIT = 3000
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
CONTEXT_ELEMENT_LIMIT = 10
MESSAGE_BLOCK_LIMIT = 50

UNDO_ACTION = "undo"


def escape(text: object) -> str:
    """Make people's text safe for mrkdwn: only ``& < >`` are special to Slack."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fallback(text: str) -> str:
    """A message's ``text``: escaped whole (mentions in it never ping) and within Slack's limit."""
    return truncate(escape(text), 3000)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(text, SECTION_TEXT_LIMIT)}


def plain(text: str, limit: int = SECTION_TEXT_LIMIT) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def section(text: str, *, accessory: Block | None = None, block_id: str | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if accessory is not None:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id
    return block


def fields_section(pairs: list[tuple[str, str]]) -> Block:
    """A two-column section (Slack allows at most 10 fields, 2000 characters each)."""
    return {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": truncate(f"*{label}*\n{value}", 2000)}
            for label, value in pairs[:10]
        ],
    }


def context(*texts: str) -> Block:
    return {
        "type": "context",
        "elements": [mrkdwn(t) for t in texts[:CONTEXT_ELEMENT_LIMIT] if t] or [mrkdwn(" ")],
    }


def divider() -> Block:
    return {"type": "divider"}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, 150)}


def button(
    text: str,
    action_id: str,
    value: str | None = None,
    *,
    style: str | None = None,
    url: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> Block:
    element: Block = {
        "type": "button",
        "text": plain(text, BUTTON_TEXT_LIMIT),
        "action_id": action_id,
    }
    if value is not None:
        if len(value) > BUTTON_VALUE_LIMIT:
            raise ValueError(f"button value of {action_id} exceeds {BUTTON_VALUE_LIMIT} chars")
        element["value"] = value
    if style in ("primary", "danger"):
        element["style"] = style
    if url:
        element["url"] = url
    if confirm:
        element["confirm"] = confirm
    return element


def actions(*elements: Block, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements)[:25]}
    if block_id:
        block["block_id"] = block_id
    return block


def error_message(message: str, *, usage: tuple[str, ...] | list[str] = ()) -> list[Block]:
    """What was wrong, then the right form (SPEC 5.4)."""
    blocks = [section(f":warning: {escape(message)}")]
    if usage:
        blocks.append(context(*(f"`{escape(u)}`" for u in usage[:CONTEXT_ELEMENT_LIMIT])))
    return blocks


EDIT_ACTION = "edit_record"  # the Edit button on every card (value: the ref)


def edit_button(ref: str) -> Block:
    """Opens the record's edit modal (bot/listeners/actions/edit.py)."""
    return button("Edit", EDIT_ACTION, ref)


def receipt(ref_label: str, title: str, change_id: str, *, verb: str = "Created") -> list[Block]:
    """The answer to every write made from Slack: names the record and offers Undo
    (SPEC 5.1: valid for 10 minutes, reverts exactly that change)."""
    return [
        section(f":white_check_mark: {verb} *{escape(ref_label)}* {escape(title)}"),
        actions(
            button("Undo", UNDO_ACTION, change_id),
            block_id=f"receipt:{change_id}"[:255],
        ),
    ]


def ephemeral(blocks: list[Block], text: str) -> dict[str, Any]:
    """A reply only the caller sees. ``text`` is the notification/screen-reader fallback."""
    if len(blocks) > MESSAGE_BLOCK_LIMIT:
        blocks = [*blocks[: MESSAGE_BLOCK_LIMIT - 1], context("…and more; narrow the request")]
    return {"response_type": "ephemeral", "text": fallback(text), "blocks": blocks}


def in_channel(blocks: list[Block], text: str) -> dict[str, Any]:
    return {**ephemeral(blocks, text), "response_type": "in_channel"}
