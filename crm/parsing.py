"""Value parsers shared by the Slack command parser and the JSON API.

Both entrypoints receive loosely typed values (whatever a member typed after ``amount=``, or
whatever a shop's JSON body holds) and must turn them into one canonical form before a service
sees them, with the same rules and the same error wording on either side. Keeping the parsers
here, pure (no database, no Slack), means one set of tests covers both surfaces.

Contract of every ``parse_*`` function: it returns a value or raises
:class:`crm.errors.ValidationError`, whose message names the field, echoes (a shortened,
printable form of) the bad value and shows an accepted form, e.g.
``amount: "12x" is not an amount; try amount=12000 or amount=12k``. No other exception escapes,
whatever the input: ``None``, numbers, bytes, huge or odd unicode strings. Echoed values are not
escaped for Slack mrkdwn or HTML: that is the renderer's job.

Text input is normalised first (Unicode NFKC, so full-width digits count as digits and
non-breaking spaces as spaces; invisible format characters such as zero-width spaces, which Slack clients paste, are
removed; surrounding whitespace is stripped).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from functools import cache
from zoneinfo import ZoneInfo

import phonenumbers
from babel import Locale, UnknownLocaleError
from babel.numbers import format_decimal, get_currency_symbol, list_currencies
from dateutil.relativedelta import relativedelta

from crm.clock import to_utc, utcnow
from crm.errors import ValidationError

__all__ = [
    "MAX_MONEY",
    "REF_PREFIX",
    "Ref",
    "format_money",
    "parse_choice",
    "parse_date",
    "parse_datetime",
    "parse_duration",
    "parse_email",
    "parse_int",
    "parse_money",
    "parse_percent",
    "parse_period",
    "parse_phone",
    "parse_ref",
]

# --------------------------------------------------------------------------------------------
# shared helpers

_RAW_LIMIT = 1000  # longer input is refused before any normalisation work is spent on it
_SHOW_LIMIT = 40  # how much of a bad value an error message echoes
_INT64_MAX = 2**63 - 1  # what a BIGINT column holds; ids and counts beyond it are nonsense


def _show(value: object) -> str:
    """A short, printable, quoted echo of a bad value, so a message never carries control
    characters, a megabyte of text or a Python repr nobody asked for."""
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, bytes | bytearray):
        text = repr(bytes(value[: _SHOW_LIMIT * 2]))
    elif isinstance(value, bool) or value is None:
        text = str(value).lower()
    elif isinstance(value, int | float | Decimal):
        try:
            text = str(value)
        except ValueError:  # ints beyond sys.get_int_max_str_digits()
            text = "a very large number"
    else:
        text = type(value).__name__
    text = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text[:200])
    if len(text) > _SHOW_LIMIT:
        text = text[: _SHOW_LIMIT - 1] + "…"
    return f'"{text}"'


def _invalid(field: str, value: object, what: str, hint: str) -> ValidationError:
    return ValidationError(field, f"{_show(value)} is not {what}", hint=hint)


def _clean(raw: str) -> str:
    """NFKC-normalise, drop invisible format characters, strip. Why NFKC: members paste from
    phones and spreadsheets (full-width digits, non-breaking spaces, the Kelvin sign instead of
    K), and all of those mean the plain ASCII a parser expects."""
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return text.strip()


def _text(
    value: object, field: str, what: str, hint: str, *, limit: int = 100, numbers: bool = False
) -> str:
    """Turn ``value`` into cleaned text or refuse it.

    ``numbers`` lets ints and integral floats through as their decimal text, because JSON
    clients send ``"probability": 40`` as often as ``"40"``. Booleans never count as numbers
    (``True`` is an int in Python, not a probability).
    """
    if value is None:
        raise ValidationError(field, "a value is required", hint=hint)
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > 10**30:
            raise ValidationError(field, f"{_show(value)} is too large", hint=hint)
        return str(value)
    if numbers and isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")) or not value.is_integer():
            raise _invalid(field, value, what, hint)
        if abs(value) > 1e30:
            raise ValidationError(field, f"{_show(value)} is too large", hint=hint)
        return str(int(value))
    if not isinstance(value, str):
        raise _invalid(field, value, what, hint)
    if len(value) > _RAW_LIMIT:
        raise ValidationError(field, f"{_show(value)} is too long", hint=hint)
    text = _clean(value)
    if not text:
        raise ValidationError(field, "a value is required", hint=hint)
    if len(text) > limit:
        raise ValidationError(field, f"{_show(value)} is too long", hint=hint)
    return text


def _join_or(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"


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


# --------------------------------------------------------------------------------------------
# dates and times

_DAY_START = time(9, 0)
"""A bare date means the start of the working day: a follow-up due "tomorrow" should remind
the member in the morning, not at midnight."""
_TONIGHT = time(20, 0)
_MIN_YEAR, _MAX_YEAR = 1900, 2200

_WEEKDAYS = {
    "mon": 0, "monday": 0,
    "tue": 1, "tues": 1, "tuesday": 1,
    "wed": 2, "weds": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3,
    "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5,
    "sun": 6, "sunday": 6,
}  # fmt: skip
_TIME_WORDS = {
    "noon": time(12, 0),
    "midday": time(12, 0),
    "midnight": time(0, 0),
    "morning": time(9, 0),
    "afternoon": time(14, 0),
    "evening": time(18, 0),
}
_UNITS = {
    "minutes": "minutes", "minute": "minutes", "mins": "minutes", "min": "minutes",
    "m": "minutes",
    "hours": "hours", "hour": "hours", "hrs": "hours", "hr": "hours", "h": "hours",
    "days": "days", "day": "days", "d": "days",
    "weeks": "weeks", "week": "weeks", "wks": "weeks", "wk": "weeks", "w": "weeks",
    "months": "months", "month": "months", "mos": "months", "mo": "months",
    "years": "years", "year": "years", "yrs": "years", "yr": "years", "y": "years",
}  # fmt: skip
_UNIT_ALT = "|".join(sorted(_UNITS, key=len, reverse=True))
_REL_PART = rf"(?P<n>\d{{1,6}}\s*|an\s+|a\s+)(?P<unit>{_UNIT_ALT})"
_REL_PART_RE = re.compile(_REL_PART, re.ASCII)
_REL_PARTS = _REL_PART.replace("?P<n>", "?:").replace("?P<unit>", "?:")
_REL_SEP = r"(?:\s*,\s*|\s+)?(?:and\s+)?"  # one way to split "1h, 30m" / "1 day and 2 hours"
_REL_RE = re.compile(
    rf"(?P<in>in\s+)?(?P<parts>{_REL_PARTS}(?:{_REL_SEP}{_REL_PARTS})*)(?P<ago>\s+ago)?",
    re.ASCII,
)
_TIME_RE = (
    r"(?:(?P<h>\d{1,2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2}))?)?\s*(?P<ap>a\.?m\.?|p\.?m\.?)"
    r"|(?P<h24>\d{1,2}):(?P<mi24>\d{2})(?::(?P<s24>\d{2}))?"
    r"|(?P<word>" + "|".join(_TIME_WORDS) + "))"
)
_TIME_ONLY_RE = re.compile(rf"(?:at\s+)?{_TIME_RE}", re.ASCII)
_DATE_THEN_TIME_RE = re.compile(rf"(?P<date>.+?),?\s+(?:at\s+|@\s*)?{_TIME_RE}", re.ASCII)
_TIME_THEN_DATE_RE = re.compile(rf"(?:at\s+)?{_TIME_RE},?\s+(?:on\s+)?(?P<date>.+)", re.ASCII)
_ISO_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_ISO_DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,6})?)?\s*(?:z|utc|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII,
)
_WEEKDAY_RE = re.compile(r"(?:(?P<which>next|this|last|on)\s+)?(?P<day>[a-z]+)")


class _NotADate(Exception):
    """Internal: the grammar did not match; turned into a ValidationError at the boundary."""


def _zone(tz: object) -> tzinfo:
    if tz in ("UTC", "utc", "Etc/UTC", None):
        return UTC
    try:
        return ZoneInfo(str(tz))
    except Exception:  # ZoneInfoNotFoundError, ValueError, OSError on odd keys
        raise ValidationError(
            "tz", f"{_show(tz)} is not a time zone", hint="tz=Africa/Lusaka or tz=UTC"
        ) from None


def _time_from(match: re.Match[str]) -> time:
    if match["word"]:
        return _TIME_WORDS[match["word"]]
    if match["ap"]:
        hour, minute, second = int(match["h"]), int(match["mi"] or 0), int(match["s"] or 0)
        if not 1 <= hour <= 12:
            raise _NotADate
        hour = hour % 12 + (12 if match["ap"].startswith("p") else 0)
    else:
        hour, minute, second = int(match["h24"]), int(match["mi24"]), int(match["s24"] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise _NotADate
    return time(hour, minute, second)


def _relative_amounts(parts: str) -> dict[str, int]:
    amounts = dict.fromkeys(("minutes", "hours", "days", "weeks", "months", "years"), 0)
    for part in _REL_PART_RE.finditer(parts):
        number = part["n"].strip()
        count = 1 if number in ("a", "an") else int(number)
        amounts[_UNITS[part["unit"]]] += count
    return amounts


def _calendar(amounts: dict[str, int], sign: int) -> relativedelta:
    return relativedelta(
        years=sign * amounts["years"],
        months=sign * amounts["months"],
        days=sign * (amounts["days"] + 7 * amounts["weeks"]),
    )


def _date_word(text: str, today: date, *, with_time: bool = False) -> tuple[date, time | None]:
    """A date expression -> (local date, default time or None for "keep now's time")."""
    if with_time and text == "this":  # "this morning", "this afternoon"
        return today, None
    iso = _ISO_DATE_RE.fullmatch(text)
    if iso:
        return date(int(iso[1]), int(iso[2]), int(iso[3])), _DAY_START
    simple = {
        "today": (today, _DAY_START),
        "tonight": (today, _TONIGHT),
        "tomorrow": (today + timedelta(days=1), _DAY_START),
        "tmrw": (today + timedelta(days=1), _DAY_START),
        "yesterday": (today - timedelta(days=1), _DAY_START),
        "next week": (today + timedelta(days=7 - today.weekday()), _DAY_START),
        "next month": (today.replace(day=1) + relativedelta(months=1), _DAY_START),
    }
    if text in simple:
        return simple[text]
    rel = _REL_RE.fullmatch(text)
    if rel and not (rel["in"] and rel["ago"]):
        amounts = _relative_amounts(rel["parts"])
        if amounts["hours"] or amounts["minutes"]:
            raise _NotADate  # "in 2 hours at 3pm" contradicts itself
        return today + _calendar(amounts, -1 if rel["ago"] else 1), None
    weekday = _WEEKDAY_RE.fullmatch(text)
    if weekday and weekday["day"] in _WEEKDAYS:
        target = _WEEKDAYS[weekday["day"]]
        if weekday["which"] == "last":
            return today - timedelta(days=(today.weekday() - target) % 7 or 7), _DAY_START
        return today + timedelta(days=(target - today.weekday()) % 7 or 7), _DAY_START
    raise _NotADate


def _parse_moment(text: str, zone: tzinfo, now: datetime) -> datetime:
    """Text -> aware datetime (in ``zone`` or UTC). Raises _NotADate when nothing matches."""
    local_now = now.replace(tzinfo=UTC).astimezone(zone)
    today = local_now.date()
    text = re.sub(r"\s+", " ", text.lower())

    if text in ("now", "right now", "asap"):
        return local_now
    if _ISO_DATETIME_RE.fullmatch(text):
        iso = re.sub(r"\s*(utc|z)$", "+00:00", text).replace(",", ".").replace(" +", "+")
        iso = re.sub(r"\s*([+-]\d{2}(:?\d{2})?)$", r"\1", iso)
        try:
            moment = datetime.fromisoformat(iso.upper())
        except ValueError:
            raise _NotADate from None
        if moment.tzinfo is not None:
            return moment
        return moment.replace(tzinfo=zone)

    rel = _REL_RE.fullmatch(text)
    if rel and not (rel["in"] and rel["ago"]):
        amounts = _relative_amounts(rel["parts"])
        sign = -1 if rel["ago"] else 1
        wall = local_now.replace(tzinfo=None) + _calendar(amounts, sign)
        exact = timedelta(hours=amounts["hours"], minutes=amounts["minutes"]) * sign
        # calendar units move the wall clock (same local time across a DST switch),
        # hours and minutes are elapsed time
        return wall.replace(tzinfo=zone).astimezone(UTC) + exact

    clock = _TIME_ONLY_RE.fullmatch(text)
    if clock:
        return datetime.combine(today, _time_from(clock), tzinfo=zone)
    for pattern in (_DATE_THEN_TIME_RE, _TIME_THEN_DATE_RE):
        both = pattern.fullmatch(text)
        if both:
            try:
                day, _ = _date_word(both["date"], today, with_time=True)
            except _NotADate:
                continue
            return datetime.combine(day, _time_from(both), tzinfo=zone)
    day, default = _date_word(text, today)
    if default is None:
        return datetime.combine(day, local_now.timetz().replace(tzinfo=None), tzinfo=zone)
    return datetime.combine(day, default, tzinfo=zone)


def _moment(
    text: object, field: str, tz: str, now: datetime | None, hint: str
) -> tuple[datetime, tzinfo]:
    zone = _zone(tz)
    if isinstance(text, datetime):
        moment = text if text.tzinfo is not None else text.replace(tzinfo=UTC)
    elif isinstance(text, date):
        moment = datetime.combine(text, _DAY_START, tzinfo=zone)
    else:
        raw = _text(text, field, "a date", hint, limit=60)
        reference = utcnow() if now is None else to_utc(now)
        try:
            moment = _parse_moment(raw, zone, reference)
        except (_NotADate, ValueError, OverflowError):
            raise _invalid(field, text, "a date", hint) from None
    try:
        local = moment.astimezone(zone)
    except (ValueError, OverflowError):
        raise _invalid(field, text, "a date", hint) from None
    if not _MIN_YEAR <= local.year <= _MAX_YEAR:
        raise ValidationError(
            field, f"{_show(text)} is not a date between {_MIN_YEAR} and {_MAX_YEAR}", hint=hint
        )
    return local, zone


def parse_datetime(
    text: str | datetime | date,
    field: str = "due",
    tz: str = "UTC",
    now: datetime | None = None,
) -> datetime:
    """Read a moment typed by a member in their own time zone; return naive UTC for storage.

    Accepted: ISO (``2026-03-15``, ``2026-03-15 14:30``, ``2026-03-15T14:30:00Z``, an explicit
    offset wins over ``tz``) and everyday words, case-insensitive: ``now``, ``today``,
    ``tonight`` (20:00), ``tomorrow``, ``yesterday``, weekday names (``fri``, ``friday``,
    ``next/this/last monday``), ``next week`` (Monday), ``next month`` (the 1st), ``in 3 days``,
    ``in 2 hours``, ``in 30m``, ``in an hour``, ``2 days ago``, a time alone (``3pm``,
    ``15:30``, ``noon``) meaning today, and a date word plus a time (``tomorrow 3pm``,
    ``next monday 10:00``, ``fri at 9:30am``, ``2026-03-15 3pm``). ``in`` is optional (``1d``).

    Rules, kept deliberately simple so members can predict them:

    * A bare date (``tomorrow``, ``fri``, ``2026-03-15``, ``next week``) means **09:00 local**
      that day: a follow-up due "tomorrow" is due at the start of the working day. ``today``
      is therefore 09:00 today even when typed in the afternoon, and ``3pm`` is today even
      if 3pm has passed: nothing rolls forward on its own.
    * A weekday name means the next such day, strictly after today: ``fri`` typed on a Friday
      is next week's Friday. ``next fri`` and ``this fri`` mean the same; ``last fri`` is the
      previous one.
    * ``in N days/weeks/months`` keeps the current local wall-clock time (across a DST switch
      too); ``in N hours/minutes`` is elapsed time. ``m`` is minutes here (``in 30m``), unlike
      :func:`parse_period` where it is months.
    * Wall-clock times are read in the IANA zone ``tz`` with zoneinfo: a time skipped by a
      spring-forward switch lands an hour later, a repeated autumn time means its first
      occurrence.

    ``now`` (naive UTC, the storage convention; an aware one is converted) defaults to
    :func:`crm.clock.utcnow`, so tests can freeze time. Years outside 1900-2200 are refused as
    typos. Microseconds are dropped, like everywhere else in storage.
    """
    hint = f'{field}=2026-03-15, {field}=tomorrow or {field}="in 3 days"'
    local, _ = _moment(text, field, tz, now, hint)
    return local.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def parse_date(
    text: str | datetime | date,
    field: str = "date",
    tz: str = "UTC",
    now: datetime | None = None,
) -> date:
    """The local calendar date of what :func:`parse_datetime` reads, for fields that are days,
    not moments (an expected close date, an order date): ``today`` is the member's today even
    when it is already tomorrow in UTC."""
    if isinstance(text, date) and not isinstance(text, datetime):
        if not _MIN_YEAR <= text.year <= _MAX_YEAR:
            hint = f"{field}=2026-03-15, {field}=today or {field}=yesterday"
            raise ValidationError(
                field,
                f"{_show(str(text))} is not a date between {_MIN_YEAR} and {_MAX_YEAR}",
                hint=hint,
            )
        return text
    hint = f'{field}=2026-03-15, {field}=today or {field}="in 3 days"'
    local, _ = _moment(text, field, tz, now, hint)
    return local.date()


# --------------------------------------------------------------------------------------------
# durations and periods

_MAX_DURATION = 24 * 60
_DURATION_RE = re.compile(
    r"(?:(?P<h>[0-9]{1,4}(?:\.[0-9]{1,4})?|\.[0-9]{1,4})\s*(?:hours|hour|hrs|hr|h))?"
    r"\s*(?:(?P<m>[0-9]{1,5})\s*(?:minutes|minute|mins|min|m))?"
)
_CLOCK_DURATION_RE = re.compile(r"(?P<h>[0-9]{1,2}):(?P<m>[0-5][0-9])")


def parse_duration(text: str | int, field: str = "duration") -> int:
    """How long a call or meeting took, in whole minutes (what the communication stores).

    ``15m``, ``1h30m``, ``1h 30 min``, ``1h``, ``1.5h``, ``2 h``, ``1:30`` and a bare number,
    which means minutes because that is what people log (``90``). Between 1 minute and 24
    hours; fractions that do not come out as whole minutes (``1.01h``) are refused rather than
    rounded.
    """
    hint = f"{field}=15m, {field}=1h30m or {field}=90"
    what = "a duration"
    raw = _text(text, field, what, hint, limit=30, numbers=True).lower()
    minutes: Decimal
    if re.fullmatch(r"-?[0-9]{1,6}", raw):
        minutes = Decimal(raw)
    elif clock := _CLOCK_DURATION_RE.fullmatch(raw):
        minutes = Decimal(int(clock["h"]) * 60 + int(clock["m"]))
    else:
        match = _DURATION_RE.fullmatch(raw)
        if not match or not (match["h"] or match["m"]):
            raise _invalid(field, text, what, hint)
        minutes = Decimal(match["h"] or 0) * 60 + Decimal(match["m"] or 0)
    if minutes != minutes.to_integral_value():
        raise ValidationError(field, f"{_show(text)} is not a whole number of minutes", hint=hint)
    if not 1 <= minutes <= _MAX_DURATION:
        raise ValidationError(
            field, f"{_show(text)} is not between 1 minute and 24 hours", hint=hint
        )
    return int(minutes)


_MAX_PERIOD = 3650
_PERIOD_UNITS = {
    "": 1, "d": 1, "day": 1, "days": 1,
    "w": 7, "wk": 7, "wks": 7, "week": 7, "weeks": 7,
    "m": 30, "mo": 30, "mos": 30, "month": 30, "months": 30,
    "y": 365, "yr": 365, "yrs": 365, "year": 365, "years": 365,
}  # fmt: skip
_PERIOD_RE = re.compile(
    r"(?P<n>[0-9]{1,5})\s*(?P<unit>" + "|".join(sorted(_PERIOD_UNITS, key=len, reverse=True)) + ")"
)


def parse_period(text: str | int, field: str = "period") -> int:
    """A look-back window for analytics, in days: ``90d``, ``90``, ``12w``, ``6m``, ``1y``.

    Here ``m`` is months (30 days; a year is 365), because nobody asks for a pipeline over
    minutes; a window only needs to be roughly a month, not calendar-exact. 1 day to 10 years.
    """
    hint = f"{field}=90d, {field}=12w or {field}=6m"
    what = "a period"
    raw = _text(text, field, what, hint, limit=20, numbers=True).lower()
    match = _PERIOD_RE.fullmatch(raw)
    if not match:
        raise _invalid(field, text, what, hint)
    days = int(match["n"]) * _PERIOD_UNITS[match["unit"]]
    if not 1 <= days <= _MAX_PERIOD:
        raise ValidationError(field, f"{_show(text)} is not between 1 day and 10 years", hint=hint)
    return days


# --------------------------------------------------------------------------------------------
# record references

REF_PREFIX: dict[str, str] = {
    "lead": "L",
    "opportunity": "O",
    "customer": "C",
    "followup": "F",
    "segment": "S",
    "campaign": "M",
}
_REF_KIND = {letter: kind for kind, letter in REF_PREFIX.items()}
_REF_EXAMPLE = {
    "lead": "L12",
    "opportunity": "O7",
    "customer": "C3",
    "followup": "F9",
    "segment": "S2",
    "campaign": "M4",
}
_KIND_NAME = {"followup": "follow-up"}
_REF_RE = re.compile(r"(?P<letter>[a-z])(?P<id>[0-9]{1,19})", re.IGNORECASE)


@dataclass(frozen=True)
class Ref:
    """A typed record reference such as ``L12``: the short form members type and read in
    Slack, so a lead and a customer with the same id cannot be confused."""

    kind: str
    id: int

    def __post_init__(self) -> None:
        if self.kind not in REF_PREFIX:
            raise ValueError(f"unknown record kind {self.kind!r}")

    def __str__(self) -> str:
        return f"{REF_PREFIX[self.kind]}{self.id}"


def parse_ref(text: str | Ref, field: str = "ref", kinds: Iterable[str] | None = None) -> Ref:
    """Read ``L12``/``o7``/`` C3 `` into a :class:`Ref`.

    ``kinds`` narrows what the caller can use (a communication's subject is a lead, customer or
    opportunity), so a wrong kind is refused here with the accepted prefixes listed instead of
    surfacing later as "not found". Unknown names in ``kinds`` are a programming error
    (ValueError). Whether the record exists, and in which company, is the service's business.
    """
    allowed = tuple(REF_PREFIX) if kinds is None else tuple(kinds)
    unknown = [kind for kind in allowed if kind not in REF_PREFIX]
    if unknown or not allowed:
        raise ValueError(f"unknown record kinds {unknown or allowed!r}")
    ordered = [kind for kind in REF_PREFIX if kind in allowed]
    hint = _join_or([_REF_EXAMPLE[kind] for kind in ordered])
    if isinstance(text, Ref):
        ref = text
    else:
        raw = _text(text, field, "a record reference", hint, limit=25)
        match = _REF_RE.fullmatch(raw)
        letter = match["letter"].upper() if match else ""
        if not match or letter not in _REF_KIND or int(match["id"]) < 1:
            raise _invalid(field, text, "a record reference", hint)
        if int(match["id"]) > _INT64_MAX:
            raise _invalid(field, text, "a record reference", hint)
        ref = Ref(_REF_KIND[letter], int(match["id"]))
    if ref.kind not in ordered:
        names = [_KIND_NAME.get(kind, kind) for kind in ordered]
        article = "an" if ref.kind == "opportunity" else "a"
        raise ValidationError(
            field,
            f"{_show(str(ref))} is {article} {_KIND_NAME.get(ref.kind, ref.kind)}; "
            f"here it must be {'an' if names[0][0] in 'aeiou' else 'a'} {_join_or(names)}",
            hint=hint,
        )
    return ref


# --------------------------------------------------------------------------------------------
# contact details

_SLACK_MAILTO_RE = re.compile(r"<mailto:(?P<target>[^|>]*)(?:\|[^>]*)?>", re.IGNORECASE)
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL_RE = re.compile(
    rf"(?P<local>{_ATEXT}+(?:\.{_ATEXT}+)*)"
    rf"@(?P<domain>(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}}))",
    re.ASCII,
)


def parse_email(text: str, field: str = "email") -> str:
    """Canonical email address: Slack's ``<mailto:a@b.c|a@b.c>`` wrapper (and a bare
    ``mailto:``) removed, checked for a sane ``local@domain.tld`` shape, **lower-cased as a
    whole**.

    Lower-casing the local part too is a decision: RFC 5321 lets it be case-sensitive, but no
    mailbox provider a sales team meets treats it so, and duplicate detection ("same email")
    needs one canonical form. Only ASCII addresses are accepted (no internationalised
    mailboxes); quoted local parts, IP-literal domains and comments are refused as not sane.
    No DNS or network lookups: deliverability is the mail server's problem.
    """
    hint = f"{field}=name@example.com"
    what = "an email address"
    raw = _text(text, field, what, hint, limit=600)
    wrapped = _SLACK_MAILTO_RE.fullmatch(raw)
    if wrapped:
        raw = wrapped["target"].strip()
    elif raw.startswith("<") and raw.endswith(">"):
        raw = raw[1:-1].strip()
    if raw.lower().startswith("mailto:"):
        raw = raw[len("mailto:") :].strip()
    address = raw.lower()
    match = _EMAIL_RE.fullmatch(address)
    if not match or len(address) > 254 or len(match["local"]) > 64:
        raise _invalid(field, text, what, hint)
    return address


_SLACK_TEL_RE = re.compile(r"<tel:(?P<target>[^|>]*)(?:\|[^>]*)?>", re.IGNORECASE)


def parse_phone(text: str | int, field: str = "phone", region: str = "ZM") -> str:
    """Canonical E.164 phone number (``+260971234567``), so the same phone typed two ways is
    one phone for duplicate detection and SMS sending.

    ``region`` (ISO country code) reads numbers typed without a country code, i.e. the
    company's country. Numbers that libphonenumber does not consider valid are refused, and so
    are extensions, which E.164 cannot carry: storing the number without them would silently
    lose data.
    """
    hint = f"{field}=+260971234567"
    what = "a phone number"
    raw = _text(text, field, what, hint, limit=64, numbers=True)
    wrapped = _SLACK_TEL_RE.fullmatch(raw)
    if wrapped:
        raw = wrapped["target"].strip()
    if raw.lower().startswith("tel:"):
        raw = raw[4:].strip()
    try:
        number = phonenumbers.parse(raw, region.upper() if isinstance(region, str) else None)
        valid = phonenumbers.is_valid_number(number)
        formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except Exception:  # NumberParseException, and whatever odd input makes the port throw
        raise _invalid(field, text, what, hint) from None
    if not valid:
        raise _invalid(field, text, what, hint)
    if number.extension:
        raise ValidationError(
            field, f"{_show(text)} has an extension, which cannot be stored", hint=hint
        )
    return formatted


# --------------------------------------------------------------------------------------------
# small scalars


def parse_percent(text: str | int, field: str = "probability") -> int:
    """A whole percentage 0-100 (``40`` or ``40%``): probabilities are whole numbers in the
    data model, and "0.4" is more likely a mistake than 0.4%, so fractions are refused."""
    hint = f"{field}=40 or {field}=40%"
    what = "a percentage"
    raw = _text(text, field, what, hint, limit=10, numbers=True)
    match = re.fullmatch(r"(-?[0-9]{1,3})\s*%?", raw)
    if not match:
        raise _invalid(field, text, what, hint)
    value = int(match[1])
    if not 0 <= value <= 100:
        raise ValidationError(field, f"{_show(text)} is not between 0 and 100", hint=hint)
    return value


def _normal_choice(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def parse_choice(text: str, field: str, choices: Sequence[str]) -> str:
    """One of ``choices``, returned exactly as spelt in ``choices``.

    Case-insensitive, and spaces or hyphens count as underscores (``cold call`` and
    ``Cold-Call`` are ``cold_call``) because that is how people type them; but no prefix
    matching: ``q`` silently becoming ``qualified`` is worse than asking again.
    """
    options = list(choices)
    hint = f"{field}={options[0]}" if options else field
    message_tail = f"one of {', '.join(options)}" if options else "allowed here"
    raw = _text(text, field, message_tail, hint, limit=60)
    wanted = _normal_choice(raw)
    for option in options:
        if _normal_choice(option) == wanted:
            return option
    raise _invalid(field, text, message_tail, hint)


def parse_int(
    text: str | int,
    field: str,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """A whole number within optional bounds (``1,000`` and ``+5`` are fine).

    Without a ``maximum`` the value must still fit a signed 64-bit column, so a runaway number
    is a validation error here rather than a database error later.
    """
    example = 12
    if minimum is not None:
        example = max(example, minimum)
    if maximum is not None:
        example = min(example, maximum)
    hint = f"{field}={example}"
    what = "a whole number"
    raw = _text(text, field, what, hint, limit=30, numbers=True)
    match = re.fullmatch(r"([+-]?)\s*([0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,31})", raw)
    if not match:
        raise _invalid(field, text, what, hint)
    value = int(match[2].replace(",", ""))
    if match[1] == "-":
        value = -value
    low = -_INT64_MAX - 1 if minimum is None else minimum
    high = _INT64_MAX if maximum is None else maximum
    if not low <= value <= high:
        if minimum is not None and maximum is not None:
            detail = f"is not between {minimum} and {maximum}"
        elif value < low:
            detail = f"is less than {low}"
        else:
            detail = f"is more than {high}"
        raise ValidationError(field, f"{_show(text)} {detail}", hint=hint)
    return value
