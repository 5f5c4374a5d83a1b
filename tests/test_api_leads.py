"""JSON API: leads, auth, errors and the OpenAPI document, over HTTP against gunicorn, on
SQLite and PostgreSQL (SPEC 8)."""

from __future__ import annotations

import re

from crm import tokens
from crm.models import AuditLog, Customer, Lead
from tests.api_support import error, new_api, site
from tests.e2e_support import Site

__all__ = ["site"]

ORIGINAL_LEAD = {
    "name": "Mwila Banda",
    "email": "mwila@copperbelt.example",
    "phone": "+260 97 1234567",
    "company_name": "Copperbelt Traders",
    "source": "website",
    "estimated_value": 50000,
    "assigned_to": None,
}


def test_create_original_body_read_and_audit(site: Site) -> None:
    api = new_api(site)
    rep = api.workspace.rep
    body = dict(ORIGINAL_LEAD, assigned_to=rep.slack_user_id)
    r = api.post("/leads", body)
    assert r.status == 201, r.text
    lead = r.json()["data"]
    assert lead["ref"] == f"L{lead['id']}"
    assert lead["name"] == "Mwila Banda"
    assert lead["status"] == "new"
    assert lead["source"] == "website"
    assert lead["estimated_value"] == "50000.00"
    assert lead["currency"] == "ZMW"
    assert lead["phone"] == "+260971234567"
    assert lead["assigned_to"] == rep.id
    assert lead["customer_id"] is None

    got = api.get(f"/leads/{lead['id']}")
    assert got.status == 200
    assert got.json()["data"] == lead

    audit = AuditLog.get((AuditLog.entity_type == "lead") & (AuditLog.entity_id == lead["id"]))
    assert audit.origin == "api"
    assert audit.actor_type == "token"

    # by member number too
    r = api.post("/leads", {"name": "Chanda Phiri", "assigned_to": rep.id})
    assert r.status == 201, r.text
    assert r.json()["data"]["assigned_to"] == rep.id


def test_invalid_body_lists_every_bad_field_and_changes_nothing(site: Site) -> None:
    api = new_api(site)
    before = Lead.select().where(Lead.company == api.workspace.company.id).count()
    r = api.post(
        "/leads",
        {"name": 12, "source": "carrier pigeon", "estimated_value": "lots", "probability": 300},
    )
    assert r.status == 422, r.text
    err = error(r)
    assert err["code"] == "invalid"
    fields = {d["field"] for d in err["details"]}
    assert {"name", "source", "estimated_value", "probability"} <= fields
    assert err["field"] in fields

    r = api.post("/leads", {"name": "X", "estimated_valu": 5})
    assert r.status == 422 and error(r)["field"] == "estimated_valu"

    r = api.post("/leads", {"name": "Bad mail", "email": "not-an-email"})
    assert r.status == 422 and error(r)["field"] == "email"

    # the service calls it company (as a rep types company=Acme); the body's name is kept
    r = api.post("/leads", {"name": "Bell", "company_name": "Acme\u0007"})
    assert r.status == 422, r.text
    assert error(r)["field"] == "company_name"
    assert error(r)["message"].startswith("company_name: contains the control character")

    # the service's own checks report every bad field in one answer as well
    r = api.post("/leads", {"name": "Two bad", "email": "not-an-email", "phone": "12"})
    assert r.status == 422, r.text
    err = error(r)
    assert [d["field"] for d in err["details"]] == ["email", "phone"] and err["field"] == "email"
    assert "email:" in err["message"] and "phone:" in err["message"]
    assert Lead.select().where(Lead.company == api.workspace.company.id).count() == before

    r = api.post("/leads", {"name": "Nul\u0000name"})
    assert r.status == 422 and error(r)["field"] == "name"

    r = api.post("/leads", raw=b'{"name": ')
    assert r.status == 400 and error(r)["code"] == "bad_json"

    r = api.post("/leads", raw=b"[" * 100_000 + b"]" * 100_000)
    assert r.status in (400, 422), r.text
    error(r)

    r = api.post("/leads", {"name": "Huge", "estimated_value": 10**30})
    assert r.status == 422 and error(r)["field"] == "estimated_value"

    assert Lead.select().where(Lead.company == api.workspace.company.id).count() == before


def test_auth_scopes_and_revocation(site: Site) -> None:
    api = new_api(site)
    r = api.get("/leads", token=None)
    assert r.status == 401 and error(r)["code"] == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert api.get("/leads", token="crm_not-a-real-token").status == 401

    reader = api.token_for("read")
    assert api.get("/leads", token=reader).status == 200
    r = api.post("/leads", {"name": "Read only"}, token=reader)
    assert r.status == 403 and error(r)["code"] == "forbidden"
    assert Lead.select().where(Lead.company == api.workspace.company.id).count() == 0

    second = api.token_for("write", "to revoke")
    assert api.get("/leads", token=second).status == 200
    token_id = next(t.id for t in tokens.list_tokens(api.system) if t.name == "to revoke")
    tokens.revoke_token(api.system, token_id)
    r = api.get("/leads", token=second)
    assert r.status == 401 and "revoked" in error(r)["message"]


