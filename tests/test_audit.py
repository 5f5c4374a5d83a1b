"""Audit rows are written in the change's own transaction, and revert undoes exactly one change."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from crm import audit
from crm.companies import set_role, update_settings
from crm.db import database
from crm.errors import Conflict, NotFound, PermissionDenied
from crm.models import AuditLog, Company, Member


class Boom(Exception):
    pass


def test_audit_row_rolls_back_with_the_change(acme):
    """A failure after the write leaves neither the change nor its audit row."""
    with pytest.raises(Boom), database.atomic():
        set_role(acme.actor(acme.admin), acme.rep.id, "manager")
        assert AuditLog.select().where(AuditLog.entity_id == acme.rep.id).count() == 1
        raise Boom
    assert Member.get_by_id(acme.rep.id).role == "rep"
    assert AuditLog.select().where(AuditLog.entity_id == acme.rep.id).count() == 0


def test_audit_row_has_before_and_after(acme):
    member = set_role(acme.actor(acme.admin), acme.rep.id, "manager")
    row = AuditLog.get(AuditLog.change_id == member.change_id)
    assert (row.action, row.entity_type, row.entity_id) == ("update", "member", acme.rep.id)
    assert row.changes == {"role": ["rep", "manager"]}
    assert row.actor_member_id == acme.admin.id and row.origin == "slack"


def test_revert_restores_before_state_once(acme):
    actor = acme.actor(acme.admin)
    changed = update_settings(actor, currency="usd", timezone="Europe/Paris")
    assert (changed.currency, changed.timezone) == ("USD", "Europe/Paris")
    revert_id = audit.revert(actor, changed.change_id)
    company = Company.get_by_id(acme.company.id)
    assert (company.currency, company.timezone) == ("ZMW", "Africa/Lusaka")
    revert_row = AuditLog.get(AuditLog.change_id == revert_id)
    assert revert_row.action == "revert" and revert_row.revert_of == changed.change_id
    assert revert_row.changes["currency"] == ["USD", "ZMW"]
    with pytest.raises(Conflict, match="already undone"):
        audit.revert(actor, changed.change_id, window=None)
    assert Company.get_by_id(acme.company.id).currency == "ZMW"


def test_revert_refused_after_window_and_when_changed_since(acme):
    actor = acme.actor(acme.admin)
    with time_machine.travel("2026-11-25 10:00:00Z", tick=False):
        first = update_settings(actor, currency="USD")
    with (
        time_machine.travel("2026-11-25 10:10:01Z", tick=False),
        pytest.raises(Conflict, match="within 10 minutes"),
    ):
        audit.revert(actor, first.change_id)
    second = update_settings(actor, currency="EUR")
    with pytest.raises(Conflict, match="changed again"):
        audit.revert(actor, first.change_id, window=None)
    assert Company.get_by_id(acme.company.id).currency == "EUR"
    audit.revert(actor, second.change_id)
    assert Company.get_by_id(acme.company.id).currency == "USD"


def test_revert_of_another_company_change_is_not_found(acme, globex):
    change = update_settings(acme.actor(acme.admin), currency="USD")
    with pytest.raises(NotFound):
        audit.revert(globex.actor(globex.admin), change.change_id)
    assert Company.get_by_id(acme.company.id).currency == "USD"


def test_roles_need_admin_and_keep_one_admin(acme):
    with pytest.raises(PermissionDenied, match="Only admins may change roles"):
        set_role(acme.actor(acme.manager), acme.rep.id, "admin")
    with pytest.raises(Exception, match="at least one admin"):
        set_role(acme.actor(acme.admin), acme.admin.id, "rep")
    assert Member.get_by_id(acme.admin.id).role == "admin"


def test_history_lists_newest_first(acme):
    actor = acme.actor(acme.admin)
    with time_machine.travel("2026-11-25 10:00:00Z", tick=False):
        set_role(actor, acme.rep.id, "manager")
    with time_machine.travel("2026-11-25 10:00:00Z", tick=False) as t:
        t.shift(timedelta(minutes=1))
        set_role(actor, acme.rep.id, "rep")
    rows = audit.history(actor, "member", acme.rep.id)
    assert [r.changes["role"] for r in rows] == [["manager", "rep"], ["rep", "manager"]]


def test_undo_of_a_creation_used_since_is_refused(acme):
    from decimal import Decimal

    from crm.customers import add_order, create_customer
    from crm.models import Customer, Order

    actor = acme.actor(acme.admin)
    customer = create_customer(actor, name="Zed Ltd")
    add_order(actor, customer.id, amount=Decimal("500"))
    with pytest.raises(Conflict, match="used by other records"):
        audit.revert(actor, customer.change_id)
    assert Customer.get_or_none(id=customer.id) is not None
    assert Order.select().where(Order.customer == customer.id).count() == 1


def test_undo_of_an_order_recomputes_lifetime_value(acme):
    from decimal import Decimal

    from crm.customers import add_order, create_customer
    from crm.models import CustomerMetric

    actor = acme.actor(acme.admin)
    customer = create_customer(actor, name="Zed Ltd")
    add_order(actor, customer.id, amount=Decimal("300"))
    order = add_order(actor, customer.id, amount=Decimal("200"))
    assert CustomerMetric.get(customer=customer.id).lifetime_value == Decimal("500.00")
    audit.revert(actor, order.change_id)
    assert CustomerMetric.get(customer=customer.id).lifetime_value == Decimal("300.00")


def test_only_the_author_or_a_manager_may_undo(acme):
    from crm.customers import create_customer
    from crm.models import Customer

    mine = create_customer(acme.actor(acme.rep), name="Rep's Own Ltd")
    with pytest.raises(PermissionDenied, match="Only the person who made a change"):
        audit.revert(acme.actor(acme.rep2), mine.change_id)
    assert Customer.get_or_none(id=mine.id) is not None
    audit.revert(acme.actor(acme.manager), mine.change_id)
    assert Customer.get_or_none(id=mine.id) is None
