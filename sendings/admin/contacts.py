"""Admin for contacts, lists and list memberships.

Statuses and counters are read-only everywhere: they move only through the services, and
the cancel action goes through them too, so no admin edit can break an invariant.
"""

from django import forms
from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy

from sendings.admin.helpers import SubaccountListFilter
from sendings.contacts import services as contact_services
from sendings.models import (
    Contact,
    ContactList,
    ListMembership,
)


class ContactAdminForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ["subaccount", "email", "name", "unsubscribed"]

    def clean_email(self) -> str:
        # Stored lower-cased (a CheckConstraint insists), so uniqueness ignores case.
        return self.cleaned_data["email"].strip().lower()


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    form = ContactAdminForm
    list_display = ["email", "name", "subaccount", "unsubscribed", "bounced_at"]
    list_filter = ["unsubscribed", "bounced_at", ("subaccount", SubaccountListFilter)]
    list_select_related = ["subaccount__account"]
    search_fields = ["email", "name"]
    autocomplete_fields = ["subaccount"]
    fields = [
        "subaccount",
        "email",
        "name",
        "unsubscribed",
        "unsubscribed_at",
        "bounced_at",
        "bounce_reason",
        "created_at",
    ]
    readonly_fields = ["unsubscribed_at", "bounced_at", "bounce_reason", "created_at"]
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        if "unsubscribed" in form.changed_data:
            obj.unsubscribed_at = timezone.now() if obj.unsubscribed else None
        super().save_model(request, obj, form, change)
        if obj.unsubscribed and "unsubscribed" in form.changed_data:
            # Takes effect at once, as everywhere: waiting messages to them are canceled.
            contact_services.contact_unsubscribe(
                contact=obj, actor=request.user, how=gettext("(in the admin)")
            )


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    list_display = ["name", "subaccount", "member_count", "created_at"]
    list_filter = [("subaccount", SubaccountListFilter)]
    list_select_related = ["subaccount__account"]
    search_fields = ["name", "subaccount__name"]
    autocomplete_fields = ["subaccount"]
    fields = ["subaccount", "name", "member_count", "created_at"]
    readonly_fields = ["member_count", "created_at"]

    def get_queryset(self, request):
        # A correlated subquery, not a GROUP BY: PostgreSQL counts only the rows on the page.
        members = (
            ListMembership.objects.filter(contact_list=OuterRef("pk"))
            .order_by()
            .values("contact_list")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return super().get_queryset(request).annotate(_member_count=Coalesce(Subquery(members), 0))

    @admin.display(description=gettext_lazy("Members"), ordering="_member_count")
    def member_count(self, obj) -> str:
        count = getattr(obj, "_member_count", None)
        if count is None:
            count = obj.listmembership_set.count()
        url = reverse("admin:sendings_listmembership_changelist")
        return format_html(
            '<a href="{}?contact_list__id__exact={}">{}</a>', url, obj.pk, f"{count:,}"
        )


@admin.register(ListMembership)
class ListMembershipAdmin(admin.ModelAdmin):
    """Who is on which list; reached from a list's member count (lists can be huge)."""

    list_display = ["contact", "contact_list", "added_at"]
    list_select_related = ["contact", "contact_list"]
    search_fields = ["contact__email", "contact_list__name"]
    raw_id_fields = ["contact", "contact_list"]
    readonly_fields = ["added_at"]
    show_full_result_count = False
