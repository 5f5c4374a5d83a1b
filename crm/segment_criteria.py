"""Segment criteria (SPEC 7): validation, the Slack command form, compilation to peewee.

Criteria are a dict of ``key -> value | [any of] | {"gte"/"gt"/"lte"/"lt": bound}``; every key
must hold. They are validated into one normal form (:func:`validate_criteria`) and compiled into
a peewee expression (:func:`compile_criteria`), never into SQL text, so no member-typed value
ever reaches the database other than as a bound parameter. Kept apart from
:mod:`crm.segments` (the use cases and counts) because the grammar alone is a module's worth.

Notes on meaning:
- a customer without a metrics row counts as 0 orders, 0 lifetime value, bronze, no churn risk;
- ``days_since_last_purchase`` is measured live against ``now`` from the last purchase date, and
  never matches customers without purchases (use ``orders=0`` for those);
- ``churn_risk: "none"`` matches customers without purchases;
- ``source`` is the source of the lead the customer was converted from;
- ``industry`` and ``tags`` match case-insensitively; ``created`` compares UTC calendar dates;
- ``p_alive`` (0 to 1, or a percentage), ``expected_purchases`` (in the next 90 days) and
  ``predicted_clv`` (12 months) are the predictions of SPEC 13; a customer without one (no
  purchases yet, or a company with not enough history) matches none of them.
"""

from __future__ import annotations

import json
import operator
import re
import shlex
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from peewee import JOIN, OP, SQL, ColumnBase, Expression, NodeList, Value, fn

from crm.clock import utcnow
from crm.errors import ValidationError
from crm.models import (
    CHURN_RISKS,
    LEAD_SOURCES,
    NO_METRICS_TIER,
    TIERS,
    Customer,
    CustomerMetric,
    CustomerPrediction,
    Lead,
)
from crm.parsing import check_text, parse_date, parse_int, parse_money, parse_period

__all__ = [
    "CRITERIA_KEYS",
    "compile_criteria",
    "customer_query",
    "joined",
    "parse_criteria_text",
    "validate_criteria",
]

_NO_PURCHASES = "none"
_CHOICES: dict[str, tuple[str, ...]] = {
    "tier": TIERS,
    "churn_risk": (*CHURN_RISKS, _NO_PURCHASES),
    "source": LEAD_SOURCES,
}
_ORDERED = {"tier", "churn_risk"}  # choices with an order: tier>=gold means gold or platinum
_TEXT_KEYS = {"industry", "tags"}
_NUMBER_KEYS = {"lifetime_value", "days_since_last_purchase", "orders", "created"}
_PREDICTION_KEYS = {"p_alive", "expected_purchases", "predicted_clv"}
_NUMBER_KEYS |= _PREDICTION_KEYS
CRITERIA_KEYS = ("tier", "churn_risk", "industry", "tags", "source", *sorted(_NUMBER_KEYS))
_RANGE_OPS = ("gte", "gt", "lte", "lt")
_MAX_VALUES = 50

_EXAMPLE = {
    "tier": "tier=gold,platinum or tier>=gold",
    "churn_risk": "churn=high or churn=medium,high",
    "industry": "industry=retail",
    "tags": "tags=vip,wholesale",
    "source": "source=referral",
    "lifetime_value": "ltv>=20k or ltv=20k..50k",
    "days_since_last_purchase": "last_purchase>90d",
    "orders": "orders>=3",
    "created": "created>=2026-01-01",
    "p_alive": "p_alive<0.3 or p_alive<30%",
    "expected_purchases": "expected_purchases>=1.5",
    "predicted_clv": "predicted_clv>=10k",
}


# --- validation -----------------------------------------------------------------------------


def _fail(key: str, message: str) -> ValidationError:
    return ValidationError(key, message, hint=_EXAMPLE.get(key, "tier=gold churn=high"))


