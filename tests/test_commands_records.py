"""``/crm`` record commands end to end: leads, opportunities, communications, customers and
orders, over real HTTP against the real web process, on both backends.

Each command is tried the way a member uses it (the database changes, the answer names the
record and offers Undo) and with bad input (the answer names the field and the right form,
and nothing changes). Every Block Kit payload is validated (the ``slack`` fixture).
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from crm import leads
from crm.models import Communication, Customer, Lead, Opportunity, Order, StageChange
from tests.e2e_support import SlackClient, SlackUserRef
from tests.records_support import (  # noqa: F401 - fixtures
    Site,
    Team,
    ask,
    buttons,
    click,
    outsider,
    ref_in,
    site,
    slack,
    team,
    text_of,
    undo_id,
    warned,
)

pytestmark = pytest.mark.slow


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
