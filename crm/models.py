"""Every table of the CRM (SPEC 3), on the database proxy from :mod:`crm.db`.

Conventions that the services rely on:
- every tenant table carries ``company`` (rule 8: queries are always scoped by it);
- money is :class:`MoneyField`, integer minor units in the database, ``Decimal`` in Python;
- timestamps are naive UTC (see :mod:`crm.clock`);
- polymorphic subjects keep the original system's ``*_type`` / ``*_id`` column pairs.
Schema changes go through ``crm/migrations`` (``crm makemigrations``, ``crm migrate``).
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    ModelAlias,
    ModelDelete,
    ModelSelect,
    ModelUpdate,
    TextField,
)

from crm import encryption
from crm.clock import utcnow
from crm.db import database
from crm.parsing.names import COMPANY_KEY_LENGTH, company_key
from crm.sql_cache import insert_row

CENT = Decimal("0.01")


class MoneyField(BigIntegerField):
    """Exact money: stored as integer minor units (cents), exposed as ``Decimal``.

    Integers sum exactly in SQL on SQLite and PostgreSQL alike (SQLite's DECIMAL affinity
    would silently store floats).
    """

    def db_value(self, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = Decimal(value)
        if not isinstance(value, Decimal):
            value = Decimal(str(value))
        return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    def python_value(self, value: Any) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / 100).quantize(CENT)


class JSONField(TextField):
    """JSON kept as text so that both databases store it the same way."""

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, sort_keys=True, default=str)

    def python_value(self, value: Any) -> Any:
        if value is None or value == "":
            return None
        return json.loads(value)


class EncryptedTextField(TextField):
    """A secret kept encrypted with ``CRM_SECRET_KEY`` (:mod:`crm.encryption`); plain text in
    Python. Queries can only test it for NULL: equal plaintexts encrypt differently."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else encryption.encrypt(str(value))

    def python_value(self, value: Any) -> str | None:
        return None if value is None else encryption.decrypt(value)


