from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

# A protocol, not a sentence: the same in every language (never translated).
URGENT_CANCEL_SUBJECT = "Urgent Cancel Sending"


class Ticket(models.Model):
    """Support's work on a sending in progress: a customer's "Urgent Cancel Sending" request,
    or a batch the platform paused because too many of its messages failed."""

    class Kind(models.TextChoices):
        URGENT_CANCEL = "urgent_cancel", gettext_lazy("Urgent cancellation")
        AUTO_PAUSE = "auto_pause", gettext_lazy("Paused automatically")

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("ticket status", "Open")
        STOPPED = "stopped", pgettext_lazy("ticket status", "Stopped")
        DECLINED = "declined", pgettext_lazy("ticket status", "Declined")
        TOO_LATE = "too_late", pgettext_lazy("ticket status", "Too late")
        RESUMED = "resumed", pgettext_lazy("ticket status", "Resumed")

    sending = models.ForeignKey(
        "sendings.Sending", on_delete=models.PROTECT, related_name="tickets"
    )
    kind = models.CharField(
        max_length=16, choices=Kind.choices, default=Kind.URGENT_CANCEL, editable=False
    )
    # Nobody for a ticket the platform opened (an automatic pause).
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # An urgent request's subject is exactly "Urgent Cancel Sending"; a pause's says why
    # ("Paused automatically: 14% of 600 messages failed").
    subject = models.CharField(max_length=100, default=URGENT_CANCEL_SUBJECT, editable=False)
    # Copied at filing time, as the customer's email would have carried them.
    account_identifier = models.CharField(max_length=20)
    sending_name = models.CharField(max_length=200)
    sending_identifier = models.CharField(max_length=20)
    message = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)
    outcome_note = models.TextField(blank=True)
    received_at_stop = models.PositiveIntegerField(null=True, blank=True)
    # When the requester was emailed the outcome (stopped, declined, too late).
    outcome_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="auto_pause")
                | Q(
                    kind="urgent_cancel", subject=URGENT_CANCEL_SUBJECT, requested_by__isnull=False
                ),
                name="ticket_subject_by_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["urgent_cancel", "auto_pause"]), name="ticket_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "stopped", "declined", "too_late", "resumed"]),
                name="ticket_status_valid",
            ),
            # One open request and one open pause at most: a customer may ask support to
            # stop a sending the platform paused, and the other way round.
            models.UniqueConstraint(
                fields=["sending", "kind"],
                condition=Q(status="open"),
                name="ticket_one_open_per_sending",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="ticket_queue_idx")]

    def __str__(self) -> str:
        return f"{self.subject}: {self.sending_name} ({self.sending_identifier})"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def is_auto_pause(self) -> bool:
        return self.kind == self.Kind.AUTO_PAUSE

    @property
    def outcome_for_requester(self) -> str:
        """One sentence the requester reads on the row, the detail page and in the email."""
        if self.is_auto_pause:
            return self.pause_outcome
        match self.status:
            case self.Status.OPEN:
                return _("Cancellation requested: support has been asked to stop it.")
            case self.Status.STOPPED:
                # A note when someone else canceled what was left before support acted.
                return _("%(note)s: %(received)s.") % {
                    "note": self.outcome_note or _("Stopped by support"),
                    "received": self.received_phrase,
                }
            case self.Status.DECLINED:
                return _("Cancellation declined: %(reason)s") % {"reason": self.outcome_note}
            case _:
                return _("Too late to stop: it finished before support could act.")

    @property
    def pause_outcome(self) -> str:
        match self.status:
            case self.Status.OPEN:
                return _("Paused: support is looking at it.")
            case self.Status.RESUMED:
                return _("%(note)s: it is being sent again.") % {
                    "note": self.outcome_note or _("Resumed by support")
                }
            case self.Status.STOPPED:
                return _("Stopped by support after the pause: %(received)s.") % {
                    "received": self.received_phrase
                }
            case _:
                return _("The sending finished.")

    @property
    def reason(self) -> str:
        """Why the platform paused it, for the marketer: "14% of 600 messages failed"."""
        return self.subject.removeprefix("Paused automatically: ") if self.is_auto_pause else ""

    @property
    def received_phrase(self) -> str:
        from django.utils.translation import ngettext

        from sendings.formatting import thousands

        received = self.received_at_stop or 0
        total = self.sending.total_recipients
        return ngettext(
            "%(received)s of %(total)s contact had received it",
            "%(received)s of %(total)s contacts had received it",
            total,
        ) % {"received": thousands(received), "total": thousands(total)}
