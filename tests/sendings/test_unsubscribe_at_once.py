"""An unsubscribe takes effect at once: waiting messages to the contact are canceled."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from batches import services as batch_services
from batches import unsubscribing
from batches.models import Batch, Recipient
from sendings import services as sending_services
from sendings.contacts import services as contact_services
from sendings.models import Contact, ListMembership, Sending
from sendings.unsubscribe.tokens import unsubscribe_token
from tests.factories import SendingFactory, contact_list_with

pytestmark = pytest.mark.django_db

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def confirmed(subaccount, contact_list, *, sizes, first_at) -> Sending:
    sending = SendingFactory(subaccount=subaccount)
    sending.lists.add(contact_list)
    plans = [
        sending_services.BatchPlan(
            scheduled_at=first_at + i * timedelta(hours=1), recipient_count=n
        )
        for i, n in enumerate(sizes)
    ]
    return sending_services.sending_confirm(sending=sending, batches=plans, actor=None)


@pytest.fixture
def audience(subaccount):
    return contact_list_with(subaccount, 6)


@pytest.fixture
def sendings(subaccount, audience):
    """The same 6 contacts in: one sending in progress (batch 1 of 2 sending), one scheduled
    for tomorrow, one already sent."""
    now = timezone.now()
    running = confirmed(subaccount, audience, sizes=[3, None], first_at=now - timedelta(minutes=1))
    first = running.batches.get(number=1)
    assert batch_services.batch_start(batch_id=first.pk)
    later = confirmed(subaccount, audience, sizes=[None], first_at=now + timedelta(days=1))
    done = confirmed(subaccount, audience, sizes=[None], first_at=now - timedelta(minutes=1))
    batch = done.batches.get()
    assert batch_services.batch_start(batch_id=batch.pk)
    batch_services.recipients_record_results(
        batch_id=batch.pk, sent=list(batch.recipients.values_list("id", flat=True))
    )
    assert batch_services.batch_finish(batch_id=batch.pk)
    return running, later, done


def recipient(sending, contact) -> Recipient:
    return Recipient.objects.get(sending=sending, contact=contact)


@pytest.mark.parametrize("position", [0, 5], ids=["in-the-batch-sending", "in-a-later-batch"])
def test_a_one_click_unsubscribe_cancels_every_waiting_message(sendings, position):
    running, later, done = sendings
    contact = Contact.objects.order_by("id")[position]
    token = unsubscribe_token(sending_id=done.pk, contact_id=contact.pk)

    assert Client().post(f"/u/{token}/", ONE_CLICK).status_code == 200

    for sending in (running, later):
        r = recipient(sending, contact)
        assert (r.status, r.cancel_reason) == ("canceled", "unsubscribed")
        sending.refresh_from_db()
        assert sending.canceled_count == 1
        batch = Batch.objects.get(pk=r.batch_id)
        assert batch.canceled_count == 1
        event = sending.events.get(kind="unsubscribed")
        assert event.message.startswith("A contact unsubscribed with the link in the email")
        assert event.canceled_count == 1
    assert recipient(done, contact).status == "sent"  # what was delivered stays delivered
    assert not done.events.filter(kind="unsubscribed").exists()


def test_unsubscribing_twice_cancels_nothing_more(sendings):
    running, _later, _done = sendings
    contact = Contact.objects.order_by("id").first()
    first = contact_services.contact_unsubscribe(contact=contact)
    again = contact_services.contact_unsubscribe(contact=contact)
    assert (first.changed, first.canceled) == (True, 2)
    assert (again.changed, again.canceled) == (False, 0)
    assert running.events.filter(kind="unsubscribed").count() == 1


def test_the_marketers_unsubscribe_does_the_same_and_says_so(client, marketer, sendings):
    _running, later, _done = sendings
    contact = Contact.objects.order_by("id").first()
    client.force_login(marketer)

    page = client.post(reverse("contact_unsubscribe", args=[contact.pk]), follow=True)

    assert "2 waiting messages to them were canceled" in page.content.decode()
    event = later.events.get(kind="unsubscribed")
    assert event.actor == marketer and "(by a marketer)" in event.message


def test_the_batches_dialog_counts_the_unsubscribed(client, marketer, sendings):
    running, _later, _done = sendings
    contact_services.contact_unsubscribe(contact=Contact.objects.order_by("id").first())
    client.force_login(marketer)

    page = client.get(reverse("sending_batches", args=[running.identifier])).content.decode()

    assert "1 unsubscribed, left out" in page


def test_a_claimed_recipient_canceled_then_accepted_by_the_server_counts_as_sent(sendings):
    running, _later, _done = sendings
    batch = running.batches.get(number=1)
    claims = batch_services.recipients_claim(batch_id=batch.pk, limit=10)
    contact = Contact.objects.get(pk=claims[0].contact_id)
    contact_services.contact_unsubscribe(contact=contact)
    assert unsubscribing.recipients_canceled_among(
        batch_id=batch.pk, ids=[c.id for c in claims]
    ) == {claims[0].id}

    # The worker had handed it to SMTP already: the Sent column counts what the server took.
    record = batch_services.recipients_record_results(batch_id=batch.pk, sent=[claims[0].id])

    r = recipient(running, contact)
    assert (r.status, r.cancel_reason) == ("sent", "")
    batch.refresh_from_db()
    assert (batch.sent_count, batch.canceled_count, record.canceled_count) == (1, 0, 0)


def test_a_foreign_subaccounts_contact_of_the_same_address_is_not_touched(
    sendings, other_subaccount
):
    running, _later, _done = sendings
    mine = Contact.objects.order_by("id").first()
    theirs = Contact.objects.create(subaccount=other_subaccount, email=mine.email, name="X")
    contact_services.contact_unsubscribe(contact=theirs)
    assert recipient(running, mine).status == "pending"


def test_the_admin_unsubscribe_takes_effect_at_once(admin_client, sendings):
    running, _later, _done = sendings
    contact = Contact.objects.order_by("id").first()
    url = reverse("admin:sendings_contact_change", args=[contact.pk])
    data = {
        "subaccount": contact.subaccount_id,
        "email": contact.email,
        "name": contact.name,
        "unsubscribed": "on",
    }
    assert admin_client.post(url, data).status_code == 302
    assert recipient(running, contact).status == "canceled"
    assert ListMembership.objects.filter(contact=contact).exists()
