"""Every page, checked by axe-core in Chromium: no WCAG 2 A/AA violation, no best-practice one.

axe finds what a machine can (names, labels, landmarks, contrast, ARIA misuse); the keyboard
and screen-reader flows themselves are exercised by the other browser tests.
"""

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from playwright.sync_api import Page

from batches import services as batch_services
from sendings import followups
from sendings import services as sending_services
from sendings.contacts import services as contact_services
from sendings.models import Contact
from sendings.unsubscribe.tokens import unsubscribe_token
from support import services as support_services
from support.models import Ticket
from tests.factories import SendingFactory, contact_list_with

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Axe()
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "best-practice"]}}


def violations(page: Page) -> list[str]:
    """axe's findings on the page as it is now, one line each (empty when there are none)."""
    results = AXE.run(page, options=RULES)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in results.response["violations"]
    ]


@pytest.fixture
def pages(live_server, subaccount, marketer, make_sending, settings) -> dict[str, str]:
    """A URL for every kind of page the marketer sees, with data in it."""
    settings.SMALL_SENDING_MAX_RECIPIENTS = 2
    scheduled = make_sending("Campaign scheduled")
    make_sending("Campaign sent", "sent")
    make_sending("Campaign in batches", sizes=[2, None])
    sending = make_sending("Campaign sending", "sending")
    support_services.ticket_file(sending=sending, requester=marketer, message="Stop it")
    contact_list = contact_list_with(subaccount, 3, name="Newsletter")
    upload = contact_services.contact_import_create(
        contact_list=contact_list,
        file_name="a.csv",
        content=b"email\nbad\na@b.example\n",
        actor=None,
    )
    contact_services.contact_import_run(contact_import_id=upload.pk)
    draft = SendingFactory(subaccount=subaccount, name="Draft campaign", created_by=marketer)
    stopped = make_sending("Campaign stopped", "sending", contacts=6)
    first = stopped.batches.get(number=1)
    delivered = list(first.recipients.order_by("id").values_list("id", flat=True)[:2])
    batch_services.recipients_record_results(
        batch_id=first.pk, sent=delivered[:1], failed={delivered[1]: "550 5.1.1 unknown"}
    )
    sending_services.sending_stop(sending=stopped, actor=None)
    resend = followups.sending_resend_create(sending=stopped, actor=marketer).obj
    urls = {
        "sending list": reverse("sending_list", args=[subaccount.pk]),
        "sending detail": reverse("sending_detail", args=[sending.identifier]),
        "batches page": reverse("sending_batches", args=[sending.identifier]),
        "urgent request page": reverse("ticket_request", args=[sending.identifier]),
        "cancel page": reverse("sending_cancel", args=[scheduled.identifier]),
        "duplicate page": reverse("sending_duplicate", args=[scheduled.identifier]),
        "contact lists": reverse("contact_lists", args=[subaccount.pk]),
        "contacts": reverse("contact_index", args=[subaccount.pk]),
        "list": reverse("contact_list_detail", args=[contact_list.pk]),
        "import upload": reverse("contact_import_upload", args=[contact_list.pk]),
        "import result": reverse("contact_import_detail", args=[upload.pk]),
        "stopped sending detail": reverse("sending_detail", args=[stopped.identifier]),
        "recipients filtered": reverse("sending_detail", args=[stopped.identifier])
        + "?status=failed&q=example",
        "resend page": reverse("sending_resend", args=[stopped.identifier]),
        "correction page": reverse("sending_correction", args=[stopped.identifier]),
        "unschedule page": reverse("sending_unschedule", args=[scheduled.identifier]),
        "resend draft detail": reverse("sending_detail", args=[resend.identifier]),
        "resend wizard contacts": reverse("wizard_contacts", args=[resend.identifier]),
    }
    for step in ("details", "design", "text", "test", "contacts", "schedule"):
        urls[f"wizard {step}"] = reverse(f"wizard_{step}", args=[draft.identifier])
    return {name: live_server.url + url for name, url in urls.items()}


def test_marketer_pages_have_no_axe_violations(marketer_page, pages):
    found = {}
    for name, url in pages.items():
        marketer_page.goto(url)
        if problems := violations(marketer_page):
            found[name] = problems
    assert found == {}


def test_support_pages_have_no_axe_violations(
    new_context, log_in, live_server, support_user, subaccount, marketer, make_sending, settings
):
    settings.SMALL_SENDING_MAX_RECIPIENTS = 2
    sending = make_sending("Campaign sending", "sending")
    ticket, _ = support_services.ticket_file(sending=sending, requester=marketer)
    context = new_context()
    log_in(context, support_user)
    page = context.new_page()
    found = {}
    for url in [reverse("ticket_queue"), reverse("ticket_detail", args=[ticket.pk])]:
        page.goto(live_server.url + url)
        if problems := violations(page):
            found[url] = problems
    assert found == {}


def test_the_login_page_has_no_axe_violations(page, live_server):
    page.goto(live_server.url + reverse("login"))
    assert violations(page) == []


def test_the_unsubscribe_page_has_no_axe_violations(page, live_server, subaccount, make_sending):
    sending = make_sending("Campaign scheduled")
    contact = Contact.objects.filter(subaccount=subaccount).first()
    token = unsubscribe_token(sending_id=sending.pk, contact_id=contact.pk)
    found = {}
    for url in [f"/u/{token}/", "/u/not-a-token/"]:
        page.goto(live_server.url + url)
        if problems := violations(page):
            found[url] = problems
    assert found == {}


def test_paused_pages_have_no_axe_violations(
    marketer_page, new_context, log_in, live_server, support_user, make_sending, settings
):
    settings.AUTO_PAUSE_MIN_ATTEMPTS = 2
    sending = make_sending("Campaign paused", "sending", contacts=6)
    batch = sending.batches.get(number=1)
    ids = list(batch.recipients.filter(status="pending").values_list("id", flat=True))
    batch_services.recipients_record_results(
        batch_id=batch.pk, sent=[], bounced={pk: "550 5.1.1 No such user" for pk in ids[:2]}
    )
    ticket = Ticket.objects.get(sending=sending, kind="auto_pause")
    found = {}
    for url in [
        reverse("sending_list", args=[sending.subaccount_id]),
        reverse("sending_detail", args=[sending.identifier]),
    ]:
        marketer_page.goto(live_server.url + url)
        if problems := violations(marketer_page):
            found[url] = problems
    context = new_context()
    log_in(context, support_user)
    desk = context.new_page()
    for url in [reverse("ticket_queue"), reverse("ticket_detail", args=[ticket.pk])]:
        desk.goto(live_server.url + url)
        if problems := violations(desk):
            found[url] = problems
    assert found == {}
