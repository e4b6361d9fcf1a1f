"""Delivering one batch: claim a chunk, hand each message to SMTP, record what happened.

A worker never calls SMTP inside a transaction: it claims recipients and commits
(`recipients_claim`), sends, then records the outcomes (`recipients_record_results`) every
DELIVERY_RECORD_EVERY messages or DELIVERY_RECORD_SECONDS, so the Sent column trails the SMTP
server by at most that much and a killed worker can resend at most that many messages.
Before each message it checks the batch's halt signal (one cache read), so a stop or cancel
that commits lets at most the message already in flight through.
"""

import enum
import logging
import smtplib
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.core.mail import mailers

from batches import services as batch_services
from batches.halt import HaltWatch
from batches.mime import PreparedMessage
from batches.models import Batch, BatchStatus, Recipient, RecipientStatus
from batches.rendering import Content, message_build
from batches.services import Claim
from sendings.exceptions import DomainError

log = logging.getLogger(__name__)

# A connection that drops is reopened; after this many drops in a row the chunk is given back.
MAX_RECONNECTS = 3
HEARTBEAT_PREFIX = "batch-delivering:"


# --- Rate limit ---------------------------------------------------------------------------------


class RateLimiter:
    """At most `per_second` messages a second for one subaccount, across every worker.

    Fixed windows of a tenth of a second or more in the shared cache (atomic INCR on Redis),
    so the rate is smooth rather than a burst at the top of each second.
    """

    def __init__(self, key: str, per_second: int | None):
        self.key = key
        self.per_second = per_second or 0
        if self.per_second:
            self.per_window = max(1, self.per_second // 10)
            self.window = self.per_window / self.per_second

    def wait(self) -> None:
        if not self.per_second:
            return
        while True:
            now = time.time()
            slot = int(now / self.window)
            key = f"send-rate:{self.key}:{slot}"
            cache.add(key, 0, timeout=max(2, int(self.window * 4)))
            try:
                if cache.incr(key) <= self.per_window:
                    return
            except ValueError:  # the key expired between add and incr: next window
                continue
            time.sleep(max(0.0, (slot + 1) * self.window - now))


# --- Sending one message ------------------------------------------------------------------------


class Outcome(enum.Enum):
    SENT = "sent"
    REJECTED = "rejected"  # the server refused it: retried after a backoff
    FAILED = "failed"  # it can never go out (an address the server cannot even be given)


class ConnectionLost(Exception):
    """The SMTP connection failed MAX_RECONNECTS times in a row."""


def _smtp_error(error: smtplib.SMTPException) -> str:
    """The server's answer as it said it, e.g. "550 5.1.1 No such user"."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()))
    elif isinstance(error, smtplib.SMTPResponseException):
        code, text = error.smtp_code, error.smtp_error
    else:
        return str(error) or error.__class__.__name__
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


class Mailer:
    """One backend connection for a chunk, reopened when the server drops it."""

    def __init__(self):
        self.connection = mailers.default

    def send(self, message: PreparedMessage) -> tuple[Outcome, str]:
        drops = 0
        while True:
            try:
                self.connection.open()
                self.connection.send_messages([message])
                return Outcome.SENT, ""
            except smtplib.SMTPServerDisconnected as error:
                lost = error
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException) as error:
                if getattr(error, "smtp_code", 500) in (421,):  # service closing the channel
                    lost = error
                else:
                    return Outcome.REJECTED, _smtp_error(error)
            except smtplib.SMTPException as error:
                return Outcome.REJECTED, _smtp_error(error)
            except ValueError as error:  # an address the backend refuses to put on the wire
                return Outcome.FAILED, f"Invalid address: {error}"
            except OSError as error:  # refused, reset, timed out
                lost = error
            drops += 1
            self.close()
            if drops >= MAX_RECONNECTS:
                raise ConnectionLost(str(lost) or lost.__class__.__name__) from lost
            log.warning("SMTP connection lost (%s); reconnecting", lost)
            time.sleep(0.05 * drops)

    def close(self) -> None:
        try:
            self.connection.close()
        except (OSError, smtplib.SMTPException):
            self.connection.connection = None


# --- Delivering a batch -------------------------------------------------------------------------


@dataclass
class Results:
    """Outcomes not recorded yet."""

    sent: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    rejected: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sent) + len(self.failed) + len(self.rejected)

    def add(self, claim: Claim, outcome: Outcome, error: str) -> None:
        if outcome is Outcome.SENT:
            self.sent.append(claim.id)
        elif outcome is Outcome.FAILED:
            self.failed[claim.id] = error
        else:
            self.rejected[claim.id] = error


class Progress(enum.Enum):
    FINISHED = "finished"  # the batch is sent, or nothing is left for this worker to do
    HALTED = "halted"  # the batch was canceled or stopped
    MORE = "more"  # the time slice is spent; requeue
    WAITING = "waiting"  # recipients wait for a retry; requeue at `retry_at`


@dataclass(frozen=True)
class Report:
    progress: Progress
    sent: int = 0
    retry_at: datetime | None = None


class BatchDelivery:
    def __init__(self, batch: Batch):
        self.batch_id = batch.pk
        sending = batch.sending
        self.content = Content.of(sending)
        self.limiter = RateLimiter(str(sending.subaccount_id), sending.subaccount.send_rate_limit)
        self.halt = HaltWatch(batch.pk)
        # Under a rate limit a chunk should take about two seconds, not minutes: a claim
        # held long is one a crashed worker would hold long too.
        rate = sending.subaccount.send_rate_limit
        self.chunk_size = (
            min(settings.DELIVERY_CHUNK_SIZE, max(10, 2 * rate))
            if rate
            else (settings.DELIVERY_CHUNK_SIZE)
        )
        self.pending = Results()
        self.recorded_at = time.monotonic()
        self.sent = 0

    def run(self, *, budget_seconds: float) -> Report:
        with self.halt:
            return self._run(deadline=time.monotonic() + budget_seconds)

    def _run(self, *, deadline: float) -> Report:
        after_id = 0
        while time.monotonic() < deadline:
            claims = batch_services.recipients_claim(
                batch_id=self.batch_id, limit=self.chunk_size, after_id=after_id
            )
            if not claims and after_id:  # retries and released claims sit below after_id
                after_id = 0
                continue
            if not claims:
                return self._wrap_up()
            after_id = claims[-1].id
            cache.set(f"{HEARTBEAT_PREFIX}{self.batch_id}", 1, settings.CLAIM_TIMEOUT_SECONDS)
            if not self._deliver(claims):
                return Report(Progress.HALTED, self.sent)
        return Report(Progress.MORE, self.sent)

    def _deliver(self, claims: list[Claim]) -> bool:
        """Send a chunk. False as soon as the batch is halted."""
        mailer = Mailer()
        try:
            for index, claim in enumerate(claims):
                self.limiter.wait()
                if self.halt.announced():
                    self._release(claims[index:])
                    return False
                try:
                    outcome, error = mailer.send(message_build(self.content, claim))
                except ValueError as invalid:  # an address we cannot even encode
                    outcome, error = Outcome.FAILED, f"Invalid address: {invalid}"
                except ConnectionLost:
                    self._record()
                    self._release(claims[index:])
                    raise
                self.pending.add(claim, outcome, error)
                if self._record_due() and self._record() != BatchStatus.SENDING:
                    self._release(claims[index + 1 :])
                    return False  # canceled or stopped: the database says so
            return True
        finally:
            self._record()
            mailer.close()

    def _release(self, claims: list[Claim]) -> None:
        """Hand back claims this worker will not send, so a stop's numbers become final."""
        batch_services.recipients_release(batch_id=self.batch_id, ids=[c.id for c in claims])

    def _record_due(self) -> bool:
        return (
            len(self.pending) >= settings.DELIVERY_RECORD_EVERY
            or time.monotonic() - self.recorded_at >= settings.DELIVERY_RECORD_SECONDS
        )

    def _record(self) -> str:
        """Record what is pending; the batch's status as read under its lock ("" if nothing)."""
        self.recorded_at = time.monotonic()
        if not self.pending:
            return ""
        results, self.pending = self.pending, Results()
        record = batch_services.recipients_record_results(
            batch_id=self.batch_id,
            sent=results.sent,
            failed=results.failed,
            rejected=results.rejected,
        )
        self.sent += record.sent
        return record.batch_status

    def _wrap_up(self) -> Report:
        """Nothing claimable: finish the batch, wait for retries, or leave it to other workers."""
        waiting = Recipient.objects.filter(batch_id=self.batch_id, status=RecipientStatus.PENDING)
        if not waiting.exists():
            try:
                batch_services.batch_finish(batch_id=self.batch_id)
            except DomainError:  # someone got recipients back meanwhile (stale claims)
                return Report(Progress.MORE, self.sent)
            return Report(Progress.FINISHED, self.sent)
        retry_at = (
            waiting.filter(claimed_at__isnull=True, next_attempt_at__isnull=False)
            .order_by("next_attempt_at")
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        if retry_at is not None and _still_sending(self.batch_id):
            return Report(Progress.WAITING, self.sent, retry_at=retry_at)
        # The rest is claimed by workers that are delivering it (or by a dead one, whose
        # claims the recovery task releases after CLAIM_TIMEOUT_SECONDS).
        return Report(Progress.FINISHED, self.sent)


def _still_sending(batch_id: int) -> bool:
    return Batch.objects.filter(pk=batch_id, status=BatchStatus.SENDING).exists()


def batch_deliver(*, batch_id: int, budget_seconds: float) -> Report:
    """Deliver one batch for up to `budget_seconds` (chunk granularity); see the module doc."""
    batch = (
        Batch.objects.select_related("sending__subaccount")
        .filter(pk=batch_id, status=BatchStatus.SENDING)
        .first()
    )
    if batch is None:
        return Report(Progress.FINISHED)
    return BatchDelivery(batch).run(budget_seconds=budget_seconds)


def delivery_active(batch_id: int) -> bool:
    """Whether a worker claimed a chunk of this batch within the claim timeout."""
    return cache.get(f"{HEARTBEAT_PREFIX}{batch_id}") is not None
