"""Demo data behind `manage.py seed_demo`.

Just over 400 lines: the fixed cast (users, lists, one sending per story) and the fast table
writer the lists are loaded with, which tests/bench/load.py reuses.

Demo data tells the help page's four scenarios with real rows: every sending goes through the
same services the product uses, so counters add up and the audit trail exists. It is keyed by
fixed identifiers and names, so seeding twice creates nothing the second time, and nothing
that already exists is ever changed.

Volume data for benchmarks lives beside them, in tests/bench/load.py.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, get_hasher, make_password
from django.contrib.auth.models import Group
from django.db import connection, models, transaction
from django.utils import timezone

from batches.models import Batch
from batches.services import batch_cancel, batch_finish, batch_start, recipients_record_results
from sendings.models import (
    Account,
    Contact,
    ContactList,
    ListMembership,
    Membership,
    Sending,
    Subaccount,
)
from sendings.services import BatchPlan, sending_cancel, sending_confirm

ACCOUNT_IDENTIFIER = "ACC-ACME2026DEMO"
ACCOUNT_NAME = "Acme Marketing"
SUPPORT_GROUP = "support"
URL = "http://127.0.0.1:8000"
DEMO_HASH_ITERATIONS = 10_000


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    description: str
    # (subaccount name, role); the first is where they land after logging in.
    memberships: tuple[tuple[str, str], ...] = ()
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
# sending stays in Sending for about 40 minutes after `make run` starts: whoever looks in that
# time sees a sending in progress, moving, and can ask support to stop it.
SPAIN_RATE = 2
SUBACCOUNTS = (("Spain", "Europe/Madrid", SPAIN_RATE), ("Mexico", "America/Mexico_City", None))

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
IN_PROGRESS = 5  # the DemoSending that shows a sending in progress (help page scenario 3)


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


def in_progress_note() -> str:
    """What `make run` says about the demo's sending in progress: how far it is, or, once it
    has finished, how to see one in progress again."""
    spec = next(spec for spec in DEMO_SENDINGS if spec.number == IN_PROGRESS)
    sending = Sending.objects.filter(identifier=spec.identifier).first()
    if sending is None:
        return ""
    if sending.is_finished:
        return (
            f"The demo sending in progress, “{sending.name}”, has finished "
            f"({sending.get_status_display().lower()}, {sending.sent_count:,} of "
            f"{sending.total_recipients:,} sent). To watch one in progress again: "
            "make reset-demo, then make run."
        )
    rate = sending.subaccount.send_rate_limit
    return (
        f"“{sending.name}” ({spec.subaccount}) is the sending in progress: "
        f"{sending.sent_count:,} of {sending.total_recipients:,} sent so far"
        + (f", {rate} a second." if rate else ".")
    )


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
    for number, (sub_name, role) in enumerate(spec.memberships):
        Membership.objects.create(
            user=user, subaccount=subaccounts[sub_name], role=role, is_home=number == 0
        )
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
    contacts = Table(
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
    memberships = Table(ListMembership, ("id", "contact_list_id", "contact_id", "added_at"))
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
    """Scheduled for a day to come: the row menu offers Cancel."""
    days = 2 if sending.subaccount.name == "Spain" else 6
    at = _local(sending, now, days=days, hour=10)
    sending_confirm(sending=sending, batches=[BatchPlan(at)], actor=actor)


def _story_batches(sending, actor, now):
    """In batches: three, the first already sent, two still scheduled."""
    plans = [
        BatchPlan(_local(sending, now, days=-1, hour=9), 400),
        BatchPlan(_local(sending, now, days=1, hour=9), 400),
        BatchPlan(_local(sending, now, days=2, hour=9)),
    ]
    sending_confirm(sending=sending, batches=plans, actor=actor)
    first = _batches(sending)[0]
    _deliver(first, at=first.scheduled_at)


def _story_sent(sending, actor, now):
    """Sent days ago; two addresses bounced, so Sent shows the truth."""
    at = _local(sending, now, days=-5 if sending.subaccount.name == "Spain" else -3, hour=11)
    sending_confirm(sending=sending, batches=[BatchPlan(at)], actor=actor)
    _deliver(_batches(sending)[0], at=at, bounce=2)


def _story_canceled(sending, actor, now):
    """Scheduled, then canceled by the marketer before it went out."""
    at = _local(sending, now, days=20, hour=8)
    sending_confirm(sending=sending, batches=[BatchPlan(at)], actor=actor)
    sending_cancel(sending=sending, actor=actor)


def _story_partly_canceled(sending, actor, now):
    """In batches, afterwards: batch 1 went out, batch 2 was canceled before its time."""
    plans = [
        BatchPlan(_local(sending, now, days=-10, hour=10), 600),
        BatchPlan(_local(sending, now, days=3, hour=10)),
    ]
    sending_confirm(sending=sending, batches=plans, actor=actor)
    first, second = _batches(sending)
    _deliver(first, at=first.scheduled_at)
    batch_cancel(batch=second, actor=actor)


def _story_due_soon(sending, actor, now):
    """In progress: due moments after the seed, so the dispatcher shows it as Sending."""
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


class Table:
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
