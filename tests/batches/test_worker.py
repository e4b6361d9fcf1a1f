"""The dispatcher end to end: real Celery worker processes, Redis, PostgreSQL, an SMTP sink.

Slow by nature (each worker process takes a few seconds to start), so marked `slow`.
"""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from batches import services as batch_services
from batches.models import Batch, Recipient
from sendings import services as sending_services
from sendings.models import Contact, SendingEvent
from tests.factories import scheduled_sending
from tests.invariants import assert_counts_add_up
from tests.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# That nothing more arrives can only be seen by watching for a while; at the pace before a
# stop (a few hundred messages a second) a worker that ignored it would show within this.
QUIET_AFTER_STOP_SECONDS = 1.5
# A killed worker's last bytes are still in the sink's socket; the sink cannot say when it
# has read them, so it is given this long before its count is taken.
SINK_SETTLE_SECONDS = 0.2


def status_of(model, pk) -> str:
    return model.objects.values_list("status", flat=True).get(pk=pk)


def emails_of(batch: Batch) -> set[str]:
    return set(Recipient.objects.filter(batch=batch).values_list("email", flat=True))


def test_batches_go_out_at_their_times_exactly_once_each(subaccount, sink, workers):
    workers.start(1)
    first_at = timezone.now() + timedelta(seconds=2)
    sending = scheduled_sending(
        subaccount, contacts=30, sizes=[10, 10, 10], first_at=first_at, every=timedelta(seconds=2)
    )
    sending_class = type(sending)

    wait_for(lambda: status_of(sending_class, sending.pk) == "sent", timeout=40, what="sent")

    received = sink.snapshot()
    recipients = {r.email: r for r in Recipient.objects.filter(sending=sending)}
    assert Counter(item.rcpt for item in received) == Counter(recipients.keys())  # once each
    for item in received:
        message = item.parsed()
        name = recipients[item.rcpt].name
        assert message["Subject"] == "Our spring offers"
        assert "<mailto:news@acme.example?subject=" in message["List-Unsubscribe"]
        assert message.get_body(("plain",)).get_content().strip() == f"Hello {name}"
        assert f"<p>Hello {name}</p>" in message.get_body(("html",)).get_content()
    for batch in Batch.objects.filter(sending=sending):
        lateness = (batch.started_at - batch.scheduled_at).total_seconds()
        assert 0 <= lateness < 1, f"batch {batch.number} started {lateness:.3f} s late"
        # Nobody in a batch received it before the batch's time.
        first_wall = min(item.wall for item in received if item.rcpt in emails_of(batch))
        assert first_wall >= batch.scheduled_at.timestamp()
    sending.refresh_from_db()
    assert sending.sent_count == sink.count() == 30


def test_a_batch_canceled_a_second_before_its_time_never_goes_out(
    subaccount, marketer, sink, workers
):
    workers.start(1)
    first_at = timezone.now() + timedelta(seconds=1)
    sending = scheduled_sending(
        subaccount, contacts=15, sizes=[5, 5, 5], first_at=first_at, every=timedelta(seconds=3)
    )
    first, second, third = Batch.objects.filter(sending=sending).order_by("number")
    wait_for(lambda: status_of(Batch, first.pk) == "sent", timeout=30, what="batch 1 sent")
    # The moment under test, on the real clock the workers share: a second before batch 2.
    time.sleep(max(0.0, (second.scheduled_at - timezone.now()).total_seconds() - 1))

    batch_services.batch_cancel(batch=second, actor=marketer)

    wait_for(lambda: status_of(Batch, third.pk) == "sent", timeout=30, what="batch 3 sent")
    delivered = set(sink.rcpts())
    assert not delivered & emails_of(second)
    assert delivered == emails_of(first) | emails_of(third)
    assert status_of(type(sending), sending.pk) == "canceled"
    assert status_of(Batch, second.pk) == "canceled"