class EncryptedJSONField(TextField):
    """JSON kept encrypted as a whole (:class:`EncryptedTextField`)."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else encryption.encrypt_json(value)

    def python_value(self, value: Any) -> Any:
        if value is None or value == "":
            return None
        return encryption.decrypt_json(value)


class BaseModel(Model):
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        database = database
        legacy_table_names = False

    def save(self, force_insert: bool = False, only: Any = None) -> int:
        if self._pk is not None:
            self.updated_at = utcnow()
        elif only is None and self._meta.auto_increment:
            # a new row: the INSERT is rendered once per shape (crm.sql_cache), not per row
            new_key = insert_row(self)
            if new_key is not NotImplemented:
                self._pk = new_key
                self._dirty.clear()
                return 1
        return super().save(force_insert=force_insert, only=only)


# --- companies and people ---------------------------------------------------------------


class Company(BaseModel):
    """One Slack workspace. ``team_id`` is the key the outside world knows it by."""

    team_id = CharField(max_length=32, unique=True)
    name = CharField(max_length=200, default="")
    currency = CharField(max_length=3, default="ZMW")
    phone_region = CharField(max_length=2, default="ZM")
    timezone = CharField(max_length=64, default="Africa/Lusaka")
    tier_thresholds = JSONField(null=True)  # [silver, gold, platinum] lower bounds; None = defaults
    digest_channel = CharField(max_length=32, null=True)
    settings = JSONField(null=True)

    class Meta:
        table_name = "cms_companies"

    @classmethod
    def scoped(cls, company: CompanyRef, *fields: Any) -> ModelSelect:
        """The company's own row: code that handles any record type (audit, Undo) scopes
        ``Company`` as it scopes a tenant table."""
        return cls.select(*fields).where(cls.id == company_id_of(company))


class OfCompany(Protocol):
    """Anything that belongs to one company: an :class:`~crm.acting.Actor`, a member, a record."""

    @property
    def company_id(self) -> int: ...


CompanyRef = int | OfCompany | Company


def company_id_of(company: CompanyRef) -> int:
    """The company id behind an actor, a record, a :class:`Company` or a bare id.

    ``None`` (or anything else) is a programming error, raised at once: peewee would turn
    ``company == None`` into ``IS NULL`` and quietly answer nothing.
    """
    if isinstance(company, Company):
        company = company.id
    elif not isinstance(company, int):
        company = getattr(company, "company_id", None)
    if isinstance(company, bool) or not isinstance(company, int):
        raise TypeError(
            f"a company scope needs a company id, an actor or a record, not {company!r}"
        )
    return company


def _reason(why: str) -> str:
    if not isinstance(why, str) or not why.strip():
        raise ValueError("a query across companies must say why (why='...')")
    return why


class TenantModel(BaseModel):
    """A table of one company's rows, queried through :meth:`scoped` (rule 8).

    Why class methods beside peewee's ``select``/``update``/``delete`` rather than overriding
    them (peewee's documented way to add a default filter, as its soft-delete recipe does):
    peewee itself calls ``select`` for back-references, ``update`` from ``save`` and ``delete``
    from ``delete_instance``, all by primary key of a row already in hand; an override would
    have to guess the company there. So the company is an argument of the entry point, the
    first thing a reader sees, and ``tests/test_scoping.py`` walks ``crm/``, ``bot/`` and
    ``workers/`` for any ``select``/``get``/``update``/``delete`` on a tenant model that does
    not go through :meth:`scoped` (or the visibly marked :meth:`unscoped`, which must say why
    a query crosses companies). A forgotten filter then fails the suite instead of a review.

    ``scoped`` returns an ordinary ``ModelSelect``: further ``where`` clauses are ANDed to the
    company condition, so nothing written after it can widen the scope; a join follows
    foreign keys, which rule 8 keeps inside the company.
    """

    company = ForeignKeyField(Company, on_delete="CASCADE")

    @classmethod
    def scoped(cls, company: CompanyRef, *fields: Any) -> ModelSelect:
        """``SELECT fields FROM cls WHERE company = ...``: the company's rows only."""
        return cls.select(*fields).where(cls.company == company_id_of(company))

    @classmethod
    def scoped_update(
        cls, company: CompanyRef, __data: dict[Any, Any] | None = None, **update: Any
    ) -> ModelUpdate:
        """``UPDATE cls SET ... WHERE company = ...``."""
        return cls.update(__data, **update).where(cls.company == company_id_of(company))

    @classmethod
    def scoped_delete(cls, company: CompanyRef) -> ModelDelete:
        """``DELETE FROM cls WHERE company = ...``."""
        return cls.delete().where(cls.company == company_id_of(company))

    @classmethod
    def unscoped(cls, *fields: Any, why: str) -> ModelSelect:
        """Rows of every company, for the few readers that must cross them (the scheduler's
        scans, the token lookup that finds the company, operator commands); ``why`` says
        which, and is what the scoping test looks for."""
        _reason(why)
        return cls.select(*fields)

    @classmethod
    def unscoped_update(
        cls, __data: dict[Any, Any] | None = None, *, why: str, **update: Any
    ) -> ModelUpdate:
        """An UPDATE that may touch rows of every company; ``why`` as for :meth:`unscoped`."""
        _reason(why)
        return cls.update(__data, **update)

    @classmethod
    def unscoped_delete(cls, *, why: str) -> ModelDelete:
        """A DELETE that may touch rows of every company; ``why`` as for :meth:`unscoped`."""
        _reason(why)
        return cls.delete()

    @classmethod
    def alias(cls, alias: str | None = None) -> TenantAlias:
        """An alias that is scoped the same way (a self-join or a second copy of the table)."""
        return TenantAlias(cls, alias)


class TenantAlias(ModelAlias):
    """``Model.alias()`` of a tenant model, with the same two entry points."""

    def scoped(self, company: CompanyRef, *fields: Any) -> ModelSelect:
        return self.select(*fields).where(self.company == company_id_of(company))

    def unscoped(self, *fields: Any, why: str) -> ModelSelect:
        _reason(why)
        return self.select(*fields)


ROLES = ("rep", "manager", "admin")


# The JSON API's keyset pages (crm.collections: ``company = ? AND id > ? ORDER BY id LIMIT n``)
# read one range of this index whatever the table's size; without it PostgreSQL read every row
# of the company and sorted them (a 14,000-lead workspace's first page of 10: 5 ms of a bitmap
# scan and a sort, growing with the workspace; tests/test_collections.py).
KEYSET_PAGE = (("company", "id"), False)


class Member(TenantModel):
    slack_user_id = CharField(max_length=32)
    name = CharField(max_length=200, default="")
    email = CharField(max_length=254, null=True)
    tz = CharField(max_length=64, default="UTC")
    role = CharField(max_length=16, default="rep")
    is_active = BooleanField(default=True)
    refreshed_at = DateTimeField(null=True)

    class Meta:
        table_name = "cms_members"
        indexes = ((("company", "slack_user_id"), True),)


# --- leads, customers, orders -----------------------------------------------------------

LEAD_SOURCES = ("website", "referral", "event", "cold_call", "social", "email", "partner", "other")
LEAD_STATUSES = ("new", "contacted", "qualified", "won", "lost")
PRIORITIES = ("low", "medium", "high")


class CompanyKeyed:
    """A person's record that keeps :func:`~crm.parsing.names.company_key` of its company name
    in ``company_key``, rewritten on every save: the duplicate check asks "the same company"
    as an indexed equality. Bulk inserts (CSV import) call :meth:`keyed` on their rows."""

    company_name: Any
    company_key: Any

    def save(self, *args: Any, **kwargs: Any) -> int:
        self.company_key = company_key(self.company_name)
        return super().save(*args, **kwargs)  # type: ignore[misc]

    @staticmethod
    def keyed(row: dict[str, Any]) -> dict[str, Any]:
        """``row`` (a dict for ``insert_many``) with its ``company_key``."""
        return {**row, "company_key": company_key(row.get("company_name"))}


class Lead(CompanyKeyed, TenantModel):
    name = CharField(max_length=200)
    email = CharField(max_length=254, null=True)
    phone = CharField(max_length=32, null=True)
    company_name = CharField(max_length=200, null=True)
    company_key = CharField(max_length=COMPANY_KEY_LENGTH, null=True)  # see CompanyKeyed
    source = CharField(max_length=16, default="other")
    status = CharField(max_length=16, default="new")
    priority = CharField(max_length=8, default="medium")
    estimated_value = MoneyField(null=True)
    probability = IntegerField(null=True)
    assigned_to = ForeignKeyField(Member, null=True, on_delete="SET NULL")
    tags = JSONField(default=list)
    last_contacted_at = DateTimeField(null=True)
    converted_at = DateTimeField(null=True)
    lost_reason = TextField(null=True)

    class Meta:
        table_name = "cms_leads"
        indexes = (
            KEYSET_PAGE,
            (("company", "status"), False),
            (("company", "email"), False),
            (("company", "phone"), False),
            (("company", "company_key"), False),
        )


class Customer(CompanyKeyed, TenantModel):
    name = CharField(max_length=200)
    email = CharField(max_length=254, null=True)
    phone = CharField(max_length=32, null=True)
    company_name = CharField(max_length=200, null=True)
    company_key = CharField(max_length=COMPANY_KEY_LENGTH, null=True)  # see CompanyKeyed
    industry = CharField(max_length=100, null=True)
    tags = JSONField(default=list)
    # unique: a lead converts at most once, enforced by the database too (rule 1)
    lead = ForeignKeyField(Lead, null=True, unique=True, on_delete="SET NULL")
    assigned_to = ForeignKeyField(Member, null=True, on_delete="SET NULL")
    last_contacted_at = DateTimeField(null=True)
    unsubscribed = JSONField(default=list)  # channels: "email", "sms", ...

    class Meta:
        table_name = "cms_customers"
        indexes = (
            KEYSET_PAGE,
            (("company", "email"), False),
            (("company", "phone"), False),
            (("company", "company_key"), False),
        )


OPPORTUNITY_STAGES = (
    "prospecting",
    "qualification",
    "proposal",
    "negotiation",
    "closed_won",
    "closed_lost",
)
OPEN_STAGES = OPPORTUNITY_STAGES[:4]
CLOSED_STAGES = OPPORTUNITY_STAGES[4:]  # ("closed_won", "closed_lost"): reached by won/lost only
STAGE_PROBABILITY = {
    "prospecting": 10,
    "qualification": 25,
    "proposal": 50,
    "negotiation": 75,
    "closed_won": 100,
    "closed_lost": 0,
}


class Opportunity(TenantModel):
    name = CharField(max_length=200)
    customer = ForeignKeyField(Customer, null=True, on_delete="SET NULL")
    lead = ForeignKeyField(Lead, null=True, on_delete="SET NULL")
    amount = MoneyField(default=0)
    probability = IntegerField(default=10)  # effective probability, used by weighted sums
    probability_explicit = BooleanField(default=False)  # True: stage moves keep it
    stage = CharField(max_length=16, default="prospecting")
    expected_close_date = DateField(null=True)
    actual_close_date = DateField(null=True)
    assigned_to = ForeignKeyField(Member, null=True, on_delete="SET NULL")
    loss_reason = TextField(null=True)
    last_contacted_at = DateTimeField(null=True)

    class Meta:
        table_name = "cms_opportunities"
        indexes = (
            KEYSET_PAGE,
            (("company", "stage"), False),
            (("company", "assigned_to", "stage"), False),
        )


class Order(TenantModel):
    customer = ForeignKeyField(Customer, on_delete="CASCADE")
    amount = MoneyField()
    cost = MoneyField(null=True)
    ordered_at = DateTimeField(default=utcnow)
    external_ref = CharField(max_length=100, null=True)
    opportunity = ForeignKeyField(Opportunity, null=True, on_delete="SET NULL")

    class Meta:
        table_name = "cms_orders"
        indexes = (
            (("company", "external_ref"), True),  # a repeated import adds nothing
            (("customer", "ordered_at"), False),
        )


class StageChange(TenantModel):
    """Every status/stage move of a lead or opportunity: analytics read history, not guesses."""

    entity_type = CharField(max_length=16)  # "lead" | "opportunity"
    entity_id = IntegerField()
    from_stage = CharField(max_length=16, null=True)  # None: the record was created
    to_stage = CharField(max_length=16)
    changed_at = DateTimeField(default=utcnow)
    actor = ForeignKeyField(Member, null=True, on_delete="SET NULL")

    class Meta:
        table_name = "cms_stage_changes"
        indexes = (
            (("company", "entity_type", "entity_id"), False),
            (("company", "entity_type", "to_stage", "changed_at"), False),
        )


class CloseDateChange(TenantModel):
    """Every move of an opportunity's expected close date (its old and new date, when, who):
    the weekly digest lists the deals whose date slipped this week, and forecasts can tell a
    deal that keeps moving from one that holds its date."""

    opportunity = ForeignKeyField(Opportunity, on_delete="CASCADE")
    from_date = DateField(null=True)
    to_date = DateField(null=True)
    changed_at = DateTimeField(default=utcnow)
    actor = ForeignKeyField(Member, null=True, on_delete="SET NULL")

    class Meta:
        table_name = "cms_close_date_changes"
        indexes = ((("company", "changed_at"), False),)


class SearchTerm(TenantModel):
    """The word index of ``/crm find`` and the type-ahead (:mod:`crm.search`): one row per
    normalised word of a lead's, customer's or opportunity's name, email, phone or company.

    A prefix of a word is a range on ``(company, kind, term)`` (``term >= 'jan' AND term <
    'jao'``), which both databases answer from the index, unlike ``LIKE '%jan%'``. Rows are
    derived: :mod:`crm.audit` rewrites a record's rows whenever a change touches it.
    """

    # derived rows, ten or so written with every record: no id or timestamps of their own,
    # which nothing reads (each was a value to send, and the id a sequence and an index too)
    created_at = None
    updated_at = None
    kind = CharField(max_length=1)  # l | c | o
    record_id = IntegerField()
    term = CharField(max_length=40)
    weight = IntegerField(default=1)  # how telling a match on it is (name over company)

    class Meta:
        table_name = "cms_search_terms"
        primary_key = False
        indexes = (
            # covering: a prefix match reads the index alone (weight and id are in it)
            (("company", "kind", "term", "weight", "record_id"), False),
            (("company", "kind", "record_id"), False),
        )


# --- communication and follow-ups ---------------------------------------------------------

SUBJECT_TYPES = ("lead", "customer", "opportunity")
COMMUNICATION_TYPES = ("call", "email", "meeting", "note", "sms", "message")
DIRECTIONS = ("inbound", "outbound")


class Communication(TenantModel):
    communicable_type = CharField(max_length=16)
    communicable_id = IntegerField()
    type = CharField(max_length=16)
    direction = CharField(max_length=8, default="outbound")
    subject = CharField(max_length=255, null=True)
    content = TextField(default="")
    communicated_at = DateTimeField(default=utcnow)
    duration_minutes = IntegerField(null=True)
    attachments = JSONField(default=list)
    author = ForeignKeyField(Member, null=True, on_delete="SET NULL")
    permalink = CharField(max_length=500, null=True)

    class Meta:
        table_name = "cms_communications"
        indexes = (
            KEYSET_PAGE,
            (("company", "communicable_type", "communicable_id", "communicated_at"), False),
        )


FOLLOW_UP_STATUSES = ("pending", "overdue", "completed", "cancelled")


class FollowUp(TenantModel):
    followable_type = CharField(max_length=16)
    followable_id = IntegerField()
    title = CharField(max_length=255)
    notes = TextField(null=True)
    due_at = DateTimeField()
    priority = CharField(max_length=8, default="medium")
    assigned_to = ForeignKeyField(Member, null=True, on_delete="SET NULL")
    status = CharField(max_length=16, default="pending")
    completed_at = DateTimeField(null=True)
    completion_notes = TextField(null=True)
    permalink = CharField(max_length=500, null=True)
    # reminder bookkeeping (workers): claimed before the Slack call, given back on failure
    last_reminded_at = DateTimeField(null=True)
    reminder_count = IntegerField(default=0)
    snoozed_until = DateTimeField(null=True)
    reminder_claimed_at = DateTimeField(null=True)
    reminder_channel = CharField(max_length=32, null=True)
    reminder_ts = CharField(max_length=32, null=True)

    class Meta:
        table_name = "cms_follow_ups"
        indexes = (
            KEYSET_PAGE,
            (("status", "due_at"), False),  # the overdue scan across companies
            (("company", "status", "due_at"), False),
            (("company", "followable_type", "followable_id"), False),
            (("assigned_to", "status"), False),
        )


# --- segments, campaigns, metrics ---------------------------------------------------------


class CustomerSegment(TenantModel):
    name = CharField(max_length=200)
    description = TextField(null=True)
    criteria = JSONField(default=dict)
    customer_count = IntegerField(default=0)
    counted_at = DateTimeField(null=True)
    is_active = BooleanField(default=True)

    class Meta:
        table_name = "cms_customer_segments"
        indexes = ((("company", "name"), True),)


CAMPAIGN_CHANNELS = ("email", "sms", "social", "event")
CAMPAIGN_STATUSES = ("draft", "scheduled", "sending", "paused", "sent", "cancelled")


class Campaign(TenantModel):
    name = CharField(max_length=200)
    channel = CharField(max_length=16)
    segment = ForeignKeyField(CustomerSegment, null=True, on_delete="SET NULL")
    customer_ids = JSONField(null=True)  # a custom list instead of a segment
    subject = CharField(max_length=255, null=True)
    body = TextField(default="")
    scheduled_at = DateTimeField(null=True)
    status = CharField(max_length=16, default="draft")
    budget = MoneyField(null=True)
    cost = MoneyField(null=True)
    goal_type = CharField(max_length=16, null=True)  # "conversions" | "revenue"
    goal_value = MoneyField(null=True)
    attribution_days = IntegerField(default=30)
    target_channel = CharField(max_length=500, null=True)  # social: Slack channel or webhook URL
    event_at = DateTimeField(null=True)
    event_location = CharField(max_length=255, null=True)
    created_by = ForeignKeyField(Member, null=True, on_delete="SET NULL")
    started_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)
    audience_count = IntegerField(default=0)
    sent_count = IntegerField(default=0)
    skipped_count = IntegerField(default=0)
    failed_count = IntegerField(default=0)
    opened_count = IntegerField(default=0)
    clicked_count = IntegerField(default=0)
    converted_count = IntegerField(default=0)
    attributed_revenue = MoneyField(default=0)
    # dispatch bookkeeping (crm.campaigns): the tracked links of the body, in order (the only
    # targets /t/c/<token>/<n> redirects to), why it paused itself, how often the gateway's
    # connection failed in a row, recipients resent after a crash, the dispatcher's heartbeat
    links = JSONField(null=True)
    paused_reason = TextField(null=True)
    connect_failures = IntegerField(default=0)
    resent_count = IntegerField(default=0)
    unsubscribed_count = IntegerField(default=0)
    dispatch_seen_at = DateTimeField(null=True)
    reported_at = DateTimeField(null=True)  # the finish report, claimed once
    post_ref = CharField(max_length=255, null=True)  # social: the post (channel/ts) once made
    # the Slack card updated in place while sending (bot side)
    card_channel = CharField(max_length=32, null=True)
    card_ts = CharField(max_length=32, null=True)
    card_updated_at = DateTimeField(null=True)

    class Meta:
        table_name = "cms_campaigns"
        indexes = (KEYSET_PAGE, (("status", "scheduled_at"), False))


