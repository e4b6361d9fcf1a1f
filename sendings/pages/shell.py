"""What every signed-in page shares: the shell around it, time zones, where to go back to,
and how an action's outcome is shown (a message, the fresh row, an HTTP status).

Used by the list and detail pages, the batches dialog, the wizard, contacts and support.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django_htmx.http import trigger_client_event

from sendings import selectors
from sendings.exceptions import DomainError
from sendings.models import Membership, Sending, Subaccount
from sendings.tenancy.selectors import subaccounts_for_user

LIST_TEMPLATE = "sendings/sending_list.html"
# The event the list listens to (status tabs refresh their counts) after any action.
SENDING_CHANGED = "sendingChanged"


def shell_context(request: HttpRequest, subaccount: Subaccount | None) -> dict:
    """What base.html needs around a page: the switcher and the account name (the support
    link asks `in_support` itself)."""
    return {
        "subaccount": subaccount,
        "subaccounts": list(
            subaccounts_for_user(user=request.user).order_by("account__name", "name")
        ),
        "nav": "sendings",
    }


def render_page(
    request: HttpRequest, template: str, context: dict, status: int = 200
) -> HttpResponse:
    """Render a page or one of its partials. The same URL answers a fragment to htmx and the
    page otherwise, so the response says it varies on the headers that choose."""
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def render_in_zone(
    request: HttpRequest, template: str, context: dict, subaccount: Subaccount, status: int = 200
) -> HttpResponse:
    """Render with dates shown in the subaccount's time zone (partials included)."""
    with timezone.override(subaccount.zone):
        return render_page(request, template, context, status=status)


# Longer `next` values are not ours (our pages' URLs are short) and would bloat headers.
NEXT_MAX_LENGTH = 2000


def is_site_path(url: str) -> bool:
    """Whether `url` is a path on this site: "/..." with no scheme, host or control character.

    Anything else ("0", "a b", "//evil.example", "https://...") is refused: Django's redirect()
    would try to reverse a bare word as a view name, and a host would leave the site.
    """
    return (
        0 < len(url) <= NEXT_MAX_LENGTH
        and url.startswith("/")
        and not url.startswith(("//", "/\\"))
        and url.isprintable()
        and url_has_allowed_host_and_scheme(url, allowed_hosts=set())
    )


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The page to go back to: `next` from the form or query if it is a path of ours, else
    the fallback (a path we built)."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    return candidate if is_site_path(candidate) else fallback


def redirect_to_path(url: str) -> HttpResponseRedirect:
    """Redirect to a path of ours (from `safe_next` or `reverse`): never reversed as a view
    name, never to another site."""
    if not is_site_path(url):
        raise ValueError(f"not a path of this site: {url!r}")
    return HttpResponseRedirect(url)


def redirect_back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    """Back to `next` when it is a path of ours, else to `fallback`."""
    return redirect_to_path(safe_next(request, fallback))


def sendings_url() -> str:
    """ "/sendings/": the rows build their links from it (reverse() per link is too slow)."""
    return mark_safe(reverse("sending_detail", args=["SND-0"]).removesuffix("SND-0/"))


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

    @classmethod
    def success(cls, text: str) -> "Outcome":
        return cls("success", text, 200)

    @classmethod
    def refusal(cls, error: DomainError) -> "Outcome":
        """The rules refused the action: its reason, and 409 for htmx."""
        return cls("error", error.message, 409)


def outcome_redirect(request: HttpRequest, outcome: Outcome, url: str) -> HttpResponse:
    """Without JavaScript: the message on the next page, then back where the user was."""
    getattr(messages, outcome.level)(request, outcome.text)
    return redirect_to_path(url)


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
        raise PermissionDenied(_("Only marketers of this subaccount can do that."))
