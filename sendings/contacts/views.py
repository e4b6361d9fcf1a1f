"""Contact lists, contacts and CSV imports of a subaccount.

Thin like sendings.views: the selectors fetch or 404 outsiders, `require_marketer` refuses a
viewer's POST, one service acts, then a redirect with a message (plain POST) or a partial (htmx).
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sendings.contacts import selectors
from sendings.contacts import services as contact_services
from sendings.contacts.forms import ContactImportForm, ContactListForm, ContactSearchForm
from sendings.exceptions import DomainError
from sendings.models import Subaccount
from sendings.pages.shell import (
    redirect_back,
    render_in_zone,
    require_marketer,
    safe_next,
    shell_context,
)
from sendings.tenancy.selectors import membership_get

LISTS_TEMPLATE = "sendings/contacts/list_index.html"
LIST_TEMPLATE = "sendings/contacts/list_detail.html"
CONTACTS_TEMPLATE = "sendings/contacts/contact_index.html"
RENAME_TEMPLATE = "sendings/contacts/list_rename.html"
UPLOAD_TEMPLATE = "sendings/contacts/import_upload.html"
IMPORT_TEMPLATE = "sendings/contacts/import_detail.html"


def _shell(request: HttpRequest, subaccount: Subaccount) -> dict:
    return {**shell_context(request, subaccount), "nav": "contacts"}


def _contacts_page(
    request: HttpRequest, *, base_url: str, subaccount: Subaccount, contact_list=None
) -> dict:
    """One page of 50 contacts matching the search, and the search itself."""
    params = ContactSearchForm(request.GET).values()
    contacts = selectors.contacts_search(
        subaccount_id=subaccount.pk, contact_list=contact_list, q=params["q"]
    )
    page = Paginator(contacts, selectors.CONTACTS_PAGE_SIZE).get_page(params["page"])

    def page_url(number: int) -> str:
        query = {"q": params["q"], "page": number if number > 1 else ""}
        return base_url + "?" + urlencode({k: v for k, v in query.items() if v})

    return {
        "params": params,
        "page": page,
        "contacts": list(page.object_list),
        "search_url": base_url,
        "previous_url": page_url(page.number - 1) if page.has_previous() else "",
        "next_page_url": page_url(page.number + 1) if page.has_next() else "",
    }


def _render_contacts(
    request: HttpRequest, template: str, context: dict, subaccount
) -> HttpResponse:
    """The results partial for an htmx search or page change, else the whole page."""
    if request.htmx and request.htmx.target == "contacts-results":
        template = f"{CONTACTS_TEMPLATE}#results"  # the list page includes the same partial
    return render_in_zone(request, template, context, subaccount)


# --- Lists ---------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def contact_lists(request: HttpRequest, subaccount_id: int) -> HttpResponse:
    """The subaccount's lists with their counts; a marketer creates a list here."""
    membership = membership_get(user=request.user, subaccount_id=subaccount_id)
    subaccount = membership.subaccount
    form = ContactListForm()
    if request.method == "POST":
        require_marketer(membership)
        form = ContactListForm(request.POST)
        if form.is_valid():
            try:
                contact_list = contact_services.contact_list_create(
                    subaccount=subaccount, name=form.cleaned_data["name"]
                )
            except DomainError as error:
                form.add_error("name", error.message)
            else:
                messages.success(
                    request, _("List “%(name)s” created.") % {"name": contact_list.name}
                )
                return redirect("contact_list_detail", list_id=contact_list.pk)
    context = {
        **_shell(request, subaccount),
        "can_act": membership.can_act,
        "lists": list(selectors.contact_lists_with_counts(subaccount_id=subaccount.pk)),
        "section": "lists",
        "form": form,
    }
    return render_in_zone(request, LISTS_TEMPLATE, context, subaccount)


@login_required
@require_GET
def contact_list_detail(request: HttpRequest, list_id: int) -> HttpResponse:
    contact_list, membership = selectors.contact_list_with_role(user=request.user, list_id=list_id)
    subaccount = membership.subaccount
    results = _contacts_page(
        request,
        base_url=reverse("contact_list_detail", args=[contact_list.pk]),
        subaccount=subaccount,
        contact_list=contact_list,
    )
    context = {
        **_shell(request, subaccount),
        **results,
        # Without a search the pager has just counted the list: no second COUNT.
        "list_count": (
            selectors.contact_list_count(contact_list=contact_list)
            if results["params"]["q"]
            else results["page"].paginator.count
        ),
        "contact_list": contact_list,
        "imports": selectors.contact_imports_recent(contact_list=contact_list),
        "can_act": membership.can_act,
    }
    return _render_contacts(request, LIST_TEMPLATE, context, subaccount)


