"""Demo and load data behind `manage.py seed_demo`.

Demo data tells the help page's four scenarios with real rows: every sending goes through the
same services the product uses, so counters add up and the audit trail exists. It is keyed by
fixed identifiers and names, so seeding twice creates nothing the second time, and nothing
that already exists is ever changed.

Load data is volume for benchmarks: many contacts and many sendings in a "Load test"
subaccount, written set-based for speed (COPY or INSERT ... SELECT on PostgreSQL, executemany
elsewhere) but shaped exactly like what the services write: every constraint and invariant 1
hold. It is additive: each run adds more.
"""

import random
import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cached_property

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, get_hasher, make_password
from django.contrib.auth.models import Group
from django.db import connection, models, transaction
from django.utils import timezone

from batches.models import Batch, Recipient
from batches.services import batch_cancel, batch_finish, batch_start, recipients_record_results
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
from sendings.services import BatchPlan, sending_cancel, sending_confirm

ACCOUNT_IDENTIFIER = "ACC-ACME2026DEMO"
ACCOUNT_NAME = "Acme Marketing"
SUPPORT_GROUP = "support"
URL = "http://127.0.0.1:8000"
LOAD_SUBACCOUNT = "Load test"
LOAD_LIST = "Load audience"
LOAD_CHUNK = 5_000
DEMO_HASH_ITERATIONS = 10_000


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    description: str
    memberships: tuple[tuple[str, str], ...] = ()  # (subaccount name, role)
    is_staff: bool = False
    is_superuser: bool = False
    groups: tuple[str, ...] = ()


DEMO_USERS = (
    DemoUser(
        "marketer",
        "marketer-demo",
        "marketer in Spain and Mexico: schedules and cancels sendings",
        memberships=(("Spain", "marketer"), ("Mexico", "marketer")),
    ),
    DemoUser(
        "viewer",
        "viewer-demo",
        "viewer in Spain: sees the sending list, cannot act",
        memberships=(("Spain", "viewer"),),
    ),
    DemoUser(
        "support",
        "support-demo",
        "support staff: the urgent-cancel queue",
        is_staff=True,
        groups=(SUPPORT_GROUP,),
    ),
    DemoUser(
        "admin",
        "admin-demo",
        "superuser: the Django admin",
        is_staff=True,
        is_superuser=True,
    ),
)

# (name, time zone, messages a second). Spain is throttled so that its 5,000-contact demo
# sending stays in Sending for about two minutes: long enough to see scenario 3 happen.
SUBACCOUNTS = (("Spain", "Europe/Madrid", 40), ("Mexico", "America/Mexico_City", None))

# (display, e-mail spelling): "Ana García" is ana.garcia123@example.com.
FIRST_NAMES = (
    ("Ana", "ana"), ("Luis", "luis"), ("María", "maria"), ("Javier", "javier"),
    ("Lucía", "lucia"), ("Carlos", "carlos"), ("Sofía", "sofia"), ("Pablo", "pablo"),
    ("Elena", "elena"), ("Diego", "diego"), ("Carmen", "carmen"), ("Jorge", "jorge"),
    ("Laura", "laura"), ("Miguel", "miguel"), ("Paula", "paula"), ("Andrés", "andres"),
    ("Marta", "marta"), ("Raúl", "raul"), ("Isabel", "isabel"), ("Sergio", "sergio"),
)  # fmt: skip
LAST_NAMES = (
    ("García", "garcia"), ("Martínez", "martinez"), ("López", "lopez"), ("Sánchez", "sanchez"),
    ("Pérez", "perez"), ("Gómez", "gomez"), ("Fernández", "fernandez"), ("Díaz", "diaz"),
    ("Ruiz", "ruiz"), ("Moreno", "moreno"), ("Álvarez", "alvarez"), ("Romero", "romero"),
    ("Navarro", "navarro"), ("Torres", "torres"), ("Domínguez", "dominguez"),
    ("Vázquez", "vazquez"), ("Ramos", "ramos"), ("Gil", "gil"), ("Serrano", "serrano"),
    ("Molina", "molina"),
)  # fmt: skip