def _scalar(key: str, value: Any) -> Any:
    """One value of ``key`` in its canonical JSON form."""
    if isinstance(value, dict | list | tuple | set):
        raise _fail(key, "expected a single value here")
    if key in _CHOICES:
        choices = _CHOICES[key]
        text = str(value).strip().lower().replace(" ", "_").replace("-", "_")
        if text not in choices:
            raise _fail(key, f"{str(value)[:40]!r} is not one of {', '.join(choices)}")
        return text
    if key in _TEXT_KEYS:
        if not isinstance(value, str) or not value.strip() or len(value) > 100:
            raise _fail(key, "expected a word of 1 to 100 characters")
        return check_text(value, key).strip()
    if key == "lifetime_value":
        return str(parse_money(value, key))
    if key == "days_since_last_purchase":
        if isinstance(value, bool):
            raise _fail(key, "expected a number of days")
        return parse_int(value, key, 0, 36500)
    if key == "orders":
        if isinstance(value, bool):
            raise _fail(key, "expected a number of orders")
        return parse_int(value, key, 0, 10**9)
    if key == "p_alive":
        return _fraction(key, value)
    if key == "expected_purchases":
        return _decimal_number(key, value, 0, 10**6)
    if key == "predicted_clv":
        return str(parse_money(value, key))
    if key == "created":
        if isinstance(value, datetime):
            value = value.date()
        if not isinstance(value, str | date):
            raise _fail(key, "expected a date like 2026-01-01")
        return parse_date(value, key).isoformat()
    raise AssertionError(key)  # pragma: no cover - keys are checked before


