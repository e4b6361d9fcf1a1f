"""The SMTP backend for bulk delivery: Django's, minus work a prepared message needs not.

Django's SMTP backend re-parses the From and To headers of every message to find the
envelope addresses (about 0.2 ms a message here). A `PreparedMessage` carries its envelope
already in wire form, so it goes straight to `sendmail`. Every other message (password
resets, support notifications) takes Django's path unchanged.
"""

from django.core.mail.backends.smtp import EmailBackend

from batches.mime import PreparedMessage


class BulkEmailBackend(EmailBackend):
    def _send(self, email_message):
        if not isinstance(email_message, PreparedMessage) or not email_message.envelope_to:
            return super()._send(email_message)
        self.connection.sendmail(
            email_message.envelope_from, [email_message.envelope_to], email_message.as_raw()
        )
        return True
