from datetime import timedelta
from io import StringIO

import pytest
from django.conf import global_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, identify_hasher
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from batches.models import Batch, Recipient
from sendings import demo
from sendings.models import (
    Account,
    Contact,
    ContactList,
    ListMembership,
    Membership,
    Sending,
    SendingEvent,
    Subaccount,
)
from sendings.services import sending_cancel
from tests.factories import SendingFactory
from tests.invariants import assert_counts_add_up

User = get_user_model()
SNAPSHOT_MODELS = [
    Account,
    Subaccount,
    Group,
    User,
    User.groups.through,
    Membership,
    Contact,
    ContactList,
    ListMembership,
    Sending,
    Sending.lists.through,
    Batch,
    Recipient,
    SendingEvent,
]


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table the seed writes, every column, timestamps included."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values_list())
        for model in SNAPSHOT_MODELS
    }


def seed(**options) -> str:
    """The command as `make run` runs it (the suite itself runs with DEBUG off)."""
    out = StringIO()
    call_command("seed_demo", stdout=out, **{"allow_production": True, **options})
    return out.getvalue()


@pytest.mark.django_db
def test_seeding_with_debug_off_is_refused_unless_allowed(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="--allow-production"):
        call_command("seed_demo", stdout=StringIO())

    assert not User.objects.filter(username="admin").exists()
    seed(allow_production=True)
    assert User.objects.filter(username="admin", is_superuser=True).exists()


def demo_sending(number: int) -> Sending:
    return Sending.objects.get(identifier=f"SND-DEMO{number:08d}")


@pytest.mark.django_db
def test_seeding_twice_leaves_exactly_the_same_data():
    first_output = seed()
    before = snapshot()
    second_output = seed()

    assert snapshot() == before
    assert "created" in first_output
    assert "nothing changed" in second_output
    assert len(before["sendings.Sending"]) == len(demo.DEMO_SENDINGS)
    assert len(before["sendings.Contact"]) > 5_000


@pytest.mark.django_db
def test_seeding_again_keeps_what_users_changed():
    seed()
    demo_user = User.objects.get(username="marketer")
    demo_user.set_password("my-own-password")
    demo_user.save(update_fields=["password"])
    sending_cancel(sending=demo_sending(1), actor=demo_user)
    own = SendingFactory(subaccount=Subaccount.objects.get(name="Spain"))
    before = snapshot()

    seed()

    assert snapshot() == before
    assert demo_sending(1).status == "canceled"
    assert User.objects.get(username="marketer").check_password("my-own-password")
    assert Sending.objects.filter(pk=own.pk).exists()


@pytest.mark.django_db
def test_demo_shows_every_scenario_of_the_help_page():
    started = timezone.now()
    seed()
    now = timezone.now()
    statuses = {s.name: s.status for s in Sending.objects.all()}

    assert set(statuses.values()) == {"draft", "scheduled", "sent", "canceled"}
    # Scheduled for days to come, one batch.
    spring = demo_sending(1)
    assert (spring.status, spring.batch_count) == ("scheduled", 1)
    assert spring.scheduled_at > now + timedelta(days=1)
    # In batches: three, the first already delivered, the other two to come.
    monthly = demo_sending(2)
    batches = list(monthly.batches.order_by("number"))
    assert monthly.status == "scheduled"
    assert [b.status for b in batches] == ["sent", "scheduled", "scheduled"]
    assert batches[0].scheduled_at < now < batches[1].scheduled_at < batches[2].scheduled_at
    assert monthly.sent_count == batches[0].sent_count == batches[0].recipient_count
    # In progress: the large sending is due moments after the seed, for the dispatcher.
    large = demo_sending(5)
    assert large.name == "Weekly digest (large)"
    assert large.status == "scheduled"
    assert started < large.scheduled_at <= now + timedelta(seconds=31)
    assert not large.is_small
    # Sent; two addresses bounced, and the Sent column says so.
    welcome = demo_sending(3)
    assert welcome.status == "sent"
    assert (welcome.sent_count, welcome.failed_count) == (welcome.total_recipients - 2, 2)
    # Canceled before it went out: nobody received it.
    teaser = demo_sending(4)
    assert (teaser.status, teaser.sent_count) == ("canceled", 0)
    assert teaser.canceled_count == teaser.total_recipients
    # Partly delivered, then the last batch canceled.
    clearance = demo_sending(6)
    assert clearance.status == "canceled"
    assert 0 < clearance.sent_count < clearance.total_recipients
    assert demo_sending(7).status == "draft"
    assert set(
        Sending.objects.filter(subaccount__name="Mexico").values_list("status", flat=True)
    ) == {"sent", "scheduled"}


