"""Admin for urgent-cancel tickets: read-only; the product files them, support handles them."""

from datetime import timedelta

from django.contrib import admin
from django.utils import timezone

from sendings.admin_readonly import ReadOnlyAdminMixin
from support.models import Ticket


class TicketAgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return [
            ("lt1h", "Under 1 hour"),
            ("1h-24h", "1 to 24 hours"),
            ("gt24h", "Over a day"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        hour_ago, day_ago = now - timedelta(hours=1), now - timedelta(days=1)
        match self.value():
            case "lt1h":
                return queryset.filter(created_at__gt=hour_ago)
            case "1h-24h":
                return queryset.filter(created_at__lte=hour_ago, created_at__gt=day_ago)
            case "gt24h":
                return queryset.filter(created_at__lte=day_ago)
        return queryset


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "subject",
        "sending_name",
        "sending_identifier",
        "account_identifier",
        "status",
        "requested_by",
        "created_at",
        "handled_by",
    ]
    list_filter = ["status", TicketAgeFilter]
    list_select_related = ["requested_by", "handled_by"]
    search_fields = ["sending_name", "sending_identifier", "account_identifier"]
    fields = [
        "subject",
        "sending",
        "account_identifier",
        "sending_name",
        "sending_identifier",
        "requested_by",
        "message",
        "created_at",
        "status",
        "handled_by",
        "handled_at",
        "outcome_note",
        "received_at_stop",
    ]
    readonly_fields = fields
    show_full_result_count = False
    list_per_page = 50
