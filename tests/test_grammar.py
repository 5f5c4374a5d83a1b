"""The ``/crm`` grammar: a pure function, so examples and property tests without any I/O."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.grammar import COMMANDS, Command, UsageError, help_sections, parse, specs_for, tokenize


def ok(text: str) -> Command:
    result = parse(text)
    assert isinstance(result, Command), f"{text!r} -> {result}"
    return result


def bad(text: str) -> UsageError:
    result = parse(text)
    assert isinstance(result, UsageError), f"{text!r} -> {result}"
    return result


# --- examples -----------------------------------------------------------------------------


def test_nothing_or_help_is_help() -> None:
    assert ok("").key == ("help", "")
    assert ok("   ").key == ("help", "")
    assert ok("help lead").args == {"topic": "lead"}


def test_lead_add_with_options_and_slack_escapes() -> None:
    cmd = ok(
        'lead add "Jane Doe" email=<mailto:jane@x.io|jane@x.io> phone=<tel:+260971234567|0971 234567> '
        "company=<http://acme.com|acme.com> value=50k prob=40% assign=<@U0123ABC|jane> "
        "source=referral priority=high"
    )
    assert cmd.key == ("lead", "add")
    assert cmd.args == {"name": "Jane Doe"}
    assert cmd.options == {
        "email": "jane@x.io",
        "phone": "+260971234567",
        "company": "acme.com",  # Slack's auto-link of what was typed: the label
        "value": "50k",
        "prob": "40%",
        "assign": "U0123ABC",
        "source": "referral",
        "priority": "high",
    }


def test_links_keep_their_target_unless_they_are_what_was_typed() -> None:
    cmd = ok("log note L1 x at=<https://example.com/a?b=1&amp;c=2>")
    assert cmd.options["at"] == "https://example.com/a?b=1&c=2"
    cmd = ok("log note L1 x at=<https://example.com/deal|the deal>")
    assert cmd.options["at"] == "https://example.com/deal"


def test_curly_and_straight_quotes_and_quoted_option_values() -> None:
    assert ok("lead add “Jane Doe”").args["name"] == "Jane Doe"
    assert ok("lead add ”Jane Doe”").args["name"] == "Jane Doe"  # macOS' double closing quote
    assert ok('lead add "O\'Brien & Sons"').args["name"] == "O'Brien & Sons"
    cmd = ok('lead status L4 lost reason="went with a competitor"')
    assert cmd.options == {"reason": "went with a competitor"}
    assert ok("opp lost O7 reason=“too pricey”").options["reason"] == "too pricey"


def test_html_entities_from_slack_escaping_are_unescaped() -> None:
    assert ok("lead add Smith&amp;Co").args["name"] == "Smith&Co"
    assert ok('log note L1 "a &lt;b&gt; c"').args["text"] == "a <b> c"


def test_mentions_inside_free_text_stay_renderable() -> None:
    cmd = ok('log note L1 "spoke to <@U77|bob> in <#C9|sales>"')
    assert cmd.args["text"] == "spoke to <@U77> in <#C9>"


def test_channels_and_users_as_positional_arguments() -> None:
    assert ok("settings digest <#C0SALES|sales>").args == {"digest": "digest", "channel": "C0SALES"}
    assert ok("role <@U1ABC> manager").args == {"user": "U1ABC", "role": "manager"}
    assert ok("lead list <@U1ABC|x>").args == {"who": "U1ABC"}


def test_case_insensitive_nouns_verbs_and_refs() -> None:
    assert ok("LEAD L12").args == {"ref": "L12"}
    assert ok("Lead l12").key == ("lead", "show")
    assert ok("lead STATUS l3 Won").args == {"ref": "L3", "status": "Won"}
    assert ok("Opportunity o7").key == ("opp", "show")
    assert ok("FollowUp DONE f9").args == {"ref": "F9"}


def test_optional_positionals_are_told_apart_by_their_shape() -> None:
    assert ok("lead list").args == {}
    assert ok("lead list mine").args == {"who": "mine"}
    assert ok("lead list Qualified").args == {"status": "qualified"}
    assert ok("lead list new <@U1|a> source=event").args == {"status": "new", "who": "U1"}
    cmd = ok('log call L3 "Discussed pricing" in 15m at="tomorrow 3pm"')
    assert cmd.args == {
        "type": "call",
        "ref": "L3",
        "text": "Discussed pricing",
        "direction": "in",
        "duration": "15m",
    }
    assert ok('log meeting O2 "Demo" 1h30m').args["duration"] == "1h30m"


def test_bare_nouns_and_implicit_verbs() -> None:
    assert ok("lead").key == ("lead", "")
    assert ok("log").key == ("log", "")
    assert ok('followup C3 "Send quote" due=fri').key == ("followup", "add")
    assert ok("customer C3").key == ("customer", "show")
    assert ok("campaign").key == ("campaign", "")
    assert ok("followups overdue").args == {"who": "overdue"}
    assert ok("pipeline team period=30d").options == {"period": "30d"}


def test_segment_criteria_are_kept_verbatim() -> None:
    cmd = ok('segment add "Gold, at risk" tier=gold,platinum churn=high ltv>=20k last_purchase>90d')
    assert cmd.args == {"name": "Gold, at risk"}
    assert cmd.rest == ("tier=gold,platinum", "churn=high", "ltv>=20k", "last_purchase>90d")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frobnicate", 'I don\'t know "frobnicate"'),
        ("lead frobnicate", '"frobnicate" is not something I can do with lead'),
        ('lead add "Jane', "never closed"),
        ("lead add", "name is missing"),
        ("lead add Jane bogus=1", "bogus= is not an option of /crm lead add"),
        ("lead add Jane email=a@b.c email=d@e.f", "email= is given twice"),
        ("lead list newish", '"newish" is not expected here; did you mean one of new'),
        ("opp lost O7", "reason= is required"),
        ("opp add Big", "amount= is required"),
        ("lead status foo won", 'ref: "foo" is not a record reference such as L12'),
        ("log text L1 hi", '"text" is not something I can do with log'),
        ("customer", "what should I do with customer?"),
    ],
)
def test_bad_input_names_the_problem_and_shows_the_usage(text: str, message: str) -> None:
    error = bad(text)
    assert message in error.message
    if "never closed" not in message:  # an unclosed quote hides which command was meant
        assert "usage: /crm" in str(error)


def test_an_unknown_help_topic_lists_the_topics() -> None:
    error = help_sections("nosuch")
    assert isinstance(error, UsageError)
    assert 'there is no help topic "nosuch"; topics: help, lead, opp' in error.message


def test_usage_errors_show_the_usage_of_the_command_meant() -> None:
    error = bad("lead add")
    assert error.usages == (
        '/crm lead add "Name" [email=] [phone=] [company=] [source=] [value=] [prob=] '
        "[priority=] [assign=@user]",
    )


# --- help is the table ------------------------------------------------------------------------


def test_help_lists_every_row_of_the_table_once() -> None:
    sections = help_sections()
    assert not isinstance(sections, UsageError)
    listed = [spec for _, specs in sections for spec in specs]
    assert listed == list(COMMANDS)
    assert len({s.key for s in COMMANDS}) == len(COMMANDS)


def test_the_table_covers_spec_5_1() -> None:
    """Every row of SPEC 5.1's command table, including campaign sub-commands."""
    expected = {
        ("help", ""), ("lead", ""), ("lead", "add"), ("lead", "show"), ("lead", "list"),
        ("lead", "status"), ("lead", "assign"), ("lead", "convert"), ("opp", "add"),
        ("opp", "show"), ("opp", "list"), ("opp", "stage"), ("opp", "won"), ("opp", "lost"),
        ("log", "add"), ("followup", "add"), ("followup", "done"), ("followup", "cancel"),
        ("followup", "snooze"), ("followups", ""), ("pipeline", ""), ("customer", "show"),
        ("customer", "add"), ("order", ""), ("segment", "add"), ("segment", "list"),
        ("segment", "show"), ("campaign", ""), ("campaign", "show"), ("campaign", "list"),
        ("campaign", "schedule"), ("campaign", "send"), ("campaign", "cancel"), ("role", ""),
        ("settings", ""), ("audit", ""),
    }  # fmt: skip
    assert expected <= {s.key for s in COMMANDS}


