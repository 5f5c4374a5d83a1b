"""The Slack stand-in answers the SDK the way Slack does, including 429s."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.slack_fake import FakeSlack, SlackUser


@pytest.fixture
def fake():
    with FakeSlack() as server:
        yield server


def test_records_calls_and_users(fake):
    fake.add_user(SlackUser("U1", "Jane Doe", email="jane@acme.test", tz="Europe/Paris"))
    client = WebClient(token="xoxb-test", base_url=fake.api_url)
    info = client.users_info(user="U1")
    assert info["user"]["tz"] == "Europe/Paris"
    posted = client.chat_postMessage(channel="C1", text="hi")
    assert posted["ts"]
    call = fake.wait_for("chat.postMessage")[0]
    assert call.args["text"] == "hi" and call.token == "xoxb-test"
    with pytest.raises(SlackApiError):
        client.users_info(user="UNKNOWN")


def test_rate_limit_is_retried_by_the_sdk_handler(fake):
    fake.rate_limit_every(2, retry_after=0)
    client = WebClient(
        token="xoxb-test",
        base_url=fake.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    for i in range(4):
        client.chat_postMessage(channel="C1", text=str(i))
    assert [c.args["text"] for c in fake.calls_to("chat.postMessage")] == ["0", "1", "2", "3"]
