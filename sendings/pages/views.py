"""The subaccount sending list, its rows and the sending detail page.

Views are thin: fetch through the selectors (which 404 outsiders), check the role, call one
service, then render a partial for htmx or redirect with a message for a plain POST.
"""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET, require_http_methods

from sendings import selectors
from sendings.exceptions import DomainError
from sendings.models import SendingStatus
from sendings.pages import rows
from sendings.pages import selectors as list_selectors
from sendings.pages.forms import SendingListForm
from sendings.pages.shell import (
    LIST_TEMPLATE,
    Outcome,
    list_page_url,
    outcome_redirect,
    render_in_zone,
    require_marketer,
    row_context,
    row_outcome_response,
    safe_next,
    sendings_url,
    shell_context,
)
from sendings.recipients.views import recipients_context, recipients_partial_wanted
from sendings.services import sending_cancel as sending_cancel_service
from sendings.tenancy.selectors import membership_get, subaccounts_for_user
from support.selectors import is_support, ticket_latest

LAST_SUBACCOUNT_KEY = "subaccount_id"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Where the user's work is: support staff on the cancellation requests; anyone else on
    the subaccount they last opened, else their home subaccount (`Membership.is_home`), else
    their first one (by account, then subaccount name), or a friendly page when they belong
    to none."""
    if is_support(request.user):
        return redirect("ticket_queue")
    subaccounts = subaccounts_for_user(user=request.user)
    last = subaccounts.filter(pk=request.session.get(LAST_SUBACCOUNT_KEY)).first()
    chosen = (
        last
        or subaccounts.filter(memberships__user=request.user, memberships__is_home=True).first()
        or subaccounts.order_by("account__name", "name").first()
    )
    if chosen is not None:
        return redirect("sending_list", subaccount_id=chosen.pk)
    return render(request, "sendings/home.html", shell_context(request, None))


def _query(params: dict, **changes) -> str:
    """The list URL's query string for `params` with `changes`, defaults left out."""
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v and v != SendingListForm.DEFAULTS[k]}
    return "?" + urlencode(kept) if kept else "?"


@login_required
@require_GET
def sending_list(request: HttpRequest, subaccount_id: int) -> HttpResponse:
    membership = membership_get(user=request.user, subaccount_id=subaccount_id)
    subaccount = membership.subaccount
    if request.session.get(LAST_SUBACCOUNT_KEY) != subaccount.pk:
        request.session[LAST_SUBACCOUNT_KEY] = subaccount.pk  # home brings them back here
    params = SendingListForm(request.GET).values()
    counts = list_selectors.sending_status_counts(subaccount_id=subaccount.pk)
    page = list_selectors.sending_page(
        subaccount_id=subaccount.pk,
        status=params["status"],
        q=params["q"],
        sort=params["sort"],
        number=params["page"],
        counts=counts,
    )
    base = list_page_url(subaccount.pk)
    unpaged = {**params, "page": 1}
    tabs = [
        {
            "value": "",
            "label": pgettext("sending status filter", "All"),
            "count": sum(counts.values()),
        }
    ] + [
        {"value": value, "label": label, "count": counts[value]}
        for value, label in SendingStatus.choices
    ]
    capped = any(count > list_selectors.COUNT_CAP for count in counts.values())
    for tab in tabs:
        over = tab["count"] > list_selectors.COUNT_CAP or (not tab["value"] and capped)
        tab["count_label"] = f"{list_selectors.COUNT_CAP:,}+" if over else f"{tab['count']:,}"
        tab["url"] = base + _query(unpaged, status=tab["value"])
        tab["current"] = tab["value"] == params["status"]
    other_sort = "scheduled" if params["sort"] == "-scheduled" else "-scheduled"
    context = {
        **shell_context(request, subaccount),
        "can_act": membership.can_act,
        "in_list": True,
        "params": params,
        "default_sort": SendingListForm.DEFAULTS["sort"],
        "status_label": dict(SendingStatus.choices).get(params["status"], ""),
        "tabs": tabs,
        "page": page,
        "list_url": base,
        "sort_url": base + _query(unpaged, sort=other_sort),
        "clear_search_url": base + _query(unpaged, q=""),
        "previous_url": base + _query(params, page=page.number - 1),
        "next_page_url": base + _query(params, page=page.number + 1),
        # Where the rows' forms come back to: this page, rebuilt from the valid parameters.
        "next_url": base + _query(params),
        "sendings_url": sendings_url(),
    }
    template = LIST_TEMPLATE
    if request.htmx and not request.htmx.history_restore_request:
        if request.htmx.target == "results":
            template += "#results"
        elif request.htmx.target == "status-tabs":
            template += "#tabs"
    if not template.endswith("#tabs"):
        with timezone.override(subaccount.zone):
            context["rows"] = rows.rows_render(request=request, sendings=page.rows, context=context)
    return render_in_zone(request, template, context, subaccount)


