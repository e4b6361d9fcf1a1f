"""Urgent-cancel tickets: filing, stop, decline, too late, and the outcome's exact numbers."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from batches import services as batch_services
from batches.models import Batch, Recipient
from sendings import services as sending_services
from sendings.exceptions import DomainError
from sendings.models import SendingEvent
from sendings.outbox.models import Notification
from sendings.outbox.services import Sent, notification_send
from support import services
from support.models import Ticket
from tests.factories import MembershipFactory
from tests.sendings.conftest import sending_in

pytestmark = pytest.mark.django_db


def file(sending, user, message="Wrong list!", *, capture):
    with capture(execute=True):
        return services.ticket_file(sending=sending, requester=user, message=message)


def statuses(sending) -> list[str]:
    return list(
        Batch.objects.filter(sending=sending).order_by("number").values_list("status", flat=True)
    )


def finish_everything(sending) -> None:
    """Deliver every recipient left and finish each batch, as the dispatcher would."""
    for batch in Batch.objects.filter(sending=sending).order_by("number"):
        if batch.status == "scheduled":
            assert batch_services.batch_start(batch_id=batch.pk, now=batch.scheduled_at)
        pending = list(batch.recipients.filter(status="pending").values_list("id", flat=True))
        batch_services.recipients_record_results(batch_id=batch.pk, sent=pending)
        assert batch_services.batch_finish(batch_id=batch.pk)


# --- Filing ---------------------------------------------------------------------------------


def test_filing_creates_the_ticket_and_emails_support(
    in_progress, marketer, eager_tasks, django_capture_on_commit_callbacks
):
    ticket, created = file(in_progress, marketer, capture=django_capture_on_commit_callbacks)

    assert created
    assert ticket.subject == "Urgent Cancel Sending"
    assert ticket.status == "open"
    assert (ticket.account_identifier, ticket.sending_name, ticket.sending_identifier) == (
        in_progress.subaccount.account.identifier,
        "Black Friday",
        in_progress.identifier,
    )
    [email] = mail.outbox
    assert email.subject == "Urgent Cancel Sending"
    assert email.to == ["soporte@example.com"]
    assert email.reply_to == [marketer.email]
    for expected in [
        f"Account ID: {in_progress.subaccount.account.identifier}",
        "Sending name: Black Friday",
        f"Sending ID: {in_progress.identifier}",
        f"Requested by: marketer <{marketer.email}>",
        "Sent when requested: 1 of 6",
        "Wrong list!",
        f"https://dashboard.example.com/support/tickets/{ticket.pk}/",
    ]:
        assert expected in email.body
    event = in_progress.events.get(kind=SendingEvent.Kind.URGENT_CANCEL_REQUESTED)
    assert event.actor == marketer and event.sent_count == 1


def test_filing_twice_returns_the_open_ticket_and_sends_no_second_email(
    in_progress, marketer, subaccount, eager_tasks, django_capture_on_commit_callbacks
):
    first, _ = file(in_progress, marketer, capture=django_capture_on_commit_callbacks)
    colleague = MembershipFactory(subaccount=subaccount).user
    again, created = file(in_progress, colleague, capture=django_capture_on_commit_callbacks)

    assert again == first and not created
    assert Ticket.objects.count() == 1
    assert len(mail.outbox) == 1
    assert in_progress.events.filter(kind=SendingEvent.Kind.URGENT_CANCEL_REQUESTED).count() == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("sent", "finished"),
        ("canceled", "finished"),
        ("scheduled", "scheduled"),
        ("draft", "draft"),
    ],
)
def test_filing_for_a_sending_not_in_progress_is_refused_without_a_ticket(
    status, code, subaccount, marketer, stoppable, eager_tasks, django_capture_on_commit_callbacks
):
    sending = sending_in(status, subaccount)
    with pytest.raises(DomainError) as refused:
        file(sending, marketer, capture=django_capture_on_commit_callbacks)
    assert refused.value.code == code
    assert not Ticket.objects.exists()
    assert mail.outbox == []


def test_a_sending_that_finished_meanwhile_says_how_many_received_it(
    in_progress, marketer, django_capture_on_commit_callbacks
):
    finish_everything(in_progress)
    with pytest.raises(DomainError) as refused:
        file(in_progress, marketer, capture=django_capture_on_commit_callbacks)
    assert "6 of 6 contacts received it" in refused.value.message


def test_a_small_sending_cannot_be_requested(
    subaccount, marketer, settings, django_capture_on_commit_callbacks
):
    settings.SMALL_SENDING_MAX_RECIPIENTS = 1000
    sending = sending_in("sending", subaccount)
    with pytest.raises(DomainError) as refused:
        file(sending, marketer, capture=django_capture_on_commit_callbacks)
    assert refused.value.code == "small"
    assert not Ticket.objects.exists()


# --- Stop -----------------------------------------------------------------------------------


def test_stop_cancels_the_batch_in_progress_and_every_later_batch(
    in_progress, marketer, support_user, eager_tasks, django_capture_on_commit_callbacks
):
    ticket, _ = file(in_progress, marketer, capture=django_capture_on_commit_callbacks)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        ticket = services.ticket_stop_sending(ticket=ticket, actor=support_user).obj

    ticket.refresh_from_db()
    in_progress.refresh_from_db()
    assert ticket.status == "stopped"
    assert ticket.handled_by == support_user
    assert ticket.received_at_stop == 1
    assert (in_progress.status, in_progress.sent_count, in_progress.canceled_count) == (
        "canceled",
        1,
        5,
    )
    assert statuses(in_progress) == ["canceled", "canceled", "canceled"]
    [email] = mail.outbox
    assert email.to == [marketer.email]
    assert "Stopped by support: 1 of 6 contacts had received it." in email.body
    assert ticket.outcome_notified_at is not None
    assert in_progress.events.filter(kind=SendingEvent.Kind.STOPPED, actor=support_user).exists()


def test_the_outcome_email_waits_until_the_stopped_rows_caught_up(
    in_progress, marketer, support_user, django_capture_on_commit_callbacks
):
    """The catch-up task was lost (the broker was down): the outbox asks again later, and
    the sweep's catch-up lets the outcome go with exact numbers."""
    ticket, _ = file(in_progress, marketer, capture=django_capture_on_commit_callbacks)
    mail.outbox.clear()
    services.ticket_stop_sending(ticket=ticket, actor=support_user)  # no on_commit: no task
    [owed] = Notification.objects.filter(kind=services.TICKET_OUTCOME, object_id=ticket.pk)
    later = timezone.now() + timedelta(minutes=1)

    assert notification_send(notification_id=owed.pk, now=later)[0] is Sent.WAIT
    assert mail.outbox == []
    batch_services.recipients_cancel_catch_up_all()
    assert notification_send(notification_id=owed.pk, now=later + timedelta(minutes=1)) == (
        Sent.SENT,
        0.0,
    )
    [email] = mail.outbox
    assert "Stopped by support: 1 of 6 contacts had received it." in email.body


