"""After a sending: "Resend to those who did not receive it", "Send a correction to those who
received it" and "Unschedule and edit". Each opens the wizard on a Draft.

GET asks first (the row menu and the detail page without JavaScript); POST acts: a plain
POST redirects, htmx (the row menu, whose cached rows carry no CSRF token in their forms)
gets HX-Redirect. Marketers only: viewers 403, outsiders 404.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from sendings import followups, selectors
from sendings.exceptions import DomainError
from sendings.formatting import thousands
from sendings.models import Sending
from sendings.pages.shell import render_in_zone, require_marketer, shell_context
from sendings.results import Changed

TEMPLATE = "sendings/followup_confirm.html"


@dataclass(frozen=True)
class Followup:
    url_name: str
    title: str  # the confirmation's heading and the button's name
    allowed: str  # the Sending property that says whether it is offered
    explain: str
    service: Callable[..., Changed[Sending]]


RESEND = Followup(
    "sending_resend",
    gettext_lazy("Resend to those who did not receive it"),
    "can_resend",
    gettext_lazy(
        "A new draft “%(name)s (resend)” gets the same content. Its audience is fixed: the "
        "%(count)s contacts whose message was canceled or failed, minus anyone who "
        "unsubscribes before you confirm it. Nobody who received it gets it twice."
    ),
    followups.sending_resend_create,
)
CORRECTION = Followup(
    "sending_correction",
    gettext_lazy("Send a correction to those who received it"),
    "can_send_correction",
    gettext_lazy(
        "A new draft “Correction: %(name)s” goes to exactly the %(count)s contacts who "
        "received it (minus anyone who unsubscribes before you confirm it). Write the subject "
        "and the message in the wizard."
    ),
    followups.sending_correction_create,
)
UNSCHEDULE = Followup(
    "sending_unschedule",
    gettext_lazy("Unschedule and edit"),
    "can_unschedule",
    gettext_lazy(
        "“%(name)s” goes back to Draft: nobody receives it until you confirm it again. Its "
        "schedule is kept in the wizard; its contacts are counted again when you confirm."
    ),
    followups.sending_unschedule,
)


def _count(followup: Followup, sending: Sending) -> int:
    if followup is RESEND:
        return sending.failed_count + sending.canceled_count
    if followup is CORRECTION:
        return sending.sent_count
    return sending.total_recipients


def _view(followup: Followup):
    @login_required
    @require_http_methods(["GET", "POST"])
    def view(request: HttpRequest, identifier: str) -> HttpResponse:
        sending, membership = selectors.sending_with_role(user=request.user, identifier=identifier)
        require_marketer(membership)
        detail = reverse("sending_detail", args=[sending.identifier])
        if request.method == "GET":
            context = {
                **shell_context(request, membership.subaccount),
                "sending": sending,
                "followup": followup,
                "allowed": getattr(sending, followup.allowed),
                "refusal": (
                    sending.purged_refusal()
                    if sending.recipients_purged and followup is not UNSCHEDULE
                    else ""
                ),
                "explain": followup.explain
                % {"name": sending.name, "count": thousands(_count(followup, sending))},
                "action": reverse(followup.url_name, args=[sending.identifier]),
                "back_url": detail,
            }
            return render_in_zone(request, TEMPLATE, context, membership.subaccount)
        try:
            result = followup.service(sending=sending, actor=request.user)
        except DomainError as error:
            messages.error(request, error.message)
            url = detail
        else:
            draft = result.obj
            if followup is UNSCHEDULE:
                text = _("“%(name)s” is a draft again: edit it, then confirm it.")
            elif result.changed:
                count = _count(followup, sending)
                text = ngettext(
                    "“%(name)s” is a new draft for %(count)s contact.",
                    "“%(name)s” is a new draft for %(count)s contacts.",
                    count,
                )
            else:
                text = _("“%(name)s” was already a draft: here it is.")
            text %= {"name": draft.name, "count": thousands(_count(followup, sending))}
            messages.success(request, text)
            url = reverse("wizard_details", args=[draft.identifier])
        if request.htmx:
            return HttpResponseClientRedirect(url)
        return redirect(url)

    view.__name__ = view.__qualname__ = followup.url_name
    return view


sending_resend = _view(RESEND)
sending_correction = _view(CORRECTION)
sending_unschedule = _view(UNSCHEDULE)
