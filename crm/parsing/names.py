"""The forms people's and companies' names are compared in (the duplicate check, SPEC 5.1).

Kept here rather than in :mod:`crm.duplicates` because the models store one of them:
:attr:`crm.models.Lead.company_key` is :func:`normal_company` of the company name, so "the same
company" is an indexed equality instead of a read of every row that shares a word with it.
"""

from __future__ import annotations

import re
import unicodedata

COMPANY_KEY_LENGTH = 200  # the column's width; a company name is at most 200 characters
LEGAL_FORMS = frozenset(
    "inc incorporated ltd limited llc llp plc co company corp corporation gmbh ag sa sas srl "  # noqa: SIM905
    "bv nv pty pvt oy ab as".split()
)
_WORD_RE = re.compile(r"[^\W_]+")


def normal_name(text: str | None) -> str:
    """Lower-case words of ``text`` without punctuation: the form names are compared in."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD_RE.findall(text))


def normal_company(text: str | None) -> str:
    """Like :func:`normal_name`, without a trailing legal form ("Acme Ltd" -> "acme")."""
    words = normal_name(text).split()
    while len(words) > 1 and words[-1] in LEGAL_FORMS:
        words.pop()
    return " ".join(words)


def company_key(text: str | None) -> str | None:
    """What :attr:`~crm.models.Lead.company_key` holds: the normal company name, ``None``
    without one (casefolding can lengthen a name, "ß" -> "ss": cut to the column)."""
    return normal_company(text)[:COMPANY_KEY_LENGTH] or None
