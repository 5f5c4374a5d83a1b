"""``/cms/crm/campaigns`` over real HTTP (gunicorn) on both databases: create with the
documented body, list with the cursor, read with the figures, update, the sending controls,
and the refusals (fields named, roles, other workspaces, read tokens, Idempotency-Key)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from crm import customers
from crm.models import AuditLog, Campaign, CampaignRecipient
from crm.segments import create_segment
from tests.api_support import Api, error, new_api
from tests.conftest import TEST_SECRET_KEY
from tests.e2e_support import Site, site_fixture

# a web process of its own, where email campaigns are configured (the shared one has no mail)
site = site_fixture(
    "apicampaigns",
    private=True,
    extra_env={
        "CRM_SECRET_KEY": TEST_SECRET_KEY,
        "SMTP_URL": "smtp://127.0.0.1:9",
        "MAIL_FROM": "Acme <news@acme.test>",
    },
)


@pytest.fixture
def api(site: Site) -> Api:
    api = new_api(site)
    for i in range(4):
        customers.create_customer(
            api.system,
            name=f"Buyer {i}",
            email=f"b{i}@{api.workspace.company.team_id.lower()}.test",
            industry="retail",
            allow_duplicate=True,
        )
    return api


_segments = itertools.count(1)


def _segment(api: Api, industry: str = "retail") -> int:
    name = f"{industry} people {next(_segments)}"
    return create_segment(api.system, name=name, criteria={"industry": industry}).id


def _body(api: Api, **extra: Any) -> dict[str, Any]:
    return {
        "name": "Spring offer",
        "channel": "email",
        "segment_id": _segment(api),
        "subject": "Hello {{ first_name }}",
        "body": "Dear {{ name }}, https://shop.acme.test/spring",
        "budget": "400",
        "cost": 200,
        "goal_type": "conversions",
        "goal_value": 10,
        "attribution_days": 14,
    } | extra


def test_create_read_list_and_update(api: Api) -> None:
    r = api.post("/campaigns", _body(api))
    assert r.status == 201, r.text
    data = r.json()["data"]
    assert data["ref"] == f"M{data['id']}" and data["status"] == "draft"
    assert (data["budget"], data["cost"], data["currency"]) == ("400.00", "200.00", "ZMW")
    assert (data["audience"], data["sent"], data["roi"]) == (0, 0, "-100.00")
    assert data["goal_progress"] == "0.0" and data["attribution_days"] == 14
    cid = data["id"]
    audit = AuditLog.get((AuditLog.entity_type == "campaign") & (AuditLog.entity_id == cid))
    assert audit.origin == "api"
    assert api.get(f"/campaigns/{cid}").json()["data"]["name"] == "Spring offer"
    r = api.patch(
        f"/campaigns/{cid}", {"name": "Spring offer 2", "scheduled_at": "2031-01-02 09:00"}
    )
    assert r.status == 200, r.text
    assert (r.json()["data"]["name"], r.json()["data"]["status"]) == ("Spring offer 2", "scheduled")
    ids = [api.post("/campaigns", _body(api, name=f"C{i}")).json()["data"]["id"] for i in range(3)]
    seen: list[int] = []
    url = "/campaigns?limit=2"
    while url:
        page = api.get(url).json()
        seen += [c["id"] for c in page["data"]]
        url = page["next"]
    assert seen == [cid, *ids]
    drafts = api.get("/campaigns?status=scheduled").json()["data"]
    assert [c["id"] for c in drafts] == [cid]


def test_send_pause_resume_and_cancel_as_actions(api: Api) -> None:
    cid = api.post("/campaigns", _body(api)).json()["data"]["id"]
    r = api.post(f"/campaigns/{cid}/send")
    assert r.status == 200, r.text
    sent = r.json()["data"]
    assert (sent["status"], sent["audience"], sent["pending"]) == ("sending", 4, 4)
    assert CampaignRecipient.select().where(CampaignRecipient.campaign == cid).count() == 4
    assert error(api.post(f"/campaigns/{cid}/send"))["code"] == "conflict"  # not twice
    assert api.post(f"/campaigns/{cid}/pause").json()["data"]["status"] == "paused"
    assert api.post(f"/campaigns/{cid}/resume").json()["data"]["status"] == "sending"
    assert api.post(f"/campaigns/{cid}/cancel").json()["data"]["status"] == "cancelled"
    r = api.patch(f"/campaigns/{cid}", {"name": "too late"})
    assert r.status == 409 and Campaign.get_by_id(cid).name == "Spring offer"
    assert CampaignRecipient.select().where(CampaignRecipient.campaign == cid).count() == 4


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"subject": "Hi {{ nickname }}"}, "subject", "nickname"),
        ({"body": "Hello {% if %}"}, "body", "syntax"),
        ({"scheduled_at": "2020-01-01 09:00"}, "schedule", "past"),
        ({"budget": -5}, "budget", ""),
        ({"channel": "social", "target": "http://127.0.0.1/hook"}, "target", "https"),
        ({"channel": "sms"}, "channel", "SMS_API_URL"),
        ({"segment_id": "fishing"}, "audience", "empty audience"),
        ({"segment_id": None, "customer_ids": []}, "audience", "choose a segment"),
    ],
)
def test_bad_bodies_name_the_field_and_store_nothing(
    api: Api, extra: dict[str, Any], field: str, words: str
) -> None:
    if extra.get("segment_id") == "fishing":  # a segment that matches nobody
        extra = {"segment_id": _segment(api, "fishing")}
    body = {k: v for k, v in (_body(api) | extra).items() if v is not None}
    r = api.post("/campaigns", body)
    assert r.status == 422, r.text
    err = error(r)
    assert err["field"] == field or field in err["message"], err
    assert words.lower() in err["message"].lower(), err
    assert Campaign.select().where(Campaign.company == api.workspace.company.id).count() == 0


def test_tokens_scopes_workspaces_and_idempotency(api: Api, site: Site) -> None:
    cid = api.post("/campaigns", _body(api)).json()["data"]["id"]
    reader = api.token_for("read")
    assert api.get(f"/campaigns/{cid}", token=reader).status == 200
    assert api.post("/campaigns", _body(api), token=reader).status == 403
    assert api.post(f"/campaigns/{cid}/send", token=reader).status == 403
    other = new_api(site)
    assert error(other.get(f"/campaigns/{cid}"))["code"] == "not_found"
    assert other.post(f"/campaigns/{cid}/cancel").status == 404
    assert Campaign.get_by_id(cid).status == "draft"
    r = other.post("/campaigns", {"name": "x", "segment_id": _segment(api)})
    assert r.status == 404  # another workspace's segment is not found
    key = {"Idempotency-Key": "camp-1"}
    once = _body(api, name="Once")
    first = api.post("/campaigns", once, headers=key)
    again = api.post("/campaigns", once, headers=key)
    assert (first.status, again.status) == (201, 201)
    assert first.json() == again.json()
    assert Campaign.select().where(Campaign.name == "Once").count() == 1
