"""The ``/crm`` grammar (SPEC 5.1): text in, :class:`Command` or :class:`UsageError` out.

Pure: no database, no Slack, no exceptions escape :func:`parse` whatever a member types (the
hypothesis tests hold it to that). Values are not validated here beyond what is needed to tell
the words apart; the handlers parse them with :mod:`crm.parsing`, so the same rules and error
wording serve Slack and the JSON API.

Everything the parser and the help text know comes from ONE table, :data:`COMMANDS`, so the
help can never describe a command the parser does not accept (or the other way round).

What the text looks like with ``should_escape: true`` (the manifest sets it): users arrive as
``<@U123|jane>``, channels as ``<#C123|sales>``, emails as ``<mailto:a@b.c|a@b.c>``, links as
``<https://...>`` or ``<http://acme.com|acme.com>``, and ``& < >`` as HTML entities. The
tokenizer unwraps them; quotes may be straight or curly (“ ” „), because Slack clients turn
straight quotes into curly ones behind the member's back.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "COMMANDS",
    "Arg",
    "Command",
    "CommandSpec",
    "UsageError",
    "help_sections",
    "help_topics",
    "parse",
    "specs_for",
]

MAX_LENGTH = 4000  # Slack caps command text well below this; anything longer is not a command


@dataclass(frozen=True)
class Arg:
    """A positional argument.

    A required argument takes whatever word comes. An optional one takes a word only when it
    fits (``choices``, ``kinds`` such as a user mention, or ``pattern``), which is how
    ``/crm lead list mine`` knows that ``mine`` is not a status.
    """

    name: str
    required: bool = True
    choices: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()  # token kinds: user, channel, email, url, quoted
    pattern: str | None = None

    def describe(self) -> str:
        if self.pattern == REF:
            return "a record reference such as L12"
        if self.pattern == DURATION:
            return "a duration such as 15m or 1h30m"
        kinds = [{"user": "@someone", "channel": "#channel"}.get(k, k) for k in self.kinds]
        return "one of " + ", ".join([*self.choices, *kinds])

    def fits(self, token: Token) -> bool:
        if not (self.choices or self.kinds or self.pattern):
            return True
        if self.choices and token.kind == "word" and token.text.lower() in self.choices:
            return True
        if token.kind in self.kinds:
            return True
        return bool(
            self.pattern
            and token.kind == "word"
            and re.fullmatch(self.pattern, token.text, re.IGNORECASE)
        )


REF = r"[locfsm][0-9]{1,19}"
DURATION = r"(?:[0-9]+h)?(?:[0-9]+m(?:in)?)?|[0-9]+"  # 15m, 1h30m, 90
USER = ("user",)


@dataclass(frozen=True)
class CommandSpec:
    """One row of the command table.

    ``verb`` is ``""`` for the bare noun (``/crm lead`` opens the modal; ``/crm log call ...``
    takes arguments right after the noun). ``implicit`` marks the entry chosen when the first
    word is not a verb (``/crm lead L12`` is ``lead show``). ``rest`` names a trailing list
    that keeps the remaining words verbatim, ``key=value`` included (segment criteria).
    """

    noun: str
    verb: str
    usage: str
    summary: str
    args: tuple[Arg, ...] = ()
    options: tuple[str, ...] = ()
    required_options: tuple[str, ...] = ()
    implicit: bool = False
    rest: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.noun, self.verb)


@dataclass(frozen=True)
class Command:
    """A parsed command. ``args`` by name (refs upper-cased, user mentions as ``U123``),
    ``options`` by lower-case key, ``rest`` the verbatim trailing words, if the spec has one."""

    spec: CommandSpec
    args: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    rest: tuple[str, ...] = ()
    text: str = ""

    @property
    def noun(self) -> str:
        return self.spec.noun

    @property
    def verb(self) -> str:
        return self.spec.verb

    @property
    def key(self) -> tuple[str, str]:
        return self.spec.key


@dataclass(frozen=True)
class UsageError:
    """What was wrong and the usage line(s) that show the right form. A value, not raised:
    bad input is an expected outcome of :func:`parse`."""

    message: str
    usages: tuple[str, ...] = ()

    def __str__(self) -> str:
        lines = [self.message, *(f"usage: {u}" for u in self.usages)]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# the command table (SPEC 5.1), in help order

_LEAD_STATUSES = ("new", "contacted", "qualified", "won", "lost")
_LEAD_SOURCES = ("website", "referral", "event", "cold_call", "social", "email", "partner", "other")
_STAGES = ("prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost")
_WHO = ("mine", "team")
_REF_ARG = Arg("ref", pattern=REF)

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "help",
        "",
        "/crm help [topic]",
        "this help; a topic narrows it (e.g. /crm help lead)",
        args=(Arg("topic", required=False),),
    ),
    # leads
    CommandSpec("lead", "", "/crm lead", "opens the New lead form"),
    CommandSpec(
        "lead",
        "add",
        '/crm lead add "Name" [email=] [phone=] [company=] [source=] [value=] [prob=] '
        "[priority=] [assign=@user]",
        "creates a lead (assigned to you unless assign= says otherwise)",
        args=(Arg("name"),),
        options=("email", "phone", "company", "source", "value", "prob", "priority", "assign"),
    ),
    CommandSpec(
        "lead",
        "show",
        "/crm lead L12",
        "the lead's card: details, recent communications, open follow-ups",
        args=(_REF_ARG,),
        implicit=True,
    ),
    CommandSpec(
        "lead",
        "list",
        "/crm lead list [status] [mine|@user] [source=]",
        "leads, most urgent first",
        args=(
            Arg("status", required=False, choices=_LEAD_STATUSES),
            Arg("who", required=False, choices=_WHO, kinds=USER),
        ),
        options=("source",),
    ),
    CommandSpec(
        "lead",
        "status",
        '/crm lead status L12 contacted|qualified|won|lost [reason="..."]',
        "moves a lead along the workflow",
        args=(_REF_ARG, Arg("status")),
        options=("reason",),
    ),
    CommandSpec(
        "lead",
        "assign",
        "/crm lead assign L12 @user",
        "reassigns a lead",
        args=(_REF_ARG, Arg("user")),
    ),
    CommandSpec(
        "lead",
        "convert",
        "/crm lead convert L12",
        "converts a lead to a customer (once)",
        args=(_REF_ARG,),
    ),
    # opportunities
    CommandSpec("opp", "", "/crm opp", "opens the New opportunity form"),
    CommandSpec(
        "opp",
        "add",
        '/crm opp add "Name" customer=C3|lead=L12 amount= [prob=] [stage=] [close=] [assign=@user]',
        "creates an opportunity",
        args=(Arg("name"),),
        options=("customer", "lead", "amount", "prob", "stage", "close", "assign"),
        required_options=("amount",),
    ),
    CommandSpec(
        "opp",
        "show",
        "/crm opp O7",
        "the opportunity's card",
        args=(_REF_ARG,),
        implicit=True,
    ),
    CommandSpec(
        "opp",
        "list",
        "/crm opp list [stage] [mine|@user]",
        "opportunities",
        args=(
            Arg("stage", required=False, choices=_STAGES),
            Arg("who", required=False, choices=_WHO, kinds=USER),
        ),
    ),
    CommandSpec(
        "opp",
        "stage",
        "/crm opp stage O7 <stage>",
        "moves an opportunity to another stage",
        args=(_REF_ARG, Arg("stage")),
    ),
    CommandSpec(
        "opp",
        "won",
        "/crm opp won O7 [amount=] [date=]",
        "closes it as won: records the close date and an order for its customer",
        args=(_REF_ARG,),
        options=("amount", "date"),
    ),
    CommandSpec(
        "opp",
        "lost",
        '/crm opp lost O7 reason="..."',
        "closes it as lost",
        args=(_REF_ARG,),
        options=("reason",),
        required_options=("reason",),
    ),
    # communications and follow-ups
    CommandSpec("log", "", "/crm log", "opens the Log communication form"),
    CommandSpec(
        "log",
        "add",
        '/crm log call|email|meeting|note <ref> "text" [in|out] [15m] [at=...]',
        "logs a communication on a lead, customer or opportunity",
        args=(
            Arg("type", choices=("call", "email", "meeting", "note")),
            _REF_ARG,
            Arg("text"),
            Arg("direction", required=False, choices=("in", "out", "inbound", "outbound")),
            Arg("duration", required=False, pattern=DURATION),
        ),
        options=("at",),
        implicit=True,
    ),
    CommandSpec("followup", "", "/crm followup", "opens the New follow-up form"),
    CommandSpec(
        "followup",
        "add",
        '/crm followup <ref> "Title" due=... [priority=] [assign=@user]',
        "sets a follow-up on a lead, customer or opportunity",
        args=(_REF_ARG, Arg("title")),
        options=("due", "priority", "assign"),
        required_options=("due",),
        implicit=True,
    ),
    CommandSpec(
        "followup",
        "done",
        '/crm followup done F9 ["notes"]',
        "marks a follow-up done",
        args=(_REF_ARG, Arg("notes", required=False)),
    ),
    CommandSpec(
        "followup",
        "cancel",
        "/crm followup cancel F9",
        "cancels a follow-up",
        args=(_REF_ARG,),
    ),
    CommandSpec(
        "followup",
        "snooze",
        "/crm followup snooze F9 1d",
        "moves a follow-up's due time on",
        args=(_REF_ARG, Arg("delay")),
    ),
    CommandSpec(
        "followups",
        "",
        "/crm followups [mine|@user|overdue|team]",
        "follow-ups, overdue first",
        args=(Arg("who", required=False, choices=("mine", "overdue", "team"), kinds=USER),),
    ),
    # analytics
    CommandSpec(
        "pipeline",
        "",
        "/crm pipeline [mine|@user|team] [period=90d]",
        "pipeline summary with a chart",
        args=(Arg("who", required=False, choices=_WHO, kinds=USER),),
        options=("period",),
    ),
    # customers and orders
    CommandSpec(
        "customer",
        "show",
        "/crm customer C3",
        "the customer's card: lifetime value, tier, churn risk",
        args=(_REF_ARG,),
        implicit=True,
    ),
    CommandSpec(
        "customer",
        "add",
        '/crm customer add "Name" [email=] [phone=] [company=] [industry=] [tags=]',
        "creates a customer",
        args=(Arg("name"),),
        options=("email", "phone", "company", "industry", "tags", "assign"),
    ),
    CommandSpec(
        "order",
        "",
        "/crm order C3 amount= [cost=] [date=] [ref=]",
        "records a purchase",
        args=(_REF_ARG,),
        options=("amount", "cost", "date", "ref"),
        required_options=("amount",),
    ),
    # segments and campaigns
    CommandSpec(
        "segment",
        "add",
        '/crm segment add "Name" <criteria>',
        "creates a segment, e.g. tier=gold,platinum churn=high ltv>=20k last_purchase>90d",
        args=(Arg("name"),),
        rest="criteria",
    ),
    CommandSpec("segment", "list", "/crm segment list", "segments"),
    CommandSpec(
        "segment",
        "show",
        "/crm segment S2",
        "a segment and its customers",
        args=(_REF_ARG,),
        implicit=True,
    ),
    CommandSpec("campaign", "", "/crm campaign", "opens the New campaign form"),
    CommandSpec(
        "campaign",
        "show",
        "/crm campaign M4",
        "the campaign's card with its progress",
        args=(_REF_ARG,),
        implicit=True,
    ),
    CommandSpec("campaign", "list", "/crm campaign list", "campaigns"),
    CommandSpec(
        "campaign",
        "schedule",
        "/crm campaign schedule M4 at=...",
        "schedules a campaign",
        args=(_REF_ARG,),
        options=("at",),
        required_options=("at",),
    ),
    CommandSpec(
        "campaign", "send", "/crm campaign send M4", "sends a campaign now", args=(_REF_ARG,)
    ),
    CommandSpec(
        "campaign", "cancel", "/crm campaign cancel M4", "cancels a campaign", args=(_REF_ARG,)
    ),
    # administration
    CommandSpec(
        "role",
        "",
        "/crm role @user rep|manager|admin",
        "changes a member's role (admins only)",
        args=(Arg("user"), Arg("role")),
    ),
    CommandSpec(
        "settings",
        "",
        "/crm settings [digest #channel] [currency=ZMW] [tiers=20k,50k,100k]",
        "shows or changes company settings (admins only)",
        args=(
            Arg("digest", required=False, choices=("digest",)),
            Arg("channel", required=False, choices=("off",), kinds=("channel",)),
        ),
        options=("currency", "tiers", "timezone", "region"),
    ),
    CommandSpec("audit", "", "/crm audit <ref>", "the history of a record", args=(_REF_ARG,)),
)

NOUN_ALIASES = {
    "leads": "lead",
    "opportunity": "opp",
    "opportunities": "opp",
    "opps": "opp",
    "follow-up": "followup",
    "follow-ups": "followups",
    "customers": "customer",
    "segments": "segment",
    "campaigns": "campaign",
    "orders": "order",
}

_BY_NOUN: dict[str, list[CommandSpec]] = {}
for _spec in COMMANDS:
    _BY_NOUN.setdefault(_spec.noun, []).append(_spec)


def specs_for(noun: str) -> list[CommandSpec]:
    return list(_BY_NOUN.get(NOUN_ALIASES.get(noun, noun), []))


def help_topics() -> list[str]:
    return list(_BY_NOUN)


# --------------------------------------------------------------------------------------------
# tokenizer

QUOTES = '"“”„‟'  # straight and curly double quotes; single quotes are apostrophes (O'Brien)
_ESCAPE_RE = re.compile(r"<(?P<body>[^<>]*)>")
_USER_RE = re.compile(r"@([UW][A-Z0-9]+)(?:\|[^>]*)?", re.IGNORECASE)
_CHANNEL_RE = re.compile(r"#([CGD][A-Z0-9]+)(?:\|[^>]*)?", re.IGNORECASE)
_OPTION_RE = re.compile(r"([a-z][a-z0-9_-]*)=(.*)", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Token:
    text: str
    kind: str = "word"  # word | quoted | user | channel | email | url
    option: str | None = None  # key of a key=value word; text is then the value


def _unwrap(body: str) -> tuple[str, str, str]:
    """One Slack escape ``<...>`` -> (value, kind, text for free-text positions)."""
    body = html.unescape(body)
    if m := _USER_RE.fullmatch(body):
        user = m.group(1).upper()
        return user, "user", f"<@{user}>"
    if m := _CHANNEL_RE.fullmatch(body):
        channel = m.group(1).upper()
        return channel, "channel", f"<#{channel}>"
    target, _, label = body.partition("|")
    if body.startswith("!"):  # <!here>, <!subteam^S1|@sales>: keep what people saw
        shown = label or "@" + target[1:].split("^")[0]
        return shown, "word", shown
    lowered = target.lower()
    for scheme, kind in (("mailto:", "email"), ("tel:", "word")):
        if lowered.startswith(scheme):
            value = target[len(scheme) :]
            return value, kind, label or value
    if lowered.startswith(("http://", "https://")):
        # Slack links bare domains the member typed ("acme.com" -> <http://acme.com|acme.com>):
        # the label is what they wrote. A labelled link to elsewhere keeps its real target.
        bare = re.sub(r"^https?://", "", target, flags=re.IGNORECASE)
        if label and label.lower() == bare.lower():
            return label, "url", label
        return target, "url", label or target
    return f"<{body}>", "word", f"<{body}>"


def tokenize(text: str) -> list[Token] | UsageError:
    """Split on whitespace outside quotes and Slack escapes; unwrap escapes and entities."""
    tokens: list[Token] = []
    parts: list[tuple[str, str]] = []  # (text, kind) pieces of the current word
    i, n = 0, len(text)

    def flush() -> None:
        if not parts:
            return
        first_text, first_kind = parts[0]
        option = None
        if first_kind == "word" and (m := _OPTION_RE.fullmatch(first_text)):
            option = m.group(1).lower()
            parts[0] = (m.group(2), "word")
            parts[:] = [p for p in parts if p[0] or p[1] != "word"] or [("", "word")]
        if len(parts) == 1:
            value, kind = parts[0]
        else:
            value = "".join(p[0] for p in parts)
            kinds = {p[1] for p in parts}
            kind = "quoted" if "quoted" in kinds else "word"
        tokens.append(Token(value, kind, option))
        parts.clear()

    while i < n:
        ch = text[i]
        if ch.isspace():
            flush()
            i += 1
        elif ch in QUOTES:
            end = next((j for j in range(i + 1, n) if text[j] in QUOTES), -1)
            if end < 0:
                return UsageError(f"a quote opened at {text[i : i + 20]!r} is never closed")
            parts.append((_free_text(text[i + 1 : end]), "quoted"))
            i = end + 1
        elif ch == "<" and (m := _ESCAPE_RE.match(text, i)):
            value, kind, _ = _unwrap(m.group("body"))
            parts.append((value, kind))
            i = m.end()
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in QUOTES and text[j] != "<":
                j += 1
            if j == i:  # a lone "<" that opens no escape
                j = i + 1
            parts.append((html.unescape(text[i:j]), "word"))
            i = j
    flush()
    return tokens


def _free_text(text: str) -> str:
    """Quoted text as people meant it: escapes shown readably (mentions kept renderable)."""
    text = _ESCAPE_RE.sub(lambda m: _unwrap(m.group("body"))[2], text)
    return html.unescape(text)


# --------------------------------------------------------------------------------------------
# parser


def parse(text: str) -> Command | UsageError:
    """Parse the text after ``/crm``. Never raises."""
    try:
        return _parse(text if isinstance(text, str) else "")
    except RecursionError:  # pragma: no cover - defensive; the parser is not recursive
        return UsageError("that command is too complicated to read")


def _parse(text: str) -> Command | UsageError:
    if len(text) > MAX_LENGTH:
        return UsageError(f"that command is too long ({len(text)} characters)")
    tokens = tokenize(text)
    if isinstance(tokens, UsageError):
        return tokens
    if not tokens:
        return Command(spec=_BY_NOUN["help"][0], text=text)
    head, words = tokens[0], tokens[1:]
    noun = NOUN_ALIASES.get(head.text.lower(), head.text.lower())
    if head.kind != "word" or head.option or noun not in _BY_NOUN:
        return UsageError(
            f"I don't know {_show(head)}; try one of: {', '.join(help_topics())}",
            ("/crm help",),
        )
    specs = _BY_NOUN[noun]
    verbs = {s.verb: s for s in specs if s.verb}
    spec: CommandSpec | None = None
    if words and words[0].kind == "word" and not words[0].option:
        spec = verbs.get(words[0].text.lower())
        if spec is not None and not spec.implicit:
            words = words[1:]
        elif spec is not None:
            spec = None  # an implicit verb is never typed: "log add" is not a thing
    if spec is None:
        implicit = next((s for s in specs if s.implicit), None)
        bare = next((s for s in specs if not s.verb), None)
        if not words:
            spec = bare
        elif implicit is not None and (not implicit.args or implicit.args[0].fits(words[0])):
            spec = implicit
        elif bare is not None and (bare.args or bare.rest):
            spec = bare
        if spec is None:
            what = (
                f"{_show(words[0])} is not something I can do with {noun}"
                if words
                else f"what should I do with {noun}?"
            )
            return UsageError(what, tuple(s.usage for s in specs))
    return _bind(spec, words, text)


def _show(token: Token) -> str:
    shown = token.text if len(token.text) <= 40 else token.text[:39] + "…"
    return f'"{shown}"'


def _bind(spec: CommandSpec, words: list[Token], text: str) -> Command | UsageError:
    usage = (spec.usage,)
    args: dict[str, str] = {}
    options: dict[str, str] = {}
    rest: list[str] = []
    slots = list(spec.args)
    for token in words:
        if token.option is not None and not (spec.rest and not slots):
            key = token.option
            if key not in spec.options:
                allowed = ", ".join(f"{o}=" for o in spec.options) or "none"
                return UsageError(
                    f"{key}= is not an option of /crm {_title(spec)} (options: {allowed})", usage
                )
            if key in options:
                return UsageError(f"{key}= is given twice", usage)
            options[key] = token.text
            continue
        placed = False
        while slots:
            slot = slots[0]
            if slot.required and not slot.fits(token):
                return UsageError(f"{slot.name}: {_show(token)} is not {slot.describe()}", usage)
            if slot.fits(token):
                args[slot.name] = _canonical(slot, token)
                slots.pop(0)
                placed = True
                break
            slots.pop(0)  # an optional slot that does not fit this word stays empty
        if placed:
            continue
        if spec.rest is not None:
            rest.append(_verbatim(token))
            continue
        return UsageError(_unexpected(spec, token), usage)
    missing = [a.name for a in slots if a.required]
    if missing:
        return UsageError(f"{missing[0]} is missing", usage)
    for key in spec.required_options:
        if key not in options:
            return UsageError(f"{key}= is required", usage)
    return Command(spec=spec, args=args, options=options, rest=tuple(rest), text=text)


def _title(spec: CommandSpec) -> str:
    return f"{spec.noun} {spec.verb}" if spec.verb and not spec.implicit else spec.noun


def _unexpected(spec: CommandSpec, token: Token) -> str:
    choosy = [a for a in spec.args if a.choices and not a.required]
    if choosy and token.kind == "word":
        options = ", ".join(c for a in choosy for c in a.choices)
        return f"{_show(token)} is not expected here; did you mean one of {options}?"
    return f"{_show(token)} is not expected here"


def _canonical(slot: Arg, token: Token) -> str:
    if slot.pattern == REF and token.kind == "word":
        return token.text.upper()
    if slot.choices and token.kind == "word" and token.text.lower() in slot.choices:
        return token.text.lower()
    return token.text


def _verbatim(token: Token) -> str:
    return f"{token.option}={token.text}" if token.option else token.text


def iter_usages(specs: Iterable[CommandSpec] = COMMANDS) -> list[str]:
    return [s.usage for s in specs]


def help_sections(topic: str | None = None) -> list[tuple[str, list[CommandSpec]]] | UsageError:
    """The command table grouped by noun, narrowed to ``topic`` if given (help is generated
    from the same table the parser reads, so the two cannot drift)."""
    if topic:
        noun = NOUN_ALIASES.get(topic.lower(), topic.lower())
        if noun not in _BY_NOUN:
            return UsageError(
                f'there is no help topic "{topic[:40]}"; topics: {", ".join(help_topics())}',
                ("/crm help [topic]",),
            )
        return [(noun, list(_BY_NOUN[noun]))]
    return [(noun, list(specs)) for noun, specs in _BY_NOUN.items()]
