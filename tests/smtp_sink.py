"""An SMTP server on 127.0.0.1 that records every message it accepts (tests and benchmarks).

    with SmtpSink() as sink:          # sink.port is a free port
        ...                           # point EMAIL_HOST/EMAIL_PORT at it
        sink.count(), sink.received   # what the server accepted, with the time it did

`reject` makes it answer 550 to RCPT TO for those addresses; `drop_at` makes it drop the
connection (no reply) when the n-th message's data arrives, once, without accepting it.
"""

import email
import email.policy
import itertools
import logging
import socket
import threading
import time
from dataclasses import dataclass

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    rcpt: str
    at: float  # time.monotonic() when the server accepted it
    wall: float  # time.time(), the same moment
    raw: bytes
    session: int = 0  # which SMTP connection brought it (one at a time per worker process)

    def parsed(self):
        return email.message_from_bytes(self.raw, policy=email.policy.default)


_sessions = itertools.count(1)


def _session_number(session) -> int:
    if not hasattr(session, "sink_number"):
        session.sink_number = next(_sessions)
    return session.sink_number


class _Handler:
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.sink.reject:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        sink = self.sink
        with sink.lock:
            sink.data_seen += 1
            drop = sink.drop_at is not None and sink.data_seen == sink.drop_at
            if drop:
                sink.drop_at = None
                sink.dropped += 1
        if drop:
            server.transport.close()
            return "421 4.4.2 Connection dropped"
        now, wall = time.monotonic(), time.time()
        raw = envelope.original_content or envelope.content
        with sink.lock:
            sink.received.extend(
                Received(rcpt.lower(), now, wall, raw, _session_number(session))
                for rcpt in envelope.rcpt_tos
            )
        return "250 Message accepted"


# aiosmtpd logs every SMTP command at INFO: tens of thousands of lines in a benchmark.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpSink:
    def __init__(self, *, reject: set[str] = frozenset(), drop_at: int | None = None):
        self.reject = {address.lower() for address in reject}
        self.drop_at = drop_at
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.data_seen = 0
        self.dropped = 0
        self.port = _free_port()
        self.controller = self._controller()

    def _controller(self) -> Controller:
        return Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "SmtpSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.controller is not None:
            self.controller.stop()

    def server_stop(self) -> None:
        """Take the server down (connections refused) until `server_start`; what it accepted
        so far is kept."""
        self.controller.stop()
        self.controller = None

    def server_start(self) -> None:
        """The server is back on the same port."""
        self.controller = self._controller()
        self.controller.start()

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def rcpts(self) -> list[str]:
        return [item.rcpt for item in self.snapshot()]

    def received_after(self, moment: float) -> int:
        return sum(1 for item in self.snapshot() if item.at > moment)

    def mailer_settings(self) -> dict:
        """A MAILERS value that sends to this sink."""
        return {
            "default": {
                "BACKEND": "batches.mail.BulkEmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": self.port, "timeout": 10},
            }
        }
