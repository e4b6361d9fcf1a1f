"""The "New sending" wizard: six steps, each a page that saves to the Draft.

Over 400 lines on purpose: one short view per step, in the order a marketer meets them,
with the helpers they share above them.

1 Details, 2 Design, 3 Text version, 4 Test, 5 Contacts, 6 Schedule sending. Next and Back
both save the step (Back without insisting on required fields) and redirect, so reloading
never resubmits and going back and forth keeps what was typed. Only marketers of the
sending's subaccount get here (viewers 403, outsiders 404); a sending that is no longer a
Draft cannot be edited: its pages send the user to its detail page.
"""

from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext_lazy
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from sendings import selectors
from sendings.exceptions import DomainError
from sendings.fields import whole_number
from sendings.formatting import thousands
from sendings.models import Membership, Sending, SendingStatus
from sendings.pages.shell import list_page_url, render_in_zone, require_marketer, shell_context
from sendings.tenancy.selectors import membership_get
from sendings.wizard import services as draft_services
from sendings.wizard.forms import (
    SendingContactsForm,
    SendingDesignForm,
    SendingDetailsForm,
    SendingTestForm,
    SendingTextForm,
)
from sendings.wizard.html_text import html_to_text
from sendings.wizard.schedule import SendingScheduleForm
from sendings.wizard.selectors import (
    audience_bounced_count,
    audience_count,
    draft_audience_count,
    fixed_audience_count,
)

TEMPLATES = "sendings/wizard/"
# More ticked lists than any subaccount has are not worth counting.
MAX_LISTS = 1000


@dataclass(frozen=True)
class Step:
    number: int
    slug: str
    label: str

    @property
    def url_name(self) -> str:
        return f"wizard_{self.slug}"

    def url(self, sending: Sending) -> str:
        return reverse(self.url_name, args=[sending.identifier])


STEPS = [
    Step(1, "details", pgettext_lazy("wizard step", "Details")),
    Step(2, "design", pgettext_lazy("wizard step", "Design")),
    Step(3, "text", pgettext_lazy("wizard step", "Text version")),
    Step(4, "test", pgettext_lazy("wizard step", "Test")),
    Step(5, "contacts", pgettext_lazy("wizard step", "Contacts")),
    Step(6, "schedule", pgettext_lazy("wizard step", "Schedule sending")),
]
DETAILS, DESIGN, TEXT, TEST, CONTACTS, SCHEDULE = STEPS
DETAIL_FIELDS = ["name", "subject", "from_name", "from_email"]

# The design step previews customer HTML in <iframe sandbox srcdoc>: no scripts, forms,
# popups or same-origin access (the sandbox), and, since a srcdoc document inherits this
# page's policy, scripts stay limited to our nonce. Inline styles and remote images are
# allowed on this page only, so the preview looks like the email.
DESIGN_CSP = {
    **settings.SECURE_CSP,
    "style-src": [*settings.SECURE_CSP["style-src"], "'unsafe-inline'"],
    "img-src": [*settings.SECURE_CSP["img-src"], "https:"],
    "frame-src": ["'self'"],
}


# --- Helpers ---------------------------------------------------------------------------------


def _editable(request: HttpRequest, identifier: str) -> tuple[Sending, Membership]:
    """The sending and the user's membership: 404 for outsiders, 403 for viewers."""
    sending, membership = selectors.sending_with_role(user=request.user, identifier=identifier)
    require_marketer(membership)
    return sending, membership


def _not_a_draft(request: HttpRequest, sending: Sending, message: str = "") -> HttpResponse:
    messages.error(
        request,
        message
        or _(
            "“%(name)s” is %(status)s, no longer a draft, so it can't be edited. Duplicate it "
            "to start a new sending from it."
        )
        % {"name": sending.name, "status": sending.get_status_display().lower()},
    )
    return redirect("sending_detail", identifier=sending.identifier)


def draft_step(view):
    """A wizard page of one Draft: log in first; 404 for outsiders, 403 for viewers; a sending
    that is no longer a Draft sends the user to its detail page."""

    @login_required
    @require_http_methods(["GET", "POST"])
    @wraps(view)
    def wrapper(request: HttpRequest, identifier: str) -> HttpResponse:
        sending, membership = _editable(request, identifier)
        if sending.status != SendingStatus.DRAFT:
            return _not_a_draft(request, sending)
        return view(request, sending, membership)

    return wrapper


def _steps(sending: Sending | None, current: Step) -> list[dict]:
    return [
        {
            "number": step.number,
            "label": step.label,
            "current": step == current,
            "url": step.url(sending) if sending is not None else "",
        }
        for step in STEPS
    ]


