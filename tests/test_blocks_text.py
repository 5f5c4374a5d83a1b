"""Block Kit as terminal text (``crm chat``): mentions, links and dates as Slack shows them,
clickable elements as numbered choices that carry what a click sends back."""

from __future__ import annotations

from bot.blocks.common import actions, button, context, divider, header, section
from bot.blocks.text import mrkdwn_to_text, render_blocks, render_message


def test_mrkdwn_reads_as_slack_shows_it() -> None:
    names = {"U1": "Maria Banda"}.get
    text = "<@U1> see <https://x.test/a|the deal> · <mailto:j@x.test|j@x.test> · <#C1|sales>"
    assert mrkdwn_to_text(text, lambda u: names(u) or u) == (
        "@Maria Banda see the deal (https://x.test/a) · j@x.test · #sales"
    )
    assert mrkdwn_to_text("due <!date^1700000000^{date_short}|Nov 14> &lt;soon&gt;") == (
        "due Nov 14 <soon>"
    )
    assert mrkdwn_to_text("<!here> look") == "@here look"
    assert mrkdwn_to_text(":white_check_mark: done at 10:30:15") == "✅ done at 10:30:15"


def test_buttons_and_overflow_options_are_numbered_choices() -> None:
    blocks = [
        header("Lead L12"),
        section("*Jane Doe*", accessory=button("Open", "open_record", "L12")),
        divider(),
        context("by <@U1>"),
        {
            "type": "actions",
            "block_id": "b1",
            "elements": [
                {
                    "type": "overflow",
                    "action_id": "snooze",
                    "options": [
                        {"text": {"type": "plain_text", "text": "1 hour"}, "value": "F9:1h"},
                        {"text": {"type": "plain_text", "text": "1 day"}, "value": "F9:1d"},
                    ],
                }
            ],
        },
        actions(button("Undo", "undo", "c-1")),
    ]
    out = render_blocks(blocks, first=3)
    assert out.lines[:2] == ["Lead L12", "========"]
    assert "  [3] Open" in out.lines and "  by @U1" in out.lines
    assert "[4] 1 hour  [5] 1 day" in out.lines and "[6] Undo" in out.lines
    open_, hour, _, undo = out.choices
    assert open_.action["action_id"] == "open_record" and open_.action["value"] == "L12"
    assert hour.action["selected_option"]["value"] == "F9:1h" and hour.action["block_id"] == "b1"
    assert undo.action["value"] == "c-1"


def test_a_message_without_blocks_is_its_text() -> None:
    assert render_message({"text": "hello <@U2>"}).lines == ["hello @U2"]