@login_required
@require_http_methods(["GET", "POST"])
def contact_list_rename(request: HttpRequest, list_id: int) -> HttpResponse:
    contact_list, membership = selectors.contact_list_with_role(user=request.user, list_id=list_id)
    require_marketer(membership)  # the form is useless to a viewer, so the GET is refused too
    form = ContactListForm(initial={"name": contact_list.name})
    if request.method == "POST":
        form = ContactListForm(request.POST)
        if form.is_valid():
            old_name = contact_list.name
            try:
                contact_services.contact_list_rename(
                    contact_list=contact_list, name=form.cleaned_data["name"]
                )
            except DomainError as error:
                form.add_error("name", error.message)
            else:
                if contact_list.name != old_name:
                    messages.success(
                        request, _("List renamed to “%(name)s”.") % {"name": contact_list.name}
                    )
                return redirect("contact_list_detail", list_id=contact_list.pk)
    context = {**_shell(request, membership.subaccount), "contact_list": contact_list, "form": form}
    return render_in_zone(request, RENAME_TEMPLATE, context, membership.subaccount)


# --- Contacts ------------------------------------------------------------------------------------


@login_required
@require_GET
def contact_index(request: HttpRequest, subaccount_id: int) -> HttpResponse:
    """Every contact of the subaccount, searchable."""
    membership = membership_get(user=request.user, subaccount_id=subaccount_id)
    subaccount = membership.subaccount
    context = {
        **_shell(request, subaccount),
        **_contacts_page(
            request, base_url=reverse("contact_index", args=[subaccount.pk]), subaccount=subaccount
        ),
        "section": "contacts",
        "can_act": membership.can_act,
    }
    return _render_contacts(request, CONTACTS_TEMPLATE, context, subaccount)


@login_required
@require_POST
def contact_unsubscribe(request: HttpRequest, contact_id: int) -> HttpResponse:
    """Unsubscribe a contact; doing it twice says so and changes nothing."""
    contact, membership = selectors.contact_with_role(user=request.user, contact_id=contact_id)
    require_marketer(membership)
    result = contact_services.contact_unsubscribe(
        contact=contact, actor=request.user, how=_("(by a marketer)")
    )
    contact = result.obj
    text = (
        _("%(email)s is unsubscribed: no future sending will reach them.")
        if result.changed
        else _("%(email)s was already unsubscribed.")
    ) % {"email": contact.email}
    if result.canceled:
        text += " " + ngettext(
            "%(count)s waiting message to them was canceled.",
            "%(count)s waiting messages to them were canceled.",
            result.canceled,
        ) % {"count": result.canceled}
    return _contact_row_response(request, contact, membership, text)


@login_required
@require_POST
def contact_bounce_clear(request: HttpRequest, contact_id: int) -> HttpResponse:
    """Clear a contact's bounce (the address was fixed on the other side); repeats say so."""
    contact, membership = selectors.contact_with_role(user=request.user, contact_id=contact_id)
    require_marketer(membership)
    result = contact_services.contact_bounce_clear(contact=contact)
    contact = result.obj
    text = (
        _("%(email)s is no longer marked bounced: the next sendings will include it.")
        if result.changed
        else _("%(email)s was not marked bounced.")
    ) % {"email": contact.email}
    return _contact_row_response(request, contact, membership, text)


def _contact_row_response(request, contact, membership, text: str) -> HttpResponse:
    """The fresh row and the message (htmx), else a redirect back with the message."""
    if request.htmx:
        context = {
            "contact": contact,
            "can_act": membership.can_act,
            "next_url": safe_next(request, reverse("contact_index", args=[contact.subaccount_id])),
            "notice": {"level": "success", "text": text},
        }
        return render_in_zone(
            request, f"{CONTACTS_TEMPLATE}#row_response", context, membership.subaccount
        )
    messages.success(request, text)
    return redirect_back(request, reverse("contact_index", args=[contact.subaccount_id]))


# --- CSV import ----------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def contact_import_upload(request: HttpRequest, list_id: int) -> HttpResponse:
    """The upload form; a valid file becomes a pending import and the page that follows it."""
    contact_list, membership = selectors.contact_list_with_role(user=request.user, list_id=list_id)
    require_marketer(membership)
    form = ContactImportForm()
    if request.method == "POST":
        form = ContactImportForm(request.POST, request.FILES)
        if form.is_valid():
            contact_import = contact_services.contact_import_create(
                contact_list=contact_list,
                file_name=form.cleaned_data["file"].name,
                content=form.content,
                actor=request.user,
            )
            return redirect("contact_import_detail", import_id=contact_import.pk)
    context = {
        **_shell(request, membership.subaccount),
        "contact_list": contact_list,
        "form": form,
        "max_mb": settings.CONTACT_IMPORT_MAX_MB,
    }
    status = 400 if form.errors else 200
    return render_in_zone(request, UPLOAD_TEMPLATE, context, membership.subaccount, status=status)


@login_required
@require_GET
def contact_import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    """An import's progress (htmx polls the #progress partial every second until it is over),
    then its result and the rows it could not import."""
    contact_import, membership = selectors.contact_import_with_role(
        user=request.user, import_id=import_id
    )
    context = {
        **_shell(request, membership.subaccount),
        "contact_import": contact_import,
        "contact_list": contact_import.contact_list,
    }
    template = IMPORT_TEMPLATE
    if request.htmx and request.htmx.target == "import-progress":
        template += "#progress"
    return render_in_zone(request, template, context, membership.subaccount)
