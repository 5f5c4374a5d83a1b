"""Value parsers shared by the Slack command parser, the CSV importer and the JSON API.

Free text that is stored (names, notes) follows one rule, :mod:`crm.parsing.text`: no control
characters but tab and newline, no bidi overrides, at least one visible character.

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

from crm.parsing.contacts import parse_email, parse_phone
from crm.parsing.dates import parse_date, parse_datetime, parse_duration, parse_period
from crm.parsing.money import MAX_MONEY, format_money, parse_money
from crm.parsing.numbers import parse_choice, parse_int, parse_percent
from crm.parsing.refs import REF_PREFIX, Ref, parse_record_id, parse_ref
from crm.parsing.text import check_text, parse_text

__all__ = [
    "MAX_MONEY",
    "REF_PREFIX",
    "Ref",
    "check_text",
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
    "parse_record_id",
    "parse_ref",
    "parse_text",
]
