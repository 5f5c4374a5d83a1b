"""Modal submissions (``app.view("<callback_id>")``): one module per listener, each with
``register(app)``, listed in :data:`MODULES` (see :mod:`bot.listeners` for how to add one)."""

from __future__ import annotations

from types import ModuleType

from slack_bolt import App

from bot.listeners.views import campaign, communication, edit, followup, lead, opportunity

MODULES: tuple[ModuleType, ...] = (lead, opportunity, communication, followup, edit, campaign)


def register(app: App) -> None:
    for module in MODULES:
        module.register(app)
