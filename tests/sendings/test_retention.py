"""The retention policy: recipient rows of long-finished sendings go, in chunks, and the
product says so; counts, batches and the timeline stay."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from batches.models import Batch, Recipient
from sendings import followups, services
from sendings.exceptions import DomainError
from sendings.models import Sending, SendingEvent
from sendings.retention import services as retention
from sendings.services import BatchPlan
from tests.factories import scheduled_sending

pytestmark = pytest.mark.django_db

DAYS = 395


@pytest.fixture(autouse=True)
def _retention(settings):
    settings.RECIPIENT_RETENTION_DAYS = DAYS


def finished_sending(subaccount, *, contacts: int, days_ago: int) -> Sending:
    """A sending canceled before it started (so it is finished), `days_ago` days ago."""
    sending = scheduled_sending(subaccount, contacts=contacts)
    services.sending_cancel(sending=sending, actor=None)
    Sending.objects.filter(pk=sending.pk).update(
        finished_at=timezone.now() - timedelta(days=days_ago)
    )
    sending.refresh_from_db()
    return sending


def rows(sending: Sending) -> int:
    return Recipient.objects.filter(sending=sending).count()


def deletes(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith('DELETE FROM "batches_recipient"'))


def test_purge_removes_only_the_rows_of_sendings_finished_before_the_cutoff(subaccount):
    old = finished_sending(subaccount, contacts=7, days_ago=DAYS + 1)
    recent = finished_sending(subaccount, contacts=4, days_ago=DAYS - 1)
    scheduled = scheduled_sending(subaccount, contacts=3)
    counts = (old.total_recipients, old.sent_count, old.failed_count, old.canceled_count)

    with CaptureQueriesContext(connection) as queries:
        report = retention.recipients_purge_expired(chunk=3)

    assert (report.marked, report.deleted, report.finished) == (1, 7, 1)
    assert deletes(queries) == 3  # 3 + 3 + 1 rows, one short transaction each
    assert (rows(old), rows(recent), rows(scheduled)) == (0, 4, 3)
    old.refresh_from_db()
    assert old.recipients_purged and old.recipients_purge_done
    assert (old.total_recipients, old.sent_count, old.failed_count, old.canceled_count) == counts
    assert Batch.objects.get(sending=old).recipient_count == 7  # the batch and its counts stay
    assert old.events.filter(kind=SendingEvent.Kind.RECIPIENTS_PURGED).count() == 1


def test_purge_is_idempotent_and_carries_on_where_a_run_stopped(subaccount):
    old = finished_sending(subaccount, contacts=5, days_ago=DAYS + 30)

    first = retention.recipients_purge_expired(chunk=2, run_seconds=0)  # time up at once
    old.refresh_from_db()
    assert (first.marked, first.deleted) == (1, 0)
    assert old.recipients_purged and not old.recipients_purge_done
    assert rows(old) == 5

    second = retention.recipients_purge_expired(chunk=2)
    third = retention.recipients_purge_expired(chunk=2)

    assert (second.marked, second.deleted, second.finished) == (0, 5, 1)
    assert (third.marked, third.deleted, third.finished) == (0, 0, 0)
    assert rows(old) == 0
    assert old.events.filter(kind=SendingEvent.Kind.RECIPIENTS_PURGED).count() == 1


def test_retention_of_zero_days_keeps_everything(subaccount, settings):
    settings.RECIPIENT_RETENTION_DAYS = 0
    old = finished_sending(subaccount, contacts=3, days_ago=5000)

    assert retention.recipients_purge_expired() == retention.PurgeReport(0, 0, 0)
    assert rows(old) == 3


def test_the_beat_schedule_runs_the_purge(settings):
    from config.celery import app

    app.loader.import_default_modules()
    entry = app.conf.beat_schedule["purge-expired-recipients"]
    assert entry["task"] == "sendings.retention.tasks.recipients_purge_expired_task"
    assert entry["task"] in app.tasks


# --- What the product says about a purged sending ---------------------------------------------


@pytest.fixture
def purged(subaccount):
    sending = finished_sending(subaccount, contacts=4, days_ago=DAYS + 2)
    retention.recipients_purge_expired()
    sending.refresh_from_db()
    return sending


def test_detail_page_says_the_list_was_removed_and_when(client, marketer, purged):
    client.force_login(marketer)
    day = purged.recipients_purged_at.astimezone(purged.subaccount.zone)

    response = client.get(reverse("sending_detail", args=[purged.identifier]))

    text = response.content.decode()
    assert response.status_code == 200
    assert f"removed on {day.day} {day:%B %Y} under the retention policy" in text
    assert f"kept for {DAYS} days" in text
    assert "Export recipients (CSV)" not in text
    assert "Resend to those who did not receive it" not in text


def test_the_removal_note_and_the_refusal_read_in_spanish(client, marketer, purged):
    client.force_login(marketer)
    day = purged.recipients_purged_at.astimezone(purged.subaccount.zone)
    month = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
             "septiembre", "octubre", "noviembre", "diciembre"][day.month - 1]  # fmt: skip

    page = client.get(
        reverse("sending_detail", args=[purged.identifier]), HTTP_ACCEPT_LANGUAGE="es"
    )
    refusal = client.get(
        reverse("sending_resend", args=[purged.identifier]), HTTP_ACCEPT_LANGUAGE="es"
    )

    text = page.content.decode()
    assert f"se eliminó el {day.day} de {month} de {day.year}" in text
    assert f"se guarda {DAYS} días" in text
    assert "La lista ya no se puede exportar, reenviar ni corregir." in text
    assert "ya no se puede hacer un reenvío ni una corrección" in refusal.content.decode()


def test_export_of_a_purged_sending_says_why_instead_of_an_empty_file(client, viewer, purged):
    client.force_login(viewer)

    response = client.get(reverse("recipients_export", args=[purged.identifier]))

    assert response.status_code == 410
    assert "under the retention policy" in response.content.decode()


def test_resend_of_a_purged_sending_is_refused_with_the_reason(client, marketer, purged):
    with pytest.raises(DomainError) as refused:
        followups.sending_resend_create(sending=purged, actor=marketer)
    assert refused.value.code == "purged"
    assert "retention policy" in refused.value.message

    client.force_login(marketer)
    page = client.get(reverse("sending_resend", args=[purged.identifier]))
    assert page.status_code == 200
    assert "retention policy" in page.content.decode()
    posted = client.post(reverse("sending_resend", args=[purged.identifier]), follow=True)
    assert "retention policy" in posted.content.decode()
    assert not Sending.objects.filter(source_sending=purged).exists()


def test_a_resend_draft_made_before_the_purge_cannot_be_confirmed(subaccount, marketer):
    sending = finished_sending(subaccount, contacts=4, days_ago=DAYS - 1)
    draft = followups.sending_resend_create(sending=sending, actor=marketer).obj
    Sending.objects.filter(pk=sending.pk).update(
        finished_at=timezone.now() - timedelta(days=DAYS + 1)
    )
    retention.recipients_purge_expired()
    draft.refresh_from_db()

    with pytest.raises(DomainError) as refused:
        services.sending_confirm(
            sending=draft, batches=[BatchPlan(timezone.now() + timedelta(hours=1))], actor=None
        )

    assert refused.value.code == "purged"
    draft.refresh_from_db()
    assert draft.status == "draft" and not Batch.objects.filter(sending=draft).exists()
