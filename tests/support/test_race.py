"""Race: support stops a sending while its last batch finishes on its own (PostgreSQL)."""

import random
import time

import pytest
from django.db import connection

from batches import services as batch_services
from batches.models import Recipient
from sendings.models import Sending
from support import services
from support.models import Ticket
from tests.factories import scheduled_sending
from tests.invariants import assert_counts_add_up
from tests.sendings.test_race import run_together

ROUNDS = 100
CONTACTS = 4


def almost_sent(subaccount) -> tuple[Sending, int, int]:
    """A one-batch sending in progress, every recipient sent but the last, which is in flight."""
    sending = scheduled_sending(subaccount, contacts=CONTACTS)
    batch = sending.batches.get()
    assert batch_services.batch_start(batch_id=batch.pk, now=batch.scheduled_at)
    claims = batch_services.recipients_claim(batch_id=batch.pk, limit=CONTACTS)
    batch_services.recipients_record_results(batch_id=batch.pk, sent=[c.id for c in claims[:-1]])
    return sending, batch.pk, claims[-1].id


def stop_after(delay: float, ticket: Ticket, actor) -> Ticket:
    time.sleep(delay)  # a few milliseconds either way, so both orders happen
    return services.ticket_stop_sending(ticket=ticket, actor=actor).obj


def finish_on_its_own(batch_id: int, last_id: int) -> bool:
    """What the worker does with its last message: record it accepted, then finish the batch."""
    batch_services.recipients_record_results(batch_id=batch_id, sent=[last_id])
    return batch_services.batch_finish(batch_id=batch_id)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_stop_against_the_batch_finishing_ends_stopped_or_too_late_never_both(
    subaccount, marketer, support_user, settings
):
    assert connection.vendor == "postgresql", "row-lock races are only meaningful on PostgreSQL"
    settings.SMALL_SENDING_MAX_RECIPIENTS = 1
    outcomes = {"stopped": 0, "too_late": 0}
    for _ in range(ROUNDS):
        sending, batch_id, last_id = almost_sent(subaccount)
        ticket, _ = services.ticket_file(sending=sending, requester=marketer)
        delay = random.uniform(0, 0.02)

        stopped, finished = run_together(
            lambda t=ticket, d=delay: stop_after(d, t, support_user),
            lambda b=batch_id, r=last_id: finish_on_its_own(b, r),
        )

        ticket.refresh_from_db()
        sending.refresh_from_db()
        assert ticket.status in outcomes, ticket.status
        if ticket.status == "stopped":
            # The stop won the lock: the batch is canceled, so it was not finished...
            assert isinstance(stopped, Ticket) and sending.status == "canceled"
            assert finished is False
            # ...and the message in flight, accepted after all, counts as received.
            batch_services.recipients_cancel_catch_up_all()
            settled = services.ticket_outcome_settle(ticket_id=ticket.pk)
            assert settled.ticket.received_at_stop == sending.sent_count == CONTACTS
        else:
            # The batch finished first: the stop is refused, nothing was canceled.
            assert getattr(stopped, "code", None) == "closed" and finished is True
            assert sending.status == "sent"
            assert ticket.received_at_stop is None
        assert sending.sent_count + sending.canceled_count + sending.failed_count == CONTACTS
        statuses = set(Recipient.objects.filter(sending=sending).values_list("status", flat=True))
        assert statuses == {"sent"}  # the last message was accepted either way
        outcomes[ticket.status] += 1

    assert_counts_add_up()
    print(f"\n{ROUNDS} rounds: stopped {outcomes['stopped']}, too late {outcomes['too_late']}")
    assert sum(outcomes.values()) == ROUNDS
