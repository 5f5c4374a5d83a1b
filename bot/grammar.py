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

from bot.command_table import (
    BY_NOUN,
    COMMANDS,
    NOUN_ALIASES,
    REF,
    Arg,
    CommandSpec,
    Token,
    help_topics,
    specs_for,
)

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
# tokenizer

QUOTES = '"“”„‟'  # straight and curly double quotes; single quotes are apostrophes (O'Brien)
_ESCAPE_RE = re.compile(r"<(?P<body>[^<>]*)>")
_USER_RE = re.compile(r"@([UW][A-Z0-9]+)(?:\|[^>]*)?", re.IGNORECASE)
_CHANNEL_RE = re.compile(r"#([CGD][A-Z0-9]+)(?:\|[^>]*)?", re.IGNORECASE)
_OPTION_RE = re.compile(r"([a-z][a-z0-9_-]*)=(.*)", re.IGNORECASE | re.DOTALL)


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
        return Command(spec=BY_NOUN["help"][0], text=text)
    head, words = tokens[0], tokens[1:]
    noun = NOUN_ALIASES.get(head.text.lower(), head.text.lower())
    if head.kind != "word" or head.option or noun not in BY_NOUN:
        return UsageError(
            f"I don't know {_show(head)}; try one of: {', '.join(help_topics())}",
            ("/crm help",),
        )
    specs = BY_NOUN[noun]
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
        if noun not in BY_NOUN:
            return UsageError(
                f'there is no help topic "{topic[:40]}"; topics: {", ".join(help_topics())}',
                ("/crm help [topic]",),
            )
        return [(noun, list(BY_NOUN[noun]))]
    return [(noun, list(specs)) for noun, specs in BY_NOUN.items()]