@pytest.mark.parametrize("spec", COMMANDS, ids=lambda s: f"{s.noun}-{s.verb or 'bare'}")
def test_every_usage_line_parses_to_its_own_row(spec) -> None:
    """The usage line, with placeholders filled in, is accepted by the parser as that row:
    the help can never show a form the parser refuses."""
    text = spec.usage.removeprefix("/crm").strip()
    text = re.sub(r"\[[^\]]*\]", "", text)  # drop optional parts
    text = re.sub(r"(\w+)\|\w+(\|\w+)*=", r"\1=", text)  # customer=C3|lead=L12 -> first
    text = re.sub(r"(\w+)(\|\w+)+", r"\1", text)  # contacted|qualified -> contacted
    fill = {
        "<ref>": "L1",
        "<stage>": "proposal",
        "<criteria>": "tier=gold",
        "@user": "<@U1|u>",
        "...": "tomorrow",
        '"..."': '"why"',
    }
    for placeholder, value in fill.items():
        text = text.replace(placeholder, value)
    text = re.sub(r"(\w+)=(?=\s|$)", r"\1=5", text)  # amount= -> amount=5
    if spec.key == ("help", ""):
        text = "help"
    assert parse(text).key == spec.key if not isinstance(parse(text), UsageError) else False, (
        f"{spec.usage!r} -> {text!r} -> {parse(text)}"
    )