def _decimal_number(key: str, value: Any, low: float, high: float) -> float:
    """A plain number (JSON number or text) between ``low`` and ``high``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _fail(key, "expected a number")
    try:
        number = float(str(value).strip())
    except ValueError:
        raise _fail(key, f"{str(value)[:40]!r} is not a number") from None
    if not (low <= number <= high):  # also refuses nan
        top = f"{high:,.0f}" if high >= 1000 else f"{high:g}"
        raise _fail(key, f"expected a number from {low:g} to {top}")
    return number


def _fraction(key: str, value: Any) -> float:
    """A probability: ``0.3`` or ``30%``."""
    text = str(value).strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.endswith("%"):
        return _decimal_number(key, text[:-1], 0, 100) / 100
    return _decimal_number(key, text, 0, 1)


def _sort_key(key: str, value: Any) -> Any:
    if key in ("lifetime_value", "predicted_clv"):
        return Decimal(value)
    if key in _ORDERED:
        return _CHOICES[key].index(value)
    return value


def _range(key: str, value: dict[str, Any]) -> dict[str, Any]:
    unknown = [op for op in value if op not in _RANGE_OPS]
    if unknown or not value:
        raise _fail(key, f'a range has "gte", "gt", "lte" or "lt" bounds, not {unknown or "none"}')
    if ("gte" in value and "gt" in value) or ("lte" in value and "lt" in value):
        raise _fail(key, "a range has one lower and one upper bound")
    bounds = {op: _scalar(key, value[op]) for op in _RANGE_OPS if op in value}
    low = next((op for op in ("gte", "gt") if op in bounds), None)
    high = next((op for op in ("lte", "lt") if op in bounds), None)
    if low and high:
        lo, hi = _sort_key(key, bounds[low]), _sort_key(key, bounds[high])
        if lo > hi or (lo == hi and (low == "gt" or high == "lt")):
            raise _fail(key, "this range is empty (the lower bound is above the upper one)")
    return bounds


def validate_criteria(criteria: Any) -> dict[str, Any]:
    """The canonical form of ``criteria``, or a ValidationError naming the bad key.

    Choice keys become lists (an ordered-choice range such as ``{"gte": "gold"}`` becomes
    ``["gold", "platinum"]``), text keys lists, number keys a scalar, a list or a range.
    Money is kept as decimal text and dates as ISO text, so the JSON reads back exactly.
    """
    if not isinstance(criteria, dict):
        raise ValidationError(
            "criteria", "expected an object of criteria", hint='{"tier": ["gold", "platinum"]}'
        )
    if not criteria:
        raise ValidationError(
            "criteria", "at least one criterion is needed", hint="tier=gold churn=high"
        )
    result: dict[str, Any] = {}
    for key, value in criteria.items():
        if key not in CRITERIA_KEYS:
            raise ValidationError(
                "criteria",
                f"{str(key)[:40]!r} is not a criterion; use {', '.join(CRITERIA_KEYS)}",
                hint="tier=gold churn=high ltv>=20k",
            )
        if isinstance(value, dict):
            bounds = _range(key, value)
            if key in _ORDERED:
                result[key] = _range_to_choices(key, bounds)
            elif key in _TEXT_KEYS or key == "source":
                raise _fail(key, "a range makes no sense here; give a value or a list")
            else:
                result[key] = bounds
        elif isinstance(value, list | tuple):
            if not value or len(value) > _MAX_VALUES:
                raise _fail(key, f"a list needs 1 to {_MAX_VALUES} values")
            items = [_scalar(key, v) for v in value]
            result[key] = list(dict.fromkeys(items))
        else:
            item = _scalar(key, value)
            result[key] = [item] if key in _CHOICES or key in _TEXT_KEYS else item
    return result


def _range_to_choices(key: str, bounds: dict[str, Any]) -> list[str]:
    """``{"gte": "gold"}`` -> ``["gold", "platinum"]``: ranges over ordered choices."""
    order = [c for c in _CHOICES[key] if c != _NO_PURCHASES]
    if _NO_PURCHASES in bounds.values():
        raise _fail(key, '"none" (no purchases) has no order; use churn=none')
    rank = {choice: i for i, choice in enumerate(order)}
    tests = {"gte": operator.ge, "gt": operator.gt, "lte": operator.le, "lt": operator.lt}
    picked = [c for c in order if all(tests[op](rank[c], rank[b]) for op, b in bounds.items())]
    if not picked:
        raise _fail(key, "this range matches nothing")
    return picked


# --- the Slack command form ---------------------------------------------------------------------

_ALIASES = {
    "tier": "tier",
    "tiers": "tier",
    "churn": "churn_risk",
    "churn_risk": "churn_risk",
    "risk": "churn_risk",
    "industry": "industry",
    "tag": "tags",
    "tags": "tags",
    "source": "source",
    "ltv": "lifetime_value",
    "lifetime_value": "lifetime_value",
    "value": "lifetime_value",
    "last_purchase": "days_since_last_purchase",
    "days_since_last_purchase": "days_since_last_purchase",
    "orders": "orders",
    "created": "created",
    "p_alive": "p_alive",
    "alive": "p_alive",
    "expected_purchases": "expected_purchases",
    "predicted_clv": "predicted_clv",
    "clv": "predicted_clv",
}
_TOKEN_RE = re.compile(r"(?P<key>[a-z_]+)\s*(?P<op>>=|<=|=>|=<|>|<|=)\s*(?P<value>.+)", re.I)
_OPS = {">=": "gte", "=>": "gte", "<=": "lte", "=<": "lte", ">": "gt", "<": "lt"}


def _text_value(key: str, text: str) -> Any:
    """Turn what a member typed into the JSON value, with the shared parsers' wording."""
    if key == "lifetime_value":
        return str(parse_money(text, "ltv"))
    if key == "days_since_last_purchase":
        return parse_period(text, "last_purchase")
    if key == "orders":
        return parse_int(text, "orders", 0)
    if key == "created":
        return parse_date(text, "created").isoformat()
    if key == "p_alive":
        return _fraction(key, text)
    if key == "predicted_clv":
        return str(parse_money(text, key))
    return text


