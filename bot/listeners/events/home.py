"""``app_home_opened``: publish the member's App Home each time they open the Home tab, so
it is never older than the moment they look (SPEC 5.2)."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot import home_refresh
from crm.acting import Actor


def home_opened(event: dict[str, Any], context: BoltContext, client: WebClient) -> None:
    if event.get("tab", "home") != "home":
        return  # the Messages tab: nothing to draw
    actor: Actor | None = context.get("actor")
    if actor is None or not context.user_id:
        return
    home_refresh.refresh(client, actor, context.user_id, at_once=True)


def register(app: App) -> None:
    app.event("app_home_opened")(home_opened)
