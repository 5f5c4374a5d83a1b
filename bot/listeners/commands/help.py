"""``/crm`` and ``/crm help [topic]``: generated from the command table, so it lists exactly
what the parser accepts."""

from __future__ import annotations

from bot.blocks.common import context, ephemeral, escape, section
from bot.grammar import Command, UsageError, help_sections
from bot.listeners.commands.crm import CommandContext, Reply, handles, usage_reply
from crm.acting import Actor

TITLES = {
    "help": "Help",
    "lead": "Leads",
    "opp": "Opportunities",
    "log": "Communications",
    "followup": "Follow-ups",
    "followups": "Follow-up lists",
    "pipeline": "Pipeline",
    "customer": "Customers",
    "order": "Orders",
    "segment": "Segments",
    "campaign": "Campaigns",
    "role": "Roles",
    "settings": "Settings",
    "audit": "History",
}


def render_help(topic: str | None) -> Reply:
    sections = help_sections(topic)
    if isinstance(sections, UsageError):
        return usage_reply(sections)
    blocks = []
    for noun, specs in sections:
        lines = [f"*{TITLES.get(noun, noun.title())}*"]
        lines += [f"`{escape(s.usage)}`\n    {escape(s.summary)}" for s in specs]
        blocks.append(section("\n".join(lines)))
    blocks.append(
        context(
            "Records: L12 lead · O7 opportunity · C3 customer · F9 follow-up · S2 segment · "
            "M4 campaign. Quote values with spaces. Money: 50000, 50,000, 50k, 1.2m. "
            "Dates: 2026-03-15, tomorrow, fri, in 3 days."
        )
    )
    title = "Help: /crm" + (f" {topic}" if topic else "")
    return ephemeral(blocks, title)


@handles("help")
def help_command(cmd: Command, actor: Actor, ctx: CommandContext) -> Reply:
    return render_help(cmd.args.get("topic"))
