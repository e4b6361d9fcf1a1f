"""Admin for accounts, subaccounts and memberships.

Statuses and counters are read-only everywhere: they move only through the services, and
the cancel action goes through them too, so no admin edit can break an invariant.
"""

from django.contrib import admin

from sendings.models import (
    Account,
    Membership,
    Subaccount,
)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "identifier", "created_at"]
    search_fields = ["name", "identifier"]
    fields = ["name", "identifier", "created_at"]
    readonly_fields = ["identifier", "created_at"]


@admin.register(Subaccount)
class SubaccountAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "time_zone", "created_at"]
    list_select_related = ["account"]
    search_fields = ["name", "account__name", "account__identifier"]
    autocomplete_fields = ["account"]
    readonly_fields = ["created_at"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "subaccount", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["user", "subaccount__account"]
    search_fields = ["user__username", "user__email", "subaccount__name"]
    autocomplete_fields = ["user", "subaccount"]
    readonly_fields = ["created_at"]
