"""After a stop, in Chromium: support logs in and stops a sending in progress; the marketer
sees exactly who received it, exports them, and resends to everyone else, which a real
worker delivers into the SMTP sink."""

import csv

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from batches import services as batch_services
from batches.models import Recipient
from sendings.models import Sending
from support import services as support_services
from tests.factories import PASSWORD
from tests.workers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CONTACTS, RECEIVED = 40, 3


def next_step(page, title: str) -> None:
    page.get_by_role("button", name="Next", exact=True).click()
    expect(page.get_by_role("heading", level=2, name=title)).to_be_visible()


def test_stop_then_export_the_sent_and_resend_to_the_rest(
    marketer_page,
    new_context,
    live_server,
    make_sending,
    marketer,
    support_user,
    settings,
    sink,
    workers,
    tmp_path,
    screenshot,
):
    settings.SMALL_SENDING_MAX_RECIPIENTS = 10
    settings.UNDO_SECONDS = 2
    original = make_sending("Spring sale", "sending", contacts=CONTACTS)
    batch = original.batches.get(number=1)
    ids = list(batch.recipients.order_by("id").values_list("id", flat=True)[:RECEIVED])
    batch_services.recipients_record_results(batch_id=batch.pk, sent=ids)
    support_services.ticket_file(sending=original, requester=marketer, message="Wrong link")

    # Support logs in through the form and lands on the queue; stops the sending.
    desk = new_context().new_page()
    desk.goto(live_server.url + reverse("login"))
    desk.get_by_label("Username").fill(support_user.username)
    desk.get_by_label("Password").fill(PASSWORD)
    desk.get_by_role("button", name="Log in").click()
    expect(desk).to_have_url(live_server.url + reverse("ticket_queue"))
    nav = desk.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Cancellation requests")).to_be_visible()
    desk.get_by_role("link", name="Open request for Spring sale").click()
    desk.get_by_role("button", name="Stop sending").click()
    desk.get_by_role("dialog", name="Stop “Spring sale”?").get_by_role(
        "button", name="Yes, stop sending"
    ).click()
    expect(desk.get_by_role("status")).to_contain_text(f"{RECEIVED} of {CONTACTS}")

    # The marketer: the details, the Sent filter, the export.
    page = marketer_page
    page.goto(live_server.url + reverse("sending_detail", args=[original.identifier]))
    expect(page.locator(".page-head .badge")).to_have_text("Canceled")
    filters = page.get_by_role("navigation", name="Filter recipients by status")
    filters.get_by_role("link", name="Sent").click()
    table = page.get_by_role("table", name="Recipients")
    expect(table.locator("tbody tr")).to_have_count(RECEIVED)
    expect(filters.get_by_role("link", name="Sent")).to_have_attribute("aria-current", "page")
    screenshot(page, "-1-sent")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export recipients (CSV)").click()
    path = tmp_path / "sent.csv"
    download_info.value.save_as(path)
    with path.open(newline="", encoding="utf-8") as exported:
        rows = list(csv.reader(exported))
    original.refresh_from_db()
    assert len(rows) - 1 == original.sent_count == RECEIVED
    assert {row[0] for row in rows[1:]} == set(
        Recipient.objects.filter(sending=original, status="sent").values_list("email", flat=True)
    )

    # Resend to the others: the wizard, with the fixed audience, then Send now.
    page.get_by_role("button", name="Resend to those who did not receive it").click()
    expect(page.get_by_role("heading", level=1, name="Spring sale (resend)")).to_be_visible()
    next_step(page, "2. Design")
    next_step(page, "3. Text version")
    next_step(page, "4. Test")
    next_step(page, "5. Contacts")
    expect(page.get_by_role("status")).to_contain_text(
        f"{CONTACTS - RECEIVED} contacts who did not receive Spring sale"
    )
    screenshot(page, "-2-audience")
    next_step(page, "6. Schedule sending")
    workers.start(1)  # with beat, on the test database, mailing into the sink
    page.get_by_label("Send now", exact=True).check()
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Spring sale (resend)")).to_be_visible()

    resend = Sending.objects.get(source_sending=original)
    assert resend.total_recipients == original.total_recipients - original.sent_count
    wait_for(
        lambda: Sending.objects.get(pk=resend.pk).status == "sent", timeout=60, what="the resend"
    )
    expected = set(
        Recipient.objects.filter(sending=original)
        .exclude(status="sent")
        .values_list("email", flat=True)
    )
    audience = set(Recipient.objects.filter(sending=original).values_list("email", flat=True))
    # Besides the ticket's emails (to support, and the outcome to the marketer), the sink got
    # the resend: exactly once to each of those who had not received the original.
    assert sorted(r for r in sink.rcpts() if r in audience) == sorted(expected)
    page.reload()
    expect(page.locator(".page-head .badge")).to_have_text("Sent")
    expect(page.get_by_role("link", name=original.identifier)).to_be_visible()
    screenshot(page, "-3-resent")
