"""Buttons and other interactive elements: one module per action, each with ``register(app)``,
listed in :data:`MODULES` (see :mod:`bot.listeners` for how to add one)."""

from __future__ import annotations

from types import ModuleType

from slack_bolt import App

from bot.listeners.actions import (
    audit,
    campaigns,
    duplicates,
    edit,
    followups,
    pages,
    pipeline,
    records,
    undo,
)

MODULES: tuple[ModuleType, ...] = (
    undo,
    duplicates,  # likely-duplicate buttons of leads and customers
    records,  # before followups: it takes their Done/Snooze clicks on App Home
    followups,
    pages,
    pipeline,
    audit,
    edit,
    campaigns,
)


def register(app: App) -> None:
    for module in MODULES:
        module.register(app)
