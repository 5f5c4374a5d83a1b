"""Email addresses and phone numbers (E.164 via phonenumbers)."""

from __future__ import annotations

import re

import phonenumbers

from crm.errors import ValidationError
from crm.parsing.base import _invalid, _show, _text

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
