"""Finding leads, customers and opportunities by what people remember of them: a word of the
name, the email, a run of phone digits, the company (``/crm find``, the modals' type-ahead,
the duplicate check's candidates).

Why a word index of our own (:class:`~crm.models.SearchTerm`) rather than ``LIKE '%jan%'``:
a leading wildcard reads every row of the company, and ``pg_trgm`` would serve PostgreSQL
only (SQLite is the default database). Each record is cut into normalised words (accents
dropped, case folded, punctuation gone), each stored with a weight saying how telling a
match on it is (name over email and phone over company). A typed word matches the words it
is a prefix of, which on ``(company, kind, term)`` is an index range on both databases:
``term >= 'jan' AND term < 'jao'``. Every typed word must match (``jane acme`` finds Jane at
Acme), and records rank by the sum of their best weight per word, an exact word counting one
more than a prefix; among equals customers come before leads before deals (a customer is the
relationship that exists), newest first within a kind.

The index is kept by :mod:`crm.audit`: every change set that creates, updates or deletes a
lead, customer or opportunity rewrites that record's words in the same transaction, so every
use case (Slack, API, CSV import, Undo) keeps it true without thinking of it.
``crm reindex`` rebuilds a company's words from the records.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import phonenumbers
from peewee import Case, Select, fn

from crm import sql_cache
from crm.acting import Actor
from crm.db import database
from crm.errors import ValidationError
from crm.models import Customer, CustomerSegment, Lead, Opportunity, SearchTerm, TenantModel
from crm.parsing import parse_int

KINDS: Final[dict[str, str]] = {"lead": "l", "customer": "c", "opportunity": "o"}
MODELS: Final[dict[str, type[TenantModel]]] = {
    "lead": Lead,
    "customer": Customer,
    "opportunity": Opportunity,
}
_KIND_OF_CODE = {code: kind for kind, code in KINDS.items()}
NAME, CONTACT, COMPANY = 4, 3, 2  # weights: how telling a match on the word is
SEARCHED_FIELDS: Final = frozenset({"name", "email", "phone", "company_name"})
TERM_LENGTH = 40
MAX_WORDS = 6  # typed words considered; more narrow nothing a person needs
_WORD_RE = re.compile(r"[^\W_]+")
_PHONE_RE = re.compile(r"[\d\s()+.\-]*\d[\d\s()+.\-]*")


def normal_words(text: str | None) -> list[str]:
    """``"Zoë O'Brien-Smith"`` -> ``["zoe", "o", "brien", "smith"]``."""
    if not text:
        return []
    if text.isascii():  # nothing to decompose, no accent to drop
        return [w[:TERM_LENGTH] for w in _WORD_RE.findall(text.lower())]
    folded = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return [w[:TERM_LENGTH] for w in _WORD_RE.findall(folded)]


def query_words(text: str) -> list[str]:
    """What a member typed, as words to match: a phone number typed with spaces, dashes or
    a ``+`` (``+260 97 123``) is one run of digits, not three words."""
    text = text.strip()
    if _PHONE_RE.fullmatch(text):
        digits = re.sub(r"\D", "", text)
        if len(digits) >= 3:
            return [digits[:TERM_LENGTH]]
    seen: list[str] = []
    for word in normal_words(text):
        if word not in seen:
            seen.append(word)
    return seen[:MAX_WORDS]


def _phone_terms(phone: str | None) -> list[str]:
    """The number as stored (E.164 digits), as dialled at home (``0971234567``) and without
    the trunk prefix (``971234567``): people type any of them, from the start."""
    if not phone:
        return []
    digits = re.sub(r"\D", "", phone)
    terms = [digits]
    try:
        national = str(phonenumbers.parse(phone, None).national_number)
    except phonenumbers.NumberParseException:
        national = ""
    if national:
        terms += [national, "0" + national]
    return [t[:TERM_LENGTH] for t in terms if t]


def terms_of(kind: str, record: Any) -> dict[str, int]:
    """A record's words and the weight of each (the best where a word occurs twice)."""
    found: dict[str, int] = {}

    def add(words: Iterable[str], weight: int) -> None:
        for word in words:
            if found.get(word, 0) < weight:
                found[word] = weight

    add(normal_words(record.name), NAME)
    if kind != "opportunity":
        email = record.email or ""
        add(normal_words(email), CONTACT)
        local = email.partition("@")[0]
        add(["".join(normal_words(local))[:TERM_LENGTH]] if local else [], CONTACT)
        add(_phone_terms(record.phone), CONTACT)
        add(normal_words(record.company_name), COMPANY)
    found.pop("", None)
    return found