def test_help_for_a_topic_lists_only_that_noun() -> None:
    sections = help_sections("Leads")
    assert not isinstance(sections, UsageError)
    assert [noun for noun, _ in sections] == ["lead"]
    assert sections[0][1] == specs_for("lead")


# --- properties ---------------------------------------------------------------------------

WORDS = st.sampled_from(
    [
        "lead", "add", "list", "L12", "l3", "mine", "team", "status", "won", "help", "opp", "log",
        "call", "followup", "done", "segment", "campaign", "settings", "digest", "email=",
        "value=50k", "reason=", '"', "“", "”", "<@U1|x>", "<#C1|y>", "<mailto:a@b.c|a@b.c>",
        "<https://x.io|x>", "<", ">", "&amp;", "=", "==", "a=b=c", "\u200b", "\n",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=12).map(" ".join))
def test_any_text_yields_a_command_or_a_usage_error(text: str) -> None:
    result = parse(text)
    assert isinstance(result, Command | UsageError)
    if isinstance(result, UsageError):
        assert result.message
    else:
        assert result.key in {s.key for s in COMMANDS}
        assert set(result.options) <= set(result.spec.options)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_unicode_never_raises(text: str) -> None:
    assert isinstance(parse(text), Command | UsageError)


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='"“”„‟<>&'),
        min_size=1,
        max_size=40,
    ).filter(lambda s: s.strip())
)
def test_a_quoted_name_comes_back_as_typed(name: str) -> None:
    for open_, close in (('"', '"'), ("“", "”")):
        cmd = parse(f"lead add {open_}{name}{close}")
        assert isinstance(cmd, Command)
        assert cmd.args["name"] == name


def test_tokenizer_keeps_escapes_with_spaces_in_their_labels_whole() -> None:
    tokens = tokenize("x <https://a.io|a long label> y")
    assert not isinstance(tokens, UsageError)
    assert [t.text for t in tokens] == ["x", "https://a.io", "y"]
