"""Load data for benchmarks: many contacts and many sendings in a "Load test" subaccount.

Written set-based for speed (COPY or INSERT ... SELECT on PostgreSQL, executemany elsewhere)
but shaped exactly like what the services write: every constraint and invariant 1 hold. It is
additive: each run adds more. Import it after Django is set up (the benchmarks do).
"""

import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property

from django.contrib.auth import get_user_model
from django.db import connection, models, transaction
from django.utils import timezone

from batches.models import Batch, Recipient
from sendings.demo import ACCOUNT_IDENTIFIER, ACCOUNT_NAME, FIRST_NAMES, LAST_NAMES, Table, person
from sendings.identifiers import SENDING_PREFIX, new_identifiers
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

LOAD_SUBACCOUNT = "Load test"
LOAD_LIST = "Load audience"
LOAD_CHUNK = 5_000


def load_subaccount(name: str = LOAD_SUBACCOUNT) -> Subaccount:
    """The subaccount for load data, under the demo account; the demo marketer can see it."""
    with transaction.atomic():
        account, _ = Account.objects.get_or_create(
            identifier=ACCOUNT_IDENTIFIER, defaults={"name": ACCOUNT_NAME}
        )
        subaccount, is_new = Subaccount.objects.get_or_create(
            account=account, name=name, defaults={"time_zone": "Europe/Madrid"}
        )
        marketer = get_user_model().objects.filter(username="marketer").first()
        if is_new and marketer is not None:
            Membership.objects.create(user=marketer, subaccount=subaccount)
    return subaccount


def load_contacts(
    *,
    subaccount: Subaccount,
    count: int,
    list_name: str = LOAD_LIST,
    set_based: bool | None = None,
) -> ContactList:
    """Add `count` new subscribed contacts to the list `list_name` (created if missing).

    Their e-mails carry a per-run domain (ana.garcia7@l-3f9a1c.example.com), so every run adds
    new people. On PostgreSQL a single INSERT ... SELECT generate_series writes contacts and
    memberships; elsewhere (or with set_based=False) rows go in chunks of LOAD_CHUNK.
    """
    set_based = connection.vendor == "postgresql" if set_based is None else set_based
    domain = f"l-{secrets.token_hex(3)}.example.com"
    now = timezone.now()
    with transaction.atomic():
        contact_list, _ = ContactList.objects.get_or_create(subaccount=subaccount, name=list_name)
        if count <= 0:
            return contact_list
        if set_based:
            _contacts_insert_select(contact_list, count, domain, now)
            return contact_list
        contacts = Table(
            Contact, ("id", "subaccount_id", "email", "name", "unsubscribed", "created_at")
        )
        memberships = Table(ListMembership, ("id", "contact_list_id", "contact_id", "added_at"))
        for start in range(0, count, LOAD_CHUNK):
            numbers = range(start, min(start + LOAD_CHUNK, count))
            contact_ids = contacts.reserve_ids(len(numbers))
            contacts.write(
                (pk, subaccount.pk, *person(number, domain), False, now)
                for pk, number in zip(contact_ids, numbers, strict=True)
            )
            memberships.write(
                (pk, contact_list.pk, contact_id, now)
                for pk, contact_id in zip(
                    memberships.reserve_ids(len(contact_ids)), contact_ids, strict=True
                )
            )
    return contact_list


