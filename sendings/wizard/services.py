"""Drafts: what the "New sending" wizard writes, the test send, and Duplicate.

A draft's content changes only while it is a Draft, under its row lock; confirming goes
through the lifecycle's `sending_confirm`.
"""

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from celery import signature
from django.conf import settings
from django.core.cache import cache
from django.core.mail import mailers
from django.db import transaction
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from batches.rendering import Content, message_build
from sendings.exceptions import DomainError
from sendings.models import Contact, ContactList, Sending, SendingStatus, Subaccount
from sendings.services import BatchPlan, sending_confirm
from sendings.transitions import lists_refuse_foreign, sending_lock

# What a draft's owner may change; status, counters and schedule move only through the
# lifecycle services (sendings.services).
DRAFT_FIELDS = frozenset(
    {"name", "subject", "from_name", "from_email", "html_body", "text_body", "schedule_draft"}
)
MAX_TEST_ADDRESSES = 5
TEST_SUBJECT_PREFIX = "[Test] "
TEST_SEND_TASK = "sendings.tasks.sending_send_test_task"
TEST_SEND_WINDOW_SECONDS = 3600

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleAddressee:
    email: str
    name: str
    contact_id: int | None = None


def _draft_fields_check(fields: Mapping[str, object]) -> None:
    unknown = set(fields) - DRAFT_FIELDS
    if unknown:
        raise ValueError(f"Not a draft field: {', '.join(sorted(unknown))}")


def sending_draft_create(
    *,
    subaccount: Subaccount,
    actor,
    fields: Mapping[str, object],
    lists: Sequence[ContactList] = (),
) -> Sending:
    """Create a Draft in `subaccount` with `fields` (DRAFT_FIELDS) and `lists`.

    Lists of another subaccount are refused (code `foreign_list`); row and lists are written
    in one transaction, so a refused draft leaves nothing behind.
    """
    _draft_fields_check(fields)
    lists = list(lists)
    lists_refuse_foreign(subaccount_id=subaccount.pk, lists=lists)
    with transaction.atomic():
        sending = Sending.objects.create(
            subaccount=subaccount, created_by=actor, status=SendingStatus.DRAFT, **fields
        )
        if lists:
            sending.lists.set(lists)
    return sending


def sending_draft_update(
    *,
    sending: Sending,
    fields: Mapping[str, object],
    lists: Sequence[ContactList] | None = None,
) -> Sending:
    """Change a Draft's content: only `fields` (DRAFT_FIELDS) are written, and `lists` (when
    given) replaces its lists.

    Locks the sending row first (the lock order of sendings.transitions) and refuses, with
    code `not_draft`, a sending that is no longer a Draft: a confirm that won the lock has
    snapshotted its audience, and its content must not change under its recipients. All or
    nothing: lists of another subaccount (code `foreign_list`) leave the draft untouched.
    """
    _draft_fields_check(fields)
    with transaction.atomic():
        sending, _batches = sending_lock(sending.pk)
        if sending.status != SendingStatus.DRAFT:
            raise DomainError(
                _("“%(name)s” is %(status)s, no longer a draft: its content can no longer change.")
                % {"name": sending.name, "status": sending.get_status_display().lower()},
                code="not_draft",
            )
        for name, value in fields.items():
            setattr(sending, name, value)
        if fields:
            sending.save(update_fields=sorted(fields))
        if lists is not None:
            lists = list(lists)
            lists_refuse_foreign(subaccount_id=sending.subaccount_id, lists=lists)
            sending.lists.set(lists)
    return sending


def sending_draft_confirm(
    *,
    sending: Sending,
    schedule_draft: dict,
    batches: Sequence[BatchPlan],
    actor,
) -> Sending:
    """The wizard's last step: keep the schedule choices on the draft and confirm it.

    One transaction: when `sending_confirm` refuses (a DomainError), the draft is left exactly
    as it was, its saved schedule choices included.
    """
    with transaction.atomic():
        sending_draft_update(sending=sending, fields={"schedule_draft": schedule_draft})
        return sending_confirm(sending=sending, batches=batches, actor=actor)


