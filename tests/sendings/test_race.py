"""Race: a marketer's cancel against the dispatcher's start of the same batch (PostgreSQL)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from batches import services as batch_services
from batches.models import Recipient
from sendings import services
from sendings.exceptions import DomainError
from tests.factories import scheduled_sending

ROUNDS = 200


def run_together(*calls):
    """Run the calls in threads released at the same instant, each on its own connection."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def runner(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except DomainError as error:
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck on a lock"
    return results


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_cancel_and_start_of_the_same_batch_never_both_win(subaccount, marketer):
    assert connection.vendor == "postgresql", "row-lock races are only meaningful on PostgreSQL"
    due = timezone.now() - timedelta(minutes=1)
    sendings = [scheduled_sending(subaccount, contacts=2, first_at=due) for _ in range(ROUNDS)]
    wins = {"cancel": 0, "start": 0}

    for sending in sendings:
        batch = sending.batches.get()
        canceled, started = run_together(
            lambda s=sending: services.sending_cancel(sending=s, actor=marketer),
            lambda b=batch: batch_services.batch_start(batch_id=b.pk),
        )
        cancel_won = not isinstance(canceled, DomainError)
        start_won = started is True
        assert cancel_won != start_won, f"round {sending.name}: cancel={canceled!r} start={started}"
        if not cancel_won:
            assert canceled.code == "in_progress"
        sending.refresh_from_db()
        batch.refresh_from_db()
        expected = "canceled" if cancel_won else "sending"
        assert (sending.status, batch.status) == (expected, expected)
        recipients = set(
            Recipient.objects.filter(batch=batch)
            .with_status_shown()
            .values_list("status_shown", flat=True)
        )
        assert recipients == ({"canceled"} if cancel_won else {"pending"})
        wins["cancel" if cancel_won else "start"] += 1

    print(f"\n{ROUNDS} rounds: cancel won {wins['cancel']}, start won {wins['start']}")
    assert sum(wins.values()) == ROUNDS


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_recording_deliveries_while_support_stops_never_deadlocks_or_loses_count(
    subaccount, support_user, settings
):
    """Two workers record their chunks while support stops the sending: every lock is taken
    in the same order, so all three finish, and the counters still add up to the total."""
    settings.SMALL_SENDING_MAX_RECIPIENTS = 0
    due = timezone.now() - timedelta(minutes=1)
    for _ in range(20):
        sending = scheduled_sending(subaccount, contacts=40, first_at=due)
        batch = sending.batches.get()
        assert batch_services.batch_start(batch_id=batch.pk)
        ids = list(batch.recipients.order_by("id").values_list("id", flat=True))

        recorded_a, stopped, recorded_b = run_together(
            lambda b=batch, chunk=ids[:20]: batch_services.recipients_record_results(
                batch_id=b.pk, sent=chunk
            ),
            lambda s=sending: services.sending_stop(sending=s, actor=support_user),
            lambda b=batch, chunk=ids[20:]: batch_services.recipients_record_results(
                batch_id=b.pk, sent=chunk[:10], failed={pk: "550 no such user" for pk in chunk[10:]}
            ),
        )

        assert not isinstance(stopped, DomainError), stopped
        sending.refresh_from_db()
        assert sending.status == "canceled"
        # Everything the workers reported as accepted counts as sent, even after the stop.
        assert (sending.sent_count, sending.failed_count) == (30, 10)
        assert recorded_a.sent + recorded_b.sent == 30
        assert sending.canceled_count == 0
