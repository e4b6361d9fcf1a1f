"""The admin's cancel actions: call a service per object and report each outcome."""

from collections.abc import Callable, Iterable

from django.contrib import admin, messages

from sendings.exceptions import DomainError


def cancel_each_and_report[T](
    model_admin: admin.ModelAdmin,
    request,
    objects: Iterable[T],
    *,
    is_canceled: Callable[[T], bool],
    cancel: Callable[[T], object],
    label: Callable[[T], str],
    identifier: Callable[[T], str],
) -> None:
    """One message for what was canceled, one for what already was, one per refusal."""
    canceled, already, refused = [], [], []
    for obj in objects:
        if is_canceled(obj):
            already.append(label(obj))
            continue
        try:
            cancel(obj)
        except DomainError as exc:
            refused.append(f"Not canceled: {exc.message} ({identifier(obj)})")
        else:
            canceled.append(label(obj))
    if canceled:
        model_admin.message_user(
            request, "Canceled: " + ", ".join(canceled) + ".", messages.SUCCESS
        )
    if already:
        model_admin.message_user(
            request, "Already canceled, nothing to do: " + ", ".join(already) + ".", messages.INFO
        )
    for message in refused:
        model_admin.message_user(request, message, messages.WARNING)