def sending_duplicate(*, sending: Sending, actor) -> Sending:
    """A new Draft copying `sending`'s content and lists, named "Copy of …".

    Works for a sending in any status; schedule, batches, recipients and counters are not
    copied. Only lists of the sending's own subaccount are carried over.
    """
    name = f"Copy of {sending.name}"[: Sending._meta.get_field("name").max_length]
    lists = list(sending.lists.filter(subaccount_id=sending.subaccount_id))
    return sending_draft_create(
        subaccount=sending.subaccount,
        actor=actor,
        fields={
            "name": name,
            "subject": sending.subject,
            "from_name": sending.from_name,
            "from_email": sending.from_email,
            "html_body": sending.html_body,
            "text_body": sending.text_body,
        },
        lists=lists,
    )


def _test_addresses(addresses: Sequence[str]) -> list[str]:
    addresses = list(dict.fromkeys(a.strip().lower() for a in addresses if a.strip()))
    if not addresses:
        raise DomainError(_("Give at least one address to send the test to."), code="no_addresses")
    if len(addresses) > MAX_TEST_ADDRESSES:
        raise DomainError(
            _("A test goes to at most %(count)s addresses.") % {"count": MAX_TEST_ADDRESSES},
            code="too_many_addresses",
        )
    return addresses


def _test_send_counted(actor) -> int:
    """How many test sends `actor` asked for in this window, this one included; 0 when the
    cache cannot tell (a cache outage must not stop the wizard)."""
    window = int(time.time() // TEST_SEND_WINDOW_SECONDS)
    key = f"test-sends:{actor.pk}:{window}"
    try:
        cache.add(key, 0, timeout=TEST_SEND_WINDOW_SECONDS + 60)
        return cache.incr(key)
    except ValueError:  # expired between add and incr: a new window
        return 1
    except (RedisError, OSError) as error:
        log.warning("Test sends not counted (%s)", error)
        return 0


def sending_test_request(*, sending: Sending, addresses: Sequence[str], actor) -> list[str]:
    """Queue a test of the sending to up to MAX_TEST_ADDRESSES addresses; returns them.

    The email goes out from a task after commit (`sending_send_test`), never inside the
    request. Each user may ask for TEST_SENDS_PER_HOUR tests an hour (code `test_limit`
    past that): a test send is an open relay to any five addresses otherwise.
    """
    addresses = _test_addresses(addresses)
    if not (sending.html_body.strip() or sending.text_body.strip()):
        raise DomainError(_("There is no message to test yet: write it first."), code="no_body")
    limit = settings.TEST_SENDS_PER_HOUR
    if _test_send_counted(actor) > limit:
        raise DomainError(
            _("You have sent %(count)s tests in the last hour, the most allowed; try again later.")
            % {"count": limit},
            code="test_limit",
        )
    transaction.on_commit(
        lambda: signature(TEST_SEND_TASK, args=(sending.pk, addresses)).delay(), robust=True
    )
    return addresses


def sending_send_test(*, sending: Sending, addresses: Sequence[str]) -> int:
    """Email the sending as it stands to up to MAX_TEST_ADDRESSES addresses; returns how many.

    Built by the delivery's own `message_build`, so personalization and headers are those of
    real delivery; the subject starts with "[Test] ". The name put in `{{ name }}` is the
    contact's when the address is a contact of the subaccount, else the address's local part.
    Changes nothing in the database (no status, no counters) and sends outside any transaction.
    Called by the test-send task (`sending_test_request` queues it).
    """
    addresses = _test_addresses(addresses)
    if not (sending.html_body.strip() or sending.text_body.strip()):
        raise DomainError(_("There is no message to test yet: write it first."), code="no_body")
    contacts = {
        email: (pk, name)
        for email, pk, name in Contact.objects.filter(
            subaccount_id=sending.subaccount_id, email__in=addresses
        ).values_list("email", "pk", "name")
    }
    content = Content.of(sending)
    messages = []
    for address in addresses:
        contact_id, name = contacts.get(address, (None, address.split("@")[0]))
        addressee = SampleAddressee(email=address, name=name, contact_id=contact_id)
        message = message_build(content, addressee)
        message.subject = TEST_SUBJECT_PREFIX + message.subject
        messages.append(message)
    return mailers.default.send_messages(messages) or 0
