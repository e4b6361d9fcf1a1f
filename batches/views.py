"""The batches of a sending: the eye button's dialog (or page) and canceling one batch."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from batches.services import batch_cancel as batch_cancel_service
from sendings import selectors
from sendings.exceptions import DomainError
from sendings.formatting import thousands
from sendings.pages.shell import (
    SENDING_CHANGED,
    Outcome,
    list_page_url,
    outcome_redirect,
    render_in_zone,
    require_marketer,
    return_url,
    safe_next,
    sendings_url,
    shell_context,
)

TEMPLATE = "batches/batch_list.html"


def _context(request: HttpRequest, sending, membership, *, in_dialog: bool) -> dict:
    return {
        **shell_context(request, membership.subaccount),
        "sending": sending,
        "batches": selectors.sending_batches(sending=sending),
        "can_act": membership.can_act,
        "in_dialog": in_dialog,
        "list_url": return_url(request, sending),
        "next_url": request.get_full_path(),
    }


@login_required
@require_GET
def sending_batches(request: HttpRequest, identifier: str) -> HttpResponse:
    """Every batch of the sending: dialog content for htmx, a full page without JavaScript."""
    sending, membership = selectors.sending_with_role(user=request.user, identifier=identifier)
    in_dialog = bool(request.htmx) and not request.htmx.history_restore_request
    context = _context(request, sending, membership, in_dialog=in_dialog)
    template = TEMPLATE + "#batches" if in_dialog else TEMPLATE
    return render_in_zone(request, template, context, membership.subaccount)


@login_required
@require_POST
def batch_cancel(request: HttpRequest, identifier: str, number: int) -> HttpResponse:
    """Cancel one scheduled batch.

    htmx gets the dialog's batches, fresh, with the message (200, or 409 when refused) and the
    list row out of band; a plain POST is redirected back to `next` with the message.
    """
    sending, membership = selectors.sending_with_role(user=request.user, identifier=identifier)
    require_marketer(membership)
    batch = selectors.batch_get(sending=sending, number=number)
    try:
        result = batch_cancel_service(batch=batch, actor=request.user)
    except DomainError as error:
        outcome = Outcome.refusal(error)
    else:
        outcome = Outcome.success(
            (
                ngettext(
                    "Batch %(number)s was canceled; its %(count)s contact will not receive the "
                    "sending.",
                    "Batch %(number)s was canceled; its %(count)s contacts will not receive the "
                    "sending.",
                    result.obj.canceled_count,
                )
                if result.changed
                else _("Batch %(number)s was already canceled.")
            )
            % {"number": number, "count": thousands(result.obj.canceled_count)}
        )
    if not request.htmx:
        back = safe_next(request, reverse("sending_batches", args=[identifier]))
        return outcome_redirect(request, outcome, back)
    sending = selectors.sending_get(user=request.user, identifier=identifier)
    context = {
        **_context(request, sending, membership, in_dialog=True),
        "notice": outcome.notice,
        # The list row beside the dialog, swapped out of band.
        "in_list": True,
        "row_next_url": return_url(request, sending),
        "sendings_url": sendings_url(),
        "next_url": safe_next(request, list_page_url(sending.subaccount_id)),
    }
    response = render_in_zone(
        request,
        TEMPLATE + "#cancel_response",
        context,
        membership.subaccount,
        status=outcome.status,
    )
    return trigger_client_event(response, SENDING_CHANGED, {"identifier": sending.identifier})
