"""Likely-duplicate lookup for leads and customers (SPEC 5.1: "Use L12" / "Create anyway").

A record is a likely duplicate of the one being created when it has
- the same email (both sides normalised by :func:`crm.parsing.parse_email`), or
- the same phone (both sides E.164 via :func:`crm.parsing.parse_phone`), or
- a close name at the same company name. Names and company names are compared
  case-, accent-width-, whitespace- and punctuation-insensitively; a company name also ignores
  a trailing legal form ("Acme Ltd" is "Acme, Inc." is "acme"). Names are close when equal,
  equal with the words reordered ("Doe Jane"), or when :class:`difflib.SequenceMatcher` rates
  them at least 0.85 ("Jon Smith" / "John Smith"). Two records that both have no company name
  count as "at the same company" (otherwise two "Jane Doe" leads typed without a company would
  never be flagged).

Set-based: one SQL query picks the candidates in the company (equal email, equal phone, equal
stored company key, or, without a company, a name containing the most distinctive word), then
names are compared in Python over that small set.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from peewee import SQL

from crm import search
from crm.acting import Actor
from crm.errors import Conflict
from crm.models import Company, Customer, Lead
from crm.parsing import parse_email, parse_phone
from crm.parsing.names import company_key as key_of_company
from crm.parsing.names import normal_name
from crm.sql_cache import Statement
from crm.tenancy import ref_label

CLOSE_NAME_RATIO = 0.85
CANDIDATE_CAP = 500  # rows fetched for the in-Python name comparison
_MODELS: dict[type[Any], str] = {Lead: "lead", Customer: "customer"}
_REASON_RANK = {"email": 0, "phone": 1, "name": 2}


def names_close(a: str, b: str) -> bool:
    """Close names per the module docstring; both already :func:`normal_name`-ed."""
    if not a or not b:
        return False
    if a == b or sorted(a.split()) == sorted(b.split()):
        return True
    return SequenceMatcher(None, a, b).ratio() >= CLOSE_NAME_RATIO


def phone_region(actor: Actor) -> str:
    """The company's country, used to read phone numbers typed without a country code."""
    company = Company.get_or_none(Company.id == actor.company_id)
    return company.phone_region if company is not None else "ZM"


@dataclass(frozen=True)
class Duplicate:
    """One likely twin: the record and why it matched (``"same email"``, ...)."""

    entity_type: str
    record: Any  # Lead | Customer
    reasons: tuple[str, ...]
    rank: int = 0

    @property
    def ref(self) -> str:
        return ref_label(self.entity_type, self.record.id)

    def describe(self) -> str:
        return f"{self.ref} · {self.record.name} ({', '.join(self.reasons)})"


class DuplicateFound(Conflict):
    """Creation refused because likely twins exist; adapters offer "Use L12" / "Create anyway"
    (the latter repeats the call with ``allow_duplicate=True``)."""

    code = "duplicate"

    def __init__(self, candidates: list[Duplicate]) -> None:
        noun = "duplicate" if len(candidates) == 1 else "duplicates"
        shown = "; ".join(c.describe() for c in candidates)
        super().__init__(f"Possible {noun}: {shown}")
        self.candidates = candidates


def _longest_word(text: str) -> str:
    """In the form the word index keeps (accents dropped, at most 40 characters)."""
    return max(search.normal_words(text), key=len, default="")