def rows_for(kind: str, records: Iterable[Any]) -> list[dict[str, Any]]:
    """The index rows of ``records`` (all of one kind), ready for one ``INSERT``."""
    code = KINDS[kind]
    return [
        {
            "company": r.company_id,
            "kind": code,
            "record_id": r.id,
            "term": term,
            "weight": weight,
        }
        for r in records
        for term, weight in terms_of(kind, r).items()
    ]


def insert_rows(rows: list[dict[str, Any]], batch: int = 500) -> None:
    """One INSERT per ``batch`` rows; a record's handful of words (every create and edit)
    goes through :func:`crm.sql_cache.insert_rows`, rendered once per row count."""
    for start in range(0, len(rows), batch):
        sql_cache.insert_rows(SearchTerm, rows[start : start + batch])


def forget(company_id: int, kind: str, ids: Sequence[int]) -> None:
    if ids:
        SearchTerm.scoped_delete(company_id).where(
            (SearchTerm.kind == KINDS[kind]) & SearchTerm.record_id.in_(list(ids))
        ).execute()


def index(kind: str, records: Sequence[Any], *, fresh: bool = False) -> None:
    """(Re)write the words of ``records``; ``fresh``: they are new, nothing to remove."""
    if not records:
        return
    if not fresh:
        by_company: dict[int, list[int]] = {}
        for r in records:
            by_company.setdefault(r.company_id, []).append(r.id)
        for company_id, ids in by_company.items():
            forget(company_id, kind, ids)
    insert_rows(rows_for(kind, records))


def reindex_company(company_id: int, batch: int = 2000) -> int:
    """Rebuild a company's words from its records (``crm reindex``); returns the records."""
    SearchTerm.scoped_delete(company_id).execute()
    total = 0
    for kind, model in MODELS.items():
        last = 0
        while True:
            chunk = list(
                model.scoped(company_id).where(model.id > last).order_by(model.id).limit(batch)
            )
            if not chunk:
                break
            index(kind, chunk, fresh=True)
            total += len(chunk)
            last = chunk[-1].id
    return total


# --- matching ---------------------------------------------------------------------------------


def _upper(prefix: str) -> str:
    """The first string after every string that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _word_matches(company_id: int, codes: list[str], word: str) -> Any:
    t = SearchTerm
    return (
        t.scoped(
            company_id,
            t.kind,
            t.record_id,
            fn.MAX(t.weight + Case(None, [(t.term == word, 1)], 0)).alias("score"),
        )
        .where(t.kind.in_(codes) & (t.term >= word) & (t.term < _upper(word)))
        .group_by(t.kind, t.record_id)
    )


@dataclass(frozen=True)
class Hit:
    kind: str
    id: int
    score: int


def match(
    company_id: int,
    text: str,
    kinds: Sequence[str] = tuple(KINDS),
    *,
    limit: int = 10,
    offset: int = 0,
) -> list[Hit]:
    """The records of one company whose words the typed words start, best match first."""
    words = query_words(text)
    if not words:
        return []
    codes = [KINDS[k] for k in kinds]
    if len(words) == 1:
        return _one_word(company_id, codes, words[0], limit, offset)
    else:
        union = _word_matches(company_id, codes, words[0])
        for word in words[1:]:
            union = union.union_all(_word_matches(company_id, codes, word))
        sub = union.alias("m")
        total = fn.SUM(sub.c.score)
        rows = (
            # reads only the scoped word matches ``m``, not the table
            Select([sub], [sub.c.kind, sub.c.record_id, total])
            .group_by(sub.c.kind, sub.c.record_id)
            .having(fn.COUNT(sub.c.record_id) == len(words))
            .order_by(total.desc(), sub.c.kind, sub.c.record_id.desc())
            .limit(limit)
            .offset(offset)
            .tuples()
            .bind(database)
        )
    return [Hit(_KIND_OF_CODE[code], int(rid), int(score)) for code, rid, score in rows]


def one_word_query(company_id: int, codes: list[str], word: str) -> Any:
    """The index rows a typed word starts, best first (``bench/suggest.py`` shows its plan)."""
    t = SearchTerm
    score = t.weight + Case(None, [(t.term == word, 1)], 0)
    return (
        t.scoped(company_id, t.kind, t.record_id, score)
        .where(t.kind.in_(codes) & (t.term >= word) & (t.term < _upper(word)))
        .order_by(score.desc(), t.kind, t.record_id.desc())
    )


def _one_word(company_id: int, codes: list[str], word: str, limit: int, offset: int) -> list[Hit]:
    """One typed word (every type-ahead keystroke): the matching index rows best first,
    without grouping them by record. A record's best row comes before its others, so the
    first ``limit + offset`` records met in that order are the answer; a record has a handful
    of words, so a few times as many rows hold them (read more in the rare case they do not).
    Sorting with a LIMIT keeps only the top rows in memory, where a GROUP BY would first
    aggregate every match of a two-letter prefix (thousands in a big workspace)."""
    wanted = limit + offset
    batch = wanted * 8
    while True:
        rows = list(one_word_query(company_id, codes, word).limit(batch).tuples())
        seen: dict[tuple[str, int], int] = {}
        for code, rid, points in rows:
            seen.setdefault((code, int(rid)), int(points))
            if len(seen) == wanted:
                break
        if len(seen) == wanted or len(rows) < batch:
            break
        batch *= 4
    ranked = list(seen.items())[offset:wanted]
    return [Hit(_KIND_OF_CODE[code], rid, points) for (code, rid), points in ranked]


def matching_ids(company_id: int, kind: str, word: str, weight: int) -> Any:
    """Ids of ``kind`` records with exactly ``word`` at ``weight`` (a subquery): the
    duplicate check's candidates ("a close name at the same company")."""
    t = SearchTerm
    return t.scoped(company_id, t.record_id).where(
        (t.kind == KINDS[kind]) & (t.term == word) & (t.weight == weight)
    )


