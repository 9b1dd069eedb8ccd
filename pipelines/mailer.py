"""SMTP delivery, at most once per (subscriber, week).

A ledger row is committed as "sending" before the SMTP transaction; it becomes "sent" after the
server's 250. A crash between the two leaves "sending": the outcome is unknown, so it is reported
and never sent again automatically (GOV.UK email-alert-api ADR-009). 4xx answers mark "retry"
(the next run may send), 5xx answers mark "failed". TLS, when asked for, is verified and never
downgraded (CPython #91826: smtplib's starttls() does not verify by default).
"""
from __future__ import annotations

import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import EmailPolicy
from urllib.parse import parse_qs, unquote, urlsplit

from pipelines.errors import ConfigError, UserError
from storage import people
from storage.db import Engine, write

TIMEOUT_S = 30
#: A "sending" row younger than this belongs to a send still in progress (another process):
#: skip it quietly. Older ones are outcomes nobody knows, reported as such. Never resent either way.
IN_FLIGHT_S = 600


#: Headers whose value is a list of <URI>s (RFC 2369). Mailbox providers read them verbatim, so they
#: must never be RFC 2047-encoded, which the email package does to any word longer than a line.
URI_LIST_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post", "list-help", "list-archive"})


class MailPolicy(EmailPolicy):
    """The SMTP policy, except that URI-list headers are folded only between their <URI>s."""

    def _fold(self, name: str, value: object, refold_binary: bool = False) -> str:
        if name.lower() not in URI_LIST_HEADERS:
            return super()._fold(name, value, refold_binary)  # type: ignore[misc]
        text = re.sub(r"\s+", " ", str(value)).strip()
        if not text.isascii():
            raise ValueError(f"{name} must be plain ASCII <URI>s, got {text!r}")
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return f"{name}: " + ("," + self.linesep + " ").join(parts) + self.linesep


#: Every message we build uses this (digest, demo, alerts): headers as email.policy.SMTP would, but a
#: List-Unsubscribe that mail clients can read (`<https://…>, <mailto:…>`).
MAIL_POLICY = MailPolicy(linesep="\r\n")


@dataclass
class SmtpConfig:
    host: str
    port: int
    tls: str  # "none" | "starttls" | "implicit"
    user: str | None
    password: str | None
    cafile: str | None


def parse_smtp_url(url: str) -> SmtpConfig:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(f"SCRUTINEER_SMTP_URL must be smtp://host:port or smtps://host:port, got {parts.scheme!r}")
    try:
        port = parts.port
    except ValueError:
        bad = parts.netloc.rpartition(":")[2]
        raise ConfigError(f"SCRUTINEER_SMTP_URL has an invalid port (must be a number 1-65535): {bad!r}") from None
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["0"])[0] in ("1", "true", "yes")
    tls = "implicit" if parts.scheme == "smtps" else ("starttls" if starttls else "none")
    return SmtpConfig(host=parts.hostname, port=port or (465 if tls == "implicit" else 25), tls=tls,
                      user=unquote(parts.username) if parts.username else None,
                      password=unquote(parts.password) if parts.password else None,
                      cafile=query.get("cafile", [os.environ.get("SCRUTINEER_SMTP_CAFILE")])[0])


def connect(cfg: SmtpConfig) -> smtplib.SMTP:
    context = ssl.create_default_context(cafile=cfg.cafile) if cfg.tls != "none" else None
    try:
        if cfg.tls == "implicit":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=TIMEOUT_S, context=context)
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=TIMEOUT_S)
        smtp.ehlo()
        if cfg.tls == "starttls":
            if not smtp.has_extn("starttls"):
                smtp.close()
                raise ConfigError("SMTP server does not offer STARTTLS; refusing to send in clear")
            smtp.starttls(context=context)
            smtp.ehlo()  # RFC 3207 §4.2: forget what was learned before TLS
        if cfg.user:
            if cfg.tls == "none":
                smtp.close()
                raise ConfigError("refusing to send SMTP credentials without TLS (use smtps:// or ?starttls=1)")
            smtp.login(cfg.user, cfg.password or "")
        return smtp
    except UserError:
        raise
    except ssl.SSLError as exc:
        raise ConfigError(f"SMTP TLS failed ({cfg.host}:{cfg.port}): {exc.reason or exc}") from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise UserError(f"cannot reach SMTP server {cfg.host}:{cfg.port}: {exc}") from exc


@dataclass
class Outcome:
    email: str
    status: str  # sent | skipped-sent | unknown | failed | retry
    detail: str = ""


def deliver(engine: Engine, smtp: smtplib.SMTP, email: str, week: str, message: EmailMessage,
            message_id: str, mail_from: str) -> Outcome:
    with write(engine, durable=True) as conn:  # on disk before SMTP, even across a power loss
        row = people.claim_delivery(conn, email, week, message_id)
    if not row["claimed"]:
        status = row["status"]
        if status == "sending":
            age = (datetime.now(timezone.utc) - row["updated_at"]).total_seconds()
            if age < IN_FLIGHT_S:
                return Outcome(email, "skipped-in-progress", "another send is delivering it now")
            return Outcome(email, "unknown", "an earlier send's outcome is unknown; not resent (check the mailbox)")
        return Outcome(email, "skipped-" + status, f"already {status}")
    try:
        smtp.send_message(message, from_addr=mail_from, to_addrs=[email])
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
        code = getattr(exc, "smtp_code", None)
        if code is None and isinstance(exc, smtplib.SMTPRecipientsRefused):
            code = next(iter(exc.recipients.values()))[0]
        status = "retry" if code is not None and 400 <= code < 500 else "failed"
        with write(engine) as conn:
            people.finish_delivery(conn, email, week, status, str(exc)[:500])
        return Outcome(email, status, str(exc)[:200])
    except (OSError, smtplib.SMTPException) as exc:
        # The server may or may not have the message: leave "sending" (unknown), never auto-resend.
        return Outcome(email, "unknown", f"connection lost during send: {exc}")
    with write(engine) as conn:
        people.finish_delivery(conn, email, week, "sent")
    return Outcome(email, "sent")

