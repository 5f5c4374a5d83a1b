"""``/crm <kind> set <ref> field=value ...`` end to end over signed HTTP against the real web
process, on both backends: per kind, the field changes, the audit row holds before and after,
Undo restores it, a rep editing another rep's record is refused with the role named, and a
bad value is refused on its field and changes nothing. Plus the figures that follow an edit:
the pipeline's weighted totals, a segment's count, the digest's slipped close dates.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.blocks.followups import weekly_digest_blocks
from crm import digests
from crm.clock import utcnow
from crm.models import AuditLog, Customer, CustomerSegment, FollowUp, Lead, Opportunity
from tests.e2e_support import Site, SlackClient, SlackUserRef
from tests.records_support import Team, ask, buttons, click, ref_in, text_of, undo_id, warned
from tests.surface_support import buttons as form_buttons
from tests.surface_support import closed, field_errors, opened_view, submit, wait_calls

pytestmark = pytest.mark.slow
pytest_plugins = ("tests.records_fixtures",)


def audit_changes(change_id: str) -> dict[str, list[object]]:
    (row,) = AuditLog.select().where(
        (AuditLog.change_id == change_id) & (AuditLog.entity_type != "close_date_change")
    )
    return row.changes


def undo(slack: SlackClient, answer: dict, team: Team, user=None) -> str:  # type: ignore[no-untyped-def]
    return text_of(click(slack, "undo", undo_id(answer), user or team.rep))


def test_lead_set_changes_audits_undoes_and_refuses(slack: SlackClient, team: Team) -> None:
    lead = Lead.get_by_id(ref_in(ask(slack, 'lead add "Jane Doe" value=50k', team.rep), "L"))
    answer = ask(
        slack, f'lead set L{lead.id} value=60k phone="+260 97 1234567" priority=high', team.rep
    )
    text = text_of(answer)
    assert f"Changed *L{lead.id}* Jane Doe" in text
    assert "estimated value: K50,000 → K60,000" in text and "priority: medium → high" in text
    changes = audit_changes(undo_id(answer))
    assert changes["estimated_value"] == ["50000.00", "60000.00"]
    assert changes["phone"] == [None, "+260971234567"]
    after = Lead.get_by_id(lead.id)
    assert (after.estimated_value, after.phone, after.priority) == (60000, "+260971234567", "high")

    assert "Undone" in undo(slack, answer, team)
    back = Lead.get_by_id(lead.id)
    assert (back.estimated_value, back.phone, back.priority) == (50000, None, "medium")

    # another rep: refused with the role named; nothing changes
    refused = warned(ask(slack, f"lead set L{lead.id} value=1", team.rep2))
    assert "your role is rep" in refused and "managers and admins" in refused
    # a bad value: refused on the field as typed, nothing changes
    bad = warned(ask(slack, f"lead set L{lead.id} value=12x prob=40", team.rep))
    assert 'value: "12x" is not an amount' in bad
    bad = warned(ask(slack, f"lead set L{lead.id} prob=140", team.rep))
    assert "prob:" in bad
    assert "source=" in warned(ask(slack, f"lead set L{lead.id} source=tv", team.rep))
    assert "nothing to change" in warned(ask(slack, f"lead set L{lead.id}", team.rep))
    assert Lead.get_by_id(lead.id).estimated_value == 50000
    # a manager (the admin) may edit the rep's lead; unassign with assign=nobody
    managed = ask(slack, f"lead set L{lead.id} assign=nobody", team.admin)
    assert "assigned to: <@" in text_of(managed) and "→ —" in text_of(managed)
    assert Lead.get_by_id(lead.id).assigned_to_id is None


def test_opp_set_moves_the_weighted_pipeline_and_records_a_slipped_date(
    slack: SlackClient, team: Team
) -> None:
    cust = ref_in(ask(slack, 'customer add "Acme Ltd"', team.rep), "C")
    made = ask(
        slack, f'opp add "Big deal" customer=C{cust} amount=100k stage=proposal close=2030-03-01',
        team.rep,
    )  # fmt: skip
    oid = ref_in(made, "O")
    before = text_of(ask(slack, "pipeline team", team.admin))
    # proposal 50%: K100,000 -> K50,000 weighted
    assert "*Proposal* · 1 deal · K100,000 total · K50,000 weighted" in before

    answer = ask(slack, f"opp set O{oid} amount=120k prob=75 close=2030-04-15", team.rep)
    text = text_of(answer)
    assert "amount: K100,000 → K120,000" in text and "probability: 50 → 75" in text
    assert "expected close date: 2030-03-01 → 2030-04-15" in text
    # 120,000 × 75% = 90,000: the weighted total moved by +40,000 at once
    after = text_of(ask(slack, "pipeline team", team.admin))
    assert "*Proposal* · 1 deal · K120,000 total · K90,000 weighted" in after
    assert "*Total* · 1 deal · K120,000 total · K90,000 weighted" in after

    # the moved close date is in the next weekly digest as slipped
    week = digests.weekly_digest(team.company.id, utcnow() + timedelta(days=2))
    (slipped,) = week.slipped
    assert slipped["id"] == oid and str(slipped["moved_from"]) == "2030-03-01"
    shown = "\n".join(b["text"]["text"] for b in weekly_digest_blocks(week) if "text" in b)
    assert f"*O{oid}* Big deal: close date moved 2030-03-01 → 2030-04-15" in shown

    # Undo takes the whole change back, the close-date history with it
    assert "Undone" in undo(slack, answer, team)
    opp = Opportunity.get_by_id(oid)
    assert (opp.amount, opp.probability, str(opp.expected_close_date)) == (
        100000,
        50,
        "2030-03-01",
    )
    assert digests.weekly_digest(team.company.id, utcnow() + timedelta(days=2)).slipped == []

    # prob="" returns it to the stage's default; a bad stage or date is refused on the field
    ask(slack, f"opp set O{oid} prob=90", team.rep)
    ask(slack, f'opp set O{oid} prob=""', team.rep)
    assert Opportunity.get_by_id(oid).probability == 50
    assert "stage:" in warned(ask(slack, f"opp set O{oid} stage=done", team.rep))
    assert "close:" in warned(ask(slack, f"opp set O{oid} close=someday", team.rep))
    assert "your role is rep" in warned(ask(slack, f"opp set O{oid} amount=1", team.rep2))
    assert Opportunity.get_by_id(oid).amount == 100000


def test_customer_set(slack: SlackClient, team: Team) -> None:
    cid = ref_in(ask(slack, 'customer add "Acme Ltd" industry=retail', team.rep), "C")
    answer = ask(slack, f'customer set C{cid} industry="real estate" tags=vip,north', team.rep)
    assert "industry: retail → real estate" in text_of(answer)
    changes = audit_changes(undo_id(answer))
    assert changes["industry"] == ["retail", "real estate"]
    assert changes["tags"] == [[], ["vip", "north"]]
    assert "Undone" in undo(slack, answer, team)
    assert Customer.get_by_id(cid).industry == "retail"
    assert "your role is rep" in warned(ask(slack, f"customer set C{cid} name=X", team.rep2))
    bad = warned(ask(slack, f"customer set C{cid} email=not-an-email", team.rep))
    assert "email:" in bad
    assert Customer.get_by_id(cid).email is None


def test_followup_set(slack: SlackClient, team: Team) -> None:
    lid = ref_in(ask(slack, 'lead add "Jane Doe"', team.rep), "L")
    fid = ref_in(ask(slack, f'followup L{lid} "Call back" due=tomorrow', team.rep), "F")
    was = FollowUp.get_by_id(fid).due_at
    answer = ask(
        slack, f'followup set F{fid} title="Call back re pricing" due="in 3 days"', team.rep
    )
    assert "title: Call back → Call back re pricing" in text_of(answer)
    fu = FollowUp.get_by_id(fid)
    assert fu.title == "Call back re pricing" and fu.due_at > was
    assert set(audit_changes(undo_id(answer))) >= {"title", "due_at"}
    assert "Undone" in undo(slack, answer, team)
    assert FollowUp.get_by_id(fid).title == "Call back" and FollowUp.get_by_id(fid).due_at == was
    # a due time already passed makes it overdue at once
    ask(slack, f'followup set F{fid} due="2020-01-01 09:00"', team.rep)
    assert FollowUp.get_by_id(fid).status == "overdue"
    assert "your role is rep" in warned(ask(slack, f"followup set F{fid} title=x", team.rep2))
    assert "priority:" in warned(ask(slack, f"followup set F{fid} priority=urgent", team.rep))
    assert FollowUp.get_by_id(fid).priority == "medium"


def test_segment_set_recounts_and_undo_recounts(slack: SlackClient, team: Team) -> None:
    ask(slack, 'customer add "Shop A" industry=retail', team.rep)
    ask(slack, 'customer add "Shop B" industry=retail', team.rep)
    ask(slack, 'customer add "Bank C" industry=finance', team.rep)
    sid = ref_in(ask(slack, 'segment add "Retail" industry=retail', team.admin), "S")
    assert CustomerSegment.get_by_id(sid).customer_count == 2

    answer = ask(slack, f"segment set S{sid} name=Finance industry=finance", team.admin)
    text = text_of(answer)
    assert "name: Retail → Finance" in text and "1 customers now" in text
    seg = CustomerSegment.get_by_id(sid)
    assert (seg.name, seg.criteria, seg.customer_count) == ("Finance", {"industry": ["finance"]}, 1)
    assert audit_changes(undo_id(answer))["criteria"] == [
        {"industry": ["retail"]},
        {"industry": ["finance"]},
    ]
    assert "Undone" in undo(slack, answer, team, team.admin)
    seg = CustomerSegment.get_by_id(sid)
    assert (seg.name, seg.customer_count) == ("Retail", 2)  # Undo recounted too (rule 7)

    ask(slack, f"segment set S{sid} active=no", team.admin)
    assert CustomerSegment.get_by_id(sid).is_active is False
    refused = warned(ask(slack, f"segment set S{sid} active=yes", team.rep))
    assert "Only admins may manage segments; your role is rep" in refused
    assert "active:" in warned(ask(slack, f"segment set S{sid} active=maybe", team.admin))
    assert "criteria" in warned(ask(slack, f"segment set S{sid} colour=red", team.admin))
    assert CustomerSegment.get_by_id(sid).is_active is False


def test_set_in_another_workspace_is_not_found(slack: SlackClient, team: Team, outsider) -> None:  # type: ignore[no-untyped-def]
    lid = ref_in(ask(slack, 'lead add "Jane Doe"', team.rep), "L")
    assert "not found" in warned(ask(slack, f"lead set L{lid} value=1", outsider))
    assert Lead.get_by_id(lid).estimated_value is None


# --- the edit modals: /crm edit and the Edit button ------------------------------------------


def edit_form(slack: SlackClient, site: Site, ref: str, user: SlackUserRef, n: int) -> dict:  # type: ignore[type-arg]
    r = slack.command(f"edit {ref}", user)
    assert r.status == 200 and not r.body, r.text
    return opened_view(site.fake, user, n)


def receipt_undo(site: Site, user: SlackUserRef, n: int) -> str:
    (call,) = wait_calls(site.fake, "chat.postEphemeral", user, n)[n - 1 : n]
    (undo,) = form_buttons(call.args["blocks"], "undo")
    return str(undo["value"])


@pytest.mark.parametrize(
    ("kind", "create", "field", "typed", "check", "bad"),
    [
        ("L", 'lead add "Jane Doe" value=50k', "value", "60k",
         lambda r: Lead.get_by_id(r).estimated_value == 60000, ("prob", "140")),
        ("O", 'opp add "Deal" lead={lead} amount=10k', "amount", "12k",
         lambda r: Opportunity.get_by_id(r).amount == 12000, ("amount", "12x")),
        ("C", 'customer add "Acme Ltd"', "industry", "retail",
         lambda r: Customer.get_by_id(r).industry == "retail", ("email", "nope")),
        ("F", 'followup {lead} "Call back" due=tomorrow', "title", "Call back soon",
         lambda r: FollowUp.get_by_id(r).title == "Call back soon", ("due", "someday")),
        ("S", 'segment add "Gold" tier=gold', "criteria", "tier=silver",
         lambda r: CustomerSegment.get_by_id(r).criteria == {"tier": ["silver"]},
         ("criteria", "colour=red")),
    ],
)  # fmt: skip
def test_edit_modal_per_kind(  # type: ignore[no-untyped-def]
    slack: SlackClient, site: Site, team: Team, kind, create, field, typed, check, bad
) -> None:
    lead = ref_in(ask(slack, 'lead add "Lead Owner"', team.rep), "L")
    author = team.admin if kind == "S" else team.rep
    rid = ref_in(ask(slack, create.format(lead=f"L{lead}"), author), kind)
    ref = f"{kind}{rid}"
    form = edit_form(slack, site, ref, author, 1)
    assert form["callback_id"] == f"edit:{ref}"
    filled = {b["block_id"]: b["element"] for b in form["blocks"] if b["type"] == "input"}
    assert field in filled

    # a bad value: refused on its field, nothing changes
    bad_field, bad_value = bad
    if bad_value is not None:
        errors = field_errors(submit(slack, form, author, {bad_field: bad_value}))
        assert list(errors) == [bad_field], errors
        assert not check(rid)

    closed(submit(slack, form, author, {field: typed}))
    assert check(rid)
    change_id = receipt_undo(site, author, 1)
    entity = {"L": "lead", "O": "opportunity", "C": "customer", "F": "followup", "S": "segment"}
    row = AuditLog.get((AuditLog.change_id == change_id) & (AuditLog.entity_type == entity[kind]))
    assert row.action == "update" and row.changes  # before and after of what changed
    assert "Undone" in text_of(click(slack, "undo", change_id, author))
    assert not check(rid)

    # the Edit button on the card opens the same form
    if kind != "F":  # follow-ups have no card of their own: /crm edit F9
        noun = {"L": "lead", "O": "opp", "C": "customer", "S": "segment"}[kind]
        card = ask(slack, f"{noun} {ref}", author)
        (edit,) = buttons(card, "edit_record")
        assert edit["value"] == ref
        slack.click("edit_record", ref, author, response_url=site.fake.response_url("e"))
        assert opened_view(site.fake, author, 2)["callback_id"] == f"edit:{ref}"

    # another rep (for segments: a rep at all) is refused with the role named
    refused = warned(ask(slack, f"edit {ref}", team.rep2))
    assert "your role is rep" in refused


def test_edit_opportunity_moves_it_to_another_customer_with_the_type_ahead(
    slack: SlackClient, site: Site, team: Team
) -> None:
    lid = ref_in(ask(slack, 'lead add "Lead Buyer"', team.rep), "L")
    cid = ref_in(ask(slack, 'customer add "Zebra Buyer Ltd"', team.rep), "C")
    oid = ref_in(ask(slack, f'opp add "Deal" lead=L{lid} amount=10k', team.rep), "O")
    form = edit_form(slack, site, f"O{oid}", team.rep, 1)
    (field,) = [b for b in form["blocks"] if b.get("block_id") == "for"]
    assert field["element"]["type"] == "external_select"
    assert field["element"]["initial_option"]["value"] == f"L{lid}"
    suggested = slack.suggest(field["element"]["action_id"], "zebra", team.rep).json()
    assert [o["value"] for o in suggested["options"]] == [f"C{cid}"]
    closed(submit(slack, form, team.rep, {"for": f"C{cid}"}))
    opp = Opportunity.get_by_id(oid)
    assert (opp.customer_id, opp.lead_id) == (cid, lid)
    errors = field_errors(submit(slack, form, team.rep, {"for": "F1"}))
    assert list(errors) == ["for"]
