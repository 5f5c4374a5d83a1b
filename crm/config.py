"""Settings from the environment and a ``.env`` file (SPEC 2).

Start-up fails fast: a missing or malformed value raises :class:`ConfigError` with one line
that names the variable and says what it is for, instead of a traceback deep inside a driver.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from dotenv import dotenv_values

from crm.db import url_options


class ConfigError(Exception):
    """One line naming the variable, shown to the operator as is."""


CURRENCY_CODES = frozenset(
    [
        "AED",
        "AUD",
        "BRL",
        "BWP",
        "CAD",
        "CHF",
        "CNY",
        "DKK",
        "EUR",
        "GBP",
        "GHS",
        "HKD",
        "INR",
        "JPY",
        "KES",
        "MWK",
        "MXN",
        "NGN",
        "NOK",
        "NZD",
        "RWF",
        "SEK",
        "SGD",
        "TZS",
        "UGX",
        "USD",
        "ZAR",
        "ZMW",
    ]
)


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///crm.db"
    redis_url: str | None = None
    slack_signing_secret: str | None = None
    slack_bot_token: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    port: int = 3000
    public_url: str = "http://localhost:3000"
    smtp_url: str | None = None
    mail_from: str | None = None
    sms_api_url: str | None = None
    sms_api_token: str | None = None
    default_currency: str = "ZMW"
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def oauth(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret)

    def seconds(self, name: str, default: float, *, zero_ok: bool = False) -> float:
        """An optional duration setting (``CRM_*``), refused with its name when it is not a
        number of seconds above zero (or at least zero, where zero means "never wait")."""
        raw = (self.extra.get(name) or "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value < 0 or (value == 0 and not zero_ok) or value != value:
            floor = "0 or more" if zero_ok else "above 0"
            raise ConfigError(f"{name}={raw!r} must be a number of seconds {floor}")
        return value

    def count(self, name: str, default: int) -> int:
        """An optional whole-number setting (``CRM_*``) of at least 1, refused with its name."""
        raw = (self.extra.get(name) or "").strip()
        if not raw:
            return default
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError(f"{name}={raw!r} must be a whole number of at least 1")
        return int(raw)

    def require_slack(self) -> None:
        """The web process needs a way to verify and a way to answer; say which is missing."""
        if not self.socket_mode and not self.slack_signing_secret:
            raise ConfigError(
                "SLACK_SIGNING_SECRET is required: it verifies that requests come from Slack "
                "(find it under Basic Information of your Slack app)"
            )
        if not self.slack_bot_token and not self.oauth:
            raise ConfigError(
                "SLACK_BOT_TOKEN is required (or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for "
                "multi-workspace installs): the bot needs it to answer in Slack"
            )


def _url(name: str, value: str, schemes: tuple[str, ...], purpose: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in schemes or (parsed.scheme not in ("sqlite",) and not parsed.netloc):
        raise ConfigError(
            f"{name}={value!r} is not a valid URL for {purpose}; expected "
            + " or ".join(f"{s}://..." for s in schemes[:2])
        )
    return value


def load_settings(environ: Mapping[str, str] | None = None, env_file: str = ".env") -> Settings:
    """Merge ``.env`` (lower precedence) with the process environment and validate."""
    values: dict[str, str] = {}
    if environ is None:
        if os.path.exists(env_file):
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ)
    else:
        values.update(environ)

    def get(name: str) -> str | None:
        raw = values.get(name)
        return raw.strip() if raw and raw.strip() else None

    port_raw = get("PORT") or "3000"
    if not port_raw.isdigit() or not 0 < int(port_raw) < 65536:
        raise ConfigError(
            f"PORT={port_raw!r} must be a TCP port number (1-65535) for the web server"
        )
    port = int(port_raw)

    database_url = _url(
        "DATABASE_URL",
        get("DATABASE_URL") or "sqlite:///crm.db",
        ("sqlite", "postgres", "postgresql", "postgres+pool", "postgresql+pool", "sqlite+pool"),
        "the database",
    )
    try:
        url_options(database_url)
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL={database_url!r}: {exc}") from None
    redis_url = get("REDIS_URL")
    if redis_url:
        _url("REDIS_URL", redis_url, ("redis", "rediss", "unix"), "the job queue")
    api_url = get("SLACK_API_URL") or "https://slack.com/api/"
    _url("SLACK_API_URL", api_url, ("http", "https"), "the Slack Web API")
    if not api_url.endswith("/"):
        api_url += "/"
    public_url = (get("PUBLIC_URL") or f"http://localhost:{port}").rstrip("/")
    _url("PUBLIC_URL", public_url, ("http", "https"), "tracking links and OAuth redirects")
    smtp_url = get("SMTP_URL")
    if smtp_url:
        _url("SMTP_URL", smtp_url, ("smtp", "smtps"), "campaign email (smtp://user:pass@host:port)")
    sms_api_url = get("SMS_API_URL")
    if sms_api_url:
        _url("SMS_API_URL", sms_api_url, ("http", "https"), "the SMS provider")
    currency = (get("CRM_DEFAULT_CURRENCY") or "ZMW").upper()
    if currency not in CURRENCY_CODES:
        raise ConfigError(
            f"CRM_DEFAULT_CURRENCY={currency!r} is not a supported ISO 4217 code for new "
            "workspaces; e.g. ZMW, USD, EUR"
        )
    bot_token = get("SLACK_BOT_TOKEN")
    if bot_token and not bot_token.startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
    app_token = get("SLACK_APP_TOKEN")
    if app_token and not app_token.startswith("xapp-"):
        raise ConfigError(
            "SLACK_APP_TOKEN must be an app-level token starting with xapp- (Socket Mode)"
        )

    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        slack_signing_secret=get("SLACK_SIGNING_SECRET"),
        slack_bot_token=bot_token,
        slack_client_id=get("SLACK_CLIENT_ID"),
        slack_client_secret=get("SLACK_CLIENT_SECRET"),
        slack_app_token=app_token,
        slack_api_url=api_url,
        port=port,
        public_url=public_url,
        smtp_url=smtp_url,
        mail_from=get("MAIL_FROM"),
        sms_api_url=sms_api_url,
        sms_api_token=get("SMS_API_TOKEN"),
        default_currency=currency,
        extra=values,
    )
