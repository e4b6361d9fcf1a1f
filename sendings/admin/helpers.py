"""What every app's admin shares: read-only pages, and running a service per selected object."""

from collections.abc import Callable, Iterable

from django.contrib import admin, messages

from sendings.exceptions import DomainError
from sendings.models import Subaccount
from sendings.results import Changed


class ReadOnlyAdminMixin:
    """Rows the admin may look at but never add, change or delete: only services write them."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class SubaccountListFilter(admin.RelatedFieldListFilter):
    """The stock filter runs one query per subaccount for its account's name."""

    def field_choices(self, field, request, model_admin):
        return [(s.pk, str(s)) for s in Subaccount.objects.select_related("account")]


def each_and_report[T](
    model_admin: admin.ModelAdmin,
    request,
    objects: Iterable[T],
    *,
    verb: str,
    act: Callable[[T], Changed],
    label: Callable[[T], str],
    refused_suffix: Callable[[T], str],
) -> None:
    """Call a service per object; one message for what it changed, one for what already was
    so, one per refusal ("Not canceled: <reason> (<suffix>)")."""
    done, already, refused = [], [], []
    for obj in objects:
        try:
            result = act(obj)
        except DomainError as exc:
            refused.append(f"Not {verb}: {exc.message} ({refused_suffix(obj)})")
            continue
        (done if result.changed else already).append(label(obj))
    if done:
        model_admin.message_user(
            request, f"{verb.capitalize()}: " + ", ".join(done) + ".", messages.SUCCESS
        )
    if already:
        model_admin.message_user(
            request, f"Already {verb}, nothing to do: " + ", ".join(already) + ".", messages.INFO
        )
    for message in refused:
        model_admin.message_user(request, message, messages.WARNING)
