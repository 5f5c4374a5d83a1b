"""Options requests (``block_suggestion``): the type-ahead of every field that refers to a
record (:func:`bot.blocks.modals.record_select`)."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners.options import records


def register(app: App) -> None:
    records.register(app)
