"""After a sending: resend to those who did not receive it, a correction to those who did,
and unscheduling back to a draft (services, and the race of an unschedule with a start)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from batches import services as batch_services
from batches.models import Recipient
from sendings import followups, services
from sendings.exceptions import DomainError
from sendings.models import Contact, Sending, SendingEvent
from sendings.services import BatchPlan
from sendings.wizard.selectors import draft_audience_count
from tests.factories import scheduled_sending
from tests.sendings.test_race import run_together

pytestmark = pytest.mark.django_db

SOON = timedelta(hours=1)


def due_sending(subaccount, contacts: int, sizes=None) -> Sending:
    return scheduled_sending(
        subaccount, contacts=contacts, sizes=sizes, first_at=timezone.now() - timedelta(minutes=1)
    )


def start(batch) -> None:
    assert batch_services.batch_start(batch_id=batch.pk, now=batch.scheduled_at + SOON)


def pending_ids(batch) -> list[int]:
    return list(
        batch.recipients.filter(status="pending").order_by("id").values_list("id", flat=True)
    )


def emails(sending: Sending, *statuses: str) -> set[str]:
    recipients = Recipient.objects.filter(sending=sending)
    if statuses:
        recipients = recipients.counted_as(*statuses)
    return set(recipients.values_list("email", flat=True))


def unsubscribe(email: str) -> None:
    Contact.objects.filter(email=email).update(unsubscribed=True, unsubscribed_at=timezone.now())


def confirm(draft: Sending, actor=None) -> Sending:
    draft.refresh_from_db()
    return services.sending_confirm(
        sending=draft, batches=[BatchPlan(timezone.now() + SOON)], actor=actor
    )


# --- Resend: exactly the canceled and failed, minus those unsubscribed since -----------------


def test_resend_after_a_support_stop_goes_to_the_canceled_minus_the_unsubscribed(
    subaccount, marketer, support_user, settings
):
    settings.SMALL_SENDING_MAX_RECIPIENTS = 0
    original = due_sending(subaccount, contacts=10)
    batch = original.batches.get()
    start(batch)
    batch_services.recipients_record_results(batch_id=batch.pk, sent=pending_ids(batch)[:3])
    services.sending_stop(sending=original, actor=support_user)
    canceled = emails(original, "canceled")
    gone = sorted(canceled)[0]
    unsubscribe(gone)

    draft = followups.sending_resend_create(sending=original, actor=marketer).obj

    assert (draft.status, draft.name) == ("draft", f"{original.name} (resend)")
    assert (draft.subject, draft.html_body, draft.text_body) == (
        original.subject,
        original.html_body,
        original.text_body,
    )
    assert draft_audience_count(sending=draft) == 6
    resent = confirm(draft, marketer)
    assert resent.total_recipients == 6
    assert emails(resent) == canceled - {gone}
    assert not emails(resent) & emails(original, "sent")


def test_resend_after_the_marketer_canceled_a_batch_goes_to_that_batch(subaccount, marketer):
    original = due_sending(subaccount, contacts=10, sizes=[4, None])
    first, second = original.batches.order_by("number")
    start(first)
    batch_services.recipients_record_results(batch_id=first.pk, sent=pending_ids(first))
    assert batch_services.batch_finish(batch_id=first.pk)
    batch_services.batch_cancel(batch=second, actor=marketer)
    original.refresh_from_db()
    assert original.status == "canceled"

    resent = confirm(followups.sending_resend_create(sending=original, actor=marketer).obj)

    assert emails(resent) == set(second.recipients.values_list("email", flat=True))
    assert resent.total_recipients == original.total_recipients - original.sent_count == 6


def test_resend_of_a_sent_sending_goes_to_its_smtp_failures(subaccount, marketer):
    original = due_sending(subaccount, contacts=6)
    batch = original.batches.get()
    start(batch)
    ids = pending_ids(batch)
    batch_services.recipients_record_results(
        batch_id=batch.pk, sent=ids[2:], failed={pk: "550 5.1.1 no such user" for pk in ids[:2]}
    )
    assert batch_services.batch_finish(batch_id=batch.pk)
    original.refresh_from_db()
    assert (original.status, original.failed_count) == ("sent", 2)

    resent = confirm(followups.sending_resend_create(sending=original, actor=marketer).obj)

    assert emails(resent) == emails(original, "failed")
    assert resent.total_recipients == 2


def test_fixed_snapshot_walks_in_chunks(subaccount, marketer, monkeypatch):
    monkeypatch.setattr(services, "SNAPSHOT_CHUNK", 3)
    original = scheduled_sending(subaccount, contacts=10)
    services.sending_cancel(sending=original, actor=marketer)

    draft = followups.sending_resend_create(sending=original, actor=marketer).obj
    draft.refresh_from_db()
    resent = services.sending_confirm(
        sending=draft,
        batches=[BatchPlan(timezone.now() + SOON, 4), BatchPlan(timezone.now() + 2 * SOON)],
        actor=marketer,
    )

    assert resent.total_recipients == 10
    assert emails(resent) == emails(original)
    assert [b.recipient_count for b in resent.batches.order_by("number")] == [4, 6]
    assert [b.recipients.count() for b in resent.batches.order_by("number")] == [4, 6]


def test_a_resend_whose_audience_all_unsubscribed_is_refused_at_confirmation(subaccount, marketer):
    original = scheduled_sending(subaccount, contacts=2)
    services.sending_cancel(sending=original, actor=marketer)
    draft = followups.sending_resend_create(sending=original, actor=marketer).obj
    for email in emails(original):
        unsubscribe(email)

    with pytest.raises(DomainError) as refused:
        confirm(draft)

    assert refused.value.code == "empty_audience"
    draft.refresh_from_db()
    assert draft.status == "draft"


# --- Correction: exactly the sent ones ---------------------------------------------------------


def test_correction_goes_to_exactly_those_who_received_it(
    subaccount, marketer, support_user, settings
):
    settings.SMALL_SENDING_MAX_RECIPIENTS = 0
    original = due_sending(subaccount, contacts=8)
    batch = original.batches.get()
    start(batch)
    ids = pending_ids(batch)
    batch_services.recipients_record_results(
        batch_id=batch.pk, sent=ids[:5], failed={ids[5]: "550 rejected"}
    )
    services.sending_stop(sending=original, actor=support_user)
    original.refresh_from_db()
    received = emails(original, "sent")

    draft = followups.sending_correction_create(sending=original, actor=marketer).obj

    assert draft.name == f"Correction: {original.name}"
    assert (draft.subject, draft.html_body, draft.text_body) == ("", "", "")
    assert draft.from_email == original.from_email
    missing = {item.field for item in draft.missing_for_confirm()}
    assert missing == {"subject", "html_body", "text_body"}  # no lists needed
    Sending.objects.filter(pk=draft.pk).update(subject="Sorry", html_body="<p>x</p>", text_body="x")
    corrected = confirm(draft, marketer)
    assert emails(corrected) == received
    assert corrected.total_recipients == original.sent_count == 5


# --- What is refused, repeated, recorded ---------------------------------------------------------


def test_resend_of_a_sending_that_reached_everyone_is_refused(subaccount, marketer):
    original = due_sending(subaccount, contacts=3)
    batch = original.batches.get()
    start(batch)
    batch_services.recipients_record_results(batch_id=batch.pk, sent=pending_ids(batch))
    assert batch_services.batch_finish(batch_id=batch.pk)

    with pytest.raises(DomainError) as refused:
        followups.sending_resend_create(sending=original, actor=marketer)

    assert refused.value.code == "not_allowed"
    assert not Sending.objects.filter(source_sending=original).exists()


@pytest.mark.parametrize("service", ["sending_resend_create", "sending_correction_create"])
def test_followups_of_a_scheduled_sending_are_refused(subaccount, marketer, service):
    original = scheduled_sending(subaccount, contacts=3)

    with pytest.raises(DomainError):
        getattr(followups, service)(sending=original, actor=marketer)


def test_a_correction_of_a_sending_nobody_received_is_refused(subaccount, marketer):
    original = scheduled_sending(subaccount, contacts=3)
    services.sending_cancel(sending=original, actor=marketer)

    with pytest.raises(DomainError) as refused:
        followups.sending_correction_create(sending=original, actor=marketer)

    assert refused.value.code == "not_allowed"


def test_asking_twice_returns_the_same_resend_draft(subaccount, marketer):
    original = scheduled_sending(subaccount, contacts=3)
    services.sending_cancel(sending=original, actor=marketer)

    first = followups.sending_resend_create(sending=original, actor=marketer)
    second = followups.sending_resend_create(sending=original, actor=marketer)

    assert (first.changed, second.changed) == (True, False)
    assert first.obj.pk == second.obj.pk
    assert Sending.objects.filter(source_sending=original).count() == 1


def test_the_timelines_say_who_made_the_resend_from_what(subaccount, marketer):
    original = scheduled_sending(subaccount, contacts=3)
    services.sending_cancel(sending=original, actor=marketer)

    draft = followups.sending_resend_create(sending=original, actor=marketer).obj

    on_original = original.events.get(kind=SendingEvent.Kind.RESEND_CREATED)
    on_draft = draft.events.get(kind=SendingEvent.Kind.RESEND_CREATED)
    assert on_original.actor_label == on_draft.actor_label == "marketer"
    assert draft.identifier in on_original.message
    assert original.identifier in on_draft.message
    assert list(original.followups.all()) == [draft]


# --- Unschedule and edit -----------------------------------------------------------------


def test_unschedule_returns_a_scheduled_sending_to_draft_keeping_its_schedule(subaccount, marketer):
    first_at = timezone.now() + timedelta(days=2)
    sending = scheduled_sending(subaccount, contacts=6, sizes=[2, None], first_at=first_at)

    result = followups.sending_unschedule(sending=sending, actor=marketer)

    assert result.changed
    sending.refresh_from_db()
    assert (sending.status, sending.total_recipients, sending.batch_count) == ("draft", 0, 0)
    assert sending.scheduled_at is None
    assert not sending.batches.exists() and not Recipient.objects.filter(sending=sending).exists()
    draft = sending.schedule_draft
    assert draft["mode"] == "batches"
    local = first_at.astimezone(subaccount.zone)
    assert draft["rows"][0] == {
        "date": f"{local:%Y-%m-%d}",
        "time": f"{local:%H:%M}",
        "count": "2",
    }
    assert [row["count"] for row in draft["rows"]] == ["2", "4"]
    event = sending.events.get(kind=SendingEvent.Kind.UNSCHEDULED)
    assert event.actor_label == "marketer"
    # Confirmed again: a fresh snapshot.
    again = confirm(sending, marketer)
    assert (again.status, again.total_recipients) == ("scheduled", 6)


def test_unschedule_of_a_draft_is_a_no_op(subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=2)
    followups.sending_unschedule(sending=sending, actor=marketer)

    assert not followups.sending_unschedule(sending=sending, actor=marketer).changed
    assert sending.events.filter(kind=SendingEvent.Kind.UNSCHEDULED).count() == 1


def test_unschedule_after_a_batch_started_is_refused(subaccount, marketer):
    sending = due_sending(subaccount, contacts=4, sizes=[2, None])
    first = sending.batches.get(number=1)
    start(first)
    batch_services.recipients_record_results(batch_id=first.pk, sent=pending_ids(first))
    assert batch_services.batch_finish(batch_id=first.pk)
    sending.refresh_from_db()
    assert sending.status == "scheduled"  # batch 2 still to come, batch 1 sent

    with pytest.raises(DomainError) as refused:
        followups.sending_unschedule(sending=sending, actor=marketer)

    assert refused.value.code == "started"
    sending.refresh_from_db()
    assert sending.status == "scheduled"


def test_a_start_that_finds_its_batch_gone_does_nothing(subaccount, marketer):
    sending = due_sending(subaccount, contacts=2)
    batch = sending.batches.get()
    followups.sending_unschedule(sending=sending, actor=marketer)

    assert batch_services.batch_start(batch_id=batch.pk) is False


ROUNDS = 100


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_unschedule_and_start_of_the_same_batch_have_exactly_one_winner(subaccount, marketer):
    assert connection.vendor == "postgresql", "row-lock races are only meaningful on PostgreSQL"
    due = timezone.now() - timedelta(minutes=1)
    sendings = [scheduled_sending(subaccount, contacts=2, first_at=due) for _ in range(ROUNDS)]
    wins = {"unschedule": 0, "start": 0}

    for sending in sendings:
        batch = sending.batches.get()
        unscheduled, started = run_together(
            lambda s=sending: followups.sending_unschedule(sending=s, actor=marketer),
            lambda b=batch: batch_services.batch_start(batch_id=b.pk),
        )
        unschedule_won = not isinstance(unscheduled, DomainError)
        assert unschedule_won != (started is True), f"{unscheduled!r} / start={started}"
        sending.refresh_from_db()
        if unschedule_won:
            assert sending.status == "draft"
            assert not Recipient.objects.filter(sending=sending).exists()
        else:
            assert unscheduled.code == "started"
            assert sending.status == "sending"
            assert Recipient.objects.filter(sending=sending).count() == 2
        wins["unschedule" if unschedule_won else "start"] += 1

    print(f"\n{ROUNDS} rounds: unschedule won {wins['unschedule']}, start won {wins['start']}")
    assert sum(wins.values()) == ROUNDS