def _candidates(
    model: type[Lead] | type[Customer],
    company_id: int,
    email: str | None,
    phone: str | None,
    company_key: str | None,
    name_word: str | None,
    exclude_id: int | None,
) -> Any:
    """The rows worth comparing: same email, same phone, the same company (its stored
    :attr:`~crm.models.Lead.company_key`, an indexed equality), or, for a person given without
    a company, a name sharing its longest word in the word index of :mod:`crm.search` (not
    ``LIKE '%word%'``, which reads every row of the company). :func:`find_duplicates` checks
    every candidate in Python.

    One SELECT per condition, joined by ``UNION``, rather than one SELECT with ``OR``: each
    part is an index lookup whatever the planner believes about the table, where an ``OR``
    over a table whose statistics are stale (a fresh database, autovacuum off) was planned as
    a read of every row of the company on each create."""
    conditions = []
    if email:
        conditions.append(model.email == email)
    if phone:
        conditions.append(model.phone == phone)
    kind = _MODELS[model]
    if company_key:
        conditions.append(model.company_key == company_key)
    if name_word:
        conditions.append(
            (model.company_name.is_null() | (model.company_name == ""))
            & model.id.in_(search.matching_ids(company_id, kind, name_word, search.NAME))
        )
    parts = []
    for condition in conditions:
        part = model.scoped(company_id).where(condition)
        if exclude_id is not None:
            part = part.where(model.id != exclude_id)
        parts.append(part)
    query = parts[0]
    for part in parts[1:]:
        query = query | part  # UNION: a row matching twice comes once
    return query.order_by(SQL("1 DESC")).limit(CANDIDATE_CAP)


# rendered once per model and combination of given fields (crm.sql_cache)
_CANDIDATES = {
    model: Statement(lambda model=model, **values: _candidates(model, **values))
    for model in (Lead, Customer)
}


def find_duplicates(
    actor: Actor,
    model: type[Lead] | type[Customer],
    *,
    name: str,
    email: str | None = None,
    phone: str | None = None,
    company_name: str | None = None,
    limit: int = 5,
    exclude_id: int | None = None,
) -> list[Duplicate]:
    """Likely twins of the described person in the actor's company, strongest match first.

    ``email`` and ``phone`` may be raw (they are normalised here, raising ValidationError like
    the create use cases would); ``exclude_id`` leaves out the record being edited.
    """
    entity_type = _MODELS.get(model)
    if entity_type is None:
        raise TypeError(f"find_duplicates works on leads and customers, not {model.__name__}")
    email = parse_email(email) if email else None
    if phone:
        phone = parse_phone(phone, "phone", phone_region(actor))
    name_key = normal_name(name)
    company_key = key_of_company(company_name)  # what each record keeps in its company_key

    name_word = _longest_word(name_key) if name_key and not company_key else None
    if not (email or phone or company_key or name_word):
        return []
    rows = _CANDIDATES[model].models(
        model,
        company_id=actor.company_id,
        email=email or None,
        phone=phone or None,
        company_key=company_key,
        name_word=name_word,
        exclude_id=exclude_id,
    )

    found: list[Duplicate] = []
    for row in rows:
        reasons: list[str] = []
        ranks: list[int] = []
        if email and row.email == email:
            reasons.append("same email")
            ranks.append(_REASON_RANK["email"])
        if phone and row.phone == phone:
            reasons.append("same phone")
            ranks.append(_REASON_RANK["phone"])
        row_name = normal_name(row.name)
        if row.company_key == company_key and names_close(row_name, name_key):
            kind = "same name" if row_name == name_key else "similar name"
            reasons.append(f"{kind} at {row.company_name}" if company_key else kind)
            ranks.append(_REASON_RANK["name"])
        if reasons:
            found.append(Duplicate(entity_type, row, tuple(reasons), min(ranks)))
    found.sort(key=lambda d: (d.rank, -len(d.reasons), -d.record.id))
    return found[: max(limit, 0)]


def refuse_duplicates(
    actor: Actor, model: type[Lead] | type[Customer], values: dict[str, Any]
) -> None:
    """Raise :class:`DuplicateFound` when cleaned ``values`` look like a record the company
    already has: the check every create use case runs unless asked to create anyway."""
    twins = find_duplicates(
        actor,
        model,
        name=values["name"],
        email=values.get("email"),
        phone=values.get("phone"),
        company_name=values.get("company_name"),
    )
    if twins:
        raise DuplicateFound(twins)
