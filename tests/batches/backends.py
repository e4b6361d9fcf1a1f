"""Email backends that misbehave on purpose, for in-process delivery tests."""

import smtplib

from django.core.mail.backends.locmem import EmailBackend

from batches.models import Batch


class RejectingBackend(EmailBackend):
    """Refuses every address starting with "bounce" for good (550, as a server would for an
    address that does not exist), and those starting with "busy" for now (450)."""

    def send_messages(self, messages):
        for message in messages:
            address = message.to[0]
            if "bounce" in address:
                raise smtplib.SMTPRecipientsRefused({address: (550, b"5.1.1 Mailbox unavailable")})
            if "busy" in address:
                raise smtplib.SMTPRecipientsRefused({address: (450, b"4.2.1 Mailbox busy")})
        return super().send_messages(messages)


class StoppingBackend(EmailBackend):
    """Has support stop the batch being delivered right after the `stop_after`-th message."""

    stop_after = 3
    stopper = None  # the support user

    def send_messages(self, messages):
        from sendings import services

        sent = super().send_messages(messages)
        from django.core import mail

        if len(mail.outbox) == self.stop_after:
            batch = Batch.objects.get(status="sending")
            services.sending_stop(sending=batch.sending, actor=StoppingBackend.stopper)
        return sent


class DownForAWhileBackend(EmailBackend):
    """An SMTP server that refuses connections `refusals` times, then accepts."""

    refusals = 0

    def open(self):
        if DownForAWhileBackend.refusals > 0:
            DownForAWhileBackend.refusals -= 1
            raise ConnectionRefusedError(111, "Connection refused")
        return super().open()