def person(i: int, domain: str = "example.com") -> tuple[str, str]:
    """The i-th made-up person: (e-mail, display name). Distinct i, distinct e-mail."""
    first, first_ascii = FIRST_NAMES[i % len(FIRST_NAMES)]
    last, last_ascii = LAST_NAMES[(i // len(FIRST_NAMES)) % len(LAST_NAMES)]
    return f"{first_ascii}.{last_ascii}{i}@{domain}", f"{first} {last}"


# Contact lists: (subaccount, name, person numbers). VIP overlaps the newsletter; the large
# audience overlaps both, as real lists do.
DEMO_LISTS = (
    ("Spain", "Newsletter", range(0, 1200)),
    ("Spain", "VIP customers", range(1150, 1300)),
    ("Spain", "Large audience", range(300, 5300)),
    ("Mexico", "Clientes", range(0, 400)),
)


def _is_unsubscribed(i: int) -> bool:
    # About 1% everywhere, plus a few named VIPs, so audiences visibly leave people out.
    return i % 97 == 42 or i in (1160, 1201, 1233, 1277)


@dataclass(frozen=True)
class DemoSending:
    number: int
    subaccount: str
    name: str
    subject: str
    lists: tuple[str, ...]
    story: str  # which function below brings it to its status

    @property
    def identifier(self) -> str:
        return f"SND-DEMO{self.number:08d}"


DEMO_SENDINGS = (
    DemoSending(1, "Spain", "Spring sale", "Spring sale: 20% off everything", ("Newsletter",),
                "scheduled"),
    DemoSending(2, "Spain", "Monthly newsletter", "What's new at Acme this month",
                ("Newsletter",), "batches"),
    DemoSending(3, "Spain", "Welcome series", "Welcome to Acme, VIP", ("VIP customers",), "sent"),
    DemoSending(4, "Spain", "Black Friday teaser", "Black Friday is coming",
                ("Newsletter", "VIP customers"), "canceled"),
    DemoSending(5, "Spain", "Weekly digest (large)", "Your weekly digest", ("Large audience",),
                "due_soon"),
    DemoSending(6, "Spain", "Summer clearance", "Summer clearance: last units", ("Newsletter",),
                "partly_canceled"),
    DemoSending(7, "Spain", "Autumn collection", "The autumn collection is here",
                ("Newsletter",), "draft"),
    DemoSending(8, "Mexico", "Buen Fin", "Buen Fin: ofertas de fin de semana", ("Clientes",),
                "sent"),
    DemoSending(9, "Mexico", "Día de las Madres", "Un regalo para mamá", ("Clientes",),
                "scheduled"),
)  # fmt: skip

DUE_SOON = timedelta(seconds=30)


@dataclass
class SeedResult:
    created: Counter
    account: Account


# --- Demo data ---------------------------------------------------------------------------------


def demo_seed(*, now: datetime | None = None) -> SeedResult:
    """Create whatever demo data is missing; change nothing that exists. One transaction."""
    now = now or timezone.now()
    created: Counter = Counter()
    with transaction.atomic():
        account, is_new = Account.objects.get_or_create(
            identifier=ACCOUNT_IDENTIFIER, defaults={"name": ACCOUNT_NAME}
        )
        created["accounts"] += is_new
        subaccounts = {}
        for name, zone, rate in SUBACCOUNTS:
            subaccounts[name], is_new = Subaccount.objects.get_or_create(
                account=account, name=name, defaults={"time_zone": zone, "send_rate_limit": rate}
            )
            created["subaccounts"] += is_new
        created["groups"] += Group.objects.get_or_create(name=SUPPORT_GROUP)[1]
        users = {
            u.username: u
            for u in get_user_model().objects.filter(
                username__in=[spec.username for spec in DEMO_USERS]
            )
        }
        for spec in DEMO_USERS:
            if spec.username not in users:
                users[spec.username] = _demo_user(spec, subaccounts)
                created["users"] += 1
        marketer = users["marketer"]
        lists = {}
        for sub_name, list_name, numbers in DEMO_LISTS:
            lists[sub_name, list_name] = _demo_list(
                subaccounts[sub_name], list_name, numbers, now, created
            )
        for spec in DEMO_SENDINGS:
            if Sending.objects.filter(identifier=spec.identifier).exists():
                continue
            subaccount = subaccounts[spec.subaccount]
            sending = Sending.objects.create(
                subaccount=subaccount,
                identifier=spec.identifier,
                name=spec.name,
                subject=spec.subject,
                from_name=ACCOUNT_NAME,
                from_email="news@acme.example",
                html_body=f"<h1>{spec.subject}</h1><p>Hello {{{{ name }}}},</p>",
                text_body=f"{spec.subject}\n\nHello {{{{ name }}}},",
                created_by=marketer,
            )
            sending.lists.set([lists[spec.subaccount, name] for name in spec.lists])
            STORIES[spec.story](sending, marketer, now)
            created["sendings"] += 1
    return SeedResult(created=+created, account=account)


def _demo_user(spec: DemoUser, subaccounts: dict[str, Subaccount]):
    """A demo user with its demo password, groups and memberships (only ever on creation)."""
    user = get_user_model().objects.create(
        username=spec.username,
        email=f"{spec.username}@acme.example",
        is_staff=spec.is_staff,
        is_superuser=spec.is_superuser,
        password=_demo_password_hash(spec.password),
    )
    for group_name in spec.groups:
        user.groups.add(Group.objects.get_or_create(name=group_name)[0])
    for sub_name, role in spec.memberships:
        Membership.objects.create(user=user, subaccount=subaccounts[sub_name], role=role)
    return user


def _demo_password_hash(password: str) -> str:
    """A light hash: demo passwords are printed for all to read, and full-strength PBKDF2
    costs about a second a user. Django rehashes it at full strength on the first login."""
    hasher = get_hasher()
    if isinstance(hasher, PBKDF2PasswordHasher):
        return hasher.encode(password, hasher.salt(), iterations=DEMO_HASH_ITERATIONS)
    return make_password(password)


def _demo_list(
    subaccount: Subaccount, name: str, numbers: range, now: datetime, created: Counter
) -> ContactList:
    """A list with its members, filled only when the list itself is new."""
    contact_list, is_new = ContactList.objects.get_or_create(subaccount=subaccount, name=name)
    if not is_new:
        return contact_list
    created["lists"] += 1
    people = {number: person(number) for number in numbers}
    ids = dict(
        Contact.objects.filter(
            subaccount=subaccount, email__in=[email for email, _ in people.values()]
        ).values_list("email", "pk")
    )
    missing = [(number, *people[number]) for number in numbers if people[number][0] not in ids]
    contacts = _Table(
        Contact,
        ("id", "subaccount_id", "email", "name", "unsubscribed", "unsubscribed_at", "created_at"),
    )
    rows = []
    for pk, (number, email, display) in zip(
        contacts.reserve_ids(len(missing)), missing, strict=True
    ):
        gone = _is_unsubscribed(number)
        rows.append((pk, subaccount.pk, email, display, gone, now if gone else None, now))
        ids[email] = pk
    contacts.write(rows)
    created["contacts"] += len(rows)
    memberships = _Table(ListMembership, ("id", "contact_list_id", "contact_id", "added_at"))
    memberships.write(
        (pk, contact_list.pk, ids[email], now)
        for pk, (email, _) in zip(
            memberships.reserve_ids(len(people)), people.values(), strict=True
        )
    )
    return contact_list


def _local(sending: Sending, now: datetime, *, days: int, hour: int) -> datetime:
    """`hour` o'clock in the subaccount's time zone, `days` from today there."""
    zone = sending.subaccount.zone
    day = now.astimezone(zone).date() + timedelta(days=days)
    return datetime.combine(day, time(hour), tzinfo=zone)


def _deliver(batch: Batch, *, at: datetime, bounce: int = 0) -> None:
    """What the dispatcher does to a due batch: start it, record every recipient, finish it."""
    batch_start(batch_id=batch.pk, now=at)
    ids = list(batch.recipients.order_by("pk").values_list("pk", flat=True))
    failed = {pk: "550 5.1.1 Mailbox unavailable" for pk in ids[:bounce]}
    recipients_record_results(
        batch_id=batch.pk, sent=ids[bounce:], failed=failed, now=at + timedelta(minutes=5)
    )
    batch_finish(batch_id=batch.pk)


def _batches(sending: Sending) -> list[Batch]:
    return list(sending.batches.order_by("number"))


def _story_draft(sending, actor, now):
    """Draft: the wizard is not finished."""


def _story_scheduled(sending, actor, now):
    """Scenario 1: scheduled for a day to come, the row menu offers Cancel."""
    days = 2 if sending.subaccount.name == "Spain" else 6
    at = _local(sending, now, days=days, hour=10)
    sending_confirm(sending=sending, batches=[BatchPlan(at)], actor=actor)


def _story_batches(sending, actor, now):
    """Scenario 2: three batches, the first already sent, two still scheduled."""
    plans = [
        BatchPlan(_local(sending, now, days=-1, hour=9), 400),
        BatchPlan(_local(sending, now, days=1, hour=9), 400),
        BatchPlan(_local(sending, now, days=2, hour=9)),
    ]
    sending_confirm(sending=sending, batches=plans, actor=actor)
    first = _batches(sending)[0]
    _deliver(first, at=first.scheduled_at)


def _story_sent(sending, actor, now):
    """Scenario 4: sent days ago; two addresses bounced, so Sent shows the truth."""
    at = _local(sending, now, days=-5 if sending.subaccount.name == "Spain" else -3, hour=11)
    sending_confirm(sending=sending, batches=[BatchPlan(at)], actor=actor)
    _deliver(_batches(sending)[0], at=at, bounce=2)


def _story_canceled(sending, actor, now):
    """Scenario 1, afterwards: the marketer canceled it before it went out."""
    at = _local(sending, now, days=20, hour=8)
    sending_confirm(sending=sending, batches=[BatchPlan(at)], actor=actor)
    sending_cancel(sending=sending, actor=actor)


def _story_partly_canceled(sending, actor, now):
    """Scenario 2, afterwards: batch 1 went out, batch 2 was canceled before its time."""
    plans = [
        BatchPlan(_local(sending, now, days=-10, hour=10), 600),
        BatchPlan(_local(sending, now, days=3, hour=10)),
    ]
    sending_confirm(sending=sending, batches=plans, actor=actor)
    first, second = _batches(sending)
    _deliver(first, at=first.scheduled_at)
    batch_cancel(batch=second, actor=actor)


def _story_due_soon(sending, actor, now):
    """Scenario 3: due moments after the seed, so the dispatcher shows it as Sending."""
    at = (now + DUE_SOON).replace(microsecond=0)
    sending_confirm(sending=sending, batches=[BatchPlan(at)], actor=actor)


STORIES = {
    "draft": _story_draft,
    "scheduled": _story_scheduled,
    "batches": _story_batches,
    "sent": _story_sent,
    "canceled": _story_canceled,
    "partly_canceled": _story_partly_canceled,
    "due_soon": _story_due_soon,
}


# --- Load data ---------------------------------------------------------------------------------


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
        contacts = _Table(
            Contact, ("id", "subaccount_id", "email", "name", "unsubscribed", "created_at")
        )
        memberships = _Table(ListMembership, ("id", "contact_list_id", "contact_id", "added_at"))
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
        self.sendings = _Table(
            Sending,
            ("id", "subaccount_id", "identifier", "name", "subject", "from_name", "from_email",
             "html_body", "text_body", "status", "scheduled_at", "batch_count",
             "total_recipients", "sent_count", "failed_count", "canceled_count",
             "created_by_id", "created_at", "confirmed_at", "finished_at", "schedule_draft"),
            set_based,
        )  # fmt: skip
        self.batches = _Table(
            Batch,
            ("id", "sending_id", "number", "scheduled_at", "status", "recipient_count",
             "sent_count", "failed_count", "canceled_count", "started_at", "finished_at",
             "canceled_at", "canceled_by_id"),
            set_based,
        )  # fmt: skip
        self.recipients = _Table(
            Recipient,
            ("id", "sending_id", "batch_id", "contact_id", "email", "name", "status",
             "attempts", "last_error", "claimed_at", "sent_at"),
            set_based,
        )  # fmt: skip
        self.events = _Table(
            SendingEvent,
            ("id", "sending_id", "batch_id", "actor_id", "actor_label", "kind", "message",
             "total_recipients", "sent_count", "failed_count", "canceled_count", "created_at"),
            set_based,
        )  # fmt: skip
        self.lists = _Table(
            Sending.lists.through, ("id", "sending_id", "contactlist_id"), set_based
        )

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


class _Table:
    """Writes rows (tuples in `columns` order) to one model's table, fast.

    Ids are reserved before writing so that rows of other tables can point at them: from the
    table's sequence on PostgreSQL, after the current maximum elsewhere (SQLite writers are
    serialized by the IMMEDIATE transaction this runs in). Rows go in with COPY when
    `copy` (PostgreSQL only), otherwise with executemany.
    """

    def __init__(self, model: type[models.Model], columns: tuple[str, ...], copy=None):
        known = {field.column for field in model._meta.concrete_fields}
        assert set(columns) <= known, f"unknown columns for {model.__name__}"
        self.model, self.table, self.columns = model, model._meta.db_table, columns
        self.copy = connection.vendor == "postgresql" if copy is None else copy
        self._next_id: int | None = None

    def reserve_ids(self, count: int) -> list[int]:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [self.table, count],
                )
                return [row[0] for row in cursor.fetchall()]
        if self._next_id is None:
            top = self.model._base_manager.aggregate(top=models.Max("pk"))["top"] or 0
            self._next_id = top + 1
        start, self._next_id = self._next_id, self._next_id + count
        return list(range(start, start + count))

    def write(self, rows: Iterable[tuple]) -> None:
        qn = connection.ops.quote_name
        column_list = ", ".join(qn(column) for column in self.columns)
        with connection.cursor() as cursor:
            if self.copy:
                with cursor.cursor.copy(
                    f"COPY {qn(self.table)} ({column_list}) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
                return
            adapt = connection.ops.adapt_datetimefield_value
            marks = ", ".join(["%s"] * len(self.columns))
            cursor.executemany(
                f"INSERT INTO {qn(self.table)} ({column_list}) VALUES ({marks})",
                [tuple(adapt(v) if isinstance(v, datetime) else v for v in row) for row in rows],
            )
