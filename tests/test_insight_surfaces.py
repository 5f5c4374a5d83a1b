"""Insight over its Slack surfaces (SPEC 13), the real web process over signed HTTP: the
customer card's predictions, the lead card's score, ``/crm lead list sort=score``, segment
criteria ``p_alive<0.3`` and ``/crm insight``'s calibration plot for managers.

One web process per backend serves the module; each test has its own workspace.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from crm.insight import clv, leadscore
from crm.models import Company, CustomerPrediction, CustomerSegment, Lead, LeadScore
from crm.parsing import format_money
from tests.admin_support import Session, Team, answer_text, new_team, session_fixture
from tests.e2e_support import site_fixture
from tests.insight_leads import make_history
from tests.insight_support import SAMPLE, load_orders

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n"
OCTOBER_1997 = datetime(1997, 10, 1, 12, 0)


site = site_fixture("insight")
session = session_fixture()


@pytest.fixture
def team(session: Session) -> Team:
    return new_team(session.fake)


def cdnow_team(team: Team) -> dict[int, int]:
    """The CDNOW sample as the team's orders, fitted and predicted as on 1 October 1997."""
    Company.update(timezone="America/New_York", currency="USD").where(
        Company.id == team.company.id
    ).execute()
    company = Company.get_by_id(team.company.id)
    mapping = load_orders(company.id, SAMPLE)
    clv.fit_company(company, now=OCTOBER_1997)
    assert clv.predict_company(company, now=OCTOBER_1997) == 2357
    return mapping


def test_customer_card_shows_predictions_beside_the_history(session: Session, team: Team) -> None:
    mapping = cdnow_team(team)
    frequent = CustomerPrediction.get(CustomerPrediction.customer == mapping[157])
    text = answer_text(session.command(f"customer C{mapping[157]}", team.rep))
    assert "Lifetime value" in text  # the historic figures stay
    assert f"*Probability alive*\n{frequent.p_alive:.0%}" in text
    assert f"*Expected purchases (90 days)*\n{frequent.expected_purchases:.1f}" in text
    assert f"*Predicted value (12 months)*\n{format_money(frequent.predicted_clv, 'USD')}" in text
    assert re.search(
        r"fitted \d{4}-\d\d-\d\d on 2357 customers \(946 with a repeat purchase\)", text
    )
    assert "orders to 1997-10-01" in text  # 12:00 UTC is the morning of 1 October in New York
    # the frequent buyer is alive and expected back; the one who lapsed after 21 repeats is not
    lapsed = CustomerPrediction.get(CustomerPrediction.customer == mapping[1901])
    assert frequent.p_alive > 0.9 > 0.1 > lapsed.p_alive
    assert frequent.expected_purchases > 1 > lapsed.expected_purchases
    assert frequent.predicted_clv > lapsed.predicted_clv


def test_too_little_history_says_so_and_shows_no_figure(session: Session, team: Team) -> None:
    from decimal import Decimal

    from crm import customers

    actor = team.rep.actor
    names = ("Mwila Banda", "Chanda Phiri", "Ruth Zulu")
    buyers = [customers.create_customer(actor, name=n).id for n in names]
    customers.add_order(actor, buyers[0], amount=Decimal(100), ordered_at=date(2026, 1, 5))
    customers.add_order(actor, buyers[0], amount=Decimal(150), ordered_at=date(2026, 2, 5))
    customers.add_order(actor, buyers[1], amount=Decimal(90), ordered_at=date(2026, 1, 20))
    clv.fit_company(Company.get_by_id(team.company.id))
    clv.predict_company(Company.get_by_id(team.company.id))
    text = answer_text(session.command(f"customer C{buyers[0]}", team.rep))
    assert "not enough history (1 customers with a repeat purchase, 30 needed)" in text
    assert "Probability alive" not in text and "Predicted value" not in text
    assert (
        CustomerPrediction.select().where(CustomerPrediction.company == team.company.id).count()
        == 0
    )


