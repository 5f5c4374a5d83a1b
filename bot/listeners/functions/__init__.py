"""Workflow Builder custom steps (``function_executed`` events, Bolt's ``app.function``)."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.functions import steps


def register(app: App) -> None:
    steps.register(app)