def test_cross_company_ids_are_not_found(site: Site) -> None:
    ours, theirs = new_api(site), new_api(site)
    lead = theirs.post("/leads", {"name": "Their lead"}).json()["data"]
    for r in (
        ours.get(f"/leads/{lead['id']}"),
        ours.patch(f"/leads/{lead['id']}", {"name": "Stolen"}),
        ours.post(f"/leads/{lead['id']}/convert"),
        ours.get("/leads/2147483648"),
        ours.get("/leads/abc"),
    ):
        assert r.status == 404, r.text
        assert error(r)["code"] == "not_found"
    # a member of another workspace is not found either (rule 8)
    r = ours.post("/leads", {"name": "X", "assigned_to": theirs.workspace.rep.slack_user_id})
    assert r.status == 404 and error(r)["field"] == "assigned_to"
    r = ours.post("/leads", {"name": "X", "assigned_to": theirs.workspace.rep.id})
    assert r.status == 404
    assert Lead.get_by_id(lead["id"]).name == "Their lead"
    assert ours.get("/leads").json()["data"] == []


def test_update_and_convert_once(site: Site) -> None:
    api = new_api(site)
    lead = api.post("/leads", ORIGINAL_LEAD).json()["data"]
    r = api.patch(f"/leads/{lead['id']}", {"status": "qualified", "probability": 60})
    assert r.status == 200, r.text
    assert r.json()["data"]["status"] == "qualified"
    assert r.json()["data"]["probability"] == 60
    assert r.json()["data"]["email"] == ORIGINAL_LEAD["email"]  # untouched fields stay

    r = api.patch(f"/leads/{lead['id']}", {"status": "new"})
    assert r.status == 422 and error(r)["field"] == "status"

    r = api.post(f"/leads/{lead['id']}/convert")
    assert r.status == 200, r.text
    converted = r.json()["data"]
    assert converted["status"] == "won"
    customer = Customer.get_by_id(converted["customer_id"])
    assert customer.lead_id == lead["id"] and customer.name == "Mwila Banda"
    assert api.get(f"/leads/{lead['id']}").json()["data"]["customer_id"] == customer.id

    r = api.post(f"/leads/{lead['id']}/convert")
    assert r.status == 409, r.text
    assert error(r)["code"] == "conflict"
    assert f"C{customer.id}" in error(r)["message"]
    assert Customer.select().where(Customer.lead == lead["id"]).count() == 1


def test_duplicate_is_409_with_ref_unless_allowed(site: Site) -> None:
    api = new_api(site)
    first = api.post("/leads", ORIGINAL_LEAD).json()["data"]
    r = api.post("/leads", dict(ORIGINAL_LEAD, name="M. Banda"))
    assert r.status == 409, r.text
    err = error(r)
    assert err["code"] == "duplicate" and err["ref"] == first["ref"]
    r = api.post("/leads?allow_duplicate=true", dict(ORIGINAL_LEAD, name="M. Banda"))
    assert r.status == 201, r.text
    assert r.json()["data"]["id"] != first["id"]


def test_list_filters_and_cursor(site: Site) -> None:
    api = new_api(site)
    ids = []
    names = [
        "Abel Mumba",
        "Bupe Zulu",
        "Chola Tembo",
        "Dalitso Phiri",
        "Eshe Lungu",
        "Fumbani Daka",
        "Gift Sakala",
    ]
    for i, name in enumerate(names):
        source = "referral" if i % 2 else "website"
        r = api.post("/leads", {"name": name, "source": source})
        assert r.status == 201, r.text
        ids.append(r.json()["data"]["id"])
    seen, url = [], "/leads?limit=3"
    while url:
        r = api.get(url)
        assert r.status == 200, r.text
        body = r.json()
        assert len(body["data"]) <= 3
        seen += [x["id"] for x in body["data"]]
        url = body["next"]
    assert seen == ids
    refs = api.get("/leads?source=referral&limit=500").json()["data"]
    assert [x["id"] for x in refs] == ids[1::2]
    assert api.get("/leads?q=eshe").json()["data"][0]["id"] == ids[4]
    r = api.get("/leads?limit=501")
    assert r.status == 422 and error(r)["field"] == "limit"
    r = api.get("/leads?status=asleep")
    assert r.status == 422 and error(r)["field"] == "status"


def test_openapi_document_matches_the_routes(site: Site) -> None:
    api = new_api(site)
    r = api.get("/openapi.json", token=None)
    assert r.status == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    documented = {
        (method.upper(), "/cms/crm" + path) for path, ops in doc["paths"].items() for method in ops
    }
    from flask import Flask

    from bot.api import mount

    app = Flask("routes")
    mount(app, _Settings())
    routed = {
        (method, re.sub(r"<int:(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/cms/crm")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    served = {("GET", "/cms/crm/openapi.json"), ("GET", "/cms/crm/docs")}
    routed -= served | {("GET", "/cms/crm/docs/{name}"), ("GET", "/cms/crm/docs/<name>")}
    assert documented == routed
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op["responses"], path
            assert "422" in op["responses"] and "401" in op["responses"]
    # every documented route answers (no 404 for an empty id-less call without a token)
    for method, path in documented:
        r = api.call(method, path.removeprefix("/cms/crm").replace("{id}", "1"), token=None)
        assert r.status == 401, (method, path, r.status)


class _Settings:
    redis_url = None
    redis_namespace = "crm"
    api_rate_limit = 600
