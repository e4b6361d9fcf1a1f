"""Admin for sendings (with their batches inline) and their audit trail.

Statuses and counters are read-only everywhere: they move only through the services, and
the cancel action goes through them too, so no admin edit can break an invariant.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, gettext_lazy

from batches.models import Batch
from sendings import services
from sendings.admin.helpers import (
    CANCELED,
    ReadOnlyAdminMixin,
    SubaccountListFilter,
    each_and_report,
)
from sendings.exceptions import DomainError
from sendings.models import (
    Sending,
    SendingEvent,
    SendingStatus,
)
from sendings.transitions import lists_refuse_foreign
from sendings.wizard import services as draft_services

RECENT_EVENTS = 10


CONTENT_FIELDS = ["name", "subject", "from_name", "from_email", "html_body", "text_body", "lists"]
STATE_FIELDS = [
    "identifier",
    "status",
    "scheduled_at",
    "batch_count",
    "total_recipients",
    "sent_count",
    "failed_count",
    "canceled_count",
]
HISTORY_FIELDS = ["created_by", "created_at", "confirmed_at", "finished_at", "recent_events"]


class SendingAdminForm(forms.ModelForm):
    class Meta:
        model = Sending
        fields = ["subaccount", *CONTENT_FIELDS]

    def clean(self):
        cleaned = super().clean()
        editing_content = any(name in self.fields for name in CONTENT_FIELDS)
        if self.instance.pk is not None and editing_content:
            # The wizard may confirm this draft meanwhile; the admin view's transaction keeps
            # the row locked from here to the save, so the content of a confirmed sending
            # cannot change under its recipients.
            status = (
                Sending.objects.select_for_update()
                .filter(pk=self.instance.pk)
                .values_list("status", flat=True)
                .first()
            )
            if status != SendingStatus.DRAFT:
                raise ValidationError(
                    gettext(
                        "This sending was scheduled meanwhile; its content can no longer change."
                    )
                )
        subaccount = cleaned.get("subaccount")
        subaccount_id = subaccount.pk if subaccount else self.instance.subaccount_id
        if subaccount_id is not None:
            try:
                lists_refuse_foreign(subaccount_id=subaccount_id, lists=cleaned.get("lists") or [])
            except DomainError as error:
                self.add_error("lists", error.message)
        return cleaned


class BatchInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Batch
    fields = [
        "number",
        "scheduled_at",
        "status",
        "recipient_count",
        "sent_count",
        "failed_count",
        "canceled_count",
        "started_at",
        "finished_at",
        "canceled_at",
        "canceled_by",
    ]
    readonly_fields = fields
    ordering = ["number"]
    extra = 0
    can_delete = False
    show_change_link = True


def _sending_label(sending: Sending) -> str:
    return f"{sending.name} ({sending.identifier})"


@admin.register(Sending)
class SendingAdmin(admin.ModelAdmin):
    form = SendingAdminForm
    list_display = ["name", "subaccount", *STATE_FIELDS]
    list_filter = ["status", ("subaccount", SubaccountListFilter)]
    list_select_related = ["subaccount__account"]
    search_fields = ["name", "identifier", "subaccount__account__identifier"]
    autocomplete_fields = ["subaccount", "lists"]
    readonly_fields = [*STATE_FIELDS, *HISTORY_FIELDS]
    inlines = [BatchInline]
    actions = ["cancel_selected_sendings"]
    # The changelist must stay fast on 100,000 sendings: no unfiltered COUNT(*).
    show_full_result_count = False
    list_per_page = 50

    def get_fieldsets(self, request, obj=None):
        content = {"fields": ["subaccount", *CONTENT_FIELDS]}
        if obj is None:
            return [(None, content)]
        return [
            (None, content),
            (gettext_lazy("Status and counts"), {"fields": STATE_FIELDS}),
            (gettext_lazy("History"), {"fields": HISTORY_FIELDS}),
        ]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(self.readonly_fields)
        if obj is None:
            return readonly
        # A sending stays in its subaccount; its content is frozen once it is confirmed.
        readonly.append("subaccount")
        if obj.status != SendingStatus.DRAFT:
            readonly += CONTENT_FIELDS
        return readonly

    def has_delete_permission(self, request, obj=None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or obj.status == SendingStatus.DRAFT)

    def get_actions(self, request, action_location=admin.ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location=action_location)
        # Bulk delete would bypass has_delete_permission(obj); drafts are deleted one by one.
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            obj.save()
            return
        if obj.status != SendingStatus.DRAFT and any(
            name in request.POST for name in CONTENT_FIELDS
        ):
            # Its page was opened while it was still a draft; the edits are dropped, say so.
            self.message_user(
                request,
                gettext("“%(name)s” is no longer a draft, so its content was not changed.")
                % {"name": obj.name},
                messages.WARNING,
            )
        # Only what the form edits, through the wizard's service (row lock, Draft re-checked):
        # a full save() would write back status and counters as they were when the page
        # loaded, over whatever the services wrote since.
        fields = {
            name: getattr(obj, name)
            for name in form.changed_data
            if name in CONTENT_FIELDS and name != "lists"
        }
        if fields:
            draft_services.sending_draft_update(sending=obj, fields=fields)

    def save_related(self, request, form, formsets, change):
        if not change or "lists" not in form.fields:
            super().save_related(request, form, formsets, change)
            return
        # A draft's lists change through the service too, not form.save_m2m().
        if "lists" in form.changed_data:
            draft_services.sending_draft_update(
                sending=form.instance, fields={}, lists=list(form.cleaned_data["lists"])
            )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        # Re-checked under the row lock: the draft may have been confirmed since the page loaded.
        status = Sending.objects.select_for_update().values_list("status", flat=True).get(pk=obj.pk)
        if status != SendingStatus.DRAFT:
            raise PermissionDenied
        obj.delete()

    @admin.display(description=gettext_lazy("Recent events"))
    def recent_events(self, obj) -> str:
        events = obj.events.order_by("-created_at", "-id")[:RECENT_EVENTS]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} sent, {} failed, "
            "{} canceled of {}</td></tr>",
            (
                (
                    timezone.localtime(e.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                    e.get_kind_display(),
                    e.actor_label,
                    e.message,
                    e.sent_count,
                    e.failed_count,
                    e.canceled_count,
                    e.total_recipients,
                )
                for e in events
            ),
        )
        if not rows:
            return gettext("None yet.")
        url = reverse("admin:sendings_sendingevent_changelist")
        return format_html(
            '<table><tbody>{}</tbody></table><p><a href="{}?sending__id__exact={}">'
            "All events of this sending</a></p>",
            rows,
            url,
            obj.pk,
        )

    @admin.action(
        description=gettext_lazy("Cancel this sending"),
        description_plural=gettext_lazy("Cancel selected sendings"),
        permissions=["change"],
        location=[admin.ActionLocation.CHANGE_LIST, admin.ActionLocation.CHANGE_FORM],
    )
    def cancel_selected_sendings(self, request, queryset):
        """Cancel each sending through the service; report, per sending, what happened."""
        each_and_report(
            self,
            request,
            queryset.order_by("pk"),
            verb=CANCELED,
            act=lambda sending: services.sending_cancel(sending=sending, actor=request.user),
            label=_sending_label,
            refused_suffix=lambda sending: sending.identifier,
        )


@admin.register(SendingEvent)
class SendingEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit trail: anyone with view permission reads it; nobody writes it here."""

    list_display = [
        "created_at",
        "sending",
        "batch_number",
        "kind",
        "actor_label",
        "total_recipients",
        "sent_count",
        "failed_count",
        "canceled_count",
    ]
    list_filter = ["kind"]
    list_select_related = ["sending", "batch"]
    search_fields = ["sending__name", "=sending__identifier", "actor_label"]
    show_full_result_count = False
    list_per_page = 50

    @admin.display(description=gettext_lazy("Batch"), ordering="batch__number")
    def batch_number(self, obj):
        return obj.batch.number if obj.batch_id else None
