"""The wizard's Celery task: the test send, out of the request."""

import smtplib

from celery import shared_task

from sendings.models import Sending
from sendings.wizard import services


@shared_task(
    name="sendings.tasks.sending_send_test_task",
    ignore_result=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=5,
    max_retries=5,
)
def sending_send_test_task(sending_id: int, addresses: list[str]) -> None:
    """Email the sending as it stands now to `addresses`; nothing if it is gone."""
    sending = Sending.objects.filter(pk=sending_id).first()
    if sending is None:
        return
    services.sending_send_test(sending=sending, addresses=addresses)