def parse_criteria_text(text: str) -> dict[str, Any]:
    """``tier=gold,platinum churn=high ltv>=20k last_purchase>90d`` -> validated criteria.

    ``key=a,b`` is "any of", ``key=a..b`` a closed range, ``>=``/``>``/``<=``/``<`` bounds (two
    bounds on one key make a range). Money reads like everywhere (``20k``), periods in days
    (``90d``, ``12w``, ``6m``); quote values with spaces: ``industry="real estate"``.
    """
    hint = "tier=gold churn=high ltv>=20k last_purchase>90d"
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("criteria", "no criteria given", hint=hint)
    try:
        tokens = shlex.split(text)
    except ValueError:
        raise ValidationError("criteria", "a quote is not closed", hint=hint) from None
    criteria: dict[str, Any] = {}
    for token in tokens:
        match = _TOKEN_RE.fullmatch(token)
        if not match:
            raise ValidationError("criteria", f"{token[:40]!r} is not key=value", hint=hint)
        word, op, raw = match["key"].lower(), match["op"], match["value"].strip()
        key = _ALIASES.get(word)
        if key is None:
            raise ValidationError(
                "criteria",
                f"{word[:40]!r} is not a criterion; use {', '.join(sorted(set(_ALIASES)))}",
                hint=hint,
            )
        if op == "=" and ".." in raw and key in _NUMBER_KEYS | _ORDERED:
            low, high = raw.split("..", 1)
            value: Any = {"gte": _text_value(key, low), "lte": _text_value(key, high)}
        elif op == "=":
            parts = [p.strip() for p in raw.split(",") if p.strip()]
            if not parts:
                raise _fail(key, "a value is required")
            values = [_text_value(key, p) for p in parts]
            value = values if len(values) > 1 else values[0]
        else:
            value = {_OPS[op]: _text_value(key, raw)}
        previous = criteria.get(key)
        if isinstance(previous, dict) and isinstance(value, dict):
            if set(previous) & set(value):
                raise _fail(key, "the same bound is given twice")
            value = {**previous, **value}
        elif previous is not None:
            raise _fail(key, "given twice; use a list (a,b) or a range (a..b)")
        criteria[key] = value
    return validate_criteria(criteria)


# --- compiling to peewee ----------------------------------------------------------------------


def customer_query(company_id: int, criteria: dict[str, Any], now: datetime | None = None):
    """Customers of ``company_id`` matching ``criteria`` (a live query, ordered by name)."""
    return (
        joined(Customer.scoped(company_id))
        .where(compile_criteria(company_id, criteria, now))
        .order_by(Customer.name, Customer.id)
    )


def joined(query: Any) -> Any:
    """Customer LEFT JOIN its metrics row, its prediction and its lead: the tables criteria
    refer to."""
    return (
        query.join(CustomerMetric, JOIN.LEFT_OUTER, on=CustomerMetric.customer == Customer.id)
        .switch(Customer)
        .join(
            CustomerPrediction,
            JOIN.LEFT_OUTER,
            on=CustomerPrediction.customer == Customer.id,
        )
        .switch(Customer)
        .join(Lead, JOIN.LEFT_OUTER, on=Lead.id == Customer.lead)
        .switch(Customer)
    )


def _compare(column: ColumnBase, value: Any, convert: Any = None) -> Expression:
    """column = value, IN list, or the range's bounds (values are bound parameters)."""
    conv = convert or (lambda v: v)
    if isinstance(value, list):
        return column.in_([conv(v) for v in value])
    if not isinstance(value, dict):
        return column == conv(value)
    parts = []
    for op, bound in value.items():
        rhs = conv(bound)
        parts.append(
            {"gte": column >= rhs, "gt": column > rhs, "lte": column <= rhs, "lt": column < rhs}[op]
        )
    return _all(parts)


def _all(parts: list[Expression]) -> Expression:
    expr = parts[0]
    for part in parts[1:]:
        expr = expr & part
    return expr


def _any(parts: list[Expression]) -> Expression:
    expr = parts[0]
    for part in parts[1:]:
        expr = expr | part
    return expr


def _days_clause(value: Any, now: datetime) -> Expression:
    """Whole days since the last purchase, as bounds on the purchase time itself (so an index
    can serve it and the answer is exact for ``now``): days >= n <=> last <= now - n days."""
    last = CustomerMetric.last_purchase_at

    def at_least(n: int) -> Expression:
        return last <= now - timedelta(days=n)

    def below(n: int) -> Expression:
        return last > now - timedelta(days=n)

    if isinstance(value, list):
        return _any([at_least(n) & below(n + 1) for n in value])
    if not isinstance(value, dict):
        return at_least(value) & below(value + 1)
    ops = {"gte": lambda n: at_least(n), "gt": lambda n: at_least(n + 1)}
    ops |= {"lte": lambda n: below(n + 1), "lt": lambda n: below(n)}
    return _all([ops[op](n) for op, n in value.items()])