@login_required
@require_GET
def sending_row(request: HttpRequest, identifier: str) -> HttpResponse:
    """One row of the list, fresh: polled every 2 s while the sending is in progress."""
    sending, membership = selectors.sending_with_role(user=request.user, identifier=identifier)
    context = row_context(request, sending, membership)
    return render_in_zone(request, LIST_TEMPLATE + "#row", context, membership.subaccount)


@login_required
@require_GET
def sending_detail(request: HttpRequest, identifier: str) -> HttpResponse:
    sending, membership = selectors.sending_with_role(user=request.user, identifier=identifier)
    subaccount = membership.subaccount
    template = "sendings/sending_detail.html"
    if recipients_partial_wanted(request):  # a filter, a search or a page of the section
        context = {"sending": sending, **recipients_context(request, sending)}
        return render_in_zone(request, template + "#recipients", context, subaccount)
    context = {
        **shell_context(request, subaccount),
        "sending": sending,
        "can_act": membership.can_act,
        "in_list": False,
        "batches": selectors.sending_batches(sending=sending),
        "events": selectors.sending_timeline(sending=sending),
        "ticket": ticket_latest(sending=sending),
        "lists": list(sending.lists.order_by("name").values_list("name", flat=True)),
        "source": selectors.sending_source(sending=sending),
        "followups": selectors.sending_followups(sending=sending),
        "next_url": request.get_full_path(),
        "sendings_url": sendings_url(),
        **recipients_context(request, sending),
    }
    return render_in_zone(request, template, context, subaccount)


@login_required
@require_http_methods(["GET", "POST"])
def sending_cancel(request: HttpRequest, identifier: str) -> HttpResponse:
    """Cancel a Scheduled sending. GET asks for confirmation: a page without JavaScript, the
    content of the list's confirmation dialog for htmx (fresh, so it can say it is too late).

    htmx gets the fresh row (200, or 409 when refused) with the message beside it; a plain
    POST is redirected back to `next` with the message.
    """
    sending, membership = selectors.sending_with_role(user=request.user, identifier=identifier)
    require_marketer(membership)
    subaccount = membership.subaccount
    back = safe_next(request, list_page_url(subaccount.pk))
    if request.method == "GET":
        context = {
            **shell_context(request, subaccount),
            "sending": sending,
            "in_list": bool(request.htmx),
            "next_url": back,
            "sendings_url": sendings_url(),
        }
        if request.htmx and not request.htmx.history_restore_request:
            template = LIST_TEMPLATE + "#confirm"  # the list's shared confirmation dialog
        else:
            template = "sendings/sending_cancel.html"
        return render_in_zone(request, template, context, subaccount)

    try:
        result = sending_cancel_service(sending=sending, actor=request.user)
    except DomainError as error:
        outcome = Outcome.refusal(error)
    else:
        name = result.obj.name
        outcome = Outcome.success(
            (
                _("“%(name)s” was canceled. Contacts still waiting will not receive it.")
                if result.changed
                else _("“%(name)s” was already canceled.")
            )
            % {"name": name}
        )
    if not request.htmx:
        return outcome_redirect(request, outcome, back)
    return row_outcome_response(request, identifier, membership, outcome)
