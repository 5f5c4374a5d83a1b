"""A realistic demo workspace (``crm demo``, team id ``TDEMO``), built through the services.

Everything is made with the real use cases (create_lead, set_lead_status, convert_lead,
create_customer, create_opportunity, move_stage, mark_won/mark_lost, log_communication,
create_follow_up, complete_follow_up, create_segment), acting as the demo's own members, so
the demo shows exactly what a team would produce by hand, audit trail included. The order
history arrives as a team's would: a CSV file through ``crm import orders``'s code.

History needs the past: a demo whose deals were all created and closed a second ago has no
cycle lengths, win rates over time or churn. Product code never patches the clock, so after
each use case the demo moves the timestamps it just wrote into the past with plain UPDATEs:
a record's ``created_at`` and the ``changed_at`` of the StageChange rows the use case wrote
(found by id, in order). Use cases that take a time get it directly (an order's date,
``log_communication``'s ``communicated_at``, ``create_follow_up``'s
``due_at``, ``mark_won``'s ``close_date``). Audit rows keep their real time: they record when
the demo was loaded, which is the truth.

Deterministic for a given ``seed`` and ``now`` (one seeded ``random.Random``), and loaded in one
transaction: it is either all there or not at all, so "TDEMO exists" means "the demo is
loaded" and a second run changes nothing (``reset=True`` deletes it and loads it again).
"""

from __future__ import annotations

import csv
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from crm.acting import Actor
from crm.clock import utcnow
from crm.companies import Profile, get_or_create_company, set_role, upsert_member
from crm.db import database
from crm.models import (
    Company,
    Customer,
    FollowUp,
    Lead,
    Member,
    Opportunity,
    Order,
    StageChange,
    TenantModel,
)

DEMO_TEAM = "TDEMO"
DEFAULT_SEED = 20260101
CENT = Decimal("0.01")

# (Slack id, name, email, time zone, role): reps on three continents, so reminders and
# digests show time zones at work
PEOPLE = (
    ("UDEMOADM", "Amara Banda", "amara@demo.example", "Africa/Lusaka", "admin"),
    ("UDEMOMGR", "Grace Mwale", "grace@demo.example", "Africa/Lusaka", "manager"),
    ("UDEMOREP1", "Chanda Phiri", "chanda@demo.example", "Africa/Lusaka", "rep"),
    ("UDEMOREP2", "James Otieno", "james@demo.example", "Africa/Nairobi", "rep"),
    ("UDEMOREP3", "Sarah Johnson", "sarah@demo.example", "America/New_York", "rep"),
    ("UDEMOREP4", "Lukas Weber", "lukas@demo.example", "Europe/Berlin", "rep"),
    ("UDEMOREP5", "Priya Nair", "priya@demo.example", "Asia/Kolkata", "rep"),
)
FIRST = ("Mwila", "Bwalya", "Kondwani", "Thandiwe", "Nathan", "Ruth", "Peter", "Esther",
         "Daniel", "Mercy", "Joseph", "Agnes", "Brian", "Faith", "Kelvin", "Naomi", "Victor",
         "Linda", "Moses", "Precious", "Samuel", "Mary", "David", "Beatrice")  # fmt: skip
LAST = ("Zulu", "Mulenga", "Tembo", "Ngoma", "Lungu", "Sakala", "Chilufya", "Mumba",
        "Kapembwa", "Musonda", "Daka", "Nkhata", "Simwanza", "Chisanga", "Kunda", "Mbewe")  # fmt: skip
FIRMS = (
    "Copperbelt Mining Supplies|mining", "Lusaka Fresh Foods|retail", "Kafue Agro|agriculture",
    "Zambezi Logistics|logistics", "Chipata Hardware|retail", "Ndola Clinics|healthcare",
    "Livingstone Lodges|hospitality", "Mansa Solar|energy", "Kitwe Auto Parts|retail",
    "Kabwe Millers|agriculture", "Solwezi Engineering|mining", "Choma Dairy|agriculture",
    "Lusaka Print House|services", "Victoria Falls Tours|hospitality", "Mongu Fisheries|food",
    "Kasama Builders|construction", "Chingola Textiles|manufacturing", "Mazabuka Sugar Co|food",
)  # fmt: skip
SOURCES = (("website", 30), ("referral", 20), ("event", 10), ("cold_call", 12),
           ("social", 10), ("email", 8), ("partner", 6), ("other", 4))  # fmt: skip
LOSS_REASONS = ("price too high", "went with a competitor", "no budget this year",
                "timing", "no decision maker", "price too high")  # fmt: skip
STAGES = ("prospecting", "qualification", "proposal", "negotiation")


