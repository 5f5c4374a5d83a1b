"""``/crm role``, ``/crm settings``, ``/crm audit`` and ``/crm segment`` end to end: the real web
process over HTTP, FakeSlack as the Web API, the database checked before and after.

Every row: the happy path, and bad input that names the field and changes nothing. One web
process per backend serves the module; each test has its own workspace.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from crm import customers, leads
from crm.models import AuditLog, Company, CustomerSegment, Member
from tests.admin_support import (
    Session,
    Team,
    answer_text,
    button_value,
    new_team,
    session_fixture,
)
from tests.e2e_support import site_fixture

pytestmark = pytest.mark.slow


site = site_fixture("admin")
session = session_fixture()


@pytest.fixture
def team(session: Session) -> Team:
    return new_team(session.fake)


def role_of(member: Member) -> str:
    return Member.get_by_id(member.id).role


def audit_rows(team: Team) -> int:
    return AuditLog.select().where(AuditLog.company == team.company.id).count()


# --- /crm role ----------------------------------------------------------------------------------


def test_role_change_with_receipt_and_undo(session: Session, team: Team) -> None:
    rep = team.rep
    body = session.command(f"role <@{rep.id}|rita> manager", team.admin)
    assert f"<@{rep.id}> is now manager (was rep)." in answer_text(body)
    assert role_of(rep.member) == "manager"
    undone = session.click("undo", button_value(body, "undo"), team.admin)
    assert "Undone" in answer_text(undone)
    assert role_of(rep.member) == "rep"
    # the same role again changes nothing and offers nothing to undo
    same = session.command(f"role <@{rep.id}|rita> rep", team.admin)
    assert "already is rep; nothing changed" in answer_text(same)
    assert "undo" not in str(same["blocks"])


def test_role_bad_input_and_refusals_change_nothing(session: Session, team: Team) -> None:
    before = audit_rows(team)
    mark = session.mark()
    cases = {
        f"role <@{team.rep.id}|rita> boss": 'role: "boss" is not one of rep, manager, admin',
        "role rita manager": 'user: "rita" is not a Slack user',
        # the last admin cannot demote themselves
        f"role <@{team.admin.id}|ada> rep": "role: the workspace needs at least one admin",
    }
    for words, expected in cases.items():
        text = answer_text(session.command(words, team.admin))
        assert expected in text, text
        assert "/crm role @user rep|manager|admin" in text
    # a rep, and a manager, are refused naming the role needed; nobody new is looked up
    for who in (team.rep, team.manager):
        text = answer_text(session.command("role <@U9NEWBIE|new> admin", who))
        assert f"Only admins may change roles; your role is {role_of(who.member)}." in text
    assert session.calls_since(mark, "users.info") == []
    assert [role_of(p.member) for p in (team.admin, team.manager, team.rep)] == [
        "admin",
        "manager",
        "rep",
    ]
    assert audit_rows(team) == before
    usage = answer_text(session.command("role", team.admin))
    assert "user is missing" in usage


# --- /crm settings ------------------------------------------------------------------------------


def test_settings_show_change_and_undo(session: Session, team: Team) -> None:
    shown = answer_text(session.command("settings", team.rep))  # reading is for everyone
    assert "ZMW" in shown and "silver from K20,000" in shown and "platinum from K100,000" in shown
    assert "Weekly pipeline digest*\noff" in shown

    body = session.command(
        "settings digest <#C0SALES|sales> currency=usd tiers=10k,25k,75k", team.admin
    )
    text = answer_text(body)
    assert "Settings updated." in text
    assert "<#C0SALES>" in text and "gold from $25,000" in text
    company = Company.get_by_id(team.company.id)
    assert (company.currency, company.digest_channel) == ("USD", "C0SALES")
    assert company.tier_thresholds == ["10000.00", "25000.00", "75000.00"]

    session.click("undo", button_value(body, "undo"), team.admin)
    company = Company.get_by_id(team.company.id)
    assert (company.currency, company.digest_channel, company.tier_thresholds) == (
        "ZMW",
        None,
        None,
    )
    # turning the digest off, and a change to what it already is
    session.command("settings digest <#C0SALES|sales>", team.admin)
    off = session.command("settings digest off", team.admin)
    assert "Settings updated." in answer_text(off)
    assert Company.get_by_id(team.company.id).digest_channel is None
    again = answer_text(session.command("settings currency=ZMW", team.admin))
    assert "nothing changed" in again


def test_settings_bad_input_names_the_field_and_changes_nothing(
    session: Session, team: Team
) -> None:
    before = Company.get_by_id(team.company.id).__data__.copy()
    rows = audit_rows(team)
    cases = {
        "settings tiers=50k,20k,100k": "tiers: thresholds must be three rising amounts; "
        "try tiers=20k,50k,100k",
        "settings tiers=20k,50k": 'tiers: "20k,50k" is not three amounts',
        "settings tiers=20k,lots,100k": 'tiers: "lots" is not an amount',
        "settings currency=XYZ": "currency: 'XYZ' is not a supported currency",
        "settings timezone=Mars/Base": "timezone: 'Mars/Base' is not an IANA time zone",
        "settings digest": "digest: which channel should get the weekly digest?",
        # one bad value spoils the whole command: the good one is not applied either
        "settings currency=USD tiers=1,2": 'tiers: "1,2" is not three amounts',
    }
    for words, expected in cases.items():
        text = answer_text(session.command(words, team.admin))
        assert expected in text, text
    refused = answer_text(session.command("settings currency=USD", team.manager))
    assert "Only admins may change company settings; your role is manager." in refused
    unknown = answer_text(session.command("settings colour=red", team.admin))
    assert "colour= is not an option of /crm settings" in unknown
    assert Company.get_by_id(team.company.id).__data__ == before
    assert audit_rows(team) == rows


# --- /crm audit ---------------------------------------------------------------------------------


def at(moment: str) -> time_machine.travel:
    return time_machine.travel(datetime.fromisoformat(moment).replace(tzinfo=UTC), tick=False)


def test_audit_shows_who_when_in_the_readers_zone_and_what_changed(
    session: Session, team: Team
) -> None:
    with at("2026-01-15 12:00"):
        lead = leads.create_lead(
            team.rep.actor, name="Mwila Banda", estimated_value=Decimal("50000")
        )
    with at("2026-01-16 09:30"):
        leads.update_lead(
            team.manager.actor,
            lead.id,
            estimated_value=Decimal("65000.50"),
            assigned_to_id=team.rep2.member.id,
        )
    # read by the New York rep: the times are Eastern
    text = answer_text(session.command(f"audit L{lead.id}", team.rep2))
    assert f"History of L{lead.id}" in text
    assert "*Created* by Rita Rep via Slack · 2026-01-15 07:00 EST" in text
    assert "• name: Mwila Banda" in text and "• estimated value: K50,000" in text
    assert "*Changed* by Max Manager via Slack · 2026-01-16 04:30 EST" in text
    assert "• estimated value: K50,000 → K65,000.50" in text
    assert f"• assigned to: <@{team.rep.id}> → <@{team.rep2.id}>" in text
    assert text.index("2026-01-16") < text.index("2026-01-15")  # newest first
    # the same history read in Lusaka
    lusaka = answer_text(session.command(f"audit l{lead.id}", team.rep))
    assert "2026-01-15 14:00 CAT" in lusaka


def test_audit_pages_through_a_long_history(session: Session, team: Team) -> None:
    lead = leads.create_lead(team.rep.actor, name="Chatty Lead")
    for n in range(1, 12):  # eleven changes after the create: twelve entries
        leads.update_lead(team.rep.actor, lead.id, estimated_value=Decimal(1000 * n))
    first = session.command(f"audit L{lead.id}", team.rep)
    assert "changes 1-10" in answer_text(first)
    assert "K10,000 → K11,000" in answer_text(first)
    older = session.click("audit_page_older", button_value(first, "audit_page_older"), team.rep)
    text = answer_text(older)
    assert older.get("replace_original") is True
    assert "changes 11-12" in text and "*Created*" in text
    assert "audit_page_older" not in str(older["blocks"])
    newer = session.click("audit_page_newer", button_value(older, "audit_page_newer"), team.rep)
    assert "changes 1-10" in answer_text(newer)


def test_audit_bad_or_foreign_references_are_not_found(session: Session, team: Team) -> None:
    other = new_team(session.fake)
    secret = leads.create_lead(other.rep.actor, name="Other Company Secret")
    text = answer_text(session.command(f"audit L{secret.id}", team.admin))
    assert f"L{secret.id} not found" in text and "Secret" not in text
    assert f"L{10**9} not found" in answer_text(session.command(f"audit L{10**9}", team.admin))
    bad = answer_text(session.command("audit X12", team.admin))
    assert 'ref: "X12" is not a record reference such as L12' in bad
    assert "/crm audit &lt;ref&gt;" in bad  # mrkdwn for <ref>, in the blocks and the fallback
    damaged = answer_text(session.click("audit_page_older", "{not json", team.admin))
    assert "page: that button is damaged" in damaged


# --- /crm segment -------------------------------------------------------------------------------


def test_segment_add_list_show_and_undo(session: Session, team: Team) -> None:
    admin = team.admin.actor
    big = customers.create_customer(admin, name="Big Buyer", industry="real estate")
    mid = customers.create_customer(admin, name="Mid Buyer", industry="Real Estate")
    customers.create_customer(admin, name="No Orders Yet", industry="real estate")
    customers.add_order(admin, big.id, amount=Decimal("60000"))
    customers.add_order(admin, mid.id, amount=Decimal("25000"))

    body = session.command(
        'segment add "Property spenders" industry="real estate" ltv>=20k', team.admin
    )
    text = answer_text(body)
    segment = CustomerSegment.get(CustomerSegment.company == team.company.id)
    assert f"Created *S{segment.id}* Property spenders" in text
    assert "2 customers match now" in text
    assert segment.criteria == {"industry": ["real estate"], "lifetime_value": {"gte": "20000.00"}}

    listed = answer_text(session.command("segment list", team.rep))
    assert f"*S{segment.id}* Property spenders · 2 customers" in listed
    assert '`industry="real estate" ltv&gt;=20000`'  # Slack shows &gt; as > in listed

    shown = answer_text(session.command(f"segment s{segment.id}", team.rep))
    assert "Customers now*\n2" in shown
    assert f"*C{big.id}* Big Buyer · gold · K60,000" in shown
    assert f"*C{mid.id}* Mid Buyer · silver · K25,000" in shown
    assert "No Orders Yet" not in shown

    session.click("undo", button_value(body, "undo"), team.admin)
    assert CustomerSegment.select().where(CustomerSegment.company == team.company.id).count() == 0
    empty = answer_text(session.command("segment list", team.admin))
    assert "No segments yet" in empty


def test_segment_bad_input_names_the_field_and_creates_nothing(
    session: Session, team: Team
) -> None:
    session.command('segment add "Gold" tier=gold', team.admin)
    cases = {
        'segment add "Diamonds" tier=diamond': "tier: 'diamond' is not one of",
        'segment add "Colours" colour=red': "criteria: 'colour' is not a criterion",
        'segment add "Nothing"': "criteria: no criteria given",
        'segment add "Cheap" ltv>=lots': 'ltv: "lots" is not an amount',
        'segment add "Gold" tier=platinum': "A segment named 'Gold' already exists",
    }
    for words, expected in cases.items():
        text = answer_text(session.command(words, team.admin))
        assert expected in text, text
    refused = answer_text(session.command('segment add "Mine" tier=gold', team.manager))
    assert "Only admins may manage segments; your role is manager." in refused
    missing = answer_text(session.command("segment S999999", team.admin))
    assert "S999999 not found" in missing
    names = [
        s.name for s in CustomerSegment.select().where(CustomerSegment.company == team.company.id)
    ]
    assert names == ["Gold"]