def records_of(company_id: int, hits: Sequence[Hit]) -> dict[tuple[str, int], Any]:
    """The records behind ``hits``, one query per kind, still inside the company."""
    found: dict[tuple[str, int], Any] = {}
    for kind, model in MODELS.items():
        ids = [h.id for h in hits if h.kind == kind]
        if ids:
            for r in model.scoped(company_id).where(model.id.in_(ids)):
                found[(kind, r.id)] = r
    return found


@dataclass(frozen=True)
class Found:
    kind: str
    record: Any
    score: int


MAX_PAGE = 100


def find_records(
    actor: Actor,
    text: str,
    *,
    kinds: Sequence[str] = tuple(KINDS),
    limit: int = 10,
    offset: int = 0,
) -> list[Found]:
    """``/crm find``, the type-ahead and the API: the actor's company's records matching
    ``text`` (see the module docstring), best match first."""
    limit = parse_int(limit, "limit", 1, MAX_PAGE)
    offset = parse_int(offset, "offset", 0)
    unknown = [k for k in kinds if k not in KINDS and k != "segment"]
    if unknown:
        raise ValidationError("kinds", f"{unknown[0]!r} is not searchable", hint="lead, customer")
    if not isinstance(text, str) or not query_words(text):
        raise ValidationError(
            "words", "give a word of a name, email, phone or company", hint="/crm find jane acme"
        )
    segments = _segments(actor, text) if "segment" in kinds else []
    kinds = [k for k in kinds if k != "segment"]
    if not kinds:
        return segments[offset : offset + limit]
    hits = match(actor.company_id, text, kinds, limit=limit, offset=offset)
    records = records_of(actor.company_id, hits)
    found = [
        Found(h.kind, records[(h.kind, h.id)], h.score) for h in hits if (h.kind, h.id) in records
    ]
    return (segments + found)[:limit] if offset == 0 else found


MAX_SEGMENTS = 1000


def _segments(actor: Actor, text: str) -> list[Found]:
    """Segments by the start of a word of their name. Not indexed: a company keeps dozens
    of segments, not thousands, so reading their names is cheaper than keeping words."""
    words = query_words(text)
    found = []
    for segment in (
        CustomerSegment.scoped(
            actor, CustomerSegment.id, CustomerSegment.name, CustomerSegment.company
        )
        .order_by(CustomerSegment.id.desc())
        .limit(MAX_SEGMENTS)
    ):
        have = normal_words(segment.name)
        if all(any(h.startswith(w) for h in have) for w in words):
            exact = sum(w in have for w in words)
            found.append(Found("segment", segment, NAME * len(words) + exact))
    return sorted(found, key=lambda f: -f.score)