class CampaignRecipient(TenantModel):
    """One row per customer and campaign: the reason every message goes out once."""

    campaign = ForeignKeyField(Campaign, on_delete="CASCADE")
    customer = ForeignKeyField(Customer, on_delete="CASCADE")
    status = CharField(max_length=16, default="pending")  # pending|sending|sent|skipped|failed
    token = CharField(max_length=64, unique=True)
    claimed_at = DateTimeField(null=True)
    attempts = IntegerField(default=0)
    sent_at = DateTimeField(null=True)
    opened_at = DateTimeField(null=True)
    clicked_at = DateTimeField(null=True)
    converted_at = DateTimeField(null=True)
    unsubscribed_at = DateTimeField(null=True)
    error = TextField(null=True)  # why it failed or was skipped
    lease = CharField(max_length=32, null=True)  # the claim of the batch sending it
    resent = BooleanField(default=False)  # claimed again after a sender died mid-batch
    rsvp = CharField(max_length=8, null=True)  # event invitations: yes|no|maybe

    class Meta:
        table_name = "cms_campaign_recipients"
        indexes = (
            (("campaign", "customer"), True),
            (("campaign", "status"), False),
            (("lease",), False),
        )


class CampaignEvent(TenantModel):
    recipient = ForeignKeyField(CampaignRecipient, on_delete="CASCADE")
    kind = CharField(max_length=16)  # open|click|unsubscribe|rsvp|conversion
    url = TextField(null=True)
    occurred_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "cms_campaign_events"
        indexes = ((("recipient", "kind"), False),)


