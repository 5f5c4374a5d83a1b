"""Message and global shortcuts (manifest callback ids: ``log_to_crm``, ``lead_from_message``,
``follow_up_on_message``, ``new_lead``): one module per listener, each with
``register(app)``, listed in :data:`MODULES` (see :mod:`bot.listeners` for how to add one)."""

from __future__ import annotations

from types import ModuleType

from slack_bolt import App

from bot.listeners.shortcuts import follow_up_on_message, lead_from_message, log_to_crm, new_lead

MODULES: tuple[ModuleType, ...] = (new_lead, log_to_crm, lead_from_message, follow_up_on_message)


def register(app: App) -> None:
    for module in MODULES:
        module.register(app)
