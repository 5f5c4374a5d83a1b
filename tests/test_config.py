"""Configuration errors stop start-up with one line that names the variable."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import time
from pathlib import Path

import pytest

from crm.config import ConfigError, load_settings
from crm.encryption import new_key
from tests.conftest import TEST_SECRET_KEY


def test_defaults():
    s = load_settings({})
    assert s.database_url == "sqlite:///crm.db"
    assert s.redis_url is None and s.port == 3000
    assert s.public_url == "http://localhost:3000"
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.default_currency == "ZMW"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"DATABASE_URL": "mysql//nope"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://db/crm?prepared_statements=1"}, "DATABASE_URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL"),
        ({"SMTP_URL": "mail.example.com"}, "SMTP_URL"),
        ({"CRM_DEFAULT_CURRENCY": "DOGE"}, "CRM_DEFAULT_CURRENCY"),
        ({"SLACK_BOT_TOKEN": "xoxp-user-token"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_APP_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN"),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY"),
        ({"CRM_HANDLER_THREADS": "0"}, "CRM_HANDLER_THREADS"),
        ({"CRM_PROMETHEUS": "maybe"}, "CRM_PROMETHEUS"),
        ({"CRM_NIGHTLY_AT": "25:99"}, "CRM_NIGHTLY_AT"),
        ({"CRM_SCAN_INTERVAL": "inf"}, "CRM_SCAN_INTERVAL"),
        ({"CRM_HOME_REFRESH_INTERVAL": "-1"}, "CRM_HOME_REFRESH_INTERVAL"),
    ],
)
def test_malformed_values_are_named(env, named):
    with pytest.raises(ConfigError) as exc:
        load_settings(env)
    assert str(exc.value).startswith(named) and "\n" not in str(exc.value)


def test_slack_requirements_are_named():
    with pytest.raises(ConfigError, match=r"^SLACK_SIGNING_SECRET"):
        load_settings({"SLACK_BOT_TOKEN": "xoxb-1"}).require_slack()
    with pytest.raises(ConfigError, match=r"^SLACK_BOT_TOKEN"):
        load_settings({"SLACK_SIGNING_SECRET": "s"}).require_slack()
    load_settings({"SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-1"}).require_slack()
    oauth = {"SLACK_SIGNING_SECRET": "s", "SLACK_CLIENT_ID": "1", "SLACK_CLIENT_SECRET": "2"}
    # OAuth stores Slack tokens, which are encrypted: the key is required with it
    with pytest.raises(ConfigError, match=r"^CRM_SECRET_KEY is required with SLACK_CLIENT_ID"):
        load_settings(oauth)
    assert load_settings({**oauth, "CRM_SECRET_KEY": TEST_SECRET_KEY}).oauth


def test_secret_key_is_refused_by_name_when_malformed():
    for bad, where in [("abc", ""), ("x" * 44, ""), (f"{TEST_SECRET_KEY},nope", " (key 2 of 2)")]:
        with pytest.raises(ConfigError) as caught:
            load_settings({"CRM_SECRET_KEY": bad})
        message = str(caught.value)
        assert message.startswith(f"CRM_SECRET_KEY is not valid{where}; expected one or more")
        assert "crm secrets new-key" in message and bad not in message
    settings = load_settings({"CRM_SECRET_KEY": f" {new_key()}, {TEST_SECRET_KEY} "})
    assert settings.secret_key and "secret_key" not in repr(settings)


def test_dotenv_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("PORT=4000\nMAIL_FROM=sales@acme.test\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PORT", "5000")
    s = load_settings()
    assert (s.port, s.mail_from) == (5000, "sales@acme.test")


def test_cli_prints_one_line_without_traceback(tmp_path):
    env = {**os.environ, "DATABASE_URL": "oracle://db"}
    out = subprocess.run(
        [sys.executable, "-m", "workers.cli", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "DATABASE_URL" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_every_setting_is_typed() -> None:
    s = load_settings(
        {
            "CRM_NIGHTLY_AT": "03:15",
            "CRM_PROMETHEUS": "yes",
            "CRM_HANDLER_NICENESS": "5",
            "CRM_REMINDER_BATCH": "7",
            "CRM_SLACK_MAX_WAIT": "0",
            "PORT": "4000",
        }
    )
    assert s.nightly_at == time(3, 15) and s.prometheus is True
    assert (s.handler_niceness, s.reminder_batch, s.slack_max_wait) == (5, 7, 0.0)
    assert s.public_url == "http://localhost:4000"  # derived from PORT when unset
    assert load_settings({}).handler_niceness == "idle"


def test_nothing_reads_the_environment_but_crm_config() -> None:
    """One Settings object: no ad-hoc ``os.environ`` reads in the product's code."""
    root = Path(__file__).resolve().parents[1]
    readers = [
        str(path.relative_to(root))
        for package in ("crm", "bot", "workers")
        for path in (root / package).rglob("*.py")
        if re.search(r"os\.environ|getenv\(|\.extra\.get\(", path.read_text())
    ]
    assert readers == ["crm/config.py"]