OPT_OUT_SOURCES = ("link", "one_click", "slack", "api", "import", "cli")


class CampaignOptOut(TenantModel):
    """A customer's opt-out from one channel, with when and how (SPEC 6); the customer's
    ``unsubscribed`` list is its summary, which audiences and exports read."""

    customer = ForeignKeyField(Customer, on_delete="CASCADE")
    channel = CharField(max_length=16)
    source = CharField(max_length=16)
    campaign = ForeignKeyField(Campaign, null=True, on_delete="SET NULL")
    occurred_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "cms_campaign_optouts"
        indexes = ((("customer", "channel"), True),)


class CampaignConversion(TenantModel):
    """An order credited to one campaign (SPEC 6 attribution): unique per order, so revenue
    is never counted twice."""

    campaign = ForeignKeyField(Campaign, on_delete="CASCADE")
    recipient = ForeignKeyField(CampaignRecipient, on_delete="CASCADE")
    order = ForeignKeyField(Order, unique=True, on_delete="CASCADE")
    amount = MoneyField()
    occurred_at = DateTimeField()

    class Meta:
        table_name = "cms_campaign_conversions"
        indexes = ((("campaign",), False),)


TIERS = ("bronze", "silver", "gold", "platinum")
NO_METRICS_TIER = TIERS[0]
"""The tier of a customer without a metrics row (no order yet): bronze, like 0 spent."""
CHURN_RISKS = ("low", "medium", "high")