def _page(
    request: HttpRequest,
    step: Step,
    membership: Membership,
    sending: Sending | None,
    context: dict,
    *,
    status: int = 200,
    template: str = "",
) -> HttpResponse:
    subaccount = membership.subaccount
    context = {
        **shell_context(request, subaccount),
        "sending": sending,
        "step": step,
        "steps": _steps(sending, step),
        "step_count": len(STEPS),
        "previous_step": STEPS[step.number - 2] if step.number > 1 else None,
        "list_url": list_page_url(subaccount.pk),
        **context,
    }
    return render_in_zone(
        request, template or f"{TEMPLATES}{step.slug}.html", context, subaccount, status=status
    )


def _going_back(request: HttpRequest) -> bool:
    return request.POST.get("nav") == "back"


def _go(request: HttpRequest, sending: Sending, step: Step) -> HttpResponse:
    """After a save: Back to the previous step, Next to the next one, else stay."""
    nav = request.POST.get("nav")
    if nav == "back" and step.number > 1:
        step = STEPS[step.number - 2]
    elif nav == "next" and step.number < len(STEPS):
        step = STEPS[step.number]
    return redirect(step.url(sending))


def _save(request: HttpRequest, sending: Sending, step: Step, **changes) -> HttpResponse:
    try:
        draft_services.sending_draft_update(sending=sending, **changes)
    except DomainError as error:
        return _not_a_draft(request, sending, error.message)
    return _go(request, sending, step)


# Where the wizard sends the user to fix what `Sending.missing_for_confirm` reports.
FIX_STEP = {
    "name": DETAILS,
    "subject": DETAILS,
    "from_email": DETAILS,
    "html_body": DESIGN,
    "text_body": TEXT,
    "lists": CONTACTS,
}


def _missing(sending: Sending) -> list[dict]:
    """What the draft still lacks before it can be confirmed, each with the step to fix it."""
    return [
        {"step": FIX_STEP[item.field], "url": FIX_STEP[item.field].url(sending), "text": item.text}
        for item in sending.missing_for_confirm()
    ]


# --- Step 1: Details (and the "New sending" page) ----------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def sending_new(request: HttpRequest, subaccount_id: int) -> HttpResponse:
    """Step 1 of a sending that does not exist yet: the Draft is created by its first Next."""
    membership = membership_get(user=request.user, subaccount_id=subaccount_id)
    require_marketer(membership)
    form = SendingDetailsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        sending = draft_services.sending_draft_create(
            subaccount=membership.subaccount, actor=request.user, fields=form.cleaned_data
        )
        return redirect(DESIGN.url(sending))
    context = {"form": form, "action": reverse("sending_new", args=[subaccount_id])}
    return _page(request, DETAILS, membership, None, context)


@login_required
@require_GET
def sending_edit(request: HttpRequest, identifier: str) -> HttpResponse:
    """ "Edit draft" in the row menu: the wizard, from its first step."""
    sending, _membership = _editable(request, identifier)
    if sending.status != SendingStatus.DRAFT:
        return _not_a_draft(request, sending)
    return redirect(DETAILS.url(sending))


@draft_step
def wizard_details(request: HttpRequest, sending: Sending, membership: Membership) -> HttpResponse:
    if request.method == "POST":
        form = SendingDetailsForm(request.POST, lenient=_going_back(request))
        if form.is_valid():
            return _save(request, sending, DETAILS, fields=form.cleaned_data)
    else:
        form = SendingDetailsForm(initial={name: getattr(sending, name) for name in DETAIL_FIELDS})
    return _page(request, DETAILS, membership, sending, {"form": form, "action": ""})


# --- Step 2: Design ------------------------------------------------------------------------------


@csp_override(DESIGN_CSP)
@draft_step
def wizard_design(request: HttpRequest, sending: Sending, membership: Membership) -> HttpResponse:
    if request.method == "POST":
        form = SendingDesignForm(request.POST, lenient=_going_back(request))
        if form.is_valid():
            return _save(request, sending, DESIGN, fields=form.cleaned_data)
        preview = request.POST.get("html_body", "")
    else:
        form = SendingDesignForm(initial={"html_body": sending.html_body})
        preview = sending.html_body
    return _page(request, DESIGN, membership, sending, {"form": form, "preview": preview})


# --- Step 3: Text version ------------------------------------------------------------------------


