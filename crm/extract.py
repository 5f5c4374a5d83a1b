"""Contact details in free text: what "Create lead from message" prefills (SPEC 5.2).

A Slack message about a prospect ("Hi, I'm Jane Doe from Acme, call me on 097 123 4567") holds
most of a lead already. :func:`extract_contact` finds the name, email address and phone number
in it so the member only has to check the New lead form, not retype it.

It is a *prefill*, so it guesses rather than refuses: it never raises, returns ``None`` for what
it cannot find, and every value it returns is already canonical (``parse_email``,
``parse_phone``), so the form shows exactly what will be stored. Pure text processing: no
database, no Slack.

Slack sends message text with its own markup (``<mailto:a@b.c|a@b.c>``, ``<tel:...|...>``,
``<https://...|label>``, ``<@U123>``) and with ``& < >`` typed by people escaped as entities;
both are undone first, in that order, so that a typed ``Jane <jane@x.io>`` reads as such.

Where a name comes from, best evidence first:
1. a labelled line (``Name: Jane Doe``, ``Contact - Jane Doe``);
2. the display name of an address (``Jane Doe <jane@x.io>``, ``Jane Doe (jane@x.io)``);
3. an introduction (``my name is ...``, ``I'm ...``, ``this is ...``);
4. a signature: the capitalised line right after a sign-off (``Best regards,``) or right
   before the line with the email address or phone number;
5. the address itself when it spells a name (``jane.doe@`` -> ``Jane Doe``).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import phonenumbers

from crm.errors import ValidationError
from crm.parsing import parse_email, parse_phone

__all__ = ["Contact", "extract_contact", "plain_text"]

MAX_TEXT = 20_000  # a message longer than this is a paste; its head holds the contact details
MAX_NAME = 200

_NAME_WORD = r"[A-ZÀ-Þ][A-Za-zÀ-ÿ'’.\-]*"
_PARTICLE = r"(?:van|von|de|der|da|di|du|del|la|le|bin|al)"
_NAME = rf"{_NAME_WORD}(?:\s+(?:{_PARTICLE}\s+){{0,2}}{_NAME_WORD}){{0,3}}"
_NAME_RE = re.compile(_NAME)
_LABEL_RE = re.compile(
    r"^\s*[*_]*(?:full\s+name|name|contact(?:\s+name)?|lead|client|customer)[*_]*\s*[:\-–]\s*"
    r"[*_]*(?P<name>[^\n*_]{2,200})",
    re.IGNORECASE | re.MULTILINE,
)
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
_DISPLAY_RE = re.compile(rf"(?P<name>{_NAME})\s*[<(\[]\s*(?P<email>{_EMAIL_RE.pattern})\s*[>)\]]")
_INTRO_RE = re.compile(
    rf"\b(?:my\s+name\s+is|[Ii]\s+am|[Ii]['’]m|this\s+is|[Ii]t['’]s)\s+(?P<name>{_NAME})",
    re.IGNORECASE,
)
_SIGN_OFF_RE = re.compile(
    r"^\s*(?:best|kind|warm|many|with)?\s*(?:regards|wishes|thanks|thank you|cheers|best|"
    r"sincerely|yours(?: sincerely| truly)?)\b[\s,.!-]*$",
    re.IGNORECASE,
)
_SLACK_MARKUP_RE = re.compile(r"<(?P<target>[^<>|]*)(?:\|(?P<label>[^<>]*))?>")
# words that look like names at the start of a line but are not (greetings, sign-offs, ...)
_NOT_NAMES = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "dear",
        "thanks",
        "thank",
        "regards",
        "best",
        "kind",
        "cheers",
        "sincerely",
        "yours",
        "good",
        "morning",
        "afternoon",
        "evening",
        "team",
        "all",
        "please",
        "note",
        "call",
        "email",
        "phone",
        "mobile",
        "tel",
        "meeting",
        "today",
        "tomorrow",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "from",
        "re",
        "fwd",
        "fw",
        "subject",
        "sent",
        "the",
        "new",
        "lead",
        "customer",
        "client",
        "contact",
        "sales",
        "info",
        "support",
        "office",
        "ltd",
        "limited",
        "inc",
        "llc",
        "plc",
    ]
)
_GENERIC_MAILBOXES = frozenset(
    [
        "info",
        "sales",
        "hello",
        "contact",
        "support",
        "admin",
        "office",
        "team",
        "noreply",
        "no-reply",
        "enquiries",
        "mail",
    ]
)


@dataclass(frozen=True)
class Contact:
    """What a message says about a person; ``None`` where it says nothing usable."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None


