"""Settings from the environment and a ``.env`` file (SPEC 2): ONE typed object, validated
whole before any process does work.

Every configuration value is a field of :class:`Settings`, declared with :func:`setting` on
one line: the variable's name, its default and its parser. :func:`load_settings` reads each
field's variable and runs its parser, so a malformed value stops start-up with a
:class:`ConfigError` (one line naming the variable and the expected form) before a process
opens a database, claims a reminder or calls Slack. Nothing else reads ``os.environ``.

Why our own ~100 lines rather than pydantic-settings: each refusal must be one line that
names the variable and the form in words an operator understands (``CRM_HANDLER_THREADS='0'
must be a whole number of at least 1``), the parsers are shared with nothing else, and
python-dotenv (already here for ``.env``) does the file part.

Adding a setting: one line in :class:`Settings` (``name: type = setting("VAR", default,
parser)``) and one row in the README's configuration table (``tests/test_config.py`` compares
the two).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import time
from typing import Any
from urllib.parse import urlparse

from dotenv import dotenv_values

from crm.db import url_options
from crm.secret_keys import KEY_FORM, parse_keys


class ConfigError(Exception):
    """One line naming the variable, shown to the operator as is."""


class Unreachable(ConfigError):
    """A service a setting points at does not answer at start-up: one line naming the service
    and its variable (the process exits 2 rather than start half-working)."""

    def __init__(self, service: str, variable: str, url: str, reason: object) -> None:
        first = (
            str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
        )
        super().__init__(f"{service} unreachable at {variable}={redact(url)}: {first}")


def redact(url: str) -> str:
    """``url`` without its password, fit for a log line or a terminal."""
    parsed = urlparse(url)
    if not parsed.password:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return parsed._replace(netloc=netloc).geturl()


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

Parser = Callable[[str, str], Any]
"""``parser(variable_name, raw_text) -> value``; raises :class:`ConfigError` naming the
variable. Only called for a set, non-blank value (blank counts as unset)."""


# --- parsers ----------------------------------------------------------------------------------


def text(name: str, raw: str) -> str:
    return raw


def url(*schemes: str, purpose: str) -> Parser:
    def parse(name: str, raw: str) -> str:
        parsed = urlparse(raw)
        if parsed.scheme not in schemes or (
            not parsed.scheme.startswith("sqlite") and not parsed.netloc
        ):
            expected = " or ".join(f"{s}://..." for s in schemes[:2])
            raise ConfigError(
                f"{name}={raw!r} is not a valid URL for {purpose}; expected {expected}"
            )
        return raw

    return parse


def whole(minimum: int = 1, maximum: int | None = None) -> Parser:
    def parse(name: str, raw: str) -> int:
        if not raw.isdigit() or int(raw) < minimum or (maximum is not None and int(raw) > maximum):
            bound = (
                f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
            )
            raise ConfigError(f"{name}={raw!r} must be a whole number {bound}")
        return int(raw)

    return parse


def seconds(*, zero_ok: bool = False) -> Parser:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value < 0 or (value == 0 and not zero_ok) or value != value or value == float("inf"):
            floor = "0 or more" if zero_ok else "above 0"
            raise ConfigError(f"{name}={raw!r} must be a number of seconds {floor}")
        return value

    return parse


def per_second(name: str, raw: str) -> float:
    """A send rate in messages per second; 0 means no limit."""
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ConfigError(f"{name}={raw!r} must be messages per second, 0 or more (0: no limit)")
    return value


def flag(name: str, raw: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} must be 1 or 0 (yes/no, true/false)")


def prefixed(prefix: str, what: str) -> Parser:
    def parse(name: str, raw: str) -> str:
        if not raw.startswith(prefix):
            raise ConfigError(f"{name} must be {what} starting with {prefix}")
        return raw

    return parse


def currency(name: str, raw: str) -> str:
    code = raw.upper()
    if code not in CURRENCY_CODES:
        raise ConfigError(
            f"{name}={code!r} is not a supported ISO 4217 code for new workspaces; "
            "e.g. ZMW, USD, EUR"
        )
    return code


def niceness(name: str, raw: str) -> int | str:
    value = raw.lower()
    if value == "idle":
        return value
    if value.isdigit() and int(value) <= 19:
        return int(value)
    raise ConfigError(f"{name}={value!r} must be idle or a niceness from 0 to 19")


def clock_time(name: str, raw: str) -> time:
    try:
        hour, minute = (int(p) for p in raw.split(":"))
        return time(hour, minute)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} must be a UTC time like 02:30") from None


def port(name: str, raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{name}={raw!r} must be a TCP port number (1-65535) for the web server")
    return int(raw)


def database_url(name: str, raw: str) -> str:
    url(
        "sqlite",
        "postgres",
        "postgresql",
        "postgres+pool",
        "postgresql+pool",
        "sqlite+pool",
        purpose="the database",
    )(name, raw)
    try:
        url_options(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r}: {exc}") from None
    return raw


def secret_keys(name: str, raw: str) -> str:
    """Fernet keys, comma-separated (:mod:`crm.encryption`); never echoed in the refusal."""
    try:
        parse_keys(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} {exc}") from None
    return raw


def setting(env: str, default: Any, parse: Parser = text, *, secret: bool = False) -> Any:
    """A field of :class:`Settings` read from the variable ``env`` (``secret``: kept out of
    the object's repr, so a logged Settings never shows it)."""
    return field(default=default, repr=not secret, metadata={"env": env, "parse": parse})


# --- the settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Every configuration value of every process. The README's table documents each
    variable; defaults here are the product's defaults."""

    database_url: str = setting("DATABASE_URL", "sqlite:///crm.db", database_url)
    redis_url: str | None = setting(
        "REDIS_URL", None, url("redis", "rediss", "unix", purpose="the job queue")
    )
    slack_signing_secret: str | None = setting("SLACK_SIGNING_SECRET", None)
    slack_bot_token: str | None = setting("SLACK_BOT_TOKEN", None, prefixed("xoxb-", "a bot token"))
    slack_client_id: str | None = setting("SLACK_CLIENT_ID", None)
    slack_client_secret: str | None = setting("SLACK_CLIENT_SECRET", None)
    slack_app_token: str | None = setting(
        "SLACK_APP_TOKEN", None, prefixed("xapp-", "an app-level token (Socket Mode)")
    )
    slack_api_url: str = setting(
        "SLACK_API_URL", "https://slack.com/api/", url("http", "https", purpose="the Slack Web API")
    )
    port: int = setting("PORT", 3000, port)
    public_url: str | None = setting(
        "PUBLIC_URL", None, url("http", "https", purpose="tracking links and OAuth redirects")
    )
    smtp_url: str | None = setting(
        "SMTP_URL",
        None,
        url("smtp", "smtps", purpose="campaign email (smtp://user:pass@host:port)"),
    )
    mail_from: str | None = setting("MAIL_FROM", None)
    sms_api_url: str | None = setting(
        "SMS_API_URL", None, url("http", "https", purpose="the SMS provider")
    )
    sms_api_token: str | None = setting("SMS_API_TOKEN", None)
    default_currency: str = setting("CRM_DEFAULT_CURRENCY", "ZMW", currency)
    secret_key: str | None = setting("CRM_SECRET_KEY", None, secret_keys, secret=True)
    # web process (gunicorn)
    web_concurrency: int = setting("WEB_CONCURRENCY", 2, whole(1))
    web_threads: int = setting("WEB_THREADS", 8, whole(1))
    gunicorn_bind: str | None = setting("GUNICORN_BIND", None)
    gunicorn_access_log: str = setting("GUNICORN_ACCESS_LOG", "-")
    log_level: str = setting("LOG_LEVEL", "info")
    handler_threads: int = setting("CRM_HANDLER_THREADS", 12, whole(1))
    handler_niceness: int | str = setting("CRM_HANDLER_NICENESS", "idle", niceness)
    home_refresh_interval: float = setting("CRM_HOME_REFRESH_INTERVAL", 5.0, seconds(zero_ok=True))
    # workers and scheduler
    redis_namespace: str = setting("CRM_REDIS_NAMESPACE", "crm")
    api_rate_limit: int = setting("CRM_API_RATE_LIMIT", 600, whole(1))
    prometheus: bool = setting("CRM_PROMETHEUS", False, flag)
    scan_interval: float = setting("CRM_SCAN_INTERVAL", 60.0, seconds())
    digest_scan_interval: float = setting("CRM_DIGEST_SCAN_INTERVAL", 300.0, seconds())
    metrics_scan_interval: float = setting("CRM_METRICS_SCAN_INTERVAL", 60.0, seconds())
    nightly_at: time = setting("CRM_NIGHTLY_AT", time(2, 30), clock_time)
    scheduler_lock_ttl: float = setting("CRM_SCHEDULER_LOCK_TTL", 15.0, seconds())
    slack_max_wait: float = setting("CRM_SLACK_MAX_WAIT", 5.0, seconds(zero_ok=True))
    reminder_claim_timeout: float = setting("CRM_REMINDER_CLAIM_TIMEOUT", 300.0, seconds())
    reminder_batch: int = setting("CRM_REMINDER_BATCH", 20, whole(1))
    # campaigns (crm.campaigns.dispatch)
    campaign_batch: int = setting("CRM_CAMPAIGN_BATCH", 100, whole(1, 5000))
    campaign_lease: float = setting("CRM_CAMPAIGN_LEASE", 120.0, seconds())
    campaign_parallel: int = setting("CRM_CAMPAIGN_PARALLEL", 4, whole(1, 64))
    campaign_email_rate: float = setting("CRM_CAMPAIGN_EMAIL_RATE", 50.0, per_second)
    campaign_sms_rate: float = setting("CRM_CAMPAIGN_SMS_RATE", 10.0, per_second)
    campaign_send_timeout: float = setting("CRM_CAMPAIGN_SEND_TIMEOUT", 30.0, seconds())
    campaign_max_failures: int = setting("CRM_CAMPAIGN_MAX_FAILURES", 5, whole(1, 100))
    campaign_scan_interval: float = setting("CRM_CAMPAIGN_SCAN_INTERVAL", 5.0, seconds())

    def __post_init__(self) -> None:
        # derived forms: the API base ends with "/", PUBLIC_URL defaults to this port
        if not self.slack_api_url.endswith("/"):
            object.__setattr__(self, "slack_api_url", self.slack_api_url + "/")
        public = self.public_url or f"http://localhost:{self.port}"
        object.__setattr__(self, "public_url", public.rstrip("/"))
        if self.oauth and not self.secret_key:
            raise ConfigError(
                "CRM_SECRET_KEY is required with SLACK_CLIENT_ID and SLACK_CLIENT_SECRET: it "
                f"encrypts the Slack tokens of OAuth installs at rest; expected {KEY_FORM}"
            )

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def oauth(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret)

    def require_slack(self) -> None:
        """The web process needs a way to verify and a way to answer; say which is missing."""
        if not self.socket_mode and not self.slack_signing_secret:
            raise ConfigError(
                "SLACK_SIGNING_SECRET is required: it verifies that requests come from Slack "
                "(find it under Basic Information of your Slack app; to try the bot without "
                "Slack, run `crm chat`)"
            )
        if not self.slack_bot_token and not self.oauth:
            raise ConfigError(
                "SLACK_BOT_TOKEN is required (or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for "
                "multi-workspace installs): the bot needs it to answer in Slack"
            )
        if self.slack_bot_token and self.oauth:
            raise ConfigError(
                "set either SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and "
                "SLACK_CLIENT_SECRET (multi-workspace installs), not both"
            )


def variables() -> dict[str, str]:
    """``{variable: field name}`` of every setting (the README table is checked against it)."""
    return {f.metadata["env"]: f.name for f in fields(Settings)}


def load_settings(environ: Mapping[str, str] | None = None, env_file: str = ".env") -> Settings:
    """Merge ``.env`` (lower precedence) with the process environment, parse every field."""
    values: dict[str, str] = {}
    if environ is None:
        if os.path.exists(env_file):
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ)
    else:
        values.update(environ)
    parsed: dict[str, Any] = {}
    for f in fields(Settings):
        raw = (values.get(f.metadata["env"]) or "").strip()
        if raw:
            parsed[f.name] = f.metadata["parse"](f.metadata["env"], raw)
    return Settings(**parsed)