def _contacts_insert_select(contact_list: ContactList, count: int, domain: str, now) -> None:
    qn = connection.ops.quote_name
    first = f"(%s::text[])[1 + i %% {len(FIRST_NAMES)}]"
    last = f"(%s::text[])[1 + (i / {len(FIRST_NAMES)}) %% {len(LAST_NAMES)}]"
    sql = f"""
        WITH new_contacts AS (
            INSERT INTO {qn(Contact._meta.db_table)}
                (subaccount_id, email, name, unsubscribed, unsubscribed_at, created_at)
            SELECT %s, {first} || '.' || {last} || i || '@' || %s, {first} || ' ' || {last},
                   false, NULL, %s
            FROM generate_series(0, %s - 1) AS i
            RETURNING id
        )
        INSERT INTO {qn(ListMembership._meta.db_table)} (contact_list_id, contact_id, added_at)
        SELECT %s, id, %s FROM new_contacts
    """
    first_ascii = [ascii_name for _, ascii_name in FIRST_NAMES]
    last_ascii = [ascii_name for _, ascii_name in LAST_NAMES]
    first_display = [display for display, _ in FIRST_NAMES]
    last_display = [display for display, _ in LAST_NAMES]
    params = [
        contact_list.subaccount_id,
        first_ascii, last_ascii, domain, first_display, last_display, now,
        count,
        contact_list.pk, now,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@dataclass(frozen=True)
class LoadShape:
    """A load sending's story: (batch status, recipient status) for batches 1, 2 and 3.

    One recipient per batch keeps invariant 1 exact while staying cheap at 100,000 sendings.
    """

    batches: tuple[tuple[str, str], ...]

    @cached_property
    def status(self) -> str:
        return Sending.status_for_batches([batch for batch, _ in self.batches])

    @cached_property
    def counts(self) -> Counter:
        return Counter(recipient for _, recipient in self.batches)


LOAD_SHAPES = {
    "sent": LoadShape((("sent", "sent"), ("sent", "sent"), ("sent", "sent"))),
    "bounced": LoadShape((("sent", "sent"), ("sent", "sent"), ("sent", "failed"))),
    "scheduled": LoadShape((("scheduled", "pending"),) * 3),
    "canceled": LoadShape((("canceled", "canceled"),) * 3),
    "partly_canceled": LoadShape(
        (("sent", "sent"), ("canceled", "canceled"), ("canceled", "canceled"))
    ),
    "sending": LoadShape((("sent", "sent"), ("sending", "pending"), ("scheduled", "pending"))),
}
EN_DASH = "\N{EN DASH}"
LOAD_TOPICS = (
    "spring promo", "summer sale", "monthly newsletter", "black friday", "welcome series",
    "product launch", "weekly digest", "flash sale", "back to school", "holiday gifts",
)  # fmt: skip
BOUNCE = "550 5.1.1 Mailbox unavailable"


def load_kind(k: int) -> str:
    """The k-th load sending's story: mostly sent, some scheduled or canceled, a few sending."""
    if k % 1000 == 0:
        return "sending"
    slot = k % 100
    if 1 <= slot <= 8:
        return "scheduled"
    if 9 <= slot <= 12:
        return "canceled"
    if 13 <= slot <= 15:
        return "partly_canceled"
    if 16 <= slot <= 17:
        return "bounced"
    return "sent"


def load_sendings(*, subaccount: Subaccount, count: int, set_based: bool | None = None) -> Counter:
    """Add `count` sendings of 3 batches (1 recipient each) over the past year and the next
    two months, targeting the load list. Returns how many were written per sending status.

    Rows are generated in chunks of LOAD_CHUNK sendings with ids reserved up front, then
    written with COPY on PostgreSQL (executemany elsewhere, or with set_based=False). Each
    sending also gets its "confirmed" audit event. Names continue the numbering of earlier
    runs: "Load sending 00042", an en dash, then a topic.
    """
    set_based = connection.vendor == "postgresql" if set_based is None else set_based
    now = timezone.now().replace(microsecond=0)
    statuses: Counter = Counter()
    with transaction.atomic():
        contact_list, _ = ContactList.objects.get_or_create(subaccount=subaccount, name=LOAD_LIST)
        marketer = get_user_model().objects.filter(username="marketer").first()
        offset = Sending.objects.filter(
            subaccount=subaccount, name__startswith="Load sending "
        ).count()
        writer = _LoadWriter(
            subaccount=subaccount,
            contact_list=contact_list,
            actor=marketer,
            rng=random.Random(f"{subaccount.pk}:{offset}"),
            now=now,
            set_based=set_based,
        )
        identifiers = _unique_identifiers(count)
        for start in range(0, count, LOAD_CHUNK):
            ks = range(offset + start, offset + min(start + LOAD_CHUNK, count))
            statuses += writer.write(ks, identifiers[start : start + len(ks)])
    return statuses


def _unique_identifiers(count: int) -> list[str]:
    """`count` fresh sending identifiers from sendings.identifiers, none already taken."""
    identifiers: set[str] = set()
    while len(identifiers) < count:
        wanted = set(new_identifiers(SENDING_PREFIX, count - len(identifiers))) - identifiers
        candidates = list(wanted)
        for start in range(0, len(candidates), LOAD_CHUNK):
            wanted -= set(
                Sending.objects.filter(
                    identifier__in=candidates[start : start + LOAD_CHUNK]
                ).values_list("identifier", flat=True)
            )
        identifiers |= wanted
    return list(identifiers)


class _LoadWriter:
    """Writes chunks of load sendings with their batches, recipients, events and list link."""

    def __init__(self, *, subaccount, contact_list, actor, rng, now, set_based):
        self.subaccount, self.contact_list, self.rng, self.now = subaccount, contact_list, rng, now
        self.actor_id = actor.pk if actor else None
        self.actor_label = actor.get_username() if actor else "system"
        self.sendings = Table(
            Sending,
            ("id", "subaccount_id", "identifier", "name", "subject", "from_name", "from_email",
             "html_body", "text_body", "status", "scheduled_at", "batch_count",
             "total_recipients", "sent_count", "failed_count", "canceled_count",
             "created_by_id", "created_at", "confirmed_at", "finished_at", "schedule_draft"),
            set_based,
        )  # fmt: skip
        self.batches = Table(
            Batch,
            ("id", "sending_id", "number", "scheduled_at", "status", "recipient_count",
             "sent_count", "failed_count", "canceled_count", "started_at", "finished_at",
             "canceled_at", "canceled_by_id"),
            set_based,
        )  # fmt: skip
        self.recipients = Table(
            Recipient,
            ("id", "sending_id", "batch_id", "contact_id", "email", "name", "status",
             "attempts", "last_error", "claimed_at", "sent_at"),
            set_based,
        )  # fmt: skip
        self.events = Table(
            SendingEvent,
            ("id", "sending_id", "batch_id", "actor_id", "actor_label", "kind", "message",
             "total_recipients", "sent_count", "failed_count", "canceled_count", "created_at"),
            set_based,
        )  # fmt: skip
        self.lists = Table(Sending.lists.through, ("id", "sending_id", "contactlist_id"), set_based)

    def write(self, ks: range, identifiers: list[str]) -> Counter:
        """Write the sendings numbered `ks`; return how many of each status."""
        sending_ids = self.sendings.reserve_ids(len(ks))
        batch_ids = iter(self.batches.reserve_ids(3 * len(ks)))
        recipient_ids = iter(self.recipients.reserve_ids(3 * len(ks)))
        event_ids = self.events.reserve_ids(len(ks))
        list_row_ids = self.lists.reserve_ids(len(ks))
        sendings, batches, recipients, events, lists = [], [], [], [], []
        statuses: Counter = Counter()
        rng, now, actor_id = self.rng, self.now, self.actor_id
        for k, sending_id, identifier, event_id, list_row_id in zip(
            ks, sending_ids, identifiers, event_ids, list_row_ids, strict=True
        ):
            kind = load_kind(k)
            shape = LOAD_SHAPES[kind]
            if kind == "scheduled":
                first_at = now + timedelta(minutes=rng.randint(60, 60 * 24 * 60))
            elif kind == "sending":
                first_at = now - timedelta(days=1, hours=1)  # batch 2 started an hour ago
            else:
                first_at = now - timedelta(days=2, minutes=rng.randint(0, 60 * 24 * 363))
            first_at = first_at.replace(second=0)
            confirmed_at = min(first_at, now) - timedelta(minutes=rng.randint(60, 60 * 72))
            # Canceled before batch 1 went out, or (partly) between batch 1 and batch 2.
            cancel_at = first_at + timedelta(hours=2 if kind == "partly_canceled" else -1)
            finished_at = None
            for number, (batch_status, recipient_status) in enumerate(shape.batches, start=1):
                at = first_at + timedelta(days=number - 1)
                batch_id = next(batch_ids)
                canceled = batch_status == "canceled"
                handed = recipient_status in ("sent", "failed")
                done = cancel_at if canceled else at + timedelta(minutes=5)
                done = done if batch_status in ("sent", "canceled") else None
                if done and shape.status in ("sent", "canceled"):
                    finished_at = max(finished_at or done, done)
                batches.append(
                    (batch_id, sending_id, number, at, batch_status, 1,
                     int(recipient_status == "sent"), int(recipient_status == "failed"),
                     int(recipient_status == "canceled"),
                     at if batch_status in ("sent", "sending") else None, done,
                     cancel_at if canceled else None, actor_id if canceled else None)
                )  # fmt: skip
                recipients.append(
                    (next(recipient_ids), sending_id, batch_id, None,
                     *person(3 * k + number - 1), recipient_status, int(handed),
                     BOUNCE if recipient_status == "failed" else "", None,
                     at + timedelta(minutes=1) if handed else None)
                )  # fmt: skip
            topic = LOAD_TOPICS[k % len(LOAD_TOPICS)]
            total = len(shape.batches)
            sendings.append(
                (sending_id, self.subaccount.pk, identifier,
                 f"Load sending {k + 1:05d} {EN_DASH} {topic}", f"Acme {topic}", ACCOUNT_NAME,
                 "news@acme.example", "<p>Hello {{ name }}</p>", "Hello {{ name }}",
                 shape.status, first_at, total, total, shape.counts["sent"],
                 shape.counts["failed"], shape.counts["canceled"], actor_id,
                 confirmed_at - timedelta(minutes=20), confirmed_at, finished_at, "{}")
            )  # fmt: skip
            events.append(
                (event_id, sending_id, None, actor_id, self.actor_label,
                 SendingEvent.Kind.CONFIRMED.value,
                 f"Scheduled for {total} contacts in {total} batches.", total, 0, 0, 0,
                 confirmed_at)
            )  # fmt: skip
            lists.append((list_row_id, sending_id, self.contact_list.pk))
            statuses[shape.status] += 1
        self.sendings.write(sendings)
        self.batches.write(batches)
        self.recipients.write(recipients)
        self.events.write(events)
        self.lists.write(lists)
        return statuses


def load_stopped_sending(
    *, subaccount: Subaccount, contact_list: ContactList, sent_percent: int, failed_percent: int
) -> Sending:
    """A sending of the list confirmed and started through the services, then brought to
    "stopped by support" set-based: `sent_percent` of its recipients delivered (with a time
    and one attempt), `failed_percent` rejected with a server answer, the rest canceled;
    batch and sending counters and statuses to match, as the services would leave them."""
    from batches.services import batch_start
    from sendings.services import BatchPlan, sending_confirm

    now = timezone.now()
    sending = Sending.objects.create(
        subaccount=subaccount,
        name=f"Load stopped {secrets.token_hex(2)}",
        subject="Load",
        from_email="load@example.com",
        html_body="<p>Hello {{ name }}</p>",
        text_body="Hello {{ name }}",
    )
    sending.lists.set([contact_list])
    sending_confirm(sending=sending, batches=[BatchPlan(now - timedelta(minutes=1))], actor=None)
    batch = sending.batches.get()
    assert batch_start(batch_id=batch.pk, now=now)
    qn = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {qn(Recipient._meta.db_table)} SET
              status = CASE WHEN id %% 100 < %s THEN 'sent'
                            WHEN id %% 100 < %s THEN 'failed' ELSE 'canceled' END,
              sent_at = CASE WHEN id %% 100 < %s THEN %s END,
              attempts = CASE WHEN id %% 100 < %s THEN 1 ELSE 0 END,
              last_error = CASE WHEN id %% 100 >= %s AND id %% 100 < %s
                                THEN '550 5.1.1 <' || email || '>: Recipient address rejected'
                                ELSE '' END
            WHERE batch_id = %s
            """,
            [
                sent_percent,
                sent_percent + failed_percent,
                sent_percent,
                now,
                sent_percent + failed_percent,
                sent_percent,
                sent_percent + failed_percent,
                batch.pk,
            ],
        )
        counts = Counter(
            dict(
                Recipient.objects.filter(batch=batch)
                .values_list("status")
                .annotate(n=models.Count("id"))
            )
        )
        fields = {
            "sent_count": counts["sent"],
            "failed_count": counts["failed"],
            "canceled_count": counts["canceled"],
            "finished_at": now,
        }
        Batch.objects.filter(pk=batch.pk).update(status="canceled", canceled_at=now, **fields)
        Sending.objects.filter(pk=sending.pk).update(status="canceled", **fields)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {qn(Recipient._meta.db_table)}")
    sending.refresh_from_db()
    return sending


def load(*, contacts: int, sendings: int, subaccount: str = LOAD_SUBACCOUNT, say=print) -> None:
    """Add `contacts` contacts and `sendings` sendings to the load subaccount, saying how long."""
    if contacts < 0 or sendings < 0:
        raise ValueError("--contacts and --sendings take a number of 0 or more.")
    if not (contacts or sendings):
        return
    target = load_subaccount(subaccount)
    if contacts:
        started = time.monotonic()
        load_contacts(subaccount=target, count=contacts)
        elapsed = time.monotonic() - started
        say(
            f"Load data: {contacts:,} contacts added to '{LOAD_LIST}' in "
            f"'{target.name}' in {elapsed:.1f} s ({contacts / max(elapsed, 1e-6):,.0f}/s)."
        )
    if sendings:
        started = time.monotonic()
        statuses = load_sendings(subaccount=target, count=sendings)
        elapsed = time.monotonic() - started
        mix = ", ".join(f"{count:,} {status}" for status, count in statuses.most_common())
        say(
            f"Load data: {sendings:,} sendings ({mix}) added to '{target.name}' in "
            f"{elapsed:.1f} s ({sendings / max(elapsed, 1e-6):,.0f}/s)."
        )