class CustomerMetric(TenantModel):
    customer = ForeignKeyField(Customer, unique=True, on_delete="CASCADE")
    order_count = IntegerField(default=0)
    lifetime_value = MoneyField(default=0)
    average_order_value = MoneyField(default=0)
    purchase_frequency = FloatField(default=0)  # orders per month since the first purchase
    first_purchase_at = DateTimeField(null=True)
    last_purchase_at = DateTimeField(null=True)
    days_since_last_purchase = IntegerField(null=True)
    total_revenue = MoneyField(default=0)
    total_profit = MoneyField(default=0)
    profit_margin = FloatField(null=True)  # percent; None without revenue
    tier = CharField(max_length=16, default=NO_METRICS_TIER)
    churn_risk = CharField(max_length=8, null=True)  # None: no purchases yet
    computed_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "cms_customer_metrics"
        indexes = ((("company", "tier"), False),)


# --- insight (SPEC 13) ---------------------------------------------------------------------

INSIGHT_KINDS = ("clv", "lead_score")


class InsightFit(TenantModel):
    """One fitted model of a company: the latest row of a kind is the one in use. Kept with
    its data size and date so a card can say how fresh the figures are; ``params`` is None
    when there was not enough history (``needed`` says how much)."""

    kind = CharField(max_length=16)  # clv | lead_score
    fitted_at = DateTimeField(default=utcnow)
    data_until = DateField(null=True)  # calibration end (clv)
    sample_size = IntegerField(default=0)  # customers (clv) or closed leads (lead_score)
    informative = IntegerField(default=0)  # customers with a repeat purchase / leads won
    needed = IntegerField(default=0)
    params = JSONField(null=True)
    log_likelihood = FloatField(null=True)

    class Meta:
        table_name = "cms_insight_fits"
        indexes = ((("company", "kind", "fitted_at"), False),)


