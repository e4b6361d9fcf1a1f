"""Contacts of a subaccount, its lists, and CSV imports into a list."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import pgettext_lazy

from sendings.tenancy.models import Subaccount


class Contact(models.Model):
    subaccount = models.ForeignKey(Subaccount, on_delete=models.CASCADE, related_name="contacts")
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    unsubscribed = models.BooleanField(default=False)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # A permanent SMTP rejection (5xx for the address): later sendings leave the contact out
    # until a marketer clears it. The server's answer, as it said it.
    bounced_at = models.DateTimeField(null=True, blank=True)
    # A database default too: CSV imports and the load generator insert contacts in raw SQL.
    bounce_reason = models.CharField(max_length=500, blank=True, default="", db_default="")
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

    @property
    def is_bounced(self) -> bool:
        return self.bounced_at is not None


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
        PENDING = "pending", pgettext_lazy("import status", "Waiting")
        RUNNING = "running", pgettext_lazy("import status", "Importing")
        DONE = "done", pgettext_lazy("import status", "Done")
        FAILED = "failed", pgettext_lazy("import status", "Failed")

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