def test_a_stop_mid_delivery_lets_at_most_one_message_per_worker_through(
    subaccount, support_user, sink, workers
):
    worker_count = 2
    workers.start(worker_count)
    sending = scheduled_sending(
        subaccount, contacts=5000, first_at=timezone.now() + timedelta(seconds=1)
    )
    batch = Batch.objects.get(sending=sending)
    wait_for(lambda: sink.count() >= 1000, timeout=60, what="1,000 messages")

    sending_services.sending_stop(sending=sending, actor=support_user)
    committed = time.monotonic()

    # Every message in flight has landed once no worker holds a claim on the batch.
    wait_for(
        lambda: not Recipient.objects.filter(batch=batch, claimed_at__isnull=False).exists(),
        timeout=10,
        what="the workers to let go of their claims",
    )
    time.sleep(QUIET_AFTER_STOP_SECONDS)
    after = sink.received_after(committed)
    assert after <= worker_count, f"{after} messages reached SMTP after the stop committed"
    batch.refresh_from_db()
    assert batch.status == "canceled"
    # The Sent column equals what the server accepted, the in-flight message included.
    wait_for(
        lambda: Batch.objects.get(pk=batch.pk).sent_count == sink.count(),
        timeout=10,
        what="sent count to match the sink",
    )
    batch.refresh_from_db()
    assert batch.sent_count + batch.failed_count + batch.canceled_count == 5000
    assert batch.canceled_count > 0
    assert_counts_add_up()
    print(f"\nstop: {after} messages after the commit, {sink.count()} delivered of 5,000")


def test_a_worker_killed_mid_batch_loses_nobody(subaccount, sink, workers):
    overrides = {"CLAIM_TIMEOUT_SECONDS": 2, "RECOVERY_INTERVAL_SECONDS": 0.5}
    (doomed,) = workers.start(1, **overrides)
    sending = scheduled_sending(
        subaccount, contacts=3000, first_at=timezone.now() + timedelta(seconds=1)
    )
    batch = Batch.objects.get(sending=sending)
    wait_for(lambda: sink.count() >= 800, timeout=60, what="800 messages")

    doomed.kill()
    time.sleep(SINK_SETTLE_SECONDS)  # a message that was mid-transfer
    at_kill = sink.count()
    recorded = Recipient.objects.filter(batch=batch, status="sent").count()
    in_flight = at_kill - recorded
    assert at_kill < 3000, "the batch finished before the kill; nothing was tested"

    workers.start(1, **overrides)
    wait_for(lambda: status_of(Batch, batch.pk) == "sent", timeout=90, what="batch sent")

    received = Counter(sink.rcpts())
    assert set(received) == emails_of(batch)  # nobody lost
    duplicates = sum(received.values()) - len(received)
    assert duplicates <= in_flight, f"{duplicates} duplicates, {in_flight} were in flight"
    batch.refresh_from_db()
    assert batch.sent_count == 3000
    print(f"\nkill: {in_flight} in flight at the kill, {duplicates} delivered twice")


def test_two_beats_and_two_workers_start_a_batch_once(subaccount, sink, workers):
    fast = {"DISPATCH_TICK_SECONDS": 0.2}
    workers.start(1, beat=True, **fast)
    workers.start(1, beat=True, **fast)
    sending = scheduled_sending(
        subaccount, contacts=50, first_at=timezone.now() + timedelta(seconds=1)
    )

    wait_for(lambda: status_of(type(sending), sending.pk) == "sent", timeout=30, what="sent")

    assert sending.events.filter(kind=SendingEvent.Kind.BATCH_STARTED).count() == 1
    received = Counter(sink.rcpts())
    assert len(received) == 50 and set(received.values()) == {1}


def test_rejections_and_a_dropped_connection(subaccount, sink, workers):
    sending = scheduled_sending(
        subaccount, contacts=20, first_at=timezone.now() + timedelta(seconds=2)
    )
    emails = sorted(Recipient.objects.filter(sending=sending).values_list("email", flat=True))
    rejected = set(emails[:3])
    sink.reject = rejected
    sink.drop_at = 5
    workers.start(1, EMAIL_MAX_ATTEMPTS=2, EMAIL_RETRY_BACKOFF_SECONDS=0.2)

    wait_for(lambda: status_of(type(sending), sending.pk) == "sent", timeout=30, what="sent")

    assert sink.dropped == 1
    received = Counter(sink.rcpts())
    assert set(received) == set(emails) - rejected
    assert set(received.values()) == {1}
    for recipient in Recipient.objects.filter(email__in=rejected):
        # A 550 is a bounce: failed at the first attempt, never retried, the contact marked.
        assert (recipient.status, recipient.attempts) == ("failed", 1)
        assert recipient.last_error == "550 5.1.1 Mailbox unavailable"
        assert Contact.objects.get(pk=recipient.contact_id).is_bounced
    sending.refresh_from_db()
    assert (sending.sent_count, sending.failed_count) == (17, 3)
    assert sending.sent_count == sink.count()
