"""The ``/crm`` command table (SPEC 5.1): every noun and verb, its arguments and options.

The parser (:mod:`bot.grammar`) and the help text are both driven by :data:`COMMANDS`, so they
cannot drift apart; a handler is registered per row (``@handles(noun, verb)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crm.models import LEAD_SOURCES, LEAD_STATUSES, OPPORTUNITY_STAGES


@dataclass(frozen=True)
class Token:
    text: str
    kind: str = "word"  # word | quoted | user | channel | email | url
    option: str | None = None  # key of a key=value word; text is then the value


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


# --------------------------------------------------------------------------------------------
# the command table (SPEC 5.1), in help order

# the domain's own vocabularies: a new stage or source is added in crm.models only
_LEAD_STATUSES = LEAD_STATUSES
_LEAD_SOURCES = LEAD_SOURCES
_STAGES = OPPORTUNITY_STAGES
_WHO = ("mine", "team")
_REF_ARG = Arg("ref", pattern=REF)
# the ``set`` verbs take the ``add`` commands' option names (SPEC 5.1)
LEAD_SET_OPTIONS = (
    "name", "email", "phone", "company", "source", "value", "prob", "priority", "tags", "assign",
)  # fmt: skip
OPP_SET_OPTIONS = ("name", "amount", "prob", "stage", "close", "customer", "lead", "assign")
CUSTOMER_SET_OPTIONS = ("name", "email", "phone", "company", "industry", "tags", "assign")
FOLLOWUP_SET_OPTIONS = ("title", "due", "priority", "notes", "assign")

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
        "/crm lead list [status] [mine|@user] [source=] [sort=score]",
        "leads, most urgent first (sort=score: highest lead score first)",
        args=(
            Arg("status", required=False, choices=_LEAD_STATUSES),
            Arg("who", required=False, choices=_WHO, kinds=USER),
        ),
        options=("source", "sort"),
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
    CommandSpec(
        "lead",
        "set",
        "/crm lead set L12 [name=] [email=] [phone=] [company=] [source=] [value=] [prob=] "
        "[priority=] [tags=] [assign=@user]",
        'changes fields of a lead; an empty value (email="") clears one',
        args=(_REF_ARG,),
        options=LEAD_SET_OPTIONS,
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
    CommandSpec(
        "opp",
        "set",
        "/crm opp set O7 [name=] [amount=] [prob=] [stage=] [close=] [customer=C3|lead=L12] "
        "[assign=@user]",
        'changes fields of an opportunity; prob="" returns it to its stage\'s default',
        args=(_REF_ARG,),
        options=OPP_SET_OPTIONS,
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
        "followup",
        "set",
        "/crm followup set F9 [title=] [due=] [priority=] [notes=] [assign=@user]",
        "changes a follow-up",
        args=(_REF_ARG,),
        options=FOLLOWUP_SET_OPTIONS,
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
    CommandSpec(
        "pipeline",
        "winloss",
        "/crm pipeline winloss [mine|@user|team] [period=90d]",
        "win rate by member and by lead source, and the top loss reasons",
        args=(Arg("who", required=False, choices=_WHO, kinds=USER),),
        options=("period",),
    ),
    CommandSpec(
        "insight",
        "",
        "/crm insight",
        "lead-score calibration plot and how fresh the predictions are (managers)",
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
        "customer",
        "set",
        "/crm customer set C3 [name=] [email=] [phone=] [company=] [industry=] [tags=] "
        "[assign=@user]",
        "changes fields of a customer",
        args=(_REF_ARG,),
        options=CUSTOMER_SET_OPTIONS,
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
    CommandSpec(
        "segment",
        "set",
        "/crm segment set S2 [name=] [description=] [active=yes|no] [criteria]",
        "renames, (de)activates or re-targets a segment; new criteria replace the old ones",
        args=(_REF_ARG,),
        rest="changes",
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
        "campaign",
        "preview",
        "/crm campaign preview M4",
        "the message as one real recipient gets it, the reach and the cost per message",
        args=(_REF_ARG,),
    ),
    CommandSpec(
        "campaign",
        "pause",
        "/crm campaign pause M4|all",
        "pauses a campaign; `all` pauses every sending campaign (admins: the kill switch)",
        args=(Arg("ref", pattern=REF + "|all"),),
    ),
    CommandSpec(
        "campaign",
        "resume",
        "/crm campaign resume M4",
        "resumes a paused campaign",
        args=(_REF_ARG,),
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
        options=("currency", "tiers", "timezone", "region", "discount"),
    ),
    CommandSpec("audit", "", "/crm audit <ref>", "the history of a record", args=(_REF_ARG,)),
    CommandSpec(
        "edit",
        "",
        "/crm edit <ref>",
        "opens the record's edit form, filled in (also the Edit button on every card)",
        args=(_REF_ARG,),
    ),
    # finding records
    CommandSpec(
        "find",
        "",
        "/crm find <words>",
        "leads, customers and opportunities by a word of the name, email, phone or company, "
        "best match first",
        rest="words",
    ),
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

BY_NOUN: dict[str, list[CommandSpec]] = {}
for _spec in COMMANDS:
    BY_NOUN.setdefault(_spec.noun, []).append(_spec)


def specs_for(noun: str) -> list[CommandSpec]:
    return list(BY_NOUN.get(NOUN_ALIASES.get(noun, noun), []))


def help_topics() -> list[str]:
    return list(BY_NOUN)
