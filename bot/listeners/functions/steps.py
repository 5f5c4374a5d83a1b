"""Workflow Builder custom steps (SPEC 5.2), declared under ``functions`` in manifest.yml:
**Create lead**, **Log communication**, **Add follow-up**.

Each step reads its typed inputs with the same parsers as ``/crm`` (``50k``, ``tomorrow
10am``, ``L12``), calls the one service, and completes with the record's ``ref`` and ``id``
(``functions.completeSuccess``); a refusal completes with ``functions.completeError`` and
its message, which names the field (``email: "x" is not an email address ...``), shown to
whoever runs the workflow. The step acts as the member given in its optional ``user`` input
(so roles, assignment defaults and the audit trail are theirs, e.g. the workflow's
``{{interactor}}``), else as the app itself (the audit log says "Workflow Builder").
Creation is keyed by the step's execution id, so a redelivered event creates nothing twice.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, Complete, Fail
from slack_sdk import WebClient

from bot.context import member_for
from crm import communications, followups, leads
from crm.acting import Actor
from crm.duplicates import DuplicateFound
from crm.errors import CRMError, ValidationError
from crm.idempotency import once
from crm.models import Communication, FollowUp
from crm.parsing import parse_datetime, parse_duration, parse_money, parse_percent, parse_ref
from crm.tenancy import ref_label

log = logging.getLogger(__name__)

CREATE_LEAD = "create_lead"
LOG_COMMUNICATION = "log_communication"
ADD_FOLLOW_UP = "add_follow_up"
SUBJECT_KINDS = ("lead", "customer", "opportunity")
_DIRECTIONS = {"in": "inbound", "inbound": "inbound", "out": "outbound", "outbound": "outbound"}

Step = Callable[[Actor, dict[str, Any], str, Callable[[str], int]], dict[str, Any]]


def _text(inputs: dict[str, Any], name: str) -> str | None:
    value = inputs.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValidationError(name, "must be text")
    return str(value).strip() or None


def _required(inputs: dict[str, Any], name: str, hint: str) -> str:
    value = _text(inputs, name)
    if value is None:
        raise ValidationError(name, "is required", hint=hint)
    return value


def create_lead(
    actor: Actor, inputs: dict[str, Any], key: str, member: Callable[[str], int]
) -> dict[str, Any]:
    fields: dict[str, Any] = {"name": _required(inputs, "name", "Jane Doe")}
    for name, field in (("email", "email"), ("phone", "phone"), ("company", "company_name")):
        if (value := _text(inputs, name)) is not None:
            fields[field] = value
    for name in ("source", "priority"):
        if (value := _text(inputs, name)) is not None:
            fields[name] = value
    if (value := _text(inputs, "value")) is not None:
        fields["estimated_value"] = parse_money(value, "value")
    if (value := _text(inputs, "prob")) is not None:
        fields["probability"] = parse_percent(value, "prob")
    if (value := _text(inputs, "assign")) is not None:
        fields["assigned_to_id"] = member(value)
    lead = leads.create_lead(actor, **fields, idempotency_key=key)
    return {"ref": ref_label("lead", lead.id), "id": lead.id}


def log_communication(
    actor: Actor, inputs: dict[str, Any], key: str, member: Callable[[str], int]
) -> dict[str, Any]:
    subject = parse_ref(_required(inputs, "ref", "L12, C3 or O7"), "ref", kinds=SUBJECT_KINDS)
    direction = _text(inputs, "direction") or "outbound"
    if direction.lower() not in _DIRECTIONS:
        raise ValidationError("direction", f'"{direction[:20]}" is not in or out', hint="out")
    duration = _text(inputs, "duration")
    comm, _ = once(
        actor,
        key,
        Communication,
        lambda: communications.log_communication(
            actor,
            subject_type=subject.kind,
            subject_id=subject.id,
            type=_text(inputs, "type") or "note",
            content=_required(inputs, "content", "What was said"),
            direction=_DIRECTIONS[direction.lower()],
            subject=_text(inputs, "subject"),
            duration_minutes=None if duration is None else parse_duration(duration, "duration"),
        ),
    )
    return {"ref": str(subject), "id": comm.id}


def add_follow_up(
    actor: Actor, inputs: dict[str, Any], key: str, member: Callable[[str], int]
) -> dict[str, Any]:
    subject = parse_ref(_required(inputs, "ref", "L12, C3 or O7"), "ref", kinds=SUBJECT_KINDS)
    due = parse_datetime(_required(inputs, "due", "tomorrow 10am"), "due", actor.tz)
    extra: dict[str, Any] = {}
    if (value := _text(inputs, "priority")) is not None:
        extra["priority"] = value
    if (value := _text(inputs, "assign")) is not None:
        extra["assigned_to_id"] = member(value)
    fu, _ = once(
        actor,
        key,
        FollowUp,
        lambda: followups.create_follow_up(
            actor,
            subject_type=subject.kind,
            subject_id=subject.id,
            title=_required(inputs, "title", "Send the quote"),
            due_at=due,
            notes=_text(inputs, "notes"),
            **extra,
        ),
    )
    return {"ref": ref_label("followup", fu.id), "id": fu.id}


def _actor(context: BoltContext, client: WebClient, inputs: dict[str, Any]) -> Actor:
    company = context["company"]
    user = _text(inputs, "user")
    if user:
        return Actor.for_member(member_for(client, company, user), "slack")
    system = Actor.system(company.id, "slack", tz=company.timezone or "UTC")
    return dataclasses.replace(system, label="Workflow Builder")


def run_step(step: Step) -> Callable[..., None]:
    def listener(
        inputs: dict[str, Any],
        complete: Complete,
        fail: Fail,
        context: BoltContext,
        client: WebClient,
        body: dict[str, Any],
    ) -> None:
        event = body.get("event") or {}
        key = f"slack:function:{str(event.get('function_execution_id') or '')[:100]}"
        inputs = inputs if isinstance(inputs, dict) else {}
        try:
            if "company" not in context:
                raise ValidationError("team", "this workspace has not installed the CRM")
            actor = _actor(context, client, inputs)

            def member(user: str) -> int:
                return member_for(client, context["company"], user).id

            outputs = step(actor, inputs, key, member)
        except DuplicateFound as e:
            fail(f"{e.message}. Use that record, or change the name, email or phone.")
            return
        except CRMError as e:
            fail(e.message)
            return
        except Exception:
            log.exception("workflow step %s failed", step.__name__)
            fail("Sorry, the CRM could not complete this step; it was logged.")
            return
        complete(outputs=outputs)

    listener.__name__ = f"{step.__name__}_step"
    return listener


def register(app: App) -> None:
    app.function(CREATE_LEAD)(run_step(create_lead))
    app.function(LOG_COMMUNICATION)(run_step(log_communication))
    app.function(ADD_FOLLOW_UP)(run_step(add_follow_up))
