"""Money: ``50000``, ``50,000``, ``50k``, ``1.2m``, ``K50,000``; formatting with babel."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from functools import cache

from babel import Locale, UnknownLocaleError
from babel.numbers import format_decimal, get_currency_symbol, list_currencies

from crm.errors import ValidationError
from crm.parsing.base import _invalid, _show, _text

# --------------------------------------------------------------------------------------------
# money

MAX_MONEY = Decimal(10) ** 13
"""Anything above this is a typo (an extra ``k``), not a deal; refusing it also keeps sums of
amounts far inside the BIGINT of cents that ``MoneyField`` stores."""

_CENT = Decimal("0.01")
_MULTIPLIER = {
    "": Decimal(1),
    "k": Decimal(1000),
    "m": Decimal(10) ** 6,
    "mn": Decimal(10) ** 6,
    "b": Decimal(10) ** 9,
    "bn": Decimal(10) ** 9,
}
_MONEY_RE = re.compile(
    r"""
    (?P<cur>[^\s\d.,+\-]{1,5}?)? \s*
    (?P<num> [0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)? | [0-9]+(?:\.[0-9]*)? | \.[0-9]+ )
    \s* (?P<mult>k|mn|m|bn|b)?
    (?: \s* (?P<code>[a-z]{3}) )?
    """,
    re.VERBOSE | re.IGNORECASE,
)
_MINUS_RE = re.compile(r"^([^0-9]*?)\s*[-\u2212]\s*")


@cache
def _currency_prefixes() -> frozenset[str]:
    """Every ISO 4217 code babel knows, plus the symbols English renders (``$``, ``CA$``, ``€``)
    and the local ones members type for the kwacha, upper-cased for comparison."""
    codes = set(list_currencies())
    symbols = {get_currency_symbol(code, "en") for code in codes}
    local = {"K", "ZK", "KSH", "US$", "R", "₦", "₵", "₹"}
    return frozenset(s.upper() for s in codes | symbols | local)


def parse_money(text: str | int | Decimal, field: str = "amount") -> Decimal:
    """Read an amount the way people write it in chat: ``50k``, ``1.2m``, ``K50,000``,
    ``$1,200.50``, ``USD 12k``.

    Money is stored exactly (never float), so the result is a ``Decimal`` with two places. A
    currency symbol or ISO code before (or a code after) the number is accepted and dropped:
    amounts are in the company currency and nothing here converts; the prefix is allowed only
    because people copy amounts with it. ``k``/``m``/``bn`` are thousand/million/billion (any
    case; ``K`` *before* the number is the kwacha). Commas are thousands separators only and
    must group by three, so a European ``1,5`` is refused rather than read as 15.

    Refused: negatives, NaN/infinity, more than two decimal places once the suffix is applied
    (``1.2345k`` is fine, ``1.23456k`` is not), and anything above :data:`MAX_MONEY`. Floats
    from JSON are read through their shortest repr (``1200.5`` -> ``1200.50``), so they are
    exact as typed.
    """
    hint = f"{field}=12000 or {field}=12k"
    what = "an amount"
    if isinstance(text, Decimal):
        return _check_money(text, text, field, hint)
    if isinstance(text, float):
        return _check_money(_float_decimal(text), text, field, hint)
    if isinstance(text, int) and not isinstance(text, bool):
        if text > MAX_MONEY:
            raise ValidationError(field, f"{_show(text)} is too large", hint=hint)
        return _check_money(Decimal(text), text, field, hint)
    raw = _text(text, field, what, hint, limit=40)
    minus = _MINUS_RE.match(raw)
    if minus:
        rest = minus.group(1) + raw[minus.end() :]
        if _MONEY_RE.fullmatch(rest):
            raise ValidationError(field, f"{_show(text)} is negative", hint=hint)
        raise _invalid(field, text, what, hint)
    match = _MONEY_RE.fullmatch(raw)
    if not match:
        raise _invalid(field, text, what, hint)
    prefixes = _currency_prefixes()
    for currency in (match["cur"], match["code"]):
        if currency and currency.upper() not in prefixes:
            raise _invalid(field, text, what, hint)
    with localcontext() as ctx:
        ctx.prec = 100  # 40 input characters times 10**9 stays exact
        value = Decimal(match["num"].replace(",", "")) * _MULTIPLIER[(match["mult"] or "").lower()]
    return _check_money(value, text, field, hint)


def _float_decimal(value: float) -> Decimal:
    try:
        return Decimal(repr(value))
    except (InvalidOperation, ValueError):
        return Decimal("NaN")


def _check_money(value: Decimal, original: object, field: str, hint: str) -> Decimal:
    if not value.is_finite():
        raise _invalid(field, original, "an amount", hint)
    if value < 0:
        raise ValidationError(field, f"{_show(original)} is negative", hint=hint)
    if value > MAX_MONEY:
        raise ValidationError(field, f"{_show(original)} is too large", hint=hint)
    with localcontext() as ctx:
        ctx.prec = 100
        try:
            rounded = value.quantize(_CENT)
        except InvalidOperation:
            raise _invalid(field, original, "an amount", hint) from None
        if rounded != value:
            raise ValidationError(
                field, f"{_show(original)} has more than 2 decimal places", hint=hint
            )
        return abs(rounded)  # abs: -0.00 becomes 0.00


def format_money(amount: Decimal | int, currency: str = "ZMW", locale: str = "en") -> str:
    """Render an amount for a member: ``K50,000``, ``K1,200.50``, ``$1,200.50``.

    Whole amounts drop the ``.00`` because cards and digests are read at a glance; others show
    two decimals (rounded half up). The kwacha is written ``K`` as Zambians write it (babel's
    English data only knows ``ZMW``); other currencies use babel's symbol for ``locale``. An
    unknown locale falls back to English rather than breaking a card. In English the output
    reads back through :func:`parse_money` to the same value.
    """
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    if not value.is_finite():
        raise ValueError(f"cannot format {amount!r} as money")
    try:
        loc = Locale.parse(locale)
    except (ValueError, TypeError, UnknownLocaleError):
        loc = Locale.parse("en")
    code = (currency or "ZMW").upper()
    symbol = "K" if code == "ZMW" else get_currency_symbol(code, loc)
    with localcontext() as ctx:
        ctx.prec = 100
        value = value.quantize(_CENT, rounding=ROUND_HALF_UP)
        whole = value == value.to_integral_value()
    pattern = loc.currency_formats["standard"].pattern
    if whole:
        pattern = re.sub(r"\.0+", "", pattern)
    pattern = pattern.replace("¤", "'" + symbol.replace("'", "''") + "'")
    return format_decimal(value, format=pattern, locale=loc)
