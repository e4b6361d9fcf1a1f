"""The Django admin: every model browsable, state read-only, cancel actions through the services."""

from datetime import datetime, timedelta

import pytest
from django.contrib import messages
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from batches import services as batch_services
from batches.models import Batch, BatchStatus, Recipient
from sendings import services as sending_services
from sendings.admin.sendings import SendingAdminForm
from sendings.models import (
    Account,
    Contact,
    ContactList,
    ListMembership,
    Membership,
    Sending,
    SendingEvent,
    SendingStatus,
    Subaccount,
)
from support.models import Ticket
from tests.factories import ContactListFactory, SendingFactory, scheduled_sending

pytestmark = pytest.mark.django_db


def _past() -> datetime:
    return timezone.now() - timedelta(minutes=5)


def _start(sending: Sending, number: int = 1) -> Batch:
    batch = sending.batches.get(number=number)
    assert batch_services.batch_start(batch_id=batch.pk, now=timezone.now())
    return batch


def _deliver(batch: Batch) -> None:
    ids = list(batch.recipients.values_list("pk", flat=True))
    batch_services.recipients_record_results(batch_id=batch.pk, sent=ids)
    assert batch_services.batch_finish(batch_id=batch.pk)


def _in_progress(subaccount, **kwargs) -> Sending:
    sending = scheduled_sending(subaccount, first_at=_past(), **kwargs)
    _start(sending)
    return sending


def _sent(subaccount, **kwargs) -> Sending:
    sending = scheduled_sending(subaccount, first_at=_past(), **kwargs)
    _deliver(_start(sending))
    return sending


def _canceled(subaccount, actor=None) -> Sending:
    sending = scheduled_sending(subaccount, contacts=3)
    return sending_services.sending_cancel(sending=sending, actor=actor).obj


def _messages(response) -> list[tuple[int, str]]:
    return [(m.level, str(m)) for m in response.context["messages"]]


def _change_form_data(response) -> dict:
    """What the browser would post back from a change page, untouched."""
    form = response.context["adminform"].form
    data = {"_save": "Save"}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None:
            continue
        if isinstance(value, list | tuple):
            data[name] = [getattr(v, "pk", v) for v in value]
        else:
            data[name] = getattr(value, "pk", value)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for key, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{key}"] = value
    return data


def _url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


@pytest.fixture
def world(subaccount, marketer):
    """One of everything: a sent sending with its batch, recipients and events, and a ticket."""
    sent = _sent(subaccount, contacts=3)
    in_progress = _in_progress(subaccount, contacts=3)
    ticket = Ticket.objects.create(
        sending=in_progress,
        requested_by=marketer,
        account_identifier=subaccount.account.identifier,
        sending_name=in_progress.name,
        sending_identifier=in_progress.identifier,
    )
    return {
        "sent": sent,
        "in_progress": in_progress,
        "ticket": ticket,
        "contact": Contact.objects.filter(subaccount=subaccount).first(),
        "recipient": Recipient.objects.filter(sending=sent).first(),
    }


def _objects(world) -> dict:
    sent = world["sent"]
    return {
        Account: (sent.subaccount.account, sent.subaccount.account.identifier),
        Subaccount: (sent.subaccount, "Europe/Madrid"),
        Membership: (Membership.objects.first(), "marketer"),
        Contact: (world["contact"], world["contact"].email),
        ContactList: (sent.lists.first(), sent.lists.first().name),
        ListMembership: (ListMembership.objects.first(), "@example.org"),
        Sending: (sent, sent.identifier),
        SendingEvent: (sent.events.last(), "Batch finished"),
        Batch: (sent.batches.first(), sent.name),
        Recipient: (world["recipient"], world["recipient"].email),
        Ticket: (world["ticket"], world["ticket"].sending_identifier),
    }


def test_every_changelist_and_change_page_renders_with_data(admin_client, world):
    for model, (obj, text) in _objects(world).items():
        response = admin_client.get(_url(model, "changelist"))
        assert response.status_code == 200, model
        assert text in response.text, model
        response = admin_client.get(_url(model, "change", obj.pk))
        assert response.status_code == 200, model


