"""Tenancy: accounts, their subaccounts and who belongs to which (with what role)."""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import pgettext_lazy

from sendings.identifiers import new_account_identifier


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
        MARKETER = "marketer", pgettext_lazy("role", "Marketer")
        VIEWER = "viewer", pgettext_lazy("role", "Viewer")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    subaccount = models.ForeignKey(Subaccount, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MARKETER)
    # Where the user lands after login when they have not opened a subaccount yet.
    is_home = models.BooleanField(
        default=False,
        db_default=False,
        help_text="The subaccount this user lands on after logging in.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "subaccount"], name="membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=["marketer", "viewer"]), name="membership_role_valid"
            ),
            models.UniqueConstraint(
                fields=["user"], condition=Q(is_home=True), name="membership_one_home"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.subaccount} ({self.role})"

    @property
    def can_act(self) -> bool:
        return self.role == self.Role.MARKETER


class UserPreference(models.Model):
    """What a user chose for themselves: the language of their pages and of the emails they
    receive (empty: none chosen, so the browser's Accept-Language, else LANGUAGE_CODE)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="preference",
    )
    # One of settings.LANGUAGES (checked where it is saved: no choices here, so adding a
    # language needs no migration).
    language = models.CharField(max_length=8, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.language or '-'}"
