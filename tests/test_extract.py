"""crm.extract: the prefill of "Create lead from message" (pure, no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.extract import Contact, extract_contact, plain_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hi team, I'm Jane Doe from Acme. Reach me at <mailto:jane@acme.io|jane@acme.io> "
            "or <tel:+260971234567|+260 97 123 4567>",
            Contact("Jane Doe", "jane@acme.io", "+260971234567"),
        ),
        (
            "New prospect\nName: Peter van der Berg\nEmail: PETER@Example.COM\nPhone: 0971234567",
            Contact("Peter van der Berg", "peter@example.com", "+260971234567"),
        ),
        (
            # Slack escapes the angle brackets people type
            "Please add Mary Banda &lt;<mailto:mary@banda.co.zm|mary@banda.co.zm>&gt; as a lead",
            Contact("Mary Banda", "mary@banda.co.zm", None),
        ),
        (
            "Thanks for the call today, we'd like a quote.\n\nBest regards,\nJohn Phiri\n"
            "Procurement, Copperbelt Mining\n+260 96 555 1234",
            Contact("John Phiri", None, "+260965551234"),
        ),
        (
            "see thread, contact is chanda.mwila@zambeef.co.zm",
            Contact("Chanda Mwila", "chanda.mwila@zambeef.co.zm", None),
        ),
        (
            "Grace Tembo\ngrace@tembo.io",
            Contact("Grace Tembo", "grace@tembo.io", None),
        ),
        ("info@acme.io wants a demo", Contact(None, "info@acme.io", None)),
        ("I'm sure they will call back on the 15th", Contact(None, None, None)),
        ("", Contact()),
    ],
)
def test_extracts_name_email_and_phone(text: str, expected: Contact) -> None:
    assert extract_contact(text, "ZM") == expected


def test_digits_inside_addresses_and_links_are_not_phone_numbers() -> None:
    found = extract_contact(
        "ref 0971234567@acme.io, see <https://acme.io/q/0965551234|quote>", "ZM"
    )
    assert found.phone is None
    assert found.email == "0971234567@acme.io"


def test_the_company_region_reads_local_numbers() -> None:
    assert extract_contact("call 020 7946 0958", "GB").phone == "+442079460958"
    assert extract_contact("call 020 7946 0958", "ZM").phone is None


def test_plain_text_unwraps_slack_markup() -> None:
    text = "<@U123|bob> see <https://x.io/a|the quote> &amp; <mailto:a@b.io|a@b.io> in <#C1|sales>"
    assert plain_text(text) == "@bob see the quote & a@b.io in sales"


@given(st.text(max_size=400), st.sampled_from(["ZM", "GB", "US", "zz"]))
def test_never_raises_and_returns_canonical_values(text: str, region: str) -> None:
    found = extract_contact(text, region)
    assert found.email is None or found.email == found.email.lower()
    assert found.phone is None or found.phone.startswith("+")
    assert found.name is None or 2 <= len(found.name) <= 200