@dataclass
class DemoSummary:
    team_id: str
    created: bool  # False: the workspace was already there and nothing changed
    members: int = 0
    leads: int = 0
    customers: int = 0
    orders: int = 0
    opportunities: int = 0
    won: int = 0
    lost: int = 0
    communications: int = 0
    follow_ups: int = 0
    overdue: int = 0
    segments: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        if not self.created:
            return (
                f"The demo workspace {self.team_id} is already loaded; nothing changed "
                "(use `crm demo --reset` to load it again)."
            )
        return (
            f"Loaded demo workspace {self.team_id} in {self.seconds:.1f} s: {self.members} "
            f"members, {self.leads} leads, {self.customers} customers with {self.orders} "
            f"orders, {self.opportunities} opportunities ({self.won} won, {self.lost} lost), "
            f"{self.communications} communications, {self.follow_ups} follow-ups "
            f"({self.overdue} overdue), {self.segments} segments."
        )


def load_demo(
    team_id: str = DEMO_TEAM,
    seed: int = DEFAULT_SEED,
    *,
    reset: bool = False,
    now: datetime | None = None,
) -> DemoSummary:
    """Load the demo workspace; a no-op when it exists (unless ``reset``)."""
    started = time.monotonic()
    existing = Company.get_or_none(Company.team_id == team_id)
    if existing is not None and not reset:
        return DemoSummary(team_id, created=False)
    with database.atomic():
        if existing is not None:
            # a demo is disposable: deleting the company cascades to everything it owns
            Company.delete().where(Company.id == existing.id).execute()
        summary = _Builder(team_id, random.Random(seed), now or utcnow()).build()
    summary.seconds = time.monotonic() - started
    return summary


