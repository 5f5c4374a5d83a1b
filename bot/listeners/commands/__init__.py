"""The ``/crm`` command: one dispatcher (:mod:`.crm`) and one module of handlers per noun,
imported here so that their ``@handles`` decorators fill the registry."""

from __future__ import annotations

from types import ModuleType

from slack_bolt import App

from bot.listeners.commands import (
    admin,
    audit,
    campaign,
    crm,
    customer,
    edit,
    find,
    followup,
    help,
    insight,
    lead,
    log,
    modals,
    opp,
    pipeline,
    segment,
)

HANDLER_MODULES: tuple[ModuleType, ...] = (
    help,
    lead,
    opp,
    log,
    followup,
    customer,
    pipeline,
    insight,
    admin,
    audit,
    segment,
    campaign,
    edit,
    find,
    modals,
)


def register(app: App) -> None:
    crm.register(app)
