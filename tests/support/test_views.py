"""The request dialog, the support queue and ticket page, the admin actions: every persona."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from support import services
from support.models import Ticket
from tests.factories import UserFactory
from tests.sendings.conftest import sending_in

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def request_url(sending) -> str:
    return reverse("ticket_request", args=[sending.identifier])


def list_url(sending) -> str:
    return reverse("sending_list", args=[sending.subaccount_id])


@pytest.fixture
def ticket(in_progress, marketer) -> Ticket:
    return services.ticket_file(sending=in_progress, requester=marketer, message="Wrong list")[0]


# --- The marketer's request ---------------------------------------------------------------------


def test_the_sending_row_menu_offers_the_request(client, marketer, in_progress):
    client.force_login(marketer)
    page = client.get(list_url(in_progress)).content.decode()
    assert "Request urgent cancellation" in page
    assert f'action="/sendings/{in_progress.identifier}/urgent-cancel/"' in page


def test_the_dialog_is_filled_in_and_warns_that_received_messages_stay(
    client, marketer, in_progress
):
    client.force_login(marketer)
    response = client.get(request_url(in_progress), **HTMX)
    page = response.content.decode()
    assert response.status_code == 200
    for shown in [
        in_progress.subaccount.account.identifier,
        "Black Friday",
        in_progress.identifier,
        "1 / 6",
        "Contacts who already received the message cannot be recovered.",
        "Send urgent request",
        'name="message"',
    ]:
        assert shown in page
    assert "<html" not in page  # the dialog's content only


def test_without_javascript_the_request_is_a_page_of_its_own(client, marketer, in_progress):
    client.force_login(marketer)
    page = client.get(request_url(in_progress), {"next": list_url(in_progress)}).content.decode()
    assert "<html" in page
    assert "Send urgent request" in page
    assert f'<a class="button" href="{list_url(in_progress)}">Keep sending</a>' in page


def test_the_detail_page_offers_the_request_while_sending(client, marketer, in_progress):
    client.force_login(marketer)
    page = client.get(reverse("sending_detail", args=[in_progress.identifier])).content.decode()
    assert "Request urgent cancellation" in page
    assert f'action="{request_url(in_progress)}"' in page


def test_a_small_sending_is_explained_up_front_without_a_submit(
    client, marketer, subaccount, settings
):
    settings.SMALL_SENDING_MAX_RECIPIENTS = 1000
    sending = sending_in("sending", subaccount)
    client.force_login(marketer)
    page = client.get(request_url(sending), **HTMX).content.decode()
    assert "Small sendings can't be stopped." in page
    assert "cannot be recovered" in page
    assert "Send urgent request" not in page


def test_filing_from_the_dialog_labels_the_row(client, marketer, in_progress):
    client.force_login(marketer)
    response = client.post(
        request_url(in_progress), {"message": "Wrong list", "next": list_url(in_progress)}, **HTMX
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert response.headers["HX-Trigger"].startswith('{"sendingChanged"')
    assert f'id="row-{in_progress.identifier}"' in page
    assert "Cancellation requested" in page
    assert "Support has your urgent request" in page
    ticket = Ticket.objects.get()
    assert (ticket.message, ticket.requested_by) == ("Wrong list", marketer)


def test_filing_without_javascript_redirects_with_the_message(client, marketer, in_progress):
    client.force_login(marketer)
    response = client.post(request_url(in_progress), {"next": list_url(in_progress)}, follow=True)
    assert response.redirect_chain == [(list_url(in_progress), 302)]
    assert "Support has your urgent request" in response.content.decode()
    assert "Cancellation requested" in response.content.decode()


def test_filing_twice_says_so_and_keeps_one_ticket(client, marketer, in_progress, ticket):
    client.force_login(marketer)
    response = client.post(request_url(in_progress), **HTMX)
    assert response.status_code == 200
    assert "Support already has a request" in response.content.decode()
    assert Ticket.objects.count() == 1


def test_the_dialog_of_a_requested_sending_offers_no_second_request(
    client, marketer, in_progress, ticket
):
    client.force_login(marketer)
    page = client.get(request_url(in_progress), **HTMX).content.decode()
    assert "Support already has your request" in page
    assert "Send urgent request" not in page


def test_filing_for_a_sending_that_finished_is_refused_with_409(client, marketer, subaccount):
    sent = sending_in("sent", subaccount)
    client.force_login(marketer)
    response = client.post(request_url(sent), **HTMX)
    assert response.status_code == 409
    assert "nothing left to stop" in response.content.decode()
    assert not Ticket.objects.exists()


def test_a_too_long_message_is_an_error_at_the_field(client, marketer, in_progress):
    client.force_login(marketer)
    response = client.post(request_url(in_progress), {"message": "x" * 2001}, **HTMX)
    assert response.status_code == 400
    assert "at most 2000 characters" in response.content.decode()
    assert not Ticket.objects.exists()


def test_viewers_cannot_file(client, viewer, in_progress):
    client.force_login(viewer)
    assert client.get(request_url(in_progress)).status_code == 403
    assert client.post(request_url(in_progress)).status_code == 403
    page = client.get(list_url(in_progress)).content.decode()
    assert "Request urgent cancellation" not in page
    assert not Ticket.objects.exists()


def test_outsiders_get_404_and_anonymous_users_the_login(client, outsider, in_progress):
    assert client.post(request_url(in_progress)).status_code == 302
    client.force_login(outsider)
    assert client.get(request_url(in_progress)).status_code == 404
    assert client.post(request_url(in_progress)).status_code == 404
    assert not Ticket.objects.exists()


def test_the_outcome_shows_on_the_row_and_the_detail_page(
    client, marketer, support_user, in_progress, ticket
):
    services.ticket_stop_sending(ticket=ticket, actor=support_user)
    client.force_login(marketer)
    row = client.get(reverse("sending_row", args=[in_progress.identifier])).content.decode()
    assert "Stopped by support · 1 of 6 received" in row
    assert ">Canceled<" in row
    detail = client.get(reverse("sending_detail", args=[in_progress.identifier])).content.decode()
    assert "Stopped by support: 1 of 6 contacts had received it." in detail


def test_a_declined_request_shows_its_reason_on_the_row(
    client, marketer, support_user, in_progress, ticket
):
    services.ticket_decline(ticket=ticket, actor=support_user, reason="Almost done")
    client.force_login(marketer)
    page = client.get(list_url(in_progress)).content.decode()
    assert "Cancellation declined: Almost done" in page
    assert "Request urgent cancellation" in page  # they may ask again


# --- Support pages --------------------------------------------------------------------------


SUPPORT_PAGES = ["ticket_queue", "ticket_detail"]


def support_urls(ticket) -> dict[str, str]:
    return {
        "ticket_queue": reverse("ticket_queue"),
        "ticket_detail": reverse("ticket_detail", args=[ticket.pk]),
        "ticket_stop": reverse("ticket_stop", args=[ticket.pk]),
        "ticket_decline": reverse("ticket_decline", args=[ticket.pk]),
    }


@pytest.mark.parametrize("persona", ["marketer", "viewer", "outsider", "staff"])
def test_support_pages_are_403_outside_the_support_group(client, request, persona, ticket):
    user = UserFactory(is_staff=True) if persona == "staff" else request.getfixturevalue(persona)
    client.force_login(user)
    urls = support_urls(ticket)
    for name in SUPPORT_PAGES:
        assert client.get(urls[name]).status_code == 403, name
    for name in ["ticket_stop", "ticket_decline"]:
        assert client.post(urls[name], {"reason": "no"}).status_code == 403, name
    ticket.refresh_from_db()
    assert ticket.status == "open"


def test_support_pages_send_anonymous_users_to_the_login(client, ticket):
    for url in support_urls(ticket).values():
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_the_queue_lists_open_requests_oldest_first_with_progress(
    client, support_user, subaccount, marketer, stoppable, ticket
):
    newer = sending_in("sending", subaccount, name="Cyber Monday")
    services.ticket_file(sending=newer, requester=marketer)
    client.force_login(support_user)
    page = client.get(reverse("ticket_queue")).content.decode()
    assert page.index("Black Friday") < page.index("Cyber Monday")
    assert "1 / 6" in page
    assert " s ago" in page
    assert 'hx-trigger="every 2s"' in page
    assert "Cancellation requests" in page  # the sidebar link, current
    fragment = client.get(reverse("ticket_queue"), **HTMX).content.decode()
    assert fragment.lstrip().startswith('<section id="queue"')


def test_the_ticket_page_stops_the_sending(client, support_user, in_progress, ticket):
    client.force_login(support_user)
    page = client.get(reverse("ticket_detail", args=[ticket.pk])).content.decode()
    assert "Yes, stop sending" in page
    assert "Wrong list" in page
    response = client.post(reverse("ticket_stop", args=[ticket.pk]), follow=True)
    assert "is stopped: 1 of 6 contacts had received it" in response.content.decode()
    ticket.refresh_from_db()
    in_progress.refresh_from_db()
    assert (ticket.status, ticket.handled_by, in_progress.status) == (
        "stopped",
        support_user,
        "canceled",
    )


def test_declining_needs_a_reason(client, support_user, in_progress, ticket):
    client.force_login(support_user)
    response = client.post(reverse("ticket_decline", args=[ticket.pk]), {"reason": " "})
    assert response.status_code == 400
    assert "Give a reason for declining" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == "open"

    response = client.post(
        reverse("ticket_decline", args=[ticket.pk]), {"reason": "Small sending"}, follow=True
    )
    assert "was declined" in response.content.decode()
    ticket.refresh_from_db()
    assert (ticket.status, ticket.outcome_note) == ("declined", "Small sending")


def test_stopping_a_declined_ticket_is_refused_with_its_reason(
    client, support_user, in_progress, ticket
):
    services.ticket_decline(ticket=ticket, actor=support_user, reason="No")
    client.force_login(support_user)
    response = client.post(reverse("ticket_stop", args=[ticket.pk]), follow=True)
    assert "already closed: declined" in response.content.decode()
    in_progress.refresh_from_db()
    assert in_progress.status == "sending"


def test_an_unknown_ticket_is_404(client, support_user):
    client.force_login(support_user)
    assert client.get(reverse("ticket_detail", args=[999])).status_code == 404


# --- Admin ----------------------------------------------------------------------------------


def test_admin_stop_action_goes_through_the_service(admin_client, in_progress, ticket):
    response = admin_client.post(
        reverse("admin:support_ticket_changelist"),
        {"action": "stop_selected", "_selected_action": [ticket.pk]},
        follow=True,
    )
    assert "Stopped: #" in response.content.decode()
    ticket.refresh_from_db()
    in_progress.refresh_from_db()
    assert (ticket.status, ticket.received_at_stop, in_progress.status) == (
        "stopped",
        1,
        "canceled",
    )


def test_admin_decline_action_asks_for_the_reason_first(admin_client, in_progress, ticket):
    url = reverse("admin:support_ticket_changelist")
    form = admin_client.post(url, {"action": "decline_selected", "_selected_action": [ticket.pk]})
    assert form.status_code == 200
    assert "Reason, emailed to the customer" in form.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == "open"

    admin_client.post(
        url,
        {"action": "decline_selected", "_selected_action": [ticket.pk], "reason": "Too late"},
    )
    ticket.refresh_from_db()
    assert (ticket.status, ticket.outcome_note) == ("declined", "Too late")


def test_admin_actions_need_the_support_group(client, in_progress, ticket):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_ticket"))
    client.force_login(staff)
    url = reverse("admin:support_ticket_changelist")
    page = client.get(url).content.decode()
    assert "stop_selected" not in page
    client.post(url, {"action": "stop_selected", "_selected_action": [ticket.pk]})
    ticket.refresh_from_db()
    assert ticket.status == "open"
