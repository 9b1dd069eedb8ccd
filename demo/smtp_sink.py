"""A local SMTP sink (aiosmtpd) for the demo and the tests: keeps every message it accepts."""
from __future__ import annotations

import socket
import threading
from collections import Counter
from email import message_from_bytes
from email.message import Message
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        return self.sink.accept(envelope)


class SmtpSink:
    """Counts messages per recipient and per Message-ID, as the at-most-once tests need."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host)
        self.messages: list[tuple[list[str], bytes]] = []
        self.by_recipient: Counter[str] = Counter()
        self.by_message_id: Counter[str] = Counter()
        self.reply: str | None = None  # set to "451 …" or "550 …" to refuse
        self._lock = threading.Lock()
        self._controller = Controller(_Handler(self), hostname=host, port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def accept(self, envelope: Any) -> str:
        if self.reply:
            return self.reply
        raw = envelope.original_content or envelope.content
        msg = message_from_bytes(raw, policy=default)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), raw))
            for rcpt in envelope.rcpt_tos:
                self.by_recipient[rcpt.lower()] += 1
            self.by_message_id[str(msg.get("Message-ID", ""))] += 1
        return "250 Message accepted for delivery"

    def parsed(self) -> list[Message]:
        return [message_from_bytes(raw, policy=default) for _, raw in self.messages]

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
