"""Rules that used to be written more than once, now held in one place (issue 11): what each
one place does, including the cases only one of the old copies handled."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
from slack_bolt.context.respond import Respond

from bot import respond
from bot.blocks.customers import customer_card
from bot.gateway import retry_after
from crm import cards, customers, idempotency, opportunities, segments
from crm.errors import NotFound, ValidationError
from crm.models import (
    CLOSED_STAGES,
    NO_METRICS_TIER,
    OPPORTUNITY_STAGES,
    TIERS,
    Customer,
    Opportunity,
)
from workers.slack import as_retry


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": ["2.5"]}, 2.5),  # urllib's lists of values, any case
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({"X-Other": "1"}, None),
        (None, None),
    ],
)
def test_retry_after_is_read_once_for_web_and_workers(headers: Any, seconds: Any) -> None:
    assert retry_after(headers) == seconds


class _Response(dict):
    def __init__(self, headers: dict[str, Any]) -> None:
        super().__init__(ok=False, error="ratelimited")
        self.status_code = 429
        self.headers = headers


@pytest.mark.parametrize(
    ("headers", "delay_ms"),
    [({"Retry-After": "12"}, 12_000), ({}, 1_000), ({"Retry-After": "0"}, 1_000),
     ({"Retry-After": "later"}, 30_000)],
)  # fmt: skip
def test_a_worker_turns_a_429_into_a_delayed_retry(headers: Any, delay_ms: int) -> None:
    from slack_sdk.errors import SlackApiError

    retry = as_retry(SlackApiError("429", _Response(headers)))
    assert retry is not None and retry.delay == delay_ms


def test_closed_stages_are_the_stages_after_the_open_ones() -> None:
    assert CLOSED_STAGES == ("closed_won", "closed_lost")
    assert set(CLOSED_STAGES).isdisjoint(opportunities.OPEN_STAGES)
    assert (*opportunities.OPEN_STAGES, *CLOSED_STAGES) == OPPORTUNITY_STAGES


def test_a_customer_without_metrics_is_bronze_on_the_card_and_in_segments(acme: Any) -> None:
    rep = acme.actor(acme.rep)
    customer = customers.create_customer(rep, name="Mwila Banda")
    assert NO_METRICS_TIER == "bronze"
    card = cards.customer_card(rep, customer.id)
    shown = str(customer_card(card, "ZMW"))
    assert "Bronze" in shown or "bronze" in shown
    admin = acme.actor(acme.admin)
    segment = segments.create_segment(admin, name="Bronze", criteria={"tier": [NO_METRICS_TIER]})
    sample = segments.sample_segment(rep, segment.id)
    assert sample.count == 1
    assert [(c.id, c.tier, c.lifetime_value) for c in sample.customers] == [
        (customer.id, NO_METRICS_TIER, Decimal(0))
    ]


def test_sample_segment_is_scoped_and_checks_its_size(acme: Any, globex: Any) -> None:
    rep = acme.actor(acme.rep)
    segment = segments.create_segment(
        acme.actor(acme.admin), name="All", criteria={"tier": list(TIERS)}
    )
    with pytest.raises(NotFound):
        segments.sample_segment(globex.actor(globex.rep), segment.id)
    with pytest.raises(ValidationError, match="size"):
        segments.sample_segment(rep, segment.id, size=0)


def test_once_without_a_key_just_creates(acme: Any) -> None:
    rep = acme.actor(acme.rep)
    made = []

    def create() -> Customer:
        made.append(customers.create_customer(rep, name=["Mwila Banda", "Chanda Phiri"][len(made)]))
        return made[-1]

    first, replayed = idempotency.once(rep, None, Customer, create)
    second, again = idempotency.once(rep, None, Customer, create)
    assert (replayed, again) == (False, False) and first.id != second.id


def test_once_with_a_key_replays_across_use_cases(acme: Any) -> None:
    """The key a lead was made under cannot make an opportunity (one mechanism, one check)."""
    rep = acme.actor(acme.rep)
    customer = customers.create_customer(rep, name="Chanda", idempotency_key="k-1")
    assert customers.create_customer(rep, name="Chanda", idempotency_key="k-1").id == customer.id
    with pytest.raises(Exception, match="already used to create a customer"):
        opportunities.create_opportunity(
            rep, name="Deal", amount=Decimal(5), customer_id=customer.id, idempotency_key="k-1"
        )
    assert Opportunity.select().count() == 0


class _Recorder:
    def __init__(self, url: str | None = "https://hooks.example/1") -> None:
        self.response_url = url
        self.sent: list[dict[str, Any]] = []

    def __call__(self, **reply: Any) -> None:
        self.sent.append(reply)


class _Client:
    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []

    def chat_postMessage(self, **kwargs: Any) -> None:
        self.posted.append(kwargs)


def test_answer_or_apologise(caplog: pytest.LogCaptureFixture) -> None:
    assert respond.answer_or_apologise(lambda: {"text": "ok"}, "r1") == {"text": "ok"}

    def refused() -> None:
        raise ValidationError("name", "is required", hint='name="Jane Doe"')

    def broken() -> None:
        raise RuntimeError("boom")

    refusal = respond.answer_or_apologise(refused, "r2")
    assert refusal is not None and "name" in refusal["text"]
    assert refusal["replace_original"] is False
    with caplog.at_level(logging.ERROR):
        sorry = respond.answer_or_apologise(broken, "r3")
    assert sorry is not None and "`r3`" in sorry["text"] and "boom" not in sorry["text"]
    assert "r3" in caplog.text


def test_deliver_answers_through_the_url_or_a_dm(caplog: pytest.LogCaptureFixture) -> None:
    url, client = _Recorder(), _Client()
    respond.deliver(url, {"text": "hi", "replace_original": False}, "r1", client=client)
    assert url.sent == [{"text": "hi", "replace_original": False}] and client.posted == []

    respond.deliver(None, {"text": "hi", "response_type": "ephemeral"}, "r2", client=client,
                    user_id="U1")  # fmt: skip
    assert client.posted == [{"channel": "U1", "text": "hi"}]

    with caplog.at_level(logging.INFO, logger="bot.respond"):
        respond.deliver(None, {"text": "lost"}, "r3")
        respond.deliver(Respond(response_url=None), {"text": "lost"}, "r4")
    assert "request r3: no response_url" in caplog.text
    assert "request r4: no response_url" in caplog.text

    def fails(**_: Any) -> None:
        raise OSError("unreachable")

    with caplog.at_level(logging.ERROR, logger="bot.respond"):
        respond.deliver(fails, {"text": "x"}, "r5")  # never raises: one log line
    assert "request r5: could not answer" in caplog.text
