"""The campaign tracking pages (``/t/...``) on the web process, mounted through
``bot.web.EXTENSIONS``.

What they record is decided in :mod:`crm.campaigns.tracking`; this module only reads the
request and answers. Three rules shape it:

- **GET never changes an opt-out or an answer.** Mail scanners and link previews fetch every
  link of a message; a GET on the unsubscribe or RSVP link shows a page with a button, and only
  the button's POST (or the RFC 8058 one-click POST a mail provider sends) acts. The pixel and
  the click redirect are the exceptions, since counting the fetch is their purpose.
- **A link is its own capability.** The signed token in the path names one recipient
  (:mod:`crm.campaigns.tokens`); a forged, bent or unknown one, or a link number the campaign
  does not have, is a plain 404 page, with nothing recorded and nothing redirected.
- **The pixel always answers the image**, also for a bad token, so a mail client shows nothing
  broken and a prober learns nothing.

Pages are rendered by Jinja2 with autoescaping and carry no outside asset, so they load
whatever the reader's network allows.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from typing import Any

from flask import Flask, Response, request
from jinja2 import DictLoader, Environment, select_autoescape

from crm.campaigns import tracking
from crm.campaigns.tracking import RSVP_ANSWERS
from crm.errors import NotFound, ValidationError

log = logging.getLogger(__name__)

PREFIX = "/t"
# the smallest transparent GIF (1x1, one transparent colour)
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Referrer-Policy": "no-referrer"}
ONE_CLICK = "List-Unsubscribe=One-Click"

_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %}</title>
<style>
 body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}
 button{font-size:1rem;padding:.6rem 1.2rem;margin:.2rem;border-radius:.4rem;border:1px solid #555;
 background:#fff;cursor:pointer}
 .error{color:#a00}
</style></head>
<body><main>{% block main %}{% endblock %}</main></body></html>"""

PAGES = {
    "layout.html": _LAYOUT,
    "unsubscribe.html": """{% extends "layout.html" %}
{% block title %}Unsubscribe{% endblock %}
{% block main %}<h1>Unsubscribe</h1>
<p>Stop receiving {{ channel }} messages like this one?</p>
<form method="post"><button type="submit" id="confirm">Unsubscribe</button></form>
{% endblock %}""",
    "unsubscribed.html": """{% extends "layout.html" %}
{% block title %}Unsubscribed{% endblock %}
{% block main %}<h1>You are unsubscribed</h1>
<p id="done">You will receive no more {{ channel }} messages from these campaigns.</p>
{% endblock %}""",
    "rsvp.html": """{% extends "layout.html" %}
{% block title %}Your answer{% endblock %}
{% block main %}<h1>{{ title }}</h1>
<p>Confirm your answer: <strong>{{ label }}</strong></p>
<form method="post"><input type="hidden" name="answer" value="{{ answer }}">
<button type="submit" id="confirm">Confirm</button></form>
{% endblock %}""",
    "rsvp_done.html": """{% extends "layout.html" %}
{% block title %}Thank you{% endblock %}
{% block main %}<h1>Thank you</h1>
<p id="done">Your answer is recorded: <strong>{{ label }}</strong>.</p>
{% endblock %}""",
    "error.html": """{% extends "layout.html" %}
{% block title %}{{ heading }}{% endblock %}
{% block main %}<h1>{{ heading }}</h1><p class="error">{{ message }}</p>{% endblock %}""",
}

_pages = Environment(
    loader=DictLoader(PAGES), autoescape=select_autoescape(default=True, default_for_string=True)
)

ANSWER_LABELS = {"yes": "Yes, I'll come", "maybe": "Maybe", "no": "No, thanks"}
CHANNEL_WORDS = {"email": "email", "sms": "text", "event": "invitation", "social": "campaign"}


def _page(name: str, status: int = 200, **values: Any) -> Response:
    return Response(
        _pages.get_template(name).render(**values),
        status,
        mimetype="text/html",
        headers=NO_STORE,
    )


def _not_found() -> Response:
    return _page(
        "error.html",
        404,
        heading="Link not found",
        message="This link is not valid. It may have been copied incompletely.",
    )


def _bad_answer(given: str) -> Response:
    allowed = ", ".join(RSVP_ANSWERS)
    return _page(
        "error.html",
        400,
        heading="Unknown answer",
        message=f"answer: {given[:20]!r} is not one of {allowed} (for example ?answer=yes).",
    )


def mount(app: Flask, settings: Any) -> None:
    """The ``bot.web.EXTENSIONS`` factory for the tracking routes."""

    @app.get(f"{PREFIX}/o/<token>.gif")
    def track_open(token: str) -> Response:
        with contextlib.suppress(NotFound):  # the image all the same: a probe learns nothing
            tracking.record_open(token)
        return Response(PIXEL, 200, mimetype="image/gif", headers=NO_STORE)

    @app.get(f"{PREFIX}/c/<token>/<n>")
    def track_click(token: str, n: str) -> Response:
        try:
            url = tracking.click(token, n)
        except NotFound:
            return _not_found()
        return Response("", 302, headers={"Location": url, **NO_STORE})

    @app.get(f"{PREFIX}/u/<token>")
    def unsubscribe_page(token: str) -> Response:
        try:
            channel = tracking.channel_of(token)
        except NotFound:
            return _not_found()
        return _page("unsubscribe.html", channel=CHANNEL_WORDS.get(channel, channel))

    @app.post(f"{PREFIX}/u/<token>")
    def unsubscribe(token: str) -> Response:
        # RFC 8058: the provider POSTs "List-Unsubscribe=One-Click" as a form body
        one_click = request.form.get("List-Unsubscribe") == "One-Click" or (
            request.get_data(cache=True, as_text=True).strip() == ONE_CLICK
        )
        try:
            channel = tracking.channel_of(token)
            tracking.unsubscribe(token, one_click=one_click)
        except NotFound:
            return _not_found()
        if one_click:
            return Response("unsubscribed\n", 200, mimetype="text/plain", headers=NO_STORE)
        return _page("unsubscribed.html", channel=CHANNEL_WORDS.get(channel, channel))

    @app.get(f"{PREFIX}/r/<token>")
    def rsvp_page(token: str) -> Response:
        answer = (request.args.get("answer") or "").strip().lower()
        if answer not in RSVP_ANSWERS:
            return _bad_answer(answer)
        try:
            title = tracking.campaign_title(token)
        except NotFound:
            return _not_found()
        return _page("rsvp.html", title=title, answer=answer, label=ANSWER_LABELS[answer])

    @app.post(f"{PREFIX}/r/<token>")
    def rsvp(token: str) -> Response:
        given = request.form.get("answer") or request.args.get("answer") or ""
        try:
            recorded = tracking.rsvp(token, given)
        except ValidationError:
            return _bad_answer(given.strip().lower())
        except NotFound:
            return _not_found()
        return _page("rsvp_done.html", label=ANSWER_LABELS[recorded.rsvp])
