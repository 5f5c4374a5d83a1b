"""Communications: rule 6 (last contacted, forward only, through an opportunity), attachment
references, tenancy, audit and undo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from crm.audit import revert
from crm.communications import list_communications, log_communication
from crm.errors import Conflict, NotFound, ValidationError
from crm.models import AuditLog, Communication, Customer, Lead, Opportunity
from tests.conftest import Workspace

NOW = datetime(2026, 3, 10, 9, 0, 0)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW.replace(tzinfo=UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture
def deal(acme: Workspace) -> Opportunity:
    lead = Lead.create(company=acme.company.id, name="Mwila")
    customer = Customer.create(company=acme.company.id, name="Mwila Ltd", lead=lead.id)
    return Opportunity.create(
        company=acme.company.id, name="Fleet", lead=lead.id, customer=customer.id
    )


def log(ws: Workspace, subject_type: str, subject_id: int, actor=None, **fields) -> Communication:
    fields.setdefault("type", "call")
    return log_communication(
        actor or ws.actor(ws.rep), subject_type=subject_type, subject_id=subject_id, **fields
    )


def test_logging_on_an_opportunity_touches_its_lead_and_customer(
    acme: Workspace, deal: Opportunity, frozen
) -> None:
    comm = log(acme, "opportunity", deal.id, content="Discussed pricing", duration_minutes=15)
    assert (comm.type, comm.direction, comm.author_id) == ("call", "outbound", acme.rep.id)
    assert comm.communicated_at == NOW
    for model, rid in ((Opportunity, deal.id), (Lead, deal.lead_id), (Customer, deal.customer_id)):
        assert model.get_by_id(rid).last_contacted_at == NOW
    actions = {(r.entity_type, r.action) for r in AuditLog.select()}
    assert actions == {
        ("communication", "create"),
        ("opportunity", "update"),
        ("lead", "update"),
        ("customer", "update"),
    }


def test_last_contacted_only_moves_forward(acme: Workspace, deal: Opportunity, frozen) -> None:
    log(acme, "customer", deal.customer_id, type="email")
    old = log(acme, "customer", deal.customer_id, communicated_at=NOW - timedelta(days=3))
    assert Customer.get_by_id(deal.customer_id).last_contacted_at == NOW
    # the late entry wrote no update of the customer
    assert [
        r.entity_type for r in AuditLog.select().where(AuditLog.change_id == old.change_id)
    ] == ["communication"]
    frozen.move_to((NOW + timedelta(hours=1)).replace(tzinfo=UTC))
    log(acme, "lead", deal.lead_id, type="sms")
    assert Lead.get_by_id(deal.lead_id).last_contacted_at == NOW + timedelta(hours=1)
    assert Customer.get_by_id(deal.customer_id).last_contacted_at == NOW


def test_undo_removes_the_communication_and_restores_last_contacted(
    acme: Workspace, deal: Opportunity, frozen
) -> None:
    first = log(acme, "opportunity", deal.id, communicated_at=NOW - timedelta(days=1))
    second = log(acme, "opportunity", deal.id)
    revert(acme.actor(acme.rep), second.change_id)
    assert Communication.get_or_none(Communication.id == second.id) is None
    for model, rid in ((Opportunity, deal.id), (Lead, deal.lead_id), (Customer, deal.customer_id)):
        assert model.get_by_id(rid).last_contacted_at == NOW - timedelta(days=1)
    # a newer contact has moved it on since: undoing the first would clobber it
    log(acme, "lead", deal.lead_id)
    with pytest.raises(Conflict, match="changed again since"):
        revert(acme.actor(acme.rep), first.change_id)


def test_attachments_are_references(acme: Workspace, deal: Opportunity, frozen) -> None:
    comm = log(
        acme,
        "lead",
        deal.lead_id,
        type="message",
        attachments=[
            "F0123ABCD",
            "<https://acme.slack.com/archives/C01/p1700000000000100|thread>",
            "https://example.com/quote.pdf",
            "F0123ABCD",
        ],
        permalink="https://acme.slack.com/archives/C01/p1700000000000100",
    )
    assert Communication.get_by_id(comm.id).attachments == [
        "F0123ABCD",
        "https://acme.slack.com/archives/C01/p1700000000000100",
        "https://example.com/quote.pdf",
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "fax"}, "type: .* is not one of call, email"),
        ({"direction": "sideways"}, "direction: .* is not one of inbound, outbound"),
        ({"attachments": ["quote.pdf"]}, "attachments: 'quote.pdf' is not a Slack file id"),
        ({"attachments": "F0123ABCD"}, "attachments: expected a list"),
        ({"attachments": ["javascript:alert(1)"]}, "attachments: .* is not a Slack file id"),
        ({"attachments": ["https://"]}, "attachments: .* is not an http"),
        ({"duration_minutes": 0}, "duration: .* is not between 1 and 1440"),
        ({"duration_minutes": True}, "duration: expected minutes"),
        ({"communicated_at": NOW + timedelta(hours=1)}, "at: is in the future"),
        ({"communicated_at": "yesterday"}, "at: expected a date and time"),
        ({"subject": "x" * 256}, "subject: is longer than 255"),
        ({"permalink": "not a link"}, "permalink: .* is not an http"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    acme: Workspace, deal: Opportunity, frozen, fields: dict, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        log(acme, "opportunity", deal.id, **fields)
    assert Communication.select().count() == 0
    assert Opportunity.get_by_id(deal.id).last_contacted_at is None


def test_other_company_subjects_are_not_found(
    acme: Workspace, globex: Workspace, deal: Opportunity, frozen
) -> None:
    with pytest.raises(NotFound, match=r"O.* not found"):
        log(globex, "opportunity", deal.id)
    with pytest.raises(NotFound):
        list_communications(globex.actor(), "opportunity", deal.id)
    assert Communication.select().count() == 0
    assert Opportunity.get_by_id(deal.id).last_contacted_at is None


def test_list_newest_first_with_limit(acme: Workspace, deal: Opportunity, frozen) -> None:
    ids = [
        log(acme, "customer", deal.customer_id, communicated_at=NOW - timedelta(days=d)).id
        for d in (5, 1, 3)
    ]
    log(acme, "lead", deal.lead_id)  # another subject: not listed
    listed = list_communications(acme.actor(acme.rep2), "customer", deal.customer_id, limit=2)
    assert [c.id for c in listed] == [ids[1], ids[2]]
    with pytest.raises(ValidationError, match="limit"):
        list_communications(acme.actor(), "customer", deal.customer_id, limit=0)


def test_token_and_system_log_without_author(acme: Workspace, deal: Opportunity, frozen) -> None:
    comm = log(acme, "lead", deal.lead_id, actor=acme.system, type="Email", direction="Inbound")
    assert (comm.author_id, comm.type, comm.direction) == (None, "email", "inbound")


def test_every_bad_field_is_named_at_once(acme: Workspace, frozen) -> None:
    """An unknown type, a time in the future and a duration of zero are refused once, naming
    each, and nothing is logged."""
    from crm.errors import InvalidFields

    lead = Lead.create(company=acme.company.id, name="Mwila")
    with pytest.raises(InvalidFields) as err:
        log(
            acme,
            "lead",
            lead.id,
            type="fax",
            communicated_at=NOW + timedelta(days=2),
            duration_minutes=0,
        )
    assert [e.field for e in err.value.errors] == ["type", "at", "duration"]
    assert Communication.select().count() == 0
    assert Lead.get_by_id(lead.id).last_contacted_at is None
