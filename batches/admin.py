"""Admin for batches and recipients: read-only; the only write is the cancel action."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext, gettext_lazy

from batches import services as batch_services
from batches.models import Batch, Recipient, RecipientStatus
from sendings.admin.helpers import CANCELED, ReadOnlyAdminMixin, each_and_report


def _batch_label(batch: Batch) -> str:
    return gettext("Batch %(number)s of “%(name)s” (%(identifier)s)") % {
        "number": batch.number,
        "name": batch.sending.name,
        "identifier": batch.sending.identifier,
    }


BATCH_FIGURES = [
    "sending",
    "number",
    "scheduled_at",
    "status",
    "recipient_count",
    "sent_count",
    "failed_count",
    "canceled_count",
]


@admin.register(Batch)
class BatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        *BATCH_FIGURES,
        "started_at",
        "finished_at",
    ]
    list_filter = ["status"]
    list_select_related = ["sending"]
    search_fields = ["sending__name", "=sending__identifier"]
    ordering = ["-scheduled_at", "-id"]
    fields = [
        *BATCH_FIGURES,
        "recipients",
        "started_at",
        "finished_at",
        "canceled_at",
        "canceled_by",
    ]
    readonly_fields = fields
    actions = ["cancel_selected_batches"]
    show_full_result_count = False
    list_per_page = 50

    def has_cancel_permission(self, request) -> bool:
        # The pages are read-only; canceling goes through the action and its service.
        return request.user.has_perm("batches.change_batch")

    @admin.display(description=gettext_lazy("Recipients"))
    def recipients(self, obj) -> str:
        url = reverse("admin:batches_recipient_changelist")
        return format_html(
            '<a href="{}?batch__id__exact={}">{} recipients</a>',
            url,
            obj.pk,
            f"{obj.recipient_count:,}",
        )

    @admin.action(
        description=gettext_lazy("Cancel this batch"),
        description_plural=gettext_lazy("Cancel selected batches"),
        permissions=["cancel"],
        location=[admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM],
    )
    def cancel_selected_batches(self, request, queryset):
        """Cancel each batch through the service; report, per batch, what happened."""
        each_and_report(
            self,
            request,
            queryset.select_related("sending").order_by("sending_id", "number"),
            verb=CANCELED,
            act=lambda batch: batch_services.batch_cancel(batch=batch, actor=request.user),
            label=_batch_label,
            refused_suffix=lambda batch: batch.sending.identifier,
        )


class CountedStatusFilter(admin.SimpleListFilter):
    """By the status a recipient counts as: a pending one of a canceled batch is canceled."""

    title = gettext_lazy("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return RecipientStatus.choices

    def queryset(self, request, queryset):
        if self.value() in RecipientStatus.values:
            return queryset.counted_as(self.value())
        return queryset


@admin.register(Recipient)
class RecipientAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "email",
        "name",
        "sending_identifier",
        "batch_number",
        "counted_status",
        "attempts",
        "sent_at",
        "short_error",
    ]
    list_filter = [CountedStatusFilter]
    list_select_related = ["sending", "batch"]
    search_fields = ["email", "=sending__identifier"]
    fields = [
        "sending",
        "batch",
        "contact",
        "email",
        "name",
        "counted_status",
        "attempts",
        "claimed_at",
        "sent_at",
        "last_error",
    ]
    readonly_fields = fields
    show_full_result_count = False
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).with_status_shown()

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def counted_status(self, obj) -> str:
        return RecipientStatus(obj.status_shown).label

    @admin.display(description=gettext_lazy("Sending"), ordering="sending__identifier")
    def sending_identifier(self, obj) -> str:
        return obj.sending.identifier

    @admin.display(description=gettext_lazy("Batch"), ordering="batch__number")
    def batch_number(self, obj) -> int:
        return obj.batch.number

    @admin.display(description=gettext_lazy("Last error"))
    def short_error(self, obj) -> str:
        return Truncator(obj.last_error).chars(60)
