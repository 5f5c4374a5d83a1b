"""Block Kit as terminal text, for ``crm chat`` (SPEC 5.5): plain functions, no I/O.

A message becomes lines of text; each interactive element that a member could click in Slack
(a button, an overflow menu's option) becomes a numbered :class:`Choice` that remembers what
Slack would send back (action id, value, block id), so the chat can run the same action
listener when the member types its number. Mentions and links are shown the way Slack shows
them (``@Name``, ``label (url)``), emoji codes as emoji (``:white_check_mark:`` → ✅); the rest of mrkdwn (``*bold*``, ``_italic_``) reads well as
it is and is left alone.

Why our own: Slack publishes no Block Kit-to-text renderer, and the blocks this app builds
are a small, known set (``bot/blocks/common.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import emoji

Block = dict[str, Any]
Names = Callable[[str], str]  # Slack user id -> display name


@dataclass(frozen=True)
class Choice:
    """Something clickable: its label and what a click sends back (``block_actions``)."""

    label: str
    action: dict[str, Any]
    url: str | None = None


@dataclass
class Rendered:
    lines: list[str] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    first: int = 1  # the number of the first choice (an answer's messages number on)

    def number(self) -> int:
        """The number of the choice appended last."""
        return self.first + len(self.choices) - 1


_MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto|tel):[^>|]+)(?:\|([^>]*))?>")


def mrkdwn_to_text(text: str, names: Names = lambda uid: uid) -> str:
    """``<@U1>`` → ``@Name``, ``<#C1|sales>`` → ``#sales``, ``<url|label>`` → ``label (url)``,
    ``&lt;`` → ``<``."""

    def mention(m: re.Match[str]) -> str:
        kind, target, label = m.group(1), m.group(2), m.group(3)
        if kind == "@":
            return "@" + (label or names(target))
        if kind == "#":
            return "#" + (label or target)
        if target.startswith("date^"):
            return label or target  # <!date^1700000000^{date_short}|fallback>
        return "@" + (label or target)  # <!here>, <!channel>

    def link(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        target = target.removeprefix("mailto:").removeprefix("tel:")
        return f"{label} ({target})" if label and label != target else target

    text = _LINK.sub(link, text)
    text = _MENTION.sub(mention, text)
    text = emoji.emojize(text, language="alias")  # Slack's :shortcodes: are GitHub's aliases
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: Any, names: Names) -> str:
    if isinstance(obj, dict):
        raw = str(obj.get("text") or "")
        return mrkdwn_to_text(raw, names) if obj.get("type") == "mrkdwn" else raw
    return str(obj or "")


def _indent(text: str, prefix: str = "  ") -> list[str]:
    return [prefix + line if line else "" for line in text.splitlines()]


def _element(element: Block, block_id: str | None, out: Rendered, names: Names) -> str | None:
    """An interactive element: numbered choice(s); returns the text to show, or ``None``."""
    kind = element.get("type")
    action = {"action_id": element.get("action_id"), "block_id": block_id, "type": kind}
    if kind == "button":
        label = _text(element.get("text"), names)
        url = element.get("url")
        out.choices.append(Choice(label, {**action, "value": element.get("value", "")}, url))
        shown = f"[{out.number()}] {label}"
        return f"{shown} ({url})" if url else shown
    if kind == "overflow":
        shown = []
        for option in element.get("options") or []:
            label = _text(option.get("text"), names)
            picked = {**action, "selected_option": option}
            out.choices.append(Choice(label, picked, option.get("url")))
            shown.append(f"[{out.number()}] {label}")
        return "  ".join(shown)
    if kind in ("static_select", "external_select", "users_select", "conversations_select"):
        placeholder = _text(element.get("placeholder"), names) or "a choice"
        return f"({placeholder}: choose it in Slack)"
    return None


def render_blocks(
    blocks: Iterable[Block], names: Names = lambda uid: uid, first: int = 1
) -> Rendered:
    """Lines and numbered choices (from ``first``) for a message's (or a Home tab's) blocks."""
    out = Rendered(first=first)
    for block in blocks:
        kind = block.get("type")
        block_id = block.get("block_id")
        if kind == "header":
            title = _text(block.get("text"), names)
            out.lines += [title, "=" * min(len(title), 60)]
        elif kind == "section":
            if block.get("text"):
                out.lines += _text(block["text"], names).splitlines()
            for f in block.get("fields") or []:
                out.lines += _indent(_text(f, names).replace("\n", ": ", 1))
            accessory = block.get("accessory")
            if accessory:
                shown = _element(accessory, block_id, out, names)
                if shown:
                    out.lines.append("  " + shown)
        elif kind == "context":
            parts = [
                _text(e, names) for e in block.get("elements") or [] if e.get("type") != "image"
            ]
            out.lines += _indent(" ".join(parts))
        elif kind == "divider":
            out.lines.append("-" * 40)
        elif kind == "actions":
            shown = [_element(e, block_id, out, names) for e in block.get("elements") or []]
            out.lines.append("  ".join(s for s in shown if s))
        elif kind == "image":
            out.lines.append(f"(image: {block.get('alt_text') or block.get('image_url')})")
        elif kind == "input":
            label = _text(block.get("label"), names)
            out.lines.append(f"  {label}: ____" + ("" if block.get("optional") else " (required)"))
        elif kind == "rich_text":
            out.lines.append(_rich_text(block))
    return out


def _rich_text(block: Block) -> str:
    def walk(node: Any) -> str:
        if isinstance(node, dict):
            if node.get("type") == "text":
                return str(node.get("text", ""))
            return "".join(walk(e) for e in node.get("elements") or [])
        return ""

    return walk(block)


def render_message(
    message: dict[str, Any], names: Names = lambda uid: uid, first: int = 1
) -> Rendered:
    """A ``chat.postMessage``/``response_url`` payload: its blocks, else its text."""
    blocks = message.get("blocks") or []
    if blocks:
        return render_blocks(blocks, names, first)
    return Rendered(lines=mrkdwn_to_text(str(message.get("text") or ""), names).splitlines())


def render_view(view: dict[str, Any], names: Names = lambda uid: uid, first: int = 1) -> Rendered:
    """A modal: its title, then its blocks (the inputs as blanks)."""
    title = _text(view.get("title"), names)
    body = render_blocks(view.get("blocks") or [], names, first)
    body.lines[:0] = [f"« {title} » (a form in Slack)"]
    return body
