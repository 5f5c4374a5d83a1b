"""The type-ahead of record fields: what the member typed -> the workspace's best matches
(:func:`crm.search.find_records`), as options ``L12 · Jane Doe · jane@doe.io``.

Answered in the acknowledgement itself (Slack shows nothing until then, and an options load
has no ``response_url``): one indexed query, well inside Slack's 3 seconds
(``bench/suggest.py`` measures it). Typed text that searches nothing (``--``) gets no
options rather than an error: the member is still typing.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.blocks.modals import SUGGEST_PREFIX, record_option, suggest_kinds
from crm import search
from crm.tenancy import ref_label

SUGGEST_LIMIT = 20  # Slack takes up to 100; a person reads the first few
_ACTION_RE = re.compile("^" + re.escape(SUGGEST_PREFIX) + "[a-z]+$")


def option_text(found: search.Found) -> str:
    r = found.record
    parts = [ref_label(found.kind, r.id), r.name]
    if found.kind in ("lead", "customer"):
        parts += [v for v in (r.email, r.company_name) if v][:1]
    return " · ".join(parts)


def suggestions(actor: Any, kinds: tuple[str, ...], typed: str) -> list[dict[str, Any]]:
    if not search.query_words(typed):
        return []
    found = search.find_records(actor, typed, kinds=kinds, limit=SUGGEST_LIMIT)
    return [record_option(ref_label(f.kind, f.record.id), option_text(f)) for f in found]


def suggest(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
    kinds = suggest_kinds(str(body.get("action_id") or ""))
    typed = body.get("value")
    actor = context.get("actor")
    if kinds is None or actor is None or not isinstance(typed, str):
        ack(options=[])
        return
    ack(options=suggestions(actor, kinds, typed[:200]))


def register(app: App) -> None:
    app.options(_ACTION_RE)(suggest)
