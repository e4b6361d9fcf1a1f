"""Delivering one batch: claim a chunk, hand each message to SMTP, record what happened.

A worker never calls SMTP inside a transaction: it claims recipients and commits
(`recipients_claim`), sends, then records the outcomes (`recipients_record_results`) every
DELIVERY_RECORD_EVERY messages or DELIVERY_RECORD_SECONDS, so the Sent column trails the SMTP
server by at most that much and a killed worker can resend at most that many messages.
Before each message it checks the batch's halt signal (one cache read), so a stop or cancel
that commits lets at most the message already in flight through.

Lost connections are transient. A database that goes away is retried with a short backoff
(the first retry after 50 ms) for as long as it takes, and the results not recorded yet are
kept meanwhile, so nothing the SMTP server accepted is sent again. An SMTP server that goes
away gets the chunk back and is retried the same way. The halt signal and the rate limit
carry on without Redis (batches/halt.py; a per-process limit). A worker holds its claims
under a lease (batches.models.DeliveryLease) that every claim and record renews; one that
could not renew it for half of DELIVERY_LEASE_SECONDS sends nothing more until it has, and
one whose lease recovery ended drops the rest of its chunk: those claims may be another
worker's by then.
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
from django.db import InterfaceError, OperationalError, connection
from redis.exceptions import RedisError

from batches import services as batch_services
from batches.halt import HaltWatch
from batches.mime import PreparedMessage
from batches.models import Batch, BatchStatus, Recipient, RecipientStatus
from batches.rendering import Content, message_build
from batches.services import Claim
from batches.unsubscribing import recipients_canceled_among
from sendings.exceptions import DomainError

log = logging.getLogger(__name__)

# A connection that drops is reopened; after this many drops in a row the chunk is given back.
MAX_RECONNECTS = 3
# A lost database connection is retried after this, doubling up to the maximum.
DB_RETRY_FIRST_SECONDS = 0.05
DB_RETRY_MAX_SECONDS = 1.0
DB_ERRORS = (OperationalError, InterfaceError)
# After an SMTP server stopped answering, the next chunk is tried after this, doubling.
SMTP_RETRY_FIRST_SECONDS = 0.2
SMTP_RETRY_MAX_SECONDS = 2.0


def with_database(call, *, what: str):
    """`call()`, retried while the database is unreachable: close the broken connection,
    wait a little longer each time, try again. Never inside a transaction (delivery code
    runs in autocommit; each service opens its own)."""
    delay = DB_RETRY_FIRST_SECONDS
    lost_at = None
    while True:
        try:
            result = call()
        except DB_ERRORS as error:
            connection.close()
            if lost_at is None:
                lost_at = time.monotonic()
                log.warning("Database unreachable while %s (%s); retrying", what, error)
            time.sleep(delay)
            delay = min(DB_RETRY_MAX_SECONDS, delay * 2)
            continue
        if lost_at is not None:
            log.warning("Database back after %.1f s (%s)", time.monotonic() - lost_at, what)
        return result


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
            try:
                cache.add(key, 0, timeout=max(2, int(self.window * 4)))
                if cache.incr(key) <= self.per_window:
                    return
            except ValueError:  # the key expired between add and incr: next window
                continue
            except (RedisError, OSError):
                # No shared counter: this process alone keeps to the limit until it is back.
                if self._local_allows(slot):
                    return
            time.sleep(max(0.0, (slot + 1) * self.window - now))

    def _local_allows(self, slot: int) -> bool:
        if getattr(self, "local_slot", None) != slot:
            self.local_slot, self.local_count = slot, 0
        self.local_count += 1
        return self.local_count <= self.per_window


# --- Sending one message ------------------------------------------------------------------------


class Outcome(enum.Enum):
    SENT = "sent"
    REJECTED = "rejected"  # the server refused it: retried after a backoff
    BOUNCED = "bounced"  # the server refused the address for good (5xx): never retried
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
            except smtplib.SMTPRecipientsRefused as error:
                code, _ = next(iter(error.recipients.values()))
                if code == 421:  # service closing the channel
                    lost = error
                elif 500 <= code < 600:  # "550 5.1.1 No such user": the address bounced
                    return Outcome.BOUNCED, _smtp_error(error)
                else:
                    return Outcome.REJECTED, _smtp_error(error)
            except smtplib.SMTPResponseException as error:
                if error.smtp_code == 421:
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
    bounced: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sent) + len(self.failed) + len(self.rejected) + len(self.bounced)

    def add(self, claim: Claim, outcome: Outcome, error: str) -> None:
        if outcome is Outcome.SENT:
            self.sent.append(claim.id)
        elif outcome is Outcome.FAILED:
            self.failed[claim.id] = error
        elif outcome is Outcome.BOUNCED:
            self.bounced[claim.id] = error
        else:
            self.rejected[claim.id] = error


class Progress(enum.Enum):
    FINISHED = "finished"  # the batch is sent, or nothing is left for this worker to do
    HALTED = "halted"  # the batch was canceled or stopped
    MORE = "more"  # the time slice is spent; requeue
    WAITING = "waiting"  # recipients wait for a retry; requeue at `retry_at`
    LEASE_LOST = "lease_lost"  # recovery gave this task's work to another: stop here


@dataclass(frozen=True)
class Report:
    progress: Progress
    sent: int = 0
    retry_at: datetime | None = None


class LeaseLost(Exception):
    """Recovery ended this task's lease: its remaining claims may be another worker's."""


class BatchDelivery:
    def __init__(self, batch: Batch, *, lease_id: int | None = None):
        self.batch_id = batch.pk
        self.lease_id = lease_id
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
        self.recorded_at = self.renewed_at = time.monotonic()
        self.sent = 0
        self.smtp_retry = SMTP_RETRY_FIRST_SECONDS
        self.canceled_count = self.seen_canceled = batch.canceled_count
        self.skip: set[int] = set()  # claims canceled since they were claimed (unsubscribed)

    def run(self, *, budget_seconds: float) -> Report:
        with self.halt:
            if self.halt.halted and _still_sending(self.batch_id):
                # A halt key from before a resume that could not be cleared (the cache was
                # down): the database, read after subscribing, is the truth. A stop that
                # commits from here on still reaches this worker as a message.
                self.halt.halted = False
            try:
                return self._run(deadline=time.monotonic() + budget_seconds)
            except LeaseLost:
                log.warning("Batch %s: lease %s was ended; leaving the rest to others",
                            self.batch_id, self.lease_id)  # fmt: skip
                return Report(Progress.LEASE_LOST, self.sent)

    def _run(self, *, deadline: float) -> Report:
        after_id = 0
        while time.monotonic() < deadline:
            claims = with_database(
                lambda after=after_id: batch_services.recipients_claim(
                    batch_id=self.batch_id,
                    limit=self.chunk_size,
                    after_id=after,
                    lease_id=self.lease_id,
                ),
                what="claiming",
            )
            self.renewed_at = time.monotonic()
            if not claims and self.lease_id is not None and not self._lease_held():
                raise LeaseLost
            if not claims and after_id:  # retries and released claims sit below after_id
                after_id = 0
                continue
            if not claims:
                return self._wrap_up()
            after_id = claims[-1].id
            try:
                if not self._deliver(claims):
                    return Report(Progress.HALTED, self.sent)
            except ConnectionLost as lost:
                # The chunk went back; try again shortly rather than give up the slice.
                log.warning("Batch %s: SMTP server lost (%s); again in %.1f s",
                            self.batch_id, lost, self.smtp_retry)  # fmt: skip
                time.sleep(self.smtp_retry)
                self.smtp_retry = min(SMTP_RETRY_MAX_SECONDS, self.smtp_retry * 2)
        return Report(Progress.MORE, self.sent)

    def _lease_held(self) -> bool:
        lease_id = self.lease_id
        return with_database(
            lambda: batch_services.lease_renew(lease_id=lease_id), what="renewing the lease"
        )

    def _deliver(self, claims: list[Claim]) -> bool:
        """Send a chunk. False as soon as the batch is halted."""
        mailer = Mailer()
        try:
            for index, claim in enumerate(claims):
                if claim.id in self.skip:
                    continue
                self.limiter.wait()
                if self._renewal_due() and self._record(renew=True) != BatchStatus.SENDING:
                    self._release(claims[index:])
                    return False
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
                self.smtp_retry = SMTP_RETRY_FIRST_SECONDS
                self.pending.add(claim, outcome, error)
                if self._record_due():
                    if self._record() != BatchStatus.SENDING:
                        self._release(claims[index + 1 :])
                        return False  # canceled, stopped or paused: the database says so
                    self._skip_canceled(claims[index + 1 :])
            return True
        finally:
            self._record()
            mailer.close()
            if self.skip:
                self._release([claim for claim in claims if claim.id in self.skip])
                self.skip.clear()

    def _skip_canceled(self, claims: list[Claim]) -> None:
        """Someone unsubscribed since the last record: skip them if this chunk holds them."""
        if self.canceled_count == self.seen_canceled:
            return
        self.seen_canceled = self.canceled_count
        ids = [claim.id for claim in claims]
        self.skip |= with_database(
            lambda: recipients_canceled_among(batch_id=self.batch_id, ids=ids),
            what="reading unsubscribes",
        )

    def _release(self, claims: list[Claim]) -> None:
        """Hand back claims this worker will not send, so a stop's numbers become final."""
        ids = [c.id for c in claims]
        with_database(
            lambda: batch_services.recipients_release(
                batch_id=self.batch_id, ids=ids, lease_id=self.lease_id
            ),
            what="releasing claims",
        )

    def _record_due(self) -> bool:
        return (
            len(self.pending) >= settings.DELIVERY_RECORD_EVERY
            or time.monotonic() - self.recorded_at >= settings.DELIVERY_RECORD_SECONDS
        )

    def _renewal_due(self) -> bool:
        """Half the lease gone without a renewal: recovery may soon think this task dead."""
        if self.lease_id is None:
            return False
        return time.monotonic() - self.renewed_at >= settings.DELIVERY_LEASE_SECONDS / 2

    def _record(self, *, renew: bool = False) -> str:
        """Record what is pending; the batch's status as read under its lock ("" if nothing).

        The results are dropped only once the database has them: while it is unreachable this
        retries (and sends nothing meanwhile). Raises LeaseLost if recovery ended the lease.
        """
        self.recorded_at = time.monotonic()
        if not self.pending and not renew:
            return ""
        results = self.pending
        record = with_database(
            lambda: batch_services.recipients_record_results(
                batch_id=self.batch_id,
                sent=results.sent,
                failed=results.failed,
                rejected=results.rejected,
                bounced=results.bounced,
                lease_id=self.lease_id,
            ),
            what="recording results",
        )
        self.pending = Results()
        self.renewed_at = time.monotonic()
        self.sent += record.sent
        if not record.lease_held:
            raise LeaseLost
        self.canceled_count = record.canceled_count
        return record.batch_status

    def _wrap_up(self) -> Report:
        """Nothing claimable: finish the batch, wait for retries, or leave it to other workers."""
        return with_database(self._wrap_up_once, what="wrapping up")

    def _wrap_up_once(self) -> Report:
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


def batch_deliver(*, batch_id: int, budget_seconds: float, lease_id: int | None = None) -> Report:
    """Deliver one batch for up to `budget_seconds` (chunk granularity); see the module doc."""
    batch = with_database(
        lambda: (
            Batch.objects.select_related("sending__subaccount")
            .filter(pk=batch_id, status=BatchStatus.SENDING)
            .first()
        ),
        what="loading the batch",
    )
    if batch is None:
        return Report(Progress.FINISHED)
    return BatchDelivery(batch, lease_id=lease_id).run(budget_seconds=budget_seconds)