def test_stopping_twice_is_a_no_op_and_emails_once(
    in_progress, marketer, support_user, eager_tasks, django_capture_on_commit_callbacks
):
    ticket, _ = file(in_progress, marketer, capture=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_stop_sending(ticket=ticket, actor=support_user)
    with django_capture_on_commit_callbacks(execute=True):
        again = services.ticket_stop_sending(ticket=ticket, actor=support_user)
    assert (again.obj.status, again.changed) == ("stopped", False)
    assert [m.to for m in mail.outbox] == [["soporte@example.com"], [marketer.email]]


def test_a_stop_waits_for_messages_in_flight_and_counts_them_as_received(
    in_progress, marketer, support_user, django_capture_on_commit_callbacks
):
    """A message handed to SMTP just before the stop is received: the outcome says so."""
    ticket, _ = file(in_progress, marketer, capture=django_capture_on_commit_callbacks)
    batch = in_progress.batches.get(number=1)
    [claim] = batch_services.recipients_claim(batch_id=batch.pk, limit=10)  # in flight

    services.ticket_stop_sending(ticket=ticket, actor=support_user)
    assert batch_services.inflight_count(sending_id=in_progress.pk) == 1
    assert services.ticket_outcome_settle(ticket_id=ticket.pk).wait  # rows not caught up
    batch_services.recipients_cancel_catch_up_all()
    assert batch_services.inflight_count(sending_id=in_progress.pk) == 1
    assert services.ticket_outcome_settle(ticket_id=ticket.pk).wait  # one in flight

    batch_services.recipients_record_results(batch_id=batch.pk, sent=[claim.id])  # accepted
    settled = services.ticket_outcome_settle(ticket_id=ticket.pk)
    assert not settled.wait
    assert settled.ticket.received_at_stop == 2
    assert "2 of 6 contacts had received it" in settled.ticket.outcome_for_requester
    in_progress.refresh_from_db()
    assert (in_progress.sent_count, in_progress.canceled_count) == (2, 4)


def test_claims_a_halted_worker_hands_back_end_the_wait(
    in_progress, marketer, support_user, django_capture_on_commit_callbacks
):
    ticket, _ = file(in_progress, marketer, capture=django_capture_on_commit_callbacks)
    batch = in_progress.batches.get(number=1)
    [claim] = batch_services.recipients_claim(batch_id=batch.pk, limit=10)
    services.ticket_stop_sending(ticket=ticket, actor=support_user)

    assert batch_services.recipients_release(batch_id=batch.pk, ids=[claim.id]) == 1
    assert Recipient.objects.with_status_shown().get(pk=claim.id).status_shown == "canceled"
    batch_services.recipients_cancel_catch_up_all()
    settled = services.ticket_outcome_settle(ticket_id=ticket.pk)
    assert settled.ticket.received_at_stop == 1


def test_a_small_sending_cannot_be_stopped_and_its_ticket_stays_open(
    in_progress, marketer, support_user, settings, django_capture_on_commit_callbacks
):
    ticket, _ = file(in_progress, marketer, capture=django_capture_on_commit_callbacks)
    settings.SMALL_SENDING_MAX_RECIPIENTS = 1000
    with pytest.raises(DomainError) as refused:
        services.ticket_stop_sending(ticket=ticket, actor=support_user)
    assert refused.value.code == "small"
    ticket.refresh_from_db()
    in_progress.refresh_from_db()
    assert (ticket.status, in_progress.status) == ("open", "sending")


# --- Decline, too late ----------------------------------------------------------------------


def test_decline_needs_a_reason_and_emails_it(
    in_progress, marketer, support_user, eager_tasks, django_capture_on_commit_callbacks
):
    ticket, _ = file(in_progress, marketer, capture=django_capture_on_commit_callbacks)
    with pytest.raises(DomainError) as refused:
        services.ticket_decline(ticket=ticket, actor=support_user, reason="  ")
    assert refused.value.code == "reason"

    with django_capture_on_commit_callbacks(execute=True):
        services.ticket_decline(ticket=ticket, actor=support_user, reason="Already completed")
    ticket.refresh_from_db()
    in_progress.refresh_from_db()
    assert (ticket.status, ticket.outcome_note) == ("declined", "Already completed")
    assert in_progress.status == "sending"  # it goes on
    assert "Cancellation declined: Already completed" in mail.outbox[-1].body
    with pytest.raises(DomainError) as closed:
        services.ticket_stop_sending(ticket=ticket, actor=support_user)
    assert closed.value.code == "closed"


def test_a_sending_that_completes_first_makes_its_ticket_too_late(
    in_progress, marketer, support_user, eager_tasks, django_capture_on_commit_callbacks
):
    ticket, _ = file(in_progress, marketer, capture=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        finish_everything(in_progress)

    ticket.refresh_from_db()
    assert ticket.status == "too_late"
    assert "Too late to stop" in mail.outbox[-1].body
    with pytest.raises(DomainError) as closed:
        services.ticket_stop_sending(ticket=ticket, actor=support_user)
    assert closed.value.code == "closed"


def test_canceling_the_batches_left_between_two_batches_fulfils_the_request(
    in_progress, marketer, django_capture_on_commit_callbacks
):
    ticket, _ = file(in_progress, marketer, capture=django_capture_on_commit_callbacks)
    batch = in_progress.batches.get(number=1)
    pending = list(batch.recipients.filter(status="pending").values_list("id", flat=True))
    batch_services.recipients_record_results(batch_id=batch.pk, sent=pending)
    assert batch_services.batch_finish(batch_id=batch.pk)  # now Scheduled between batches

    sending_services.sending_cancel(sending=in_progress, actor=marketer)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.handled_by, ticket.received_at_stop) == ("stopped", marketer, 2)
    assert ticket.outcome_for_requester == (
        "Canceled by marketer before support acted: 2 of 6 contacts had received it."
    )
