"""The lifecycle core's models: a Sending and its audit trail.

Tenancy and contacts models live in their sub-packages; they are imported here because this
is the `sendings` app's models module, where Django looks for the app's models.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_lazy, pgettext_lazy

from sendings.contacts.models import (
    Contact,
    ContactImport,
    ContactList,
    ListMembership,
)
from sendings.formatting import long_date
from sendings.identifiers import new_sending_identifier
from sendings.tenancy.models import (
    Account,
    Membership,
    Subaccount,
    UserPreference,
    validate_time_zone,
)

__all__ = [
    "Account",
    "Contact",
    "ContactImport",
    "ContactList",
    "ListMembership",
    "Membership",
    "Sending",
    "SendingEvent",
    "SendingEventKind",
    "SendingStatus",
    "SourceAudience",
    "Subaccount",
    "UserPreference",
    "validate_time_zone",
]


@dataclass(frozen=True)
class Missing:
    """Something a draft lacks before it can be confirmed: the field, what it needs (for a
    sentence "it needs a subject"), and a line saying so (for the wizard's checklist)."""

    field: str
    needs: str
    text: str


class SendingStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("status", "Draft")
    SCHEDULED = "scheduled", pgettext_lazy("status", "Scheduled")
    SENDING = "sending", pgettext_lazy("status", "Sending")
    PAUSED = "paused", pgettext_lazy("status", "Paused")
    SENT = "sent", pgettext_lazy("status", "Sent")
    CANCELED = "canceled", pgettext_lazy("status", "Canceled")


class SourceAudience(models.TextChoices):
    """A follow-up's fixed audience: recipients of its source sending, not lists."""

    NOT_RECEIVED = "not_received", "did not receive it"
    RECEIVED = "received", "received it"


# The recipient statuses (batches.models.RecipientStatus values) each fixed audience takes.
SOURCE_RECIPIENT_STATUSES = {
    SourceAudience.NOT_RECEIVED: ("canceled", "failed"),
    SourceAudience.RECEIVED: ("sent",),
}


class Sending(models.Model):
    Status = SendingStatus
    SourceAudience = SourceAudience

    subaccount = models.ForeignKey(Subaccount, on_delete=models.PROTECT, related_name="sendings")
    identifier = models.CharField(
        max_length=20, unique=True, default=new_sending_identifier, editable=False
    )
    name = models.CharField(max_length=200)
    subject = models.CharField(max_length=255, blank=True)
    from_name = models.CharField(max_length=100, blank=True)
    from_email = models.EmailField(blank=True)
    html_body = models.TextField(blank=True)
    text_body = models.TextField(blank=True)
    lists = models.ManyToManyField(ContactList, blank=True, related_name="sendings")
    # What the wizard's step 6 holds while the sending is a Draft: {"mode": ..., ...}.
    schedule_draft = models.JSONField(default=dict, blank=True)
    # A resend or a correction: its audience is a fixed set of this sending's recipients
    # (SOURCE_RECIPIENT_STATUSES), snapshotted at confirmation instead of the lists.
    source_sending = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="followups"
    )
    # db_default too: bulk loaders that COPY named columns need not know this one.
    source_audience = models.CharField(
        max_length=16, choices=SourceAudience.choices, blank=True, default="", db_default=""
    )

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    # Fixed when the sending is confirmed, so the list page needs no join to show them.
    scheduled_at = models.DateTimeField(null=True, blank=True, help_text="First batch's time.")
    batch_count = models.PositiveSmallIntegerField(default=0)
    total_recipients = models.PositiveIntegerField(default=0)
    # Moved only by services, with F() expressions, in the same transaction as the recipients.
    sent_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    canceled_count = models.PositiveIntegerField(default=0)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The retention policy (RECIPIENT_RETENTION_DAYS) removed the recipient rows: when it
    # began (the pages say so from then on), and whether every row is gone. The counters
    # and batches stay.
    recipients_purged_at = models.DateTimeField(null=True, blank=True)
    recipients_purge_done = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["-scheduled_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=SendingStatus.values), name="sending_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(
                    total_recipients__gte=F("sent_count") + F("failed_count") + F("canceled_count")
                ),
                name="sending_counts_within_total",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(batch_count__gte=1, scheduled_at__isnull=False),
                name="sending_confirmed_has_batches",
            ),
            models.CheckConstraint(
                condition=Q(source_audience="")
                | Q(source_audience__in=SourceAudience.values, source_sending__isnull=False),
                name="sending_source_audience_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["subaccount", "status", "scheduled_at"], name="sending_list_idx"),
            models.Index(fields=["subaccount", "scheduled_at"], name="sending_schedule_idx"),
            # The retention task: finished sendings whose recipients are still kept, oldest
            # first, and the few whose removal is under way.
            models.Index(
                fields=["finished_at"],
                condition=Q(recipients_purged_at__isnull=True, finished_at__isnull=False),
                name="sending_retention_due_idx",
            ),
            models.Index(
                fields=["id"],
                condition=Q(recipients_purged_at__isnull=False, recipients_purge_done=False),
                name="sending_purging_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.identifier})"

    @staticmethod
    def status_for_batches(batch_statuses: list[str]) -> str:
        """The status table (docs/decisions.md), as a pure function of the batches' statuses."""
        from batches.models import BatchStatus

        statuses = set(batch_statuses)
        if not statuses:
            return SendingStatus.DRAFT
        if BatchStatus.SENDING in statuses:
            return SendingStatus.SENDING
        if BatchStatus.PAUSED in statuses:
            return SendingStatus.PAUSED
        if BatchStatus.SCHEDULED in statuses:
            return SendingStatus.SCHEDULED
        if statuses == {BatchStatus.SENT}:
            return SendingStatus.SENT
        return SendingStatus.CANCELED

    def missing_for_confirm(self) -> list[Missing]:
        """What this draft still lacks before it can be confirmed, in the wizard's order.

        Both bodies are needed: every message goes out as HTML with its text alternative.
        One query (its lists) when the content is complete.
        """
        checks = [
            ("name", gettext_lazy("a name"), gettext_lazy("The sending has no name.")),
            ("subject", gettext_lazy("a subject"), gettext_lazy("The subject is missing.")),
            (
                "from_email",
                gettext_lazy("a sender address"),
                gettext_lazy("The sender address is missing."),
            ),
            (
                "html_body",
                gettext_lazy("a message body"),
                gettext_lazy("The message (its HTML) is empty."),
            ),
            (
                "text_body",
                gettext_lazy("a text version"),
                gettext_lazy("The text version is empty."),
            ),
        ]
        missing = [
            Missing(field, needs, text)
            for field, needs, text in checks
            if not getattr(self, field).strip()
        ]
        if self.source_audience:
            return missing  # a fixed audience of recipients, no lists
        if self.pk is None or not self.lists.exists():
            missing.append(
                Missing(
                    "lists",
                    gettext_lazy("a contact list"),
                    gettext_lazy("No contact list is chosen."),
                )
            )
        return missing

    @property
    def pending_count(self) -> int:
        return self.total_recipients - self.sent_count - self.failed_count - self.canceled_count

    @property
    def identifier_html(self) -> SafeString:
        """The identifier for templates: ours (SND- and base32), nothing in it to escape."""
        return mark_safe(self.identifier)

    @property
    def is_in_batches(self) -> bool:
        return self.batch_count > 1

    @property
    def is_finished(self) -> bool:
        return self.status in (SendingStatus.SENT, SendingStatus.CANCELED)

    @property
    def can_cancel(self) -> bool:
        """Scheduled: a marketer cancels every batch that is still scheduled."""
        return self.status == SendingStatus.SCHEDULED

    @property
    def can_request_urgent_cancellation(self) -> bool:
        """In progress: only support can stop it, on request."""
        return self.status == SendingStatus.SENDING

    @property
    def can_stop(self) -> bool:
        """Support may stop anything not finished yet, between batches and paused included."""
        return self.status in (SendingStatus.SCHEDULED, SendingStatus.SENDING, SendingStatus.PAUSED)

    @property
    def is_paused(self) -> bool:
        """The platform paused it (too many failures); support resumes or stops it."""
        return self.status == SendingStatus.PAUSED

    @property
    def can_unschedule(self) -> bool:
        """Scheduled and nothing went out or was canceled yet: back to Draft, to edit."""
        return (
            self.status == SendingStatus.SCHEDULED
            and self.sent_count + self.failed_count + self.canceled_count == 0
        )

    @property
    def can_resend(self) -> bool:
        """Ended without reaching everyone: a resend goes to the canceled and failed ones
        (who they were must still be known: not after the retention policy removed them)."""
        return (
            self.is_finished
            and self.failed_count + self.canceled_count > 0
            and not self.recipients_purged
        )

    @property
    def can_send_correction(self) -> bool:
        """Ended having reached someone: a correction goes to those who received it (while
        the recipient list is kept)."""
        return self.is_finished and self.sent_count > 0 and not self.recipients_purged

    @property
    def recipients_purged(self) -> bool:
        """The retention policy removed (or is removing) the list of who got what."""
        return self.recipients_purged_at is not None

    def purged_refusal(self, *, draft: bool = False) -> str:
        """Why nothing can be built from this sending's recipients any more: they were removed.
        `draft`: said of a resend or correction draft made before the removal."""
        day = self.recipients_purged_at.astimezone(self.subaccount.zone)
        values = {"name": self.name, "day": long_date(day)}
        if draft:
            message = gettext(
                "The recipient list of “%(name)s” was removed on %(day)s under the retention "
                "policy, so this draft has no audience left: nobody knows any more who received "
                "it. Build a new sending from your lists instead."
            )
        else:
            message = gettext(
                "The recipient list of “%(name)s” was removed on %(day)s under the retention "
                "policy, so no resend or correction can be made from it: nobody knows any more "
                "who received it. Build a new sending from your lists instead."
            )
        return message % values

    @property
    def source_recipient_statuses(self) -> tuple[str, ...]:
        """The source's recipient statuses this draft's fixed audience takes (none: lists)."""
        return SOURCE_RECIPIENT_STATUSES.get(self.source_audience, ())

    @property
    def is_small(self) -> bool:
        return self.total_recipients < settings.SMALL_SENDING_MAX_RECIPIENTS


class SendingEventKind(models.TextChoices):
    CONFIRMED = "confirmed", gettext_lazy("Confirmed")
    CANCELED = "canceled", gettext_lazy("Canceled")
    BATCH_CANCELED = "batch_canceled", gettext_lazy("Batch canceled")
    BATCH_STARTED = "batch_started", gettext_lazy("Batch started")
    BATCH_FINISHED = "batch_finished", gettext_lazy("Batch finished")
    BATCH_STOPPED = "batch_stopped", gettext_lazy("Batch stopped")
    BATCH_PAUSED = "batch_paused", gettext_lazy("Batch paused automatically")
    BATCH_RESUMED = "batch_resumed", gettext_lazy("Batch resumed")
    UNSUBSCRIBED = "unsubscribed", gettext_lazy("Contact unsubscribed")
    STOPPED = "stopped", gettext_lazy("Stopped by support")
    URGENT_CANCEL_REQUESTED = (
        "urgent_cancel_requested",
        gettext_lazy("Urgent cancellation requested"),
    )
    URGENT_CANCEL_DECLINED = "urgent_cancel_declined", gettext_lazy("Urgent cancellation declined")
    UNSCHEDULED = "unscheduled", gettext_lazy("Unscheduled")
    RESEND_CREATED = "resend_created", gettext_lazy("Resend created")
    CORRECTION_CREATED = "correction_created", gettext_lazy("Correction created")
    RECIPIENTS_EXPORTED = "recipients_exported", gettext_lazy("Recipients exported")
    RECIPIENTS_PURGED = "recipients_purged", gettext_lazy("Recipient list removed")


class SendingEvent(models.Model):
    """Append-only audit trail: one row per state change or request."""

    Kind = SendingEventKind

    sending = models.ForeignKey(Sending, on_delete=models.CASCADE, related_name="events")
    batch = models.ForeignKey(
        "batches.Batch", null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept even if the user is deleted later; "system" for the dispatcher.
    actor_label = models.CharField(max_length=150)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    message = models.TextField(blank=True)
    total_recipients = models.PositiveIntegerField()
    sent_count = models.PositiveIntegerField()
    failed_count = models.PositiveIntegerField()
    canceled_count = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=SendingEventKind.values), name="sendingevent_kind_valid"
            ),
        ]
        indexes = [models.Index(fields=["sending", "created_at"], name="sendingevent_timeline_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.actor_label}"


# The outbox's model lives in its sub-package; imported here so Django finds it.
from sendings.outbox.models import Notification  # noqa: E402, F401
