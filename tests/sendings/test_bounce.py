"""Bounced addresses: a permanent rejection marks the contact, later sendings leave it out."""

import pytest
from django.urls import reverse
from django.utils import timezone

from batches import delivery
from batches import services as batch_services
from batches.models import Recipient
from sendings.models import Contact, ListMembership, Sending
from sendings.wizard.selectors import audience_bounced_count, audience_count
from tests.factories import SendingFactory, scheduled_sending
from tests.sendings.conftest import REFUSED
from tests.sendings.test_contacts_views import HTMX, html
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.django_db


def deliver(sending: Sending) -> None:
    batch = sending.batches.get()
    assert batch_services.batch_start(batch_id=batch.pk)
    delivery.batch_deliver(batch_id=batch.pk, budget_seconds=30)


@pytest.fixture
def bounced(subaccount, settings) -> tuple[Sending, Contact]:
    """A sending delivered into a sink that refuses one of its 4 addresses with a 550."""
    sending = scheduled_sending(subaccount, contacts=4, first_at=timezone.now())
    refused = Recipient.objects.filter(sending=sending).order_by("id").first().email
    with SmtpSink(reject={refused}) as sink:
        settings.MAILERS = sink.mailer_settings()
        deliver(sending)
        assert sink.count() == 3
    return sending, Contact.objects.get(subaccount=subaccount, email=refused)


def test_a_550_fails_the_recipient_at_once_and_marks_the_contact_bounced(bounced):
    sending, contact = bounced
    recipient = Recipient.objects.get(sending=sending, contact=contact)
    assert (recipient.status, recipient.attempts) == ("failed", 1)
    assert recipient.last_error == "550 5.1.1 Mailbox unavailable"
    assert contact.is_bounced and contact.bounce_reason == "550 5.1.1 Mailbox unavailable"
    sending.refresh_from_db()
    assert (sending.status, sending.sent_count, sending.failed_count) == ("sent", 3, 1)


def test_the_next_sending_leaves_bounced_contacts_out_and_the_wizard_says_how_many(
    bounced, subaccount
):
    sending, contact = bounced
    list_ids = list(sending.lists.values_list("pk", flat=True))
    assert audience_count(subaccount_id=subaccount.pk, list_ids=list_ids) == 3
    assert audience_bounced_count(subaccount_id=subaccount.pk, list_ids=list_ids) == 1

    from sendings import services

    again = SendingFactory(subaccount=subaccount)
    again.lists.set(list_ids)
    again = services.sending_confirm(
        sending=again, batches=[services.BatchPlan(timezone.now())], actor=None
    )
    assert again.total_recipients == 3
    assert not Recipient.objects.filter(sending=again, contact=contact).exists()


def test_the_wizard_count_names_the_bounced_addresses(client, marketer, bounced, subaccount):
    sending, _contact = bounced
    draft = SendingFactory(subaccount=subaccount)
    client.force_login(marketer)
    lists = list(sending.lists.values_list("pk", flat=True))

    response = client.get(reverse("wizard_audience", args=[draft.identifier]), {"lists": lists})

    assert "1 bounced address left out too" in html(response)
    assert "<strong>3</strong> contacts will receive it" in html(response)


def test_the_contacts_page_shows_bounced_with_the_reason(client, viewer, bounced, subaccount):
    _sending, contact = bounced
    client.force_login(viewer)

    page = html(client.get(reverse("contact_index", args=[subaccount.pk])))

    row = page[page.index(f'id="contact-{contact.pk}"') :].split("</tr>")[0]
    assert "Bounced</span>" in row and "550 5.1.1 Mailbox unavailable" in row
    assert "Clear bounce" not in row  # viewers look only


@pytest.mark.parametrize(("persona", "assert_refused"), REFUSED)
def test_clearing_a_bounce_is_refused_to_all_but_a_marketer(as_persona, bounced, assert_refused):
    _sending, contact = bounced

    assert_refused(as_persona.post(reverse("contact_bounce_clear", args=[contact.pk])))

    contact.refresh_from_db()
    assert contact.is_bounced


def test_a_marketer_clears_a_bounce(client, marketer, bounced):
    _sending, contact = bounced
    client.force_login(marketer)

    response = client.post(reverse("contact_bounce_clear", args=[contact.pk]))

    contact.refresh_from_db()
    assert response.status_code == 302
    assert not contact.is_bounced and contact.bounce_reason == ""


def test_clearing_a_bounce_with_htmx_returns_the_fresh_row_and_twice_says_so(
    client, marketer, bounced, subaccount
):
    sending, contact = bounced
    client.force_login(marketer)
    url = reverse("contact_bounce_clear", args=[contact.pk])

    row = html(client.post(url, **HTMX))
    assert row.lstrip().startswith(f'<tr id="contact-{contact.pk}"')
    assert "Subscribed</span>" in row and "Bounced" not in row.split("<template>")[0]
    assert "no longer marked bounced" in row
    assert "was not marked bounced" in html(client.post(url, follow=True))
    list_ids = list(sending.lists.values_list("pk", flat=True))
    assert audience_count(subaccount_id=subaccount.pk, list_ids=list_ids) == 4


def test_a_bounced_contact_on_a_list_of_its_own_cannot_be_sent_to(subaccount, bounced):
    _sending, contact = bounced
    from sendings.models import ContactList

    alone = ContactList.objects.create(subaccount=subaccount, name="Only the bounced one")
    ListMembership.objects.create(contact_list=alone, contact=contact)
    assert audience_count(subaccount_id=subaccount.pk, list_ids=[alone.pk]) == 0