def test_read_only_models_have_no_add_page(admin_client, world):
    for model in (Batch, Recipient, SendingEvent, Ticket):
        assert admin_client.get(_url(model, "add")).status_code == 403, model
    for model in (Sending, Contact, ContactList, Account, Subaccount, Membership):
        assert admin_client.get(_url(model, "add")).status_code == 200, model


def test_audit_trail_and_recipients_cannot_be_changed_or_deleted(admin_client, world):
    event = world["sent"].events.first()
    response = admin_client.post(_url(SendingEvent, "change", event.pk), {"actor_label": "x"})
    assert response.status_code == 403
    assert admin_client.get(_url(SendingEvent, "delete", event.pk)).status_code == 403
    recipient = world["recipient"]
    assert admin_client.get(_url(Recipient, "delete", recipient.pk)).status_code == 403
    batch = world["sent"].batches.first()
    assert admin_client.get(_url(Batch, "delete", batch.pk)).status_code == 403


@pytest.mark.parametrize(
    ("model", "query", "expected", "count"),
    [
        (Sending, lambda w: w["sent"].identifier, lambda w: w["sent"].name, 1),
        (Sending, lambda w: w["sent"].subaccount.account.identifier, lambda w: w["sent"].name, 2),
        (Recipient, lambda w: w["recipient"].email, lambda w: w["recipient"].email, 1),
        (Recipient, lambda w: w["sent"].identifier, lambda w: w["recipient"].email, 3),
        (Contact, lambda w: w["contact"].email.upper(), lambda w: w["contact"].email, 1),
        (Batch, lambda w: w["sent"].identifier, lambda w: w["sent"].name, 1),
        (Ticket, lambda w: w["ticket"].sending_identifier, lambda w: w["ticket"].sending_name, 1),
        (SendingEvent, lambda w: w["sent"].identifier, lambda w: "Batch finished", 3),
        (Account, lambda w: w["sent"].subaccount.account.identifier, lambda w: "Acme Marketing", 1),
    ],
)
def test_search_finds_the_row(admin_client, world, model, query, expected, count):
    response = admin_client.get(_url(model, "changelist"), {"q": query(world)})
    assert response.status_code == 200
    assert response.context["cl"].result_count == count
    assert expected(world) in response.text


def test_sending_search_by_unknown_identifier_finds_nothing(admin_client, world):
    response = admin_client.get(_url(Sending, "changelist"), {"q": "SND-NOPE"})
    assert response.context["cl"].result_count == 0


