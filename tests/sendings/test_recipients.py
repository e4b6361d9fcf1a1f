"""The detail page's Recipients section, its CSV export, the follow-up actions' pages, the
wizard's fixed audience, and where each persona lands."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from batches import services as batch_services
from batches.models import Recipient
from sendings import followups, services
from sendings.models import Sending, SendingEvent
from tests.factories import MembershipFactory, scheduled_sending
from tests.sendings.conftest import sending_in

pytestmark = pytest.mark.django_db


def html(response) -> str:
    return response.content.decode()


def detail_url(sending: Sending, query: str = "") -> str:
    return reverse("sending_detail", args=[sending.identifier]) + query


def export_url(sending: Sending, query: str = "") -> str:
    return reverse("recipients_export", args=[sending.identifier]) + query


def csv_rows(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body)))


def delivered(subaccount, *, contacts: int, sent: int, failed: int = 0) -> Sending:
    """A sending whose batch started: `sent` delivered, `failed` rejected, the rest waiting."""
    sending = scheduled_sending(
        subaccount, contacts=contacts, first_at=timezone.now() - timedelta(minutes=1)
    )
    batch = sending.batches.get()
    assert batch_services.batch_start(batch_id=batch.pk)
    ids = list(batch.recipients.order_by("email").values_list("id", flat=True))
    batch_services.recipients_record_results(
        batch_id=batch.pk,
        sent=ids[:sent],
        failed={pk: "550 5.1.1 Mailbox unavailable" for pk in ids[sent : sent + failed]},
    )
    sending.refresh_from_db()
    return sending


def canceled_after_some(subaccount, support_user, settings, *, contacts=10, sent=3) -> Sending:
    settings.SMALL_SENDING_MAX_RECIPIENTS = 0
    sending = delivered(subaccount, contacts=contacts, sent=sent)
    services.sending_stop(sending=sending, actor=support_user)
    sending.refresh_from_db()
    return sending


# --- The section: who sees it, filters, search, keyset pages -------------------------------------


@pytest.mark.parametrize("persona", ["marketer", "viewer"])
def test_members_see_the_recipients_section(client, subaccount, persona, request):
    sending = delivered(subaccount, contacts=4, sent=1, failed=1)
    client.force_login(request.getfixturevalue(persona))

    page = html(client.get(detail_url(sending)))

    assert 'aria-label="Recipients"' in page
    for label in ("All", "Sent", "Failed", "Canceled", "Waiting"):
        assert f">{label} <span" in page
    assert "Export recipients (CSV)" in page
    assert "550 5.1.1 Mailbox unavailable" in page


def test_outsiders_get_404_and_anonymous_users_the_login(client, subaccount, outsider):
    sending = delivered(subaccount, contacts=2, sent=1)

    assert client.get(detail_url(sending, "?status=sent")).status_code == 302
    client.force_login(outsider)
    assert client.get(detail_url(sending, "?status=sent")).status_code == 404


def test_the_sent_filter_lists_only_those_who_received_it(client, subaccount, marketer):
    sending = delivered(subaccount, contacts=5, sent=2, failed=1)
    client.force_login(marketer)

    page = html(client.get(detail_url(sending, "?status=sent")))

    for recipient in Recipient.objects.filter(sending=sending):
        assert (recipient.email in page) == (recipient.status == "sent"), recipient.status
    assert 'aria-current="page">Sent <span class="tab-count">2</span>' in page


def test_search_finds_emails_containing_the_text(client, subaccount, marketer):
    sending = delivered(subaccount, contacts=12, sent=0)
    client.force_login(marketer)
    wanted = Recipient.objects.filter(sending=sending).order_by("email")[3].email
    local = wanted.split("@")[0]

    page = html(client.get(detail_url(sending, f"?q={local.upper()}")))

    found = [e for e in Recipient.objects.filter(sending=sending).values_list("email", flat=True)]
    assert wanted in page
    assert all((email in page) == (local in email) for email in found)


def test_pages_walk_by_email_without_gaps_or_repeats(client, subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=120)
    client.force_login(marketer)
    everyone = list(
        Recipient.objects.filter(sending=sending).order_by("email").values_list("email", flat=True)
    )
    seen, url, pages = [], detail_url(sending), 0
    while url:
        response = client.get(url, headers={"HX-Request": "true", "HX-Target": "recipients"})
        body = html(response)
        assert "<h1>" not in body  # the section alone
        rows = [email for email in everyone if f'<th scope="row">{email}</th>' in body]
        seen += rows
        pages += 1
        next_url = response.context["recipients_next_url"]
        url = next_url.split("#")[0] if next_url else ""
    assert pages == 3
    assert seen == everyone

    # And back: the page before the last one's first email is the second page.
    last_first = everyone[100]
    response = client.get(detail_url(sending, f"?before={last_first}"))
    page = response.context["recipient_page"]
    assert [row["email"] for row in page.rows] == everyone[50:100]


def test_bad_parameters_fall_back_to_the_defaults(client, subaccount, marketer):
    sending = delivered(subaccount, contacts=2, sent=1)
    client.force_login(marketer)

    response = client.get(detail_url(sending, "?status=nope&after=" + "x" * 300 + "&batch=-4"))

    assert response.status_code == 200
    assert response.context["recipient_filter"].value == ""


# --- The export -----------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["marketer", "viewer"])
def test_export_streams_the_current_filter_with_a_header(client, subaccount, persona, request):
    sending = delivered(subaccount, contacts=6, sent=4, failed=1)
    client.force_login(request.getfixturevalue(persona))

    response = client.get(export_url(sending, "?status=sent"))

    rows = csv_rows(response)
    assert rows[0] == ["Email", "Name", "Batch", "Status", "Sent at", "Attempts", "Last error"]
    assert len(rows) - 1 == sending.sent_count == 4
    assert {row[0] for row in rows[1:]} == set(
        Recipient.objects.filter(sending=sending, status="sent").values_list("email", flat=True)
    )
    assert {row[3] for row in rows[1:]} == {"Sent"}
    assert all(row[4] for row in rows[1:])  # sent at
    assert response["Content-Disposition"] == (
        f'attachment; filename="{sending.identifier}-recipients-sent.csv"'
    )


def test_export_streams_in_keyset_chunks_with_flat_memory(
    client, subaccount, marketer, monkeypatch
):
    """Each chunk is one bounded query, run only when the client reads that far: memory holds
    a chunk, not the list, however many recipients there are."""
    monkeypatch.setattr("sendings.recipients.selectors.EXPORT_CHUNK", 3)
    sending = delivered(subaccount, contacts=7, sent=2)
    client.force_login(marketer)
    response = client.get(export_url(sending))
    pieces = iter(response.streaming_content)

    def recipient_reads(queries) -> list[str]:
        return [q["sql"] for q in queries if 'FROM "batches_recipient"' in q["sql"]]

    with CaptureQueriesContext(connection) as first:
        header_and_first_chunk = next(pieces)
    with CaptureQueriesContext(connection) as rest:
        remaining = b"".join(pieces)

    assert len(recipient_reads(first)) == 1  # nothing read beyond the first chunk yet
    assert len(recipient_reads(rest)) == 2  # 3 + 3 + 1 rows: the short chunk ends it
    assert all("LIMIT 3" in sql for sql in recipient_reads(first) + recipient_reads(rest))
    text = (header_and_first_chunk + remaining).decode()
    assert len(text.strip().splitlines()) == 1 + 7


def test_export_of_another_subaccounts_sending_is_404(client, subaccount, outsider):
    sending = delivered(subaccount, contacts=2, sent=1)
    client.force_login(outsider)

    assert client.get(export_url(sending)).status_code == 404


def test_export_needs_a_login(client, subaccount):
    sending = delivered(subaccount, contacts=2, sent=1)

    assert client.get(export_url(sending)).status_code == 302


def test_export_neutralizes_cells_a_spreadsheet_would_run(client, subaccount, marketer):
    sending = delivered(subaccount, contacts=4, sent=0)
    rows = list(Recipient.objects.filter(sending=sending).order_by("email"))
    hostile = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"]
    for recipient, name in zip(rows, hostile, strict=True):
        Recipient.objects.filter(pk=recipient.pk).update(name=name, last_error="=cmd|' /C calc'!A0")
    client.force_login(marketer)

    exported = csv_rows(client.get(export_url(sending)))[1:]

    assert [row[1] for row in exported] == ["'" + name for name in hostile]
    assert {row[6] for row in exported} == {"'=cmd|' /C calc'!A0"}


def test_export_of_one_batch_from_the_batches_dialog(client, subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=7, sizes=[3, None])
    client.force_login(marketer)
    batches_page = html(client.get(reverse("sending_batches", args=[sending.identifier])))
    assert f"{export_url(sending)}?batch=2" in batches_page

    response = client.get(export_url(sending, "?batch=2"))

    rows = csv_rows(response)[1:]
    assert len(rows) == 4 and {row[2] for row in rows} == {"2"}
    assert "recipients-batch-2-all.csv" in response["Content-Disposition"]
    assert client.get(export_url(sending, "?batch=9")).status_code == 404


def test_the_timeline_records_who_exported(client, subaccount, marketer):
    sending = delivered(subaccount, contacts=2, sent=1)
    client.force_login(marketer)

    csv_rows(client.get(export_url(sending, "?status=failed")))

    event = sending.events.get(kind=SendingEvent.Kind.RECIPIENTS_EXPORTED)
    assert event.actor_label == "marketer"
    assert "failed" in event.message


# --- The follow-up actions ------------------------------------------------------------------------


def test_a_canceled_sending_offers_resend_and_correction_in_its_menu_and_page(
    client, subaccount, marketer, support_user, settings
):
    sending = canceled_after_some(subaccount, support_user, settings)
    client.force_login(marketer)

    row = html(client.get(reverse("sending_row", args=[sending.identifier])))
    page = html(client.get(detail_url(sending)))

    for text in (
        "Resend to those who did not receive it",
        "Send a correction to those who received it",
    ):
        assert text in row and text in page
    assert "Unschedule and edit" not in row


def test_a_scheduled_sending_offers_unschedule_and_edit(client, subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=2)
    client.force_login(marketer)

    assert "Unschedule and edit" in html(
        client.get(reverse("sending_row", args=[sending.identifier]))
    )
    assert "Unschedule and edit" in html(client.get(detail_url(sending)))


def test_viewers_see_no_followup_actions(client, subaccount, viewer, support_user, settings):
    sending = canceled_after_some(subaccount, support_user, settings)
    client.force_login(viewer)

    assert "Resend to those" not in html(client.get(detail_url(sending)))


@pytest.mark.parametrize("action", ["sending_resend", "sending_correction"])
def test_a_followup_post_makes_the_draft_and_opens_the_wizard(
    client, subaccount, marketer, support_user, settings, action
):
    sending = canceled_after_some(subaccount, support_user, settings)
    client.force_login(marketer)
    assert client.get(reverse(action, args=[sending.identifier])).status_code == 200

    response = client.post(reverse(action, args=[sending.identifier]))

    draft = Sending.objects.get(source_sending=sending)
    assert response.url == reverse("wizard_details", args=[draft.identifier])


def test_htmx_from_the_row_menu_gets_a_client_redirect(
    client, subaccount, marketer, support_user, settings
):
    sending = canceled_after_some(subaccount, support_user, settings)
    client.force_login(marketer)

    response = client.post(
        reverse("sending_resend", args=[sending.identifier]), headers={"HX-Request": "true"}
    )

    draft = Sending.objects.get(source_sending=sending)
    assert response["HX-Redirect"] == reverse("wizard_details", args=[draft.identifier])


@pytest.mark.parametrize("action", ["sending_resend", "sending_correction", "sending_unschedule"])
def test_followups_are_403_for_viewers_and_404_for_outsiders(
    client, subaccount, viewer, outsider, action
):
    sending = scheduled_sending(subaccount, contacts=2)
    url = reverse(action, args=[sending.identifier])
    client.force_login(viewer)
    assert client.post(url).status_code == 403
    assert client.get(url).status_code == 403
    client.force_login(outsider)
    assert client.post(url).status_code == 404


def test_a_refused_followup_says_why_on_the_detail_page(client, subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=2)
    client.force_login(marketer)

    response = client.post(reverse("sending_resend", args=[sending.identifier]), follow=True)

    assert response.redirect_chain[-1][0] == detail_url(sending)
    assert "nobody to resend it to" in html(response)
    assert not Sending.objects.filter(source_sending=sending).exists()


def test_unschedule_and_edit_opens_the_wizard_on_the_draft(client, subaccount, marketer):
    sending = scheduled_sending(subaccount, contacts=2)
    client.force_login(marketer)

    response = client.post(reverse("sending_unschedule", args=[sending.identifier]))

    assert response.url == reverse("wizard_details", args=[sending.identifier])
    sending.refresh_from_db()
    assert sending.status == "draft"
    assert "Unscheduled" in html(client.get(detail_url(sending)))


def test_unschedule_of_a_sending_in_progress_is_refused(client, subaccount, marketer):
    sending = sending_in("sending", subaccount)
    client.force_login(marketer)

    response = client.post(reverse("sending_unschedule", args=[sending.identifier]), follow=True)

    assert "can no longer be unscheduled" in html(response)
    sending.refresh_from_db()
    assert sending.status == "sending"


# --- A stop whose rows have not caught up yet: its waiting recipients count as canceled ---------


def _counts_shown(client, sending: Sending) -> dict:
    """Every count and status a marketer sees of a stopped sending, page by page."""
    detail = html(client.get(detail_url(sending)))
    row = html(client.get(reverse("sending_row", args=[sending.identifier])))
    dialog = html(client.get(reverse("sending_batches", args=[sending.identifier])))
    canceled_page = html(client.get(detail_url(sending, "?status=canceled")))
    waiting_page = html(client.get(detail_url(sending, "?status=waiting")))
    emails = Recipient.objects.filter(sending=sending).values_list("email", flat=True)
    return {
        "row": ("3 / 10" in row, ">Canceled<" in row),
        "detail": (
            "<dt>Canceled</dt><dd>7</dd>" in detail,
            "<dt>Waiting</dt><dd>0</dd>" in detail,
            'Canceled <span class="tab-count">7</span>' in detail,
            'Waiting <span class="tab-count">0</span>' in detail,
        ),
        "dialog": ('<td class="num">3</td>' in dialog, ">Canceled</span>" in dialog),
        "canceled tab": sum(f'<th scope="row">{e}</th>' in canceled_page for e in emails),
        "waiting tab": sum(f'<th scope="row">{e}</th>' in waiting_page for e in emails),
        "export": sorted(row[3] for row in csv_rows(client.get(export_url(sending)))[1:]),
        "batch export": len(csv_rows(client.get(export_url(sending, "?batch=1&status=canceled")))),
    }


def test_waiting_recipients_of_a_stop_count_as_canceled_before_and_after_their_rows_catch_up(
    client, subaccount, marketer, support_user, settings
):
    sending = canceled_after_some(subaccount, support_user, settings, contacts=10, sent=3)
    client.force_login(marketer)
    assert Recipient.objects.filter(sending=sending, status="pending").count() == 7
    expected = {
        "row": (True, True),
        "detail": (True, True, True, True),
        "dialog": (True, True),
        "canceled tab": 7,
        "waiting tab": 0,
        "export": ["Canceled"] * 7 + ["Sent"] * 3,
        "batch export": 1 + 7,
    }

    assert _counts_shown(client, sending) == expected
    batch_services.recipients_cancel_catch_up_all()
    assert not Recipient.objects.filter(sending=sending, status="pending").exists()
    assert _counts_shown(client, sending) == expected


# --- The draft's wizard and links ----------------------------------------------------------------


def test_the_wizard_shows_the_fixed_audience_instead_of_the_lists(
    client, subaccount, marketer, support_user, settings
):
    original = canceled_after_some(subaccount, support_user, settings, contacts=10, sent=3)
    draft = followups.sending_resend_create(sending=original, actor=marketer).obj
    client.force_login(marketer)

    page = html(client.get(reverse("wizard_contacts", args=[draft.identifier])))
    after = client.post(reverse("wizard_contacts", args=[draft.identifier]), {"nav": "next"})
    schedule = client.get(reverse("wizard_schedule", args=[draft.identifier]))

    assert "<strong>7</strong> contacts who did not receive" in page
    assert original.name in page
    assert 'name="lists"' not in page
    assert after.url == reverse("wizard_schedule", args=[draft.identifier])
    assert schedule.context["form"].audience == 7


def test_the_draft_links_back_and_the_original_lists_its_followups(
    client, subaccount, marketer, support_user, settings
):
    original = canceled_after_some(subaccount, support_user, settings)
    draft = followups.sending_resend_create(sending=original, actor=marketer).obj
    client.force_login(marketer)

    draft_page = html(client.get(detail_url(draft)))
    original_page = html(client.get(detail_url(original)))

    assert "Resend of" in draft_page and original.identifier in draft_page
    assert "Follow-ups" in original_page and draft.identifier in original_page


def test_confirming_a_resend_through_the_wizard(
    client, subaccount, marketer, support_user, settings
):
    original = canceled_after_some(subaccount, support_user, settings, contacts=10, sent=3)
    draft = followups.sending_resend_create(sending=original, actor=marketer).obj
    client.force_login(marketer)
    at = timezone.now().astimezone(subaccount.zone) + timedelta(days=1)

    response = client.post(
        reverse("wizard_schedule", args=[draft.identifier]),
        {"nav": "confirm", "mode": "at", "date": f"{at:%Y-%m-%d}", "time": f"{at:%H:%M}"},
    )

    assert response.status_code == 302, response.content.decode()[-2000:]
    draft.refresh_from_db()
    assert draft.status == "scheduled"
    assert draft.total_recipients == original.total_recipients - original.sent_count


# --- Where each persona lands --------------------------------------------------------------------


def test_support_staff_land_on_cancellation_requests(client, support_user):
    client.force_login(support_user)

    response = client.get(reverse("home"))

    assert response.url == reverse("ticket_queue")


def test_support_staff_who_are_members_too_see_the_queue_link_on_every_page(
    client, subaccount, support_user
):
    MembershipFactory(user=support_user, subaccount=subaccount)
    sending = scheduled_sending(subaccount, contacts=2)
    client.force_login(support_user)

    for url in (
        reverse("sending_list", args=[subaccount.pk]),
        detail_url(sending),
        reverse("contact_lists", args=[subaccount.pk]),
        reverse("ticket_queue"),
    ):
        assert "Cancellation requests</a>" in html(client.get(url)), url


def test_marketers_do_not_see_the_queue_link(client, subaccount, marketer):
    client.force_login(marketer)

    assert "Cancellation requests" not in html(
        client.get(reverse("sending_list", args=[subaccount.pk]))
    )


def test_a_marketer_lands_on_their_home_subaccount(client, subaccount, marketer):
    home = MembershipFactory(
        user=marketer, subaccount__name="Zaragoza", subaccount__account=subaccount.account
    )
    home.is_home = True
    home.save(update_fields=["is_home"])
    client.force_login(marketer)

    assert client.get(reverse("home")).url == reverse("sending_list", args=[home.subaccount_id])


def test_the_cached_row_stops_offering_unschedule_once_a_batch_is_canceled(
    client, subaccount, marketer
):
    sending = scheduled_sending(subaccount, contacts=4, sizes=[2, None])
    client.force_login(marketer)
    list_url = reverse("sending_list", args=[subaccount.pk])
    assert "Unschedule and edit" in html(client.get(list_url))

    batch_services.batch_cancel(batch=sending.batches.get(number=2), actor=marketer)

    assert "Unschedule and edit" not in html(client.get(list_url))
