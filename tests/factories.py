from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from sendings import services
from sendings.models import (
    Account,
    Contact,
    ContactList,
    ListMembership,
    Membership,
    Sending,
    Subaccount,
)

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")


class SubaccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subaccount

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"Subaccount {n}")
    time_zone = "Europe/Madrid"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    subaccount = factory.SubFactory(SubaccountFactory)
    role = Membership.Role.MARKETER


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    subaccount = factory.SubFactory(SubaccountFactory)
    email = factory.Sequence(lambda n: f"contact{n}@example.org")
    name = factory.Sequence(lambda n: f"Contact {n}")


class ContactListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactList

    subaccount = factory.SubFactory(SubaccountFactory)
    name = factory.Sequence(lambda n: f"List {n}")


class SendingFactory(factory.django.DjangoModelFactory):
    """A draft with complete content, ready to confirm."""

    class Meta:
        model = Sending

    subaccount = factory.SubFactory(SubaccountFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    subject = "Our spring offers"
    from_name = "Acme"
    from_email = "news@acme.example"
    html_body = "<p>Hello {{ name }}</p>"
    text_body = "Hello {{ name }}"


def contact_list_with(subaccount: Subaccount, count: int, *, name: str | None = None, start=0):
    """A list of `count` fresh contacts (bulk-created: fast enough for thousands)."""
    contact_list = ContactListFactory(subaccount=subaccount, **({"name": name} if name else {}))
    prefix = f"l{contact_list.pk}-"
    contacts = Contact.objects.bulk_create(
        Contact(subaccount=subaccount, email=f"{prefix}{i}@example.org", name=f"Person {i}")
        for i in range(start, start + count)
    )
    if any(c.pk is None for c in contacts):  # SQLite returns no ids from bulk_create
        contacts = Contact.objects.filter(email__startswith=prefix, subaccount=subaccount)
    ListMembership.objects.bulk_create(
        ListMembership(contact_list=contact_list, contact=c) for c in contacts
    )
    return contact_list


def scheduled_sending(
    subaccount: Subaccount,
    *,
    contacts: int = 10,
    sizes: list[int | None] | None = None,
    first_at=None,
    every: timedelta = timedelta(hours=1),
    actor=None,
) -> Sending:
    """A confirmed sending of `contacts` recipients in batches of `sizes` (default: one batch)."""
    sizes = sizes or [None]
    first_at = first_at or timezone.now() + timedelta(days=1)
    sending = SendingFactory(subaccount=subaccount)
    sending.lists.add(contact_list_with(subaccount, contacts))
    plans = [
        services.BatchPlan(scheduled_at=first_at + i * every, recipient_count=size)
        for i, size in enumerate(sizes)
    ]
    # Through the module, so the tests' invariant check wraps this call too.
    return services.sending_confirm(sending=sending, batches=plans, actor=actor)