class CustomerPrediction(TenantModel):
    """Per customer, the figures of the company's latest lifetime-value fit, refreshed nightly
    (P(alive) falls as time passes even without a refit). ``below_half_at``: when P(alive)
    last crossed below 50%, for the weekly digest."""

    customer = ForeignKeyField(Customer, unique=True, on_delete="CASCADE")
    fit = ForeignKeyField(InsightFit, on_delete="CASCADE")
    repeat_purchases = IntegerField(default=0)
    p_alive = FloatField()
    expected_purchases = FloatField()  # in the next 90 days
    predicted_clv = MoneyField()  # next 12 months, discounted monthly
    below_half_at = DateTimeField(null=True)
    computed_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "cms_customer_predictions"
        indexes = ((("company", "p_alive"), False),)


class LeadScore(TenantModel):
    """A lead's win probability (0-100) under the company's latest lead-score model, with the
    fields that pushed it most; stored so lead lists can sort by it."""

    lead = ForeignKeyField(Lead, unique=True, on_delete="CASCADE")
    score = IntegerField()
    reasons = JSONField(default=list)
    computed_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "cms_lead_scores"
        indexes = ((("company", "score"), False),)


# --- audit, tokens, idempotency, Slack ------------------------------------------------------


class ApiToken(TenantModel):
    name = CharField(max_length=100)
    token_hash = CharField(max_length=64, unique=True)  # sha256; the token itself is never stored
    prefix = CharField(max_length=16)  # shown in listings so people can tell tokens apart
    last_used_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)
    scope = CharField(max_length=8, default="write")  # read | write (SPEC 8)

    class Meta:
        table_name = "cms_api_tokens"


