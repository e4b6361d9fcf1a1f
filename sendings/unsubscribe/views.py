"""The one-click unsubscribe page every message links to (RFC 8058).

Public: no login, no session, no CSRF token. The signed token in the URL is the only
credential, and it can only unsubscribe the contact it names. A GET changes nothing (mail
scanners and prefetchers follow links); a POST of `List-Unsubscribe=One-Click`, from a mail
client or from the page's own button, unsubscribes.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sendings.contacts import services as contact_services
from sendings.unsubscribe import selectors
from sendings.unsubscribe.tokens import unsubscribe_token_read

TEMPLATE = "sendings/unsubscribe.html"
ONE_CLICK = "One-Click"


@csrf_exempt  # the token authenticates this request; mail clients POST without cookies
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    read = unsubscribe_token_read(token)
    if read is None:
        return render(request, TEMPLATE, {"state": "invalid"}, status=400)
    contact = selectors.contact_for_token(read)
    context = {
        "contact": contact,
        "masked": selectors.email_masked(contact.email) if contact else "",
    }
    if request.method == "GET":
        state = "ask" if contact and not contact.unsubscribed else "done"
        return render(request, TEMPLATE, {**context, "state": state if contact else "gone"})
    if request.POST.get("List-Unsubscribe") != ONE_CLICK:
        return render(request, TEMPLATE, {**context, "state": "malformed"}, status=400)
    if contact is None:  # deleted since, or a test send to someone outside the subaccount
        return render(request, TEMPLATE, {**context, "state": "gone"})
    contact_services.contact_unsubscribe(contact=contact, how=gettext("with the link in the email"))
    return render(request, TEMPLATE, {**context, "state": "done"})
