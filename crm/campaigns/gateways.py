"""One gateway per outside system a campaign sends through (SPEC 6), chosen by configuration:
SMTP (``SMTP_URL``, ``MAIL_FROM``) for email and event invitations, the HTTP SMS provider
(``SMS_API_URL``, ``SMS_API_TOKEN``), and incoming webhooks for social posts (posts to a Slack
channel go through the workers' Slack gateway instead: ``crm`` does not import Slack).

Each gateway opens one connection per batch (:meth:`session`) and reuses it for every message
of the batch. Failures come out as three kinds, which is all the dispatcher needs to decide:

- :class:`Rejected`: this recipient's message was refused for good (SMTP 5xx for the
  address, HTTP 4xx other than 429): recorded as failed with the provider's reason;
- :class:`Temporary`: try again later (SMTP 4xx, HTTP 429 and 5xx; ``retry_after`` when the
  provider said how long);
- :class:`Unreachable`: no connection (refused, timed out, dropped): counted, and after
  repeated ones the campaign pauses itself with the reason.

Why the standard library (smtplib, http.client) and no HTTP package: one keep-alive connection
per batch is all that is needed, and these give exact control over it and over the timeouts.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Protocol
from urllib.parse import unquote, urlparse

from crm.config import Settings

TIMEOUT = 30.0


class SendError(Exception):
    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason[:500]
        self.retry_after = retry_after


class Rejected(SendError):
    """Refused for good for this recipient."""


class Temporary(SendError):
    """Refused for now: retry with backoff."""


class Unreachable(SendError):
    """The provider could not be reached at all."""


# --- email -------------------------------------------------------------------------------------


class MailSession:
    def __init__(self, smtp: smtplib.SMTP, sender: str) -> None:
        self.smtp = smtp
        self.sender = sender

    def send(self, message: EmailMessage) -> None:
        """Hand one message to the server; returns once it accepted it."""
        try:
            refused = self.smtp.send_message(message, from_addr=self.sender)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _smtp_error(code, text) from None
        except smtplib.SMTPResponseException as exc:
            if isinstance(exc, smtplib.SMTPServerDisconnected):
                raise Unreachable(f"mail server disconnected: {exc}") from None
            raise _smtp_error(exc.smtp_code, exc.smtp_error) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise Unreachable(f"mail server connection lost: {exc}") from None
        if refused:
            code, text = next(iter(refused.values()))
            raise _smtp_error(code, text)


def _smtp_error(code: int, text: bytes | str) -> SendError:
    reason = f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
    return Temporary(reason) if 400 <= code < 500 else Rejected(reason)


class MailGateway:
    """SMTP at ``SMTP_URL`` (``smtp://user:pass@host:port``, ``smtps://`` for TLS from the
    start; plain ``smtp://`` upgrades with STARTTLS when the server offers it)."""

    def __init__(self, smtp_url: str, mail_from: str, *, timeout: float = TIMEOUT) -> None:
        self.url = urlparse(smtp_url)
        self.mail_from = mail_from
        self.sender = parseaddr(mail_from)[1] or mail_from
        self.timeout = timeout

    @property
    def domain(self) -> str:
        """The sender's domain: the right side of every Message-ID."""
        return self.sender.rpartition("@")[2] or "localhost"

    @contextmanager
    def session(self) -> Iterator[MailSession]:
        """One connection for a batch; :class:`Unreachable` if it cannot be opened."""
        host = self.url.hostname or "localhost"
        where = f"{host}:{self.url.port or (465 if self.url.scheme == 'smtps' else 25)}"
        try:
            if self.url.scheme == "smtps":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    host,
                    self.url.port or 465,
                    timeout=self.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(host, self.url.port or 25, timeout=self.timeout)
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
            if self.url.username:
                smtp.login(unquote(self.url.username), unquote(self.url.password or ""))
        except smtplib.SMTPAuthenticationError as exc:
            raise Unreachable(f"mail server refused the login: {exc.smtp_code}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise Unreachable(f"mail server unreachable at {where}: {exc}") from None
        try:
            yield MailSession(smtp, self.sender)
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


# --- SMS ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sms:
    to: str
    body: str
    idempotency_key: str


class SmsSession:
    def __init__(self, gateway: SmsGateway) -> None:
        self.gateway = gateway
        self.conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            url = self.gateway.url
            cls = (
                http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
            )
            self.conn = cls(url.hostname or "localhost", url.port, timeout=self.gateway.timeout)
        return self.conn

    def send(self, sms: Sms) -> None:
        """``POST {"to", "body"}`` with ``Idempotency-Key``; 2xx = accepted."""
        gw = self.gateway
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": sms.idempotency_key,
        }
        if gw.token:
            headers["Authorization"] = f"Bearer {gw.token}"
        body = json.dumps({"to": sms.to, "body": sms.body})
        for attempt in (1, 2):
            reused = self.conn is not None
            try:
                conn = self._connection()
                conn.request("POST", gw.path, body=body, headers=headers)
                response = conn.getresponse()
                text = response.read(2000).decode("utf-8", errors="replace")
                break
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                # a kept-alive connection the provider closed meanwhile: once more on a new
                # one (the Idempotency-Key makes a repeat harmless)
                if attempt == 1 and reused:
                    continue
                raise Unreachable(f"SMS provider unreachable: {exc}") from None
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        status = response.status
        if 200 <= status < 300:
            return
        reason = f"{status} {_reason(text) or response.reason}"
        if status == 429 or status >= 500:
            raise Temporary(reason, retry_after=_retry_after(response.getheader("Retry-After")))
        raise Rejected(reason)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _reason(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:200]
    if isinstance(data, dict):
        for key in ("error", "message", "detail", "reason"):
            if data.get(key):
                return str(data[key])[:200]
    return text.strip()[:200]


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, min(float(value), 300.0)) if value else None
    except ValueError:
        return None


