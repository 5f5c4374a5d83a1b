"""Campaign fixtures shared by the campaign tests: a workspace with customers and a segment,
and the settings that make every channel available."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from crm import customers
from crm.config import Settings
from crm.models import Customer, CustomerSegment
from crm.segments import create_segment
from tests.conftest import Workspace, settings_in_use

CHANNEL_SETTINGS = Settings(
    smtp_url="smtp://127.0.0.1:2525",
    mail_from="Acme <news@acme.test>",
    sms_api_url="http://127.0.0.1:9/sms",
    public_url="https://crm.acme.test",
)


@dataclass
class Audience:
    ws: Workspace
    segment: CustomerSegment
    people: list[Customer] = field(default_factory=list)


@contextlib.contextmanager
def channel_settings(settings: Settings = CHANNEL_SETTINGS) -> Iterator[Settings]:
    """Every channel available to the campaign service (its checks read these settings)."""
    with settings_in_use(settings):
        yield settings


def make_audience(ws: Workspace, n: int = 5, industry: str = "retail") -> Audience:
    """``n`` retail customers with email and phone, the segment ``industry=retail``, plus one
    retail customer without an email and one of another industry."""
    actor = ws.actor(ws.admin)
    people = [
        customers.create_customer(
            actor,
            name=f"Customer {i:03d}",
            email=f"c{i}@{ws.company.team_id.lower()}.test",
            phone=f"+26097100{i:04d}",
            industry=industry,
            company_name=f"Firm {i}",
            allow_duplicate=True,
        )
        for i in range(n)
    ]
    customers.create_customer(
        actor, name="No Mail", phone="+260971999999", industry=industry, allow_duplicate=True
    )
    customers.create_customer(
        actor, name="Other Trade", email="o@x.test", industry="mining", allow_duplicate=True
    )
    segment = create_segment(actor, name=f"{industry} customers", criteria={"industry": industry})
    return Audience(ws, segment, people)
