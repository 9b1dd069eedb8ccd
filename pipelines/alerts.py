"""Plain emails to the analysts: a task that failed for good, and the daily source-health report.

`task_failed` is the DAGs' `on_failure_callback`. Airflow's task runner calls it only when a task
instance ends FAILED, i.e. after its last retry (a try that will be retried ends UP_FOR_RETRY and
calls `on_retry_callback`, which we leave unset), so analysts get one email per failure, not one
per try. Sent through the project's own SMTP settings (`SCRUTINEER_SMTP_URL`, verified TLS), so
there is one mail configuration, not a second one in an Airflow connection.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from core.settings import Settings

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9._:+-]")


def analyst_emails(settings: Settings) -> list[str]:
    """The configured analysts' addresses; empty means nobody is told (logged, never an error)."""
    return [a.strip() for a in settings.analyst_emails.split(",") if a.strip()]


def plain_message(settings: Settings, to: list[str], subject: str, body: str, message_id: str) -> EmailMessage:
    """A text/plain message; the Message-ID is deterministic so a re-send can be recognised."""
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(to)
    # EmailMessage refuses CR/LF in headers (no header injection); squash them to spaces first.
    msg["Subject"] = " ".join(subject.split())[:200]
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id
    msg.set_content(body)
    return msg


def send(settings: Settings, msg: EmailMessage) -> None:
    """One SMTP transaction to every recipient in To (raises UserError when SMTP fails)."""
    from pipelines import mailer

    recipients = [parseaddr(a)[1] for a in str(msg["To"]).split(",")]
    smtp = mailer.connect(mailer.parse_smtp_url(settings.smtp_url))
    try:
        smtp.send_message(msg, from_addr=parseaddr(settings.mail_from)[1] or None, to_addrs=recipients)
    finally:
        try:
            smtp.quit()
        except Exception:  # noqa: BLE001 - the message is already accepted; a rude hang-up changes nothing
            smtp.close()


def _token(value: object) -> str:
    return _UNSAFE.sub("-", str(value))[:120]


def failure_message(settings: Settings, context: dict[str, Any], to: list[str]) -> EmailMessage:
    """What failed, where its log is, and the error, for one task instance that failed for good."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", "?")
    map_index = getattr(ti, "map_index", -1)
    label = getattr(ti, "rendered_map_index", None) or (str(map_index) if map_index not in (None, -1) else "")
    tries = getattr(ti, "try_number", "?")
    what = f"{dag_id}.{task_id}" + (f"[{label}]" if label else "")
    try:
        log_url = str(ti.log_url) if ti is not None else ""
    except Exception:  # noqa: BLE001 - a missing base URL must not stop the alert
        log_url = ""
    error = context.get("exception")
    body = "\n".join([
        f"Scrutineer task {what} failed after {tries} tries and will not be retried.",
        "",
        f"DAG run: {run_id}",
        f"Log: {log_url or '(see the Airflow UI)'}",
        "",
        f"Error: {type(error).__name__ + ': ' if error else ''}{str(error or 'unknown')[:2000]}",
        "",
        "Clear the task in the Airflow UI to run it again once the cause is fixed.",
    ])
    message_id = (f"<failure.{_token(dag_id)}.{_token(task_id)}.{_token(map_index)}.{_token(run_id)}"
                  f".{_token(tries)}@scrutineer.invalid>")
    return plain_message(settings, to, f"Scrutineer: {what} failed", body, message_id)


def task_failed(context: dict[str, Any]) -> None:
    """`on_failure_callback`: email the analysts once. Never raises: a callback error would only
    bury the task's own error in the log."""
    try:
        settings = Settings()
        to = analyst_emails(settings)
        if not to:
            log.warning("task failed, but SCRUTINEER_ANALYST_EMAILS is empty: nobody was emailed")
            return
        send(settings, failure_message(settings, context, to))
        log.info("failure alert sent to %d analyst(s)", len(to))
    except Exception:  # noqa: BLE001 - see docstring
        log.exception("could not send the failure alert")


@contextmanager
def fail_fast() -> Iterator[None]:
    """Inside an Airflow task: a configuration error (a bad setting, an SMTP server without TLS or
    with an untrusted certificate) fails the task at once with AirflowFailException, instead of
    retries that cannot help; analysts still get their one alert. Outages stay retryable."""
    from pydantic import ValidationError

    from pipelines.errors import ConfigError

    try:
        yield
    except (ConfigError, ValidationError) as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"configuration error, not retried: {' '.join(str(exc).split())[:500]}") from exc


def task_settings() -> Settings:
    """Settings for a task body; invalid settings fail the task without retries (see fail_fast)."""
    with fail_fast():
        return Settings()
