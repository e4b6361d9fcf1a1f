"""The subaccount sending list, its rows and the sending detail page.

Views are thin: fetch through the selectors (which 404 outsiders), check the role, call one
service through its module (so wrappers such as the tests' invariant checks apply), then
render a partial for htmx or redirect with a message for a plain POST.
"""

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import trigger_client_event

from sendings import rows, selectors
from sendings import services as sending_services
from sendings.exceptions import DomainError
from sendings.forms import SendingListForm
from sendings.models import Membership, Sending, SendingStatus, Subaccount
from support.selectors import is_support, ticket_latest

LIST_TEMPLATE = "sendings/sending_list.html"
LAST_SUBACCOUNT_KEY = "subaccount_id"
# The event the list listens to (status tabs refresh their counts) after any action.
SENDING_CHANGED = "sendingChanged"


# --- Helpers shared with batches.views ---------------------------------------------------------


def shell_context(request: HttpRequest, subaccount: Subaccount | None) -> dict:
    """What base.html needs around a page: the switcher, the account name, the support link."""
    return {
        "subaccount": subaccount,
        "subaccounts": list(
            selectors.subaccounts_for_user(user=request.user).order_by("account__name", "name")
        ),
        "nav": "sendings",
        "is_support": is_support(request.user),
    }


def render_in_zone(
    request: HttpRequest, template: str, context: dict, subaccount: Subaccount, status: int = 200
) -> HttpResponse:
    """Render with dates shown in the subaccount's time zone (partials included)."""
    with timezone.override(subaccount.zone):
        response = render(request, template, context, status=status)
    # The same URL answers a fragment to htmx and a page otherwise: caches must tell them apart.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The page to go back to: `next` from the form if it is ours, else the fallback."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def sendings_url() -> str:
    """ "/sendings/": the rows build their links from it (reverse() per link is too slow)."""
    return mark_safe(reverse("sending_detail", args=["-"]).removesuffix("-/"))


def list_page_url(subaccount_id: int) -> str:
    return reverse("sending_list", args=[subaccount_id])


def return_url(request: HttpRequest, sending: Sending) -> str:
    """Where a row's forms send the user back without JavaScript: the list page they are on
    (htmx tells us with HX-Current-URL when it refreshes a row), else the first list page."""
    fallback = list_page_url(sending.subaccount_id)
    current = request.htmx.current_url_abs_path if request.htmx else None
    if current and current.startswith(fallback):
        return current
    return fallback


def row_context(request: HttpRequest, sending: Sending, membership: Membership) -> dict:
    return {
        "sending": sending,
        "can_act": membership.can_act,
        "in_list": True,
        "next_url": return_url(request, sending),
        "sendings_url": sendings_url(),
    }


@dataclass(frozen=True)
class Outcome:
    """How an action went, for a message and an HTTP status."""

    level: str  # a django.contrib.messages level name: "success" or "error"
    text: str
    status: int  # 200, or 409 when the rules refused the action

    @property
    def notice(self) -> dict:
        return {"level": self.level, "text": self.text}


def outcome_of[T](action: Callable[[], T], *, done: Callable[[T], str]) -> Outcome:
    """Call one service: its result described by `done`, or a refusal's reason with 409."""
    try:
        result = action()
    except DomainError as error:
        return Outcome("error", error.message, 409)
    return Outcome("success", done(result), 200)


def outcome_redirect(request: HttpRequest, outcome: Outcome, url: str) -> HttpResponse:
    """Without JavaScript: the message on the next page, then back where the user was."""
    getattr(messages, outcome.level)(request, outcome.text)
    return redirect(url)


def row_outcome_response(
    request: HttpRequest, identifier: str, membership: Membership, outcome: Outcome
) -> HttpResponse:
    """For htmx: the row, fresh, with the outcome's message beside it (200, or 409 when the
    rules refused the action); the status tabs refresh their counts on the event."""
    sending = selectors.sending_get(user=request.user, identifier=identifier)
    context = {**row_context(request, sending, membership), "notice": outcome.notice}
    response = render_in_zone(
        request,
        LIST_TEMPLATE + "#row_response",
        context,
        membership.subaccount,
        status=outcome.status,
    )
    return trigger_client_event(response, SENDING_CHANGED, {"identifier": sending.identifier})


def require_marketer(membership: Membership) -> None:
    """Viewers may look, not act: their POSTs are refused whatever the template showed."""
    if not membership.can_act:
        raise PermissionDenied("Only marketers of this subaccount can do that.")


# --- Pages --------------------------------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The subaccount the user last opened, else their first one (by account, then subaccount
    name), or a friendly page when they belong to none."""
    subaccounts = selectors.subaccounts_for_user(user=request.user)
    last = subaccounts.filter(pk=request.session.get(LAST_SUBACCOUNT_KEY)).first()
    chosen = last or subaccounts.order_by("account__name", "name").first()
    if chosen is not None:
        return redirect("sending_list", subaccount_id=chosen.pk)
    return render(request, "sendings/home.html")


def _query(params: dict, **changes) -> str:
    """The list URL's query string for `params` with `changes`, defaults left out."""
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v and v != SendingListForm.DEFAULTS[k]}
    return "?" + urlencode(kept) if kept else "?"


@login_required
@require_GET
def sending_list(request: HttpRequest, subaccount_id: int) -> HttpResponse:
    membership = selectors.membership_get(user=request.user, subaccount_id=subaccount_id)
    subaccount = membership.subaccount
    if request.session.get(LAST_SUBACCOUNT_KEY) != subaccount.pk:
        request.session[LAST_SUBACCOUNT_KEY] = subaccount.pk  # home brings them back here
    params = SendingListForm(request.GET).values()
    counts = selectors.sending_status_counts(subaccount_id=subaccount.pk)
    page = selectors.sending_page(
        subaccount_id=subaccount.pk,
        status=params["status"],
        q=params["q"],
        sort=params["sort"],
        number=params["page"],
        counts=counts,
    )
    base = list_page_url(subaccount.pk)
    unpaged = {**params, "page": 1}
    tabs = [{"value": "", "label": "All", "count": sum(counts.values())}] + [
        {"value": value, "label": label, "count": counts[value]}
        for value, label in SendingStatus.choices
    ]
    capped = any(count > selectors.COUNT_CAP for count in counts.values())
    for tab in tabs:
        over = tab["count"] > selectors.COUNT_CAP or (not tab["value"] and capped)
        tab["count_label"] = f"{selectors.COUNT_CAP:,}+" if over else f"{tab['count']:,}"
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
        "next_url": request.get_full_path(),
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
    context = {
        **shell_context(request, subaccount),
        "sending": sending,
        "can_act": membership.can_act,
        "in_list": False,
        "batches": selectors.sending_batches(sending=sending),
        "events": selectors.sending_timeline(sending=sending),
        "ticket": ticket_latest(sending=sending),
        "lists": list(sending.lists.order_by("name").values_list("name", flat=True)),
        "next_url": request.get_full_path(),
        "sendings_url": sendings_url(),
    }
    return render_in_zone(request, "sendings/sending_detail.html", context, subaccount)


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

    already = sending.status == SendingStatus.CANCELED
    outcome = outcome_of(
        lambda: sending_services.sending_cancel(sending=sending, actor=request.user),
        done=lambda done: (
            f"“{done.name}” was already canceled."
            if already
            else f"“{done.name}” was canceled. Contacts still waiting will not receive it."
        ),
    )
    if not request.htmx:
        return outcome_redirect(request, outcome, back)
    return row_outcome_response(request, identifier, membership, outcome)