def test_sending_changelist_stays_cheap(
    admin_client, subaccount, other_subaccount, django_assert_max_num_queries
):
    for sub in (subaccount, other_subaccount, subaccount, other_subaccount):
        scheduled_sending(sub, contacts=2)
    # Session, user, subaccount filter, count, page: no query per row.
    with django_assert_max_num_queries(6):
        response = admin_client.get(_url(Sending, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].show_full_result_count is False


def test_cancel_action_reports_each_sending_with_its_outcome(admin_client, subaccount, marketer):
    scheduled = scheduled_sending(subaccount, contacts=3, sizes=[1, None])
    in_progress = _in_progress(subaccount, contacts=3)
    sent = _sent(subaccount, contacts=3)
    canceled = _canceled(subaccount, actor=marketer)
    draft = SendingFactory(subaccount=subaccount)
    selected = [scheduled, in_progress, sent, canceled, draft]

    response = admin_client.post(
        _url(Sending, "changelist"),
        {"action": "cancel_selected_sendings", "_selected_action": [s.pk for s in selected]},
        follow=True,
    )

    assert response.status_code == 200
    statuses = {s.pk: s.status for s in Sending.objects.filter(pk__in=[s.pk for s in selected])}
    assert statuses == {
        scheduled.pk: SendingStatus.CANCELED,
        in_progress.pk: SendingStatus.SENDING,
        sent.pk: SendingStatus.SENT,
        canceled.pk: SendingStatus.CANCELED,
        draft.pk: SendingStatus.DRAFT,
    }
    shown = _messages(response)
    assert shown[0] == (
        messages.SUCCESS,
        f"Canceled: {scheduled.name} ({scheduled.identifier}).",
    )
    assert shown[1] == (
        messages.INFO,
        f"Already canceled, nothing to do: {canceled.name} ({canceled.identifier}).",
    )
    refusals = shown[2:]
    assert [level for level, _ in refusals] == [messages.WARNING] * 3
    in_progress_text, sent_text, draft_text = (text for _, text in refusals)
    assert in_progress_text.startswith(f"Not canceled: “{in_progress.name}” is being sent right")
    assert "urgent cancellation" in in_progress_text
    assert in_progress_text.endswith(f"({in_progress.identifier})")
    assert sent_text.startswith(f"Not canceled: “{sent.name}” has already been sent")
    assert draft_text.startswith(f"Not canceled: “{draft.name}” is a draft")
    # The service recorded who canceled it, and nobody in it will receive the message.
    event = SendingEvent.objects.filter(sending=scheduled).last()
    assert (event.kind, event.actor_label) == (SendingEvent.Kind.CANCELED, "admin")
    assert scheduled.recipients.counted_as("pending", "sent", "failed").count() == 0


def test_cancel_action_on_the_change_page(admin_client, subaccount):
    sending = scheduled_sending(subaccount, contacts=2)
    url = _url(Sending, "change", sending.pk)
    response = admin_client.post(
        url,
        {"CHANGE_FORM-action": "cancel_selected_sendings", "_selected_action": [sending.pk]},
        follow=True,
    )
    assert response.status_code == 200
    sending.refresh_from_db()
    assert sending.status == SendingStatus.CANCELED
    assert _messages(response) == [
        (messages.SUCCESS, f"Canceled: {sending.name} ({sending.identifier}).")
    ]


def test_cancel_batches_action_reports_each_batch(admin_client, subaccount):
    # Batch 1 sent, batch 2 scheduled, batch 3 already canceled: the sending goes on.
    multi = scheduled_sending(subaccount, contacts=6, sizes=[2, 2, None], first_at=_past())
    _deliver(_start(multi, 1))
    third = multi.batches.get(number=3)
    batch_services.batch_cancel(batch=third, actor=None)
    running = _in_progress(subaccount, contacts=2)
    first, second = multi.batches.get(number=1), multi.batches.get(number=2)
    running_batch = running.batches.get()

    response = admin_client.post(
        _url(Batch, "changelist"),
        {
            "action": "cancel_selected_batches",
            "_selected_action": [b.pk for b in (first, second, third, running_batch)],
        },
        follow=True,
    )

    assert response.status_code == 200
    statuses = dict(Batch.objects.values_list("pk", "status"))
    assert statuses[first.pk] == BatchStatus.SENT
    assert statuses[second.pk] == BatchStatus.CANCELED
    assert statuses[third.pk] == BatchStatus.CANCELED
    assert statuses[running_batch.pk] == BatchStatus.SENDING
    multi.refresh_from_db()
    assert multi.status == SendingStatus.CANCELED
    assert (multi.sent_count, multi.canceled_count) == (2, 4)
    label = f"of “{multi.name}” ({multi.identifier})"
    assert _messages(response) == [
        (messages.SUCCESS, f"Canceled: Batch 2 {label}."),
        (messages.INFO, f"Already canceled, nothing to do: Batch 3 {label}."),
        (
            messages.WARNING,
            f"Not canceled: Batch 1 of “{multi.name}” has already been sent. ({multi.identifier})",
        ),
        (
            messages.WARNING,
            f"Not canceled: Batch 1 of “{running.name}” is being sent right now and can no "
            "longer be canceled here. Request an urgent cancellation from support. "
            f"({running.identifier})",
        ),
    ]


def test_status_and_counters_of_a_scheduled_sending_cannot_be_posted(admin_client, subaccount):
    sending = scheduled_sending(subaccount, contacts=3, sizes=[1, None])
    url = _url(Sending, "change", sending.pk)
    data = _change_form_data(admin_client.get(url))
    data.update(
        name="Renamed",
        subject="New subject",
        status="draft",
        total_recipients=0,
        sent_count=3,
        canceled_count=0,
        batch_count=1,
        identifier="SND-HACKED",
        scheduled_at="2000-01-01 00:00:00",
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302
    after = Sending.objects.get(pk=sending.pk)
    for field in ("name", "subject", "status", "identifier", "scheduled_at", "batch_count"):
        assert getattr(after, field) == getattr(sending, field), field
    counts = ("total_recipients", "sent_count", "failed_count", "canceled_count")
    assert [getattr(after, f) for f in counts] == [3, 0, 0, 0]
    assert after.batches.count() == 2


def test_saving_a_sending_does_not_overwrite_counters_written_meanwhile(admin_client, subaccount):
    sending = scheduled_sending(subaccount, contacts=2, first_at=_past())
    url = _url(Sending, "change", sending.pk)
    data = _change_form_data(admin_client.get(url))
    # The dispatcher delivers between the page load and the save.
    _deliver(_start(sending))

    assert admin_client.post(url, data).status_code == 302

    sending.refresh_from_db()
    assert (sending.status, sending.sent_count) == (SendingStatus.SENT, 2)


def test_a_draft_can_be_edited_but_not_with_another_subaccounts_lists(
    admin_client, subaccount, other_subaccount
):
    draft = SendingFactory(subaccount=subaccount, name="Draft")
    own = ContactListFactory(subaccount=subaccount, name="Own list")
    foreign = ContactListFactory(subaccount=other_subaccount, name="Foreign list")
    url = _url(Sending, "change", draft.pk)
    data = _change_form_data(admin_client.get(url))

    response = admin_client.post(url, {**data, "lists": [own.pk, foreign.pk]})
    assert response.status_code == 200
    assert "These lists belong to another subaccount: Foreign list." in response.text

    response = admin_client.post(url, {**data, "name": "Spring offers", "lists": [own.pk]})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.name == "Spring offers"
    assert list(draft.lists.all()) == [own]
    assert draft.subaccount == subaccount


def test_a_draft_confirmed_while_its_page_was_open_keeps_its_content(admin_client, subaccount):
    draft = SendingFactory(subaccount=subaccount, name="Draft")
    draft.lists.add(ContactListFactory(subaccount=subaccount))
    url = _url(Sending, "change", draft.pk)
    data = _change_form_data(admin_client.get(url))
    Contact.objects.create(subaccount=subaccount, email="ana@example.org")
    ListMembership.objects.create(contact_list=draft.lists.get(), contact=Contact.objects.get())
    sending_services.sending_confirm(
        sending=draft, batches=[sending_services.BatchPlan(scheduled_at=timezone.now())], actor=None
    )

    response = admin_client.post(url, {**data, "name": "Too late"}, follow=True)

    assert response.status_code == 200
    assert (
        messages.WARNING,
        "“Draft” is no longer a draft, so its content was not changed.",
    ) in _messages(response)
    draft.refresh_from_db()
    assert (draft.name, draft.status) == ("Draft", SendingStatus.SCHEDULED)


def test_draft_form_rechecks_the_status_under_the_row_lock(subaccount):
    draft = SendingFactory(subaccount=subaccount, name="Draft")
    stale = Sending.objects.get(pk=draft.pk)  # as the admin loaded it
    Sending.objects.filter(pk=draft.pk).update(
        status=SendingStatus.SCHEDULED, batch_count=1, scheduled_at=timezone.now()
    )
    form = SendingAdminForm(data={"subaccount": subaccount.pk, "name": "Too late"}, instance=stale)
    with transaction.atomic():
        assert not form.is_valid()
    assert "This sending was scheduled meanwhile" in str(form.non_field_errors())


def test_adding_a_sending_creates_a_draft_by_the_admin(admin_client, admin_user, subaccount):
    contact_list = ContactListFactory(subaccount=subaccount)
    response = admin_client.post(
        _url(Sending, "add"),
        {
            "subaccount": subaccount.pk,
            "name": "From the admin",
            "subject": "Hi",
            "from_email": "news@acme.example",
            "text_body": "Hello",
            "lists": [contact_list.pk],
            "batches-TOTAL_FORMS": 0,
            "batches-INITIAL_FORMS": 0,
            "status": "sent",
            "sent_count": 5,
        },
    )
    assert response.status_code == 302
    sending = Sending.objects.get(name="From the admin")
    assert sending.status == SendingStatus.DRAFT
    assert sending.created_by == admin_user
    assert (sending.sent_count, sending.batch_count) == (0, 0)
    assert sending.identifier.startswith("SND-")


def test_only_drafts_can_be_deleted(admin_client, subaccount):
    scheduled = scheduled_sending(subaccount, contacts=2)
    draft = SendingFactory(subaccount=subaccount)

    assert admin_client.get(_url(Sending, "delete", scheduled.pk)).status_code == 403
    assert (
        admin_client.post(_url(Sending, "delete", scheduled.pk), {"post": "yes"}).status_code == 403
    )
    assert Sending.objects.filter(pk=scheduled.pk).exists()

    assert admin_client.get(_url(Sending, "delete", draft.pk)).status_code == 200
    assert admin_client.post(_url(Sending, "delete", draft.pk), {"post": "yes"}).status_code == 302
    assert not Sending.objects.filter(pk=draft.pk).exists()


def _action_names(response) -> list[str]:
    action_form = response.context["action_form"]
    if action_form is None:
        return []
    return [name for name, _ in action_form.fields["action"].choices if name]


def test_bulk_delete_is_not_offered(admin_client, world):
    expected = {
        Sending: ["cancel_selected_sendings"],
        Batch: ["cancel_selected_batches"],
        Recipient: [],
        SendingEvent: [],
        Ticket: ["stop_selected", "resume_selected", "decline_selected"],
    }
    for model, actions in expected.items():
        response = admin_client.get(_url(model, "changelist"))
        assert _action_names(response) == actions, model


def test_contact_email_is_stored_lower_case(admin_client, subaccount):
    response = admin_client.post(
        _url(Contact, "add"),
        {"subaccount": subaccount.pk, "email": " Ana.Garcia@Example.ORG ", "name": "Ana"},
    )
    assert response.status_code == 302
    assert Contact.objects.get(name="Ana").email == "ana.garcia@example.org"

    # The same address in other case is a duplicate, reported on the form.
    response = admin_client.post(
        _url(Contact, "add"), {"subaccount": subaccount.pk, "email": "ANA.GARCIA@example.org"}
    )
    assert response.status_code == 200
    assert Contact.objects.filter(subaccount=subaccount).count() == 1


def test_contact_list_shows_member_count(admin_client, subaccount):
    sending = scheduled_sending(subaccount, contacts=7)
    contact_list = sending.lists.get()
    response = admin_client.get(_url(ContactList, "changelist"))
    row = next(r for r in response.context["cl"].result_list if r.pk == contact_list.pk)
    assert row._member_count == 7
    assert f'?contact_list__id__exact={contact_list.pk}">7</a>' in response.text


def test_sending_page_shows_batches_and_recent_events(admin_client, subaccount):
    sending = scheduled_sending(subaccount, contacts=4, sizes=[2, None])
    response = admin_client.get(_url(Sending, "change", sending.pk))
    assert response.status_code == 200
    batches = response.context["inline_admin_formsets"][0].formset
    assert [form.instance.number for form in batches.forms] == [1, 2]
    assert "Scheduled for 4 contacts in 2 batches." in response.text
    events_url = _url(SendingEvent, "changelist") + f"?sending__id__exact={sending.pk}"
    assert admin_client.get(events_url).context["cl"].result_count == 1


def test_ticket_age_filter(admin_client, world):
    ticket = world["ticket"]
    url = _url(Ticket, "changelist")
    for age, created_at, found in [
        ("lt1h", timezone.now() - timedelta(minutes=5), True),
        ("1h-24h", timezone.now() - timedelta(minutes=5), False),
        ("1h-24h", timezone.now() - timedelta(hours=3), True),
        ("gt24h", timezone.now() - timedelta(hours=3), False),
        ("gt24h", timezone.now() - timedelta(days=2), True),
    ]:
        Ticket.objects.filter(pk=ticket.pk).update(created_at=created_at)
        response = admin_client.get(url, {"age": age})
        assert (response.context["cl"].result_count == 1) is found, age
