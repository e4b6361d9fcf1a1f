from django.db import models
from django.db.models import Q
from django.utils import timezone


class Notification(models.Model):
    """An email owed because of a state change, written in the transaction that made it.

    `kind` names what to send (a renderer registered at start-up, sendings.outbox.registry)
    and `object_id` what it is about (a ticket, an import). `sent_at` is set when a sender
    claims the row, before the send, and cleared again if the send failed.
    """

    kind = models.CharField(max_length=64)
    object_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Not before: a renderer that asked to wait, or the backoff after a failed send.
    due_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # What is owed: few rows, looked at by the beat task every few seconds.
            models.Index(
                fields=["due_at"], condition=Q(sent_at__isnull=True), name="notification_owed_idx"
            ),
            models.Index(fields=["kind", "object_id"], name="notification_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.object_id}"
