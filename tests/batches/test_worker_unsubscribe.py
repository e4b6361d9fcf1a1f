"""An unsubscribe reaches a batch being delivered: a real worker skips the contact even when
the recipient is already in the chunk it claimed."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from batches.models import Recipient
from sendings.models import Sending
from sendings.unsubscribe.tokens import unsubscribe_token
from tests.factories import scheduled_sending
from tests.invariants import assert_counts_add_up
from tests.workers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CONTACTS = 300
RATE = 50  # messages a second: a chunk of 100 takes 2 s, time to unsubscribe inside it


def test_a_contact_who_unsubscribes_while_the_batch_is_sending_is_not_delivered(
    subaccount, sink, workers
):
    subaccount.send_rate_limit = RATE
    subaccount.save(update_fields=["send_rate_limit"])
    workers.start(1)
    sending = scheduled_sending(
        subaccount, contacts=CONTACTS, first_at=timezone.now() + timedelta(seconds=1)
    )
    ordered = list(Recipient.objects.filter(sending=sending).order_by("id"))
    target = ordered[80]  # in the worker's first chunk (2 x RATE recipients), far from its head
    wait_for(lambda: sink.count() >= 10, timeout=60, what="the first messages")
    assert Recipient.objects.get(pk=target.pk).claimed_at is not None  # the worker holds it

    # The contact clicks "Unsubscribe" in their mail client, in an earlier message's header.
    token = unsubscribe_token(sending_id=sending.pk, contact_id=target.contact_id)
    response = Client().post(f"/u/{token}/", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200

    wait_for(
        lambda: Sending.objects.get(pk=sending.pk).status == "sent", timeout=60, what="the end"
    )
    assert target.email not in sink.rcpts()
    target.refresh_from_db()
    assert (target.status, target.cancel_reason, target.claimed_at) == (
        "canceled",
        "unsubscribed",
        None,
    )
    sending.refresh_from_db()
    assert (sending.sent_count, sending.canceled_count) == (CONTACTS - 1, 1)
    assert sink.count() == CONTACTS - 1
    assert sending.events.filter(kind="unsubscribed").exists()
    assert_counts_add_up()
