"""Customers and orders: normalisation, duplicates, idempotency, external refs, metrics,
opt-outs, tenancy (rule 8), permissions and audit/undo, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from crm import audit, customers
from crm.db import database
from crm.duplicates import DuplicateFound
from crm.errors import Conflict, InvalidFields, NotFound, PermissionDenied, ValidationError
from crm.models import AuditLog, Customer, CustomerMetric, IdempotencyKey, Opportunity, Order
from tests.test_leads import in_thread


def metric(customer_id: int) -> CustomerMetric:
    return CustomerMetric.get(CustomerMetric.customer == customer_id)


# --- customers --------------------------------------------------------------------------------


def test_create_normalises_and_audits(acme):
    customer = customers.create_customer(
        acme.actor(acme.rep),
        name=" Jane  Doe",
        email="JANE@Example.com",
        phone="+260 97 123 4567",
        company_name="Acme",
        industry="Retail",
        tags="VIP, wholesale",
    )
    stored = Customer.get_by_id(customer.id)
    assert (stored.name, stored.email, stored.phone) == (
        "Jane Doe",
        "jane@example.com",
        "+260971234567",
    )
    assert stored.tags == ["vip", "wholesale"] and stored.assigned_to_id == acme.rep.id
    row = AuditLog.get(AuditLog.change_id == customer.change_id)
    assert (row.action, row.entity_type, row.entity_id) == ("create", "customer", customer.id)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "A", "email": "not an email"}, "email"),
        ({"name": "A", "phone": "call me"}, "phone"),
        ({"name": "A", "industry": "x" * 101}, "industry"),
        ({"name": "A", "tags": ["ok", 3]}, "tags"),
    ],
)
def test_bad_input_names_the_field_and_creates_nothing(acme, kwargs, field):
    with pytest.raises(ValidationError) as err:
        customers.create_customer(acme.actor(acme.rep), **kwargs)
    assert err.value.field == field
    assert Customer.select().count() == 0 and AuditLog.select().count() == 0


def test_duplicates_and_create_anyway(acme):
    actor = acme.actor(acme.rep)
    first = customers.create_customer(actor, name="Jane Doe", phone="0971234567")
    with pytest.raises(DuplicateFound) as err:
        customers.create_customer(actor, name="J Doe", phone="+260971234567")
    assert err.value.message == f"Possible duplicate: C{first.id} · Jane Doe (same phone)"
    assert Customer.select().count() == 1
    customers.create_customer(actor, name="J Doe", phone="+260971234567", allow_duplicate=True)
    assert Customer.select().count() == 2


def test_repeated_key_returns_the_first_customer(acme):
    actor = acme.actor(acme.rep)
    first = customers.create_customer(actor, name="Jane", idempotency_key="view-9")
    again = customers.create_customer(actor, name="Jane", idempotency_key="view-9")
    assert (again.id, again.change_id) == (first.id, first.change_id)
    assert Customer.select().count() == 1 and IdempotencyKey.select().count() == 1


def test_a_key_used_for_a_lead_is_not_replayed_as_a_customer(acme):
    from crm.leads import create_lead

    actor = acme.actor(acme.rep)
    create_lead(actor, name="Jane", idempotency_key="shared")
    with pytest.raises(Conflict, match="already used to create a lead, not a customer"):
        customers.create_customer(actor, name="Jane", idempotency_key="shared")
    assert Customer.select().count() == 0


def test_concurrent_submissions_with_one_key_create_one_customer(db, acme):
    actor = acme.actor(acme.rep)
    with database.atomic():
        first = customers.create_customer(actor, name="Jane", idempotency_key="k")
        thread, result = in_thread(
            lambda: customers.create_customer(actor, name="Jane", idempotency_key="k")
        )
        thread.join(0.5)
        assert thread.is_alive(), "the second submission must wait for the first"
    thread.join(20)
    assert "error" not in result, result.get("error")
    assert result["value"].id == first.id and Customer.select().count() == 1


def test_update_validates_checks_rights_and_undo_restores(acme, globex):
    customer = customers.create_customer(acme.actor(acme.rep), name="Jane", industry="Retail")
    with pytest.raises(ValidationError, match="lead_id: is not a customer field"):
        customers.update_customer(acme.actor(acme.rep), customer.id, lead_id=3)
    with pytest.raises(PermissionDenied, match="your role is rep"):
        customers.update_customer(acme.actor(acme.rep2), customer.id, name="Mine")
    with pytest.raises(NotFound):
        customers.update_customer(acme.actor(acme.admin), customer.id, assigned_to_id=globex.rep.id)
    with pytest.raises(NotFound):
        customers.update_customer(globex.actor(globex.admin), customer.id, name="Theirs")
    stored = Customer.get_by_id(customer.id)
    assert (stored.name, stored.assigned_to_id) == ("Jane", acme.rep.id)

    updated = customers.update_customer(
        acme.actor(acme.manager), customer.id, name="Janet", industry=None, tags=["B2B"]
    )
    row = AuditLog.get(AuditLog.change_id == updated.change_id)
    assert row.changes == {
        "name": ["Jane", "Janet"],
        "industry": ["Retail", None],
        "tags": [[], ["b2b"]],
    }
    audit.revert(acme.actor(acme.manager), updated.change_id)
    stored = Customer.get_by_id(customer.id)
    assert (stored.name, stored.industry, stored.tags) == ("Jane", "Retail", [])
    assert (
        customers.update_customer(acme.actor(acme.rep), customer.id, name="Jane").change_id is None
    )


def test_undo_of_creation_removes_the_customer(acme):
    actor = acme.actor(acme.rep)
    customer = customers.create_customer(actor, name="Jane")
    audit.revert(actor, customer.change_id)
    assert Customer.get_or_none(Customer.id == customer.id) is None


def test_list_and_search_stay_in_the_company(acme, globex):
    actor = acme.actor(acme.rep)
    zed = customers.create_customer(actor, name="zed", company_name="Zambeef")
    amy = customers.create_customer(actor, name="Amy", email="amy@shop.co")
    customers.create_customer(globex.actor(globex.rep), name="Amy Globex")
    assert [c.id for c in customers.list_customers(actor)] == [amy.id, zed.id]
    assert [c.id for c in customers.list_customers(actor, search="ZAMB")] == [zed.id]
    assert [c.id for c in customers.list_customers(actor, search="shop.co")] == [amy.id]
    assert customers.list_customers(actor, search="100%") == []
    assert [c.id for c in customers.list_customers(actor, limit=1, offset=1)] == [zed.id]
    with pytest.raises(NotFound):
        customers.get_customer(globex.actor(globex.rep), amy.id)


def test_unsubscribe_is_recorded_once_by_anyone(acme):
    customer = customers.create_customer(acme.actor(acme.rep), name="Jane")
    other_rep = acme.actor(acme.rep2)
    done = customers.unsubscribe(other_rep, customer.id, "Email")
    assert done.unsubscribed == ["email"]
    assert customers.unsubscribe(other_rep, customer.id, "email").change_id is None
    row = AuditLog.get(AuditLog.change_id == done.change_id)
    assert row.action == "unsubscribe" and row.changes == {"unsubscribed": [[], ["email"]]}
    with pytest.raises(ValidationError, match="channel"):
        customers.unsubscribe(other_rep, customer.id, "fax")
    assert Customer.get_by_id(customer.id).unsubscribed == ["email"]


# --- orders -------------------------------------------------------------------------------------


def test_order_is_recorded_audited_and_feeds_metrics(acme):
    actor = acme.actor(acme.rep)
    customer = customers.create_customer(actor, name="Jane")
    with time_machine.travel("2026-03-10 12:00:00Z", tick=False):
        order = customers.add_order(
            actor,
            customer.id,
            amount=Decimal("1200.50"),
            cost=Decimal("800"),
            ordered_at=datetime(2026, 3, 9, 14, 0, tzinfo=UTC),
        )
        customers.add_order(actor, customer.id, amount=Decimal(300), ordered_at=date(2026, 3, 1))
    assert order.created and order.ordered_at == datetime(2026, 3, 9, 14, 0)
    assert metric(customer.id).lifetime_value == Decimal("1500.50")
    row = AuditLog.get(AuditLog.change_id == order.change_id)
    assert (row.action, row.entity_type, row.changes["amount"]) == (
        "create",
        "order",
        [None, "1200.50"],
    )
    assert [o.id for o in customers.list_orders(actor, customer.id)] == [order.id, order.id + 1]
    with time_machine.travel("2026-03-10 12:05:00Z", tick=False):
        audit.revert(actor, order.change_id)
    assert Order.get_or_none(Order.id == order.id) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"amount": Decimal(0)}, "amount"),
        ({"amount": Decimal(-1)}, "amount"),
        ({"amount": "12x"}, "amount"),
        ({"amount": Decimal(10), "cost": Decimal(-1)}, "cost"),
        ({"amount": Decimal(10), "ordered_at": "yesterday"}, "ordered_at"),
        ({"amount": Decimal(10), "ordered_at": datetime(2026, 3, 11)}, "ordered_at"),
        ({"amount": Decimal(10), "external_ref": "r" * 101}, "ref"),
    ],
)
def test_bad_order_input_names_the_field_and_adds_nothing(acme, kwargs, field):
    customer = customers.create_customer(acme.actor(acme.rep), name="Jane")
    with (
        time_machine.travel("2026-03-10 12:00:00Z", tick=False),
        pytest.raises(ValidationError) as err,
    ):
        customers.add_order(acme.actor(acme.rep), customer.id, **kwargs)
    assert err.value.field == field
    assert Order.select().count() == 0


def test_repeated_external_ref_adds_nothing(acme):
    actor = acme.actor(acme.rep)
    customer = customers.create_customer(actor, name="Jane")
    other = customers.create_customer(actor, name="Bob", allow_duplicate=True)
    first = customers.add_order(actor, customer.id, amount=Decimal(100), external_ref="shop-1")
    audit_rows = AuditLog.select().count()
    again = customers.add_order(actor, customer.id, amount=Decimal(999), external_ref="shop-1")
    assert (again.id, again.created, again.change_id) == (first.id, False, None)
    assert again.amount == Decimal(100) and Order.select().count() == 1
    assert AuditLog.select().count() == audit_rows
    assert metric(customer.id).lifetime_value == Decimal(100)
    with pytest.raises(Conflict, match=f"already an order of C{customer.id}"):
        customers.add_order(actor, other.id, amount=Decimal(100), external_ref="shop-1")
    assert Order.select().count() == 1


def test_orders_stay_in_the_company(acme, globex):
    actor = acme.actor(acme.rep)
    customer = customers.create_customer(actor, name="Jane")
    theirs = Opportunity.create(company=globex.company.id, name="Theirs")
    with pytest.raises(NotFound):
        customers.add_order(globex.actor(globex.admin), customer.id, amount=Decimal(5))
    with pytest.raises(NotFound):
        customers.add_order(actor, customer.id, amount=Decimal(5), opportunity_id=theirs.id)
    with pytest.raises(NotFound):
        customers.list_orders(globex.actor(globex.admin), customer.id)
    assert Order.select().count() == 0


def test_order_rights_follow_the_customer_or_the_deal(acme):
    theirs = customers.create_customer(acme.actor(acme.rep2), name="Theirs")
    rep = acme.actor(acme.rep)
    with pytest.raises(PermissionDenied, match="your role is rep"):
        customers.add_order(rep, theirs.id, amount=Decimal(5))
    deal = Opportunity.create(
        company=acme.company.id, name="Deal", customer=theirs.id, assigned_to=acme.rep.id
    )
    order = customers.add_order(rep, theirs.id, amount=Decimal(5), opportunity_id=deal.id)
    assert order.opportunity_id == deal.id
    elsewhere = customers.create_customer(rep, name="Elsewhere")
    with pytest.raises(ValidationError, match=f"O{deal.id} belongs to C{theirs.id}"):
        customers.add_order(rep, elsewhere.id, amount=Decimal(5), opportunity_id=deal.id)
    assert Order.select().count() == 1


def test_every_bad_field_is_named_at_once(acme):
    """A create or an update with several bad fields is refused once, naming each of them
    (the JSON API lists them in one 422), and changes nothing."""
    actor = acme.actor(acme.rep)
    with pytest.raises(InvalidFields) as err:
        customers.create_customer(actor, name="  ", email="nope", tags="x" * 300)
    assert [e.field for e in err.value.errors] == ["name", "email", "tags"]
    assert err.value.field == "name" and Customer.select().count() == 0
    made = customers.create_customer(actor, name="Jane", email="jane@example.com")
    with pytest.raises(InvalidFields) as err:
        customers.update_customer(actor, made.id, email="nope", phone="12", industry="ok")
    assert [e.field for e in err.value.errors] == ["email", "phone"]
    assert Customer.get_by_id(made.id).email == "jane@example.com"
    with pytest.raises(ValidationError) as one:  # a single bad field is its plain error
        customers.update_customer(actor, made.id, email="nope")
    assert not isinstance(one.value, InvalidFields) and one.value.field == "email"