class AuditLog(TenantModel):
    """Append-only; rows of one use case share ``change_id`` so Undo reverts exactly that."""

    change_id = CharField(max_length=32)
    actor_type = CharField(max_length=8)  # member | token | system
    actor_member = ForeignKeyField(Member, null=True, on_delete="SET NULL")
    actor_token = ForeignKeyField(ApiToken, null=True, on_delete="SET NULL")
    actor_label = CharField(max_length=200, default="")
    origin = CharField(max_length=8)  # slack | api | cli | worker
    action = CharField(max_length=32)  # create | update | delete | convert | revert | ...
    entity_type = CharField(max_length=32)
    entity_id = IntegerField()
    changes = JSONField(default=dict)  # {field: [before, after]}
    reverted_at = DateTimeField(null=True)
    revert_of = CharField(max_length=32, null=True)

    class Meta:
        table_name = "cms_audit_log"
        indexes = (
            (("company", "entity_type", "entity_id"), False),
            (("company", "change_id"), False),
        )


class IdempotencyKey(TenantModel):
    """A submission key (Slack view id, retry id, API Idempotency-Key) seen once per company."""

    key = CharField(max_length=200)
    entity_type = CharField(max_length=32, null=True)
    entity_id = IntegerField(null=True)
    change_id = CharField(max_length=32, null=True)

    class Meta:
        table_name = "cms_idempotency_keys"
        indexes = ((("company", "key"), True),)


