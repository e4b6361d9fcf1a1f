"""Urgent cancellation: the marketer's request, and support's queue and ticket page.

Thin, like every view here: fetch through a selector (404 for outsiders, 403 outside the
support group), validate with a form, call one service, then render a
partial for htmx or redirect with a message.
"""

from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sendings import selectors as sending_selectors
from sendings.exceptions import DomainError
from sendings.pages.shell import (
    Outcome,
    list_page_url,
    outcome_redirect,
    render_in_zone,
    render_page,
    require_marketer,
    row_outcome_response,
    safe_next,
    sendings_url,
    shell_context,
)
from support import selectors, services
from support.forms import DECLINE_REASONS, DeclineForm, TicketRequestForm
from support.models import Ticket

REQUEST_TEMPLATE = "support/ticket_request.html"
QUEUE_TEMPLATE = "support/ticket_queue.html"
TICKET_TEMPLATE = "support/ticket_detail.html"


# --- The marketer's request ---------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def ticket_request(request: HttpRequest, identifier: str) -> HttpResponse:
    """Ask support to stop a sending in progress. GET: the dialog's content (htmx) or a page.

    POST files the ticket: htmx gets the fresh row (200, or 409 when refused) with the
    message beside it; a plain POST is redirected back to `next` with the message.
    """
    sending, membership = sending_selectors.sending_with_role(
        user=request.user, identifier=identifier
    )
    require_marketer(membership)
    subaccount = membership.subaccount
    back = safe_next(request, list_page_url(subaccount.pk))
    form = TicketRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "GET" or not form.is_valid():
        context = {
            **shell_context(request, subaccount),
            "sending": sending,
            "open_ticket": sending.tickets.filter(status=Ticket.Status.OPEN)
            .select_related("requested_by")
            .first(),
            "in_list": bool(request.htmx),
            "in_page": not request.htmx,
            "next_url": back,
            "sendings_url": sendings_url(),
            "small_max": settings.SMALL_SENDING_MAX_RECIPIENTS,
            "message_max": TicketRequestForm.MESSAGE_MAX,
            "message": form.data.get("message", ""),
            "message_error": " ".join(form.errors.get("message", [])),
        }
        template = REQUEST_TEMPLATE + "#request" if request.htmx else REQUEST_TEMPLATE
        status = 400 if form.is_bound else 200
        return render_in_zone(request, template, context, subaccount, status=status)

    try:
        _ticket, created = services.ticket_file(
            sending=sending, requester=request.user, message=form.cleaned_data["message"]
        )
    except DomainError as error:
        outcome = Outcome.refusal(error)
    else:
        outcome = Outcome.success(
            (
                _(
                    "Support has your urgent request to stop “%(name)s”. You will be emailed "
                    "the outcome."
                )
                if created
                else _("Support already has a request to stop “%(name)s”; no new one was sent.")
            )
            % {"name": sending.name}
        )
    if not request.htmx:
        return outcome_redirect(request, outcome, back)
    return row_outcome_response(request, identifier, membership, outcome)


# --- Support --------------------------------------------------------------------------------


def support_required(view):
    """Support pages: log in first; then 403 for everyone outside the support group."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not selectors.is_support(request.user):
            raise PermissionDenied(_("Only support staff can see cancellation requests."))
        return view(request, *args, **kwargs)

    return wrapper


def _support_context(request: HttpRequest) -> dict:
    return {**shell_context(request, None), "nav": "support"}


@support_required
@require_GET
def ticket_queue(request: HttpRequest) -> HttpResponse:
    """Open requests, oldest first, with live progress; polled every 2 s while any is open."""
    context = {
        **_support_context(request),
        "entries": selectors.ticket_queue(),
        "recent": selectors.tickets_recent(),
    }
    template = QUEUE_TEMPLATE + "#queue" if request.htmx else QUEUE_TEMPLATE
    return render_page(request, template, context)


def _ticket_context(request: HttpRequest, ticket: Ticket, **extra) -> dict:
    return {
        **_support_context(request),
        "ticket": ticket,
        "progress": selectors.ticket_progress(ticket=ticket),
        "decline_form": DeclineForm(),
        "decline_reasons": DECLINE_REASONS,
        **extra,
    }


@support_required
@require_GET
def ticket_detail(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = selectors.ticket_get(ticket_id=ticket_id)
    template = TICKET_TEMPLATE + "#progress" if request.htmx else TICKET_TEMPLATE
    return render_page(request, template, _ticket_context(request, ticket))


@support_required
@require_POST
def ticket_stop(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = selectors.ticket_get(ticket_id=ticket_id)
    try:
        stopped = services.ticket_stop_sending(ticket=ticket, actor=request.user).obj
    except DomainError as error:
        outcome = Outcome.refusal(error)
    else:
        outcome = Outcome.success(
            _(
                "“%(name)s” is stopped: %(received)s. The requester will be emailed the final "
                "number."
            )
            % {"name": stopped.sending_name, "received": stopped.received_phrase}
        )
    return outcome_redirect(request, outcome, reverse("ticket_detail", args=[ticket.pk]))


@support_required
@require_POST
def ticket_resume(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = selectors.ticket_get(ticket_id=ticket_id)
    try:
        result = services.ticket_resume_sending(ticket=ticket, actor=request.user)
    except DomainError as error:
        outcome = Outcome.refusal(error)
    else:
        outcome = Outcome.success(
            (
                _("“%(name)s” is being sent again; failures are measured afresh.")
                if result.changed
                else _("“%(name)s” was already resumed.")
            )
            % {"name": ticket.sending_name}
        )
    return outcome_redirect(request, outcome, reverse("ticket_detail", args=[ticket.pk]))


@support_required
@require_POST
def ticket_decline(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = selectors.ticket_get(ticket_id=ticket_id)
    form = DeclineForm(request.POST)
    if not form.is_valid():
        context = _ticket_context(request, ticket, decline_form=form)
        return render_page(request, TICKET_TEMPLATE, context, status=400)
    try:
        declined = services.ticket_decline(
            ticket=ticket, actor=request.user, reason=form.cleaned_data["reason"]
        ).obj
    except DomainError as error:
        outcome = Outcome.refusal(error)
    else:
        outcome = Outcome.success(
            _("The request for “%(name)s” was declined.") % {"name": declined.sending_name}
        )
    return outcome_redirect(request, outcome, reverse("ticket_detail", args=[ticket.pk]))