class _Builder:
    def __init__(self, team_id: str, rng: random.Random, now: datetime) -> None:
        self.team_id, self.rng, self.now = team_id, rng, now
        self.summary = DemoSummary(team_id, created=True)

    # --- helpers ------------------------------------------------------------------------

    def ago(self, low_days: float, high_days: float) -> datetime:
        seconds = self.rng.uniform(low_days, high_days) * 86400
        return (self.now - timedelta(seconds=seconds)).replace(microsecond=0)

    def rep(self) -> Member:
        return self.rng.choice(self.reps)

    def member(self, member_id: int | None) -> Member | None:
        if member_id is None:
            return None
        return Member.scoped(self.company).where(Member.id == member_id).get()

    def actor(self, member: Member) -> Actor:
        return Actor.for_member(member, "cli")

    def person(self) -> tuple[str, str, str]:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        firm, industry = self.rng.choice(FIRMS).split("|")
        return f"{first} {last}", firm, industry

    def backdate(self, model: type[TenantModel], record_id: int, when: datetime) -> None:
        model.scoped_update(self.company, created_at=when, updated_at=when).where(
            model.id == record_id
        ).execute()

    def date_moves(self, entity_type: str, entity_id: int, times: list[datetime]) -> None:
        """Give the entity's stage history rows (oldest first) the times of ``times``."""
        rows = list(
            StageChange.scoped(self.company.id, StageChange.id)
            .where((StageChange.entity_type == entity_type) & (StageChange.entity_id == entity_id))
            .order_by(StageChange.id)
        )
        for row, when in zip(rows, times, strict=True):
            StageChange.scoped_update(self.company, changed_at=when).where(
                StageChange.id == row.id
            ).execute()

    # --- the workspace ------------------------------------------------------------------

    def build(self) -> DemoSummary:
        self.company = get_or_create_company(self.team_id, "Demo Trading Ltd")
        self.system = Actor.system(self.company.id, "cli", tz=self.company.timezone)
        members = []
        for slack_id, name, email, tz, role in PEOPLE:
            profile = Profile(slack_id, name, email, tz, is_admin=role == "admin")
            member = upsert_member(self.company, profile)
            if member.role != role:
                member = set_role(self.system, member.id, role)
            members.append(member)
        self.summary.members = len(members)
        self.manager = members[1]
        self.reps = [m for m in members if m.role == "rep"]
        self.leads()
        self.customers()
        self.opportunities()
        self.communications()
        self.follow_ups()
        self.segments()
        from crm.customer_value import recompute_company

        recompute_company(self.company.id, self.now)
        self.summary.orders = Order.scoped(self.company.id).count()
        return self.summary

    def leads(self) -> None:
        from crm.leads import convert_lead, create_lead, set_lead_status

        sources = [s for s, weight in SOURCES for _ in range(weight)]
        self.open_leads: list[Lead] = []
        self.converted: list[Customer] = []
        for i in range(200):
            name, firm, _ = self.person()
            owner = self.rep()
            actor = self.actor(owner)
            phone = f"+26097{self.rng.randrange(1000000, 9999999)}" if i % 3 else None
            lead = create_lead(
                actor,
                name=name,
                email=f"{name.lower().replace(' ', '.')}.{i}@{firm.split()[0].lower()}.example",
                phone=phone,
                company_name=firm,
                source=self.rng.choice(sources),
                estimated_value=Decimal(self.rng.randrange(5, 400) * 500),
                probability=self.rng.choice((None, 20, 40, 60, 80)),
                priority=self.rng.choice(("low", "medium", "medium", "high")),
                assigned_to_id=owner.id,
                tags=self.rng.sample(["vip", "wholesale", "government", "sme", "export"], 1),
                allow_duplicate=True,
                idempotency_key=f"demo:lead:{i}",
            )
            born = self.ago(3, 180)
            self.backdate(Lead, lead.id, born)
            path = self.rng.choices(
                [[], ["contacted"], ["contacted", "qualified"], ["contacted", "qualified", "won"],
                 ["contacted", "lost"], ["qualified", "lost"]],
                weights=[30, 25, 20, 12, 8, 5],
            )[0]  # fmt: skip
            for status in path:
                if status == "won":
                    self.converted.append(convert_lead(actor, lead.id))
                else:
                    reason = self.rng.choice(LOSS_REASONS) if status == "lost" else None
                    set_lead_status(actor, lead.id, status, reason=reason)
            steps = sorted(self.ago(0.5, (self.now - born).days or 1) for _ in path)
            self.date_moves("lead", lead.id, [born, *steps])
            if not path or path[-1] in ("contacted", "qualified"):
                self.open_leads.append(lead)
            self.summary.leads += 1
        for customer in self.converted:
            when = self.ago(1, 120)
            self.backdate(Customer, customer.id, when)

    def customers(self) -> None:
        from crm.customers import create_customer

        self.customer_list = list(self.converted)
        for i in range(150 - len(self.converted)):
            name, firm, industry = self.person()
            owner = self.rep()
            customer = create_customer(
                self.actor(owner),
                name=name,
                email=f"{name.lower().replace(' ', '.')}.c{i}@{firm.split()[0].lower()}.example",
                company_name=firm,
                industry=industry,
                tags=self.rng.sample(["vip", "wholesale", "retail", "export", "sme"], 2),
                assigned_to_id=owner.id,
                allow_duplicate=True,
                idempotency_key=f"demo:customer:{i}",
            )
            self.backdate(Customer, customer.id, self.ago(200, 720))
            self.customer_list.append(customer)
        self.summary.customers = len(self.customer_list)
        self.orders()

    def orders(self) -> None:
        """~1,500 purchases over two years: a few big accounts, a long tail, some customers
        gone quiet (churn) and some without any. They come in the way a team brings its shop
        history: a CSV file through :func:`crm.importexport.import_csv`."""
        from crm.importexport import import_csv

        buyers = [c for c in self.customer_list if self.rng.random() > 0.08]
        weights = [self.rng.paretovariate(1.5) for _ in buyers]
        quiet = {c.id: self.rng.choice((2, 20, 60, 120, 200, 300)) for c in buyers}
        chosen = self.rng.choices(buyers, weights=weights, k=1500)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "orders.csv"
            with path.open("w", newline="", encoding="utf-8") as fh:
                out = csv.writer(fh)
                out.writerow(("customer", "amount", "cost", "date", "ref"))
                for n, customer in enumerate(chosen, 1):
                    amount = Decimal(self.rng.randrange(200, 60000))
                    cost = (amount * Decimal(self.rng.uniform(0.5, 0.8))).quantize(CENT)
                    when = self.ago(quiet[customer.id], quiet[customer.id] + 420)
                    out.writerow((f"C{customer.id}", amount, cost, f"{when:%Y-%m-%dT%H:%M:%SZ}",
                                  f"DEMO-{n:05d}"))  # fmt: skip
            report = import_csv(self.system, "orders", path)
        if report.rejected:  # a bug in the demo, not bad input: say which row and why
            first = report.rejected[0]
            raise RuntimeError(f"demo orders: line {first.line}: {first.field}: {first.reason}")
        self.summary.orders = report.created  # won deals add theirs later

    def opportunities(self) -> None:
        from crm.opportunities import create_opportunity, mark_lost, mark_won, move_stage

        for i in range(80):
            on_lead = i % 5 == 0 and self.open_leads
            subject = self.rng.choice(self.open_leads if on_lead else self.customer_list)
            owner = self.member(subject.assigned_to_id)
            owner = owner or self.rep()
            actor = self.actor(owner)
            born = self.ago(10, 180)
            opp = create_opportunity(
                actor,
                name=f"{subject.company_name or subject.name}: {self.rng.choice(DEALS)}",
                customer_id=None if on_lead else subject.id,
                lead_id=subject.id if on_lead else None,
                amount=Decimal(self.rng.randrange(10, 500) * 1000),
                expected_close_date=(self.now + timedelta(days=self.rng.randrange(-20, 90))).date(),
                assigned_to_id=owner.id,
                idempotency_key=f"demo:opportunity:{i}",
            )
            self.backdate(Opportunity, opp.id, born)
            outcome = "open" if on_lead else self.rng.choice(("open", "open", "won", "lost"))
            reach = self.rng.randrange(1, 4) if outcome != "open" else self.rng.randrange(0, 4)
            times = [born]
            span = (self.now - born).total_seconds() / 86400
            for stage in STAGES[1 : reach + 1]:
                move_stage(actor, opp.id, stage)
                times.append(born + timedelta(days=span * len(times) / (reach + 2)))
            if outcome == "won":
                close = self.now - timedelta(days=self.rng.uniform(0, span / (reach + 2)))
                local = close.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(actor.tz))
                mark_won(actor, opp.id, close_date=local.date())
                times.append(close.replace(microsecond=0))
                self.summary.won += 1
            elif outcome == "lost":
                mark_lost(actor, opp.id, reason=self.rng.choice(LOSS_REASONS))
                close = self.now - timedelta(days=self.rng.uniform(0, span / (reach + 2)))
                times.append(close.replace(microsecond=0))
                Opportunity.scoped_update(self.company, actual_close_date=close.date()).where(
                    Opportunity.id == opp.id
                ).execute()
                self.summary.lost += 1
            self.date_moves("opportunity", opp.id, times)
            self.summary.opportunities += 1

    def communications(self) -> None:
        from crm.communications import log_communication

        subjects = [("customer", c) for c in self.customer_list[:100]]
        subjects += [("lead", lead) for lead in self.open_leads[:80]]
        for i in range(300):
            kind, record = self.rng.choice(subjects)
            owner = self.member(record.assigned_to_id)
            what = self.rng.choice(("call", "call", "email", "meeting", "note", "sms"))
            log_communication(
                self.actor(owner or self.rep()),
                subject_type=kind,
                subject_id=record.id,
                type=what,
                direction=self.rng.choice(("outbound", "outbound", "inbound")),
                subject=f"{what.title()} about {self.rng.choice(TOPICS)}",
                content=self.rng.choice(NOTES),
                communicated_at=self.ago(0.1, 150),
                duration_minutes=self.rng.choice((5, 15, 30, 45)) if what in ("call", "meeting")
                else None,
            )  # fmt: skip
            self.summary.communications = i + 1

    def follow_ups(self) -> None:
        from crm.followups import complete_follow_up, create_follow_up

        subjects = [("lead", lead) for lead in self.open_leads] + [
            ("customer", c) for c in self.customer_list[:60]
        ]
        for i in range(60):
            kind, record = self.rng.choice(subjects)
            owner = self.member(record.assigned_to_id)
            actor = self.actor(owner or self.rep())
            due = self.now + timedelta(hours=self.rng.uniform(-24 * 10, 24 * 14))
            fu = create_follow_up(
                actor,
                subject_type=kind,
                subject_id=record.id,
                title=f"{self.rng.choice(ACTIONS)} {record.name}",
                due_at=due.replace(microsecond=0),
                priority=self.rng.choice(("low", "medium", "high")),
            )
            self.backdate(FollowUp, fu.id, min(due, self.now) - timedelta(days=3))
            if due < self.now and i % 3 == 0:
                complete_follow_up(actor, fu.id, notes="Done; next step agreed.")
        self.summary.follow_ups = 60
        self.summary.overdue = (
            FollowUp.scoped(self.company.id).where(FollowUp.status == "overdue").count()
        )

    def segments(self) -> None:
        from crm.segments import create_segment

        for name, criteria, description in SEGMENTS:
            create_segment(self.system, name=name, criteria=criteria, description=description)
            self.summary.segments += 1


DEALS = ("annual supply contract", "fleet upgrade", "pilot order", "service agreement",
         "expansion", "renewal", "new branch fit-out")  # fmt: skip
TOPICS = ("pricing", "delivery dates", "the quotation", "payment terms", "a new order",
          "the contract", "samples")  # fmt: skip
NOTES = ("Interested, wants a revised quote.", "Asked for references.",
         "Budget approved for next quarter.", "Left a voicemail.",
         "Discussed volumes and delivery schedule.", "Sent the brochure and price list.")  # fmt: skip
ACTIONS = ("Call", "Send quote to", "Check in with", "Book a demo for", "Chase payment from")
SEGMENTS = (
    ("VIP customers", {"tier": ["gold", "platinum"]}, "Gold and platinum lifetime value"),
    ("At risk", {"churn_risk": "high"}, "No purchase for 180 days or more"),
    ("Big spenders gone quiet", {"lifetime_value": {"gte": 50000},
                                 "days_since_last_purchase": {"gt": 90}}, None),
    ("Retail", {"industry": "retail"}, "Retail shops"),
    ("Wholesale tag", {"tags": ["wholesale"]}, None),
)  # fmt: skip
