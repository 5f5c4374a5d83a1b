"""Dates and times in a member's time zone, durations and periods."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from crm.clock import to_utc, utcnow
from crm.errors import ValidationError
from crm.parsing.base import _invalid, _show, _text

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