@draft_step
def wizard_text(request: HttpRequest, sending: Sending, membership: Membership) -> HttpResponse:
    """The text version: generated from the HTML while it is empty (shown, saved by Next)."""
    generated = False
    if request.method == "POST" and request.POST.get("nav") == "regenerate":
        generated = True
        form = SendingTextForm(initial={"text_body": html_to_text(sending.html_body)})
    elif request.method == "POST":
        form = SendingTextForm(request.POST, lenient=_going_back(request))
        if form.is_valid():
            return _save(request, sending, TEXT, fields=form.cleaned_data)
    else:
        text = sending.text_body
        if not text.strip() and sending.html_body.strip():
            text, generated = html_to_text(sending.html_body), True
        form = SendingTextForm(initial={"text_body": text})
    return _page(request, TEXT, membership, sending, {"form": form, "generated": generated})


# --- Step 4: Test --------------------------------------------------------------------------------


@draft_step
def wizard_test(request: HttpRequest, sending: Sending, membership: Membership) -> HttpResponse:
    """Send the sending as it stands to a few addresses; Back and Next only move on."""
    status = 200
    if request.method == "POST" and request.POST.get("nav") in ("back", "next"):
        return _go(request, sending, TEST)
    if request.method == "POST":
        form = SendingTestForm(request.POST)
        if form.is_valid():
            addresses = form.cleaned_data["addresses"]
            try:
                draft_services.sending_test_request(
                    sending=sending, addresses=addresses, actor=request.user
                )
            except DomainError as error:
                form.add_error(None, error.message)
                status = 429 if error.code == "test_limit" else 409
            else:
                messages.success(
                    request, _("Test sent to %(addresses)s.") % {"addresses": ", ".join(addresses)}
                )
                return redirect(TEST.url(sending))
    else:
        form = SendingTestForm(initial={"addresses": request.user.email})
    return _page(request, TEST, membership, sending, {"form": form}, status=status)


# --- Step 5: Contacts ----------------------------------------------------------------------------


def _list_ids(data) -> list[int]:
    """The ticked lists' ids as sent; anything that is not an id is left out."""
    ids = (whole_number(value) for value in data.getlist("lists")[:MAX_LISTS])
    return [list_id for list_id in ids if list_id is not None]


@draft_step
def wizard_contacts(request: HttpRequest, sending: Sending, membership: Membership) -> HttpResponse:
    if sending.source_audience:  # a resend or a correction: its audience is fixed
        if request.method == "POST":
            return _go(request, sending, CONTACTS)
        context = {
            "audience": fixed_audience_count(sending=sending),
            "source": selectors.sending_source(sending=sending),
        }
        template = f"{TEMPLATES}contacts_fixed.html"
        return _page(request, CONTACTS, membership, sending, context, template=template)
    subaccount = membership.subaccount
    if request.method == "POST":
        form = SendingContactsForm(
            request.POST, subaccount=subaccount, lenient=_going_back(request)
        )
        if form.is_valid():
            return _save(request, sending, CONTACTS, fields={}, lists=form.cleaned_data["lists"])
        chosen = _list_ids(request.POST)
    else:
        chosen = list(sending.lists.filter(subaccount=subaccount).values_list("pk", flat=True))
        form = SendingContactsForm(initial={"lists": chosen}, subaccount=subaccount)
    audience = audience_count(subaccount_id=subaccount.pk, list_ids=chosen)
    bounced = audience_bounced_count(subaccount_id=subaccount.pk, list_ids=chosen)
    context = {"form": form, "audience": audience, "bounced": bounced, "chosen": len(chosen)}
    return _page(request, CONTACTS, membership, sending, context)


@login_required
@require_GET
def wizard_audience(request: HttpRequest, identifier: str) -> HttpResponse:
    """The recipient count for the ticked lists (htmx, on every change of a checkbox)."""
    sending, membership = _editable(request, identifier)
    chosen = _list_ids(request.GET)
    audience = audience_count(subaccount_id=membership.subaccount_id, list_ids=chosen)
    bounced = audience_bounced_count(subaccount_id=membership.subaccount_id, list_ids=chosen)
    context = {"audience": audience, "bounced": bounced, "chosen": len(chosen)}
    template = f"{TEMPLATES}contacts.html#audience"
    return _page(request, CONTACTS, membership, sending, context, template=template)


# --- Step 6: Schedule sending --------------------------------------------------------------------


def _schedule_form(request: HttpRequest, sending: Sending, membership: Membership, **kwargs):
    subaccount = membership.subaccount
    audience = draft_audience_count(sending=sending)
    return SendingScheduleForm(
        zone=subaccount.zone,
        now=timezone.now(),
        audience=audience,
        undo_seconds=settings.UNDO_SECONDS,
        **kwargs,
    )