class SmsGateway:
    def __init__(self, api_url: str, token: str | None, *, timeout: float = TIMEOUT) -> None:
        self.url = urlparse(api_url)
        self.path = (self.url.path or "/") + (f"?{self.url.query}" if self.url.query else "")
        self.token = token
        self.timeout = timeout

    @contextmanager
    def session(self) -> Iterator[SmsSession]:
        session = SmsSession(self)
        try:
            yield session
        finally:
            session.close()


# --- social: incoming webhooks ---------------------------------------------------------------


def _public_ips(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise Unreachable(f"webhook host {host} cannot be resolved: {exc}") from None
    ips = [str(info[4][0]) for info in infos]
    for ip in ips:
        address = ipaddress.ip_address(ip.split("%")[0])
        if not address.is_global or address.is_multicast:
            raise Rejected(f"webhook host {host} resolves to a non-public address")
    return ips


def post_webhook(url: str, text: str, *, timeout: float = TIMEOUT) -> None:
    """POST ``{"text": ...}`` to an incoming webhook, ``https`` only; the host is resolved and
    checked again right before the post (a name that now points inside is refused)."""
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise Rejected("webhooks must be https:// URLs")
    _public_ips(parsed.hostname, parsed.port or 443)
    conn = http.client.HTTPSConnection(parsed.hostname, parsed.port, timeout=timeout)
    try:
        path = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
        conn.request(
            "POST",
            path,
            body=json.dumps({"text": text}),
            headers={"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        body = response.read(2000).decode("utf-8", errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        raise Unreachable(f"webhook unreachable: {exc}") from None
    finally:
        conn.close()
    if 200 <= response.status < 300:
        return
    reason = f"{response.status} {_reason(body) or response.reason}"
    if response.status == 429 or response.status >= 500:
        raise Temporary(reason, retry_after=_retry_after(response.getheader("Retry-After")))
    raise Rejected(reason)


# --- choosing ---------------------------------------------------------------------------------


class Session(Protocol):
    def send(self, message: object) -> None: ...


def mail_gateway(settings: Settings) -> MailGateway:
    if not settings.smtp_url or not settings.mail_from:
        raise Unreachable("SMTP_URL and MAIL_FROM are not set")
    return MailGateway(
        settings.smtp_url, settings.mail_from, timeout=settings.campaign_send_timeout
    )


def sms_gateway(settings: Settings) -> SmsGateway:
    if not settings.sms_api_url:
        raise Unreachable("SMS_API_URL is not set")
    return SmsGateway(
        settings.sms_api_url, settings.sms_api_token, timeout=settings.campaign_send_timeout
    )
