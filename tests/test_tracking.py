"""The campaign tracking pages over real HTTP (gunicorn serving ``bot.web``), on both
databases: the pixel, the click redirect, the unsubscribe page and RFC 8058 one-click POST,
the RSVP page, and the same pages clicked through in a real headless chromium."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from crm.campaigns import messages, service, tokens
from crm.models import Campaign, CampaignEvent, CampaignOptOut, CampaignRecipient, Customer
from tests.browser_support import By, browser, wait_for_text
from tests.campaign_support import Audience, channel_settings, make_audience
from tests.conftest import TEST_SECRET_KEY, make_workspace
from tests.e2e_support import Site, http, site_fixture

__all__ = ["browser", "site"]

# a web process of its own: the shared one runs without a key to check tracking links with
site = site_fixture("tracking", private=True, extra_env={"CRM_SECRET_KEY": TEST_SECRET_KEY})
_teams = itertools.count(1)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def aud(site: Site) -> Iterator[Audience]:
    n = next(_teams)
    with channel_settings():
        yield make_audience(make_workspace(f"T{n:02d}TRK", f"Tracked {n}"), 3)


def _email(aud: Audience, **extra: object) -> Campaign:
    fields = {
        "name": "Spring offer",
        "channel": "email",
        "segment_id": aud.segment.id,
        "subject": "Hello {{ first_name }}",
        "body": "Dear {{ name }},\nsee https://shop.acme.test/spring and https://acme.test.\n",
    }
    actor = aud.ws.actor(aud.ws.manager)
    return service.send_now(actor, service.create_campaign(actor, **(fields | extra)).id)


def _recipient(campaign: Campaign, customer: Customer) -> CampaignRecipient:
    return CampaignRecipient.get(
        (CampaignRecipient.campaign == campaign.id) & (CampaignRecipient.customer == customer.id)
    )


def _public(campaign: Campaign, customer: Customer) -> str:
    return tokens.sign(_recipient(campaign, customer).token)


def _events(campaign: Campaign, kind: str) -> int:
    return (
        CampaignEvent.select()
        .join(CampaignRecipient)
        .where((CampaignRecipient.campaign == campaign.id) & (CampaignEvent.kind == kind))
        .count()
    )


def _optouts(customer: Customer) -> list[tuple[str, str]]:
    rows = CampaignOptOut.select().where(CampaignOptOut.customer == customer.id)
    return [(o.channel, o.source) for o in rows]


def _forged(public: str) -> str:
    return public[:-3] + ("xyz" if not public.endswith("xyz") else "abc")


def test_the_pixel_counts_one_open_keeps_every_event_and_always_answers_the_image(
    site: Site, aud: Audience
) -> None:
    campaign = _email(aud)
    public = _public(campaign, aud.people[0])
    for _ in range(2):
        r = http("GET", f"{site.web.url}/t/o/{public}.gif")
        assert (r.status, r.headers["content-type"]) == (200, "image/gif")
        assert r.body.startswith(b"GIF89a") and "no-store" in r.headers["cache-control"]
    forged = http("GET", f"{site.web.url}/t/o/{_forged(public)}.gif")
    assert (forged.status, forged.body) == (200, r.body)  # the same image: a probe learns nothing
    assert service.figures(Campaign.get_by_id(campaign.id)).opened == 1
    assert _events(campaign, "open") == 2


def test_a_click_redirects_only_to_the_campaigns_own_link(site: Site, aud: Audience) -> None:
    campaign = _email(aud)
    public = _public(campaign, aud.people[1])
    r = http("GET", f"{site.web.url}/t/c/{public}/1")
    assert (r.status, r.headers["location"]) == (302, "https://shop.acme.test/spring")
    assert http("GET", f"{site.web.url}/t/c/{public}/2").headers["location"] == "https://acme.test"
    for bad in ("3", "0", "-1", "x", "99999999999999999999"):
        r = http("GET", f"{site.web.url}/t/c/{public}/{bad}")
        assert r.status == 404 and "location" not in r.headers, bad
        assert "Link not found" in r.text
    r = http("GET", f"{site.web.url}/t/c/{_forged(public)}/1")
    assert r.status == 404 and "location" not in r.headers
    figures = service.figures(Campaign.get_by_id(campaign.id))
    assert (figures.clicked, figures.opened) == (1, 1)  # a click counts as an open once
    assert _events(campaign, "click") == 2


def test_unsubscribe_get_only_asks_and_the_post_opts_out_for_later_campaigns(
    site: Site, aud: Audience
) -> None:
    first = _email(aud)
    customer = aud.people[2]
    url = f"{site.web.url}/t/u/{_public(first, customer)}"
    page = http("GET", url)
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert '<form method="post">' in page.text and "Unsubscribe" in page.text
    assert _optouts(customer) == []  # a mail scanner following the link changes nothing
    done = http("POST", url, b"", FORM)
    assert done.status == 200 and "You are unsubscribed" in done.text
    assert http("POST", url, b"", FORM).status == 200  # again: nothing more happens
    assert _optouts(customer) == [("email", "link")]
    assert Customer.get_by_id(customer.id).unsubscribed == ["email"]
    assert service.figures(Campaign.get_by_id(first.id)).unsubscribed == 1
    later = _email(aud, name="Later offer")
    assert later.skipped_count == 2  # the customer without an address, and the one who left
    assert _recipient(later, customer).status == "skipped"


def test_the_rfc8058_one_click_post_unsubscribes_at_the_address_the_mail_names(
    site: Site, aud: Audience
) -> None:
    campaign = _email(aud)
    customer = aud.people[0]
    public = _public(campaign, customer)
    # the List-Unsubscribe header of the message points here (the public URL is the site's)
    header_url = messages.links_for(site.web.url, public)["unsubscribe"]
    r = http("POST", header_url, b"List-Unsubscribe=One-Click", FORM)
    assert (r.status, r.text) == (200, "unsubscribed\n")
    assert _optouts(customer) == [("email", "one_click")]


def _sent_invitation(aud: Audience, subject: str, at: str, where: str) -> Campaign:
    """An event invitation sent to the audience, as a manager sends it."""
    return _email(
        aud,
        name=subject,
        channel="event",
        subject=subject,
        body="Come {{ first_name }}",
        event_at=at,
        event_location=where,
    )


def test_rsvp_get_confirms_and_only_the_post_records_the_answer(site: Site, aud: Audience) -> None:
    event = _sent_invitation(aud, "Join our launch", "2031-03-20 18:00", "Lusaka")
    customer = aud.people[0]
    base = f"{site.web.url}/t/r/{_public(event, customer)}"
    page = http("GET", f"{base}?answer=maybe")
    assert page.status == 200 and "Join our launch" in page.text and "Maybe" in page.text
    assert _recipient(event, customer).rsvp is None
    bad = http("GET", f"{base}?answer=perhaps")
    assert bad.status == 400 and "answer" in bad.text and "yes, no, maybe" in bad.text
    assert http("POST", base, b"answer=perhaps", FORM).status == 400
    assert _recipient(event, customer).rsvp is None  # nothing changed by the bad answers
    done = http("POST", base, b"answer=yes", FORM)
    assert done.status == 200 and "Yes, I&#39;ll come" in done.text
    assert _recipient(event, customer).rsvp == "yes"
    assert _events(event, "rsvp") == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/t/c/{t}/1"),
        ("GET", "/t/u/{t}"),
        ("POST", "/t/u/{t}"),
        ("GET", "/t/r/{t}?answer=yes"),
        ("POST", "/t/r/{t}?answer=yes"),
    ],
)
def test_forged_and_bent_links_are_not_found_and_record_nothing(
    site: Site, aud: Audience, method: str, path: str
) -> None:
    campaign = _email(aud)
    public = _public(campaign, aud.people[0])
    for token in (
        _forged(public),
        tokens.sign("0" * 32),  # signed, but nobody's
        "x" * 3000,  # (past 4 KB gunicorn itself answers 414)
        quote("\x00\u202e<script>", safe=""),
    ):
        r = http(method, site.web.url + path.format(t=token), b"" if method == "POST" else None)
        assert r.status == 404, (path, token[:30], r.status)
    assert _optouts(aud.people[0]) == []
    assert _recipient(campaign, aud.people[0]).rsvp is None


def test_the_unsubscribe_page_in_a_real_browser(site: Site, aud: Audience, browser) -> None:
    campaign = _email(aud)
    customer = aud.people[1]
    browser.get(f"{site.web.url}/t/u/{_public(campaign, customer)}")
    assert browser.title == "Unsubscribe"
    assert _optouts(customer) == []
    browser.find_element(By.ID, "confirm").click()
    wait_for_text(browser, "You are unsubscribed")
    assert _optouts(customer) == [("email", "link")]


def test_the_rsvp_page_in_a_real_browser(site: Site, aud: Audience, browser) -> None:
    event = _sent_invitation(aud, "Open day", "2031-04-02 10:00", "Ndola")
    customer = aud.people[2]
    browser.get(f"{site.web.url}/t/r/{_public(event, customer)}?answer=no")
    assert "No, thanks" in browser.find_element(By.TAG_NAME, "body").text
    browser.find_element(By.ID, "confirm").click()
    wait_for_text(browser, "Your answer is recorded")
    assert _recipient(event, customer).rsvp == "no"