def _created_clause(value: Any) -> Expression:
    column = Customer.created_at

    def day(text: str) -> datetime:
        return datetime.combine(date.fromisoformat(text), datetime.min.time())

    def on(text: str) -> Expression:
        return (column >= day(text)) & (column < day(text) + timedelta(days=1))

    if isinstance(value, list):
        return _any([on(v) for v in value])
    if not isinstance(value, dict):
        return on(value)
    ops = {
        "gte": lambda t: column >= day(t),
        "gt": lambda t: column >= day(t) + timedelta(days=1),
        "lte": lambda t: column < day(t) + timedelta(days=1),
        "lt": lambda t: column < day(t),
    }
    return _all([ops[op](v) for op, v in value.items()])


def _lower_in(column: ColumnBase, values: list[str]) -> Expression:
    return fn.LOWER(column).in_([v.lower() for v in values])


def _tags_clause(values: list[str]) -> Expression:
    """Tags are a JSON list kept as text; a tag matches as its exact JSON string (quotes
    included, so "vip" does not match "vipx"), case-insensitively, with LIKE wildcards
    escaped. The pattern bypasses the JSON field's converter, which would re-encode it."""
    return _any([_contains(Customer.tags, json.dumps(v)) for v in values])


def _contains(column: ColumnBase, needle: str) -> Expression:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = NodeList(
        (Value(f"%{escaped}%", converter=False), SQL("ESCAPE"), Value("\\", converter=False))
    )
    return Expression(column, OP.ILIKE, pattern)


def compile_criteria(
    company_id: int, criteria: dict[str, Any], now: datetime | None = None
) -> Expression:
    """A peewee expression over Customer joined (LEFT) to CustomerMetric and Lead, as
    :func:`customer_query` joins them. ``criteria`` is validated here again, so stored JSON
    edited by hand cannot smuggle anything in."""
    criteria = validate_criteria(criteria)
    now = now or utcnow()
    parts: list[Expression] = [Customer.company == company_id]
    for key, value in criteria.items():
        if key == "tier":
            parts.append(_compare(fn.COALESCE(CustomerMetric.tier, NO_METRICS_TIER), value))
        elif key == "churn_risk":
            risks = [v for v in value if v != _NO_PURCHASES]
            clauses = [CustomerMetric.churn_risk.in_(risks)] if risks else []
            if _NO_PURCHASES in value:
                clauses.append(CustomerMetric.churn_risk.is_null())
            parts.append(_any(clauses))
        elif key == "industry":
            parts.append(_lower_in(Customer.industry, value))
        elif key == "tags":
            parts.append(_tags_clause(value))
        elif key == "source":
            parts.append(Lead.source.in_(value))
        elif key == "lifetime_value":
            ltv = fn.COALESCE(CustomerMetric.lifetime_value, 0)
            parts.append(_compare(ltv, value, lambda v: Value(int(Decimal(v) * 100))))
        elif key == "orders":
            parts.append(_compare(fn.COALESCE(CustomerMetric.order_count, 0), value))
        elif key == "days_since_last_purchase":
            parts.append(_days_clause(value, now))
        elif key == "created":
            parts.append(_created_clause(value))
        elif key == "p_alive":
            parts.append(_compare(CustomerPrediction.p_alive, value))
        elif key == "expected_purchases":
            parts.append(_compare(CustomerPrediction.expected_purchases, value))
        elif key == "predicted_clv":
            # cents against cents: the bound bypasses the money field's own conversion
            cents = lambda v: Value(int(Decimal(v) * 100), converter=False)  # noqa: E731
            parts.append(_compare(CustomerPrediction.predicted_clv, value, cents))
    return _all(parts)
