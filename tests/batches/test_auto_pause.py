"""A batch that fails too often pauses itself; support resumes or stops it from a ticket."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from batches import dispatch
from batches import services as batch_services
from batches.models import Batch, Recipient
from sendings import services as sending_services
from sendings.exceptions import DomainError
from sendings.models import Contact, Sending
from support import services as support_services
from support.models import Ticket
from tests.factories import scheduled_sending

pytestmark = pytest.mark.django_db

ANSWER = "550 5.1.1 Mailbox unavailable"


@pytest.fixture(autouse=True)
def small_thresholds(settings):
    settings.AUTO_PAUSE_MIN_ATTEMPTS = 20
    settings.AUTO_PAUSE_FAILURE_RATE = 0.10


@pytest.fixture
def running(subaccount) -> Sending:
    """60 contacts in two batches, the first (40) sending, the second an hour later."""
    sending = scheduled_sending(
        subaccount, contacts=60, sizes=[40, None], first_at=timezone.now() - timedelta(minutes=1)
    )
    first = sending.batches.get(number=1)
    assert batch_services.batch_start(batch_id=first.pk)
    return sending


def pending_ids(batch: Batch) -> list[int]:
    return list(
        batch.recipients.filter(status="pending").order_by("id").values_list("id", flat=True)
    )


def record(batch: Batch, *, sent: int, bounced: int, answer: str = ANSWER):
    ids = pending_ids(batch)
    return batch_services.recipients_record_results(
        batch_id=batch.pk,
        sent=ids[:sent],
        bounced={pk: answer for pk in ids[sent : sent + bounced]},
    )


def test_below_the_minimum_attempts_nothing_pauses(running):
    batch = running.batches.get(number=1)
    assert record(batch, sent=10, bounced=9).batch_status == "sending"  # 47%, of 19 only


def test_crossing_the_rate_pauses_the_batch_and_opens_a_ticket(
    running, eager_tasks, django_capture_on_commit_callbacks
):
    batch = running.batches.get(number=1)
    assert record(batch, sent=15, bounced=1).batch_status == "sending"
    with django_capture_on_commit_callbacks(execute=True):
        result = record(batch, sent=2, bounced=3, answer="550 5.7.1 Blocked")

    assert result.batch_status == "paused"  # the recording worker stops at once
    batch.refresh_from_db()
    running.refresh_from_db()
    assert (batch.status, running.status) == ("paused", "paused")
    ticket = Ticket.objects.get(sending=running)
    assert ticket.kind == "auto_pause" and ticket.is_open and ticket.requested_by is None
    assert ticket.subject == "Paused automatically: 19% of 21 messages failed"
    assert "550 5.7.1 Blocked (3 contacts)" in ticket.message
    assert f"{ANSWER} (1 contacts)" in ticket.message
    event = running.events.get(kind="batch_paused")
    assert event.message == "Batch 1 paused automatically: 19% of 21 messages failed."
    [email] = mail.outbox  # support is told
    assert email.subject == ticket.subject and email.to == ["soporte@example.com"]
    assert "550 5.7.1 Blocked" in email.body


def test_a_paused_sending_cannot_be_canceled_and_its_later_batches_wait(running, marketer):
    first, second = running.batches.order_by("number")
    record(first, sent=10, bounced=10)
    running.refresh_from_db()
    assert not running.can_cancel and not running.can_request_urgent_cancellation
    with pytest.raises(DomainError) as refused:
        sending_services.sending_cancel(sending=running, actor=marketer)
    assert refused.value.code == "paused"
    Batch.objects.filter(pk=second.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    assert not batch_services.batch_start(batch_id=second.pk)
    assert second.pk not in [pk for pk, _ in dispatch.batches_due(until=timezone.now())]
    assert not batch_services.recipients_claim(batch_id=first.pk, limit=10)


def test_resume_measures_afresh_and_requeues_workers(
    running, support_user, django_capture_on_commit_callbacks, monkeypatch
):
    first = running.batches.get(number=1)
    record(first, sent=10, bounced=10)
    ticket = Ticket.objects.get(sending=running)
    queued = []
    monkeypatch.setattr(
        dispatch,
        "delivery_enqueue",
        lambda *, batch_id, workers: queued.append((batch_id, workers)),
    )
    from batches import halt

    halt.halt_announce(first.pk)

    with django_capture_on_commit_callbacks(execute=True):
        result = support_services.ticket_resume_sending(ticket=ticket, actor=support_user)

    assert result.changed
    first.refresh_from_db()
    running.refresh_from_db()
    assert (first.status, running.status) == ("sending", "sending")
    assert (first.measured_from_sent, first.measured_from_failed) == (10, 10)
    assert queued == [(first.pk, 4)]  # DELIVERY_PARALLELISM workers, each with its lease
    assert not halt.halt_announced(first.pk)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.handled_by) == ("resumed", support_user)
    assert running.events.filter(kind="batch_resumed").exists()
    # 50% so far, but measured afresh: 19 more messages with 2 failures keep it going.
    assert record(first, sent=17, bounced=2).batch_status == "sending"
    assert not support_services.ticket_resume_sending(ticket=ticket, actor=support_user).changed


def test_stop_from_the_pause_ticket_cancels_what_is_left_even_when_small(
    running, support_user, django_capture_on_commit_callbacks
):
    first = running.batches.get(number=1)
    record(first, sent=10, bounced=10)
    running.refresh_from_db()
    assert running.is_small  # 60 contacts: the help page's small sendings can't be stopped...
    ticket = Ticket.objects.get(sending=running)

    with django_capture_on_commit_callbacks(execute=True):
        support_services.ticket_stop_sending(ticket=ticket, actor=support_user)

    running.refresh_from_db()
    assert running.status == "canceled"  # ...but a paused one waits for support to end it
    assert running.canceled_count == 40
    assert set(running.batches.values_list("status", flat=True)) == {"canceled"}
    ticket.refresh_from_db()
    assert ticket.status == "stopped" and ticket.received_at_stop == 10
    with pytest.raises(DomainError):
        support_services.ticket_resume_sending(ticket=ticket, actor=support_user)


def test_a_pause_ticket_cannot_be_declined(running, support_user):
    record(running.batches.get(number=1), sent=10, bounced=10)
    ticket = Ticket.objects.get(sending=running)
    with pytest.raises(DomainError) as refused:
        support_services.ticket_decline(ticket=ticket, actor=support_user, reason="No")
    assert refused.value.code == "paused"


def test_bounced_contacts_of_the_paused_batch_are_marked(running):
    first = running.batches.get(number=1)
    record(first, sent=10, bounced=10)
    bounced = Recipient.objects.filter(batch=first, status="failed").values_list("contact_id")
    assert Contact.objects.filter(pk__in=bounced, bounced_at__isnull=False).count() == 10


def test_support_resumes_from_the_ticket_page(client, running, support_user, marketer):
    record(running.batches.get(number=1), sent=10, bounced=10)
    ticket = Ticket.objects.get(sending=running)
    client.force_login(marketer)
    assert client.post(reverse("ticket_resume", args=[ticket.pk])).status_code == 403
    client.force_login(support_user)

    page = client.get(reverse("ticket_detail", args=[ticket.pk])).content.decode()
    assert "Resume sending" in page and "Stop sending" in page
    assert "Decline" not in page
    response = client.post(reverse("ticket_resume", args=[ticket.pk]), follow=True)

    assert "is being sent again" in response.content.decode()
    running.refresh_from_db()
    assert running.status == "sending"


def test_the_marketer_sees_paused_and_why_on_the_row_and_the_detail_page(client, running, marketer):
    record(running.batches.get(number=1), sent=10, bounced=10)
    client.force_login(marketer)

    page = client.get(reverse("sending_list", args=[running.subaccount_id])).content.decode()
    row = page[page.index(f'id="row-{running.identifier}"') :].split("</tr>")[0]
    assert ">Paused</span>" in row
    assert "Paused: support is looking at it" in row
    assert "Paused automatically: 50% of 20 messages failed" in row
    assert ">Cancel</button>" not in row and "Request urgent cancellation" not in row
    detail = client.get(reverse("sending_detail", args=[running.identifier])).content.decode()
    assert "Paused: support is looking at it" in detail
    assert "50% of 20 messages failed" in detail and ANSWER in detail