def _rows_changed(request: HttpRequest) -> list[dict] | None:
    """The batch rows after "Add batch" or "Remove batch n"; None for any other button."""
    rows = SendingScheduleForm.rows_of(request.POST)
    if request.POST.get("nav") == "add_batch":
        return [*rows, {"date": "", "time": "", "count": ""}]
    removed = whole_number(request.POST.get("remove_batch", ""), maximum=len(rows))
    if removed is not None:
        return rows[: removed - 1] + rows[removed:]
    return None


@draft_step
def wizard_schedule(request: HttpRequest, sending: Sending, membership: Membership) -> HttpResponse:
    """When to send, and Confirm. Adding or removing a batch row saves what was typed and
    shows the form again (the fragment for htmx); Confirm saves only if it succeeds."""
    status, missing = 200, []
    if request.method == "GET":
        draft = sending.schedule_draft or {}
        initial = {name: draft.get(name) for name in SendingScheduleForm.SCALARS if draft.get(name)}
        form = _schedule_form(
            request, sending, membership, initial=initial, rows=draft.get("rows") or None
        )
    else:
        rows = _rows_changed(request)
        if rows is not None or _going_back(request):
            draft = SendingScheduleForm.draft_of(request.POST)
            if rows is not None:
                draft["rows"] = rows
            response = _save(request, sending, SCHEDULE, fields={"schedule_draft": draft})
            if not request.htmx or _going_back(request) or response.url != SCHEDULE.url(sending):
                return response
            sending.refresh_from_db()
            form = _schedule_form(request, sending, membership, initial=draft, rows=rows or None)
            context = {"form": form, "missing": [], "rows_changed": True}
            template = f"{TEMPLATES}schedule.html#schedule_form"
            return _page(request, SCHEDULE, membership, sending, context, template=template)
        form = _schedule_form(request, sending, membership, data=request.POST)
        missing = _missing(sending)
        if form.is_valid() and not missing:
            return _confirm(request, sending, form)
        status = 409 if form.is_valid() else 200
    context = {"form": form, "missing": missing}
    return _page(request, SCHEDULE, membership, sending, context, status=status)


def _confirm(request: HttpRequest, sending: Sending, form: SendingScheduleForm) -> HttpResponse:
    try:
        confirmed = draft_services.sending_draft_confirm(
            sending=sending,
            schedule_draft=SendingScheduleForm.draft_of(request.POST),
            batches=form.plans,
            actor=request.user,
        )
    except DomainError as error:
        form.add_error(None, error.message)
        membership = membership_get(user=request.user, subaccount_id=sending.subaccount_id)
        context = {"form": form, "missing": []}
        return _page(request, SCHEDULE, membership, sending, context, status=409)
    if confirmed.status == SendingStatus.DRAFT:  # not expected; say so rather than pretend
        return _not_a_draft(request, confirmed)
    total = confirmed.total_recipients
    values = {
        "name": confirmed.name,
        "count": thousands(total),
        "seconds": settings.UNDO_SECONDS,
        "batches": confirmed.batch_count,
    }
    if form.cleaned_data["mode"] == "now":
        text = ngettext(
            "“%(name)s” goes to %(count)s contact in %(seconds)s seconds. Changed your mind? "
            "Cancel it before then.",
            "“%(name)s” goes to %(count)s contacts in %(seconds)s seconds. Changed your mind? "
            "Cancel it before then.",
            total,
        )
        messages.success(request, text % values)
        return redirect("sending_detail", identifier=confirmed.identifier)
    if confirmed.batch_count > 1:
        text = ngettext(
            "“%(name)s” is scheduled for %(count)s contact in %(batches)s batches.",
            "“%(name)s” is scheduled for %(count)s contacts in %(batches)s batches.",
            total,
        )
    else:
        text = ngettext(
            "“%(name)s” is scheduled for %(count)s contact.",
            "“%(name)s” is scheduled for %(count)s contacts.",
            total,
        )
    messages.success(request, text % values)
    return redirect(list_page_url(confirmed.subaccount_id))


# --- Duplicate ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def sending_duplicate(request: HttpRequest, identifier: str) -> HttpResponse:
    """A new Draft copying a sending of any status, opened in the wizard.

    GET (the row menu without JavaScript) asks first; a POST (htmx from the menu, or the
    page's button) makes the copy and opens it.
    """
    sending, membership = _editable(request, identifier)
    if request.method == "GET":
        context = {**shell_context(request, membership.subaccount), "sending": sending}
        return render_in_zone(request, f"{TEMPLATES}duplicate.html", context, membership.subaccount)
    copy = draft_services.sending_duplicate(sending=sending, actor=request.user)
    messages.success(request, _("“%(name)s” is a new draft, ready to edit.") % {"name": copy.name})
    url = DETAILS.url(copy)
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)