@pytest.mark.django_db
def test_demo_audiences_skip_unsubscribed_and_count_each_person_once():
    seed()
    people = set(range(0, 1200)) | set(range(1150, 1300))  # Newsletter + VIP customers
    expected = sum(not demo._is_unsubscribed(i) for i in people)

    assert demo_sending(4).total_recipients == expected
    assert Contact.objects.filter(lists__name="VIP customers", unsubscribed=True).count() >= 3


@pytest.mark.django_db
def test_demo_counters_add_up_and_every_change_is_in_the_audit_trail():
    seed()

    assert_counts_add_up()
    for sending in Sending.objects.exclude(status="draft"):
        assert sending.events.filter(kind="confirmed").count() == 1
    kinds = list(demo_sending(2).events.values_list("kind", flat=True))
    assert kinds == ["confirmed", "batch_started", "batch_finished"]
    assert demo_sending(4).events.filter(kind="canceled", actor_label="marketer").exists()


@pytest.mark.django_db
def test_demo_users_can_log_in_with_the_printed_passwords(client):
    output = seed()

    for spec in demo.DEMO_USERS:
        assert f"{spec.username}  " in output and spec.password in output
        # Through the login page, as a person does (and as the login throttling sees it).
        client.post(reverse("login"), {"username": spec.username, "password": spec.password})
        assert client.session.get("_auth_user_id"), spec.username
        client.logout()
    assert demo.ACCOUNT_IDENTIFIER in output and demo.URL in output
    roles = set(Membership.objects.values_list("user__username", "subaccount__name", "role"))
    assert roles == {
        ("marketer", "Spain", "marketer"),
        ("marketer", "Mexico", "marketer"),
        ("viewer", "Spain", "viewer"),
    }
    support = User.objects.get(username="support")
    assert support.is_staff and support.groups.filter(name="support").exists()
    assert User.objects.get(username="admin").is_superuser


@pytest.mark.django_db
def test_demo_passwords_work_with_the_production_hasher(settings):
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    seed()

    for spec in demo.DEMO_USERS:
        encoded = User.objects.get(username=spec.username).password
        assert encoded.startswith("pbkdf2_sha256$")
        assert check_password(spec.password, encoded)
        # Light on purpose; Django rehashes it at full strength on the first login.
        assert identify_hasher(encoded).must_update(encoded)


@pytest.mark.django_db
def test_the_sending_in_progress_lasts_at_least_half_an_hour():
    seed()
    large = demo_sending(5)

    assert large.total_recipients / large.subaccount.send_rate_limit >= 30 * 60


@pytest.mark.django_db
def test_the_demo_marketer_lands_on_the_subaccount_with_every_scenario(client):
    seed()
    client.force_login(User.objects.get(username="marketer"))

    spain = Subaccount.objects.get(name="Spain")
    assert client.get(reverse("home")).url == reverse("sending_list", args=[spain.pk])


@pytest.mark.django_db
def test_demo_support_lands_on_cancellation_requests(client):
    seed()
    client.force_login(User.objects.get(username="support"))

    assert client.get(reverse("home")).url == reverse("ticket_queue")


@pytest.mark.django_db
def test_seeding_says_how_to_see_the_sending_in_progress_again_once_it_finished():
    seed()
    assert "sent so far" in demo.in_progress_note()
    large = demo_sending(5)
    sending_cancel(sending=large, actor=None)

    output = seed()

    assert "make reset-demo" in output
