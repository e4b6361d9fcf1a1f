"""Automatic pause end to end: real Celery workers, Redis, PostgreSQL and an SMTP sink that
answers 550 to a third of the addresses it is given at first.

The batch pauses within one record interval of crossing the threshold, each worker hands at
most one more message to SMTP after the pause, support resumes it from the ticket and it
finishes; the refused contacts are bounced and the next sending leaves them out.
"""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from batches.models import Batch, Recipient
from sendings import services as sending_services
from sendings.models import Contact, Sending, SendingEvent
from support.models import Ticket
from tests.factories import SendingFactory, scheduled_sending
from tests.invariants import assert_counts_add_up
from tests.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CONTACTS = 900
WORKERS = 2
MIN_ATTEMPTS = 200
RECORD_EVERY = 10
# Every third of the first 210 addresses (in claim order) is refused: a third of what the
# workers try until the pause, and few enough after it that the rate measured afresh stays
# under 10% (at most about 20 of the next 200).
REFUSED_AMONG_FIRST = 210


def status_of(model, pk) -> str:
    return model.objects.values_list("status", flat=True).get(pk=pk)


def contact_messages(sink) -> list:
    return [item for item in sink.snapshot() if item.rcpt.endswith("@example.org")]


def settled(sink, *, quiet: float = 1.0) -> bool:
    """The sink received nothing for `quiet` seconds."""
    before = sink.count()
    time.sleep(quiet)
    return sink.count() == before


def test_a_failing_batch_pauses_support_resumes_it_and_it_finishes(
    subaccount, support_user, sink, workers
):
    sending = scheduled_sending(
        subaccount, contacts=CONTACTS, first_at=timezone.now() + timedelta(seconds=2)
    )
    ordered = list(Recipient.objects.filter(sending=sending).order_by("id"))
    refused = {r.email for r in ordered[:REFUSED_AMONG_FIRST:3]}
    sink.reject = refused
    workers.start(
        WORKERS,
        AUTO_PAUSE_MIN_ATTEMPTS=MIN_ATTEMPTS,
        AUTO_PAUSE_FAILURE_RATE=0.10,
        DELIVERY_CHUNK_SIZE=20,
        DELIVERY_RECORD_EVERY=RECORD_EVERY,
        DELIVERY_RECORD_SECONDS=0.2,
    )
    batch = sending.batches.get()

    wait_for(lambda: status_of(Batch, batch.pk) == "paused", timeout=90, what="the pause")
    wait_for(lambda: settled(sink), timeout=30, what="the workers to let go")

    paused = SendingEvent.objects.get(sending=sending, kind="batch_paused")
    tried = paused.sent_count + paused.failed_count
    assert MIN_ATTEMPTS <= tried < MIN_ATTEMPTS + RECORD_EVERY, tried  # within one record
    after = [item for item in contact_messages(sink) if item.wall > paused.created_at.timestamp()]
    assert len(after) <= WORKERS, f"{len(after)} messages reached SMTP after the pause"
    assert status_of(Sending, sending.pk) == "paused"
    ticket = Ticket.objects.get(sending=sending, kind="auto_pause", status="open")
    assert ticket.subject.startswith("Paused automatically: ")
    assert ticket.subject.endswith(f"of {tried} messages failed")
    assert "550 5.1.1 Mailbox unavailable" in ticket.message
    assert_counts_add_up()

    # Support resumes it from the ticket page.
    desk = Client()
    desk.force_login(support_user)
    response = desk.post(reverse("ticket_resume", args=[ticket.pk]))
    assert response.status_code == 302

    wait_for(lambda: status_of(Sending, sending.pk) == "sent", timeout=90, what="the finish")
    sending.refresh_from_db()
    failed = Recipient.objects.filter(sending=sending, status="failed")
    assert {r.email for r in failed} == refused
    assert sending.failed_count == len(refused)
    assert sending.sent_count + sending.failed_count == CONTACTS
    rcpts = Counter(item.rcpt for item in contact_messages(sink))
    assert sum(rcpts.values()) == sending.sent_count == CONTACTS - len(refused)
    assert max(rcpts.values()) == 1  # nobody twice
    assert not set(rcpts) & refused
    assert Contact.objects.filter(email__in=refused, bounced_at__isnull=False).count() == len(
        refused
    )
    ticket.refresh_from_db()
    assert ticket.status == "resumed"
    [told] = [item.parsed() for item in sink.snapshot() if item.rcpt == "soporte@example.com"]
    assert told["Subject"] == ticket.subject
    assert_counts_add_up()

    # The next sending to the same list leaves the bounced contacts out.
    again = SendingFactory(subaccount=subaccount)
    again.lists.set(sending.lists.all())
    again = sending_services.sending_confirm(
        sending=again, batches=[sending_services.BatchPlan(timezone.now())], actor=None
    )
    assert again.total_recipients == CONTACTS - len(refused)
    print(
        f"\nauto-pause: paused after {tried} messages ({paused.failed_count} failed), "
        f"{len(after)} messages after the pause; resumed and finished with "
        f"{sending.sent_count} sent, {sending.failed_count} bounced"
    )
