"""Support stops a sending in progress, end to end: real Celery workers, Redis, PostgreSQL and
an SMTP sink.

A 20,000-recipient sending is in progress; the marketer files the request, support stops it.
After the stop commits, each worker may hand at most the message it was sending to SMTP; the
outcome email states exactly the number of messages the sink received.
"""

import re
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sendings.models import Sending
from support import services
from support.models import Ticket
from tests.factories import scheduled_sending
from tests.invariants import assert_counts_add_up
from tests.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CONTACTS = 20_000
WORKERS = 2
SUPPORT = "soporte@example.com"


def contact_messages(sink) -> list:
    return [item for item in sink.snapshot() if item.rcpt.endswith("@example.org")]


def test_support_stops_a_sending_in_progress_and_the_outcome_states_what_the_sink_received(
    subaccount, marketer, support_user, sink, workers, settings
):
    settings.SUPPORT_EMAIL = SUPPORT
    workers.start(WORKERS, SUPPORT_EMAIL=SUPPORT)
    sending = scheduled_sending(
        subaccount, contacts=CONTACTS, first_at=timezone.now() + timedelta(seconds=1)
    )
    # Start lateness has its own strict test (tests/batches/test_worker.py); here the stop is
    # under test, so a slow start only waits (one run on a loaded machine took 60 s).
    wait_for(
        lambda: Sending.objects.get(pk=sending.pk).status == "sending",
        timeout=90,
        what="the sending to start",
    )
    wait_for(lambda: len(contact_messages(sink)) >= 1500, timeout=60, what="1,500 messages")

    # The marketer files the request from the list, as the dialog does.
    marketer_client = Client()
    marketer_client.force_login(marketer)
    response = marketer_client.post(
        reverse("ticket_request", args=[sending.identifier]), {"message": "Wrong segment!"}
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get(sending=sending)

    # Support stops it; the moment of the commit is taken by the first on-commit callback.
    marks: list[float] = []
    began = time.monotonic()
    with transaction.atomic():
        transaction.on_commit(lambda: marks.append(time.monotonic()))
        services.ticket_stop_sending(ticket=ticket, actor=support_user)
    [committed] = marks

    # Both emails go out from the workers' dispatch queue, between delivery slices.
    wait_for(
        lambda: {SUPPORT, marketer.email} <= {item.rcpt for item in sink.snapshot()},
        timeout=30,
        what="the request and the outcome emails",
    )
    [request_mail] = [item.parsed() for item in sink.snapshot() if item.rcpt == SUPPORT]
    assert request_mail["Subject"] == "Urgent Cancel Sending"
    assert sending.identifier in request_mail.get_content()
    after = [item for item in contact_messages(sink) if item.at > committed]
    received = len(contact_messages(sink))
    assert len(after) <= WORKERS, f"{len(after)} messages reached SMTP after the stop committed"

    [outcome] = [item.parsed() for item in sink.snapshot() if item.rcpt == marketer.email]
    stated = re.search(r"([\d,]+) of ([\d,]+) contacts had received it", outcome.get_content())
    assert stated, outcome.get_content()
    assert int(stated[1].replace(",", "")) == received
    assert stated[2] == f"{CONTACTS:,}"
    ticket.refresh_from_db()
    sending.refresh_from_db()
    assert ticket.status == "stopped"
    assert ticket.received_at_stop == sending.sent_count == received
    assert sending.status == "canceled"
    assert sending.sent_count + sending.failed_count + sending.canceled_count == CONTACTS
    assert_counts_add_up()

    last_ms = max(0.0, max((item.at for item in after), default=committed) - committed) * 1000
    print(
        f"\nsupport stop: {len(after)} messages after the commit ({WORKERS} workers), "
        f"last one {last_ms:.0f} ms after it; the stop took {(committed - began) * 1000:.0f} ms; "
        f"{received:,} of {CONTACTS:,} received, as the outcome email states"
    )