def plain_text(text: str) -> str:
    """Slack message text as a person reads it: markup unwrapped, entities decoded."""

    def unwrap(match: re.Match[str]) -> str:
        target, label = match["target"], match["label"]
        if target.startswith(("mailto:", "tel:")):
            return target.split(":", 1)[1]
        if target.startswith(("@", "!", "#")):
            return f"@{label}" if label and target.startswith("@") else (label or "")
        return label or target

    return html.unescape(_SLACK_MARKUP_RE.sub(unwrap, text))


def extract_contact(text: object, region: str = "ZM") -> Contact:
    """The name, email and phone in ``text`` (Slack markup or plain); never raises.

    ``region`` (the company's country) reads phone numbers written without a country code.
    """
    if not isinstance(text, str) or not text.strip():
        return Contact()
    clean = plain_text(text[:MAX_TEXT])
    email = _email(clean)
    phone = _phone(clean, email, region)
    return Contact(name=_name(clean, email, phone), email=email, phone=phone)


def _email(text: str) -> str | None:
    for match in _EMAIL_RE.finditer(text):
        try:
            return parse_email(match.group(0))
        except ValidationError:
            continue
    return None


def _phone(text: str, email: str | None, region: str) -> str | None:
    """The first valid number outside email addresses and links (digits in those are not
    phone numbers)."""
    scrubbed = _EMAIL_RE.sub(" ", text)
    scrubbed = re.sub(r"https?://\S+", " ", scrubbed)
    try:
        matches = phonenumbers.PhoneNumberMatcher(scrubbed, region.upper())
        for match in matches:
            try:
                return parse_phone(match.raw_string, "phone", region)
            except ValidationError:
                continue
    except Exception:  # odd input making the libphonenumber port throw: no phone, no crash
        return None
    return None


def _tidy(candidate: str) -> str | None:
    """A plausible person's name from a candidate string, or ``None``."""
    words = candidate.strip().strip(".,;:!-–").split()
    while words and words[-1].lower().strip(".,") in _NOT_NAMES:
        words.pop()  # "Jane Doe Sales" in a signature line keeps "Jane Doe"
    if not words or words[0].lower().strip(".,") in _NOT_NAMES:
        return None
    if len(words) > 5 or any(any(ch.isdigit() for ch in w) for w in words):
        return None
    name = " ".join(words)
    return name[:MAX_NAME] if len(name) >= 2 else None


def _name(text: str, email: str | None, phone: str | None) -> str | None:
    for match in _LABEL_RE.finditer(text):
        head = _NAME_RE.match(match["name"].strip())
        if head and (name := _tidy(head.group(0))):
            return name
    for match in _DISPLAY_RE.finditer(text):
        if (name := _tidy(match["name"])) is not None:
            return name
    for match in _INTRO_RE.finditer(text):
        head = _NAME_RE.match(match["name"])
        # an introduction must be capitalised: "I'm sure" is not a name
        if head and head.group(0)[0].isupper() and (name := _tidy(head.group(0))):
            return name
    if (name := _signature(text, email, phone)) is not None:
        return name
    return _from_address(email)


def _is_name_line(line: str) -> str | None:
    stripped = line.strip().strip("*_").strip()
    match = _NAME_RE.fullmatch(stripped.rstrip(",."))
    return _tidy(match.group(0)) if match and len(stripped.split()) >= 2 else None


def _signature(text: str, email: str | None, phone: str | None) -> str | None:
    lines = [line for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines[:-1]):
        if _SIGN_OFF_RE.match(line) and (name := _is_name_line(lines[i + 1])):
            return name
    local = email.split("@")[0] if email else None
    digits = phone[-6:] if phone else None
    for i, line in enumerate(lines):
        squashed = re.sub(r"\D", "", line)
        holds_contact = (local and local in line.lower()) or (digits and digits in squashed)
        if holds_contact and i > 0:
            for previous in reversed(lines[max(0, i - 2) : i]):
                if name := _is_name_line(previous):
                    return name
    return None


def _from_address(email: str | None) -> str | None:
    if not email:
        return None
    local = email.split("@")[0].split("+")[0]
    parts = [p for p in re.split(r"[._-]+", local) if p]
    if len(parts) < 2 or local in _GENERIC_MAILBOXES:
        return None
    if not all(p.isalpha() and len(p) > 1 for p in parts[:3]):
        return None
    return " ".join(p.capitalize() for p in parts[:3])