def test_segment_criteria_p_alive_and_predicted_clv(session: Session, team: Team) -> None:
    cdnow_team(team)
    mine = CustomerPrediction.company == team.company.id
    slipping = CustomerPrediction.select().where(mine & (CustomerPrediction.p_alive < 0.3)).count()
    valuable = (
        CustomerPrediction.select()
        .where(
            mine
            & (CustomerPrediction.predicted_clv >= 100)
            & (CustomerPrediction.expected_purchases >= 1)
        )
        .count()
    )
    assert 0 < slipping < 2357 and 0 < valuable < 2357
    text = answer_text(session.command('segment add "Slipping away" p_alive<0.3', team.admin))
    assert f"{slipping:,} customer" in text or f"{slipping} customer" in text, text
    text = answer_text(
        session.command('segment add "Worth a call" clv>=100 expected_purchases>=1', team.admin)
    )
    assert f"{valuable:,} customer" in text or f"{valuable} customer" in text, text
    bad = answer_text(session.command('segment add "Odd" p_alive<3', team.admin))
    assert "p_alive: expected a number from 0 to 1" in bad

    # three months on, more customers have slipped: the segment count follows (rule 7)
    clv.predict_company(Company.get_by_id(team.company.id), now=datetime(1998, 1, 2, 12, 0))
    later = CustomerPrediction.select().where(mine & (CustomerPrediction.p_alive < 0.3)).count()
    assert later > slipping
    segment = CustomerSegment.get(
        (CustomerSegment.company == team.company.id) & (CustomerSegment.name == "Slipping away")
    )
    assert segment.customer_count == later


def test_lead_card_score_and_list_sorted_by_score(session: Session, team: Team) -> None:
    members = [team.rep.member, team.rep2.member]
    hidden = make_history(team.company.id, members, 200, 12)
    built = leadscore.rebuild_scores(Company.get_by_id(team.company.id))
    assert built.scored == 12
    scores = dict(LeadScore.select(LeadScore.lead, LeadScore.score).tuples())
    lead_id = max(hidden, key=lambda i: scores[i])
    text = answer_text(session.command(f"lead L{lead_id}", team.manager))
    assert f"Lead score {scores[lead_id]}/100" in text
    lead = Lead.get_by_id(lead_id)
    assert f"source {lead.source}" in text and "priority" in text
    assert "naive Bayes over 200 closed leads" in text

    text = answer_text(session.command("lead list qualified team sort=score", team.manager))
    assert "Leads, highest score first" in text
    listed = [int(m) for m in re.findall(r"\*L(\d+)\*", text)]
    assert listed and set(listed) <= set(hidden)
    assert [scores[i] for i in listed] == sorted((scores[i] for i in listed), reverse=True)
    assert f"score {scores[listed[0]]}" in text
    bad = answer_text(session.command("lead list sort=luck", team.manager))
    assert "sort:" in bad and "score" in bad


def test_crm_insight_posts_a_calibration_plot_for_managers(session: Session, team: Team) -> None:
    make_history(team.company.id, [team.rep.member], 200, 5)
    mark = session.mark()
    text = answer_text(session.command("insight", team.manager))
    assert "Lead score calibration" in text and "Brier score" in text
    assert "Calibration plot posted in <#C0GENERAL>" in text
    assert "Lifetime-value predictions" in text
    (upload,) = session.calls_since(mark, "upload")
    assert upload.body.startswith(PNG)
    (done,) = session.calls_since(mark, "files.completeUploadExternal")
    assert "Lead score calibration" in done.args["initial_comment"]

    mark = session.mark()
    refused = answer_text(session.command("insight", team.rep))
    assert "Only managers and admins" in refused and "your role is rep" in refused
    assert session.calls_since(mark, "upload") == []


def test_discount_setting_lowers_the_predicted_value(session: Session, team: Team) -> None:
    mapping = cdnow_team(team)
    frequent = CustomerPrediction.customer == mapping[157]
    at_one_percent = CustomerPrediction.get(frequent).predicted_clv
    text = answer_text(session.command("settings discount=3%", team.admin))
    assert "*Lifetime-value discount*\n3% a month" in text
    clv.predict_company(Company.get_by_id(team.company.id), now=OCTOBER_1997)
    at_three_percent = CustomerPrediction.get(frequent).predicted_clv
    assert 0 < at_three_percent < at_one_percent
    # twelve months at 1% against 3%: the ratio of the discounted sums bounds the change
    assert at_three_percent / at_one_percent > (1 / 1.03) ** 12 / (1 / 1.01) ** 1

    bad = answer_text(session.command("settings discount=50%", team.admin))
    assert "discount: 50% a month is more than 20%; try discount=1%" in bad
    assert Company.get_by_id(team.company.id).settings["clv_discount"] == 0.03
