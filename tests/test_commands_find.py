"""``/crm find`` end to end over signed HTTP against the web process, on both backends:
partial name, email, phone digits and company, across leads, customers and opportunities,
best match first with refs and Open buttons, paged, never across workspaces."""

from __future__ import annotations

import pytest

from tests.e2e_support import SlackClient, SlackUserRef
from tests.records_support import Team, ask, buttons, click, ref_in, text_of, warned

pytestmark = pytest.mark.slow
pytest_plugins = ("tests.records_fixtures",)


def opened(answer: dict) -> list[str]:  # type: ignore[type-arg]
    return [b["value"] for b in buttons(answer, "open_record")]


def test_find_across_kinds_best_first_paged_and_workspace_only(
    slack: SlackClient, team: Team, outsider: SlackUserRef
) -> None:
    lid = ref_in(
        ask(
            slack,
            'lead add "Jane Doe" email=jane.doe@initech.io phone=0971234567 company="Initech Ltd"',
            team.rep,
        ),
        "L",
    )
    cid = ref_in(ask(slack, 'customer add "Janet Smith" email=janet@umbrella.com', team.rep), "C")
    oid = ref_in(ask(slack, f'opp add "Initech renewal" customer=C{cid} amount=5k', team.rep), "O")

    found = ask(slack, "find jan", team.rep2)
    assert opened(found) == [f"C{cid}", f"L{lid}"]
    assert f"*L{lid}* Jane Doe · lead · jane.doe@initech.io · +260971234567 · Initech Ltd" in (
        text_of(found)
    )
    assert opened(ask(slack, "find doe@initech", team.rep)) == [f"L{lid}"]
    assert opened(ask(slack, "find 097 123", team.rep)) == [f"L{lid}"]
    assert opened(ask(slack, "find initech", team.rep)) == [f"O{oid}", f"L{lid}"]
    assert opened(ask(slack, "find jane initech", team.rep)) == [f"L{lid}"]
    card = click(slack, "open_record", f"L{lid}", team.rep)
    assert f"*L{lid}* Jane Doe" in text_of(card)

    assert 'Found for "nobody"' in text_of(ask(slack, "find nobody", team.rep))
    assert "words:" in warned(ask(slack, "find", team.rep))
    # another workspace finds nothing of ours
    assert opened(ask(slack, "find jane", outsider)) == []

    for n in range(22):
        ask(slack, f'lead add "Pager {chr(65 + n) * 5}" email=p{n}@pager.io', team.rep)
    page = ask(slack, "find pager", team.rep)
    assert len(opened(page)) == 20 and "(1-20)" in text_of(page)
    (more,) = buttons(page, "list_page")
    second = click(slack, "list_page", more["value"], team.rep)
    assert len(opened(second)) == 2 and "(21-22)" in text_of(second)
