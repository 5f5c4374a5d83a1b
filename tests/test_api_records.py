"""JSON API: opportunities, communications, follow-ups, customers, orders, metrics, pipeline
and segments over HTTP against gunicorn, on SQLite and PostgreSQL (SPEC 8, rules 1-8)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm.clock import utcnow
from crm.models import AuditLog, Customer, Lead, Opportunity
from tests.api_support import Api, error, new_api, site
from tests.e2e_support import Site

__all__ = ["site"]

LEAD_MODEL = "App\\Infrastructure\\Persistence\\Eloquent\\CMS\\LeadModel"


def _customer(api: Api, name: str = "Copperbelt Traders", **extra: object) -> dict:
    r = api.post("/customers", {"name": name, **extra})
    assert r.status == 201, r.text
    return r.json()["data"]


def _ago(days: int) -> str:
    return (utcnow() - timedelta(days=days, hours=1)).isoformat() + "Z"


def test_opportunity_original_body_and_weighted_amount(site: Site) -> None:
    api = new_api(site)
    customer = _customer(api)
    body = {
        "customer_id": customer["id"],
        "name": "Fleet tyres",
        "amount": 120000,
        "probability": 35,
        "expected_close_date": "2026-03-31",
        "assigned_to": api.workspace.rep.slack_user_id,
    }
    r = api.post("/opportunities", body)
    assert r.status == 201, r.text
    opp = r.json()["data"]
    assert opp["ref"] == f"O{opp['id']}"
    assert opp["amount"] == "120000.00" and opp["weighted_amount"] == "42000.00"
    assert opp["expected_close_date"] == "2026-03-31"
    assert opp["stage"] == "prospecting" and opp["assigned_to"] == api.workspace.rep.id

    r = api.post(
        "/opportunities", {"customer_id": customer["id"], "name": "Rims", "amount": "999.99"}
    )
    default = r.json()["data"]
    assert default["probability"] == 10 and default["weighted_amount"] == "100.00"

    r = api.patch(f"/opportunities/{default['id']}", {"stage": "proposal"})
    assert r.status == 200, r.text
    assert r.json()["data"]["probability"] == 50

    listed = api.get(f"/opportunities?stage=proposal&customer_id={customer['id']}").json()
    assert [o["id"] for o in listed["data"]] == [default["id"]]
    assert api.get(f"/opportunities/{opp['id']}").json()["data"] == opp

    other = new_api(site)
    theirs = _customer(other, "Globex Mining")
    r = api.post("/opportunities", {"customer_id": theirs["id"], "name": "X", "amount": 1})
    assert r.status == 404, r.text
    assert Opportunity.select().where(Opportunity.customer == theirs["id"]).count() == 0
    r = api.post("/opportunities", {"name": "Neither", "amount": 1})
    assert r.status == 422 and error(r)["field"] == "customer_id"


def test_communications_original_types_and_rule_6(site: Site) -> None:
    api = new_api(site)
    lead = api.post("/leads", {"name": "Mutale Kunda"}).json()["data"]
    body = {
        "communicable_type": LEAD_MODEL,
        "communicable_id": lead["id"],
        "type": "call",
        "direction": "outbound",
        "subject": "Intro call",
        "content": "Interested in fleet tyres",
        "communicated_at": "2026-02-12 14:30:00",
        "duration_minutes": 15,
    }
    r = api.post("/communications", body)
    assert r.status == 201, r.text
    comm = r.json()["data"]
    assert comm["communicable_type"] == "lead" and comm["duration_minutes"] == 15
    # company time (Africa/Lusaka, UTC+2) without an offset
    assert comm["communicated_at"] == "2026-02-12T12:30:00Z"
    assert Lead.get_by_id(lead["id"]).last_contacted_at.isoformat() == "2026-02-12T12:30:00"

    customer = _customer(api)
    opp = api.post(
        "/opportunities", {"customer_id": customer["id"], "name": "Deal", "amount": 10}
    ).json()["data"]
    r = api.post(
        "/communications",
        {"communicable_type": "opportunity", "communicable_id": opp["id"], "type": "email"},
    )
    assert r.status == 201, r.text
    assert Opportunity.get_by_id(opp["id"]).last_contacted_at is not None
    assert Customer.get_by_id(customer["id"]).last_contacted_at is not None

    for kind in ("App\\Models\\CustomerModel", "customer"):
        r = api.post(
            "/communications",
            {"communicable_type": kind, "communicable_id": customer["id"], "type": "note"},
        )
        assert r.status == 201, r.text
    r = api.post(
        "/communications",
        {"communicable_type": "App\\Models\\InvoiceModel", "communicable_id": 1, "type": "note"},
    )
    assert r.status == 422 and error(r)["field"] == "communicable_type"
    other = new_api(site)
    r = other.post(
        "/communications",
        {"communicable_type": "lead", "communicable_id": lead["id"], "type": "note"},
    )
    assert r.status == 404
    listed = api.get(f"/communications?communicable_type=customer&communicable_id={customer['id']}")
    assert len(listed.json()["data"]) == 2


def test_follow_ups_create_list_update(site: Site) -> None:
    api = new_api(site)
    lead = api.post("/leads", {"name": "Natasha Mwale"}).json()["data"]
    body = {
        "followable_type": LEAD_MODEL,
        "followable_id": lead["id"],
        "title": "Send the quote",
        "due_date": "2026-02-15 09:00:00",
        "priority": "high",
        "assigned_to": api.workspace.rep.id,
    }
    r = api.post("/follow-ups", body)
    assert r.status == 201, r.text
    fu = r.json()["data"]
    assert fu["followable_type"] == "lead" and fu["priority"] == "high"
    assert fu["status"] == "overdue"  # due in the past (rule 5)
    assert fu["due_date"] == "2026-02-15T07:00:00Z"

    future = (utcnow() + timedelta(days=3)).isoformat() + "Z"
    r = api.patch(f"/follow-ups/{fu['id']}", {"due_date": future, "title": "Send the new quote"})
    assert r.status == 200, r.text
    assert r.json()["data"]["status"] == "pending"
    assert r.json()["data"]["title"] == "Send the new quote"
    assert [f["id"] for f in api.get("/follow-ups?status=pending").json()["data"]] == [fu["id"]]
    assert api.get("/follow-ups?status=overdue").json()["data"] == []

    r = api.patch(f"/follow-ups/{fu['id']}", {"status": "completed", "completion_notes": "Sent"})
    assert r.status == 200, r.text
    done = r.json()["data"]
    assert done["status"] == "completed" and done["completion_notes"] == "Sent"
    r = api.patch(f"/follow-ups/{fu['id']}", {"status": "cancelled"})
    assert r.status == 409, r.text
    r = new_api(site).patch(f"/follow-ups/{fu['id']}", {"status": "cancelled"})
    assert r.status == 404


def test_orders_metrics_and_insight_fields(site: Site) -> None:
    api = new_api(site)
    customer = _customer(api, email="buyer@example.com")
    assert customer["metrics"]["tier"] == "bronze"
    assert customer["metrics"]["churn_risk"] is None
    assert customer["insight"] is None

    path = f"/customers/{customer['id']}/orders"
    r = api.post(
        path, {"amount": 15000, "cost": 9000, "ordered_at": _ago(10), "external_ref": "S-1"}
    )
    assert r.status == 201, r.text
    order = r.json()["data"]
    assert order["amount"] == "15000.00" and order["cost"] == "9000.00"
    again = api.post(
        path, {"amount": 15000, "cost": 9000, "ordered_at": _ago(10), "external_ref": "S-1"}
    )
    assert again.status == 200 and again.json()["data"]["id"] == order["id"]
    api.post(path, {"amount": 5000, "cost": 1000, "ordered_at": _ago(40)})

    got = api.get(f"/customers/{customer['id']}").json()["data"]
    m = got["metrics"]
    assert m["order_count"] == 2
    assert m["lifetime_value"] == "20000.00" and m["average_order_value"] == "10000.00"
    assert m["total_profit"] == "10000.00" and m["profit_margin"] == 50.0
    assert m["tier"] == "silver" and m["churn_risk"] == "low"
    assert m["days_since_last_purchase"] == 10

    r = api.post(path, {"amount": -1})
    assert r.status == 422 and error(r)["field"] == "amount"
    r = api.post(path, {"amount": 10, "ordered_at": "2999-01-01"})
    assert r.status == 422
    assert new_api(site).post(path, {"amount": 10}).status == 404


@pytest.mark.parametrize(
    ("total", "tier"),
    [
        ("19999.99", "bronze"),
        ("20000", "silver"),
        ("49999.99", "silver"),
        ("50000", "gold"),
        ("99999.99", "gold"),
        ("100000", "platinum"),
    ],
)
def test_calculate_metrics_tier_edges(site: Site, total: str, tier: str) -> None:
    api = new_api(site)
    customer = _customer(api, f"Tier {total}")
    api.post(f"/customers/{customer['id']}/orders", {"amount": total, "ordered_at": _ago(5)})
    r = api.post(f"/customers/{customer['id']}/calculate-metrics")
    assert r.status == 200, r.text
    assert r.json()["data"]["tier"] == tier
    assert r.json()["data"]["lifetime_value"] == f"{float(total):.2f}"


@pytest.mark.parametrize(
    ("days", "risk"), [(89, "low"), (90, "medium"), (179, "medium"), (180, "high"), (None, None)]
)
def test_calculate_metrics_churn_edges(site: Site, days: int | None, risk: str | None) -> None:
    api = new_api(site)
    customer = _customer(api, f"Churn {days}")
    if days is not None:
        api.post(f"/customers/{customer['id']}/orders", {"amount": 100, "ordered_at": _ago(days)})
    r = api.post(f"/customers/{customer['id']}/calculate-metrics")
    assert r.status == 200, r.text
    assert r.json()["data"]["churn_risk"] == risk
    assert r.json()["data"]["days_since_last_purchase"] == days


def test_customers_list_update_duplicate(site: Site) -> None:
    api = new_api(site)
    first = _customer(api, "Kabwe Hardware", email="sales@kabwe.example", tags=["VIP"])
    assert first["tags"] == ["vip"]
    r = api.post("/customers", {"name": "Kabwe Hardware Ltd", "email": "sales@kabwe.example"})
    assert r.status == 409 and error(r)["ref"] == first["ref"]
    r = api.patch(f"/customers/{first['id']}", {"industry": "retail"})
    assert r.status == 200 and r.json()["data"]["industry"] == "retail"
    listed = api.get("/customers?industry=retail").json()["data"]
    assert [c["id"] for c in listed] == [first["id"]]
    audit = AuditLog.select().where(
        (AuditLog.entity_type == "customer") & (AuditLog.entity_id == first["id"])
    )
    assert {a.origin for a in audit} == {"api"}


def test_pipeline_and_segments(site: Site) -> None:
    api = new_api(site)
    gold = _customer(api, "Gold buyer")
    _customer(api, "Small buyer")
    api.post(f"/customers/{gold['id']}/orders", {"amount": 60000, "ordered_at": _ago(3)})
    for name, amount, stage in (("A", 1000, "prospecting"), ("B", 3000, "proposal")):
        r = api.post(
            "/opportunities",
            {"customer_id": gold["id"], "name": name, "amount": amount, "stage": stage},
        )
        assert r.status == 201, r.text
    p = api.get("/pipeline").json()["data"]
    assert [s["stage"] for s in p["stages"]] == [
        "prospecting",
        "qualification",
        "proposal",
        "negotiation",
    ]
    assert p["count"] == 2 and p["amount"] == "4000.00"
    assert p["weighted_amount"] == "1600.00"  # 1000 x 10% + 3000 x 50%

    r = api.post("/segments", {"name": "Gold", "criteria": {"tier": ["gold", "platinum"]}})
    assert r.status == 201, r.text
    seg = r.json()["data"]
    assert seg["customer_count"] == 1 and seg["ref"] == f"S{seg['id']}"
    r = api.patch(f"/segments/{seg['id']}", {"criteria": {"tier": "bronze"}})
    assert r.status == 200 and r.json()["data"]["customer_count"] == 1
    r = api.patch(f"/segments/{seg['id']}", {"criteria": {"tier": ["bronze", "gold"]}})
    assert r.json()["data"]["customer_count"] == 2
    r = api.post("/segments", {"name": "Bad", "criteria": {"shoe_size": 42}})
    assert r.status == 422 and error(r)["field"]
    assert [s["id"] for s in api.get("/segments").json()["data"]] == [seg["id"]]
    assert new_api(site).get(f"/segments/{seg['id']}").status == 404


def test_a_member_number_beyond_any_id_is_refused_not_a_server_error(site: Site) -> None:
    """schemathesis found it: a 35-digit ``assigned_to`` overflowed the database driver."""
    api = new_api(site)
    huge = "9" * 35
    for path in (f"/opportunities?assigned_to={huge}", f"/leads?assigned_to={huge}"):
        r = api.get(path)
        assert r.status == 422, (path, r.status, r.text)
        assert error(r)["field"] == "assigned_to"


def test_service_checks_of_a_communication_and_a_deal_patch_name_every_bad_field(
    site: Site,
) -> None:
    """Past the schema, the services' own checks (a time in the future, a control character, a
    blank name or reason) are also listed together in one 422, each under the body's name of
    its field (``communicated_at``, where a rep in Slack types ``at=``), and nothing changes."""
    api = new_api(site)
    lead = api.post("/leads", {"name": "Chanda Bwalya"}).json()["data"]
    r = api.post(
        "/communications",
        {
            "communicable_type": "lead",
            "communicable_id": lead["id"],
            "type": "call",
            "content": "rang \u0007 twice",
            "communicated_at": "2100-01-01 10:00:00",
        },
    )
    assert r.status == 422, r.text
    err = error(r)
    assert [d["field"] for d in err["details"]] == ["content", "communicated_at"], r.text
    assert "communicated_at: is in the future" in err["message"]
    assert err["details"][1]["message"].startswith("communicated_at: is in the future")
    assert (
        api.get(f"/communications?communicable_type=lead&communicable_id={lead['id']}").json()[
            "data"
        ]
        == []
    )

    customer = _customer(api)
    opp = api.post(
        "/opportunities", {"customer_id": customer["id"], "name": "Deal", "amount": 10}
    ).json()["data"]
    r = api.patch(f"/opportunities/{opp['id']}", {"name": " ", "amount": 20, "loss_reason": " "})
    assert r.status == 422, r.text
    assert [d["field"] for d in error(r)["details"]] == ["name", "loss_reason"]
    assert api.get(f"/opportunities/{opp['id']}").json()["data"] == opp
