"""JSON API guarantees over HTTP against gunicorn, on SQLite and PostgreSQL (SPEC 8):
``Idempotency-Key`` replays, the per-token rate limit (in process memory and in Redis), and a
cursor walk over 1,234 leads that sees each exactly once while leads are being created."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from crm.clock import utcnow
from crm.models import Lead
from tests.api_support import Api, error, new_api, site
from tests.e2e_support import Site, start_web

__all__ = ["site"]


def _count(api: Api) -> int:
    return Lead.select().where(Lead.company == api.workspace.company.id).count()


def test_idempotency_key_replays_the_first_answer(site: Site) -> None:
    api = new_api(site)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"name": "Thandiwe Moyo", "email": "thandiwe@example.com", "estimated_value": 900}
    first = api.post("/leads", body, headers=key)
    assert first.status == 201, first.text
    again = api.post("/leads", body, headers=key)
    assert again.status == 201
    assert again.body == first.body
    assert again.headers.get("idempotent-replayed") == "true"
    assert _count(api) == 1

    r = api.post("/leads", dict(body, name="Someone else"), headers=key)
    assert r.status == 409, r.text
    assert error(r)["field"] == "Idempotency-Key"
    assert _count(api) == 1

    # a conversion retried with its key answers the conversion, not "already converted"
    lead_id = first.json()["data"]["id"]
    convert_key = {"Idempotency-Key": "convert-" + str(lead_id)}
    converted = api.post(f"/leads/{lead_id}/convert", headers=convert_key)
    assert converted.status == 200, converted.text
    retried = api.post(f"/leads/{lead_id}/convert", headers=convert_key)
    assert retried.status == 200 and retried.body == converted.body
    assert api.post(f"/leads/{lead_id}/convert").status == 409

    # a refusal keeps no key: the corrected request may use it
    bad_key = {"Idempotency-Key": "fix-me"}
    assert api.post("/leads", {"name": "X", "source": "??"}, headers=bad_key).status == 422
    assert api.post("/leads", {"name": "Fixed Lead"}, headers=bad_key).status == 201
    # keys belong to the company: another workspace's same key is its own
    other = new_api(site)
    r = other.post("/leads", body, headers=key)
    assert r.status == 201 and r.json()["data"]["id"] != lead_id
    r = api.post("/leads", body, headers={"Idempotency-Key": "x" * 201})
    assert r.status == 422 and error(r)["field"] == "Idempotency-Key"


def test_idempotency_key_sent_twice_at_once_creates_one(site: Site) -> None:
    api = new_api(site)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"name": "Concurrent Caller", "email": "cc@example.com"}
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: api.post("/leads", body, headers=key), range(6)))
    statuses = Counter(a.status for a in answers)
    assert set(statuses) <= {201, 409}, [a.text for a in answers]
    created = {a.json()["data"]["id"] for a in answers if a.status == 201}
    assert len(created) == 1
    assert _count(api) == 1
    for a in answers:
        if a.status == 409:
            assert "still being processed" in error(a)["message"]
    assert api.post("/leads", body, headers=key).status == 201  # the retry gets the answer


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_rate_limit_per_token(site: Site, tmp_path: Path, storage: str) -> None:
    api = new_api(site)
    other = api.token_for("read", "second integration")
    env = {"CRM_API_RATE_LIMIT": "5"}
    if storage == "redis":
        env.update(REDIS_URL="redis://127.0.0.1:6379/0", CRM_REDIS_NAMESPACE=f"t{uuid.uuid4().hex}")
    db_url = site.web.env["DATABASE_URL"]
    # one process keeps its own count in memory; in Redis two processes share one budget
    workers = 2 if storage == "redis" else 1
    with start_web(db_url, site.fake, tmp_path, extra_env=env, workers=workers, threads=2) as web:
        limited = Api(web.url, api.token, api.workspace)
        answers = [limited.get("/leads") for _ in range(8)]
        assert [a.status for a in answers[:5]] == [200] * 5
        refused = answers[5:]
        assert {a.status for a in refused} == {429}, [a.text for a in refused]
        err = error(refused[0])
        assert err["code"] == "rate_limited"
        assert 1 <= int(refused[0].headers["retry-after"]) <= 60
        # each token has its own budget
        assert limited.get("/leads", token=other).status == 200
        if storage == "redis":  # shared by every worker and machine: one budget in Redis
            again = Api(web.url, api.token, api.workspace)
            assert again.get("/leads").status == 429


def test_cursor_walk_sees_each_of_1234_leads_once_while_leads_are_created(site: Site) -> None:
    api = new_api(site)
    now = utcnow()
    rows = [
        {
            "company": api.workspace.company.id,
            "name": f"Walk lead {i:04d}",
            "source": "website",
            "status": "new",
            "priority": "medium",
            "tags": [],
            "created_at": now,
            "updated_at": now,
        }
        for i in range(1234)
    ]
    with site.database.atomic():
        for start in range(0, len(rows), 200):
            Lead.insert_many(rows[start : start + 200]).execute()
    existing = {
        lead.id for lead in Lead.select(Lead.id).where(Lead.company == api.workspace.company.id)
    }
    assert len(existing) == 1234

    stop = threading.Event()
    created: list[int] = []

    def create_more() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            r = api.post("/leads?allow_duplicate=true", {"name": f"Late arrival {n}"})
            assert r.status == 201, r.text
            created.append(r.json()["data"]["id"])

    writer = threading.Thread(target=create_more)
    writer.start()
    try:
        while not created and writer.is_alive():  # the walk starts once creating has
            threading.Event().wait(0.01)
        seen: list[int] = []
        url: str | None = "/leads?limit=100"
        while url:
            r = api.get(url)
            assert r.status == 200, r.text
            body = r.json()
            assert len(body["data"]) <= 100
            seen += [lead["id"] for lead in body["data"]]
            url = body["next"]
    finally:
        stop.set()
        writer.join()
    assert len(created) > 1, "no lead was created during the walk"
    counts = Counter(seen)
    assert [i for i, c in counts.items() if c > 1] == []
    assert existing <= set(seen)
    assert seen == sorted(seen)
