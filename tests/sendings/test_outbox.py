"""The outbox: emails owed after a state change, sent at most once, by a task or by beat."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from sendings.outbox import registry, services
from sendings.outbox.models import Notification
from sendings.outbox.services import Sent

pytestmark = pytest.mark.django_db

KIND = "tests.greeting"


@pytest.fixture(autouse=True)
def greeting_kind(settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    sent = []
    registry.notification_kind_register(
        KIND,
        registry.Kind(
            render=lambda object_id: EmailMessage(subject=f"Hello {object_id}", to=["a@x.org"]),
            sent=sent.append,
        ),
    )
    yield sent
    registry._kinds.pop(KIND, None)


@pytest.fixture
def broker_down(monkeypatch):
    def refuse(self, *args, **kwargs):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr("celery.canvas.Signature.apply_async", refuse)


def test_a_notification_owed_in_a_rolled_back_transaction_is_never_sent(
    django_capture_on_commit_callbacks,
):
    with (
        pytest.raises(RuntimeError),
        django_capture_on_commit_callbacks(execute=True),
        transaction.atomic(),
    ):
        services.notification_owe(kind=KIND, object_id=1)
        raise RuntimeError("the state change failed")

    assert not Notification.objects.exists()
    assert services.notifications_send_owed() == 0
    assert mail.outbox == []


def test_it_is_sent_at_most_once_whoever_tries(greeting_kind):
    notification = services.notification_owe(kind=KIND, object_id=7)

    first = services.notification_send(notification_id=notification.pk)
    second = services.notification_send(notification_id=notification.pk)
    swept = services.notifications_send_owed()

    assert (first[0], second[0], swept) == (Sent.SENT, Sent.NOT_MINE, 0)
    assert [message.subject for message in mail.outbox] == ["Hello 7"]
    assert greeting_kind == [7]
    notification.refresh_from_db()
    assert notification.sent_at is not None


def test_a_broker_outage_at_commit_leaves_it_to_the_beat_task(
    broker_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.notification_owe(kind=KIND, object_id=8)  # the task cannot be queued

    assert mail.outbox == []
    assert services.notifications_send_owed() == 1
    assert [message.subject for message in mail.outbox] == ["Hello 8"]


def test_a_failed_send_stays_owed_with_a_backoff_and_goes_out_later(monkeypatch):
    notification = services.notification_owe(kind=KIND, object_id=9)

    def smtp_down(self, *args, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(EmailMessage, "send", smtp_down)
        outcome, delay = services.notification_send(notification_id=notification.pk)

    assert (outcome, delay) == (Sent.FAILED, services.RETRY_BASE_SECONDS)
    notification.refresh_from_db()
    assert notification.sent_at is None and notification.attempts == 1
    assert "Connection refused" in notification.last_error
    assert services.notifications_send_owed() == 0  # not due yet
    later = timezone.now() + timedelta(seconds=services.RETRY_BASE_SECONDS + 1)
    assert services.notifications_send_owed(now=later) == 1
    assert len(mail.outbox) == 1


def test_a_renderer_that_asks_to_wait_is_due_again_later():
    registry.notification_kind_register(KIND, registry.Kind(render=lambda _: registry.Wait(2)))
    notification = services.notification_owe(kind=KIND, object_id=10)

    assert services.notification_send(notification_id=notification.pk) == (Sent.WAIT, 2)

    notification.refresh_from_db()
    assert notification.sent_at is None and notification.attempts == 0
    assert notification.due_at > timezone.now()
    assert mail.outbox == []


def test_a_kind_nobody_registered_stays_owed():
    notification = services.notification_owe(kind="tests.unknown", object_id=1)

    assert services.notification_send(notification_id=notification.pk)[0] is Sent.FAILED
    notification.refresh_from_db()
    assert notification.sent_at is None
    assert "no renderer" in notification.last_error