class ApiIdempotencyKey(TenantModel):
    """A JSON API ``POST`` sent with an ``Idempotency-Key`` (SPEC 8): the first request's
    fingerprint (method, path, query and body) and, once it finished, its answer, so a retry
    with the same key and body gets that answer again and a different body gets 409.
    ``status`` is None while the first request is still running."""

    key = CharField(max_length=200)
    fingerprint = CharField(max_length=64)
    status = IntegerField(null=True)
    response = TextField(null=True)

    class Meta:
        table_name = "cms_api_idempotency_keys"
        indexes = ((("company", "key"), True), (("created_at",), False))


class SlackInstallation(BaseModel):
    """An OAuth installation (multi-workspace mode); Bolt's installation store reads these.

    The bot token and ``data`` (user and refresh tokens, the incoming-webhook URL, ...) are
    encrypted at rest (SPEC 10)."""

    client_id = CharField(max_length=64, default="")
    enterprise_id = CharField(max_length=32, null=True)
    team_id = CharField(max_length=32, null=True)
    user_id = CharField(max_length=32, default="")
    bot_token = EncryptedTextField(null=True)
    bot_id = CharField(max_length=32, null=True)
    bot_user_id = CharField(max_length=32, null=True)
    data = EncryptedJSONField(default=dict)
    installed_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "slack_installations"
        indexes = ((("client_id", "enterprise_id", "team_id", "installed_at"), False),)


class SlackOAuthState(BaseModel):
    state = CharField(max_length=200, unique=True)
    expire_at = DateTimeField()

    class Meta:
        table_name = "slack_oauth_states"


class ReceivedRequest(BaseModel):
    """A signed Slack request already taken in, by its replay key (:mod:`crm.replays`): Slack's
    retry or a byte-for-byte replay of it finds the row and changes nothing."""

    key = CharField(max_length=100, unique=True)

    class Meta:
        table_name = "slack_received_requests"
        indexes = ((("created_at",), False),)


ALL_MODELS: tuple[type[BaseModel], ...] = (
    Company,
    Member,
    Lead,
    Customer,
    Opportunity,
    Order,
    StageChange,
    CloseDateChange,
    SearchTerm,
    Communication,
    FollowUp,
    CustomerSegment,
    Campaign,
    CampaignRecipient,
    CampaignEvent,
    CampaignOptOut,
    CampaignConversion,
    CustomerMetric,
    InsightFit,
    CustomerPrediction,
    LeadScore,
    ApiToken,
    AuditLog,
    IdempotencyKey,
    ApiIdempotencyKey,
    SlackInstallation,
    SlackOAuthState,
    ReceivedRequest,
)


def _drop_covered_company_indexes() -> None:
    """No index on ``company`` alone where an index on ``(company, ...)`` exists: the longer one
    serves every lookup by company (the cascade of a deleted company included), while the
    short one would only be written on every insert (about 15 index entries of a lead create)."""
    for model in ALL_MODELS:
        if not issubclass(model, TenantModel):
            continue
        composite = [i for i in model._meta.indexes if isinstance(i, tuple)]
        if any(fields[0] == "company" for fields, _unique in composite):
            model._meta.fields["company"].index = False


_drop_covered_company_indexes()

SUBJECT_MODELS: dict[str, type[TenantModel]] = {
    "lead": Lead,
    "customer": Customer,
    "opportunity": Opportunity,
}


ENTITY_MODELS: dict[str, type[BaseModel]] = {
    "company": Company,
    "member": Member,
    "lead": Lead,
    "customer": Customer,
    "opportunity": Opportunity,
    "order": Order,
    "communication": Communication,
    "followup": FollowUp,
    "segment": CustomerSegment,
    "campaign": Campaign,
    "token": ApiToken,
}
