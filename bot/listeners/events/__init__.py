"""Events API listeners (``app_home_opened`` and friends): one module per listener, each with
``register(app)``, listed in :data:`MODULES` (see :mod:`bot.listeners` for how to add one)."""

from __future__ import annotations

from types import ModuleType

from slack_bolt import App

from bot.listeners.events import home

MODULES: tuple[ModuleType, ...] = (home,)


def register(app: App) -> None:
    for module in MODULES:
        module.register(app)
