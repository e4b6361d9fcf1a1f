"""What every app's admin shares: read-only pages, and running a service per selected object."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy

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


@dataclass(frozen=True)
class Verb:
    """What an admin action reports, per outcome (%(items)s, %(reason)s and %(object)s)."""

    done: str
    already: str
    refused: str


CANCELED = Verb(
    gettext_lazy("Canceled: %(items)s."),
    gettext_lazy("Already canceled, nothing to do: %(items)s."),
    gettext_lazy("Not canceled: %(reason)s (%(object)s)"),
)
STOPPED = Verb(
    gettext_lazy("Stopped: %(items)s."),
    gettext_lazy("Already stopped, nothing to do: %(items)s."),
    gettext_lazy("Not stopped: %(reason)s (%(object)s)"),
)
RESUMED = Verb(
    gettext_lazy("Resumed: %(items)s."),
    gettext_lazy("Already resumed, nothing to do: %(items)s."),
    gettext_lazy("Not resumed: %(reason)s (%(object)s)"),
)
DECLINED = Verb(
    gettext_lazy("Declined: %(items)s."),
    gettext_lazy("Already declined, nothing to do: %(items)s."),
    gettext_lazy("Not declined: %(reason)s (%(object)s)"),
)


def each_and_report[T](
    model_admin: admin.ModelAdmin,
    request,
    objects: Iterable[T],
    *,
    verb: Verb,
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
            refused.append(verb.refused % {"reason": exc.message, "object": refused_suffix(obj)})
            continue
        (done if result.changed else already).append(label(obj))
    if done:
        model_admin.message_user(request, verb.done % {"items": ", ".join(done)}, messages.SUCCESS)
    if already:
        model_admin.message_user(
            request, verb.already % {"items": ", ".join(already)}, messages.INFO
        )
    for message in refused:
        model_admin.message_user(request, message, messages.WARNING)
