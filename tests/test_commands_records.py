"""``/crm`` record commands end to end: leads, opportunities, communications, customers and
orders, over real HTTP against the real web process, on both backends.

Each command is tried the way a member uses it (the database changes, the answer names the
record and offers Undo) and with bad input (the answer names the field and the right form,
and nothing changes). Every Block Kit payload is validated (the ``slack`` fixture).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from crm import leads
from crm.models import Communication, Customer, Lead, Opportunity, Order, StageChange
from tests.e2e_support import SlackClient, SlackUserRef
from tests.records_support import Team, ask, buttons, click, ref_in, text_of, undo_id, warned

pytestmark = pytest.mark.slow
pytest_plugins = ("tests.records_fixtures",)  # the site, team, outsider and slack fixtures


def new_lead(slack: SlackClient, team: Team, text: str = '"Jane Doe" email=jane@doe.io') -> Lead:
    answer = ask(slack, f"lead add {text}", team.rep)
    return Lead.get_by_id(ref_in(answer, "L"))


def new_customer(slack: SlackClient, team: Team, name: str = "Acme Ltd") -> Customer:
    answer = ask(slack, f'customer add "{name}"', team.rep)
    return Customer.get_by_id(ref_in(answer, "C"))


def new_opp(slack: SlackClient, team: Team, of: str, amount: str = "50k") -> Opportunity:
    answer = ask(slack, f'opp add "Big deal" {of} amount={amount}', team.rep)
    return Opportunity.get_by_id(ref_in(answer, "O"))


# --- leads ---------------------------------------------------------------------------------


def test_lead_card_shows_details_activity_and_buttons(slack: SlackClient, team: Team) -> None:
    lead = new_lead(slack, team, '"Jane Doe" email=jane@doe.io company="Doe & Co" value=50k')
    ask(slack, f'log call L{lead.id} "Talked <pricing> & terms" in 20m', team.rep)
    follow = ask(slack, f'followup L{lead.id} "Send the proposal" due=tomorrow', team.rep)
    fid = ref_in(follow, "F")
    opp = new_opp(slack, team, f"lead=L{lead.id}")

    card = ask(slack, f"lead l{lead.id}", team.rep)
    text = text_of(card)
    assert f"*L{lead.id}* Jane Doe" in text
    assert "Doe &amp; Co" in text and "K50,000" in text and "jane@doe.io" in text
    assert "Recent communications" in text and "Talked &lt;pricing&gt; &amp; terms" in text
    assert "20 min" in text and f"<@{team.rep.id}>" in text
    assert f"*F{fid}* Send the proposal" in text
    assert [b["value"] for b in buttons(card, "followup_done")] == [str(fid)]
    assert [b["value"] for b in buttons(card, "open_record")] == [f"O{opp.id}"]

    # bad input: a reference of another kind, and one that does not exist
    wrong = warned(ask(slack, f"lead C{lead.id}", team.rep))
    assert f'ref: "C{lead.id}" is a customer; here it must be a lead' in wrong
    assert "not found" in warned(ask(slack, "lead L999999", team.rep))


def test_another_workspace_gets_not_found_and_changes_nothing(
    slack: SlackClient, team: Team, outsider: SlackUserRef
) -> None:
    lead = new_lead(slack, team, '"Acme Secret"')
    opp = new_opp(slack, team, f"lead=L{lead.id}")
    for text in (
        f"lead L{lead.id}",
        f"lead status L{lead.id} contacted",
        f"lead convert L{lead.id}",
        f"opp O{opp.id}",
        f"opp stage O{opp.id} proposal",
        f'log note L{lead.id} "peek"',
        f'followup L{lead.id} "peek" due=tomorrow',
        f"order C{lead.id} amount=1",
    ):
        answer = text_of(ask(slack, text, outsider))
        assert "not found" in answer and "Acme Secret" not in answer, text
    assert Lead.get_by_id(lead.id).status == "new"
    assert Opportunity.get_by_id(opp.id).stage == "prospecting"
    assert Communication.select().where(Communication.communicable_id == lead.id).count() == 0
    assert Customer.select().where(Customer.lead == lead.id).count() == 0


def test_lead_list_filters_most_urgent_first_and_pages(slack: SlackClient, team: Team) -> None:
    ask(slack, "help", team.rep)
    ask(slack, "help", team.rep2)
    rep, rep2 = team.actor(team.rep), team.member(team.rep2)
    for i in range(23):
        leads.create_lead(rep, name=f"Bulk {i:02d}", source="event", allow_duplicate=True)
    urgent = leads.create_lead(
        rep, name="Hot One", priority="high", source="referral", assigned_to_id=rep2.id
    )
    leads.set_lead_status(team.actor(team.rep2), urgent.id, "contacted")

    first = ask(slack, "lead list", team.rep)
    text = text_of(first)
    assert "(1-20)" in text and text.index("Hot One") < text.index("Bulk 00")
    assert len(re.findall(r"\*L\d+\*", text)) == 20
    (next_page,) = buttons(first, "list_page")
    second = click(slack, "list_page", next_page["value"], team.rep)
    assert second.get("replace_original") is True
    text = text_of(second)
    assert (
        "(21-24)" in text
        and len(re.findall(r"\*L\d+\*", text)) == 4
        and not buttons(second, "list_page")
    )

    stale = click(slack, "list_page", "not json", team.rep)
    assert "page: this button no longer knows which list to show" in warned(stale)

    narrowed = text_of(
        ask(slack, f"lead list contacted <@{team.rep2.id}|b> source=referral", team.rep)
    )
    assert "Hot One" in narrowed and "Bulk" not in narrowed
    assert "Hot One" not in text_of(ask(slack, "lead list new mine", team.rep2))
    assert "Hot One" in text_of(ask(slack, "lead list mine", team.rep2))

    bad = warned(ask(slack, "lead list source=pigeon", team.rep))
    assert 'source: "pigeon" is not one of' in bad and "/crm lead list" in bad
    assert "did you mean one of" in warned(ask(slack, "lead list frozen", team.rep))


def test_lead_status_moves_along_the_workflow(slack: SlackClient, team: Team) -> None:
    lead = new_lead(slack, team)
    moved = ask(slack, f"lead status L{lead.id} contacted", team.rep)
    assert f"Moved *L{lead.id}* Jane Doe → contacted" in text_of(moved)
    assert Lead.get_by_id(lead.id).status == "contacted"
    assert undo_id(moved)

    bad = warned(ask(slack, f"lead status L{lead.id} frozen", team.rep))
    assert 'status: "frozen" is not one of' in bad
    no_reason = warned(ask(slack, f"lead status L{lead.id} lost", team.rep))
    assert "reason: a reason is required" in no_reason and 'reason="' in no_reason
    assert Lead.get_by_id(lead.id).status == "contacted"

    ask(slack, f'lead status L{lead.id} lost reason="went with a competitor"', team.rep)
    final = Lead.get_by_id(lead.id)
    assert (final.status, final.lost_reason) == ("lost", "went with a competitor")
    card = text_of(ask(slack, f"lead L{lead.id}", team.rep))
    assert "went with a competitor" in card


def test_lead_assign_reassigns_inside_the_workspace(slack: SlackClient, team: Team) -> None:
    lead = new_lead(slack, team)
    answer = ask(slack, f"lead assign L{lead.id} <@{team.rep2.id}|bee>", team.rep)
    assert f"Reassigned *L{lead.id}* Jane Doe" in text_of(answer)
    assert f"now <@{team.rep2.id}>" in text_of(answer)
    assert Lead.get_by_id(lead.id).assigned_to_id == team.member(team.rep2).id

    bad = warned(ask(slack, f"lead assign L{lead.id} bob", team.rep2))
    assert 'user: "bob" is not a Slack user' in bad
    assert Lead.get_by_id(lead.id).assigned_to_id == team.member(team.rep2).id


def test_lead_convert_makes_a_customer_once(slack: SlackClient, team: Team) -> None:
    lead = new_lead(slack, team)
    answer = ask(slack, f"lead convert L{lead.id}", team.rep)
    customer = Customer.get(Customer.lead == lead.id)
    assert f"Converted *L{lead.id}* Jane Doe to customer C{customer.id}" in text_of(answer)
    assert Lead.get_by_id(lead.id).status == "won"
    again = text_of(ask(slack, f"lead convert L{lead.id}", team.rep))
    assert f"already converted to C{customer.id}" in again
    assert "is an opportunity; here it must be a lead" in warned(
        ask(slack, f"lead convert O{lead.id}", team.rep)
    )
    assert Customer.select().where(Customer.lead == lead.id).count() == 1
    card = ask(slack, f"lead L{lead.id}", team.rep)
    assert f"Converted to *C{customer.id}*" in text_of(card)
    assert f"C{customer.id}" in [b["value"] for b in buttons(card, "open_record")]


# --- opportunities -----------------------------------------------------------------------------


def test_opp_add_on_a_customer_or_lead(slack: SlackClient, team: Team) -> None:
    customer = new_customer(slack, team)
    answer = ask(
        slack,
        f'opp add "Renewal 2030" customer=c{customer.id} amount=1.2m prob=40 stage=proposal '
        "close=2030-06-30",
        team.rep,
    )
    opp = Opportunity.get_by_id(ref_in(answer, "O"))
    assert (opp.customer_id, opp.amount, opp.probability, opp.stage) == (
        customer.id,
        Decimal("1200000"),
        40,
        "proposal",
    )
    assert str(opp.expected_close_date) == "2030-06-30"
    assert "K1,200,000" in text_of(answer) and undo_id(answer)

    before = Opportunity.select().count()
    assert 'amount: "12x" is not an amount' in warned(
        ask(slack, f'opp add "X" customer=C{customer.id} amount=12x', team.rep)
    )
    assert "customer: give exactly one customer or lead" in warned(
        ask(slack, 'opp add "X" amount=12k', team.rep)
    )
    assert 'prob: "140" is not' in warned(
        ask(slack, f'opp add "X" customer=C{customer.id} amount=1k prob=140', team.rep)
    )
    assert "stage: a deal becomes closed_won only by marking it won" in warned(
        ask(slack, f'opp add "X" customer=C{customer.id} amount=1k stage=closed_won', team.rep)
    )
    assert "amount= is required" in warned(
        ask(slack, f'opp add "X" customer=C{customer.id}', team.rep)
    )
    assert Opportunity.select().count() == before


def test_opp_card_and_list(slack: SlackClient, team: Team) -> None:
    customer = new_customer(slack, team, "Globe Corp")
    opp = new_opp(slack, team, f"customer=C{customer.id}", amount="80k")
    other = new_opp(slack, team, f"customer=C{customer.id}", amount="5k")
    ask(slack, f'opp lost O{other.id} reason="budget cut"', team.rep)

    card = ask(slack, f"opp O{opp.id}", team.rep)
    text = text_of(card)
    assert f"*O{opp.id}* Big deal" in text and "K80,000" in text and "Prospecting" in text
    assert "K8,000" in text  # weighted: 80k x 10%
    assert f"C{customer.id} Globe Corp" in text
    stages = [json.loads(b["value"]) for b in buttons(card, "opp_stage")]
    assert {s["stage"] for s in stages} == {"qualification", "proposal", "negotiation"}
    assert {s["ref"] for s in stages} == {f"O{opp.id}"}
    assert f"C{customer.id}" in [b["value"] for b in buttons(card, "open_record")]

    listed = text_of(ask(slack, "opp list mine", team.rep))
    assert f"*O{opp.id}*" in listed and f"*O{other.id}*" not in listed  # open deals by default
    lost = text_of(ask(slack, "opp list closed_lost", team.rep))
    assert f"*O{other.id}*" in lost and f"*O{opp.id}*" not in lost
    assert "nothing" in text_of(ask(slack, "opp list mine", team.rep2)).lower() or "None" in (
        text_of(ask(slack, "opp list mine", team.rep2))
    )
    assert "did you mean one of prospecting" in warned(ask(slack, "opp list sideways", team.rep))
    assert "not found" in warned(ask(slack, "opp O999999", team.rep))
    assert "is a customer; here it must be an opportunity" in warned(
        ask(slack, f"opp C{customer.id}", team.rep)
    )


def test_opp_stage_moves_and_undo_reverts_it(slack: SlackClient, team: Team) -> None:
    customer = new_customer(slack, team)
    opp = new_opp(slack, team, f"customer=C{customer.id}")
    answer = ask(slack, f"opp stage O{opp.id} proposal", team.rep)
    assert f"Moved *O{opp.id}* Big deal → Proposal" in text_of(answer)
    moved = Opportunity.get_by_id(opp.id)
    assert (moved.stage, moved.probability) == ("proposal", 50)
    history = StageChange.select().where(
        (StageChange.entity_type == "opportunity") & (StageChange.entity_id == opp.id)
    )
    assert [s.to_stage for s in history.order_by(StageChange.id)] == ["prospecting", "proposal"]

    same = text_of(ask(slack, f"opp stage O{opp.id} proposal", team.rep))
    assert "nothing changed" in same

    undone = click(slack, "undo", undo_id(answer), team.rep)
    assert "Undone" in text_of(undone)
    back = Opportunity.get_by_id(opp.id)
    assert (back.stage, back.probability) == ("prospecting", 10)
    assert [s.to_stage for s in history.order_by(StageChange.id)] == ["prospecting"]

    assert "stage: a deal becomes closed_won only by marking it won" in warned(
        ask(slack, f"opp stage O{opp.id} closed_won", team.rep)
    )
    assert 'stage: "sideways" is not one of' in warned(
        ask(slack, f"opp stage O{opp.id} sideways", team.rep)
    )
    assert Opportunity.get_by_id(opp.id).stage == "prospecting"


def test_opp_won_records_the_close_and_an_order(slack: SlackClient, team: Team) -> None:
    customer = new_customer(slack, team)
    opp = new_opp(slack, team, f"customer=C{customer.id}")
    bad = warned(ask(slack, f"opp won O{opp.id} date=2099-01-01", team.rep))
    assert "date: a deal cannot close in the future" in bad
    assert 'amount: "lots" is not an amount' in warned(
        ask(slack, f"opp won O{opp.id} amount=lots", team.rep)
    )
    assert Opportunity.get_by_id(opp.id).stage == "prospecting"
    assert Order.select().where(Order.customer == customer.id).count() == 0

    answer = ask(slack, f"opp won O{opp.id} amount=60k", team.rep)
    text = text_of(answer)
    assert f"Closed *O{opp.id}* Big deal as won" in text and f"C{customer.id}" in text
    won = Opportunity.get_by_id(opp.id)
    assert (won.stage, won.amount, won.actual_close_date is not None) == (
        "closed_won",
        Decimal("60000"),
        True,
    )
    (order,) = Order.select().where(Order.customer == customer.id)
    assert order.amount == Decimal("60000") and order.opportunity_id == opp.id
    assert "already won" in text_of(ask(slack, f"opp won O{opp.id}", team.rep))


def test_opp_lost_needs_a_reason(slack: SlackClient, team: Team) -> None:
    customer = new_customer(slack, team)
    opp = new_opp(slack, team, f"customer=C{customer.id}")
    assert "reason= is required" in warned(ask(slack, f"opp lost O{opp.id}", team.rep))
    assert "reason: say why the deal was lost" in warned(
        ask(slack, f'opp lost O{opp.id} reason=" "', team.rep)
    )
    assert Opportunity.get_by_id(opp.id).stage == "prospecting"
    answer = ask(slack, f'opp lost O{opp.id} reason="price too high"', team.rep)
    assert f"Closed *O{opp.id}* Big deal as lost" in text_of(answer) and undo_id(answer)
    lost = Opportunity.get_by_id(opp.id)
    assert (lost.stage, lost.loss_reason, lost.probability) == ("closed_lost", "price too high", 0)


# --- communications --------------------------------------------------------------------------


def test_log_records_a_communication_and_the_last_contact(slack: SlackClient, team: Team) -> None:
    lead = new_lead(slack, team)
    opp = new_opp(slack, team, f"lead=L{lead.id}")
    answer = ask(slack, f"log call O{opp.id} “Went through the numbers” in 1h30m", team.rep)
    assert f"Logged call (in · 90 min) on *O{opp.id}*" in text_of(answer) and undo_id(answer)
    (comm,) = Communication.select().where(
        (Communication.communicable_type == "opportunity")
        & (Communication.communicable_id == opp.id)
    )
    assert (comm.type, comm.direction, comm.duration_minutes) == ("call", "inbound", 90)
    assert comm.content == "Went through the numbers"
    assert Lead.get_by_id(lead.id).last_contacted_at is not None  # rule 6 through the deal

    ask(slack, f'log note L{lead.id} "Prefers email" at="2 days ago"', team.rep)
    note = Communication.get(
        (Communication.communicable_type == "lead") & (Communication.communicable_id == lead.id)
    )
    assert (note.type, note.direction) == ("note", "outbound")

    count = Communication.select().count()
    assert "at: is in the future" in warned(
        ask(slack, f'log call L{lead.id} "later" at=tomorrow', team.rep)
    )
    assert 'duration: "0m" is not between 1 minute and 24 hours' in warned(
        ask(slack, f'log call L{lead.id} "quick" 0m', team.rep)
    )
    assert 'at: "whenever" is not a date' in warned(
        ask(slack, f'log email L{lead.id} "x" at=whenever', team.rep)
    )
    assert "is a follow-up; here it must be" in warned(ask(slack, 'log call F1 "x"', team.rep))
    assert Communication.select().count() == count


# --- customers and orders -----------------------------------------------------------------------


def test_customer_card_shows_value_tier_and_churn(slack: SlackClient, team: Team) -> None:
    customer = new_customer(slack, team, "Zed Stores")
    fresh = text_of(ask(slack, f"customer C{customer.id}", team.rep))
    assert f"*C{customer.id}* Zed Stores" in fresh and "no purchases" in fresh
    ask(slack, f"order C{customer.id} amount=30k", team.rep)
    card = text_of(ask(slack, f"customer c{customer.id}", team.rep))
    assert "K30,000" in card and "silver" in card and "low" in card
    assert "no purchases" not in card
    assert "not found" in warned(ask(slack, "customer C999999", team.rep))
    assert "is a lead; here it must be a customer" in warned(
        ask(slack, f"customer L{customer.id}", team.rep)
    )


def test_customer_add_checks_for_duplicates(slack: SlackClient, team: Team) -> None:
    answer = ask(
        slack,
        'customer add "Jane Roe" email=jr@roe.io company=Roe industry=retail tags=vip,b2b',
        team.rep,
    )
    first = Customer.get_by_id(ref_in(answer, "C"))
    assert (first.email, first.company_name, first.industry, first.tags) == (
        "jr@roe.io",
        "Roe",
        "retail",
        ["vip", "b2b"],
    )
    assert undo_id(answer)

    twin = ask(slack, 'customer add "Janet Roe" email=JR@roe.io', team.rep)
    assert f"Use C{first.id}" in json.dumps(twin)
    use = click(slack, "customer_use_existing", f"C{first.id}", team.rep)
    assert f"Kept C{first.id}" in text_of(use)
    (anyway,) = buttons(twin, "customer_create_anyway")
    click(slack, "customer_create_anyway", anyway["value"], team.rep)
    click(slack, "customer_create_anyway", anyway["value"], team.rep)  # a double click
    company = team.company
    assert Customer.select().where(Customer.company == company).count() == 2

    assert 'email: "not-an-email" is not' in warned(
        ask(slack, 'customer add "Bad Mail" email=not-an-email', team.rep)
    )
    assert Customer.select().where(Customer.company == company).count() == 2


def test_order_records_a_purchase(slack: SlackClient, team: Team) -> None:
    customer = new_customer(slack, team)
    answer = ask(
        slack, f"order C{customer.id} amount=12k cost=5,000 date=2025-01-10 ref=INV-1", team.rep
    )
    assert f"Recorded an order of K12,000 for *C{customer.id}*" in text_of(answer)
    assert undo_id(answer)
    (order,) = Order.select().where(Order.customer == customer.id)
    assert (order.amount, order.cost, order.external_ref) == (
        Decimal("12000"),
        Decimal("5000"),
        "INV-1",
    )
    assert f"{order.ordered_at:%Y-%m-%d}" == "2025-01-10"
    again = text_of(ask(slack, f"order C{customer.id} amount=12k ref=INV-1", team.rep))
    assert "already recorded" in again

    assert 'amount: "12x" is not an amount' in warned(
        ask(slack, f"order C{customer.id} amount=12x", team.rep)
    )
    assert "date: an order cannot be in the future" in warned(
        ask(slack, f"order C{customer.id} amount=1k date=2099-01-01", team.rep)
    )
    assert "amount: must be more than 0" in warned(
        ask(slack, f"order C{customer.id} amount=0", team.rep)
    )
    assert "amount= is required" in warned(ask(slack, f"order C{customer.id}", team.rep))
    assert Order.select().where(Order.customer == customer.id).count() == 1
