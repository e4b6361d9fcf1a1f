"""Admin for urgent-cancel tickets: read-only pages; Stop and Decline go through the services."""

from datetime import timedelta

from django.contrib import admin
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from sendings.admin.helpers import (
    DECLINED,
    RESUMED,
    STOPPED,
    ReadOnlyAdminMixin,
    Verb,
    each_and_report,
)
from support import selectors, services
from support.forms import DECLINE_REASONS, DeclineForm
from support.models import Ticket


class TicketAgeFilter(admin.SimpleListFilter):
    title = gettext_lazy("age")
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return [
            ("lt1h", gettext_lazy("Under 1 hour")),
            ("1h-24h", gettext_lazy("1 to 24 hours")),
            ("gt24h", gettext_lazy("Over a day")),
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
        "kind",
        "sending_name",
        "sending_identifier",
        "account_identifier",
        "status",
        "requested_by",
        "created_at",
        "handled_by",
    ]
    list_filter = ["status", "kind", TicketAgeFilter]
    list_select_related = ["requested_by", "handled_by"]
    search_fields = ["sending_name", "sending_identifier", "account_identifier"]
    fields = [
        "subject",
        "kind",
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
    actions = ["stop_selected", "resume_selected", "decline_selected"]

    def has_handle_permission(self, request) -> bool:
        """Support staff handle tickets; so may superusers (admins) from here."""
        return request.user.is_superuser or selectors.is_support(request.user)

    def _each(self, request, queryset, verb: Verb, act) -> None:
        each_and_report(
            self,
            request,
            queryset.order_by("created_at", "id"),
            verb=verb,
            act=act,
            label=lambda ticket: f"#{ticket.pk} {ticket.sending_name}",
            refused_suffix=lambda ticket: gettext("ticket #%(ticket)s") % {"ticket": ticket.pk},
        )

    @admin.action(
        description=gettext_lazy("Stop the sending of this ticket"),
        description_plural=gettext_lazy("Stop the sendings of selected tickets"),
        permissions=["handle"],
        location=[admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM],
    )
    def stop_selected(self, request, queryset):
        self._each(
            request,
            queryset,
            STOPPED,
            lambda ticket: services.ticket_stop_sending(ticket=ticket, actor=request.user),
        )

    @admin.action(
        description=gettext_lazy("Resume the paused sending of this ticket"),
        description_plural=gettext_lazy("Resume the paused sendings of selected tickets"),
        permissions=["handle"],
        location=[admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM],
    )
    def resume_selected(self, request, queryset):
        self._each(
            request,
            queryset,
            RESUMED,
            lambda ticket: services.ticket_resume_sending(ticket=ticket, actor=request.user),
        )

    @admin.action(
        description=gettext_lazy("Decline this ticket"),
        description_plural=gettext_lazy("Decline selected tickets"),
        permissions=["handle"],
        location=[admin.ActionLocation.CHANGE_LIST],  # its reason page posts to the list
    )
    def decline_selected(self, request, queryset):
        """Asks for the reason first (an intermediate page, like the admin's delete)."""
        form = DeclineForm(request.POST if "reason" in request.POST else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            self._each(
                request,
                queryset,
                DECLINED,
                lambda ticket: services.ticket_decline(
                    ticket=ticket, actor=request.user, reason=reason
                ),
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Decline urgent cancellation requests"),
            "opts": self.model._meta,
            "tickets": queryset,
            "form": form,
            "decline_reasons": DECLINE_REASONS,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": "decline_selected",
        }
        return TemplateResponse(request, "admin/support/ticket/decline.html", context)
