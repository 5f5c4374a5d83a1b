"""Campaign templates (SPEC 6): Jinja2's sandbox with strict undefined names.

Subject and body are written by a manager in a Slack modal, as plain text with ``{{ name }}``
style fields. Jinja2's :class:`~jinja2.sandbox.SandboxedEnvironment` renders them, so a
template can read the fields it is given and nothing else (no attribute walks to Python
internals); :class:`~jinja2.StrictUndefined` makes a misspelt field an error instead of an
empty string. Both mistakes a member can make, an unknown field and a syntax error, are
refused when the campaign is *saved* (:func:`check_template`), naming the field, so a send
never discovers them 10,000 messages in.

Parts of a message (:func:`render`):
- the text part is the rendered text, with every link of the body replaced by its tracked
  link (``/t/c/<token>/<n>``);
- the HTML part is the same text with *everything* HTML-escaped (the body is plain text, so
  a value like ``<script>`` in a customer's name shows as text), line breaks kept, and the
  tracked links as anchors showing the original address.
The links are found once, in the body's source at save (:func:`find_links`), and stored on the
campaign: the click redirect only ever goes to one of those (no open redirect).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from crm.errors import ValidationError

# the fields a template may use, with an example value each (used to test-render at save)
FIELDS: dict[str, str] = {
    "name": "Ada Banda",
    "first_name": "Ada",
    "email": "ada@example.com",
    "phone": "+260971234567",
    "company": "Banda Farms",
    "industry": "agriculture",
    "tier": "gold",
    "our_company": "Acme",
}
MAX_LINKS = 50
_LINK = re.compile(r"https?://[^\s<>\"'{}|\\^`]+[^\s<>\"'{}|\\^`.,;:!?)\]]")
_HINT = "{{ first_name }} with one of: " + ", ".join(FIELDS)

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=256)
def _compiled(source: str) -> Any:
    return _env.from_string(source)


def check_template(source: str, field: str) -> str:
    """``source`` if it compiles and uses only :data:`FIELDS`; else a :class:`ValidationError`
    naming ``field`` and the line, or the unknown name."""
    try:
        parsed = _env.parse(source)
    except TemplateSyntaxError as exc:
        raise ValidationError(
            field, f"template syntax error on line {exc.lineno}: {exc.message}", hint=_HINT
        ) from None
    unknown = sorted(meta.find_undeclared_variables(parsed) - set(FIELDS))
    if unknown:
        names = ", ".join("{{ " + name + " }}" for name in unknown)
        raise ValidationError(field, f"unknown field {names}", hint=_HINT)
    try:  # what parsing cannot see: {{ name.nope }}, {{ name.__class__ }}, filters' errors
        _compiled(source).render(FIELDS)
    except (UndefinedError, SecurityError) as exc:
        raise ValidationError(field, f"template error: {exc}", hint=_HINT) from None
    except TemplateError as exc:
        raise ValidationError(field, f"template error: {exc}", hint=_HINT) from None
    except Exception as exc:  # a filter raising on the example values (e.g. int("Ada"))
        raise ValidationError(field, f"template error: {exc}", hint=_HINT) from None
    return source


def find_links(body: str) -> list[str]:
    """The distinct http(s) links of the body's source, in order of first appearance (link
    ``n`` of the click route is ``links[n - 1]``)."""
    links: list[str] = []
    for match in _LINK.finditer(body):
        if match.group(0) not in links:
            links.append(match.group(0))
    if len(links) > MAX_LINKS:
        raise ValidationError("body", f"has {len(links)} links; at most {MAX_LINKS}")
    return links


def context(customer: Any, our_company: str) -> dict[str, str]:
    """The template fields of one customer (missing values render as empty text)."""
    name = (customer.name or "").strip()
    metric_tier = getattr(customer, "tier", None)
    return {
        "name": name,
        "first_name": name.split()[0] if name else "",
        "email": customer.email or "",
        "phone": customer.phone or "",
        "company": customer.company_name or "",
        "industry": customer.industry or "",
        "tier": metric_tier or "bronze",
        "our_company": our_company or "",
    }


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render_text(source: str, fields: dict[str, str]) -> str:
    return _compiled(source).render(fields)


def _track(text: str, links: list[str], tracked: list[str]) -> str:
    """Replace each campaign link by its tracked form, longest first (so a link that is the
    prefix of another is not replaced inside it)."""
    if not links:
        return text
    order = sorted(range(len(links)), key=lambda i: -len(links[i]))
    pattern = re.compile("|".join(re.escape(links[i]) for i in order))
    index = {link: i for i, link in enumerate(links)}
    return pattern.sub(lambda m: tracked[index[m.group(0)]], text)


def _html(text: str, links: list[str], tracked: list[str]) -> str:
    escaped = html.escape(text, quote=True)
    if links:
        order = sorted(range(len(links)), key=lambda i: -len(links[i]))
        escaped_links = [html.escape(link, quote=True) for link in links]
        pattern = re.compile("|".join(re.escape(escaped_links[i]) for i in order))
        index = {link: i for i, link in enumerate(escaped_links)}

        def anchor(match: re.Match[str]) -> str:
            i = index[match.group(0)]
            return f'<a href="{html.escape(tracked[i], quote=True)}">{match.group(0)}</a>'

        escaped = pattern.sub(anchor, escaped)
    paragraphs = [p.replace("\n", "<br>\n") for p in re.split(r"\n\s*\n", escaped.strip())]
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs if p)
    return f'<!doctype html>\n<html><body style="font-family:sans-serif">\n{body}\n'


def render(
    subject: str | None,
    body: str,
    fields: dict[str, str],
    links: list[str],
    tracked: list[str],
) -> Rendered:
    """One recipient's message; the HTML part is left open (``</body></html>`` missing) so
    the channel can append its footer (unsubscribe, RSVP) before closing it with
    :func:`close_html`."""
    text = render_text(body, fields)
    subject_text = " ".join(render_text(subject or "", fields).split())
    return Rendered(subject_text, _track(text, links, tracked), _html(text, links, tracked))


def close_html(part: str, footer_html: str = "") -> str:
    return f"{part}{footer_html}\n</body></html>\n"
