import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils.safestring import SafeString, mark_safe

from sendings.identifiers import new_account_identifier, new_sending_identifier


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone, such as Europe/Madrid.")


# --- Tenancy ----------------------------------------------------------------------------------


class Account(models.Model):
    name = models.CharField(max_length=200)
    identifier = models.CharField(
        max_length=20, unique=True, default=new_account_identifier, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Subaccount(models.Model):
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="subaccounts")
    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    send_rate_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Most messages a second for this subaccount's sendings; empty is unlimited.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="subaccount_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.account.name} / {self.name}"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Membership(models.Model):
    class Role(models.TextChoices):
        MARKETER = "marketer", "Marketer"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    subaccount = models.ForeignKey(Subaccount, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MARKETER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "subaccount"], name="membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=["marketer", "viewer"]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.subaccount} ({self.role})"

    @property
    def can_act(self) -> bool:
        return self.role == self.Role.MARKETER


# --- Contacts ---------------------------------------------------------------------------------


class Contact(models.Model):
    subaccount = models.ForeignKey(Subaccount, on_delete=models.CASCADE, related_name="contacts")
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    unsubscribed = models.BooleanField(default=False)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(fields=["subaccount", "email"], name="contact_email_unique"),
            # Emails are stored lower-cased, so uniqueness is case-insensitive.
            models.CheckConstraint(condition=Q(email=Lower("email")), name="contact_email_lower"),
        ]
        indexes = [
            # Who unsubscribed lately: a batch starting leaves them out (batches.services).
            models.Index(
                fields=["subaccount", "unsubscribed_at"],
                condition=Q(unsubscribed=True),
                name="contact_unsubscribed_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.email


class ContactList(models.Model):
    subaccount = models.ForeignKey(
        Subaccount, on_delete=models.CASCADE, related_name="contact_lists"
    )
    name = models.CharField(max_length=200)
    contacts = models.ManyToManyField(Contact, through="ListMembership", related_name="lists")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["subaccount", "name"], name="contactlist_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class ListMembership(models.Model):
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE)
    # The unique constraint below leads with contact, which serves the audience query's
    # "is this contact in any chosen list" probe.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, db_index=False)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "contact_list"], name="listmembership_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.contact_list_id}"


class ContactImport(models.Model):
    """A CSV upload into a list: the file is kept until a worker has read it, progress is polled."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    subaccount = models.ForeignKey(Subaccount, on_delete=models.CASCADE, related_name="imports")
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="imports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    file_name = models.CharField(max_length=255, blank=True)
    # The raw upload; emptied once imported. Kept in the database so any worker host can read it.
    content = models.BinaryField(blank=True, default=b"")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    invalid_count = models.PositiveIntegerField(default=0)
    # [{"line": 12, "reason": "..."}], capped; invalid_count has the full number.
    errors = models.JSONField(default=list, blank=True)
    failure = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "done", "failed"]),
                name="contactimport_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Import of {self.file_name or 'CSV'} into {self.contact_list_id}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def duplicate_count(self) -> int:
        """Rows whose email an earlier row of the file already had (merged into that one)."""
        return max(
            0,
            self.processed_rows - self.created_count - self.updated_count - self.invalid_count,
        )


# --- Sendings ---------------------------------------------------------------------------------


class SendingStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    CANCELED = "canceled", "Canceled"


class Sending(models.Model):
    Status = SendingStatus

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
        ]
        indexes = [
            models.Index(fields=["subaccount", "status", "scheduled_at"], name="sending_list_idx"),
            models.Index(fields=["subaccount", "scheduled_at"], name="sending_schedule_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.identifier})"

    @staticmethod
    def status_for_batches(batch_statuses: list[str]) -> str:
        """The status table in DESIGN.md, as a pure function of the batches' statuses."""
        from batches.models import BatchStatus

        statuses = set(batch_statuses)
        if not statuses:
            return SendingStatus.DRAFT
        if BatchStatus.SENDING in statuses:
            return SendingStatus.SENDING
        if BatchStatus.SCHEDULED in statuses:
            return SendingStatus.SCHEDULED
        if statuses == {BatchStatus.SENT}:
            return SendingStatus.SENT
        return SendingStatus.CANCELED

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
        """Scenario 1: a marketer cancels every batch that is still scheduled."""
        return self.status == SendingStatus.SCHEDULED

    @property
    def can_request_urgent_cancellation(self) -> bool:
        """Scenario 3: in progress, only support can stop it."""
        return self.status == SendingStatus.SENDING

    @property
    def can_stop(self) -> bool:
        """Support may stop anything not finished yet, between batches included."""
        return self.status in (SendingStatus.SCHEDULED, SendingStatus.SENDING)

    @property
    def is_small(self) -> bool:
        return self.total_recipients < settings.SMALL_SENDING_MAX_RECIPIENTS


class SendingEventKind(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed"
    CANCELED = "canceled", "Canceled"
    BATCH_CANCELED = "batch_canceled", "Batch canceled"
    BATCH_STARTED = "batch_started", "Batch started"
    BATCH_FINISHED = "batch_finished", "Batch finished"
    BATCH_STOPPED = "batch_stopped", "Batch stopped"
    STOPPED = "stopped", "Stopped by support"
    URGENT_CANCEL_REQUESTED = "urgent_cancel_requested", "Urgent cancellation requested"
    URGENT_CANCEL_DECLINED = "urgent_cancel_declined", "Urgent cancellation declined"


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
